"""Procedural pedestrians for the synthetic world.

An `Identity` is what stays the same across a person's images: body proportions, skin and
hair, clothing colours and pattern, accessories. A `Pose` is what changes per image:
viewpoint (0 front, 1 back, 2 side; side views face left or right), placement in the frame,
arm swing, stride and lighting. `render_person` draws one person as flat-shaded polygons and
returns the RGB layer together with its exact mask (the pixels the renderer drew).

Clothing colours come from small shared palettes, so colour alone does not identify a
person; patterns, accessories and proportions do, and they look different from the front,
the back and the side (a logo or an open jacket shows only from the front, a backpack mostly
from the back).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attention_swap_reid.prepare.synth_draw import Layer

RGB = tuple[int, int, int]

SHIRT_COLOURS: tuple[RGB, ...] = (
    (20, 20, 22), (235, 235, 230), (128, 128, 132), (30, 40, 95), (50, 95, 190), (140, 185, 230),
    (190, 30, 35), (110, 25, 40), (40, 120, 60), (110, 115, 50), (200, 175, 130), (120, 75, 40),
    (230, 200, 40), (235, 120, 30), (230, 140, 175), (105, 55, 140),
)
PANTS_COLOURS: tuple[RGB, ...] = (
    (22, 22, 25), (35, 40, 70), (60, 85, 130), (110, 110, 115), (185, 165, 125), (95, 65, 40),
    (225, 225, 220), (80, 90, 50),
)
PANTS_WEIGHTS = np.array([4, 3, 4, 2, 2, 1, 1, 1], float) / 18
SKIN_COLOURS: tuple[RGB, ...] = (
    (250, 215, 190), (235, 190, 160), (210, 160, 120), (175, 125, 85), (130, 90, 60), (90, 60, 40),
)
HAIR_COLOURS: tuple[RGB, ...] = (
    (15, 12, 10), (55, 35, 20), (105, 70, 40), (205, 170, 100), (160, 160, 160), (150, 60, 25),
)
SHOE_COLOURS: tuple[RGB, ...] = ((20, 20, 20), (240, 240, 240), (90, 60, 35), (150, 30, 30), (40, 60, 120))
PATTERNS = ("solid", "stripes", "jacket", "logo", "yoke")
PANTS_STYLES = ("long", "shorts", "skirt")
VIEWPOINTS = {0: "front", 1: "back", 2: "side"}


@dataclass(frozen=True)
class Identity:
    """A person's invariant look. Lengths are fractions of the person's height."""

    height: float        # relative stature, ~0.9-1.04
    shoulder: float      # half shoulder width
    hip: float           # half hip width
    head: float          # head radius
    legs: float          # hip-to-sole length
    skin: RGB
    hair: RGB
    long_hair: bool
    shirt: RGB
    shirt2: RGB          # stripes / inner shirt / logo / yoke colour
    pattern: str         # one of PATTERNS
    stripe: float        # stripe period
    short_sleeves: bool
    pants: RGB
    pants_style: str     # one of PANTS_STYLES
    shoes: RGB
    hat: RGB | None
    backpack: RGB | None
    bag: RGB | None
    bag_side: int        # +1 the person's left, -1 their right


@dataclass(frozen=True)
class Pose:
    """Per-image parameters; positions are pixels of the output frame."""

    viewpoint: int       # 0 front, 1 back, 2 side
    facing: int          # side view: +1 faces right, -1 faces left (1 otherwise)
    centre_x: float
    feet_y: float
    size: float          # person height in pixels
    swing: float         # arm swing, radians
    stride: float        # leg stride, radians
    light: float         # left-right shading slope, ~[-0.25, 0.25]


def _jitter(rng: np.random.Generator, colour: RGB, amount: int = 10) -> RGB:
    return tuple(int(c) for c in np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255))


def _pick(rng: np.random.Generator, colours: tuple[RGB, ...], p=None) -> RGB:
    return colours[rng.choice(len(colours), p=p)]


def draw_identity(rng: np.random.Generator) -> Identity:
    """Draw a random identity (all draws from `rng`, nothing global)."""
    shirt = _pick(rng, SHIRT_COLOURS)
    shirt2 = _pick(rng, tuple(c for c in SHIRT_COLOURS if c != shirt))
    return Identity(
        height=float(rng.uniform(0.9, 1.04)),
        shoulder=float(rng.uniform(0.105, 0.15)),
        hip=float(rng.uniform(0.085, 0.115)),
        head=float(rng.uniform(0.058, 0.074)),
        legs=float(rng.uniform(0.44, 0.52)),
        skin=_jitter(rng, _pick(rng, SKIN_COLOURS), 6),
        hair=_jitter(rng, _pick(rng, HAIR_COLOURS), 6),
        long_hair=bool(rng.random() < 0.35),
        shirt=_jitter(rng, shirt),
        shirt2=_jitter(rng, shirt2),
        pattern=PATTERNS[rng.choice(len(PATTERNS), p=[0.32, 0.2, 0.16, 0.16, 0.16])],
        stripe=float(rng.uniform(0.03, 0.055)),
        short_sleeves=bool(rng.random() < 0.4),
        pants=_jitter(rng, _pick(rng, PANTS_COLOURS, PANTS_WEIGHTS)),
        pants_style=PANTS_STYLES[rng.choice(3, p=[0.65, 0.2, 0.15])],
        shoes=_pick(rng, SHOE_COLOURS),
        hat=_jitter(rng, _pick(rng, SHIRT_COLOURS)) if rng.random() < 0.2 else None,
        backpack=_jitter(rng, _pick(rng, SHIRT_COLOURS + PANTS_COLOURS)) if rng.random() < 0.3 else None,
        bag=_jitter(rng, _pick(rng, SHOE_COLOURS + PANTS_COLOURS)) if rng.random() < 0.25 else None,
        bag_side=int(rng.choice([-1, 1])),
    )


def draw_pose(rng: np.random.Generator, identity: Identity, viewpoint: int, height: int, width: int) -> Pose:
    """Draw a pose for `viewpoint` in a `height` x `width` frame: the person fills most of the height."""
    if viewpoint not in VIEWPOINTS:
        raise ValueError(f"viewpoint must be one of {sorted(VIEWPOINTS)} ({VIEWPOINTS}), got {viewpoint!r}")
    feet_y = height * rng.uniform(0.94, 0.985)
    size = min(height * rng.uniform(0.82, 0.9) * identity.height, feet_y - 0.01 * height)
    return Pose(
        viewpoint=viewpoint,
        facing=int(rng.choice([-1, 1])) if viewpoint == 2 else 1,
        centre_x=width * (0.5 + rng.uniform(-0.05, 0.05)),
        feet_y=float(feet_y),
        size=float(size),
        swing=float(rng.uniform(-0.45, 0.45)),
        stride=float(rng.uniform(0.05, 0.35)),
        light=float(rng.uniform(-0.25, 0.25)),
    )


def render_person(identity: Identity, pose: Pose, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one person; returns `rgb` (H, W, 3) uint8 and `mask` (H, W) uint8 in {0, 255}.

    `rgb` is meaningful only where `mask` is 255 (black elsewhere). Accessories are part of
    the person (as in Mask R-CNN person masks).
    """
    layer = Layer(height, width, pose.centre_x, pose.feet_y - pose.size, pose.size)
    if pose.viewpoint == 2:
        _draw_side(layer, identity, pose)
    else:
        _draw_front_back(layer, identity, pose, back=pose.viewpoint == 1)
    return layer.shaded(pose.light), layer.mask


