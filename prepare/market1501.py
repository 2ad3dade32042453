"""Import Market-1501 into a manifest:
python -m attention_swap_reid.prepare.market1501 ROOT --out MANIFEST [--masks DIR].

Reference: Zheng et al., "Scalable Person Re-identification: A Benchmark", ICCV 2015.
Statistics: 1,501 identities, 6 cameras; 12,936 train images (751 ids); 3,368 query images;
19,732 gallery files, of which the 3,819 junk boxes are dropped: 15,913 gallery images
(750 ids + the distractors, pid 0). The numbers torchreid and fast-reid report.

ROOT is the unpacked folder holding bounding_box_train/, query/ and bounding_box_test/
(usually Market-1501-v15.09.15/). File names such as 0002_c1s1_000451_03.jpg give the pid
(0002) and camera (c1, stored as camid 0). pid -1 (junk boxes) is dropped; pid 0 (distractors)
is kept in the gallery only. Market-1501 has no viewpoint labels: viewpoint -1.
"""
from __future__ import annotations

import sys

from attention_swap_reid.prepare.folder_layout import FolderLayout, import_folder_layout
from attention_swap_reid.prepare.importing import run_importer

LAYOUT = FolderLayout(
    name="Market-1501",
    folders={"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"},
    num_cameras=6,
    example="0002_c1s1_000451_03.jpg",
    junk_pids=frozenset({-1}),
    gallery_only_pids=frozenset({0}),
)


def main(argv: list[str] | None = None) -> int:
    return run_importer(argv, "python -m attention_swap_reid.prepare.market1501", __doc__,
                        lambda args: import_folder_layout(args.root, LAYOUT))


if __name__ == "__main__":
    sys.exit(main())
