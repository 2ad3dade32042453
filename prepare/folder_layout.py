"""The Market-1501 style folder layout, shared by the Market-1501 and DukeMTMC-reID importers.

One folder per split (``bounding_box_train``, ``query``, ``bounding_box_test``), one image per
file, identity and camera in the file name: ``<pid>_c<camera>...`` such as
``0002_c1s1_000451_03.jpg`` (Market-1501) or ``0005_c2_f0046985.jpg`` (DukeMTMC-reID). This is
the layout torchreid and fast-reid parse with the pattern ``([-\\d]+)_c(\\d)``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from tqdm import tqdm

from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.prepare.importing import IMAGE_EXTENSIONS, DatasetError, ImportResult, require_paths

FILE_NAME = re.compile(r"^(-?\d+)_c(\d+)")


@dataclass(frozen=True)
class FolderLayout:
    """How one dataset uses the layout.

    `folders`: split -> folder name under the dataset root. `num_cameras`: cameras are
    numbered 1..num_cameras in file names. `junk_pids`: identities dropped everywhere.
    `gallery_only_pids`: distractor identities kept in the gallery and dropped elsewhere.
    `example`: a real file name, quoted in error messages.
    """

    name: str
    folders: dict
    num_cameras: int
    example: str
    junk_pids: frozenset = frozenset()
    gallery_only_pids: frozenset = frozenset()


def parse_file_name(name: str, layout: FolderLayout) -> tuple[int, int]:
    """Return (pid, camera as written, 1-based) of a file name; `DatasetError` if it does not parse."""
    match = FILE_NAME.match(name)
    if not match:
        raise DatasetError(f"cannot read pid and camera from {layout.name} file name {name!r}; "
                           f"expected names like {layout.example!r}")
    pid, camera = int(match.group(1)), int(match.group(2))
    if not 1 <= camera <= layout.num_cameras:
        raise DatasetError(f"{layout.name} file name {name!r} has camera c{camera}; "
                           f"allowed c1..c{layout.num_cameras}")
    return pid, camera


def import_folder_layout(root: str, layout: FolderLayout) -> ImportResult:
    """Read every image of the split folders under `root` into manifest rows (sorted by name).

    camid = camera - 1. Rows with a junk pid, and distractor rows outside the gallery, are
    dropped and counted in `ImportResult.dropped`.
    """
    require_paths(root, layout.name, layout.folders.values())
    result = ImportResult([])
    for split, folder in layout.folders.items():
        directory = os.path.join(root, folder)
        names = sorted(n for n in os.listdir(directory) if n.lower().endswith(IMAGE_EXTENSIONS))
        for name in tqdm(names, desc=f"reading {folder}", unit="img", leave=False):
            pid, camera = parse_file_name(name, layout)
            if pid in layout.junk_pids:
                result.dropped[f"junk (pid {pid})"] += 1
            elif pid in layout.gallery_only_pids and split != "gallery":
                result.dropped[f"distractors (pid {pid}) outside the gallery"] += 1
            else:
                result.samples.append(Sample(image=os.path.join(directory, name), mask="", pid=pid,
                                             camid=camera - 1, viewpoint=-1, split=split))
    return result
