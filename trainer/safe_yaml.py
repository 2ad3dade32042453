"""The one YAML loader of the project's input files: trainer configs, their `--set` values,
sweep files and suites.

`yaml.safe_load` runs no code, but a hostile or broken file still gets through it badly: an
alias bomb ("billion laughs": nine aliases of nine aliases of ...) expands to billions of
values in whatever walks the result, a deep nesting (`[[[[...]]]]`) ends in a RecursionError
thousands of lines long, a key given twice silently keeps the last value, and YAML 1.1 reads
`1e-3` as a string. `SafeLoader` refuses the first three and reads the fourth as the number
it is:

- nesting deeper than `MAX_DEPTH` collections (aliases counted where they are used);
- more than `MAX_VALUES` values once the aliases are expanded (anchors and aliases within that
  bound stay allowed), and an alias of a collection inside itself;
- a key given twice in one mapping (a repeated section would replace the first);
- numbers in exponent form without a dot (`1e-3`, `5E4`) are floats, as in YAML 1.2 and JSON.

Every refusal, like a file that is missing, unreadable, not UTF-8 or not valid YAML, is one
`ConfigError` line naming the file and the line.
"""
from __future__ import annotations

import os
import re
from collections.abc import Hashable
from typing import Any

import yaml

from attention_swap_reid.trainer.typed_tree import ConfigError

MAX_DEPTH = 32
"""Collections nested in one another at most (the deepest shipped file nests 4)."""
MAX_VALUES = 100_000
"""Values (scalars and collections) a document may hold once its aliases are expanded."""
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class SafeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with the bounds and rules of the module docstring."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        """Compose one node, refusing to nest deeper than `MAX_DEPTH` (PyYAML's composer recurses
        once per level: without the bound a deep file is a RecursionError)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]}); merge the two into one",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


SafeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def _check_expansion(root: yaml.Node | None) -> None:
    """Refuse a document whose aliases expand it beyond `MAX_VALUES` values or `MAX_DEPTH`
    levels, or put a collection inside itself. An alias is the very node it names, so the
    document is a graph; each node's expanded size and height are computed once."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height) once expanded
    open_nodes: set[int] = set()

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []

    def expand(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            raise yaml.composer.ComposerError(None, None, "an alias puts a collection inside itself",
                                              node.start_mark)
        if key not in sizes:
            open_nodes.add(key)
            values, height = 1, 0
            for child in children(node):
                n, h = expand(child, depth + 1)
                values, height = values + n, max(height, h + 1)
                if values > MAX_VALUES:
                    raise yaml.composer.ComposerError(
                        None, None, f"its aliases expand it to more than {MAX_VALUES} values", node.start_mark)
            open_nodes.discard(key)
            sizes[key] = values, height
        values, height = sizes[key]
        if depth + height > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"its aliases nest it deeper than {MAX_DEPTH} levels",
                                              node.start_mark)
        return values, height

    if root is not None:
        expand(root, 1)


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where."""
    mark = getattr(error, "problem_mark", None)
    what = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark else what


def parse_yaml(text: str) -> Any:
    """`text` parsed by `SafeLoader`; raises `yaml.YAMLError` (see `yaml_problem`)."""
    return yaml.load(text, Loader=SafeLoader)


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a UTF-8 YAML file with `SafeLoader`; raises `ConfigError` naming the file (and
    line) when it is missing, unreadable, not UTF-8, not valid YAML or refused."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError([f"{path}: file not found"], None)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror or e}"], None) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError([f"{path}: line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                           f"save the file as UTF-8"], None) from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as e:
        raise ConfigError([f"{path}: not valid YAML: {yaml_problem(e)}"], None) from None
