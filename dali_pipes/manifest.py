"""The dataset manifest: a CSV of typed `Sample` records.

Header (any column order, extra columns kept in `Sample.extra` and otherwise ignored)::

    image,mask,pid,camid,viewpoint,split

Paths are relative to the manifest's folder; `read_manifest` returns them resolved.
`mask` may be empty for query/gallery rows; an empty `viewpoint` means unknown (-1). The
`viewpoint` and `mask` columns may be left out altogether (most datasets have no viewpoint
labels; a test-only manifest needs no masks): every row then reads unknown / no mask. A
UTF-8 byte-order mark (spreadsheet exports) is ignored; other encodings are refused (a
`Problem` of kind `UNREADABLE`, never a traceback).
Row numbers everywhere are 1-based line numbers of the CSV file (the header is line 1).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from typing import Iterable

COLUMNS = ("image", "mask", "pid", "camid", "viewpoint", "split")
OPTIONAL_COLUMNS = ("mask", "viewpoint")
SPLITS = ("train", "query", "gallery")


@dataclass(frozen=True)
class Sample:
    """One manifest row. `image`/`mask` are absolute paths (`mask` is "" when absent)."""

    image: str
    mask: str
    pid: int
    camid: int
    viewpoint: int
    split: str
    row: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)


UNMASKED = "unmasked"
"""`Problem.kind` of a training row without a person in its mask (no mask file, or an empty
one): what a person detector leaves where it finds nobody. A loader can keep such rows
without the augmentation or drop them instead of failing (`ReIDLoader(unmasked=...)`)."""
UNMASKED_ACTIONS = {
    "error": "they are an error",
    "keep": "they train without the augmentation and are never donors",
    "drop": "they are left out of training",
}
"""What a loader does with the `UNMASKED` rows, by its `unmasked` option."""
UNMATCHED = "unmatched"
"""`Problem.kind` of a query row without a gallery image of its pid from another camera: the
evaluation cannot score it; a run stops on it, or leaves it out (`eval.unmatched_queries`)."""
WARNING = "warning"
"""`Problem.kind` of what looks wrong but may be meant (masks that look inverted): said, never
a reason to stop."""
UNREADABLE = "unreadable"
"""`Problem.kind` of a manifest that cannot be read at all (missing, no permission, not UTF-8
text, not CSV): a usage fault rather than a problem of its rows (`python -m attention_swap_reid.dali_pipes.check`
exits 2 on it)."""


@dataclass(frozen=True)
class Problem:
    """A problem found in a manifest: where (file, row) and what; `kind` is "", `UNMASKED`,
    `UNMATCHED`, `WARNING` or `UNREADABLE`."""

    manifest: str
    row: int
    message: str
    path: str = ""
    kind: str = ""

    def __str__(self) -> str:
        where = f"{self.manifest}:{self.row}" if self.row else self.manifest
        return f"{where}: {self.message}" + (f" ({self.path})" if self.path else "")


class ManifestError(ValueError):
    """A manifest that cannot be used; `problems` lists every problem found (the message: one
    line for a single problem, else a count and the first 20)."""

    def __init__(self, problems: list[Problem], hint: str = ""):
        self.problems = list(problems)
        if len(self.problems) == 1 and not hint:  # one line, e.g. a manifest that cannot be read
            super().__init__(str(self.problems[0]))
            return
        shown = "\n  ".join(str(p) for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        hint = f"\n{hint}" if hint else ""
        super().__init__(f"{len(self.problems)} problem(s) in manifest:\n  {shown}{more}{hint}")


INT64 = (-2 ** 63, 2 ** 63 - 1)
"""The range of pid, camid and viewpoint: the loader and the trainer hold them as int64."""


def _parse_int(value: str, column: str, default: int | None = None) -> int:
    value = (value or "").strip()
    if value == "" and default is not None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"column '{column}' must be an integer, got {value!r}") from None
    if not INT64[0] <= number <= INT64[1]:
        raise ValueError(f"column '{column}' is {number}, outside the 64-bit integer range the loader and the "
                         f"trainer hold it in ({INT64[0]} .. {INT64[1]})")
    return number


def _manifest_text(path: str) -> tuple[str, Problem | None]:
    """The manifest's text, or a `Problem` of kind `UNREADABLE` saying why it cannot be read."""
    def unreadable(message: str, row: int = 0) -> tuple[str, Problem]:
        return "", Problem(path, row, message, kind=UNREADABLE)

    if os.path.isdir(path):
        return unreadable("manifest path is a folder, not a CSV file")
    if not os.path.isfile(path):
        return unreadable("manifest file not found")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        return unreadable(f"manifest cannot be read ({e.strerror or e})")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as e:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # a byte-order mark
        found = " (it is UTF-16: it starts with a UTF-16 byte-order mark)" if utf16 else ""
        return unreadable(f"manifest is not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} is not "
                          f"UTF-8{found}; save it as UTF-8", row=raw[:e.start].count(b"\n") + 1)


