"""The modules of a package import each other without a cycle, function-level imports included;
`kernels.tables` is a leaf; `kernels` defers only the imports of its CuPy backend, and its
product path never imports its test tooling (`kernels.testing`).

Read from the source with `ast` (nothing is imported): every `import` and `from ... import`
anywhere in a module, relative or through `attention_swap_reid.<package>`, is an edge from that
module to the module it names (for `from . import x`, to `x` when `x` is a module). Importing a
submodule also runs its package's `__init__`, which is already importing by then: that implied
edge is left out, an explicit import of the package itself is not.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "attention_swap_reid"
PACKAGES = ["kernels", "sweeps"]
"""The folders whose import graphs must be acyclic."""


def module_names(folder: Path) -> dict[str, Path]:
    """Dotted name inside the package ("masks", "testing.emulation"; "" for the package's own
    `__init__`, "testing" for a subpackage's) -> source file."""
    names = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported(node: ast.AST, importer: str, is_package: bool, package: str, modules) -> set[str]:
    """The modules of the package that import statement `node` in module `importer` names:
    `import p.x` names x; `from p.x import a` names p.x.a where it is a module, and p.x unless
    every name imported from it is a module."""
    prefix = f"{PROJECT}.{package}"

    def inside(name: str) -> str | None:
        if name == prefix:
            return ""
        return name[len(prefix) + 1:] if name.startswith(prefix + ".") else None

    if isinstance(node, ast.Import):
        found = {inside(alias.name) for alias in node.names}
    else:
        if node.level:
            parts = importer.split(".") if importer else []
            parent = parts if is_package else parts[:-1]
            parent = parent[: len(parent) - (node.level - 1)]
            relative = ".".join([*parent, *([node.module] if node.module else [])])
            base = prefix + (f".{relative}" if relative else "")
        else:
            base = node.module or ""
        submodules = {inside(f"{base}.{alias.name}") for alias in node.names}
        found = submodules if submodules <= set(modules) else submodules | {inside(base)}
    return {m for m in found if m in modules}


def import_graph(folder: Path, package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(every import, the imports inside functions) of package `package` in `folder`: module ->
    the package's modules it imports."""
    modules = module_names(folder)
    every, deferred = {}, {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        in_functions = {id(node) for function in ast.walk(tree)
                        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in ast.walk(function)}
        every[name], deferred[name] = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = imported(node, name, path.name == "__init__.py", package, modules) - {name}
                every[name] |= targets
                if id(node) in in_functions:
                    deferred[name] |= targets
    return every, deferred


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_find_cycle_on_hand_made_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_the_graph_sees_relative_absolute_and_function_level_imports(tmp_path):
    folder = tmp_path / "pkg"
    (folder / "sub").mkdir(parents=True)
    (folder / "__init__.py").write_text("from .a import A\n")
    (folder / "a.py").write_text("from . import b\nA = 1\n")
    (folder / "b.py").write_text(f"def f():\n    if True:\n        from {PROJECT}.pkg.sub import c\n")
    (folder / "sub" / "__init__.py").write_text("")
    (folder / "sub" / "c.py").write_text("try:\n    from .. import a\nexcept ImportError:\n    pass\n"
                                         "from ..a import A\nimport numpy\n")
    every, deferred = import_graph(folder, "pkg")
    assert every == {"": {"a"}, "a": {"b"}, "b": {"sub.c"}, "sub": set(), "sub.c": {"a"}}
    assert deferred == {"": set(), "a": set(), "b": {"sub.c"}, "sub": set(), "sub.c": set()}
    assert find_cycle(every) == ["a", "b", "sub.c", "a"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    every, _ = import_graph(ROOT / package, package)
    assert len(every) > 1
    cycle = find_cycle(every)
    assert cycle is None, f"{package}/: import cycle {' -> '.join(cycle)}"


def test_the_tables_import_nothing_of_the_package():
    every, _ = import_graph(ROOT / "kernels", "kernels")
    assert every["tables"] == set()
    source = (ROOT / "kernels" / "tables.py").read_text()
    assert PROJECT not in source and "from ." not in source


def test_the_product_path_never_imports_the_test_tooling():
    every, _ = import_graph(ROOT / "kernels", "kernels")
    product = {name: targets for name, targets in every.items() if not name.startswith("testing")}
    assert not any(t.startswith("testing") for targets in product.values() for t in targets)


def imports_at_top(path: Path) -> set[str]:
    """The top-level names of the libraries a module imports outside any function."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_kernels_defers_only_its_cupy_backend():
    """A module of `kernels` imported inside a function is one that imports CuPy (an optional
    dependency: importing `kernels` must not import it, and the CPU emulation stands in for it
    by replacing those modules) -- never a module deferred to dodge a cycle."""
    _, deferred = import_graph(ROOT / "kernels", "kernels")
    modules = module_names(ROOT / "kernels")
    targets = set().union(*deferred.values())
    assert targets, "expected the cupy backend's deferred imports"
    for target in targets:
        assert "cupy" in imports_at_top(modules[target]), f"kernels.{target} is imported inside a function"
