"""The default model's photos: clean images that installed Python packages ship, with licences.

Nothing is downloaded: every photo lies inside a package installed by the ``dev`` extra
(scikit-image, scikit-learn, matplotlib). ``collect(dest)`` copies them into ``dest/train`` and
``dest/holdout`` (the held-out photos are never trained on: they make the demo's examples and the
quality report) and writes ``dest/SOURCES.md``, the table the model card repeats.

    python -m dcpt_sdk.train.photos /tmp/photos      # then --data /tmp/photos/train
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dcpt_sdk.errors import DcptError

__all__ = ["PHOTOS", "Photo", "collect", "sources_table"]

Split = Literal["train", "holdout"]


@dataclass(frozen=True)
class Photo:
    """One photo: where it lies (package + path inside it), its licence, and its split."""

    package: str
    path: str
    licence: str
    credit: str
    split: Split

    @property
    def name(self) -> str:
        return f"{self.package}-{Path(self.path).name}"


_SKI = "skimage"
# Licences as the packages' own docstrings/READMEs state them (skimage.data.<name> docstrings,
# sklearn/datasets/images/README.txt, the US Navy's public-domain photo in matplotlib).
# Left out on purpose: motorcycle_left/right (Middlebury stereo data, research licence),
# moon/page (no licence stated), clock_motion (motion-blurred itself: a wrong "clean" target).
PHOTOS: tuple[Photo, ...] = (
    Photo(_SKI, "data/rocket.jpg", "public domain", "SpaceX (skimage.data.rocket)", "train"),
    Photo(
        _SKI,
        "data/hubble_deep_field.jpg",
        "public domain",
        "NASA (skimage.data.hubble_deep_field)",
        "train",
    ),
    Photo(_SKI, "data/retina.jpg", "CC0 1.0", "Mikael Haggstrom (skimage.data.retina)", "train"),
    Photo(
        _SKI,
        "data/ihc.png",
        "no known copyright restrictions",
        "skimage.data.immunohistochemistry",
        "train",
    ),
    Photo(_SKI, "data/camera.png", "CC0", "Lav Varshney (skimage.data.camera)", "train"),
    Photo(_SKI, "data/brick.png", "CC0", "CC0Textures Bricks25 (skimage.data.brick)", "train"),
    Photo(_SKI, "data/grass.png", "CC0", "CC0Textures (skimage.data.grass)", "train"),
    Photo(_SKI, "data/gravel.png", "CC0", "CC0Textures Gravel04 (skimage.data.gravel)", "train"),
    Photo(_SKI, "data/coins.png", "no known copyright restrictions", "skimage.data.coins", "train"),
    Photo(_SKI, "data/text.png", "public domain", "skimage.data.text", "train"),
    Photo(
        "sklearn",
        "datasets/images/china.jpg",
        "CC BY 2.0",
        "danielbuechele on Flickr (sklearn.datasets.load_sample_image)",
        "train",
    ),
    Photo(
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        "public domain",
        "US Navy photo of Grace Hopper (matplotlib sample data)",
        "train",
    ),
    Photo(_SKI, "data/astronaut.png", "public domain", "NASA (skimage.data.astronaut)", "holdout"),
    Photo(_SKI, "data/chelsea.png", "CC0", "Stefan van der Walt (skimage.data.chelsea)", "holdout"),
    Photo(_SKI, "data/coffee.png", "CC0", "Rachel Michetti (skimage.data.coffee)", "holdout"),
    Photo(
        "sklearn",
        "datasets/images/flower.jpg",
        "CC BY 2.0",
        "vultilion on Flickr (sklearn.datasets.load_sample_image)",
        "holdout",
    ),
)


def _package_root(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DcptError(
            f"the training photos need the '{package}' package, which is not installed; "
            f"pip install 'dcpt-sdk[dev]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def source_path(photo: Photo) -> Path:
    """Where ``photo`` lies in this environment."""
    path = _package_root(photo.package) / photo.path
    if not path.is_file():
        raise DcptError(f"{photo.package} no longer ships {photo.path} (looked at {path})")
    return path


def sources_table(photos: tuple[Photo, ...] = PHOTOS) -> str:
    """A markdown table of every photo: split, file, package, credit, licence."""
    rows = ["| split | file | package | credit | licence |", "|---|---|---|---|---|"]
    rows += [
        f"| {p.split} | {Path(p.path).name} | {p.package} | {p.credit} | {p.licence} |"
        for p in photos
    ]
    return "\n".join(rows) + "\n"


def collect(dest: Path) -> dict[Split, list[Path]]:
    """Copy every photo into ``dest/train`` or ``dest/holdout``; write ``dest/SOURCES.md``."""
    out: dict[Split, list[Path]] = {"train": [], "holdout": []}
    for photo in PHOTOS:
        folder = dest / photo.split
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / photo.name
        shutil.copyfile(source_path(photo), target)
        out[photo.split].append(target)
    (dest / "SOURCES.md").write_text(sources_table(), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="folder to create train/ and holdout/ in")
    args = parser.parse_args(argv)
    found = collect(args.dest)
    print(
        f"{len(found['train'])} training and {len(found['holdout'])} held-out photos in {args.dest}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
