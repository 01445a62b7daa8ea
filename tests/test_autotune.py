"""backend="auto": the measuring mechanism with fake candidates of known speed, the quality
floor, the cache, and the built-in model's export into the user cache."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch

from dcpt_sdk import autotune
from dcpt_sdk.autotune import Candidate, choose
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.models import create_model
from dcpt_sdk.runtimes.base import Runtime
from dcpt_sdk.spec import spec_of

SPEC = spec_of(create_model("nafnet-tiny"))


class SleepingRuntime(Runtime):
    """Returns its input after ``ms`` milliseconds: a backend of known speed."""

    backend = "torch"

    def __init__(self, ms: float, log: list[str], name: str) -> None:
        super().__init__(SPEC, "cpu", "fp32")
        self.ms, self.log, self.name = ms, log, name

    def _infer_impl(self, batch: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        time.sleep(self.ms / 1000)
        return batch


def _candidate(
    name: str, ms: float, psnr_db: float, log: list[str], opened: list[str]
) -> Candidate:
    def open_it() -> Runtime:
        opened.append(name)
        return SleepingRuntime(ms, log, name)

    return Candidate("openvino", name, f"/artifacts/{name}", f"id-{name}-{ms}", psnr_db, open_it)


def test_auto_opens_the_faster_of_two_candidates_and_caches_the_ranking() -> None:
    calls: list[str] = []
    opened: list[str] = []
    pool = [
        _candidate("fp32", 40, math.inf, calls, opened),
        _candidate("bf16", 5, 60, calls, opened),
    ]
    runtime, choice = choose(pool, "cpu", 16)
    assert isinstance(runtime, SleepingRuntime) and runtime.name == "bf16"
    assert (choice.chosen.precision, choice.from_cache) == ("bf16", False)
    figures = {m.precision: m.ms for m in choice.measurements}
    assert figures["fp32"] is not None and figures["bf16"] is not None
    assert figures["fp32"] > 35 and 4 < figures["bf16"] < 30
    assert choice.cache_file is not None and choice.cache_file.is_file()

    calls.clear()
    opened.clear()
    runtime, again = choose(pool, "cpu", 16)
    assert again.from_cache and again.chosen == choice.chosen
    assert calls == [] and opened == ["bf16"]  # read, not measured; only the winner opened


def test_the_quality_floor_keeps_a_faster_but_worse_candidate_out() -> None:
    calls: list[str] = []
    pool = [_candidate("fp32", 30, math.inf, calls, []), _candidate("int8", 2, 39.5, calls, [])]
    runtime, choice = choose(pool, "cpu", 16)
    assert runtime.precision == "fp32" and choice.chosen.precision == "fp32"
    assert "int8" not in calls  # not even timed
    assert "below the 45 dB floor" in choice.summary()
    lowered, choice = choose(pool, "cpu", 16, min_psnr_db=38)
    assert isinstance(lowered, SleepingRuntime) and lowered.name == "int8"
    with pytest.raises(
        UnsupportedOptionError,
        match=r"^no candidate meets the quality floor of 70 dB PSNR against torch fp32; "
        r"available here: openvino int8 39\.5 dB; lower it",
    ):
        choose([_candidate("int8", 2, 39.5, calls, [])], "cpu", 16, min_psnr_db=70)


def test_a_candidate_that_cannot_open_is_skipped_with_its_reason() -> None:
    def broken() -> Runtime:
        raise RuntimeError("no such device")

    calls: list[str] = []
    pool = [
        Candidate("openvino", "fp32", "/gpu", "id-broken", math.inf, broken),
        _candidate("ok", 3, math.inf, calls, []),
    ]
    runtime, choice = choose(pool, "cpu", 16, use_cache=False)
    assert isinstance(runtime, SleepingRuntime) and runtime.name == "ok"
    assert "failed to open: no such device" in choice.summary()


def test_a_damaged_cache_file_is_measured_again() -> None:
    calls: list[str] = []
    pool = [_candidate("a", 8, math.inf, calls, []), _candidate("b", 1, math.inf, calls, [])]
    _, first = choose(pool, "cpu", 16)
    assert first.cache_file is not None
    first.cache_file.write_text("{not json")
    calls.clear()
    _, second = choose(pool, "cpu", 16)
    assert not second.from_cache and calls  # measured again
    assert json.loads(first.cache_file.read_text())["measurements"]


def test_other_model_bytes_are_another_cache_entry() -> None:
    pool = [_candidate("a", 1, math.inf, [], []), _candidate("b", 2, math.inf, [], [])]
    _, one = choose(pool, "cpu", 16)
    changed = [_candidate("a", 1, math.inf, [], []), _candidate("b", 3, math.inf, [], [])]
    _, two = choose(changed, "cpu", 16)
    assert one.cache_file != two.cache_file and not two.from_cache


def test_the_probe_is_a_photo_crop_of_the_pad_multiple() -> None:
    batch = autotune.probe_batch(512)
    assert batch.shape == (1, 3, 512, 512) and 0 <= float(batch.min()) < float(batch.max()) <= 1
    assert float(batch.std()) > 0.05  # a photo, not a constant


def test_the_built_in_model_is_exported_once_into_the_user_cache(tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="needs the openvino extra")
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    from dcpt_sdk import Restorer, autoexport
    from dcpt_sdk.user_cache import cache_dir

    restorer = Restorer()
    choice = restorer.auto_choice
    assert choice is not None
    labels = {m.label for m in choice.measurements}
    assert {"torch fp32", "openvino fp32", "onnxruntime fp32"} <= labels
    assert (autoexport.cpu_has_native_bf16()) == ("openvino bf16" in labels)
    assert restorer.backend == choice.chosen.backend
    exported = sorted(p.parent.name for p in (cache_dir() / "artifacts").rglob("dcpt.json"))
    assert "openvino-fp32" in exported and "onnx-fp32" in exported
    stamps = {p: p.stat().st_mtime_ns for p in (cache_dir() / "artifacts").rglob("dcpt.json")}
    again = Restorer()
    assert again.auto_choice is not None and again.auto_choice.from_cache
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not exported again


def test_auto_export_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from dcpt_sdk import autoexport

    monkeypatch.setenv("DCPT_AUTO_EXPORT", "0")
    assert autoexport.cached_exports(create_model("nafnet-tiny"), "0" * 64) == []


def test_a_concurrent_export_that_lands_first_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes exporting the same model: the second rename fails, its copy is dropped and
    the first artifact stays untouched."""
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    from dcpt_sdk import autoexport
    from dcpt_sdk.export import export

    model = create_model("nafnet-tiny")
    target = tmp_path / "onnx-fp32"
    export(model, "onnx", "fp32", target)
    first = (target / "dcpt.json").read_bytes()
    autoexport._export_once(model, "onnx", "fp32", target)
    assert (target / "dcpt.json").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx-fp32"]  # no private leftovers
