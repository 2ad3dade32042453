"""What every dataset importer shares: the result record, mask lookup, the summary and the CLI frame.

An importer turns a downloaded dataset folder into a manifest and keeps the
dataset's own numbers, with one convention for all of them:

* ``pid``: the dataset's identity number, not relabelled (the trainer relabels training ids).
  Query/gallery ids live in the test id space, which may overlap the training ids
  numerically (MSMT17); they are never compared across those splits.
* ``camid``: the dataset's camera number **minus 1** (0-based), as torchreid and fast-reid do
  (Market-1501 ``c1`` -> 0, RAP ``CAM01`` -> 0).
* ``viewpoint``: the dataset's viewpoint class, or -1 when it has none
  (see ``python -m attention_swap_reid.prepare.viewpoints`` to add labels).
* ``mask``: ``MASKS/<image path relative to the images' common folder, extension .png>`` when
  ``--masks MASKS`` is given and that file exists, else empty (Market-1501:
  ``MASKS/bounding_box_train/0002_c1s1_000451_03.png``). ``python -m attention_swap_reid.prepare.masks`` writes
  masks in the same layout and fills in the missing ones.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tqdm import tqdm

from attention_swap_reid.dali_pipes.manifest import (COLUMNS, OutputError, Sample, check_output, summarize,
                                                     write_manifest)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


class DatasetError(ValueError):
    """A dataset folder or annotation that cannot be imported (one line: what, where, expected)."""


@dataclass
class ImportResult:
    """Rows found in a dataset, and how many rows were dropped for each reason."""

    samples: list[Sample]
    dropped: Counter = field(default_factory=Counter)


def require_paths(root: str, dataset: str, names: Iterable[str], kind: str = "folder") -> None:
    """Raise `DatasetError` naming the first of `names` (relative to `root`) that is missing."""
    if not os.path.isdir(root):
        raise DatasetError(f"{dataset} root {root!r} is not a folder")
    names = list(names)
    exists = os.path.isdir if kind == "folder" else os.path.isfile
    for name in names:
        if not exists(os.path.join(root, name)):
            hint = _nested_root_hint(root, name, exists)
            raise DatasetError(f"{dataset} root {root!r} has no {kind} {name!r} "
                               f"(expected {', '.join(names)}){hint}")


def _nested_root_hint(root: str, name: str, exists: Callable[[str], bool]) -> str:
    """Suggest a child folder of `root` that holds `name` (archives often unpack one level deeper)."""
    for child in sorted(os.listdir(root)):
        if exists(os.path.join(root, child, name)):
            return f"; did you mean {os.path.join(root, child)!r}?"
    return ""


def image_root(samples: Iterable[Sample]) -> str:
    """The deepest folder that holds every sample's image (the root of the mask layout)."""
    return os.path.commonpath([os.path.dirname(s.image) for s in samples])


def mask_path(image: str, root: str, masks_dir: str) -> str:
    """Where the mask of `image` lives: `masks_dir` / (path of `image` relative to `root`) as .png."""
    relative = os.path.relpath(image, root)
    return os.path.join(masks_dir, os.path.splitext(relative)[0] + ".png")


def attach_masks(samples: list[Sample], masks_dir: str) -> list[Sample]:
    """Set each sample's mask to its file under `masks_dir` when that file exists, else ""."""
    if not os.path.isdir(masks_dir):
        raise DatasetError(f"masks folder {masks_dir!r} does not exist")
    root = image_root(samples)
    out = []
    for s in tqdm(samples, desc="looking up masks", unit="img", leave=False):
        path = mask_path(s.image, root, masks_dir)
        out.append(dataclasses.replace(s, mask=path if os.path.isfile(path) else ""))
    return out


def extra_columns(manifest: str) -> list[str]:
    """The columns of a manifest's header beyond the standard ones, in file order."""
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return [c.strip() for c in header if c.strip() not in COLUMNS]


def run_importer(argv: list[str] | None, prog: str, doc: str,
                 load: Callable[[argparse.Namespace], ImportResult],
                 add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """The CLI of every importer: ROOT, --out, --masks, --force (+ dataset options); returns the exit code.

    `load(args)` reads the dataset (``args.root`` is absolute). Prints a one-line summary,
    a warning when training rows have no mask, and a one-line error (exit 2) on bad input:
    then nothing is written. --out must be a new file or a manifest (--force: any file).
    """
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(doc.split("\n\n")[1:]))
    parser.add_argument("root", metavar="ROOT", help="the dataset folder as downloaded and unpacked")
    parser.add_argument("--out", required=True, metavar="MANIFEST",
                        help="manifest CSV to write (a new file, or a manifest to replace)")
    parser.add_argument("--masks", metavar="DIR",
                        help="precomputed person masks: DIR/<image path below the images' common folder, "
                             ".png>, e.g. DIR/bounding_box_train/0002_c1s1_000451_03.png (the layout "
                             "python -m attention_swap_reid.prepare.masks writes)")
    parser.add_argument("--force", action="store_true", help="replace --out even if it is not a manifest")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    args.root = os.path.abspath(args.root)
    try:
        check_output(args.out, force=args.force)
        result = load(args)
        samples = result.samples
        if not samples:
            raise DatasetError(f"no images found under {args.root!r}")
        if args.masks:
            samples = attach_masks(samples, os.path.abspath(args.masks))
        write_manifest(args.out, samples)
    except (DatasetError, OutputError, OSError) as e:  # OSError: a file that cannot be read or written
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    dropped = "".join(f"; dropped {n} {why}" for why, n in sorted(result.dropped.items()))
    print(f"wrote {args.out}: {summarize(samples)}{dropped}")
    unmasked = sum(1 for s in samples if s.split == "train" and not s.mask)
    if unmasked:
        print(f"warning: {unmasked} train rows have no mask; the augmentation needs them: run "
              f"python -m attention_swap_reid.prepare.masks {args.out} --weights FILE", file=sys.stderr)
    return 0
