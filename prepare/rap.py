"""Import RAP 2.0 (ReID partition, viewpoints) into a manifest:
python -m attention_swap_reid.prepare.rap ROOT --out MANIFEST.

Reference: Li et al., "A Richly Annotated Pedestrian Dataset for Person Retrieval in Real
Surveillance Scenarios", IEEE TIP 2018. Statistics: 84,928 images from 23 cameras
(numbered CAM01..CAM31); the first 41,585 carry identities: 2,589 persons (1,295 train,
1,294 test) plus distractors (pid -1); the rest have pid -2 (no identity). The paper we follow
reports train 1,295 ids / 13,101 images.

ROOT is the unpacked dataset holding RAP_dataset/*.png and RAP_annotation/RAP_annotation.mat
(the official layout, github.com/dangweili/RAP README). The train/query/gallery rows are the
official ReID partition of the annotation file; train and query rows without an identity are
dropped; gallery distractors (pid -1) are kept unless --drop-distractors (the paper's code drops
them). camid = camera number - 1 (CAM01 -> 0). viewpoint = the annotation's 4-class viewpoint
minus 1: 0 front, 1 back, 2 left, 3 right.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

import numpy as np

from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.prepare.importing import DatasetError, ImportResult, require_paths, run_importer

# The structure of RAP_annotation.mat, as read by public code (field names verified there):
# * github.com/dangweili/RAP (the dataset authors), person-reid/evaluation/rap2_test.m:
#   RAP_annotation.name{i} (image file names), RAP_annotation.person_identity (one per image,
#   only images 1..41585 are identified), RAP_annotation.partition_reid.train_identity /
#   .test_identity, and the camera read as str2num(name(4:5)) from names such as
#   "CAM01_2014-02-15_20140215161032-20140215162620_tarid0_frame218_line1.png".
# * same repository, person-attribute/baseline-svm/v1_fullbody_analysis_mm_viewpoint.m:
#   viewpoint_index = 112 into RAP_annotation.data, classes 1..4; and
#   person-reid/static/rap_annotation_attribute-english.txt: the 152 names of
#   RAP_annotation.attribute, the 112th being "viewpoint". The file stores the class number only;
#   1..4 are read in the order the RAP papers list the viewpoints: front, back, left, right
#   (the swap constraint only compares classes for equality, so the names are informative).
# * github.com/Ehsan-Yaghoubi/reid-strong-baseline (the implicit-attention paper's code),
#   data/datasets/RAP.py: RAP_annotation.partition_reid.train_index / .query_index /
#   .gallery_index, 1-based indices into `name`; rows with pid -1 skipped.
ANNOTATION = os.path.join("RAP_annotation", "RAP_annotation.mat")
IMAGES = "RAP_dataset"
VIEWPOINTS = ("front", "back", "left", "right")  # annotation classes 1..4 -> manifest 0..3
CAMERA = re.compile(r"^CAM(\d+)_")
NAME = "RAP 2.0"


def _field(struct: dict, key: str, where: str):
    if key not in struct:
        raise DatasetError(f"{where} has no field {key!r}; found {sorted(struct)}")
    return struct[key]


def _vector(value) -> np.ndarray:
    """A MATLAB vector (any orientation, or a scalar after loadmat's squeezing) as a 1-D array."""
    return np.atleast_1d(np.asarray(value)).ravel()


def load_annotation(path: str) -> dict:
    """Read the `RAP_annotation` struct of a MATLAB v5 file into plain dicts and arrays."""
    from scipy.io import loadmat  # imported here: only this importer needs scipy
    try:
        mat = loadmat(path, simplify_cells=True)
    except NotImplementedError:
        raise DatasetError(f"{path} is a MATLAB v7.3 (HDF5) file; expected the official v5 "
                           f"file (in MATLAB: save(f, 'RAP_annotation', '-v7'))") from None
    except (ValueError, OSError, TypeError) as e:
        raise DatasetError(f"cannot read {path} as a MATLAB file: {e}") from None
    annotation = _field(mat, "RAP_annotation", path)
    if not isinstance(annotation, dict):
        raise DatasetError(f"{path}: RAP_annotation is not a struct")
    return annotation


def _indices(partition: dict, key: str, count: int, where: str) -> np.ndarray:
    """0-based image indices from a 1-based MATLAB index vector, range-checked."""
    index = _vector(_field(partition, key, where)).astype(np.int64)
    bad = index[(index < 1) | (index > count)]
    if bad.size:
        raise DatasetError(f"{where}.{key} holds index {int(bad[0])} outside 1..{count}")
    return index - 1


def _split_indices(partition: dict, pids: np.ndarray, path: str) -> dict[str, np.ndarray]:
    where = f"{path}: RAP_annotation.partition_reid"
    if "train_index" in partition:
        train = _indices(partition, "train_index", len(pids), where)
    else:  # the dataset authors' own scripts derive the training images from the identities
        train = np.flatnonzero(np.isin(pids, _vector(_field(partition, "train_identity", where))))
    return {"train": train,
            "query": _indices(partition, "query_index", len(pids), where),
            "gallery": _indices(partition, "gallery_index", len(pids), where)}


def _camera(name: str) -> int:
    match = CAMERA.match(name)
    if not match:
        raise DatasetError(f"cannot read the camera from RAP image name {name!r}; expected names like "
                           f"'CAM01_2014-02-15_20140215161032-20140215162620_tarid0_frame218_line1.png'")
    return int(match.group(1))


def import_rap(root: str, annotation: str | None = None, drop_distractors: bool = False) -> ImportResult:
    """Read the official ReID partition of RAP 2.0 at `root` (see the module docstring)."""
    if annotation is None:
        require_paths(root, NAME, [ANNOTATION], kind="file")
        annotation = os.path.join(root, ANNOTATION)
    elif not os.path.isfile(annotation):
        raise DatasetError(f"RAP annotation file {annotation!r} not found")
    require_paths(root, NAME, [IMAGES])
    ann = load_annotation(annotation)
    where = f"{annotation}: RAP_annotation"
    names = [str(n) for n in _vector(_field(ann, "name", where))]
    pids = _vector(_field(ann, "person_identity", where)).astype(np.int64)
    data = np.atleast_2d(np.asarray(_field(ann, "data", where)))
    attributes = [str(a) for a in _vector(_field(ann, "attribute", where))]
    if "viewpoint" not in attributes:
        raise DatasetError(f"{where}.attribute has no 'viewpoint' column")
    if not len(names) == len(pids) == data.shape[0]:
        raise DatasetError(f"{where}: name ({len(names)}), person_identity ({len(pids)}) and data "
                           f"({data.shape[0]} rows) must describe the same images")
    view = data[:, attributes.index("viewpoint")].astype(np.int64)
    view = np.where((view >= 1) & (view <= len(VIEWPOINTS)), view - 1, -1)
    partition = _field(ann, "partition_reid", where)
    result = ImportResult([])
    for split, indices in _split_indices(partition, pids, annotation).items():
        for i in indices:
            pid = int(pids[i])
            if pid < 0 and split != "gallery":
                result.dropped[f"{split} rows without identity (pid {pid})"] += 1
                continue
            if pid == -2 or (pid == -1 and drop_distractors):
                result.dropped[f"gallery rows with pid {pid}"] += 1
                continue
            result.samples.append(Sample(image=os.path.join(root, IMAGES, names[i]), mask="", pid=pid,
                                         camid=_camera(names[i]) - 1, viewpoint=int(view[i]), split=split))
    return result


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotation", metavar="FILE",
                        help=f"the annotation file (default ROOT/{ANNOTATION})")
    parser.add_argument("--drop-distractors", action="store_true",
                        help="leave the unidentified gallery images (pid -1) out, as the paper's code does")


def main(argv: list[str] | None = None) -> int:
    return run_importer(argv, "python -m attention_swap_reid.prepare.rap", __doc__,
                        lambda args: import_rap(args.root, args.annotation, args.drop_distractors),
                        _add_arguments)


if __name__ == "__main__":
    sys.exit(main())
