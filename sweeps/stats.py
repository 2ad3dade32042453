"""The seeds of a sweep combined: mean and spread per (ROI, p, variant), and the comparisons the
report's tables and verdicts are computed from: paired by seed (the runs of one seed share the
initialisation, the batches and the augmentation draws), a mean difference with its 95 %
t-interval and the paired t-test's p, and Holm's adjustment of a family of p values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import special

from attention_swap_reid.kernels.config import ROI_MODES
from attention_swap_reid.prepare.synth_extras import PROBES
from attention_swap_reid.trainer.summary import COLUMNS

BASELINE_ROI = "none"  # the roi of the p = 0 runs (the baseline's cell)
METRICS = tuple(key for _, key in COLUMNS)  # rank1, rank5, rank10, mAP, mINP, robust_mAP, ...
PROBE_METRICS = tuple(f"{name}_{key}" for name in PROBES for key in ("rank1", "mAP"))  # neutral_mAP, ...
ALL_METRICS = METRICS + PROBE_METRICS


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


class Paired(NamedTuple):
    """A cell against another, paired by seed, over the n seeds both ran (NaN where n < 2, or
    where a run lacks the metric): `delta` the mean of the per-seed differences (cell - other),
    [`low`, `high`] its 95 % t-interval, `p` the two-sided paired t-test, `wins` the seeds where
    the cell is higher."""

    delta: float
    low: float
    high: float
    p: float
    n: int
    wins: int

    @property
    def clear(self) -> bool:
        """The interval excludes 0."""
        return bool(self.low > 0 or self.high < 0)


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
        values = {k: np.array([_number(r.get(k)) for r in group]) for k in ALL_METRICS}
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


def paired_t(differences, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, low, high, p) of per-seed differences ((n,) numbers): the mean, its two-sided
    `level` t-interval (mean ± t_{n-1} * sd / sqrt(n), sd with ddof 1) and the p of the paired
    t-test of mean 0. NaN with fewer than 2 differences; identical differences give the
    interval [mean, mean] and p 0 (1 when they are all 0)."""
    d = np.asarray(differences, np.float64)
    n = len(d)
    if n < 2 or not np.isfinite(d).all():
        return float(d.mean()) if n and np.isfinite(d).all() else float("nan"), float("nan"), float("nan"), float("nan")
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    if se == 0:
        return mean, mean, mean, 1.0 if mean == 0 else 0.0
    half = float(special.stdtrit(n - 1, 0.5 + level / 2)) * se
    return mean, mean - half, mean + half, float(2 * special.stdtr(n - 1, -abs(mean) / se))


def paired(cell: Cell, other: Cell, key: str) -> Paired:
    """`cell` against `other` on metric `key`, paired by seed (see `Paired`)."""
    mine, theirs = dict(zip(cell.seeds, cell.values[key])), dict(zip(other.seeds, other.values[key]))
    shared = sorted(set(mine) & set(theirs))
    d = np.array([mine[s] - theirs[s] for s in shared])
    return Paired(*paired_t(d), len(shared), int((d > 0).sum()))


def holm(pvalues) -> list[float]:
    """Holm's step-down adjustment of a family of p values (NaN entries are not in the family and
    stay NaN): the k-th smallest of m becomes max over j <= k of min(1, (m - j + 1) p_(j))."""
    p = np.asarray(pvalues, np.float64)
    out = np.full(len(p), np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
