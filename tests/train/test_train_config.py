"""Config parsing: YAML -> typed dataclasses, --set overrides, base files, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcpt_sdk.train.config import Config, ConfigError, config_to_dict, load_config

pytest.importorskip("yaml", reason="configs need the 'train' extra (pyyaml)")

CONFIGS = sorted((Path(__file__).parents[2] / "train" / "configs").glob("*.yaml"))


def test_defaults_are_a_valid_config() -> None:
    cfg = load_config(None)
    assert isinstance(cfg, Config)
    assert cfg.training.mixed_precision is None
    assert cfg.finetune.ema_decay == 0.999


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_preset_loads(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.train
    assert cfg.training.max_steps >= 1


def test_shipped_presets_include_the_paper_and_cpu_ones() -> None:
    names = {p.stem for p in CONFIGS}
    assert {
        "ci-tiny",
        "nafnet-tiny-synthetic",
        "nafnet-5d-paper",
        "restormer-5d-paper",
        "promptir-5d-paper",
        "nafnet-10d-paper",
    } <= names


def test_paper_finetune_preset_inherits_and_overrides() -> None:
    cfg = load_config(CONFIGS[0].parent / "restormer-5d-paper-finetune.yaml")
    assert cfg.model.name == "restormer-dcpt-paper"
    assert cfg.training.batch_size == 6
    assert cfg.data.train[0].naming == "rain100l" and cfg.data.train[0].ratio == 300
    assert cfg.data.val[2].naming == "reside"  # from the base file


def test_overrides_are_typed_by_the_field() -> None:
    cfg = load_config(
        None,
        [
            "training.max_steps=8",
            "optim.lr=3e-4",
            "optim.betas=[0.8, 0.9]",
            "training.mixed_precision=bf16",
            "training.classifier_branch=false",
            "model.hparams.width=16",
            "data.train.0.ratio=3",
            "data.root=/some/where",
        ],
    )
    assert cfg.training.max_steps == 8
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.training.mixed_precision == "bf16"
    assert cfg.training.classifier_branch is False
    assert cfg.model.hparams == {"width": 16}
    assert cfg.data.train[0].ratio == 3
    assert cfg.data.root == "/some/where"


def test_a_list_of_sources_can_be_given_inline() -> None:
    cfg = load_config(None, ["data.val=[{kind: clean, dir: /photos, ratio: 2}]"])
    assert cfg.data.val[0].dir == "/photos" and cfg.data.val[0].ratio == 2


def test_yaml_reads_3e_minus_4_as_a_number() -> None:
    # YAML 1.1 reads "3e-4" (no dot) as a string; a float field still takes it.
    assert load_config(None, ["optim.lr='3e-4'"]).optim.lr == pytest.approx(3e-4)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "training.max_step=3",
            r"unknown config key training\.max_step; valid keys of training: "
            r"max_steps, batch_size",
        ),
        ("trainig.max_steps=3", r"unknown config key trainig; valid keys: model, classifier, data"),
        ("training.max_steps=abc", r"training\.max_steps='abc' is not valid; expected int"),
        ("training.max_steps=2.5", r"expected int"),
        ("training.mixed_precision=fp8", r"use one of 'no', 'fp16', 'bf16'"),
        ("finetune.loss=l2", r"use one of 'l1', 'psnr'"),
        ("data.train.0.naming=other", r"naming='other' is not valid"),
        ("data.train.5.ratio=2", r"'5' is not an index of a list of 1 items"),
        ("training.batch_size=0", r"training\.batch_size=0 is out of range"),
        ("finetune.ema_decay=1.5", r"ema_decay=1.5; it must lie in \[0, 1\)"),
        ("training", r"is not key=value"),
        ("optim.betas=[0.9]", r"must have 2 values"),
    ],
)
def test_bad_overrides_name_the_problem(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_paired_source_needs_folders_and_label() -> None:
    with pytest.raises(ConfigError, match="lacks input_dir/target_dir"):
        load_config(None, ["data.train=[{kind: paired, label: derain}]"])
    with pytest.raises(ConfigError, match="has no label"):
        load_config(None, ["data.train=[{kind: paired, input_dir: a, target_dir: b}]"])


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="nest more than"):
        load_config(loop)


def test_base_file_merges_sections(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("training: {max_steps: 7, batch_size: 3}\noptim: {lr: 0.01}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\ntraining: {batch_size: 5}\n")
    cfg = load_config(tmp_path / "b.yaml")
    assert (cfg.training.max_steps, cfg.training.batch_size, cfg.optim.lr) == (7, 5, 0.01)


def test_a_written_config_reads_back_the_same(tmp_path: Path) -> None:
    import yaml

    cfg = load_config(CONFIGS[0].parent / "nafnet-10d-paper-finetune.yaml")
    written = tmp_path / "config.yaml"
    written.write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert load_config(written) == cfg
