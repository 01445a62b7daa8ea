"""A client that knows nothing of dcpt-sdk: it reads dcpt.json, follows its ``io`` section and
runs the artifact with plain onnxruntime or openvino. Run as a script by the tests, in a process
that never imports dcpt_sdk (checked at the end).

    python plain_client.py ARTIFACT_DIR IMAGE.npy OUT.npz [--ignore-pad-rule]

IMAGE.npy holds H x W x 3 uint8 RGB pixels. OUT.npz gets ``restored`` (uint8, as the contract's
postprocess says) and, when the artifact has a classifier, ``probabilities`` (softmax of the
logits read by name), ``probabilities_index0`` (of output 0, what ``session.run(None, ...)[0]``
clients read) and, when the classifier file also returns the restored image, ``one_pass`` (that
image, post-processed like the restorer's).
``--ignore-pad-rule`` pads with zeros instead (a client that did not read pad_mode), to show the
test comparing the two can fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def load(directory: Path, file: str, fmt: str, io: dict):  # noqa: ANN201 - plain script
    options = io.get("compile_options", {})
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(directory / file), providers=["CPUExecutionProvider"])

        def run(x: np.ndarray, input_name: str, output: str | int) -> np.ndarray:
            dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
            feed = {input_name: x.astype(dtype)}
            if isinstance(output, int):  # by position: every output, then the one asked for
                return session.run(None, feed)[output].astype(np.float32)
            return session.run([output], feed)[0].astype(np.float32)

        return run
    if fmt == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(str(directory / file), "CPU", options)

        def run(x: np.ndarray, input_name: str, output: str | int) -> np.ndarray:
            result = compiled({input_name: x})
            return np.asarray(result[compiled.output(output)], dtype=np.float32)

        return run
    raise SystemExit(f"this client runs onnx and openvino artifacts, not {fmt}")


def main() -> None:
    directory, image_file, out_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    ignore_pad_rule = "--ignore-pad-rule" in sys.argv
    info = json.loads((directory / "dcpt.json").read_text())
    io = info["io"]
    pixels = np.load(image_file)
    assert pixels.dtype == np.uint8 and io["layout"] == "NCHW" and io["color_order"] == "RGB"
    x = (pixels.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None]
    h, w = x.shape[2:]
    m = io["pad_multiple"]
    assert io["pad_sides"] == "bottom-right"
    pads = ((0, 0), (0, 0), (0, -h % m), (0, -w % m))
    x = np.pad(x, pads, mode="constant" if ignore_pad_rule else io["pad_mode"])
    x = np.ascontiguousarray(x, dtype=np.float32)

    restorer = load(directory, info["model_file"], info["format"], io)
    y = restorer(x, io["input_name"], io["output_name"])
    low, high = io["postprocess"]["clip"]

    def postprocess(y: np.ndarray) -> np.ndarray:
        y = np.clip(y[:, :, :h, :w], low, high)[0].transpose(1, 2, 0)
        return np.rint(y * np.float32(255.0)).astype(np.uint8)

    def softmax(logits: np.ndarray) -> np.ndarray:
        e = np.exp(logits[0].astype(np.float64) - logits[0].max())
        return e / e.sum()

    out = {"restored": postprocess(y)}
    head = io.get("classifier")
    if head:
        classify = load(directory, head["file"], info["format"], head)
        assert head["activation"] == "softmax"
        out["probabilities"] = softmax(classify(x, head["input_name"], head["output_name"]))
        out["probabilities_index0"] = softmax(classify(x, head["input_name"], 0))
        out["classes"] = np.array(head["classes"])
        if head.get("image_output_name"):
            out["one_pass"] = postprocess(
                classify(x, head["input_name"], head["image_output_name"])
            )
    np.savez(out_file, **out)
    leaked = sorted(name for name in sys.modules if name.split(".")[0] == "dcpt_sdk")
    if leaked:
        raise SystemExit(f"the plain client imported dcpt-sdk modules: {leaked}")


if __name__ == "__main__":
    main()