def _limb(layer: Layer, top, bottom, w_top, w_bottom, colour, split=None, colour2=None, **kw) -> None:
    """A tapered limb from `top` to `bottom` (full widths); below fraction `split` it takes `colour2`."""
    if split is None:
        layer.quad(top, bottom, w_top, w_bottom, colour, **kw)
        return
    mid = (top[0] + (bottom[0] - top[0]) * split, top[1] + (bottom[1] - top[1]) * split)
    w_mid = w_top + (w_bottom - w_top) * split
    layer.quad(top, mid, w_top, w_mid, colour, **kw)
    layer.quad(mid, bottom, w_mid, w_bottom, colour2, **kw)


def _legs(layer: Layer, ident: Identity, hip_y: float, feet: list[tuple[float, float]], hips: list[float],
          shades: list[float], toes: float = 0.0) -> None:
    """Legs (clothed by the pants style) and shoes; `feet`/`hips` in person units, shoes shifted by `toes`."""
    colour = ident.skin if ident.pants_style == "skirt" else ident.pants
    split = 0.45 if ident.pants_style == "shorts" else None
    for (fx, fy), hx, shade in zip(feet, hips, shades):
        _limb(layer, (hx, hip_y), (fx, fy - 0.03), ident.hip * 0.95, 0.05, colour, split, ident.skin, shade=shade)
        layer.ellipse((fx + toes, fy - 0.015), (0.03 + abs(toes), 0.018), ident.shoes, shade=shade)
    if ident.pants_style == "skirt":
        layer.trapezoid(hip_y - 0.02, hip_y + 0.2, ident.hip * 1.05, ident.hip * 1.5, ident.pants)


