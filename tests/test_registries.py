"""One registry per concept: a format is one row of dcpt_sdk.formats.FORMATS plus its own modules,
an architecture is one entry of dcpt_sdk.archs.ARCHITECTURES plus its own folder.

The acceptance tests register a toy of each, defined in this file and nowhere else, by one table
entry (monkeypatched), and drive them through the real code paths: the toy format is exported by
dcpt-export, verified, read back by read_artifact and run by Restorer; the toy architecture is
built by create_model, detected from its state dict by load_model and sized by the Restorer's
memory model. No other module is touched, so whatever per-format or per-arch fact still lived
outside the tables would make these tests fail.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from dcpt_sdk import archs, formats
from dcpt_sdk.archs._detect import owns_keys
from dcpt_sdk.archs.base import Architecture, FixedMultiple, RestorationNetwork, StateDict
from dcpt_sdk.artifact import ArtifactInfo, read_artifact, write_artifact_info
from dcpt_sdk.errors import InvalidImageError, ModelLoadError
from dcpt_sdk.formats import Format, resolve
from dcpt_sdk.runtimes.base import ArtifactRuntime

# --- a toy architecture: all of it is this section plus one registry entry ---------------------


class ToyNet(RestorationNetwork):
    """A per-pixel affine restorer: the input plus two 1x1 convolutions (pad multiple 1)."""

    def __init__(self, img_channel: int = 3, width: int = 4) -> None:
        super().__init__()
        self.lift = nn.Conv2d(img_channel, width, 1)
        self.mix = nn.Conv2d(width, img_channel, 1)

    @property
    def feature_channels(self) -> tuple[int, ...]:
        return (self.lift.out_channels,)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.lift(x)
        return x + self.mix(features), [features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_with_features(x)[1]


_TOY_KEYS = ("lift", "mix")


def detect_toy(state_dict: StateDict) -> dict[str, Any] | None:
    """ToyNet's hyper-parameters from its tensor shapes; None for any other state dict."""
    if not owns_keys(state_dict, ("lift.weight", "mix.weight"), _TOY_KEYS):
        return None
    lift = state_dict["lift.weight"]
    return {"img_channel": int(lift.shape[1]), "width": int(lift.shape[0])}


# 1 KiB per pixel and channel: a 64x64 image of a width-4 toy needs 16 MiB for one pass.
TOY_MEMORY_FACTOR = float(2**10)

TOY_ARCH = Architecture(
    name="toy-affine",
    kind="restorer",
    build=ToyNet,
    defaults={"img_channel": 3, "width": 4},
    tiny={"img_channel": 3, "width": 2},
    detect=detect_toy,
    pad_multiple=FixedMultiple(1),
    key_roots=_TOY_KEYS,
    channels_param="img_channel",
    width_param="width",
    memory_factor=TOY_MEMORY_FACTOR,
)


# --- a toy format: the affine map of a per-pixel network as numpy arrays (.npz) -----------------


def build_npz(
    network: nn.Module, classifier: nn.Module | None, directory: Path, precision: str, options: Any
) -> Any:
    """Probe the network with a black image and one unit image per channel: a per-pixel affine
    network is then y = weight @ x + bias. Verification catches a network that is not affine."""
    from dcpt_sdk.export.builders import Built

    spec = network.spec
    side = spec.pad_multiple
    pixels = torch.cat([torch.zeros(1, spec.in_channels), torch.eye(spec.in_channels)])
    probes = pixels[:, :, None, None].expand(-1, -1, side, side).contiguous()
    with torch.inference_mode():
        out = network(probes)[:, :, 0, 0].double().numpy()
    bias = out[0]
    model_file = formats.get_format("npz").model_file  # the row names the files
    np.savez(directory / model_file, weight=(out[1:] - bias).T, bias=bias)
    return Built(classifier_file=None, opset=None, shape_profile={})


class NpzRuntime(ArtifactRuntime):
    backend = "numpy"  # type: ignore[assignment]


def is_available() -> bool:
    return True


def load_artifact(directory: Path, info: ArtifactInfo, device: str) -> NpzRuntime:
    with np.load(directory / info.model_file) as arrays:
        weight, bias = arrays["weight"], arrays["bias"]

    def run(batch: torch.Tensor) -> torch.Tensor:
        out = np.einsum("oc,nchw->nohw", weight, batch.numpy().astype(np.float64))
        return torch.from_numpy((out + bias[None, :, None, None]).astype(np.float32))

    return NpzRuntime(info.spec, "cpu", info.precision, run, None)


