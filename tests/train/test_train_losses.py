"""Losses, metrics, EMA and the cosine schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dcpt_sdk.train.config import ScheduleConfig
from dcpt_sdk.train.ema import ModelEMA
from dcpt_sdk.train.loop import cosine_schedule
from dcpt_sdk.train.losses import RESTORATION_LOSSES, focal_loss, l1_loss, psnr_loss
from dcpt_sdk.train.metrics import PerClass, psnr, ssim


def test_focal_gamma_zero_is_cross_entropy() -> None:
    logits, labels = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    assert torch.allclose(focal_loss(logits, labels, gamma=0.0), F.cross_entropy(logits, labels))


def test_focal_gamma_two_matches_its_definition() -> None:
    logits, labels = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
    p = torch.softmax(logits, 1)[0, 0]
    expected = -((1 - p) ** 2) * torch.log(p)
    assert torch.allclose(focal_loss(logits, labels), expected)
    # well-classified samples are down-weighted relative to cross-entropy
    assert focal_loss(logits, labels) < F.cross_entropy(logits, labels)


def test_focal_gradients_are_finite_for_confident_logits() -> None:
    logits = torch.tensor([[50.0, -50.0], [-50.0, 50.0]], requires_grad=True)
    focal_loss(logits, torch.tensor([0, 0])).backward()
    assert torch.isfinite(logits.grad).all()


def test_losses_run_in_float32_under_bf16() -> None:
    a = torch.rand(2, 3, 8, 8).bfloat16()
    assert l1_loss(a, torch.zeros_like(a)).dtype == torch.float32
    assert focal_loss(torch.randn(2, 3).bfloat16(), torch.tensor([0, 1])).dtype == torch.float32


def test_psnr_loss_is_minus_the_batch_mean_psnr() -> None:
    target = torch.rand(3, 3, 16, 16)
    output = target + torch.tensor([0.1, 0.01, 0.001]).view(3, 1, 1, 1)  # 20, 40, 60 dB
    # abs 0.02: the 1e-8 that keeps log finite moves the 60 dB image by 0.04 dB
    assert float(psnr_loss(output, target)) == pytest.approx(-40.0, abs=0.02)
    assert RESTORATION_LOSSES["psnr"] is psnr_loss and RESTORATION_LOSSES["l1"] is l1_loss


def test_psnr_loss_weighs_each_image_by_its_error_in_db() -> None:
    """The reason it replaces L1 in the default model's stage 3: under L1 an image 10x as wrong
    pulls 10x as hard; under the PSNR loss an image's gradient is the same for any error size
    (a 10x error changes PSNR by the same 20 dB whether it starts at 0.1 or 0.001)."""
    target = torch.zeros(2, 1, 4, 4)
    output = torch.tensor([0.3, 0.003]).view(2, 1, 1, 1).expand(2, 1, 4, 4).clone()
    output.requires_grad_(True)
    psnr_loss(output, target).backward()
    assert output.grad is not None
    relative = output.grad[:, 0, 0, 0] * output.detach()[:, 0, 0, 0]  # d loss / d log(error)
    assert float(relative[0]) == pytest.approx(float(relative[1]), rel=2e-3)  # the 1e-8 again
    l1_grads = torch.autograd.grad(l1_loss(output, target), output)[0][:, 0, 0, 0]
    errors = output.detach()[:, 0, 0, 0]
    assert float(l1_grads[0] * errors[0]) > 50 * float(l1_grads[1] * errors[1])


def test_psnr_loss_is_finite_on_a_perfect_image() -> None:
    target = torch.rand(1, 3, 8, 8, requires_grad=True)
    loss = psnr_loss(target, target.detach())
    loss.backward()
    assert torch.isfinite(loss) and target.grad is not None and torch.isfinite(target.grad).all()


def test_psnr_of_known_error() -> None:
    target = torch.zeros(2, 3, 4, 4)
    output = torch.full_like(target, 0.1)  # MSE 0.01 -> 20 dB
    assert torch.allclose(psnr(output, target), torch.tensor([20.0, 20.0]), atol=1e-4)


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    clean = rng.random((48, 40, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    expected = metrics.structural_similarity(
        clean,
        noisy,
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    to_t = lambda a: torch.from_numpy(a.transpose(2, 0, 1))[None]  # noqa: E731
    got = float(ssim(to_t(noisy), to_t(clean))[0])
    assert got == pytest.approx(expected, abs=5e-3)  # skimage pads borders; we use the valid area
    assert float(ssim(to_t(clean), to_t(clean))[0]) == pytest.approx(1.0, abs=1e-5)


def test_ssim_on_images_smaller_than_the_window() -> None:
    x = torch.rand(1, 3, 6, 5)
    assert float(ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-5)


def test_per_class_means_weigh_classes_equally() -> None:
    acc = PerClass(["a", "b", "c"])
    acc.add("psnr", torch.tensor([30.0, 32.0, 20.0]), torch.tensor([0, 0, 1]))
    summary = acc.summary()
    assert summary == {"psnr/a": 31.0, "psnr/b": 20.0, "psnr/mean": 25.5}
    assert acc.counts() == {"a": 2, "b": 1}


def test_ema_tracks_and_round_trips() -> None:
    model = torch.nn.Linear(2, 1)
    ema = ModelEMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    start = ema.module.weight.clone()
    ema.updates = 100  # past the warm-up, so the decay is the configured 0.5
    ema.update(model)
    assert torch.allclose(ema.module.weight, 0.5 * start + 0.5)
    other = ModelEMA(torch.nn.Linear(2, 1), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.module.weight, ema.module.weight) and other.updates == 101


def test_cosine_schedule_reaches_eta_min_and_warms_up() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1e-3)
    schedule = cosine_schedule(opt, ScheduleConfig(eta_min=1e-6, warmup_steps=2), total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.5e-3) and lrs[2] == pytest.approx(1e-3)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-6)
    middle = 1e-6 + (1e-3 - 1e-6) * 0.5 * (1 + math.cos(math.pi * 4 / 8))
    assert lrs[6] == pytest.approx(middle)
