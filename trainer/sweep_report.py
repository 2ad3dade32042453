"""The sweep's report (`trainer/sweep.py`): mean and spread over seeds per (ROI, p), the
comparison with the baseline, a plain-language verdict computed from the numbers, report.md
and a figure in the style of the paper's Fig. 3."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.summary import COLUMNS

METRICS = tuple(key for _, key in COLUMNS)  # rank1, rank5, rank10, mAP, mINP, robust_mAP
ROIS = ("full", "upper", "lower")


@dataclass(frozen=True)
class Cell:
    """The seeds of one (roi, p) combined: per metric the values (in `seeds` order), their mean,
    sample standard deviation (ddof 1; NaN with one seed), lowest and highest, as fractions."""

    roi: str
    p: float
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]
    mean: dict[str, float]
    sd: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]


def summarize(rows: list[dict]) -> list[Cell]:
    """Rows of `collect` (or results.csv) -> one Cell per (roi, p): baseline first, then by roi, p."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["roi"], float(row["p"])), []).append(row)
    order = {roi: i for i, roi in enumerate(("none",) + ROIS)}
    cells = []
    for (roi, p), group in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0])):
        group = sorted(group, key=lambda r: int(r["seed"]))
        values = {k: np.array([float(r[k]) for r in group]) for k in METRICS}
        cells.append(Cell(roi, p, tuple(int(r["seed"]) for r in group),
                          values={k: tuple(float(x) for x in v) for k, v in values.items()},
                          mean={k: float(v.mean()) for k, v in values.items()},
                          sd={k: float(v.std(ddof=1)) if len(v) > 1 else float("nan") for k, v in values.items()},
                          low={k: float(v.min()) for k, v in values.items()},
                          high={k: float(v.max()) for k, v in values.items()}))
    return cells


def _pm(cell: Cell, key: str) -> str:
    """"mean ± sd" in percent; "mean" with one seed, "-" for a metric the runs lack."""
    mean, sd = cell.mean[key], cell.sd[key]
    if np.isnan(mean):
        return "-"
    return f"{100 * mean:.1f}" + ("" if np.isnan(sd) else f" ± {100 * sd:.1f}")


def compare(cell: Cell, base: Cell, key: str) -> tuple[float, bool]:
    """(difference of the means, clear): clear when the difference is more than twice the larger
    seed standard deviation of the two cells *and* every seed of one beats every seed of the other."""
    delta = cell.mean[key] - base.mean[key]
    noise = max(np.nan_to_num(cell.sd[key]), np.nan_to_num(base.sd[key]))
    apart = cell.low[key] > base.high[key] if delta > 0 else cell.high[key] < base.low[key]
    return delta, bool(abs(delta) > 2 * noise and apart and min(len(cell.seeds), len(base.seeds)) > 1)


def paired(cell: Cell, base: Cell, key: str) -> tuple[int, int]:
    """(seeds where `cell` beats the baseline run of the same seed, seeds they share)."""
    mine, theirs = dict(zip(cell.seeds, cell.values[key])), dict(zip(base.seeds, base.values[key]))
    shared = sorted(set(mine) & set(theirs))
    return sum(mine[s] > theirs[s] for s in shared), len(shared)


def verdict(cells: list[Cell]) -> list[str]:
    """Plain-language findings computed from the cells (one Markdown bullet each)."""
    base = next((c for c in cells if c.p == 0), None)
    if base is None or len(cells) == 1:
        return ["- No baseline run (p = 0) or no augmented run finished: nothing to compare yet."]
    lines = []
    for key, what in (("mAP", "test mAP"), ("robust_mAP", "robustness (mAP on the swapped-background test set)")):
        for roi in ROIS:
            group = [c for c in cells if c.roi == roi]
            if not group or np.isnan(base.mean[key]):
                continue
            best = max(group, key=lambda c: c.mean[key])
            delta, clear = compare(best, base, key)
            n_clear = sum(d > 0 and ok for d, ok in (compare(c, base, key) for c in group))
            size = "larger than" if clear else "not clearly larger than"
            sign = "gain" if delta > 0 else "loss"
            wins, shared = paired(best, base, key)
            lines.append(f"- {what}, {roi} body: best p = {best.p:g} with {_pm(best, key)} vs baseline "
                         f"{_pm(base, key)}: a {sign} of {100 * abs(delta):.1f} points, {size} the spread "
                         f"between seeds (above the same-seed baseline in {wins} of {shared} seeds); "
                         f"{n_clear} of {len(group)} p values beat the baseline clearly.")
    full = [c for c in cells if c.roi == "full"]
    if full:
        best = max(full, key=lambda c: c.mean["mAP"])
        tied = [c.p for c in full if c is best or not compare(best, c, "mAP")[1]]
        where = ("inside" if all(0.3 <= p <= 0.5 for p in tied) else
                 "overlapping" if any(0.3 <= p <= 0.5 for p in tied) else "outside")
        lines.append(f"- The best full-body p for mAP is {best.p:g}; p = {', '.join(f'{p:g}' for p in tied)} "
                     f"{'are' if len(tied) > 1 else 'is'} not clearly below it, {where} the paper's best range "
                     f"[0.3, 0.5] (paper, RAP: baseline 33.5 -> 46.3 mAP at p = 0.3, +12.8 points).")
    return lines