TOY_FORMAT = Format(
    name="npz",  # type: ignore[arg-type]
    backend="numpy",  # type: ignore[arg-type]
    runtime=__name__,
    model_file="model.npz",
    classifier_file="",
    extra_files=(),
    precisions=("fp32",),
    python_module="numpy",
    pip_extra="",
    needs_gpu=False,
    builder=f"{__name__}:build_npz",
    export_options=("export_size",),
    export_requires=("numpy",),
)


@pytest.fixture
def toy_arch(monkeypatch: pytest.MonkeyPatch) -> Architecture:
    """The toy architecture registered by one entry, last in detection order."""
    monkeypatch.setattr(archs, "ARCHITECTURES", (*archs.ARCHITECTURES, TOY_ARCH))
    return TOY_ARCH


@pytest.fixture
def toy_format(monkeypatch: pytest.MonkeyPatch) -> Format:
    """The toy format registered by one row."""
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, TOY_FORMAT))
    return TOY_FORMAT


def _randomised_toy(seed: int = 3) -> nn.Module:
    from dcpt_sdk.models import create_model

    model = create_model(TOY_ARCH.name)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model


# --- acceptance: the toy format -----------------------------------------------------------------


def test_a_toy_format_is_exported_verified_read_and_run_from_one_table_row(
    toy_arch: Architecture, toy_format: Format, tmp_path: Path, natural_image: np.ndarray
) -> None:
    from dcpt_sdk.checkpoint import save_model
    from dcpt_sdk.export.cli import main as dcpt_export
    from dcpt_sdk.restorer import Restorer

    model = _randomised_toy()
    checkpoint = save_model(model, tmp_path / "toy.safetensors")
    assert dcpt_export([str(checkpoint), "--npz", "-o", str(tmp_path / "out")]) == 0
    artifact = tmp_path / "out" / "npz-fp32"
    info = read_artifact(artifact)
    assert (info.format, info.precision, info.model_file) == ("npz", "fp32", "model.npz")
    assert info.spec.arch == toy_arch.name
    assert "numpy" in info.tool_versions
    # export() measured parity through the toy runtime; an affine map reproduces torch.
    assert info.parity and all(v["max_abs"] <= 1e-4 for v in info.parity.values())

    image = natural_image[:45, :61]
    restorer = Restorer(artifact)
    assert restorer.backend == "numpy"
    reference = Restorer(model, backend="torch", device="cpu").run(image)
    out = restorer.run(image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1
    assert np.abs(out.astype(int) - image.astype(int)).max() > 8  # the model does something


class _SquashedToy(ToyNet):
    """Not affine: verification of the npz export must catch it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(4.0 * super().forward(x))


def test_a_network_the_toy_format_cannot_hold_fails_verification_and_leaves_nothing(
    toy_arch: Architecture, toy_format: Format, tmp_path: Path
) -> None:
    from dcpt_sdk.errors import VerificationError
    from dcpt_sdk.export import export
    from dcpt_sdk.models import spec_for

    network = _SquashedToy()
    network.load_state_dict(_randomised_toy().state_dict())
    network.spec = spec_for(TOY_ARCH, TOY_ARCH.defaults)
    with pytest.raises(VerificationError, match="npz fp32 failed verification"):
        export(network, "npz", "fp32", tmp_path / "npz")
    assert list(tmp_path.iterdir()) == []


# --- acceptance: the toy architecture -----------------------------------------------------------


def test_a_toy_arch_is_built_detected_and_sized_from_one_registry_entry(
    toy_arch: Architecture, tmp_path: Path
) -> None:
    from dcpt_sdk.checkpoint import load_model
    from dcpt_sdk.restorer import Restorer

    model = _randomised_toy()
    assert model.spec.arch == toy_arch.name and model.spec.in_channels == 3
    # A foreign-style file: bare tensors, no embedded spec, so load_model must detect.
    torch.save({"params_ema": model.state_dict()}, tmp_path / "toy.pth")
    loaded = load_model(tmp_path / "toy.pth")
    assert loaded.spec.arch == toy_arch.name
    assert dict(loaded.spec.hparams) == {"img_channel": 3, "width": 4}
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)

    # The memory model reads the entry's factor: 64 x 64 pixels x 4 channels x 1 KiB = 16 MiB.
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvalidImageError, match="needs about 16 MB for one pass, over the 15 MB"):
        Restorer(loaded, backend="torch", device="cpu", tile=None, memory_budget_mb=15).run(image)
    untiled = Restorer(loaded, backend="torch", device="cpu", tile=None, memory_budget_mb=17)
    assert untiled.run(image).shape == image.shape


def test_detection_is_closed_world_both_ways(toy_arch: Architecture, tmp_path: Path) -> None:
    """Each detector accepts only its own key roots, so neither the old entries nor the new one
    needs a list of the others' keys; a file mixing two is loaded as the architecture whose keys
    it holds, and the strict load names the others."""
    from dcpt_sdk.checkpoint import load_model
    from dcpt_sdk.models import create_model

    toy = dict(_randomised_toy().state_dict())
    nafnet = dict(create_model("nafnet-tiny").state_dict())
    nafnet_arch = archs.get_architecture("nafnet")
    assert nafnet_arch.detect({**nafnet, "lift.weight": toy["lift.weight"]}) is None
    assert detect_toy({**toy, "intro.weight": nafnet["intro.weight"]}) is None
    torch.save({**toy, "intro.weight": nafnet["intro.weight"]}, tmp_path / "toy-plus.pth")
    with pytest.raises(ModelLoadError, match=r"toy-affine .*unexpected keys: intro\.weight$"):
        load_model(tmp_path / "toy-plus.pth")
    torch.save({**nafnet, "mix.bias": toy["mix.bias"]}, tmp_path / "nafnet-plus.pth")
    with pytest.raises(ModelLoadError, match=r"nafnet .*unexpected keys: mix\.bias$"):
        load_model(tmp_path / "nafnet-plus.pth")


# --- the tables themselves ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", archs.ARCHITECTURES, ids=lambda a: a.name)
def test_declared_key_roots_are_the_networks_own(arch: Architecture) -> None:
    """key_roots must name every top-level module the network has, at the tiny and the paper
    size, or detection would refuse the architecture's own files."""
    for hparams in (arch.tiny, arch.defaults):
        with torch.device("meta"):
            keys = arch.build(**hparams).state_dict()
        roots = {key.split(".")[0] for key in keys}
        assert roots <= set(arch.key_roots), sorted(roots - set(arch.key_roots))
        if arch.detectable:
            assert arch.detect(keys) is not None


@pytest.mark.parametrize(
    "arch", [a for a in archs.ARCHITECTURES if a.kind == "restorer"], ids=lambda a: a.name
)
def test_every_restorer_declares_its_memory_model(arch: Architecture) -> None:
    assert arch.width_param in arch.defaults and arch.channels_param in arch.defaults
    assert arch.memory_factor > 0


@pytest.mark.parametrize("fmt", formats.FORMATS, ids=lambda f: f.name)
def test_every_reference_in_the_formats_table_resolves(fmt: Format) -> None:
    """The import paths a row names exist (without importing onnxruntime/openvino/tensorrt)."""
    runtime = importlib.import_module(fmt.runtime)
    assert callable(runtime.is_available)
    if fmt.builder is not None:
        assert callable(runtime.load_artifact) and callable(resolve(fmt.builder))
    for reference in (fmt.export_check, fmt.triton.io_reader if fmt.triton else None):
        if reference is not None:
            assert callable(resolve(reference))


def _spec() -> Any:
    from dcpt_sdk.models import create_model

    return create_model("nafnet-tiny").spec


@pytest.mark.parametrize("missing", ["model.bin", "classifier.bin"])
def test_read_artifact_names_a_missing_companion_file(tmp_path: Path, missing: str) -> None:
    """OpenVINO's row lists ".bin" as the companion of each .xml: an IR without its weights is
    refused when the artifact is read, not later inside OpenVINO."""
    info = ArtifactInfo(
        spec=_spec(),
        format="openvino",
        precision="fp32",
        model_file="model.xml",
        classifier_file="classifier.xml",
    )
    write_artifact_info(tmp_path, info)
    for name in ("model.xml", "model.bin", "classifier.xml", "classifier.bin"):
        (tmp_path / name).write_bytes(b"")
    assert read_artifact(tmp_path) == info
    (tmp_path / missing).unlink()
    with pytest.raises(
        ModelLoadError, match=rf"lists '{missing[:-4]}\.xml' but '{missing}' is missing"
    ):
        read_artifact(tmp_path)


def test_a_companion_file_comes_from_the_row(
    toy_format: Format, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The check is the table's: give the toy format a companion and its artifacts need it."""
    with_sidecar = dataclasses.replace(TOY_FORMAT, extra_files=(".json",))
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS[:-1], with_sidecar))
    info = ArtifactInfo(spec=_spec(), format="npz", precision="fp32", model_file="model.npz")  # type: ignore[arg-type]
    write_artifact_info(tmp_path, info)
    (tmp_path / "model.npz").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="'model.json' is missing"):
        read_artifact(tmp_path)
    (tmp_path / "model.json").write_text("{}")
    assert read_artifact(tmp_path).format == "npz"
