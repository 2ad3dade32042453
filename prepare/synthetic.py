"""The synthetic pedestrian world, the project's embedded default dataset.

    python -m attention_swap_reid.prepare.synthetic --out data/synth [--train-ids 100 --test-ids 50 --images-per-id 12
        --height 128 --width 64 --seed 0 --bg-bias 0.8] [--preview docs/samples.png]
        [--independent-test] [--heldout-scenes N] [--probes] [--controls]   # opt-in, see prepare.synth_extras

Procedurally drawn pedestrians (identity = body proportions, clothing colours and patterns,
accessories; front/back/side viewpoints) photographed in structured scenes by 6 cameras with
their own colour cast, blur and noise, with exact person masks. Built in, like in real data,
is a *background shortcut*: a fraction `bg_bias` of each training identity's images come from
1-2 scenes only it uses, while test identities' query and gallery images come from different
shared scenes (see `prepare.synth_layout`).

Writes into DIR:
    manifest.csv     image,mask,pid,camid,viewpoint,split,scene  (train / query / gallery)
    robustness.csv   the query/gallery people, same pose/camera, re-rendered on training
                     identities' own scenes (for the robustness score)
    images/*.jpg, masks/*.png (0 background / 255 person), robustness/*.jpg, world.json
    and, opt-in, the held-out scenes, test probes and training controls of `prepare.synth_extras`
    (their defaults write nothing more and change no draw: the same files as without them)

Deterministic: the same parameters give byte-identical files. The CLI (like `ensure_world`)
does nothing when DIR already holds the same world and refuses one made with other parameters,
naming them (`--force` regenerates). The world is
generated in a temporary sibling folder and renamed at the end, so an interrupted run never
leaves a complete-looking half world.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from attention_swap_reid.dali_pipes.manifest import OutputError, Sample, check_output, write_manifest
from attention_swap_reid.prepare.synth_extras import OPT_IN, opt_in_problem, opt_in_stamp, write_extras
from attention_swap_reid.prepare.synth_layout import WorldPlan, plan_world
from attention_swap_reid.prepare.synth_render import IMAGES, MASKS, ROBUSTNESS, write_shots

GENERATOR = 2   # bump when the rendered output changes, so ensure_world regenerates old worlds
DEFAULTS = dict(train_ids=100, test_ids=50, images_per_id=12, height=128, width=64, seed=0, bg_bias=0.8, **OPT_IN)
_MINIMUM = dict(train_ids=2, test_ids=2, images_per_id=2, height=32, width=16, seed=0)


def world_params(**params) -> dict:
    """`DEFAULTS` updated with `params`, validated; raises ValueError naming the bad key."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown synthetic world parameter(s) {sorted(unknown)}; allowed: {sorted(DEFAULTS)}")
    params = {**DEFAULTS, **params}
    for key, low in _MINIMUM.items():
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
    bias = params["bg_bias"]
    if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not 0.0 <= bias <= 1.0:
        raise ValueError(f"bg_bias must be a number in [0, 1], got {bias!r}")
    params["bg_bias"] = float(bias)
    problem = opt_in_problem(params)
    if problem:
        raise ValueError(problem)
    return params


def _stamp(params: dict) -> dict:
    """world.json: the generator and the parameters (opt-in ones only where they are set)."""
    return {"generator": GENERATOR, **{k: v for k, v in params.items() if k not in OPT_IN}, **opt_in_stamp(params)}


def _samples(plan: WorldPlan, root: Path, robustness: bool) -> list[Sample]:
    rows = []
    for s in plan.shots:
        if robustness and s.swap_scene < 0:
            continue
        folder = ROBUSTNESS if robustness else IMAGES
        rows.append(Sample(image=str(root / folder / f"{s.name}.jpg"), mask=str(root / MASKS / f"{s.name}.png"),
                           pid=s.pid, camid=s.camid, viewpoint=s.viewpoint, split=s.split,
                           extra={"scene": s.swap_scene if robustness else s.scene}))
    return rows


def _render(plan: WorldPlan, root: Path, params: dict, progress: bool) -> None:
    """Render all shots, one identity at a time, under a progress bar."""
    groups: dict[int, list] = {}
    for shot in plan.shots:
        groups.setdefault(shot.pid, []).append(shot)
    with tqdm(total=len(plan.shots), desc="synthetic world", unit="img", disable=not progress) as bar:
        for shots in groups.values():
            bar.update(write_shots(shots, root=str(root), seed=params["seed"], height=params["height"],
                                   width=params["width"]))


def _install(tmp: Path, out: Path) -> None:
    """Move the finished world `tmp` to `out`, replacing an older world there."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old)


def is_world(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a synthetic world (its world.json), of any parameters."""
    return _read_stamp(Path(folder)) is not None


def _read_stamp(out: Path) -> dict | None:
    try:
        return json.loads((out / "world.json").read_text())
    except (OSError, ValueError):
        return None


