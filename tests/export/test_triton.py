"""Triton model repositories (dcpt-export --triton, export/triton.py).

Every config.pbtxt is parsed with Triton's own ModelConfig protobuf and checked field by field
against the model file's real I/O: the ONNX graph (onnx.load), the OpenVINO IR (read_model), and
for TensorRT the engine RecordingTensorRT was asked to build (its network input and profile, and
the ONNX graph it parsed: a strongly typed engine keeps that graph's I/O). A plain ONNX Runtime
client of REPO/<name>/1/model.onnx that follows the README's Triton steps reproduces Restorer.
tritonserver itself does not run on this project's machines: nothing here talks to a server.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _export_nets import CLASSES, tiny_network

import dcpt_sdk
from dcpt_sdk.errors import UnsupportedOptionError

pb = pytest.importorskip("tritonclient.grpc.model_config_pb2")
from dcpt_sdk.export import triton  # noqa: E402  (needs tritonclient)

README = Path(__file__).parents[2] / "README.md"
# Triton's data type for each numpy dtype the exported graphs use (Triton's model_config.proto).
TRITON_TYPE = {"float32": pb.TYPE_FP32, "float16": pb.TYPE_FP16}
Tensors = list[tuple[str, str, tuple[int, ...]]]  # name, numpy dtype name, shape (-1: dynamic)


def _config(folder: Path) -> Any:
    from google.protobuf import text_format

    text = (folder / triton.CONFIG_FILE).read_text(encoding="utf-8")
    return text_format.Parse(text, pb.ModelConfig())


def _onnx_tensors(graph: Any) -> tuple[Tensors, Tensors]:
    from onnx.helper import tensor_dtype_to_np_dtype

    def tensor(value: Any) -> tuple[str, str, tuple[int, ...]]:
        typed = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in typed.shape.dim)
        return value.name, tensor_dtype_to_np_dtype(typed.elem_type).name, dims

    return [tensor(v) for v in graph.input], [tensor(v) for v in graph.output]


def _openvino_tensors(xml: Path) -> tuple[Tensors, Tensors]:
    import openvino as ov

    def tensor(port: Any) -> tuple[str, str, tuple[int, ...]]:
        dims = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
        return port.get_any_name(), port.get_element_type().to_dtype().name, dims

    model = ov.Core().read_model(str(xml))
    return [tensor(p) for p in model.inputs], [tensor(p) for p in model.outputs]


def _check_io(config: Any, inputs: Tensors, outputs: Tensors) -> None:
    """Names, data types and dims of the config equal the model's own, less the batch axis."""
    for declared, real in ((config.input, inputs), (config.output, outputs)):
        assert [t.name for t in declared] == [name for name, _, _ in real]
        for tensor, (_, dtype, shape) in zip(declared, real, strict=True):
            assert tensor.data_type == TRITON_TYPE[dtype]
            assert shape[0] == -1  # dynamic batch: Triton's max_batch_size > 0 drops it
            assert list(tensor.dims) == list(shape[1:])
    assert [(g.kind, g.count) for g in config.instance_group] == [
        (
            pb.ModelInstanceGroup.KIND_GPU
            if config.backend == "tensorrt"
            else pb.ModelInstanceGroup.KIND_CPU,
            1,
        )
    ]


def _check_pre_post(config: Any, spec: Any) -> None:
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert parameters["dcpt_pad_multiple"] == str(spec.pad_multiple)
    assert parameters["dcpt_pad_mode"] == "reflect"
    assert parameters["dcpt_value_range"] == "0.0,1.0"


def _check_classifier(folder: Path, restorer_config: Any) -> None:
    config = _config(folder)
    assert restorer_config.parameters["dcpt_classifier_model"].string_value == folder.name
    # One pass, two outputs: the logits (labelled with the class names) first, then the
    # restored image under the restorer's output name, which no label file describes.
    logits, image = config.output
    assert (logits.name, image.name) == ("logits", "output")
    assert logits.label_filename == triton.LABELS_FILE and image.label_filename == ""
    assert list(image.dims) == [3, -1, -1]
    assert config.parameters["dcpt_image_output"].string_value == "output"
    labels = (folder / triton.LABELS_FILE).read_text(encoding="utf-8").splitlines()
    assert labels == list(CLASSES)
    assert config.parameters["dcpt_classes"].string_value.split(",") == list(CLASSES)
    assert config.parameters["dcpt_activation"].string_value == "softmax"