def parse_manifest(path: str | os.PathLike) -> tuple[list[Sample], list[Problem]]:
    """Parse a manifest without touching the files it names.

    Returns the rows that parsed and the problems of those that did not (or of the header).
    A manifest that cannot be read at all gives one problem of kind `UNREADABLE`.
    """
    path = os.fspath(path)
    root = os.path.dirname(os.path.abspath(path))
    text, fault = _manifest_text(path)
    if fault:
        return [], [fault]
    samples: list[Sample] = []
    problems: list[Problem] = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [(h or "").strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
        if missing:
            return [], [Problem(path, 1, f"header lacks column(s) {missing}; expected {list(COLUMNS)} "
                                         f"({' and '.join(OPTIONAL_COLUMNS)} may be left out), got {header}")]
        reader.fieldnames = header
        for record in reader:
            try:
                samples.append(_sample(record, root, reader.line_num))
            except ValueError as e:
                problems.append(Problem(path, reader.line_num, str(e)))
    except csv.Error as e:
        return [], [Problem(path, reader.line_num, f"manifest is not a readable CSV file: {e}", kind=UNREADABLE)]
    if not samples and not problems:
        problems.append(Problem(path, 0, "manifest has no rows"))
    return samples, problems


def _sample(record: dict, root: str, row: int) -> Sample:
    """The `Sample` of one CSV record (paths resolved under `root`); ValueError naming the bad column."""
    image = (record["image"] or "").strip()
    if not image:
        raise ValueError("column 'image' is empty")
    mask = (record.get("mask") or "").strip()
    split = (record["split"] or "").strip()
    if split not in SPLITS:
        raise ValueError(f"column 'split' must be one of {list(SPLITS)}, got {split!r}")
    return Sample(
        image=os.path.normpath(os.path.join(root, image)),
        mask=os.path.normpath(os.path.join(root, mask)) if mask else "",
        pid=_parse_int(record["pid"], "pid"),
        camid=_parse_int(record["camid"], "camid"),
        viewpoint=_parse_int(record.get("viewpoint"), "viewpoint", default=-1),
        split=split,
        row=row,
        extra={k: v for k, v in record.items() if k not in COLUMNS and k is not None},
    )


def read_manifest(path: str | os.PathLike, splits: Iterable[str] | None = None) -> list[Sample]:
    """Read a manifest into `Sample` records, optionally keeping only `splits`.

    Raises `ManifestError` listing every malformed row. File contents are not checked here:
    `dali_pipes.check.check_manifest` does that.
    """
    samples, problems = parse_manifest(path)
    if problems:
        raise ManifestError(problems)
    if splits is not None:
        splits = set(splits)
        unknown = splits - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split(s) {sorted(unknown)}; allowed: {list(SPLITS)}")
        samples = [s for s in samples if s.split in splits]
    return samples


def write_manifest(path: str | os.PathLike, samples: Iterable[Sample], extra_columns: Iterable[str] = ()) -> None:
    """Write samples as a manifest; paths are made relative to the manifest's folder.

    Written to a temporary file and renamed, so an interrupted write leaves no half manifest
    (and a failed one no temporary file). Raises `OutputError` when `path` is a folder, or in
    one line naming it when the disk refuses the write (e.g. "No space left on device").
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(f"{path} is a folder; give the manifest's file path")
    root = os.path.dirname(os.path.abspath(path))
    extra_columns = list(extra_columns)
    tmp = path + ".tmp"
    try:
        os.makedirs(root, exist_ok=True)
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(list(COLUMNS) + extra_columns)
            for s in samples:
                rel = lambda p: os.path.relpath(p, root) if p else ""  # noqa: E731
                writer.writerow([rel(s.image), rel(s.mask), s.pid, s.camid, s.viewpoint, s.split]
                                + [s.extra.get(c, "") for c in extra_columns])
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class OutputError(ValueError):
    """An output path a command will not write: a folder, or an existing file it did not make."""


def is_manifest(path: str | os.PathLike) -> bool:
    """Whether the file at `path` starts with a manifest header (a file a manifest may replace)."""
    try:
        with open(path, "rb") as f:
            first = f.read(4096).decode("utf-8-sig", errors="replace").splitlines()[:1]
    except OSError:
        return False
    try:
        header = {h.strip() for h in next(csv.reader(first), [])}
    except csv.Error:  # e.g. a NUL byte (an image), which Python 3.10's csv refuses
        return False
    return all(c in header for c in COLUMNS if c not in OPTIONAL_COLUMNS)


def check_output(path: str | os.PathLike, *, force: bool = False, ours=is_manifest,
                 what: str = "a manifest") -> None:
    """Raise `OutputError` unless a command may write `path`: not a folder, and new, or a file
    `ours(path)` recognises as `what` (one of the project's outputs), or `force`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(f"output {path} is a folder; give a file path")
    if os.path.exists(path) and not force and not ours(path):
        raise OutputError(f"output {path} exists and is not {what}: not replaced "
                          f"(choose another path, or add --force to replace it)")


def summarize(samples: Iterable[Sample]) -> str:
    """One line: ids / images / cameras per split (an empty split shows as 0, so it stands out)."""
    samples = list(samples)
    parts = []
    for split in SPLITS:
        rows = [s for s in samples if s.split == split]
        parts.append(f"{split}: {len({s.pid for s in rows})} ids, {len(rows)} images, "
                     f"{len({s.camid for s in rows})} cameras")
    return "; ".join(parts)
