"""The typed tree (trainer/typed_tree.py) reads field metadata as `kernels.AugmentConfig` does:
both through `kernels.fields`."""
import dataclasses

from attention_swap_reid.kernels import AugmentConfig
from attention_swap_reid.kernels.fields import accepts
from attention_swap_reid.trainer.config import from_dict
from attention_swap_reid.trainer.typed_tree import build, option


def test_both_configs_judge_every_shared_field_alike():
    """Every value the kernels' config refuses for a field with bounds, the trainer's tree refuses
    for its `augment` section, naming the same key; and both take the values the other takes."""
    def tree_problems(values):
        try:
            from_dict({"augment": values})
        except ValueError as e:
            return str(e)
        return ""

    for f in dataclasses.fields(AugmentConfig):
        if not any(key in f.metadata for key in ("ge", "gt", "le", "lt", "odd")):
            continue
        for value in (-1, 0, 1, 2, 3, 0.5, 1.5):
            if f.type is int and isinstance(value, float):
                continue
            kernel_ok = accepts(f.type, f.metadata, value)
            tree = tree_problems({f.name: value})
            assert kernel_ok == (tree == ""), (f.name, value, tree)
            if not kernel_ok:
                assert f"augment.{f.name}: must be" in tree


def test_an_integer_below_a_fractional_bound_is_refused():
    """`int.__ge__(0.5)` is NotImplemented (truthy): a check written with it passed every int."""
    @dataclasses.dataclass(frozen=True)
    class Section:
        n: int = option(1, "a count", ge=0.5)

    found = []
    build(Section, {"n": 0}, "s.", found)
    assert found == ["s.n: must be >= 0.5, got 0"]
    found.clear()
    build(Section, {"n": 1}, "s.", found)
    assert found == []
