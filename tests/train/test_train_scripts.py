"""The real training scripts, run as users run them: `accelerate launch` and plain `python`.

Each run uses the ci-tiny preset (tiny NAFNet, 32 px patches, the shipped sample photos) for a
few steps. Torch is limited to one thread per process: on 2 shared cores, two threads of a tiny
model spin against other processes and run ~100x slower.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import dcpt_sdk
from dcpt_sdk.degradations import get_preset

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "train" / "configs" / "ci-tiny.yaml"
PRETRAIN = ROOT / "train" / "pretrain.py"
FINETUNE = ROOT / "train" / "finetune.py"
CLASSES = get_preset("5d").classes

pytest.importorskip("accelerate", reason="training needs the 'train' extra")
pytest.importorskip("yaml", reason="training needs the 'train' extra")


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    return env


def _accelerate(*launch_args: str) -> list[str]:
    script = Path(sys.executable).with_name("accelerate")
    base = (
        [str(script)] if script.exists() else [sys.executable, "-m", "accelerate.commands.launch"]
    )
    return [*base, "launch", *launch_args] if script.exists() else [*base, *launch_args]


def _run(cmd: list[str], timeout: int = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def _script(script: Path, out: Path, *extra: str) -> list[str]:
    return [str(script), "--config", str(CONFIG), "--output-dir", str(out), *extra]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_accelerate_launch_pretrain_then_finetune(tmp_path: Path) -> None:
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    _run(_accelerate(*_script(PRETRAIN, pre, "--max-steps", "4")))
    restorer = dcpt_sdk.load_model(pre / "restorer.safetensors")
    assert restorer.spec.degradation_classes == CLASSES
    assert restorer.spec.classifier is not None
    assert restorer.classify_logits(torch.rand(1, 3, 32, 32)).shape == (1, len(CLASSES))
    classifier = dcpt_sdk.load_model(pre / "classifier.safetensors")
    assert classifier.spec.arch == "dcpt-classifier-light"
    assert sorted(r["step"] for r in _records(pre) if "loss/l1" in r) == [1, 2, 3, 4]
    assert any("val/acc/mean" in r for r in _records(pre))

    _run(
        _accelerate(
            *_script(
                FINETUNE, fine, "--max-steps", "4", "--init", str(pre / "restorer.safetensors")
            )
        )
    )
    for name in ("last.safetensors", "best.safetensors"):
        model = dcpt_sdk.load_model(fine / name)
        assert model.spec.classifier == restorer.spec.classifier
        assert model.spec.provenance["init"] == "restorer.safetensors"
    assert any("val/psnr/mean" in r for r in _records(fine))

    runner = dcpt_sdk.Restorer(str(fine / "last.safetensors"), backend="torch", device="cpu")
    image = (np.random.default_rng(0).random((37, 45, 3)) * 255).astype(np.uint8)
    assert runner.run(image).shape == image.shape
    probabilities = runner.classify(image)
    assert list(probabilities) == list(CLASSES)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("script", [PRETRAIN, FINETUNE], ids=["pretrain", "finetune"])
def test_resume_continues_exactly(tmp_path: Path, script: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["--max-steps", "4", "--set", "training.checkpoint_interval=2"]
    _run([sys.executable, *_script(script, straight, *common)])
    # An interrupted run leaves its step-2 state behind; --resume picks the latest one up.
    shutil.copytree(
        straight / "checkpoints" / "step-00000002", resumed / "checkpoints" / "step-00000002"
    )
    done = _run([sys.executable, *_script(script, resumed, *common, "--resume")])
    assert "resumed from" in done.stdout and "at step 2" in done.stdout
    names = ["restorer.safetensors"] if script == PRETRAIN else ["last.safetensors"]
    for name in [*names, "checkpoints/step-00000004/model.safetensors"]:
        a, b = load_file(straight / name), load_file(resumed / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after resume"
    steps = [r["step"] for r in _records(resumed) if "loss/l1" in r]
    assert steps == [3, 4]


def test_two_processes_train_together_and_log_once(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    launch = ["--multi_gpu", "--num_processes", "2", "--main_process_port", str(_free_port())]
    extra = ["--max-steps", "3", "--set", "training.checkpoint_interval=3"]
    done = _run(_accelerate(*launch, *_script(PRETRAIN, out, *extra)))
    lines = [line for line in done.stdout.splitlines() if " loss/l1=" in line]
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"]
    assert [r["step"] for r in _records(out) if "loss/l1" in r] == [1, 2, 3]
    checkpoints = list((out / "checkpoints").iterdir())
    assert [c.name for c in checkpoints] == ["step-00000003"]
    # one RNG state per process: the two processes really formed one data-parallel run
    assert {p.name for p in checkpoints[0].glob("random_states_*")} == {
        "random_states_0.pkl",
        "random_states_1.pkl",
    }
    assert dcpt_sdk.load_model(out / "restorer.safetensors").classifier is not None


def test_pretraining_without_the_classifier_branch(tmp_path: Path) -> None:
    out = tmp_path / "plain"
    extra = ["--max-steps", "2", "--set", "training.classifier_branch=false"]
    _run([sys.executable, *_script(PRETRAIN, out, *extra)])
    model = dcpt_sdk.load_model(out / "restorer.safetensors")
    assert model.classifier is None and not (out / "classifier.safetensors").exists()
    assert all("loss/focal" not in r for r in _records(out))


def test_an_init_that_does_not_fit_fails_in_one_line(tmp_path: Path) -> None:
    wrong = dcpt_sdk.create_model("nafnet", width=4, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    dcpt_sdk.save_model(wrong, tmp_path / "wrong.safetensors")
    cmd = [
        sys.executable,
        *_script(FINETUNE, tmp_path / "out", "--init", str(tmp_path / "wrong.safetensors")),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "error: --init" in done.stderr and "does not fit" in done.stderr
    assert "Traceback" not in done.stderr


def test_bf16_mixed_precision_through_accelerate(tmp_path: Path) -> None:
    # These CPUs (AMX/AVX-512-BF16) run bf16 autocast; Accelerate sets it up, not our code.
    out = tmp_path / "bf16"
    _run(_accelerate("--mixed_precision", "bf16", *_script(PRETRAIN, out, "--max-steps", "2")))
    records = _records(out)
    assert [r["step"] for r in records if "loss/l1" in r] == [1, 2]
    assert all(np.isfinite(r["loss/l1"]) for r in records if "loss/l1" in r)
    model = dcpt_sdk.load_model(out / "restorer.safetensors")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_a_second_run_into_the_same_output_dir_is_refused(tmp_path: Path) -> None:
    """Without --resume or --overwrite a new run would interleave its metrics with the old
    run's and leave a stale checkpoint for a later --resume."""
    out = tmp_path / "run"
    _run([sys.executable, *_script(FINETUNE, out, "--max-steps", "2")])
    done = subprocess.run(
        [sys.executable, *_script(FINETUNE, out, "--max-steps", "2")],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1
    assert "holds a previous run" in done.stderr and "--overwrite" in done.stderr
    assert "Traceback" not in done.stderr
    _run([sys.executable, *_script(FINETUNE, out, "--max-steps", "2", "--overwrite")])
    assert [r["step"] for r in _records(out) if "loss/l1" in r] == [1, 2]


def test_finetuning_keeps_training_the_classifier_head_when_asked(tmp_path: Path) -> None:
    """finetune.train_classifier: the head learns on the fine-tuned features (focal loss
    logged, classifier weights changed, classifier accuracy validated), the restorer too."""
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    _run([sys.executable, *_script(PRETRAIN, pre, "--max-steps", "2")])
    _run(
        [
            sys.executable,
            *_script(
                FINETUNE,
                fine,
                "--max-steps",
                "3",
                "--init",
                str(pre / "restorer.safetensors"),
                "--set",
                "finetune.train_classifier=true",
                "--set",
                "finetune.ema_decay=0",
            ),
        ]
    )
    records = _records(fine)
    assert any("loss/focal" in r for r in records)
    assert any("val/acc/mean" in r for r in records)
    before = load_file(pre / "restorer.safetensors")
    after = load_file(fine / "last.safetensors")
    head = [k for k in before if k.startswith("classifier.")]
    assert head and any(not torch.equal(before[k], after[k]) for k in head)


def test_finetuning_with_the_psnr_loss_logs_it(tmp_path: Path) -> None:
    """finetune.loss=psnr (the default model's stage 3): the loss is logged under its own name."""
    fine = tmp_path / "fine"
    _run(
        [
            sys.executable,
            *_script(FINETUNE, fine, "--max-steps", "2", "--set", "finetune.loss=psnr"),
        ]
    )
    losses = [r["loss/psnr"] for r in _records(fine) if "loss/psnr" in r]
    assert len(losses) == 2 and all(-60 < value < 0 for value in losses)
    assert not any("loss/l1" in r for r in _records(fine))