def write_report(sweep, cells: list[Cell], n_runs: int, path: Path) -> None:
    """report.md for `sweep` (a `trainer.sweep.Sweep`): the setup, a table of mean ± sd over seeds (percent), the verdict, `notes.md`
    from the same folder when there is one, the figure."""
    base = next((c for c in cells if c.p == 0), None)
    def delta(c: Cell, key: str) -> str:
        if base is None or c is base or np.isnan(c.mean[key]):
            return "-"
        d, clear = compare(c, base, key)
        return f"{100 * d:+.1f}" + (" (clear)" if clear else "")

    head = ["ROI", "p", "seeds", *(title for title, _ in COLUMNS), "Δ mAP", "Δ robustness"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        table.append("| " + " | ".join([c.roi if c.p else "baseline", f"{c.p:g}", ",".join(map(str, c.seeds)),
                                        *(_pm(c, k) for _, k in COLUMNS), delta(c, "mAP"),
                                        delta(c, "robust_mAP")]) + " |")
    finished = sum(len(c.seeds) for c in cells)
    text = [f"# Sweep `{sweep.source}`: attention augmentation probability and ROI", "",
            f"Regenerate: `python trainer/sweep.py {sweep.source}` (resumable; `--report-only` rebuilds "
            f"this page). {finished} of {n_runs} runs finished.", "",
            f"Base config `{sweep.base}`, with " + ", ".join(f"`{o}`" for o in sweep.overrides) + ".", ""]
    if sweep.notes:
        text += [sweep.notes, ""]
    text += ["## Results (percent; mean ± sample standard deviation over seeds)", "", *table, "",
             "A difference is called *clear* when it is more than twice the larger of the two seed "
             "standard deviations and every seed of one setting beats every seed of the other. The "
             "best p below is picked after the fact, so count how many p values are clear, not only "
             "the best one.", "",
             "## Verdict", "", *verdict(cells), ""]
    comments = path.parent / "notes.md"  # hand-written reading of the results, kept beside the report
    if comments.is_file():
        text += ["## Notes", "", comments.read_text(encoding="utf-8").strip(), ""]
    text += ["## Figure", "", "![mAP and CMC per p](fig3.png)", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text), encoding="utf-8")


def write_figure(cells: list[Cell], path: Path) -> None:
    """fig3.png in the style of the paper's Fig. 3: one panel per ROI, mAP bars per p (with the
    seed standard deviation), rank-1/5/10 and robustness-mAP lines; p = 0 is the baseline."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = [c for c in cells if c.p == 0]
    rois = [roi for roi in ROIS if any(c.roi == roi for c in cells)] or ["none"]
    fig, axes = plt.subplots(1, len(rois), figsize=(4.2 * len(rois), 3.9), sharey=True, squeeze=False)
    for ax, roi in zip(axes[0], rois):
        group = base + [c for c in cells if c.roi == roi]
        x = np.arange(len(group))
        pct = lambda key: np.array([100 * c.mean[key] for c in group])  # noqa: E731
        ax.bar(x, pct("mAP"), yerr=np.nan_to_num([100 * c.sd["mAP"] for c in group]), capsize=3,
               color=["0.75" if c.p == 0 else "#9ecae1" for c in group], label="mAP ± sd (grey: baseline)")
        for key, style, color in (("rank1", "o-", "tab:red"), ("rank5", "s-", "tab:orange"),
                                  ("rank10", "^-", "tab:green"), ("robust_mAP", "x--", "tab:purple")):
            ax.plot(x, pct(key), style, color=color, ms=4,
                    label={"robust_mAP": "mAP, swapped backgrounds"}.get(key, key.replace("rank", "rank-")))
        ax.set_xticks(x, ["base" if c.p == 0 else f"{c.p:g}" for c in group])
        ax.set_title(f"{roi} body" if roi != "none" else "baseline")
        ax.set_xlabel("p")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("percent, mean over seeds")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


