"""trainer.safe_yaml: configs, `--set` values and sweep files through one loader that refuses
alias bombs, deep nesting and repeated keys in one line, and reads 1e-3 as a number."""
import pytest

from attention_swap_reid.sweeps.inputs import load_sweep
from attention_swap_reid.sweeps.suite import is_suite, load_suite
from attention_swap_reid.trainer.config import ConfigError, from_dict, load_config
from attention_swap_reid.trainer.safe_yaml import MAX_DEPTH, MAX_VALUES, read_yaml


def alias_bomb(levels=6, width=10):
    """YAML whose last key expands to width ** levels values through aliases (a billion laughs
    at 9 levels of 9)."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def one_line_error(call, *args):
    with pytest.raises(ConfigError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_an_alias_bomb_is_refused_in_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    message = one_line_error(load_config, path)
    assert message.startswith(f"{path}: not valid YAML: line ") and \
        f"its aliases expand it to more than {MAX_VALUES} values" in message


def test_anchors_within_the_bound_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("base: &base {epochs: 3, seed: 1}\n")
    assert read_yaml(path) == {"base": {"epochs": 3, "seed": 1}}
    path.write_text("x: &x {epochs: 3}\ntrain:\n  <<: *x\n  seed: 2\n")
    assert read_yaml(path)["train"] == {"epochs": 3, "seed": 2}


def test_a_collection_inside_itself_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    assert "an alias puts a collection inside itself" in one_line_error(read_yaml, path)


@pytest.mark.parametrize("text", ["x: " + "[" * 10_000 + "]" * 10_000 + "\n",
                                  "".join(" " * i + f"k{i}:\n" for i in range(10_000))],
                         ids=["flow", "block"])
def test_deep_nesting_in_a_file_is_one_line(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    assert f"nested deeper than {MAX_DEPTH} levels" in one_line_error(load_config, path)


def test_aliases_that_nest_too_deep_are_refused(tmp_path):
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [[[[*a{i - 1}]]]]" for i in range(1, 12)]
    path = tmp_path / "deep_aliases.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert f"its aliases nest it deeper than {MAX_DEPTH} levels" in one_line_error(read_yaml, path)


def test_deep_nesting_in_set_is_one_problem():
    with pytest.raises(ConfigError) as info:
        from_dict({}, ["train.milestones=" + "[" * 10_000 + "]" * 10_000])
    [problem] = info.value.problems
    assert problem.startswith("train.milestones: the value '[[[[") and len(problem) < 300
    assert f"nested deeper than {MAX_DEPTH} levels" in problem


def test_exponent_numbers_are_numbers(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("optim: {lr: 1e-3, weight_decay: 5E-4, gamma: +1e-1}\nname: 1e3x\n")
    cfg = load_config(path)
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.gamma, cfg.name) == (1e-3, 5e-4, 0.1, "1e3x")
    assert from_dict({}, ["optim.lr=2e-4"]).optim.lr == 2e-4


def write_sweep(tmp_path, text, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


@pytest.mark.parametrize("text,expected", [
    ("base: pipeline.yaml\ngrid:\n", "grid: expected a mapping, got None"),
    ("base: pipeline.yaml\ngrid: {p: [0.5\n", "not valid YAML: line 3, column 1: expected ',' or ']'"),
    ("base: pipeline.yaml\ngrid: {p: [0.5]}\ngrid: {p: [0.3]}\n",
     "not valid YAML: line 3, column 1: duplicate key 'grid' (first on line 2)"),
    ("base: pipeline.yaml # caf\u00e9\n".encode("latin-1"), "line 1: not UTF-8 text (byte 0xe9); save the file as UTF-8"),
    (alias_bomb(), f"its aliases expand it to more than {MAX_VALUES} values"),
    ("grid: " + "[" * 5000 + "]" * 5000 + "\n", f"nested deeper than {MAX_DEPTH} levels"),
], ids=["empty grid", "invalid", "repeated key", "latin-1", "alias bomb", "deep"])
def test_sweep_files_go_through_the_safe_loader(tmp_path, text, expected):
    path = write_sweep(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert expected in str(info.value)
    assert not is_suite(path)


def test_suite_files_go_through_the_safe_loader(tmp_path):
    path = write_sweep(tmp_path, "sweeps: [a.yaml]\nsweeps: [b.yaml]\n", "suite.yaml")
    assert "duplicate key 'sweeps'" in one_line_error(load_suite, path)
