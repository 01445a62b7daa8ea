"""dcpt-restore --engine ray against the local command: the same files, bit for bit.

One local Ray instance (2 CPUs) serves the whole module: starting Ray costs seconds, and each
run still starts its own pool of actors (each imports torch), so the runs are shared through
module-scoped fixtures where the tests only read their results.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _models import randomised, with_light_classifier
from PIL import ImageCms

from dcpt_sdk.checkpoint import save_model
from dcpt_sdk.cli.restore import main
from dcpt_sdk.imaging import TEMP_PREFIX, read_image, write_image
from dcpt_sdk.models import create_model

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'dcpt-sdk[ray]')")
pytest.importorskip("ray.data", reason="the ray extra (pip install 'dcpt-sdk[ray]')")

RESTORED = [
    "a.png",
    "b16.png",
    "gray.png",
    "icc.jpg",
    "sub/rgba.png",
    "sub/rgba16.png",
    "sub/t16.tif",
]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray-restore")


@pytest.fixture(scope="module")
def checkpoint(root: Path) -> Path:
    model = with_light_classifier(randomised(create_model("nafnet-tiny")), ("derain", "denoise"))
    return save_model(model, root / "model.safetensors")


@pytest.fixture(scope="module")
def folder(root: Path) -> Path:
    """Seven small images of the kinds whose depth, alpha or profile must survive, one bad
    PNG and a text file the walk ignores."""
    folder = root / "in"
    rng = np.random.default_rng(0)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    write_image(folder / "a.png", rng.integers(0, 256, (24, 30, 3), dtype=np.uint8))
    write_image(folder / "b16.png", rng.integers(0, 65536, (20, 28, 3), dtype=np.uint16))
    write_image(folder / "gray.png", rng.integers(0, 256, (17, 19), dtype=np.uint8))
    write_image(folder / "icc.jpg", rng.integers(0, 256, (16, 24, 3), np.uint8), icc_profile=srgb)
    write_image(folder / "sub/rgba.png", rng.integers(0, 256, (18, 22, 4), dtype=np.uint8))
    write_image(folder / "sub/rgba16.png", rng.integers(0, 65536, (16, 16, 4), dtype=np.uint16))
    write_image(folder / "sub/t16.tif", rng.integers(0, 65536, (20, 20, 3), dtype=np.uint16))
    good = (folder / "a.png").read_bytes()
    (folder / "bad.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.txt").write_text("not an image suffix: ignored")
    return folder


def _restore(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _run_module_scoped(*args: str | Path) -> tuple[int, str]:
    """main(args) -> (status, stderr), for module-scoped fixtures (capsys is per test)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, err.getvalue()


@pytest.fixture(scope="module")
def local_run(folder: Path, checkpoint: Path, root: Path) -> tuple[Path, str]:
    """The local command's outputs and its --classify report: the reference."""
    out = root / "local"
    status, _ = _run_module_scoped(
        folder, "-o", out, "--model", checkpoint, "--backend", "torch", "--classify"
    )
    assert status == 1  # bad.png
    return out, (out / "degradations.jsonl").read_text()


@pytest.fixture(scope="module")
def ray_run(ray_instance: None, folder: Path, checkpoint: Path, root: Path) -> dict[str, Any]:
    out = root / "ray"
    status, err = _run_module_scoped(
        folder, "-o", out, "--model", checkpoint, "--backend", "torch", "--classify",
        "--engine", "ray", "--concurrency", "2",
    )  # fmt: skip
    return {"out": out, "status": status, "err": err}


@dataclass(frozen=True)
class Started:
    """What a test that runs Ray itself starts from: the inputs, the model and the local
    command's outputs to compare with (the ``ray_instance`` fixture has started Ray)."""

    folder: Path
    checkpoint: Path
    local: Path


@pytest.fixture
def started(
    ray_instance: None, folder: Path, checkpoint: Path, local_run: tuple[Path, str]
) -> Started:
    return Started(folder, checkpoint, local_run[0])


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_outputs_equal_the_local_command_bit_for_bit(
    local_run: tuple[Path, str], ray_run: dict[str, Any]
) -> None:
    local, classes = local_run
    out = ray_run["out"]
    assert _files(out) == _files(local) == sorted([*RESTORED, "degradations.jsonl"])
    for name in RESTORED:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    # the same --classify report, in the same (input) order
    assert (out / "degradations.jsonl").read_text() == classes
    # and what must survive did: 16 bits, alpha, the gray layout, the ICC profile
    assert read_image(out / "b16.png").pixels.dtype == np.uint16
    assert read_image(out / "sub/rgba16.png").pixels.shape == (16, 16, 4)
    assert read_image(out / "sub/t16.tif").pixels.dtype == np.uint16
    assert read_image(out / "gray.png").pixels.shape == (17, 19)
    assert read_image(out / "icc.jpg").icc_profile is not None


