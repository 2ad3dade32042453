"""The seeds of a sweep combined: mean and spread per (ROI, p), and the comparisons with the
baseline the report's table and verdict are computed from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from attention_swap_reid.kernels.config import ROI_MODES
from attention_swap_reid.sweeps.plan import BASELINE_ROI
from attention_swap_reid.trainer.summary import COLUMNS

METRICS = tuple(key for _, key in COLUMNS)  # rank1, rank5, rank10, mAP, mINP, robust_mAP, ...


@dataclass(frozen=True)
class Cell:
    """The seeds of one (roi, p, variant) combined: per metric the values (in `seeds` order),
    their mean, sample standard deviation (ddof 1; NaN with one seed), lowest and highest, as
    fractions."""

    roi: str
    p: float
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]
    mean: dict[str, float]
    sd: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    variant: str = ""


class Comparison(NamedTuple):
    """A cell against another: the difference of the means and whether it is clear."""

    delta: float
    clear: bool


class Paired(NamedTuple):
    """Seeds where a cell beats the other cell's run of the same seed, of the seeds they share."""

    wins: int
    shared: int


def _number(value: object) -> float:
    """A metric of a row: a number, or NaN where the run lacks it (None, "" in results.csv)."""
    return float("nan") if value is None or value == "" else float(value)


def summarize(rows: list[dict], variants: tuple[str, ...] = ()) -> list[Cell]:
    """Rows of `collect` (or results.csv) -> one Cell per (roi, p, variant): baseline first,
    then by roi, p and the position of the variant in `variants`."""
    groups: dict[tuple[str, float, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["roi"], float(row["p"]), row.get("variant") or ""), []).append(row)
    order = {roi: i for i, roi in enumerate([BASELINE_ROI, *ROI_MODES])}
    position = {name: i for i, name in enumerate(variants)}

    def key(item: tuple) -> tuple:
        roi, p, variant = item[0]
        return order.get(roi, len(order)), roi, p, position.get(variant, len(position)), variant
    cells = []
    for (roi, p, variant), group in sorted(groups.items(), key=key):
        group = sorted(group, key=lambda r: int(r["seed"]))
        values = {k: np.array([_number(r.get(k)) for r in group]) for k in METRICS}
        cells.append(Cell(roi, p, tuple(int(r["seed"]) for r in group), variant=variant,
                          values={k: tuple(float(x) for x in v) for k, v in values.items()},
                          mean={k: float(v.mean()) for k, v in values.items()},
                          sd={k: float(v.std(ddof=1)) if len(v) > 1 else float("nan") for k, v in values.items()},
                          low={k: float(v.min()) for k, v in values.items()},
                          high={k: float(v.max()) for k, v in values.items()}))
    return cells


def mean_sd(cell: Cell, key: str) -> str:
    """"mean ± sd" in percent; "mean" with one seed, "-" for a metric the runs lack."""
    mean, sd = cell.mean[key], cell.sd[key]
    if np.isnan(mean):
        return "-"
    return f"{100 * mean:.1f}" + ("" if np.isnan(sd) else f" ± {100 * sd:.1f}")


def compare(cell: Cell, base: Cell, key: str) -> Comparison:
    """Clear when the difference is more than twice the larger seed standard deviation of the
    two cells *and* every seed of one beats every seed of the other."""
    delta = cell.mean[key] - base.mean[key]
    noise = max(np.nan_to_num(cell.sd[key]), np.nan_to_num(base.sd[key]))
    apart = cell.low[key] > base.high[key] if delta > 0 else cell.high[key] < base.low[key]
    return Comparison(delta, bool(abs(delta) > 2 * noise and apart and min(len(cell.seeds), len(base.seeds)) > 1))


def paired(cell: Cell, base: Cell, key: str) -> Paired:
    """Seeds where `cell` beats the baseline run of the same seed, of the seeds they share."""
    mine, theirs = dict(zip(cell.seeds, cell.values[key])), dict(zip(base.seeds, base.values[key]))
    shared = sorted(set(mine) & set(theirs))
    return Paired(sum(mine[s] > theirs[s] for s in shared), len(shared))
