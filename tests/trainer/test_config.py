"""trainer.config: the shipped configs load; bad values stop with the key path and what is allowed."""
from pathlib import Path

import pytest
import yaml

from attention_swap_reid import kernels
from attention_swap_reid.trainer.config import Config, ConfigError, dump_config, from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / "pipeline.yaml", *sorted((ROOT / "configs").glob("bot_*.yaml")),  # the run configs
           *sorted((ROOT / "configs").glob("timm_*.yaml"))]


def problems(raw, overrides=()):
    with pytest.raises(ConfigError) as info:
        from_dict(raw, overrides)
    return info.value.problems


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path):
    cfg = load_config(path)
    assert from_dict(yaml.safe_load(dump_config(cfg))) == cfg


def test_expected_shipped_configs():
    names = {p.name for p in SHIPPED}
    assert {"pipeline.yaml", "bot_r50_market.yaml", "bot_r50_rap_fullbody.yaml",
            "bot_r50_rap_upperbody.yaml"} <= names
    rap = load_config(ROOT / "configs" / "bot_r50_rap_fullbody.yaml")
    assert rap.data.size == (128, 128) and rap.data.letterbox and rap.augment.p == 0.3


def test_defaults_are_bot():
    cfg = Config()
    assert (cfg.model.name, cfg.model.last_stride, cfg.loader.batch_p, cfg.loader.batch_k) == ("resnet50", 1, 16, 4)
    assert (cfg.optim.lr, cfg.optim.milestones, cfg.train.epochs) == (3.5e-4, (40, 70), 120)


def test_unknown_key_suggests_and_lists():
    [msg] = problems({"loader": {"batch_pp": 8}})
    assert msg.startswith("loader.batch_pp: unknown key; did you mean 'batch_p'?")
    assert "allowed: device, batch_p, batch_k" in msg
    [msg] = problems({"trian": {}})
    assert msg.startswith("trian: unknown key; did you mean 'train'?")


def test_wrong_types():
    got = problems({"train": {"amp": "on", "epochs": 2.5}, "data": {"size": [128]}, "loader": "x"})
    assert "train.amp: expected true/false, got 'on' (str)" in got
    assert "train.epochs: expected an integer, got 2.5 (float)" in got
    assert "data.size: expected a list of 2 integers, got [128]" in got
    assert "loader: expected a mapping, got 'x'" in got


def test_out_of_range_and_choices():
    got = problems({"augment": {"p": 1.5, "dilate": 4, "roi": "uper"}, "loader": {"batch_p": 0}})
    assert "augment.p: must be <= 1, got 1.5" in got
    assert "augment.dilate: must be odd, got 4" in got
    assert f"augment.roi: got 'uper'; did you mean 'upper'? allowed: {', '.join(kernels.ROI_MODES)}" in got
    assert "loader.batch_p: must be >= 1, got 0" in got


def test_impossible_combinations():
    got = problems({"loader": {"batch_p": 16}, "data": {"synthetic": {"train_ids": 10}}})
    assert got == ["loader.batch_p: 16 identities per batch, but data.synthetic.train_ids is 10; allowed: 1..10"]
    got = problems({"model": {"pretrained": "imagenet"}})
    assert got[0].startswith("model.weights: pretrained: imagenet needs a local weights file")
    assert problems({"optim": {"milestones": [70, 40]}})[0].startswith("optim.milestones: must be strictly increasing")
    assert from_dict({"augment": {"p": 0}, "train": {"compare_baseline": True}}).augment.p == 0  # the baseline alone
    assert problems({"loader": {"batch_k": 1}})[0].startswith("loader.batch_k: must be >= 2 when loss.triplet_weight > 0")


def test_set_overrides():
    cfg = from_dict({}, ["train.epochs=3", "augment.roi=upper", "data.size=[64, 32]", "model.weights=null"])
    assert (cfg.train.epochs, cfg.augment.roi, cfg.data.size, cfg.model.weights) == (3, "upper", (64, 32), None)
    assert problems({}, ["train.epoch=3"])[0].startswith("train.epoch: unknown key; did you mean 'epochs'?")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        from_dict({}, ["train.epochs"])
    with pytest.raises(ConfigError, match="train.epochs: is not a mapping"):
        from_dict({"train": {"epochs": 3}}, ["train.epochs.x=1"])


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("augment:\n  p: 2\n")
    with pytest.raises(ConfigError, match=r"invalid .*bad.yaml:\n  augment.p: must be <= 1, got 2"):
        load_config(bad)


def test_duplicate_keys_are_refused_with_their_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("train:\n  epochs: 3\naugment:\n  p: 0.3\ntrain:\n  seed: 1\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: not valid YAML: line 5, column 1: duplicate key 'train' "
                                          r"\(first on line 1\)"):
        load_config(path)
    path.write_text("augment:\n  p: 0.3\n  roi: full\n  p: 0.5\n")
    with pytest.raises(ConfigError, match=r"line 4, column 3: duplicate key 'p' \(first on line 2\)"):
        load_config(path)


def test_config_not_in_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("# caf\u00e9\nname: x\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: line 1: not UTF-8 text \(byte 0xe9\); save the file as UTF-8"):
        load_config(path)


def test_unreadable_config(tmp_path, monkeypatch):
    path = tmp_path / "cfg.yaml"
    path.write_text("name: x\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("attention_swap_reid.trainer.safe_yaml.open", denied, raising=False)  # root ignores chmod
    with pytest.raises(ConfigError, match=r"cfg.yaml: cannot read: Permission denied"):
        load_config(path)


def test_malformed_yaml_in_set_names_the_key():
    [msg] = problems({}, ["train.milestones=[1, 2"])
    assert msg.startswith("train.milestones: the value '[1, 2' is not valid YAML (line 1, column 6: ")
    assert problems({}, ["name=a: b: c"])[0].startswith("name: the value 'a: b: c' is not valid YAML")


def test_the_augment_section_is_the_kernels_config_less_its_seed():
    from dataclasses import fields

    from attention_swap_reid.trainer.config import AugmentConfig
    section = {f.name: (f.default, dict(f.metadata)) for f in fields(AugmentConfig)}
    source = {f.name: (f.default, {k: v for k, v in f.metadata.items() if k != "choices"})
              for f in fields(kernels.AugmentConfig) if f.name != "seed"}
    assert section == source
    assert f"augment.inpaint: got 'teela'; did you mean 'telea'? allowed: {', '.join(kernels.INPAINTERS)}" in problems(
        {"augment": {"inpaint": "teela"}})
    assert problems({"augment": {"seed": 1}})[0].startswith("augment.seed: unknown key")
