"""report.md of a sweep: the setup, a table of mean ± sd over seeds (percent; with variants, one
table per group of variants), a plain-language verdict computed from the numbers (compared with
the sweep file's `reference` when it has one), the hand-written `notes.md` from the same folder
when there is one, the figure. `sweep_section` is the same page as a part of a longer one (the
report of a suite of sweeps)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from attention_swap_reid.kernels.config import ROI_MODES
from attention_swap_reid.sweeps.spec import Reference, Sweep, Variant, variant_groups
from attention_swap_reid.sweeps.stats import Cell, compare, mean_sd, paired
from attention_swap_reid.trainer.summary import COLUMNS

VERDICT_METRICS = (("mAP", "test mAP"), ("robust_mAP", "robustness (mAP on the swapped-background test set)"))
VARIANT_COLUMNS = (("rank-1", "rank1"), ("mAP", "mAP"), ("robustness", "robust_mAP"),
                   ("activation on person", "attention"), ("Grad-CAM on person", "gradcam"),
                   ("swap rate", "swap_rate"))
CLEAR = ("A difference is called *clear* when it is more than twice the larger of the two seed "
         "standard deviations and every seed of one setting beats every seed of the other.")
CLEAR_RULE = CLEAR + (" The best p below is picked after the fact, so count how many p values are clear, "
                      "not only the best one.")
VARIANT_RULE = CLEAR + (" *mAP per seed* lists every run, none dropped. Activation / Grad-CAM on person: the "
                        "share of the last feature map's activation energy / of the Grad-CAM of the query's "
                        "match with its identity that lies on the person's mask, in the test queries. Swap "
                        "rate: the share of training images whose background was swapped.")


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


def verdict(cells: list[Cell], reference: Reference | None, variants: tuple[Variant, ...] = ()) -> list[str]:
    """Plain-language findings computed from the cells (one Markdown bullet each). With
    `variants`, the ROI and p findings are about the first (reference) variant, then one line
    per group of variants."""
    if variants:
        first = variants[0].name
        return (verdict([c for c in cells if c.p == 0 or c.variant == first], reference)
                + _variant_verdict(cells, variants))
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


def _delta(cell: Cell, other: Cell | None, key: str) -> str:
    """The difference of the means to `other` in points, "(clear)" when it is; "-" without one."""
    if other is None or cell is other or np.isnan(cell.mean[key]) or np.isnan(other.mean[key]):
        return "-"
    d, clear = compare(cell, other, key)
    return f"{100 * d:+.1f}" + (" (clear)" if clear else "")


def _references(cells: list[Cell], first: Variant) -> dict[tuple[str, float], Cell]:
    """{(roi, p): the reference variant's cell}."""
    return {(c.roi, c.p): c for c in cells if c.p > 0 and c.variant == first.name}


def _table(cells: list[Cell]) -> list[str]:
    """Rows: the (roi, p) cells; metric columns no run has (older runs) are left out."""
    base = _baseline(cells)
    shown = [(title, key) for title, key in COLUMNS if not all(np.isnan(c.mean[key]) for c in cells)]
    head = ["ROI", "p", "seeds", *(title for title, _ in shown), "Δ mAP", "Δ robustness"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        table.append("| " + " | ".join([c.roi if c.p else "baseline", f"{c.p:g}", ",".join(map(str, c.seeds)),
                                        *(mean_sd(c, k) for _, k in shown), _delta(c, base, "mAP"),
                                        _delta(c, base, "robust_mAP")]) + " |")
    return table


def _label(variant: Variant) -> str:
    return variant.label or variant.name


def _variant_table(cells: list[Cell], shown: list[Variant], first: Variant) -> list[str]:
    """Rows: the baseline, then every augmented (roi, p) of the `shown` variants."""
    base = _baseline(cells)
    by_name = {v.name: v for v in shown}
    rows = [c for c in cells if c.p > 0 and c.variant in by_name]
    several = len({(c.roi, c.p) for c in rows}) > 1
    ref = _references(cells, first)
    head = ["setting", "seeds", "mAP per seed", *(t for t, _ in VARIANT_COLUMNS), "Δ mAP", "Δ robustness",
            "Δ mAP vs reference"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in ([base] if base is not None else []) + rows:
        name = "baseline (no augmentation)" if c.p == 0 else _label(by_name[c.variant])
        if several and c.p > 0:
            name += f" ({c.roi}, p {c.p:g})"
        per_seed = ", ".join(f"{100 * v:.1f}" for v in c.values["mAP"])
        table.append("| " + " | ".join([name, ",".join(map(str, c.seeds)), per_seed,
                                        *(mean_sd(c, k) for _, k in VARIANT_COLUMNS),
                                        _delta(c, base, "mAP"), _delta(c, base, "robust_mAP"),
                                        _delta(c, ref.get((c.roi, c.p)), "mAP")]) + " |")
    return table


def _variant_verdict(cells: list[Cell], variants: tuple[Variant, ...]) -> list[str]:
    """Per group: which settings keep a clear mAP gain over the baseline, which fall clearly
    below the reference setting (the first variant)."""
    base, ref = _baseline(cells), _references(cells, variants[0])
    if base is None:
        return []
    lines = []
    for title, group in variant_groups(variants).items():
        names = {v.name: _label(v) for v in group}
        mine = [c for c in cells if c.p > 0 and c.variant in names]
        if not mine:
            continue
        gain = [compare(c, base, "mAP") for c in mine]
        lost = [f"{names[c.variant]} ({100 * g.delta:+.1f})" for c, g in zip(mine, gain) if not (g.clear and g.delta > 0)]
        below = [f"{names[c.variant]} ({100 * d.delta:+.1f})" for c in mine if (c.roi, c.p) in ref
                 for d in [compare(c, ref[(c.roi, c.p)], "mAP")] if d.clear and d.delta < 0]
        line = (f"- {title}: {len(mine) - len(lost)} of {len(mine)} settings keep a clear mAP gain over the "
                f"baseline")
        line += f"; not clearly above it: {', '.join(lost)}" if lost else ""
        line += f"; clearly below the reference: {', '.join(below)}." if below else "; none is clearly below the reference."
        lines.append(line)
    return lines


def results_section(sweep: Sweep, cells: list[Cell], level: int = 2) -> list[str]:
    """The results tables, the rule for *clear* and the verdict, under headings of `level`."""
    h = "#" * level
    variants = sweep.file.variants
    if not variants:
        tables = [f"{h} Results (percent; mean ± sample standard deviation over seeds)", "", *_table(cells), "",
                  CLEAR_RULE, ""]
    else:
        first = variants[0]
        tables = [f"{h} Results (percent; mean ± sample standard deviation over seeds)", "",
                  f"Reference setting: {_label(first)}. Δ: the difference of the means to the baseline "
                  f"(mAP, robustness) and to the reference (mAP).", ""]
        for title, group in variant_groups(variants).items():
            tables += [f"{h}# {title}", "", *_variant_table(cells, [first, *group], first), ""]
        tables += [VARIANT_RULE, ""]
    return tables + [f"{h} Verdict", "", *verdict(cells, sweep.file.reference, variants), ""]


def sweep_section(sweep: Sweep, cells: list[Cell], n_runs: int, figure: str, level: int = 1) -> list[str]:
    """A sweep's page: heading, how to regenerate it, setup, results, verdict and figure (the
    PNG at the relative path `figure`); headings start at `level`."""
    finished = sum(len(c.seeds) for c in cells)
    h = "#" * level
    text = [f"{h} {sweep.title}", "",
            f"Regenerate: `python trainer/sweep.py {sweep.source}` (resumable; `--report-only` rebuilds "
            f"this page). {finished} of {n_runs} runs finished.", "",
            f"Base config `{sweep.file.base}`, with " + ", ".join(f"`{o}`" for o in sweep.overrides) + ".", ""]
    if sweep.file.notes:
        text += [sweep.file.notes, ""]
    alt = "mAP and robustness per setting" if sweep.file.variants else "mAP and CMC per p"
    return text + results_section(sweep, cells, level + 1) + [f"{h}# Figure", "", f"![{alt}]({figure})", ""]


def write_report(sweep: Sweep, cells: list[Cell], n_runs: int, path: Path, figure: str = "fig3.png") -> None:
    """report.md for `sweep` at `path`; `n_runs`: the runs of the whole grid; `figure`: the
    PNG's path relative to the report."""
    text = sweep_section(sweep, cells, n_runs, figure)
    comments = path.parent / "notes.md"  # hand-written reading of the results, kept beside the report
    if comments.is_file():
        at = text.index("## Figure")
        text[at:at] = ["## Notes", "", comments.read_text(encoding="utf-8").strip(), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text), encoding="utf-8")
