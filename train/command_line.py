"""The command line both training scripts share (one vocabulary for pretrain.py and
finetune.py): flags, the config they build (file + ``--set`` overrides + dedicated flags), the
refusal to mix a new run into an old output folder, and one-line user errors."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from dcpt_sdk.errors import DcptError
from dcpt_sdk.train.config import Config, load_config

__all__ = [
    "CHECKPOINTS",
    "METRICS_FILE",
    "check_output_dir",
    "config_from_args",
    "parse_args",
    "run_main",
]

CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"


def parse_args(
    description: str, argv: Sequence[str] | None, *, finetune: bool
) -> argparse.Namespace:
    """The shared flags; ``--init`` only for fine-tuning."""
    parser = argparse.ArgumentParser(
        description=description.replace("``", "`"),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--config", help="YAML preset, e.g. train/configs/nafnet-tiny-synthetic.yaml"
    )
    parser.add_argument("--output-dir", help="where states, model files and metrics go")
    parser.add_argument("--max-steps", type=int, help="optimiser steps (sets training.max_steps)")
    parser.add_argument("--data", help="data root: the clean-photo folder of synthetic presets")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=1e-4 (repeatable)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="DIR",
        help="continue from a saved state: a checkpoint folder, or the latest one of --output-dir",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in an --output-dir that holds a previous run (deletes that run)",
    )
    if finetune:
        parser.add_argument("--init", help="pre-trained restorer checkpoint, loaded strictly")
    return parser.parse_args(argv)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the scripts' usage text as written and shows every flag's default."""


def check_output_dir(out: Path, *, resume: str | None, overwrite: bool) -> None:
    """A previous run in ``out`` is continued (--resume) or replaced (--overwrite), never mixed
    into: its metrics.jsonl would interleave steps and a stale checkpoint would wait for a later
    --resume."""
    previous = [name for name in (METRICS_FILE, CHECKPOINTS) if (out / name).exists()]
    if not previous or resume is not None:
        return
    if not overwrite:
        raise DcptError(
            f"--output-dir '{out}' holds a previous run ({', '.join(previous)}); pass --resume to "
            "continue it, --overwrite to start over, or choose another --output-dir"
        )
    for name in previous:
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file plus ``--set`` overrides plus the dedicated flags (which win); refuses to
    mix a new run into an output folder that holds another (see :func:`check_output_dir`)."""
    overrides = list(args.overrides)
    for flag, key in (
        ("max_steps", "training.max_steps"),
        ("data", "data.root"),
        ("output_dir", "training.output_dir"),
        ("init", "finetune.init"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    cfg = load_config(args.config, overrides)
    check_output_dir(
        Path(cfg.training.output_dir),
        resume=getattr(args, "resume", None),
        overwrite=getattr(args, "overwrite", False),
    )
    return cfg


def run_main(
    main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None
) -> None:
    """Run a script's main; user errors print one line (no traceback) and exit with status 1."""
    import sys

    try:
        main(argv)
    except DcptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
