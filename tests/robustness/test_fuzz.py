"""Seeded fuzzing of everything a user hands the SDK: image files and model files.

A generator derives malformed files from valid ones (truncations, byte flips, PNG chunk edits
with the CRC fixed up so the damage reaches the decoder, header-only files, declared pixel
bombs, wrong suffixes; for checkpoints: flipped header bytes, truncations, forged metadata).
The default run makes a few hundred cases in seconds; ``-m slow`` makes thousands. Asserted:
only DcptError subclasses leave the API, and dcpt-restore on a folder of them prints no
traceback, exits 1 naming each bad file, and leaves no temp or partial file.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _models import randomised

from dcpt_sdk.checkpoint import load_model, save_model
from dcpt_sdk.cli.restore import main as restore_main
from dcpt_sdk.errors import DcptError
from dcpt_sdk.imaging import TEMP_PREFIX, read_image, write_image
from dcpt_sdk.models import create_model

DEFAULT_CASES, SLOW_CASES = 300, 3000


def _valid_images(folder: Path) -> list[Path]:
    """One small valid file per format and depth the reader handles."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    files = {
        "rgb.png": rgb,
        "rgba.png": np.dstack([rgb, rgb[:, :, :1]]),
        "gray16.png": (rng.random((17, 19)) * 65535).astype(np.uint16),
        "rgb16.png": (rng.random((17, 19, 3)) * 65535).astype(np.uint16),
        "rgb.jpg": rgb,
        "rgb16.tif": (rng.random((9, 11, 3)) * 65535).astype(np.uint16),
        "rgb.tif": rgb,
        "rgb.webp": rgb,
        "rgba.bmp": np.dstack([rgb, rgb[:, :, :1]]),
        "rgb.bmp": rgb,
    }
    for name, pixels in files.items():
        write_image(folder / name, pixels)
    return [folder / name for name in files]


def _png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of each chunk of a PNG."""
    out, at = [], 8
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        out.append((at, data[at + 4 : at + 8]))
        at += 12 + length
    return out


def _fix_crc(data: bytearray, at: int) -> None:
    length = int.from_bytes(data[at : at + 4], "big")
    end = at + 8 + length
    if end + 4 <= len(data):
        data[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(data[at + 4 : end])))


def _mutate(data: bytes, suffix: str, rng: np.random.Generator) -> tuple[bytes, str, str]:
    """(malformed bytes, suffix, what was done)."""
    kind = int(rng.integers(7))
    out = bytearray(data)
    if kind == 0:
        cut = int(rng.integers(0, len(data)))
        return bytes(out[:cut]), suffix, f"truncated at {cut}"
    if kind == 1:
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(len(out)))
            out[at] ^= int(rng.integers(1, 256))
        return bytes(out), suffix, "bytes flipped"
    if kind == 2 and suffix == ".png":
        chunks = _png_chunks(data)
        at, _ = chunks[int(rng.integers(len(chunks)))]
        length = int.from_bytes(out[at : at + 4], "big")
        for _ in range(int(rng.integers(1, 4))):
            if length:
                out[at + 8 + int(rng.integers(length))] ^= int(rng.integers(1, 256))
        _fix_crc(out, at)
        return bytes(out), suffix, "chunk edited, CRC fixed"
    if kind == 3 and suffix == ".png":  # a declared bomb: IHDR says huge, CRC fixed
        width, height = (int(v) for v in rng.integers(1, 2**31 - 1, size=2))
        out[16:24] = struct.pack(">II", width, height)
        _fix_crc(out, 8)
        return bytes(out), suffix, f"IHDR {width}x{height}"
    if kind == 4:
        return bytes(out[: int(rng.integers(1, 64))]), suffix, "header only"
    if kind == 5:
        other = [".png", ".jpg", ".tif", ".webp", ".bmp"]
        return bytes(out), str(rng.choice([s for s in other if s != suffix])), "wrong suffix"
    noise = rng.integers(0, 256, int(rng.integers(0, 512)), dtype=np.uint8).tobytes()
    return bytes(out[: len(out) // 2]) + noise, suffix, "tail replaced by noise"


def _cases(folder: Path, count: int, seed: int) -> Iterator[tuple[Path, str]]:
    rng = np.random.default_rng(seed)
    sources = _valid_images(folder / "valid")
    (folder / "bad").mkdir()
    for i in range(count):
        source = sources[i % len(sources)]
        data, suffix, what = _mutate(source.read_bytes(), source.suffix, rng)
        path = folder / "bad" / f"case{i:04d}-{source.stem}{suffix}"
        path.write_bytes(data)
        yield path, f"{source.name}: {what}"


def _read_all(tmp_path: Path, count: int) -> tuple[int, int]:
    read = refused = 0
    for path, what in _cases(tmp_path, count, seed=count):
        try:
            loaded = read_image(path)
        except DcptError:
            refused += 1
            continue
        except Exception as error:  # the defect this test exists to catch
            raise AssertionError(
                f"{path.name} ({what}) raised {type(error).__name__}: {error}"
            ) from error
        assert loaded.pixels.size > 0
        read += 1
    return read, refused


def test_malformed_images_only_ever_raise_sdk_errors(tmp_path: Path) -> None:
    read, refused = _read_all(tmp_path, DEFAULT_CASES)
    assert read + refused == DEFAULT_CASES and refused > DEFAULT_CASES // 3


@pytest.mark.slow
def test_thousands_of_malformed_images_only_ever_raise_sdk_errors(tmp_path: Path) -> None:
    read, refused = _read_all(tmp_path, SLOW_CASES)
    assert read + refused == SLOW_CASES


def test_dcpt_restore_on_a_folder_of_broken_files(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """No traceback, exit 1, every unreadable file named, nothing partial left, nothing written
    outside -o; and none of libtiff's/libpng's/Pillow's own chatter on stderr (fd 2 captured)."""
    model = randomised(create_model("nafnet-tiny"))
    checkpoint = save_model(model, tmp_path / "m.safetensors")
    cases = list(_cases(tmp_path, 60, seed=7))
    outside = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    out = tmp_path / "restored"
    status = restore_main(
        [str(tmp_path / "bad"), "-o", str(out), "--model", str(checkpoint), "--backend", "torch"]
    )
    err = capfd.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert "UserWarning" not in err and "Decoding error" not in err and "libpng" not in err
    failed = {line.split(": ", 2)[1] for line in err.splitlines() if line.startswith("  failed: ")}
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for path, what in cases:
        assert str(path) in failed or path.name in written, f"{path.name} ({what}) unaccounted"
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents) == outside


