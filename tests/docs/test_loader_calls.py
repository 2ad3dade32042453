"""Every `ReIDLoader(...)` / `EvalLoader(...)` written in the README's and docs/'s Python blocks
passes only parameters the loaders have, and no more by position than they take."""
import ast
import inspect
import re
from pathlib import Path

from attention_swap_reid.dali_pipes import EvalLoader, ReIDLoader

ROOT = Path(__file__).resolve().parents[2]
LOADERS = {"ReIDLoader": ReIDLoader, "EvalLoader": EvalLoader}


def loader_calls(text: str):
    """(name, positional count, keyword names) of each loader call in the ```python blocks of `text`."""
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if "Loader(" not in block:
            continue
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in LOADERS:
                    positional = [a for a in node.args if not (isinstance(a, ast.Constant) and a.value is ...)]
                    yield name, len(positional), [k.arg for k in node.keywords if k.arg is not None]


def test_the_documented_loader_calls_fit_the_signatures():
    seen = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name, positional, keywords in loader_calls(path.read_text()):
            params = inspect.signature(LOADERS[name]).parameters.values()
            allowed = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
            assert positional <= len(allowed), f"{path.name}: {name} takes {len(allowed)} argument(s) by position"
            unknown = set(keywords) - {p.name for p in params}
            assert not unknown, f"{path.name}: {name} has no parameter(s) {sorted(unknown)}"
            seen.add((path.name, name))
    assert {("README.md", "ReIDLoader"), ("embedding.md", "ReIDLoader"), ("embedding.md", "EvalLoader")} <= seen
