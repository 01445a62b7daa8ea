"""The artifact's client contract: dcpt.json's ``io`` section and the artifact's README.md.

Everything a plain onnxruntime / OpenVINO / TensorRT client needs to reproduce
``Restorer(dir).run(img)`` without dcpt-sdk: tensor names, layout, dtype, colour order, how to
scale integer pixels, how to pad (numpy.pad's mode name, which sides), how to crop, clip and round
the output, the compile options the parity figures were measured with, and for the classifier,
its file, names, activation and class order. Written from the same constants the runtimes use
(export.onnx's tensor names, the Restorer's pad rule), so the document cannot drift from the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dcpt_sdk.export.onnx import CLASSIFIER_OUTPUTS, INPUT_NAME, LOGITS_NAME, OUTPUT_NAME
from dcpt_sdk.formats import Format, Precision
from dcpt_sdk.spec import ModelSpec

__all__ = ["io_section", "model_card"]

# How Restorer pads (dcpt_sdk.tiling.pad_to_multiple): reflect without repeating the edge pixel,
# on the bottom and right edges only, then crops the output back from the top-left corner.
PAD_MODE = "reflect"
PAD_SIDES = "bottom-right"


def io_section(
    spec: ModelSpec,
    fmt: Format,
    precision: Precision,
    classifier_file: str | None,
    classifier_precision: Precision | None,
    runtime_hints: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``io`` section of dcpt.json (plain JSON types)."""
    low, high = spec.value_range
    io: dict[str, Any] = {
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "layout": "NCHW",
        # fp16 and int8 graphs keep float32 inputs/outputs (casts and Q/DQ nodes are inside).
        "dtype": "float32",
        "color_order": "RGB" if spec.in_channels == 3 else "gray",
        "channels": spec.in_channels,
        "value_range": [low, high],
        "input_scaling": (
            "uint8 pixels / 255, uint16 pixels / 65535 (never through 8 bit); float pixels as "
            "given, already in value_range"
        ),
        "pad_multiple": spec.pad_multiple,
        "pad_mode": PAD_MODE,
        "pad_sides": PAD_SIDES,
        "pad_rule": (
            f"pad H and W up to the next multiple of pad_multiple: numpy.pad(x, ((0, 0), (0, 0), "
            f"(0, ph), (0, pw)), mode='{PAD_MODE}') on the NCHW array"
        ),
        "postprocess": {
            "crop": "output[:, :, :H, :W] (the unpadded input size, from the top-left corner)",
            "clip": [low, high],
            "to_integer": (
                "multiply by 255 (uint8) or 65535 (uint16), round half to even (numpy.rint), cast"
            ),
        },
        "dynamic_axes": {"0": "batch", "2": "height", "3": "width"},
        "compile_options": dict(runtime_hints),
    }
    if fmt.name == "openvino":
        io["compile_options_note"] = (
            "pass compile_options to Core.compile_model: without INFERENCE_PRECISION_HINT the "
            "OpenVINO CPU plugin picks bf16 by itself on CPUs with bf16 support, and the output "
            "then differs from the parity figures"
        )
    if classifier_file:
        io["classifier"] = {
            "file": classifier_file,
            "input_name": INPUT_NAME,
            "output_name": LOGITS_NAME,
            # One pass gives both (logits first, so output 0 stays the logits); the image is
            # the restorer's output at this file's precision, post-processed the same way.
            "outputs": list(CLASSIFIER_OUTPUTS),
            "image_output_name": OUTPUT_NAME,
            "outputs_note": (
                f"'{LOGITS_NAME}': N x classes logits, softmax them; '{OUTPUT_NAME}': the "
                "restored image from the same pass, as the restorer file's output (crop, clip, "
                "round) at this file's precision: to restore and classify an image, run this "
                "file alone"
                + (
                    " (this int8 artifact's classifier file is fp32: its image is not the int8 "
                    "restorer's; dcpt-sdk restores with the model file and classifies here)"
                    if classifier_precision != precision
                    else ""
                )
            ),
            "input": "the same padded NCHW tensor as the restorer's input",
            "activation": "softmax",
            "classes": list(spec.degradation_classes),
            "precision": classifier_precision,
            "compile_options": dict(runtime_hints),
        }
    return io