def _checkpoint_cases(good: bytes, rng: np.random.Generator, count: int) -> Iterator[bytes]:
    header_len = int.from_bytes(good[:8], "little")
    header = json.loads(good[8 : 8 + header_len])
    for i in range(count):
        kind = i % 4
        data = bytearray(good)
        if kind == 0:
            yield bytes(data[: int(rng.integers(0, len(data)))])
        elif kind == 1:
            for _ in range(int(rng.integers(1, 6))):
                at = 8 + int(rng.integers(header_len))
                data[at] ^= int(rng.integers(1, 256))
            yield bytes(data)
        elif kind == 2:  # forged metadata: a random field of the spec set to a random value
            spec = json.loads(header["__metadata__"]["dcpt_spec"])
            key = str(rng.choice(sorted(spec)))
            values = [None, -1, 0, 2**40, "x", [1], {"a": 1}, 1.5, True, "nafnet", [[[[]]]]]
            spec[key] = values[int(rng.integers(len(values)))]
            forged = dict(header, __metadata__={"dcpt_spec": json.dumps(spec)})
            body = json.dumps(forged).encode()
            yield len(body).to_bytes(8, "little") + body + bytes(data[8 + header_len :])
        else:  # a header length that lies
            data[:8] = int(rng.integers(0, 2**63)).to_bytes(8, "little")
            yield bytes(data)


@pytest.mark.parametrize("count", [80, pytest.param(800, marks=pytest.mark.slow)])
def test_malformed_checkpoints_only_ever_raise_sdk_errors(tmp_path: Path, count: int) -> None:
    good_path = save_model(randomised(create_model("nafnet-tiny")), tmp_path / "good.safetensors")
    good = good_path.read_bytes()
    rng = np.random.default_rng(count)
    for i, data in enumerate(_checkpoint_cases(good, rng, count)):
        path = tmp_path / f"bad{i}.safetensors"
        path.write_bytes(data)
        try:
            load_model(path)
        except DcptError:
            pass
        except Exception as error:
            raise AssertionError(
                f"case {i} (kind {i % 4}) raised {type(error).__name__}: {error}"
            ) from error


def test_the_valid_sources_themselves_read(tmp_path: Path) -> None:
    """The generator starts from files the reader accepts (else every case would be trivial)."""
    for path in _valid_images(tmp_path):
        assert read_image(path).pixels.size > 0, path.name


def test_peak_memory_of_the_image_fuzz_stays_bounded(tmp_path: Path) -> None:
    """Declared bombs and lying headers are refused before they allocate: the whole default
    fuzz run, in its own process, peaks within 500 MB beyond the interpreter with torch."""
    import subprocess
    import sys

    # VmHWM (this program's own high-water mark), not ru_maxrss, which Linux carries over
    # from the forking parent.
    hwm = "next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))"
    code = (
        "import importlib.util, sys; from pathlib import Path; "
        "sys.path.insert(0, sys.argv[1]); "
        "spec = importlib.util.spec_from_file_location('fuzz', sys.argv[2]); "
        "fuzz = importlib.util.module_from_spec(spec); spec.loader.exec_module(fuzz); "
        f"base = {hwm}; "
        "fuzz._read_all(Path(sys.argv[3]), fuzz.DEFAULT_CASES); "
        f"print(({hwm} - base) // 1024)"
    )
    tests = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code, str(tests), str(Path(__file__).resolve()), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout.strip().splitlines()[-1]) < 500, done.stdout