def make_world(out_dir: str | os.PathLike, *, progress: bool = True, **params) -> Path:
    """Generate the world into `out_dir` (replacing an older world there); returns the manifest path.

    `params`: train_ids, test_ids, images_per_id, height, width, seed, bg_bias (see `DEFAULTS`).
    Refuses to replace a non-empty `out_dir` that is not a synthetic world (no world.json).
    """
    params = world_params(**params)
    out = Path(out_dir).absolute()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and _read_stamp(out) is None)):
        raise FileExistsError(f"{out} exists and is not a synthetic world (no world.json); "
                              f"choose another output folder or remove it")
    plan = plan_world(**{k: params[k] for k in ("train_ids", "test_ids", "images_per_id", "seed", "bg_bias",
                                               "independent_test")})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for folder in (IMAGES, MASKS, ROBUSTNESS):
            (tmp / folder).mkdir(parents=True)
        _render(plan, tmp, params, progress)
        write_manifest(tmp / "manifest.csv", _samples(plan, tmp, robustness=False), extra_columns=["scene"])
        write_manifest(tmp / "robustness.csv", _samples(plan, tmp, robustness=True), extra_columns=["scene"])
        write_extras(plan, tmp, params, progress)
        (tmp / "world.json").write_text(json.dumps(_stamp(params), indent=2) + "\n")
        _install(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "manifest.csv"


class WorldMismatch(ValueError):
    """A synthetic world that `ensure_world` will not make or replace; the message names the
    folder and the parameters that differ (`differing`: "key=theirs (wanted: ours)" lines, empty
    when there is no world)."""

    def __init__(self, message: str, differing: list[str] = ()):
        super().__init__(message)
        self.differing = list(differing)


def _differences(stamp: dict, wanted: dict) -> list[str]:
    """"key=theirs (wanted: ours)" for every parameter (and the generator) that differs."""
    return [f"{k}={stamp.get(k)!r} (wanted: {v!r})" for k, v in wanted.items() if stamp.get(k) != v]


def ensure_world(out_dir: str | os.PathLike, *, progress: bool = True, create: bool = True, **params) -> Path:
    """The manifest path of the world in `out_dir` made with `params`, which is never replaced.

    A world there made with these parameters (and this generator) is used. Where the caller
    owns the folder (`create`), the world is made when nothing is there yet (no folder, or an
    empty one) and remade when only the generator version differs (same parameters, an older
    rendering). A world made with other parameters is never regenerated over, and nothing is
    made in a folder the caller does not own, nor in one that holds other files: `WorldMismatch`
    says which, naming the parameters that differ (`make_world`, or the CLI's --force, replaces a
    world on purpose).
    """
    out = Path(out_dir).absolute()
    wanted = _stamp(world_params(**params))
    stamp = _read_stamp(out)
    if stamp is None and (not out.exists() or (out.is_dir() and not any(out.iterdir()))):
        if not create:
            raise WorldMismatch(f"{out}: no synthetic world there, and none is made in this folder here; make one "
                                f"with python -m attention_swap_reid.prepare.synthetic --out {out}")
        return make_world(out, progress=progress, **params)
    if stamp is None:
        raise WorldMismatch(f"{out}: holds other files and no synthetic world (no world.json), not made over")
    differing = _differences(stamp, wanted)
    if create and differing and all(d.startswith("generator=") for d in differing):
        return make_world(out, progress=progress, **params)
    if differing:
        raise WorldMismatch(f"{out}: holds a synthetic world made with other parameters, not replaced: "
                            f"{', '.join(differing)}", differing)
    if not ((out / "manifest.csv").is_file() and (out / "robustness.csv").is_file()):
        raise WorldMismatch(f"{out}: a synthetic world without its manifest.csv or robustness.csv (damaged); "
                            f"remove it to have it made again")
    return out / "manifest.csv"


def _is_png(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.prepare.synthetic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (created; a world there with other parameters is refused unless --force)")
    for key, value in DEFAULTS.items():
        if isinstance(value, bool):
            parser.add_argument("--" + key.replace("_", "-"), action="store_true", help="opt-in (prepare.synth_extras)")
        else:
            parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=value,
                                help=f"(default {value})")
    parser.add_argument("--force", action="store_true", help="regenerate, replacing the world in --out")
    parser.add_argument("--preview", metavar="PNG", help="also write a picture of sample images and masks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    params = {key: getattr(args, key) for key in DEFAULTS}
    if args.preview:
        try:
            check_output(args.preview, force=args.force, ours=_is_png, what="a PNG picture")
        except OutputError as e:
            parser.error(str(e))
    start = time.perf_counter()
    make = make_world if args.force else ensure_world
    try:
        manifest = make(args.out, progress=not args.no_progress, **params)
    except WorldMismatch as e:
        parser.error(f"{e} (--force replaces it)")
    except (ValueError, FileExistsError) as e:
        parser.error(str(e))
    print(f"{manifest} ({time.perf_counter() - start:.1f} s)")
    if args.preview:
        from attention_swap_reid.prepare.synth_preview import make_preview
        print(make_preview(manifest.parent, args.preview))
    return 0


if __name__ == "__main__":
    sys.exit(main())
