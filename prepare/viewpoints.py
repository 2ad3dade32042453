"""Add viewpoint labels to a manifest: python -m attention_swap_reid.prepare.viewpoints MANIFEST LABELS --out NEW.

LABELS is a CSV with header image,viewpoint: one row per labelled image. `image` is the image's
file name, or more of its path when file names repeat across folders (e.g.
bounding_box_train/0002_c1s1_000451_03.jpg); it matches the manifest row whose image path ends
with it. `viewpoint` is an integer class, -1 for unknown; the project's classes are 0 front,
1 back, 2 side (synthetic world) or 2 left / 3 right (RAP). Only equality matters: the swap
constraint pairs images of the same class and ignores -1. Rows not in LABELS keep their
viewpoint; a label that matches no row, or several, is an error.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys
from collections import defaultdict

from attention_swap_reid.dali_pipes.manifest import (ManifestError, OutputError, Sample, check_output,
                                                     read_manifest, write_manifest)
from attention_swap_reid.prepare.importing import extra_columns


def read_labels(path: str) -> dict[str, int]:
    """image -> viewpoint from a CSV with header image,viewpoint; raises ValueError naming the line."""
    labels = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"image", "viewpoint"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: header must hold image,viewpoint, got {reader.fieldnames}")
        for record in reader:
            where = f"{path}:{reader.line_num}"
            image = (record["image"] or "").strip().replace("\\", "/")
            try:
                viewpoint = int(record["viewpoint"])
            except (TypeError, ValueError):
                raise ValueError(f"{where}: viewpoint must be an integer, got {record['viewpoint']!r}") from None
            if not image or viewpoint < -1:
                raise ValueError(f"{where}: expected an image name and a viewpoint >= -1, got {record}")
            labels[image] = viewpoint
    return labels


def apply_labels(samples: list[Sample], labels: dict[str, int]) -> list[Sample]:
    """Samples with the viewpoints of `labels` (keyed by file name or path suffix) applied."""
    by_name = defaultdict(list)
    for i, s in enumerate(samples):
        by_name[os.path.basename(s.image)].append(i)
    out = list(samples)
    for image, viewpoint in labels.items():
        suffix = "/" + image.lstrip("/")
        rows = [i for i in by_name.get(os.path.basename(image), [])
                if ("/" + samples[i].image.replace(os.sep, "/")).endswith(suffix)]
        if len(rows) != 1:
            where = "no manifest row" if not rows else f"{len(rows)} rows (give more of its path)"
            raise ValueError(f"label for {image!r} matches {where}")
        out[rows[0]] = dataclasses.replace(samples[rows[0]], viewpoint=viewpoint)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.prepare.viewpoints",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("manifest", metavar="MANIFEST", help="manifest CSV")
    parser.add_argument("labels", metavar="LABELS", help="CSV with header image,viewpoint")
    parser.add_argument("--out", required=True, metavar="MANIFEST",
                        help="new manifest (a new file, or a manifest to replace: may be MANIFEST itself)")
    parser.add_argument("--force", action="store_true", help="replace --out even if it is not a manifest")
    args = parser.parse_args(argv)
    try:
        check_output(args.out, force=args.force)
        samples = read_manifest(args.manifest)
        labels = read_labels(args.labels)
        samples = apply_labels(samples, labels)
        write_manifest(args.out, samples, extra_columns(args.manifest))
    except (ManifestError, OutputError, ValueError, OSError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    known = sum(1 for s in samples if s.viewpoint >= 0)
    print(f"wrote {args.out}: {len(labels)} labels applied; {known}/{len(samples)} rows have a viewpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