def _snippet(fmt: Format, model_file: str, io: Mapping[str, Any]) -> str:
    hints = json.dumps(io.get("compile_options", {}))
    prepare = f"""import numpy as np
from PIL import Image

pixels = np.asarray(Image.open("photo.png").convert("RGB"))          # H x W x 3 uint8
x = (pixels.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]     # 1 x 3 x H x W
h, w = x.shape[2:]
m = {io["pad_multiple"]}
x = np.pad(x, ((0, 0), (0, 0), (0, -h % m), (0, -w % m)), mode="{io["pad_mode"]}")
"""
    finish = """y = y[:, :, :h, :w].clip(0.0, 1.0)[0].transpose(1, 2, 0)
restored = np.rint(y * 255.0).astype(np.uint8)
"""
    if fmt.name == "onnx":
        run = f"""import onnxruntime as ort
session = ort.InferenceSession("{model_file}", providers=["CPUExecutionProvider"])
y = session.run(["{io["output_name"]}"], {{"{io["input_name"]}": x}})[0]
"""
    elif fmt.name == "openvino":
        run = f"""import openvino as ov
compiled = ov.Core().compile_model("{model_file}", "CPU", {hints})
y = compiled({{"{io["input_name"]}": x}})[compiled.output("{io["output_name"]}")]
"""
    else:
        run = """# TensorRT: deserialize the engine, set the input shape, bind input/output device
# buffers by the names above and execute_async_v3 (see runtimes/tensorrt_backend.py).
"""
    return "```python\n" + prepare + run + finish + "```\n"


def model_card(info: Mapping[str, Any]) -> str:
    """The artifact's README.md, from dcpt.json's content (``ArtifactInfo.to_dict()``)."""
    spec = info["spec"]
    io = info["io"]
    fmt_name, precision = info["format"], info["precision"]
    from dcpt_sdk.formats import get_format

    fmt = get_format(fmt_name)
    lines = [
        f"# {spec.get('name') or spec['arch']}: {fmt_name} {precision} artifact (dcpt-sdk)",
        "",
        f"A {spec['arch']} image restoration network {json.dumps(spec['hparams'])}, exported by "
        f"dcpt-sdk and verified against torch fp32 before it was written.",
        "",
        "## Files",
        f"- `{info['model_file']}`: the restorer, image -> restored image ({precision}).",
    ]
    classifier = io.get("classifier")
    if classifier:
        lines.append(
            f"- `{classifier['file']}`: the DCPT degradation classifier and the restorer in one "
            f"pass ({classifier['precision']}), image -> `{classifier['output_name']}` (softmax "
            f"them, classes in this order: {', '.join(classifier['classes'])}), then "
            f"`{classifier['image_output_name']}`, the restored image as the model file's."
        )
    lines += [
        "- `dcpt.json`: everything below as data (`io` is the client contract), plus the "
        "ModelSpec, tool versions and parity figures.",
        "",
        "## Verified parity against torch fp32 (measured at export)",
        "",
        "| test size | PSNR dB | max-abs |",
        "|---|---|---|",
    ]
    for size, figures in info.get("parity", {}).items():
        lines.append(f"| {size} | {figures['psnr_db']:.1f} | {figures['max_abs']:.2e} |")
    for size, figures in info.get("classifier_parity", {}).items():
        image = " | "  # classifier files that return the logits alone (older artifacts)
        if "image_psnr_db" in figures:
            image = f"{figures['image_psnr_db']:.1f} | {figures['image_max_abs']:.2e} (image), "
        lines.append(f"| classifier {size} | {image}{figures['max_abs']:.2e} (logits) |")
    lines += [
        "",
        "## I/O contract",
        "",
        f"- input `{io['input_name']}`: {io['layout']} {io['dtype']}, {io['color_order']}, "
        f"values in {io['value_range']} ({io['input_scaling']}).",
        f"- pad H and W to a multiple of {io['pad_multiple']}: mode `{io['pad_mode']}` "
        f"(numpy.pad's name), {io['pad_sides']} sides only.",
        f"- output `{io['output_name']}`: same layout; crop to the input size from the top-left, "
        f"clip to {io['postprocess']['clip']}, {io['postprocess']['to_integer']}.",
        f"- compile options: `{json.dumps(io['compile_options'])}`",
        "",
        "## Without dcpt-sdk",
        "",
        _snippet(fmt, info["model_file"], io),
        "## Licences and provenance",
        "",
        f"- architecture code: {spec.get('code_license', 'unknown')}",
        f"- weights: {spec.get('weights_license', 'unspecified')}",
    ]
    provenance = spec.get("provenance", {})
    for key in ("checkpoint_sha256", "source_file", "training"):
        if key in provenance:
            lines.append(f"- {key}: {provenance[key]}")
    return "\n".join(lines) + "\n"
