"""The synthetic world's opt-in sets for experiments on *what* a model uses: test probes,
training controls and held-out scenes. Each is written only when its parameter asks for it;
none changes a draw of the default world (`prepare.synth_layout`).

- `heldout_scenes: N` -> `heldout/*.jpg`: `images_per_id` pictures of each of N scenes that
  no shot of any split (and no probe) uses (nobody in them; random camera, crop and exposure):
  backgrounds a model has never seen, e.g. for the augmentation's `background: images`.
- `probes: true` -> test sets scored beside the test set (query and gallery rows):
  `probe_neutral.csv`: every test image re-rendered in the neutral layout
  (`synth_layout.neutral_scenes`; a background neither punished nor rewarded);
  `probe_query_new_background.csv`: the queries each on one of as many more held-out scenes as
  the test pool has (scenes of their own: neither the heldout/ pictures nor any split use them),
  the gallery unchanged; `probe_query_no_person.csv`: the queries with the person removed
  (the same picture without them, masks where they stood), the gallery unchanged.
- `controls: true` -> training sets for the positive controls of an attention measure, the
  test rows of manifest.csv unchanged: `train_background_only.csv` (each training image
  without its person: the scene as the camera saw it, no mask) and `train_person_only.csv`
  (each training person on a plain grey backdrop, its exact mask).

Every picture of a shot shares the shot's pose, crop, camera and noise (`synth_render`).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from attention_swap_reid.dali_pipes.manifest import Sample, write_manifest
from attention_swap_reid.prepare.synth_layout import Shot, WorldPlan, heldout_scenes, neutral_scenes
from attention_swap_reid.prepare.synth_render import (IMAGES, MASKS, cameras, render_background, render_variant,
                                                      write_image)

OPT_IN = dict(independent_test=False, heldout_scenes=0, probes=False, controls=False)
"""The opt-in world parameters and their defaults (the default world)."""
HELDOUT = "heldout"
PROBES = {"neutral": "probe_neutral.csv", "query_new_bg": "probe_query_new_background.csv",
          "query_no_person": "probe_query_no_person.csv"}
"""Probe name (the prefix of its metrics, e.g. `neutral_mAP`) -> its manifest in the world's folder."""
CONTROLS = {"background_only": "train_background_only.csv", "person_only": "train_person_only.csv"}
"""Control name -> its manifest in the world's folder."""


def opt_in_problem(params: dict) -> str | None:
    """What is wrong with the opt-in parameters of `params` (one line), or None."""
    for key in ("independent_test", "probes", "controls"):
        if not isinstance(params[key], bool):
            return f"{key} must be true or false, got {params[key]!r}"
    count = params["heldout_scenes"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return f"heldout_scenes must be an integer >= 0, got {count!r}"
    return None


def _row(shot: Shot, image: Path, mask: Path | None, scene: int) -> Sample:
    return Sample(image=str(image), mask=str(mask) if mask else "", pid=shot.pid, camid=shot.camid,
                  viewpoint=shot.viewpoint, split=shot.split, extra={"scene": scene})


class _Writer:
    """Renders pictures of the world's shots into `root`, counting them on a progress bar."""

    def __init__(self, root: Path, params: dict, bar: tqdm):
        self.root, self.params, self.bar = root, params, bar
        self.size = dict(height=params["height"], width=params["width"])

    def picture(self, folder: str, shot: Shot, scene: int | None, person: bool = True) -> Path:
        path = self.root / folder / f"{shot.name}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = render_variant(shot, seed=self.params["seed"], scene=scene, person=person, **self.size)
        write_image(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, cameras(self.params["seed"])[shot.camid].quality])
        self.bar.update()
        return path

    def original(self, shot: Shot) -> tuple[Path, Path]:
        return self.root / IMAGES / f"{shot.name}.jpg", self.root / MASKS / f"{shot.name}.png"


