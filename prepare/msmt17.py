"""Import MSMT17 into a manifest:
python -m attention_swap_reid.prepare.msmt17 ROOT --out MANIFEST [--masks DIR] [--with-val].

Reference: Wei et al., "Person Transfer GAN to Bridge Domain Gap for Person
Re-Identification", CVPR 2018.
Statistics: 4,101 identities, 15 cameras; 32,621 train+val images (1,041 ids: list_train.txt
30,248 + list_val.txt 2,373); 11,659 query and 82,161 gallery images (3,060 ids).

ROOT is the unpacked MSMT17_V1/ (folders train/, test/) or MSMT17_V2/ (mask_train_v2/,
mask_test_v2/) with the official list files list_train.txt, list_val.txt, list_query.txt and
list_gallery.txt. Each line is "<path> <pid>", e.g. "0000/0000_000_01_0303morning_0015_0.jpg 0";
the camera is the third underscore field of the name (01, stored as camid 0). Training uses
list_train.txt only, as torchreid and fast-reid do by default; --with-val adds list_val.txt.
Test pids restart at 0, so they overlap training pids numerically (different people).
MSMT17 has no viewpoint labels: viewpoint -1.
"""
from __future__ import annotations

import argparse
import os
import sys

from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.prepare.importing import DatasetError, ImportResult, require_paths, run_importer

NAME = "MSMT17"
NUM_CAMERAS = 15
LISTS = {"train": "list_train.txt", "val": "list_val.txt",
         "query": "list_query.txt", "gallery": "list_gallery.txt"}
IMAGE_FOLDERS = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}


def image_folders(root: str) -> tuple[str, str]:
    """The (train, test) image folders of the V1 or V2 release found under `root`."""
    for train, test in IMAGE_FOLDERS.values():
        if os.path.isdir(os.path.join(root, train)) and os.path.isdir(os.path.join(root, test)):
            return train, test
    expected = " or ".join(f"{train}/ + {test}/" for train, test in IMAGE_FOLDERS.values())
    raise DatasetError(f"{NAME} root {root!r} has no image folders; expected {expected}")


def read_list(path: str, folder: str, split: str) -> list[Sample]:
    """Rows of one list file; image paths are resolved under `folder`."""
    samples = []
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split()
        name_parts = os.path.basename(fields[0]).split("_")
        try:
            if len(fields) != 2 or len(name_parts) < 3:
                raise ValueError
            pid, camera = int(fields[1]), int(name_parts[2])
        except ValueError:
            raise DatasetError(f"{path}:{number}: expected '<dir>/<pid>_<n>_<camera>_....jpg <pid>' "
                               f"such as '0000/0000_000_01_0303morning_0015_0.jpg 0', "
                               f"got {line.strip()!r}") from None
        if not 1 <= camera <= NUM_CAMERAS:
            raise DatasetError(f"{path}:{number}: camera {camera} outside 1..{NUM_CAMERAS}")
        samples.append(Sample(image=os.path.join(folder, fields[0]), mask="", pid=pid,
                              camid=camera - 1, viewpoint=-1, split=split))
    return samples


def import_msmt17(root: str, with_val: bool = False) -> ImportResult:
    """Read the official list files of the MSMT17 release at `root`."""
    require_paths(root, NAME, LISTS.values(), kind="file")
    train_folder, test_folder = (os.path.join(root, f) for f in image_folders(root))
    parts = [("train", train_folder, "train")] + ([("val", train_folder, "train")] if with_val else [])
    parts += [("query", test_folder, "query"), ("gallery", test_folder, "gallery")]
    samples = []
    for name, folder, split in parts:
        samples += read_list(os.path.join(root, LISTS[name]), folder, split)
    return ImportResult(samples)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with-val", action="store_true",
                        help="also train on list_val.txt (the full 32,621-image training set)")


def main(argv: list[str] | None = None) -> int:
    return run_importer(argv, "python -m attention_swap_reid.prepare.msmt17", __doc__,
                        lambda args: import_msmt17(args.root, args.with_val), _add_arguments)


if __name__ == "__main__":
    sys.exit(main())