def test_a_bad_file_is_reported_not_fatal(ray_run: dict[str, Any]) -> None:
    err = ray_run["err"]
    assert ray_run["status"] == 1
    assert "restored 7, skipped 0" in err and "failed 1" in err
    assert "failed: " in err and "bad.png" in err and "truncated PNG" in err
    assert "ray: 2 Restorer actors" in err
    assert not any(TEMP_PREFIX in p.name for p in ray_run["out"].rglob("*"))


def test_a_rerun_skips_done_outputs(
    started: Started, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    shutil.copytree(started.local, out)
    (out / "a.png").unlink()
    (out / "sub/t16.tif").unlink()
    # a done output that differs from what a restore would write: a rerun must leave it alone
    marker = np.full((4, 4, 3), 7, np.uint8)
    write_image(out / "b16.png", marker)
    status, _, err = _restore(
        capsys, started.folder, "-o", out, "--model", started.checkpoint, "--backend", "torch",
        "--engine", "ray",
    )  # fmt: skip
    assert status == 1  # bad.png has no output, so it is tried (and fails) again
    assert "restored 2, skipped 5" in err and "failed 1" in err
    np.testing.assert_array_equal(read_image(out / "b16.png").pixels, marker)
    for name in ("a.png", "sub/t16.tif"):
        assert (out / name).read_bytes() == (started.local / name).read_bytes(), name


def test_python_entry_reads_a_uri_with_threads_per_actor(
    started: Started, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dcpt_sdk.ray_restore import restore_folder

    uri = (started.folder / "sub").as_uri()  # file:///...: read through pyarrow, as s3:// would be
    summary = restore_folder(
        [uri], tmp_path, model=started.checkpoint, backend="torch", concurrency=1, num_cpus=2
    )
    # the actor's CPUs are its torch threads (Ray sets OMP_NUM_THREADS from num_cpus)
    assert "2 torch threads" in capsys.readouterr().err
    names = ["rgba.png", "rgba16.png", "t16.tif"]
    assert sorted(map(str, summary.restored)) == [f"{uri}/{name}" for name in names]
    assert summary.failed == [] and summary.skipped == []
    for name in names:
        assert (tmp_path / name).read_bytes() == (started.local / "sub" / name).read_bytes(), name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "2"], "--concurrency applies to --engine ray only"),
        (["--ray-address", "auto"], "--ray-address applies to --engine ray only"),
        (["--engine", "ray", "--no-pipeline"], "--no-pipeline applies to --engine local"),
        (["--num-cpus", "2"], "--num-cpus applies to --engine ray only"),
        (["--engine", "ray", "--concurrency", "0"], "must be a number of actors >= 1"),
        (["--engine", "ray", "--num-cpus", "0"], "must be > 0 CPUs per actor"),
        (["--engine", "ray", "--num-gpus", "-1"], "must be >= 0 GPUs per actor"),
    ],
)
def test_engine_options_are_checked(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, _, err = _restore(capsys, folder, "-o", tmp_path / "out", *args)
    assert status == 1
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_uris_are_refused_where_they_cannot_work(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _restore(capsys, "s3://bucket/photos", "-o", tmp_path / "out")
    assert status == 1 and "only --engine ray reads URIs" in err
    status, _, err = _restore(capsys, folder, "-o", "s3://bucket/out", "--engine", "ray")
    assert status == 1 and "is a URI: outputs are written to a local or mounted" in err
    mixed = [folder.as_uri(), str(folder), "-o", str(tmp_path / "out"), "--engine", "ray"]
    status, _, err = _restore(capsys, *mixed)
    assert status == 1 and "inputs mix URIs and local paths" in err


@pytest.mark.slow
def test_a_model_the_actors_cannot_open_is_one_line(
    ray_instance: None, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.safetensors"
    status, _, err = _restore(
        capsys, folder, "-o", tmp_path / "out", "--model", missing, "--backend", "torch",
        "--engine", "ray",
    )  # fmt: skip
    assert status == 1
    assert err.splitlines()[-1].startswith("error: a Ray actor could not open the Restorer: ")
    assert "missing.safetensors" in err and "Traceback" not in err