@pytest.fixture(scope="module")
def onnx_repo(exported, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(artifact, repository) of the tiny NAFNet's fp32 ONNX artifact."""
    artifact, _ = exported("nafnet-tiny", "onnx", "fp32")
    repo = tmp_path_factory.mktemp("triton") / "repo"
    written = triton.write_triton_models(artifact, repo)
    assert [folder.name for folder in written] == [
        "nafnet-tiny-onnx-fp32",
        "nafnet-tiny-onnx-fp32-classifier",
    ]
    return artifact, repo


def test_onnx_configs_declare_the_graphs_io(onnx_repo) -> None:
    import onnx

    artifact, repo = onnx_repo
    spec = dcpt_sdk.Restorer(artifact, backend="onnxruntime").spec
    restorer, classifier = repo / "nafnet-tiny-onnx-fp32", repo / "nafnet-tiny-onnx-fp32-classifier"
    for folder in (restorer, classifier):
        config = _config(folder)
        assert config.name == folder.name  # Triton requires the folder's name
        assert (config.backend, config.platform) == ("onnxruntime", "onnxruntime_onnx")
        assert config.max_batch_size == triton.CPU_MAX_BATCH
        _check_io(config, *_onnx_tensors(onnx.load(folder / "1" / "model.onnx").graph))
        _check_pre_post(config, spec)
    _check_classifier(classifier, _config(restorer))
    # the served files are the verified artifact's, byte for byte
    assert (restorer / "1" / "model.onnx").read_bytes() == (artifact / "model.onnx").read_bytes()
    head = (classifier / "1" / "model.onnx").read_bytes()
    assert head == (artifact / "classifier.onnx").read_bytes()


def test_openvino_configs_declare_the_irs_io(exported, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    artifact, info = exported("nafnet-tiny", "openvino", "fp32")
    with pytest.warns(UserWarning, match="cannot pass INFERENCE_PRECISION_HINT=f32"):
        restorer, classifier = triton.write_triton_models(artifact, tmp_path)
    for folder, source in ((restorer, "model"), (classifier, "classifier")):
        config = _config(folder)
        assert config.name == folder.name
        assert (config.backend, config.platform) == ("openvino", "")
        assert config.max_batch_size == triton.CPU_MAX_BATCH
        assert "HINT_BF16" not in config.parameters
        _check_io(config, *_openvino_tensors(folder / "1" / "model.xml"))
        _check_pre_post(config, info.spec)
        for suffix in (".xml", ".bin"):
            served = (folder / "1" / f"model{suffix}").read_bytes()
            assert served == (artifact / f"{source}{suffix}").read_bytes()
    _check_classifier(classifier, _config(restorer))


def test_openvino_bf16_asks_the_backend_for_bf16(exported, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    artifact, _ = exported("nafnet-tiny", "openvino", "bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bf16 is what Triton's backend can ask for: no warning
        written = triton.write_triton_models(artifact, tmp_path, name="bf16")
    for folder in written:
        assert _config(folder).parameters["HINT_BF16"].string_value == "YES"


def _onnx_parity(model: bytes, network: Any, precision: str) -> dict[str, Any]:
    """The parity of the ONNX graph an engine was built from, run in ONNX Runtime (what CI can
    measure of a TensorRT export: the double's "engine" is that graph)."""
    import onnxruntime as ort
    import torch

    from dcpt_sdk.export import verify

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    def run(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"input": batch.numpy()})[0])

    inputs = verify.verification_inputs(network.spec, (64, 64))
    parity = verify.measure(run, verify.reference_outputs(network, inputs), inputs, network.spec)
    verify.check(parity, verify.THRESHOLDS[precision], f"onnx {precision} for TensorRT")
    return parity


def _plan_tensors(header: dict[str, Any]) -> tuple[Tensors, Tensors]:
    """The engine's I/O as the double's plan declares it (TensorRT DataType names)."""
    numpy_name = {"FLOAT": "float32", "HALF": "float16"}

    def tensors(key: str) -> Tensors:
        return [(t["name"], numpy_name[t["dtype"]], tuple(t["shape"])) for t in header[key]]

    return tensors("inputs"), tensors("outputs")


def test_tensorrt_configs_declare_the_engines_io(monkeypatch, tmp_path: Path) -> None:
    from fake_tensorrt import RecordingTensorRT, read_plan

    from dcpt_sdk.artifact import ArtifactInfo, read_artifact, write_artifact_info
    from dcpt_sdk.export import tensorrt as trt_export
    from dcpt_sdk.export.api import _ClassifierGraph
    from dcpt_sdk.export.builders import BuildOptions, build_tensorrt
    from dcpt_sdk.export.contract import io_section
    from dcpt_sdk.formats import get_format

    double = RecordingTensorRT()
    monkeypatch.setattr(trt_export, "require_tensorrt", lambda: double)
    network, fmt = tiny_network("nafnet-tiny"), get_format("tensorrt")
    options = BuildOptions.from_options(network.spec, fmt, {"opt_size": 128, "max_size": 256})
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    built = build_tensorrt(network, _ClassifierGraph(network), artifact, "fp16", options)
    info = ArtifactInfo(
        spec=network.spec,
        format="tensorrt",
        precision="fp16",
        model_file=fmt.model_file,
        classifier_file=built.classifier_file,
        classifier_precision="fp16",
        opset=built.opset,
        shape_profile=built.shape_profile,
        parity=_onnx_parity(double.parsed["restorer.onnx"], network, "fp16"),
        io=io_section(network.spec, fmt, "fp16", built.classifier_file, "fp16", {}),
    )
    write_artifact_info(artifact, info)
    restorer, classifier = triton.write_triton_models(artifact, tmp_path / "repo")
    for folder, engine_file in ((restorer, "model.engine"), (classifier, "classifier.engine")):
        plan = (folder / "1" / "model.plan").read_bytes()
        assert (
            plan == (artifact / engine_file).read_bytes()
        )  # the built engine, under Triton's name
        header, _ = read_plan(plan)
        config = _config(folder)
        assert (config.backend, config.platform) == ("tensorrt", "tensorrt_plan")
        _check_io(config, *_plan_tensors(header))
        (engine_input,) = [t["name"] for t in header["inputs"]]
        low, _, high = header["profiles"][0][engine_input]
        assert config.max_batch_size == high[0] == 1
        assert config.parameters["dcpt_min_size"].string_value == f"{low[2]}x{low[3]}"
        assert (
            config.parameters["dcpt_max_size"].string_value == f"{high[2]}x{high[3]}" == "256x256"
        )
        _check_pre_post(config, network.spec)
    _check_classifier(classifier, _config(restorer))
    served = read_artifact(restorer / "1")
    assert served.model_file == "model.plan" and served.classifier_file is None


# The README's Triton example, minus the server call: these lines must appear in it verbatim.
PREPROCESS = [
    "x = (pixels.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]",
    "h, w = x.shape[2:]",
    'x = np.pad(x, ((0, 0), (0, 0), (0, -h % m), (0, -w % m)), mode="reflect")',
]
POSTPROCESS = [
    "restored = np.rint(y[0, :, :h, :w].clip(0.0, 1.0).transpose(1, 2, 0) * 255.0).astype(np.uint8)",
    "p = np.exp(logits - logits.max())",
    "p /= p.sum()",
]


def _readme_triton_example() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("#### Triton", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Triton section has no python example"
    return [line.split("  #")[0].rstrip() for line in blocks[0].splitlines()]


def _image() -> np.ndarray:
    """A natural crop with an odd size, so both sides need padding."""
    from dcpt_sdk.zoo.samples import SAMPLES_DIR

    pixels = dcpt_sdk.read_image(SAMPLES_DIR / "chelsea.png").pixels
    return np.ascontiguousarray(pixels[100:137, 150:203, :3])


def test_readme_client_steps_on_onnxruntime_reproduce_restorer(onnx_repo) -> None:
    import onnxruntime as ort

    example = _readme_triton_example()
    for line in PREPROCESS + POSTPROCESS:
        assert line in example, f"the README's Triton example lost: {line}"
    artifact, repo = onnx_repo
    restorer_model, classifier_model = (
        repo / "nafnet-tiny-onnx-fp32",
        repo / "nafnet-tiny-onnx-fp32-classifier",
    )
    step: dict[str, Any] = {"np": np, "pixels": _image()}
    step["m"] = int(_config(restorer_model).parameters["dcpt_pad_multiple"].string_value)
    exec("\n".join(PREPROCESS), step)
    assert step["x"].shape[2] > step["h"] and step["x"].shape[3] > step["w"]  # padding ran

    def infer(folder: Path) -> np.ndarray:
        session = ort.InferenceSession(
            folder / "1" / "model.onnx", providers=["CPUExecutionProvider"]
        )
        config = _config(folder)
        return session.run([config.output[0].name], {config.input[0].name: step["x"]})[0]

    step["y"], step["logits"] = infer(restorer_model), infer(classifier_model)[0]
    exec("\n".join(POSTPROCESS), step)
    expected = dcpt_sdk.Restorer(artifact, backend="onnxruntime").run(_image())
    np.testing.assert_array_equal(step["restored"], expected)
    # the version folder is itself an artifact: the served file restores the same
    served = dcpt_sdk.Restorer(restorer_model / "1", backend="onnxruntime").run(_image())
    np.testing.assert_array_equal(served, expected)
    probabilities = dcpt_sdk.Restorer(artifact, backend="onnxruntime").classify(_image())
    assert list(probabilities) == list(CLASSES)
    np.testing.assert_allclose(step["p"], list(probabilities.values()), atol=1e-6)


def test_cli_writes_a_repository_and_stops_at_a_foreign_folder(tmp_path: Path, capsys) -> None:
    from dcpt_sdk.checkpoint import save_model
    from dcpt_sdk.export.cli import main

    checkpoint = save_model(tiny_network("nafnet-tiny"), tmp_path / "n.safetensors")
    repo = tmp_path / "repo"
    argv = [str(checkpoint), "--triton", "--onnx", "--triton-name", "dcpt", "-o", str(repo)]
    assert main(argv) == 0
    names = ["dcpt-onnx-fp32", "dcpt-onnx-fp32-classifier"]
    assert sorted(p.name for p in repo.iterdir()) == names  # no staging folder left behind
    assert "onnx-fp32: Triton dcpt-onnx-fp32, dcpt-onnx-fp32-classifier" in capsys.readouterr().out
    assert [_config(repo / name).name for name in names] == names
    # a folder dcpt-export did not write, in the way of the second model: nothing is touched
    shutil.rmtree(repo / names[1])
    (repo / names[1]).mkdir()
    (repo / names[1] / "config.pbtxt").write_text('name: "theirs"\n')
    before = (repo / names[0] / "config.pbtxt").stat().st_mtime_ns
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not a Triton model written by dcpt-export" in err
    assert (repo / names[0] / "config.pbtxt").stat().st_mtime_ns == before
    assert (repo / names[1] / "config.pbtxt").read_text() == 'name: "theirs"\n'


def test_rewriting_replaces_its_own_models_only(onnx_repo, tmp_path: Path) -> None:
    artifact, _ = onnx_repo
    repo = tmp_path / "repo"
    (repo / "theirs").mkdir(parents=True)
    (repo / "theirs" / "model.txt").write_text("user data")
    first = triton.write_triton_models(artifact, repo, name="m")
    assert all(triton.check_model_dir(folder) for folder in first)  # will be replaced
    second = triton.write_triton_models(artifact, repo, name="m")
    assert second == first
    assert sorted(p.name for p in repo.iterdir()) == ["m", "m-classifier", "theirs"]
    with pytest.raises(UnsupportedOptionError, match="'.*theirs' exists and is not a Triton model"):
        triton.write_triton_models(artifact, repo, name="theirs")
    assert sorted(p.name for p in (repo / "theirs").iterdir()) == ["model.txt"]
    assert not (repo / "theirs-classifier").exists()  # checked before the first was written


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--onnx", "--triton-name", "x"], "--triton-name applies to --triton only"),
        (["--onnx", "--triton", "--triton-name", "my/model"], "cannot be a Triton model name"),
    ],
)
def test_bad_triton_requests_are_one_line(tmp_path: Path, capsys, argv, message) -> None:
    from dcpt_sdk.export.cli import main

    assert main(["nafnet-tiny", *argv, "-o", str(tmp_path / "repo")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "repo").exists()


def test_unverified_artifacts_are_refused(onnx_repo, tmp_path: Path) -> None:
    import json

    artifact, _ = onnx_repo
    copy = shutil.copytree(artifact, tmp_path / "copy")
    facts = json.loads((copy / "dcpt.json").read_text())
    facts["parity"] = {}
    (copy / "dcpt.json").write_text(json.dumps(facts))
    with pytest.raises(UnsupportedOptionError, match="not verified at export"):
        triton.write_triton_models(copy, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