def _draw_front_back(layer: Layer, ident: Identity, pose: Pose, back: bool) -> None:
    # Body x is the person's left; seen from the front, their left is on the viewer's right.
    m = 1.0 if back else -1.0
    layer.mirror = -m
    head_y = ident.head * 1.05
    shoulder_y = 2 * ident.head + 0.06
    hip_y = 1.0 - ident.legs
    spread = ident.hip * 0.55 + 0.03 * pose.stride
    lift = 0.02 * np.sin(pose.stride * 4)
    _legs(layer, ident, hip_y, [(-spread, 1.0 - max(lift, 0)), (spread, 1.0 + min(lift, 0))],
          [-ident.hip * 0.5, ident.hip * 0.5], [1.0, 1.0])
    sleeves = 0.5 if ident.short_sleeves else 0.88
    arm_len = 0.37 * np.cos(pose.swing * 0.7)
    for side in (-1, 1):
        shoulder = (side * ident.shoulder * 0.93, shoulder_y + 0.02)
        hand = (side * (ident.shoulder + 0.03), shoulder_y + 0.02 + arm_len)
        _limb(layer, shoulder, hand, 0.05, 0.04, ident.shirt, sleeves, ident.skin)
    layer.rect(-0.025, ident.head * 1.6, 0.025, shoulder_y + 0.01, ident.skin)  # neck
    torso = layer.trapezoid(shoulder_y, hip_y + 0.03, ident.shoulder, ident.hip * 1.05, ident.shirt)
    _torso_pattern(layer, ident, torso, shoulder_y, hip_y, front=not back)
    if ident.bag is not None:
        strap_top = (-ident.bag_side * ident.shoulder * 0.7, shoulder_y)
        strap_end = (ident.bag_side * ident.hip * 1.1, hip_y)
        layer.quad(strap_top, strap_end, 0.018, 0.018, tuple(int(c * 0.8) for c in ident.bag))
        x0 = ident.bag_side * ident.hip * 1.05
        layer.rect(min(x0, x0 + ident.bag_side * 0.11), hip_y - 0.06, max(x0, x0 + ident.bag_side * 0.11),
                   hip_y + 0.08, ident.bag)
    if ident.backpack is not None:
        if back:
            layer.rect(-ident.shoulder * 0.78, shoulder_y + 0.03, ident.shoulder * 0.78,
                       shoulder_y + 0.6 * (hip_y - shoulder_y), ident.backpack)
        else:
            for side in (-1, 1):
                x = side * ident.shoulder * 0.55
                layer.rect(x - 0.015, shoulder_y, x + 0.015, shoulder_y + 0.15, ident.backpack, shade=0.7)
    _head(layer, ident, head_y, view="back" if back else "front")


