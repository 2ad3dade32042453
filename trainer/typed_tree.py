"""Frozen dataclass trees built from plain mappings (parsed YAML), with every problem reported.

Fields declare their checks in metadata via `option(default, help, ge=, gt=, le=, lt=, odd=)`,
read by `kernels.fields` (which `kernels.AugmentConfig` checks its own fields with),
and may take a string form through `text=` (a function `(value, key path) -> value`, given
every value but a list, that raises ValueError with the whole message: e.g. a size "256x128"
for a `tuple[int, int]`);
nested sections use `section(cls)`; `derived_section` makes a section from another dataclass
whose fields carry the same metadata (plus `choices`, a table of names: a `Literal`).
Supported annotations: bool, int, float, str, Literal[...], tuple[T, ...] / tuple[T, T],
nested dataclasses and `X | None`. `build` collects *every*
problem as "key.path: what is wrong; what is allowed" instead of stopping at the first.
"""
from __future__ import annotations

import difflib
import types
import typing
from dataclasses import MISSING, field, fields, is_dataclass, make_dataclass
from typing import Any, Literal

from attention_swap_reid.kernels.fields import problems as field_problems


class ConfigError(ValueError):
    """An unusable config; `problems` holds one line per problem (key path first). The message
    is "invalid <source>:" and the problems below it, or with `source=None` (a problem of the
    whole file, that names it) the problem alone, in one line."""

    def __init__(self, problems: list[str], source: str | None = "config"):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems) if source is None else
                         f"invalid {source}:\n  " + "\n  ".join(self.problems))


def option(default: Any, help: str = "", **checks: Any) -> Any:
    """A config field with a help text, range checks (ge, gt, le, lt, odd) and an optional
    parser of a string form (text)."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults (the tree is frozen)")
    return field(default=default, metadata={"help": help, **checks})


def section(cls: type) -> Any:
    """A nested config section, defaulting to `cls()`."""
    return field(default_factory=cls, metadata={"help": cls.__doc__ or ""})


def derived_section(source: type, doc: str, module: str, omit: tuple[str, ...] = ()) -> type:
    """A frozen section class named as dataclass `source`, in `module`, with `source`'s fields
    less `omit`: their types, defaults, help texts and checks; a field whose metadata has
    `choices` (names, e.g. the keys of a table) becomes `Literal` of them."""
    hints = typing.get_type_hints(source)
    specs = []
    for f in fields(source):
        if f.name not in omit:
            checks = dict(f.metadata)
            choices = checks.pop("choices", None)
            tp = hints[f.name] if choices is None else Literal[tuple(choices)]
            specs.append((f.name, tp, option(f.default, **checks)))
    return make_dataclass(source.__name__, specs, frozen=True, namespace={"__doc__": doc, "__module__": module})


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if is_dataclass(tp):
        return "a mapping"
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        n = "" if args[-1] is Ellipsis else f" {len(args)}"
        return f"a list of{n} " + {int: "integers", float: "numbers"}.get(args[0], str(args[0]))
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, path: str, problems: list[str]) -> Any:
    """Check `value` against annotation `tp`; returns the typed value or None after a problem."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(value, args[0], path, problems)
    if is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a mapping, got {value!r}")
            return None
        return build(tp, value, path + ".", problems)
    ok = True
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            near = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            problems.append(f"{path}: got {value!r}{hint} allowed: {', '.join(map(str, allowed))}")
            return None
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or (args[-1] is not Ellipsis and len(value) != len(args)):
            problems.append(f"{path}: expected {_type_name(tp)}, got {value!r}")
            return None
        items = [_convert(v, args[0], f"{path}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(items)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    if not ok:
        problems.append(f"{path}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        return None
    return value


def _check_range(value: Any, meta: dict, path: str, problems: list[str]) -> None:
    """The checks of field metadata `meta` (`kernels.fields`) on `value`, or on each item of a
    tuple: one problem per check broken, "path: must be >= 1, got 0"."""
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        problems.extend(f"{path}: {problem}, got {v}" for problem in field_problems(meta, v))


def build(cls: type, raw: dict, prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in raw:
        if key not in names:
            near = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            problems.append(f"{prefix}{key}: unknown key{hint} allowed: {', '.join(names)}")
    kwargs = {}
    for f in fields(cls):
        path = prefix + f.name
        if f.name not in raw:
            kwargs[f.name] = f.default if f.default is not MISSING else f.default_factory()
            continue
        given = raw[f.name]
        found = len(problems)
        if "text" in f.metadata and given is not None and not isinstance(given, (list, tuple)):
            try:
                given = f.metadata["text"](given, path)
            except ValueError as e:
                problems.append(str(e))
        value = _convert(given, hints[f.name], path, problems) if len(problems) == found else None
        if len(problems) > found:  # keep the tree whole (its default) for the checks that follow
            value = f.default if f.default is not MISSING else f.default_factory()
        elif value is not None:
            _check_range(value, f.metadata, path, problems)
        kwargs[f.name] = value
    return cls(**kwargs)
