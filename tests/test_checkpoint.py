from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest
import torch
from _models import randomised

from dcpt_sdk.checkpoint import load_model, save_model
from dcpt_sdk.errors import ModelLoadError
from dcpt_sdk.models import create_model

RESTORERS = ["nafnet-tiny", "restormer-tiny", "restormer-dcpt-tiny", "promptir-tiny"]


def _input(seed: int = 0, size: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=generator)


@pytest.mark.parametrize("name", RESTORERS)
def test_safetensors_round_trip_is_bit_exact(name: str, tmp_path: Path) -> None:
    model = randomised(create_model(name), seed=1, scale=0.1)
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.spec.arch == model.spec.arch
    assert dict(loaded.spec.hparams) == dict(model.spec.hparams)
    x = _input()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


@pytest.mark.parametrize("name", RESTORERS)
def test_basicsr_pth_with_module_prefix_round_trip(name: str, tmp_path: Path) -> None:
    model = randomised(create_model(name), seed=1, scale=0.1)
    state = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    noisy = collections.OrderedDict((k, v + 1.0) for k, v in state.items())
    path = tmp_path / "net_g.pth"
    # EMA weights are preferred over the raw ones, as BasicSR evaluates with them.
    torch.save({"params": noisy, "params_ema": state}, path)
    loaded = load_model(path)
    assert loaded.spec.arch == model.spec.arch
    assert dict(loaded.spec.hparams) == dict(model.spec.hparams)
    assert len(loaded.spec.provenance["checkpoint_sha256"]) == 64
    x = _input(2)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_reference_nafnet_decoder_keys_load(tmp_path: Path) -> None:
    model = randomised(
        create_model("nafnet", width=8, enc_blk_nums=[1, 1, 2], dec_blk_nums=[1, 2, 1]),
        seed=1,
        scale=0.1,
    )
    # The reference DCPT code stores decoder level i as "decoder{i}." (NAFNet: "decoders.{i}.").
    reference = {
        re.sub(r"^decoders\.(\d+)\.", r"decoder\1.", k): v for k, v in model.state_dict().items()
    }
    assert any(k.startswith("decoder0.0.") for k in reference)
    torch.save({"params": reference}, tmp_path / "dcpt_nafnet.pth")
    loaded = load_model(tmp_path / "dcpt_nafnet.pth")
    assert loaded.spec.hparams["dec_blk_nums"] == (1, 2, 1)
    x = _input(3)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_promptir_is_never_detected_as_restormer(tmp_path: Path) -> None:
    model = create_model("promptir-tiny")
    torch.save(model.state_dict(), tmp_path / "promptir.pth")
    assert load_model(tmp_path / "promptir.pth").spec.arch == "promptir"


def test_promptir_unused_official_weights_are_accepted_and_dropped(tmp_path: Path) -> None:
    model = randomised(create_model("promptir-tiny"), seed=1, scale=0.1)
    state = {"net." + k: v for k, v in model.state_dict().items()}
    state["net.chnl_reduce1.weight"] = torch.zeros(4, 8, 1, 1)
    state["net.reduce_noise_channel_1.weight"] = torch.zeros(4, 8, 1, 1)
    torch.save({"state_dict": state}, tmp_path / "official.pth")
    loaded = load_model(tmp_path / "official.pth")
    x = _input(4)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_weights_that_do_not_fit_name_each_missing_unexpected_and_mis_shaped_key(
    tmp_path: Path,
) -> None:
    """Keys that NAFNet detection accepts (intro.weight is there), loaded strictly: the error
    names the one missing, the one unexpected and the one mis-shaped tensor, with the shapes."""
    state = {k: v.clone() for k, v in create_model("nafnet-tiny").state_dict().items()}
    del state["intro.bias"]
    state["ending.bias"] = torch.zeros(5)
    state["stray.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth")
    expected = (
        "missing keys: intro.bias; unexpected keys: stray.weight; "
        "wrong shape keys: ending.bias (5,) != (3,)"
    )
    with pytest.raises(ModelLoadError, match=re.escape(expected)):
        load_model(tmp_path / "broken.pth")


def test_spec_mismatch_is_a_loud_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = create_model("nafnet-tiny")
    wrong_spec = create_model("nafnet", width=12, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]).spec
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, tmp_path / "m.safetensors", metadata={"dcpt_spec": wrong_spec.to_json()})
    with pytest.raises(
        ModelLoadError,
        match=r"wrong shape keys: decoders\.0\.0\.beta \(1, 16, 1, 1\) != \(1, 24, 1, 1\)",
    ):
        load_model(tmp_path / "m.safetensors")


def test_arbitrary_pickles_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"params": collections.Counter(a=1), "hook": print}, path)
    with pytest.raises(ModelLoadError, match="never unpickles"):
        load_model(path)


def test_files_that_are_not_models(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a readable PyTorch checkpoint"):
        load_model(text)
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x00" * 16)
    with pytest.raises(ModelLoadError, match="not a readable .safetensors"):
        load_model(fake)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "missing.pth")
    with pytest.raises(ModelLoadError, match="suffix"):
        (tmp_path / "w.bin").write_bytes(b"1")
        load_model(tmp_path / "w.bin")
    torch.save({"params": {"foo.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(ModelLoadError, match="matches no known architecture"):
        load_model(tmp_path / "other.pth")


def test_classifier_travels_with_the_restorer(tmp_path: Path) -> None:
    model = randomised(create_model("nafnet-tiny"), seed=1, scale=0.1)
    classifier = create_model(
        "dcpt-classifier",
        feature_dims=list(model.feature_channels),
        num_classes=3,
        num_res_blocks=1,
    )
    model.attach_classifier(classifier)
    model.spec = model.spec.replace(degradation_classes=("a", "b", "c"))
    path = save_model(model, tmp_path / "with_cls.safetensors")
    loaded = load_model(path)
    assert loaded.classifier is not None
    assert loaded.spec.classifier is not None and loaded.spec.classifier.arch == "dcpt-classifier"
    x = _input(5)
    with torch.no_grad():
        assert torch.equal(model.classify_logits(x), loaded.classify_logits(x))


def test_saved_weights_get_the_umask_permissions(tmp_path: Path) -> None:
    """save_model writes through a temp file: the result must not keep mkstemp's 0600."""
    import os
    import stat

    path = save_model(create_model("nafnet-tiny"), tmp_path / "m.safetensors")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