def _draw_side(layer: Layer, ident: Identity, pose: Pose) -> None:
    # Body x points where the person faces.
    layer.mirror = float(pose.facing)
    head_y = ident.head * 1.05
    shoulder_y = 2 * ident.head + 0.06
    hip_y = 1.0 - ident.legs
    depth = ident.shoulder * 0.5
    leg = 1.0 - hip_y
    feet = [(np.sin(s) * leg, hip_y + np.cos(s) * leg) for s in (pose.stride, -pose.stride)]
    sleeves = 0.5 if ident.short_sleeves else 0.88
    arm = 0.37
    shoulder = (0.0, shoulder_y + 0.02)

    def draw_arm(swing: float, shade: float) -> None:
        hand = (np.sin(swing) * arm, shoulder[1] + np.cos(swing) * arm)
        _limb(layer, shoulder, hand, 0.055, 0.04, ident.shirt, sleeves, ident.skin, shade=shade)

    draw_arm(-pose.swing, 0.75)  # far arm
    _legs(layer, ident, hip_y, feet, [0.0, 0.0], [1.0, 0.8], toes=0.025)
    if ident.backpack is not None:
        layer.rect(-depth - 0.11, shoulder_y + 0.02, -depth + 0.02, shoulder_y + 0.6 * (hip_y - shoulder_y),
                   ident.backpack)
    layer.rect(-0.025, ident.head * 1.6, 0.025, shoulder_y + 0.01, ident.skin)  # neck
    torso = layer.trapezoid(shoulder_y, hip_y + 0.03, depth, ident.hip * 0.75, ident.shirt)
    _torso_pattern(layer, ident, torso, shoulder_y, hip_y, front=False)
    if ident.bag is not None:
        layer.quad((0.0, shoulder_y), (-0.02, hip_y), 0.018, 0.018, tuple(int(c * 0.8) for c in ident.bag))
        layer.rect(-0.09, hip_y - 0.06, 0.03, hip_y + 0.08, ident.bag)
    draw_arm(pose.swing, 1.0)  # near arm
    _head(layer, ident, head_y, view="side")


def _torso_pattern(layer: Layer, ident: Identity, torso: np.ndarray, top: float, hip: float, front: bool) -> None:
    """Paint the shirt pattern inside the boolean `torso` region; some patterns show only from the front."""
    if ident.pattern == "stripes":
        layer.paint_stripes(torso, top, ident.stripe, ident.shirt2)
    elif ident.pattern == "yoke":
        layer.paint_band(torso, top, top + 0.35 * (hip - top), ident.shirt2)
    elif ident.pattern == "jacket" and front:
        layer.paint_column(torso, -ident.shoulder * 0.28, ident.shoulder * 0.28, ident.shirt2)
    elif ident.pattern == "logo" and front:
        y = top + 0.3 * (hip - top)
        layer.ellipse((0.0, y), (ident.shoulder * 0.4, ident.shoulder * 0.4), ident.shirt2)


def _head(layer: Layer, ident: Identity, y: float, view: str) -> None:
    r = ident.head
    if ident.long_hair:
        behind = -0.25 * r if view == "side" else 0.0
        width = r * (0.7 if view == "side" else 1.05)
        layer.rect(behind - width, y, behind + width, y + r * (2.6 if view == "back" else 2.0), ident.hair)
    if view == "back":
        layer.ellipse((0.0, y), (r * 0.9, r), ident.hair)
    elif view == "front":
        layer.ellipse((0.0, y - 0.12 * r), (r * 0.95, r * 0.95), ident.hair)
        layer.ellipse((0.0, y + 0.12 * r), (r * 0.8, r * 0.88), ident.skin)
    else:
        layer.ellipse((0.1 * r, y), (r * 0.88, r), ident.skin)
        layer.ellipse((0.9 * r, y + 0.15 * r), (0.2 * r, 0.15 * r), ident.skin)  # nose
        layer.ellipse((-0.2 * r, y - 0.1 * r), (r * 0.8, r * 0.92), ident.hair)
    if ident.hat is not None:
        layer.ellipse((0.0, y - 0.35 * r), (r * 1.0, r * 0.7), ident.hat)
        brim = (0.75 * r, y - 0.2 * r) if view == "side" else (0.0, y - 0.1 * r)
        layer.ellipse(brim, (r * (0.7 if view == "side" else 1.05), r * 0.2), ident.hat, shade=0.8)
