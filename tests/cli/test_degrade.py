"""dcpt-degrade: contact sheets, single degradations, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcpt_sdk.cli.degrade import SHEET_MIXES, main
from dcpt_sdk.degradations import available


@pytest.fixture(scope="module")
def photo(natural_image: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "photo.png"
    Image.fromarray(natural_image[::4, ::4]).save(path)  # 128x128
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err


def test_sheet_has_every_degradation(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    assert main([str(photo), "--sheet", str(out), "--seed", "0", "--size", "64"]) == 0
    with Image.open(out) as sheet:
        tiles = 1 + len(available()) + len(SHEET_MIXES)
        rows = -(-tiles // 4)
        assert sheet.size == (4 * 64, rows * (64 + 20))
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]  # no temporary left behind


def test_sheet_is_reproducible_with_a_seed(photo: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out in (a, b):
        assert main([str(photo), "--sheet", str(out), "--seed", "1", "--size", "48"]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_single_degradation_written(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "rainy.png"
    assert main([str(photo), "-d", "rain", "-o", str(out), "--seed", "2"]) == 0
    with Image.open(photo) as clean, Image.open(out) as rainy:
        assert rainy.size == clean.size and rainy.mode == clean.mode
        assert not np.array_equal(np.asarray(rainy), np.asarray(clean))


def test_set_passes_typed_parameters(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "same.png"
    args = [str(photo), "-d", "noise", "-o", str(out), "--set", "sigma=0", "--set", "clip=true"]
    assert main(args) == 0
    with Image.open(photo) as clean, Image.open(out) as result:
        np.testing.assert_array_equal(np.asarray(result), np.asarray(clean))


def test_mix_parameters(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "mix.jpg"
    args = [str(photo), "-d", "haze+rain", "-o", str(out), "--set", "haze.beta=1.5"]
    assert main(args) == 0 and out.stat().st_size > 0


def test_bad_name_lists_valid_names(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.png"
    assert main([str(photo), "-d", "fog", "-o", str(out)]) == 1
    err = _one_line_error(capsys)
    assert "unknown degradation 'fog'" in err and ", ".join(available()) in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-d", "noise"], "-d needs an output file"),
        (["-d", "noise", "-o", "{tmp}/x.png", "--set", "sigma"], "--set takes KEY=VALUE"),
        (["-d", "noise", "-o", "{tmp}/x.png", "--set", "sigma=loud"], "sigma='loud' is not valid"),
        (["-d", "noise", "-o", "{tmp}/x.unknown"], "unknown image suffix '.unknown'"),
        (["-d", "noise", "-o", "{tmp}/missing/x.png"], "does not exist"),
        (["--sheet", "{tmp}/s.png", "--set", "sigma=3"], "--set applies to -d only"),
    ],
)
def test_user_errors_are_one_line(
    photo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = [str(photo)] + [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(argv) == 1
    assert message in _one_line_error(capsys)


def test_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "none.png"), "-d", "rain", "-o", str(tmp_path / "o.png")]) == 1
    assert "cannot read image" in _one_line_error(capsys)


def test_unwritable_mode_for_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (16, 16), (10, 20, 30, 128)).save(rgba)
    assert main([str(rgba), "-d", "rain", "-o", str(tmp_path / "o.jpg")]) == 1
    assert "cannot write RGBA pixels to" in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgba.png"]


def test_a_16_bit_input_gives_a_16_bit_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The defect: dcpt-degrade wrote an 8-bit PNG from a 16-bit one (Pillow's 8-bit read)."""
    from dcpt_sdk.imaging import read_image, write_image

    rng = np.random.default_rng(0)
    write_image(tmp_path / "in.png", (rng.random((20, 24, 3)) * 65535).astype(np.uint16))
    assert main([str(tmp_path / "in.png"), "-d", "noise", "-o", str(tmp_path / "o.png")]) == 0
    out = read_image(tmp_path / "o.png").pixels
    assert out.dtype == np.uint16 and out.shape == (20, 24, 3)
    assert len(np.unique(out % 257)) > 1  # real 16-bit values, not 8-bit ones scaled up
    assert main([str(tmp_path / "in.png"), "-d", "noise", "-o", str(tmp_path / "o.jpg")]) == 0
    assert "written at 8 bits (use .png or .tif to keep 16)" in capsys.readouterr().err
    assert read_image(tmp_path / "o.jpg").pixels.dtype == np.uint8


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in available():
        assert f"\n{name}: " in "\n" + out
    assert "sigma = {15, 25, 50}" in out
