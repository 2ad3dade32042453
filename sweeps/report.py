"""report.md of a sweep: the setup, a table of mean ± sd over seeds (percent), a plain-language
verdict computed from the numbers (compared with the sweep file's `reference` when it has
one), the hand-written `notes.md` from the same folder when there is one, the figure."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kernels.config import ROI_MODES
from sweeps.spec import Reference, Sweep
from sweeps.stats import Cell, compare, mean_sd, paired
from trainer.summary import COLUMNS

VERDICT_METRICS = (("mAP", "test mAP"), ("robust_mAP", "robustness (mAP on the swapped-background test set)"))
CLEAR_RULE = ("A difference is called *clear* when it is more than twice the larger of the two seed "
              "standard deviations and every seed of one setting beats every seed of the other. The "
              "best p below is picked after the fact, so count how many p values are clear, not only "
              "the best one.")


def _baseline(cells: list[Cell]) -> Cell | None:
    return next((c for c in cells if c.p == 0), None)


def _best_p_line(cells: list[Cell], ref: Reference) -> list[str]:
    """The best p of the reference's ROI, the p values tied with it, and the reference's range."""
    group = [c for c in cells if c.roi == ref.roi]
    if not group:
        return []
    best = max(group, key=lambda c: c.mean["mAP"])
    tied = [c.p for c in group if c is best or not compare(best, c, "mAP").clear]
    low, high = ref.best_p
    inside = [low <= p <= high for p in tied]
    where = "outside"
    if all(inside):
        where = "inside"
    elif any(inside):
        where = "overlapping"
    return [f"- The best {ref.roi}-body p for mAP is {best.p:g}; p = {', '.join(f'{p:g}' for p in tied)} "
            f"{'are' if len(tied) > 1 else 'is'} not clearly below it, {where} the {ref.name}'s best range "
            f"[{low:g}, {high:g}] ({ref.name}, {ref.setting}: baseline {ref.baseline_mAP:g} -> {ref.mAP:g} "
            f"mAP at p = {ref.p:g}, {ref.mAP - ref.baseline_mAP:+.1f} points)."]


def verdict(cells: list[Cell], reference: Reference | None) -> list[str]:
    """Plain-language findings computed from the cells (one Markdown bullet each)."""
    base = _baseline(cells)
    if base is None or len(cells) == 1:
        return ["- No baseline run (p = 0) or no augmented run finished: nothing to compare yet."]
    lines = []
    for key, what in VERDICT_METRICS:
        for roi in ROI_MODES:
            group = [c for c in cells if c.roi == roi]
            if not group or np.isnan(base.mean[key]):
                continue
            best = max(group, key=lambda c: c.mean[key])
            gain = compare(best, base, key)
            n_clear = sum(d > 0 and ok for d, ok in (compare(c, base, key) for c in group))
            size = "larger than" if gain.clear else "not clearly larger than"
            sign = "gain" if gain.delta > 0 else "loss"
            seeds = paired(best, base, key)
            lines.append(f"- {what}, {roi} body: best p = {best.p:g} with {mean_sd(best, key)} vs baseline "
                         f"{mean_sd(base, key)}: a {sign} of {100 * abs(gain.delta):.1f} points, {size} the spread "
                         f"between seeds (above the same-seed baseline in {seeds.wins} of {seeds.shared} seeds); "
                         f"{n_clear} of {len(group)} p values beat the baseline clearly.")
    return lines + (_best_p_line(cells, reference) if reference is not None else [])


def _table(cells: list[Cell]) -> list[str]:
    base = _baseline(cells)

    def delta(c: Cell, key: str) -> str:
        if base is None or c is base or np.isnan(c.mean[key]):
            return "-"
        d, clear = compare(c, base, key)
        return f"{100 * d:+.1f}" + (" (clear)" if clear else "")

    head = ["ROI", "p", "seeds", *(title for title, _ in COLUMNS), "Δ mAP", "Δ robustness"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        table.append("| " + " | ".join([c.roi if c.p else "baseline", f"{c.p:g}", ",".join(map(str, c.seeds)),
                                        *(mean_sd(c, k) for _, k in COLUMNS), delta(c, "mAP"),
                                        delta(c, "robust_mAP")]) + " |")
    return table


def write_report(sweep: Sweep, cells: list[Cell], n_runs: int, path: Path) -> None:
    """report.md for `sweep` at `path`; `n_runs`: the runs of the whole grid."""
    finished = sum(len(c.seeds) for c in cells)
    text = [f"# Sweep `{sweep.source}`: attention augmentation probability and ROI", "",
            f"Regenerate: `python trainer/sweep.py {sweep.source}` (resumable; `--report-only` rebuilds "
            f"this page). {finished} of {n_runs} runs finished.", "",
            f"Base config `{sweep.file.base}`, with " + ", ".join(f"`{o}`" for o in sweep.overrides) + ".", ""]
    if sweep.file.notes:
        text += [sweep.file.notes, ""]
    text += ["## Results (percent; mean ± sample standard deviation over seeds)", "", *_table(cells), "",
             CLEAR_RULE, "", "## Verdict", "", *verdict(cells, sweep.file.reference), ""]
    comments = path.parent / "notes.md"  # hand-written reading of the results, kept beside the report
    if comments.is_file():
        text += ["## Notes", "", comments.read_text(encoding="utf-8").strip(), ""]
    text += ["## Figure", "", "![mAP and CMC per p](fig3.png)", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text), encoding="utf-8")
