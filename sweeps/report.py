"""report.md of a sweep: the setup, the machine its runs ran on, tables of mean ± sd over seeds
(percent; with variants, one table per group of variants, the probe sets and the contrasts),
every comparison paired by seed (the mean difference with its 95 % interval, p and Holm's
adjustment over its family, see `stats`), a plain-language verdict computed from the numbers
(compared with the sweep file's `reference` when it has one), the hand-written `notes.md` from
the same folder when there is one, the figures. `sweep_section` is the same page as a part of a
longer one (the report of a suite of sweeps)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from attention_swap_reid.kernels.config import ROI_MODES
from attention_swap_reid.sweeps.spec import Reference, Sweep, Variant, contrast_cell, variant_groups
from attention_swap_reid.sweeps.stats import Cell, Paired, holm, mean_sd, paired
from attention_swap_reid.trainer.summary import COLUMNS

VERDICT_METRICS = (("mAP", "test mAP"), ("robust_mAP", "robustness (mAP on the swapped-background test set)"))
VARIANT_COLUMNS = (("rank-1", "rank1"), ("mAP", "mAP"), ("robustness", "robust_mAP"),
                   ("activation on person", "attention"), ("Grad-CAM on person", "gradcam"),
                   ("swap rate", "swap_rate"))
PROBE_COLUMNS = (("test set", "mAP"), ("neutral layout", "neutral_mAP"), ("robustness", "robust_mAP"),
                 ("query on a new background", "query_new_bg_mAP"), ("query without the person", "query_no_person_mAP"))
METRIC_NAMES = {"mAP": "test mAP", "robust_mAP": "robustness mAP", "neutral_mAP": "neutral-layout mAP",
                "query_new_bg_mAP": "mAP, queries on a new background",
                "query_no_person_mAP": "mAP, queries without the person", "attention": "activation share on person",
                "gradcam": "Grad-CAM share on person", "rank1": "rank-1", "swap_rate": "swap rate"}
PAIRED = ("Δ: the mean of the per-seed differences in points (the runs of one seed share the initialisation, "
          "the batches and the augmentation draws) with its 95 % t-interval; p: the two-sided paired t-test, "
          "Holm: adjusted over {family}. A difference is *clear* when its interval excludes 0; otherwise no "
          "difference was detected, and the interval bounds what these seeds could have missed.")
CLEAR_RULE = PAIRED.format(family="the column's comparisons")
BEST_P_CAVEAT = " The best p below is picked after the fact, so count how many p values are clear, not only the best one."
VARIANT_RULE = PAIRED.format(family="every setting of the sweep against the reference") + (
    " *mAP per seed* lists every run, none dropped. Activation / Grad-CAM on person: the "
    "share of the last feature map's activation energy / of the Grad-CAM of the query's "
    "match with its identity that lies on the person's mask, in the test queries. Swap "
    "rate: the share of training images whose background was swapped.")
PROBE_RULE = ("Test set: its layout punishes the use of backgrounds (a query's scene holds only other people's "
              "gallery images). Neutral layout: the same test people, each image in a scene drawn independently of "
              "identity and split. Robustness: the test people on training identities' scenes. The last two: the "
              "queries on a scene no image of the world shows, and the queries with the person removed; the "
              "gallery unchanged.")


def pts(x: float) -> str:
    """A fraction as signed points, "+12.3"."""
    return f"{100 * x:+.1f}"


def ci(c: Paired) -> str:
    """"+12.3 [+8.0, +16.6]": the paired difference and its interval; "-" without one."""
    if np.isnan(c.delta):
        return "-"
    return pts(c.delta) + ("" if np.isnan(c.low) else f" [{pts(c.low)}, {pts(c.high)}]")


def pval(p: float) -> str:
    if np.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_holm(c: Paired, adjusted: float) -> str:
    """"0.004 (0.02)": p and its Holm adjustment."""
    return "-" if np.isnan(c.p) else f"{pval(c.p)} ({pval(adjusted)})"


def reading(c: Paired, adjusted: float | None = None) -> str:
    """The difference in words: "+12.3 points (95 % CI [+8.0, +16.6], p 0.004, Holm 0.02), clear" or
    "no difference detected (+1.2 points, CI [-2.0, +4.4])"."""
    if np.isnan(c.low):
        return f"{pts(c.delta)} points (one seed, no interval)"
    if not c.clear:
        return f"no difference detected ({pts(c.delta)} points, CI [{pts(c.low)}, {pts(c.high)}])"
    holm_part = "" if adjusted is None else f", Holm {pval(adjusted)}"
    return f"{pts(c.delta)} points (95 % CI [{pts(c.low)}, {pts(c.high)}], p {pval(c.p)}{holm_part}), clear"


def _baseline(cells: list[Cell]) -> Cell | None:
    return next((c for c in cells if c.p == 0), None)


def _family(comparisons: list[Paired]) -> list[float]:
    return holm([c.p for c in comparisons])


def _best_p_line(cells: list[Cell], ref: Reference) -> list[str]:
    """The best p of the reference's ROI, the p values not clearly below it, and the reference's range."""
    group = [c for c in cells if c.roi == ref.roi]
    if not group:
        return []
    best = max(group, key=lambda c: c.mean["mAP"])
    tied = [c.p for c in group if c is best or not paired(best, c, "mAP").clear]
    low, high = ref.best_p
    inside = [low <= p <= high for p in tied]
    where = "outside"
    if all(inside):
        where = "inside"
    elif any(inside):
        where = "overlapping"
    return [f"- The best {ref.roi}-body p for mAP is {best.p:g}; p = {', '.join(f'{p:g}' for p in tied)} "
            f"{'are' if len(tied) > 1 else 'is'} not clearly below it (the paired interval of the difference "
            f"includes 0), {where} the {ref.name}'s best range [{low:g}, {high:g}] ({ref.name}, {ref.setting}: "
            f"baseline {ref.baseline_mAP:g} -> {ref.mAP:g} mAP at p = {ref.p:g}, {ref.mAP - ref.baseline_mAP:+.1f} "
            f"points)."]


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
        if np.isnan(base.mean[key]):
            continue
        augmented = [c for c in cells if c.p > 0]
        comparisons = [paired(c, base, key) for c in augmented]
        adjusted = dict(zip(map(id, augmented), _family(comparisons)))
        for roi in ROI_MODES:
            group = [(c, comp) for c, comp in zip(augmented, comparisons) if c.roi == roi]
            if not group:
                continue
            up = sum(comp.clear and comp.delta > 0 for _, comp in group)
            down = sum(comp.clear and comp.delta < 0 for _, comp in group)
            after = sum(comp.delta > 0 and adjusted[id(c)] < 0.05 for c, comp in group)
            best, comp = max(group, key=lambda item: item[0].mean[key])
            lines.append(f"- {what}, {roi} body: {up} of {len(group)} p values gain clearly over the same-seed "
                         f"baseline ({after} with a Holm-adjusted p < 0.05)" + (f", {down} lose clearly" if down else "")
                         + f". Highest mean at p = {best.p:g}, {mean_sd(best, key)} against the baseline's "
                         f"{mean_sd(base, key)}: {reading(comp, adjusted[id(best)])}; higher than the same-seed "
                         f"baseline in {comp.wins} of {comp.n} seeds.")
    return lines + (_best_p_line(cells, reference) if reference is not None else [])


def _table(cells: list[Cell]) -> list[str]:
    """Rows: the (roi, p) cells; metric columns no run has (older runs) are left out."""
    base = _baseline(cells)
    shown = [(title, key) for title, key in COLUMNS if not all(np.isnan(c.mean[key]) for c in cells)]
    head = ["ROI", "p", "seeds", *(title for title, _ in shown), "Δ mAP [95 % CI]", "p (Holm)",
            "Δ robustness [95 % CI]", "p (Holm)"]
    augmented = [c for c in cells if c.p > 0]
    columns = {}
    for key in ("mAP", "robust_mAP"):
        comps = [paired(c, base, key) for c in augmented] if base is not None else []
        columns[key] = {id(c): (comp, h) for c, comp, h in zip(augmented, comps, _family(comps))}
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        deltas = []
        for key in ("mAP", "robust_mAP"):
            comp, h = columns[key].get(id(c), (None, None))
            deltas += ["-", "-"] if comp is None else [ci(comp), p_holm(comp, h)]
        table.append("| " + " | ".join([c.roi if c.p else "baseline", f"{c.p:g}", ",".join(map(str, c.seeds)),
                                        *(mean_sd(c, k) for _, k in shown), *deltas]) + " |")
    return table


def _label(variant: Variant) -> str:
    return variant.label or variant.name


def _references(cells: list[Cell], first: Variant) -> dict[tuple[str, float], Cell]:
    """{(roi, p): the reference variant's cell}."""
    return {(c.roi, c.p): c for c in cells if c.p > 0 and c.variant == first.name}


def _versus_reference(cells: list[Cell], variants: tuple[Variant, ...]) -> dict[int, tuple[Paired, float]]:
    """{id(cell): (its mAP against the reference setting's cell of its (roi, p), Holm over the
    sweep's settings)} for every non-reference augmented cell."""
    ref = _references(cells, variants[0])
    others = [c for c in cells if c.p > 0 and c.variant != variants[0].name and (c.roi, c.p) in ref]
    comps = [paired(c, ref[(c.roi, c.p)], "mAP") for c in others]
    return {id(c): (comp, h) for c, comp, h in zip(others, comps, _family(comps))}


def _name(cell: Cell, labels: dict[str, str], several: bool) -> str:
    if cell.p == 0:
        return "baseline (no augmentation)"
    return labels[cell.variant] + (f" ({cell.roi}, p {cell.p:g})" if several else "")


def _variant_table(cells: list[Cell], shown: list[Variant], variants: tuple[Variant, ...]) -> list[str]:
    """Rows: the baseline, then every augmented (roi, p) of the `shown` variants."""
    base = _baseline(cells)
    labels = {v.name: _label(v) for v in variants}
    rows = [c for c in cells if c.p > 0 and c.variant in {v.name for v in shown}]
    several = len({(c.roi, c.p) for c in cells if c.p > 0}) > 1
    versus = _versus_reference(cells, variants)
    head = ["setting", "seeds", "mAP per seed", *(t for t, _ in VARIANT_COLUMNS), "Δ mAP [95 % CI]",
            "Δ robustness [95 % CI]", "Δ mAP vs reference [95 % CI]", "p vs reference (Holm)"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in ([base] if base is not None else []) + rows:
        per_seed = ", ".join(f"{100 * v:.1f}" for v in c.values["mAP"])
        to_base = [ci(paired(c, base, k)) if c is not base and base is not None else "-" for k in ("mAP", "robust_mAP")]
        to_ref = versus.get(id(c))
        table.append("| " + " | ".join([_name(c, labels, several), ",".join(map(str, c.seeds)), per_seed,
                                        *(mean_sd(c, k) for _, k in VARIANT_COLUMNS), *to_base,
                                        "-" if to_ref is None else ci(to_ref[0]),
                                        "-" if to_ref is None else p_holm(*to_ref)]) + " |")
    return table


def _probe_table(cells: list[Cell], variants: tuple[Variant, ...]) -> list[str]:
    """mAP on every test set the runs scored, per cell, with the neutral layout's differences to
    the baseline and to the reference; [] when no run scored a probe set."""
    shown = [(t, k) for t, k in PROBE_COLUMNS if not all(np.isnan(c.mean[k]) for c in cells)]
    if not any(k == "neutral_mAP" for _, k in shown):
        return []
    base, ref = _baseline(cells), _references(cells, variants[0]) if variants else {}
    labels = {v.name: _label(v) for v in variants}
    several = len({(c.roi, c.p) for c in cells if c.p > 0}) > 1
    head = ["setting", *(t for t, _ in shown), "Δ neutral vs baseline [95 % CI]", "Δ neutral vs reference [95 % CI]"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        name = _name(c, labels, several) if variants else (f"{c.roi}, p {c.p:g}" if c.p else "baseline")
        other = ref.get((c.roi, c.p))
        table.append("| " + " | ".join([name, *(mean_sd(c, k) for _, k in shown),
                                        "-" if c is base or base is None else ci(paired(c, base, "neutral_mAP")),
                                        "-" if other is None or other is c else ci(paired(c, other, "neutral_mAP"))])
                     + " |")
    return table


def _variant_verdict(cells: list[Cell], variants: tuple[Variant, ...]) -> list[str]:
    """Per group: which settings keep a clear mAP gain over the baseline, which differ clearly
    from the reference setting (the first variant), and the intervals of the others."""
    base = _baseline(cells)
    if base is None:
        return []
    versus = _versus_reference(cells, variants)
    lines = []
    for title, group in variant_groups(variants).items():
        names = {v.name: _label(v) for v in group}
        mine = [c for c in cells if c.p > 0 and c.variant in names]
        if not mine:
            continue
        several = len({(c.roi, c.p) for c in mine}) > 1
        label = {id(c): _name(c, names, several) for c in mine}
        gains = [(c, paired(c, base, "mAP")) for c in mine]
        lost = [f"{label[id(c)]} ({ci(g)})" for c, g in gains if not (g.clear and g.delta > 0)]
        to_ref = [(c, *versus[id(c)]) for c in mine if id(c) in versus]
        below = [f"{label[id(c)]} ({ci(d)})" for c, d, _ in to_ref if d.clear and d.delta < 0]
        above = [f"{label[id(c)]} ({ci(d)})" for c, d, _ in to_ref if d.clear and d.delta > 0]
        alike = [f"{label[id(c)]} ({ci(d)})" for c, d, _ in to_ref if not d.clear]
        line = f"- {title}: {len(mine) - len(lost)} of {len(mine)} settings keep a clear mAP gain over the baseline"
        line += f"; no gain detected: {', '.join(lost)}" if lost else ""
        line += f"; clearly below the reference: {', '.join(below)}" if below else ""
        line += f"; clearly above the reference: {', '.join(above)}" if above else ""
        line += f"; no difference from the reference detected: {', '.join(alike)}" if alike else ""
        lines.append(line + ".")
    return lines


def _contrast_table(sweep: Sweep, cells: list[Cell]) -> list[str]:
    """The sweep file's contrasts: one row per contrast and metric, paired by seed, Holm over the table."""
    by_key = {(c.roi, c.p, c.variant): c for c in cells}
    rows = []
    for contrast in sweep.file.contrasts:
        a, b = (by_key.get(contrast_cell(sweep.file, end)) for end in (contrast.a, contrast.b))
        if a is None or b is None:
            continue
        for key in contrast.metrics:
            rows.append((contrast.label or f"{contrast.a} vs {contrast.b}", key, a, b, paired(a, b, key)))
    if not rows:
        return []
    adjusted = _family([r[-1] for r in rows])
    head = ["contrast (a vs b)", "metric", "a", "b", "Δ [95 % CI]", "p (Holm)", "a higher in", "reading"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (label, key, a, b, comp), h in zip(rows, adjusted):
        word = "-" if np.isnan(comp.low) else ("clear" if comp.clear else "no difference detected")
        table.append("| " + " | ".join([label, METRIC_NAMES.get(key, key), mean_sd(a, key), mean_sd(b, key), ci(comp),
                                        p_holm(comp, h), f"{comp.wins} of {comp.n} seeds", word]) + " |")
    return table


def contrast_rows(sweep: Sweep, cells: list[Cell]) -> list[tuple[str, str, Paired]]:
    """(contrast label, metric, paired difference) of the sweep file's contrasts, for the figure."""
    by_key = {(c.roi, c.p, c.variant): c for c in cells}
    out = []
    for contrast in sweep.file.contrasts:
        a, b = (by_key.get(contrast_cell(sweep.file, end)) for end in (contrast.a, contrast.b))
        if a is not None and b is not None:
            out += [(contrast.label or f"{contrast.a} vs {contrast.b}", key, paired(a, b, key))
                    for key in contrast.metrics]
    return out


def results_section(sweep: Sweep, cells: list[Cell], level: int = 2) -> list[str]:
    """The results tables, the rule for *clear* and the verdict, under headings of `level`."""
    h = "#" * level
    variants = sweep.file.variants
    if not variants:
        several_p = len({c.p for c in cells if c.p > 0}) > 1
        tables = [f"{h} Results (percent; mean ± sample standard deviation over seeds)", "", *_table(cells), "",
                  CLEAR_RULE + (BEST_P_CAVEAT if several_p else ""), ""]
    else:
        first = variants[0]
        tables = [f"{h} Results (percent; mean ± sample standard deviation over seeds)", "",
                  f"Reference setting: {_label(first)}. Δ: paired differences to the baseline (mAP, robustness) "
                  f"and to the reference (mAP).", ""]
        for title, group in variant_groups(variants).items():
            tables += [f"{h}# {title}", "", *_variant_table(cells, [first, *group], variants), ""]
        tables += [VARIANT_RULE, ""]
    probes = _probe_table(cells, variants)
    if probes:
        tables += [f"{h}# Every test set (mAP, percent)", "", *probes, "", PROBE_RULE, ""]
    contrasts = _contrast_table(sweep, cells)
    if contrasts:
        tables += [f"{h}# Contrasts (paired by seed; Holm over the table)", "", *contrasts, ""]
    return tables + [f"{h} Verdict", "", *verdict(cells, sweep.file.reference, variants), ""]


def machine_line(rows: list[dict], sweep: Sweep) -> str:
    """Where the runs ran: the CPU models and torch thread counts the rows record, or what the
    sweep file's `machine` says of results that do not record them."""
    recorded = [r for r in rows if r.get("cpu") or r.get("threads")]
    if not recorded:
        known = sweep.file.machine or "not recorded by these runs"
        return f"**Machine.** {known}"
    parts = []
    for key, what in (("cpu", "CPU"), ("threads", "torch threads per run")):
        counts = Counter(str(r.get(key) or "not recorded") for r in rows)
        parts.append(f"{what}: " + "; ".join(f"{value} ({n} runs)" if len(counts) > 1 else value
                                             for value, n in counts.items()))
    return ("**Machine** (recorded by each run). " + ", ".join(parts) + ". CPU training is deterministic for a "
            "given CPU, thread count and code; another CPU or thread count trains other models from the same seeds.")


def sweep_section(sweep: Sweep, cells: list[Cell], n_runs: int, figure: str, level: int = 1,
                  machine: str = "") -> list[str]:
    """A sweep's page: heading, how to regenerate it, setup, machine, results, verdict and figures
    (the PNG at the relative path `figure`, and contrasts.png beside it when the sweep has
    contrasts); headings start at `level`."""
    finished = sum(len(c.seeds) for c in cells)
    h = "#" * level
    text = [f"{h} {sweep.title}", "",
            f"Regenerate: `python trainer/sweep.py {sweep.source}` (resumable; `--report-only` rebuilds "
            f"this page). {finished} of {n_runs} runs finished.", "",
            f"Base config `{sweep.file.base}`, with " + ", ".join(f"`{o}`" for o in sweep.overrides) + ".", ""]
    if sweep.file.notes:
        text += [sweep.file.notes, ""]
    if machine:
        text += [machine, ""]
    alt = "mAP and robustness per setting" if sweep.file.variants else "mAP and CMC per p"
    figures = [f"![{alt}]({figure})"]
    if sweep.file.contrasts:
        figures.append(f"![contrasts]({str(Path(figure).with_name('contrasts.png'))})")
    return text + results_section(sweep, cells, level + 1) + [f"{h}# Figure", "", *figures, ""]


def write_report(sweep: Sweep, cells: list[Cell], n_runs: int, path: Path, figure: str = "fig3.png",
                 machine: str = "") -> None:
    """report.md for `sweep` at `path`; `n_runs`: the runs of the whole grid; `figure`: the
    PNG's path relative to the report; `machine`: `machine_line` of its rows."""
    text = sweep_section(sweep, cells, n_runs, figure, machine=machine)
    comments = path.parent / "notes.md"  # hand-written reading of the results, kept beside the report
    if comments.is_file():
        at = text.index("## Figure")
        text[at:at] = ["## Notes", "", comments.read_text(encoding="utf-8").strip(), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text), encoding="utf-8")
