"""Person masks with torchvision's Mask R-CNN: python -m attention_swap_reid.prepare.masks MANIFEST --weights FILE.

Runs the COCO Mask R-CNN (ResNet-50 FPN) from a local weights file -- nothing is downloaded --
on the manifest rows that have no mask (by default the train rows: only training needs masks),
keeps in each image the person instance (COCO label 1, score >= --score-threshold) with the
largest area x centrality, binarises its soft mask at 0.5 and writes it as a 0/255 PNG.
Masks go to --out-masks (default: masks/ beside the new manifest) in the layout the importers'
--masks option reads (the image path below the images' common folder, extension .png). The new
manifest (default <stem>_masked.csv) keeps every row and column. Resumable: a mask PNG that
already exists is not computed again. Rows where no person is found keep an empty mask and
are listed in <new manifest stem>_no_person.csv.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys
from dataclasses import dataclass, field

import cv2
import numpy as np

from attention_swap_reid.dali_pipes.manifest import (SPLITS, ManifestError, OutputError, Sample, check_output,
                                                     read_manifest, write_manifest)
from attention_swap_reid.prepare.importing import extra_columns, image_root, mask_path

PERSON = 1  # COCO category id of "person" in torchvision's detection models
WEIGHTS_NAME = "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_NAME}"


class MaskError(ValueError):
    """Mask generation cannot run as asked (one line: what, where, what to do)."""


class WeightsError(MaskError):
    """The Mask R-CNN weights file is missing or does not fit the model."""


def select_person(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, masks: np.ndarray,
                  score_threshold: float) -> int:
    """Index of the instance to keep, or -1 when there is no person.

    boxes: (N, 4) float (x1, y1, x2, y2) in pixels; labels, scores: (N,); masks: (N, H, W)
    float in [0, 1]. Candidates: label 1 (person), score >= `score_threshold`, non-empty mask
    at 0.5. Each gets area x centrality, where area = mask pixels / (H * W) and
    centrality = 1 - |box centre - image centre| / |image corner - image centre|, measured in
    half-width / half-height units; the largest wins (ties: the first, i.e. the best scored).
    """
    n, h, w = masks.shape
    if n == 0:
        return -1
    area = (masks >= 0.5).reshape(n, -1).sum(axis=1) / float(h * w)
    dx = ((boxes[:, 0] + boxes[:, 2]) / 2 - w / 2) / (w / 2)
    dy = ((boxes[:, 1] + boxes[:, 3]) / 2 - h / 2) / (h / 2)
    centrality = np.clip(1 - np.hypot(dx, dy) / np.sqrt(2), 0, 1)
    value = np.where((labels == PERSON) & (scores >= score_threshold) & (area > 0), area * centrality, -1.0)
    best = int(np.argmax(value))
    return best if value[best] >= 0 else -1


def load_maskrcnn(weights: str, device: str = "cpu", *, score_threshold: float = 0.5,
                  min_size: int = 800, max_size: int = 1333, proposals: int = 1000):
    """torchvision's Mask R-CNN ResNet-50 FPN (91 COCO classes) with the state dict in `weights`.

    `min_size`/`max_size`: the resize of each image before detection (torchvision's defaults);
    `proposals`: region proposals kept per image after NMS (torchvision's default 1000; a ReID
    crop shows one person, so far fewer suffice and run faster). Raises `WeightsError`.
    """
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    if not os.path.isfile(weights):
        raise WeightsError(f"Mask R-CNN weights file {weights!r} not found; download the official COCO "
                           f"weights {WEIGHTS_NAME} ({WEIGHTS_URL}) and pass its path to --weights")
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                  min_size=min_size, max_size=max_size, box_score_thresh=score_threshold,
                                  rpn_post_nms_top_n_test=proposals)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # unpickling errors, missing/unexpected keys, shape mismatches
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(f"{weights!r} is not a maskrcnn_resnet50_fpn COCO state dict "
                           f"(expected {WEIGHTS_NAME}): {first_line}") from None
    return model.eval().to(device)


@dataclass
class MaskReport:
    """What a run did: masks written now, found from an earlier run, and rows without a person."""

    written: int = 0
    resumed: int = 0
    no_person: list = field(default_factory=list)  # (row, image, reason)


def _read_rgb(path: str) -> np.ndarray | None:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _write_png(path: str, mask: np.ndarray) -> None:
    """Write atomically, so an interrupted run never leaves a half PNG that a resume would keep.
    Encoded here and written by Python, so a refused write (a full disk) is a `MaskError` with
    the system's reason, naming the mask (OpenCV's `imwrite` only says False)."""
    tmp = path[:-len(".png")] + ".tmp.png"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(cv2.imencode(".png", mask)[1].tobytes())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise MaskError(f"{path}: cannot write the mask: {e.strerror or e}") from None


def segment_batch(model, images: list[np.ndarray], device: str, score_threshold: float) -> list:
    """Person masks of RGB images ((H, W, 3) uint8 each): (H, W) uint8 0/255 arrays, or None."""
    import torch

    tensors = [torch.from_numpy(im).to(device).permute(2, 0, 1).float().div_(255) for im in images]
    with torch.inference_mode():
        predictions = model(tensors)
    masks = []
    for p in predictions:
        soft = p["masks"][:, 0].cpu().numpy()  # (N, H, W) float in [0, 1]
        best = select_person(p["boxes"].cpu().numpy(), p["labels"].cpu().numpy(),
                             p["scores"].cpu().numpy(), soft, score_threshold)
        masks.append(None if best < 0 else np.where(soft[best] >= 0.5, 255, 0).astype(np.uint8))
    return masks


def generate_masks(samples: list[Sample], model, masks_dir: str, *, device: str = "cpu",
                   splits=("train",), batch_size: int = 8, score_threshold: float = 0.5,
                   progress: bool = True) -> tuple[list[Sample], MaskReport]:
    """Fill in the masks of the rows of `splits` that have none; return all rows and a report.

    A row keeps its mask when the file exists. Otherwise its mask path under `masks_dir` is
    used when that PNG already exists (resume), or computed in batches of `batch_size`.
    """
    from tqdm import tqdm

    root = image_root(samples)
    report = MaskReport()
    out = list(samples)
    todo = []
    for i, s in enumerate(samples):
        if s.split not in splits or (s.mask and os.path.isfile(s.mask)):
            continue
        target = mask_path(s.image, root, masks_dir)
        if os.path.abspath(target) == os.path.abspath(s.image):
            raise MaskError(f"row {s.row}: the mask path would overwrite the image {s.image}; "
                             f"choose another --out-masks")
        if os.path.isfile(target):
            out[i] = dataclasses.replace(s, mask=target)
            report.resumed += 1
        else:
            todo.append((i, target))
    bar = tqdm(total=len(todo), desc="person masks", unit="img", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = []
        for i, target in todo[start:start + batch_size]:
            image = _read_rgb(samples[i].image)
            if image is None:
                report.no_person.append((samples[i].row, samples[i].image, "image cannot be read"))
            else:
                batch.append((i, target, image))
        found = segment_batch(model, [image for _, _, image in batch], device, score_threshold) if batch else []
        for (i, target, _), mask in zip(batch, found):
            if mask is None:
                report.no_person.append((samples[i].row, samples[i].image,
                                         f"no person with score >= {score_threshold}"))
                continue
            _write_png(target, mask)
            out[i] = dataclasses.replace(samples[i], mask=target)
            report.written += 1
        bar.update(len(todo[start:start + batch_size]))
    bar.close()
    return out, report


def _write_report(path: str, report: MaskReport) -> None:
    if not report.no_person:
        if os.path.isfile(path):
            os.remove(path)  # stale, from an earlier run
        return
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["row", "image", "reason"])
            writer.writerows(report.no_person)
    except OSError as e:
        raise MaskError(f"{path}: cannot write: {e.strerror or e}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.prepare.masks",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1])
    add = parser.add_argument
    add("manifest", metavar="MANIFEST", help="manifest CSV to complete with masks")
    add("--weights", required=True, metavar="FILE", help=f"Mask R-CNN COCO state dict ({WEIGHTS_NAME})")
    add("--device", choices=["cpu", "cuda"], help="where to run the model (default: cuda when available, else cpu)")
    add("--out", metavar="MANIFEST", help="new manifest (default: <manifest stem>_masked.csv beside it); a new "
                                          "file or a manifest to replace")
    add("--out-masks", metavar="DIR", help="mask folder (default: masks/ beside the new manifest)")
    add("--force", action="store_true", help="replace --out even if it is not a manifest")
    add("--splits", nargs="+", choices=SPLITS, default=["train"],
        help="rows to segment (default: train, the only split the augmentation needs)")
    add("--score-threshold", type=float, default=0.5, metavar="T", help="minimum person score (default 0.5)")
    add("--batch-size", type=int, default=8, metavar="N", help="images per forward pass (default 8)")
    add("--min-size", type=int, default=800, metavar="PX",
        help="shorter image side fed to the model (default 800, torchvision's; lower is faster)")
    add("--max-size", type=int, default=1333, metavar="PX", help="longer side cap (default 1333)")
    add("--proposals", type=int, default=1000, metavar="N",
        help="region proposals kept per image (default 1000, torchvision's; a one-person crop needs far "
             "fewer, e.g. 100, which is faster)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    for name in ("batch_size", "min_size", "max_size", "proposals"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.score_threshold <= 1:
        parser.error(f"--score-threshold must be in [0, 1], got {args.score_threshold}")

    import torch
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print(f"{prog}: error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    stem = os.path.splitext(os.path.abspath(args.manifest))[0]
    out = args.out or stem + "_masked.csv"
    masks_dir = os.path.abspath(args.out_masks or os.path.join(os.path.dirname(os.path.abspath(out)), "masks"))
    try:
        check_output(out, force=args.force)
        if os.path.exists(masks_dir) and not os.path.isdir(masks_dir):
            raise OutputError(f"mask folder {masks_dir} is a file; choose another --out-masks")
        samples = read_manifest(args.manifest)
        model = load_maskrcnn(args.weights, device, score_threshold=args.score_threshold,
                              min_size=args.min_size, max_size=args.max_size, proposals=args.proposals)
        samples, report = generate_masks(samples, model, masks_dir, device=device, splits=args.splits,
                                         batch_size=args.batch_size, score_threshold=args.score_threshold)
        write_manifest(out, samples, extra_columns(args.manifest))
        report_path = os.path.splitext(out)[0] + "_no_person.csv"
        _write_report(report_path, report)
    except (ManifestError, MaskError, OutputError, OSError) as e:  # OSError: a file that cannot be read or written
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    selected = [s for s in samples if s.split in args.splits]
    print(f"wrote {out}: {sum(1 for s in selected if s.mask)}/{len(selected)} {'/'.join(args.splits)} rows "
          f"have a mask ({report.written} new, {report.resumed} from an earlier run); masks in {masks_dir}")
    if report.no_person:
        print(f"warning: {len(report.no_person)} rows without a person mask, listed in {report_path}; "
              f"train them without the augmentation with data.unmasked: keep (or leave them out: drop)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