def _heldout(writer: _Writer, scenes: tuple[int, ...]) -> None:
    seed = writer.params["seed"]
    (writer.root / HELDOUT).mkdir()
    for scene in scenes:
        for k in range(writer.params["images_per_id"]):
            image, camid = render_background(seed, scene, k, **writer.size)
            write_image(str(writer.root / HELDOUT / f"s{scene:03d}_{k:02d}.jpg"), image,
                        [cv2.IMWRITE_JPEG_QUALITY, cameras(seed)[camid].quality])
            writer.bar.update()


def _probes(writer: _Writer, plan: WorldPlan) -> None:
    test = [s for s in plan.shots if s.split != "train"]
    neutral = [_row(s, writer.picture("probes/neutral", s, s.scene), writer.original(s)[1], s.scene)
               for s in neutral_scenes(plan, writer.params["seed"])]
    write_manifest(writer.root / PROBES["neutral"], neutral, extra_columns=["scene"])
    gallery = [_row(s, *writer.original(s), s.scene) for s in test if s.split == "gallery"]
    queries = [s for s in test if s.split == "query"]
    scenes = heldout_scenes(plan, len(plan.pool), skip=writer.params["heldout_scenes"])
    new = np.random.default_rng([writer.params["seed"], 11]).choice(scenes, size=len(queries))
    moved = [_row(s, writer.picture("probes/query_new_background", s, int(scene)), writer.original(s)[1],
                  int(scene)) for s, scene in zip(queries, new)]
    write_manifest(writer.root / PROBES["query_new_bg"], moved + gallery, extra_columns=["scene"])
    empty = [_row(s, writer.picture("probes/query_no_person", s, s.scene, person=False), writer.original(s)[1],
                  s.scene) for s in queries]
    write_manifest(writer.root / PROBES["query_no_person"], empty + gallery, extra_columns=["scene"])


def _controls(writer: _Writer, plan: WorldPlan) -> None:
    train = [s for s in plan.shots if s.split == "train"]
    test = [_row(s, *writer.original(s), s.scene) for s in plan.shots if s.split != "train"]
    background = [_row(s, writer.picture("controls/background_only", s, s.scene, person=False), None, s.scene)
                  for s in train]
    write_manifest(writer.root / CONTROLS["background_only"], background + test, extra_columns=["scene"])
    person = [_row(s, writer.picture("controls/person_only", s, None), writer.original(s)[1], -1) for s in train]
    write_manifest(writer.root / CONTROLS["person_only"], person + test, extra_columns=["scene"])


def count(plan: WorldPlan, params: dict) -> int:
    """How many pictures `write_extras` renders for `params`."""
    test = sum(s.split != "train" for s in plan.shots)
    queries = sum(s.split == "query" for s in plan.shots)
    return (params["heldout_scenes"] * params["images_per_id"] + params["probes"] * (test + 2 * queries)
            + params["controls"] * 2 * (len(plan.shots) - test))


def write_extras(plan: WorldPlan, root: Path, params: dict, progress: bool = True) -> None:
    """Render and write the opt-in sets `params` asks for into the world folder `root`."""
    total = count(plan, params)
    if not total:
        return
    with tqdm(total=total, desc="synthetic world, opt-in sets", unit="img", disable=not progress) as bar:
        writer = _Writer(root, params, bar)
        scenes = heldout_scenes(plan, params["heldout_scenes"])
        if scenes:
            _heldout(writer, scenes)
        if params["probes"]:
            _probes(writer, plan)
        if params["controls"]:
            _controls(writer, plan)


def probe_manifests(manifest: str | os.PathLike) -> dict[str, Path]:
    """{probe name: path} of the probe sets beside `manifest` that exist (see `PROBES`)."""
    folder = Path(manifest).parent
    return {name: folder / file for name, file in PROBES.items() if (folder / file).is_file()}


def opt_in_stamp(params: dict) -> dict:
    """The opt-in parameters that differ from their defaults (a default world's stamp lists none)."""
    return {k: params[k] for k in OPT_IN if params[k] != OPT_IN[k]}

