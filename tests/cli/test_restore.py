from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from _models import randomised, with_light_classifier
from PIL import Image

from dcpt_sdk.checkpoint import save_model
from dcpt_sdk.cli.restore import main
from dcpt_sdk.models import create_model


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    model = with_light_classifier(randomised(create_model("nafnet-tiny")), ("derain", "denoise"))
    return save_model(model, tmp_path / "model.safetensors")


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / "sub/b.jpg")
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    (folder / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / "notes.jpg").write_text("this is not a JPEG")
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    return folder


def _image_at(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), 90, np.uint8)).save(path)
    return path


def test_folder_with_bad_files(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "out"
    status = main([str(folder), "-o", str(out), "--model", str(checkpoint), "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 1
    assert (out / "a.png").is_file() and (out / "sub" / "b.jpg").is_file()
    assert "truncated.png" in err and "notes.jpg" in err
    assert "restored 2, skipped 0" in err and "failed 2" in err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "sub/b.jpg"]  # no partial or temporary files
    assert Image.open(out / "a.png").size == (30, 24)


def test_existing_outputs_are_skipped_unless_overwrite(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _image_at(tmp_path / "x.png")
    out = tmp_path / "out"
    args = [str(image), "-o", str(out), "--model", str(checkpoint)]
    assert main(args) == 0
    assert main(args) == 0
    assert "restored 0, skipped 1" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert "restored 1, skipped 0" in capsys.readouterr().err


def test_classify_prints_and_writes(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _image_at(tmp_path / "x.png")
    out = tmp_path / "out"
    assert main([str(image), "-o", str(out), "--model", str(checkpoint), "--classify"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("x.png: ") and ("derain" in printed or "denoise" in printed)
    assert (out / "degradations.jsonl").is_file()


def test_user_errors_are_one_line(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main([str(tmp_path / "missing"), "-o", str(tmp_path / "o"), "--model", str(checkpoint)])
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("error: input") and err.count("\n") == 1
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main([str(image), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "nope.pth")]) == 1
    assert capsys.readouterr().err.startswith("error: checkpoint")
    assert (
        main([str(image), "-o", str(tmp_path / "o"), "--model", str(checkpoint), "--tile", "big"])
        == 1
    )
    assert "--tile must be" in capsys.readouterr().err


def test_one_image_to_one_file(tmp_path: Path, checkpoint: Path) -> None:
    """dcpt-restore in.png -o out.png writes that file (not a folder named out.png)."""
    image = _image_at(tmp_path / "in.png")
    target = tmp_path / "restored" / "out.png"
    assert main([str(image), "-o", str(target), "--model", str(checkpoint)]) == 0
    assert target.is_file() and Image.open(target).size == (16, 16)


def test_output_equal_to_input_folder_is_refused_unless_in_place(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "same"
    original = _image_at(folder / "a.png").read_bytes()
    args = [str(folder), "-o", str(folder), "--model", str(checkpoint)]
    assert main([*args, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: -o") and "--in-place" in err and err.count("\n") == 1
    assert (folder / "a.png").read_bytes() == original
    assert main([*args, "--overwrite", "--in-place"]) == 0
    assert (folder / "a.png").read_bytes() != original


def test_an_output_folder_inside_the_input_is_never_walked(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "nest"
    _image_at(folder / "a.png")
    args = [str(folder), "-o", str(folder / "out"), "--model", str(checkpoint)]
    for _ in range(3):
        assert main(args) == 0
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert written == ["a.png", "out/a.png"]


def test_tiles_of_a_large_image_report_progress(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _image_at(tmp_path / "big.png", (96, 160))
    out = tmp_path / "o"
    assert (
        main(
            [
                str(image),
                "-o",
                str(out),
                "--model",
                str(checkpoint),
                "--tile",
                "64",
                "--tile-overlap",
                "16",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "big.png: tile 1/" in err and "tile 6/6" in err


def test_a_long_legal_file_name_restores(tmp_path: Path, checkpoint: Path) -> None:
    """244 characters + the temp name's additions used to pass the 255-byte limit."""
    name = "x" * 240 + ".png"
    image = _image_at(tmp_path / "in" / name)
    out = tmp_path / "out"
    assert main([str(image.parent), "-o", str(out), "--model", str(checkpoint)]) == 0
    assert (out / name).is_file()
    assert not list(out.glob(".dcpt-tmp-*"))


def test_temp_files_of_killed_runs_are_swept_and_live_ones_kept(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL runs no cleanup: the next run removes temp files whose writer is gone."""
    import os

    from dcpt_sdk.imaging import TEMP_PREFIX

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    gone_pid = 2**22 + 12345  # above the default pid_max: no such process
    stale = out / "sub" / f"{TEMP_PREFIX}{gone_pid}-abcd1234-a.png.tmp"
    stale.write_bytes(b"half a PNG")
    live = out / f"{TEMP_PREFIX}{os.getpid()}-abcd1234-b.png.tmp"
    live.write_bytes(b"being written")
    image = _image_at(tmp_path / "x.png")
    assert main([str(image), "-o", str(out), "--model", str(checkpoint)]) == 0
    assert not stale.exists() and live.exists()
    assert "left by an interrupted run" in capsys.readouterr().err


def test_pipelined_and_sequential_runs_write_the_same_files(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Decode/encode in threads beside the model (the default) changes nothing but speed: the
    same bytes, the same failures reported, in the same summary."""
    folder = _folder(tmp_path)
    rng = np.random.default_rng(1)
    for i in range(5):  # more images than the pipeline holds at once
        Image.fromarray(rng.integers(0, 256, (18, 26, 3), dtype=np.uint8)).save(
            folder / f"m{i}.png"
        )
    summaries = []
    for flag in ([], ["--no-pipeline"]):
        out = tmp_path / ("seq" if flag else "pipe")
        model = ["--model", str(checkpoint), "--device", "cpu", "--classify", *flag]
        assert main([str(folder), "-o", str(out), *model]) == 1
        summaries.append(capsys.readouterr().err.split("restored", 1)[1])
    assert summaries[0] == summaries[1] and "restored 7" not in summaries[0]
    pipe = {
        p.relative_to(tmp_path / "pipe"): p.read_bytes() for p in (tmp_path / "pipe").rglob("*.*")
    }
    seq = {p.relative_to(tmp_path / "seq"): p.read_bytes() for p in (tmp_path / "seq").rglob("*.*")}
    assert pipe == seq and len(pipe) == 8  # 7 images and degradations.jsonl


def test_a_failed_write_is_reported_and_the_run_goes_on(
    tmp_path: Path,
    checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dcpt_sdk import imaging
    from dcpt_sdk.errors import InvalidImageError

    folder = tmp_path / "in"
    for name in ("a.png", "b.png", "c.png"):
        _image_at(folder / name)
    real_write = imaging.write_image

    def refuse_b(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).name == "b.png":
            raise InvalidImageError(f"cannot write '{path}': disk full")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(imaging, "write_image", refuse_b)
    out = tmp_path / "out"
    assert main([str(folder), "-o", str(out), "--model", str(checkpoint)]) == 1
    err = capsys.readouterr().err
    assert "restored 2, skipped 0" in err and "failed 1" in err and "disk full" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]


@pytest.mark.parametrize("delay", [0.2, 0.5])
def test_ctrl_c_while_starting_is_one_line_and_status_130(tmp_path: Path, delay: float) -> None:
    """SIGINT lands while torch and the codecs import (the slow part of a cold start): exit
    130 and one 'error:' line, as an interrupt later in the run gives, never a traceback."""
    import signal
    import subprocess
    import sys
    import time

    command = Path(sys.executable).with_name("dcpt-restore")
    if not command.exists():
        pytest.skip("dcpt-restore is not installed beside this interpreter")
    image = _image_at(tmp_path / "x.png")
    process = subprocess.Popen(
        [str(command), str(image), "-o", str(tmp_path / "y.png"), "--backend", "torch"],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0 or "restored 1" in err:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: interrupted")


def test_symlinked_folders_are_walked_once_and_a_fifo_is_named(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    folder = tmp_path / "in"
    (folder / "real").mkdir(parents=True)
    _image_at(folder / "real" / "a.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _image_at(elsewhere / "b.png")
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    (folder / "real" / "loop").symlink_to(folder, target_is_directory=True)  # a link loop
    os.mkfifo(folder / "pipe.png")
    out = tmp_path / "out"
    assert main([str(folder), "-o", str(out), "--model", str(checkpoint)]) == 0
    err = capsys.readouterr().err
    restored = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert restored == ["linked/b.png", "real/a.png"]
    assert "pipe.png: not a regular file (a FIFO)" in err
