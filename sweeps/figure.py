"""The figures of a sweep. A grid of ROI x p: fig3.png, in the style of the paper's Fig. 3: one
panel per ROI, mAP bars per p (with the seed standard deviation), rank-1/5/10 and
robustness-mAP lines; p = 0 is the baseline. A sweep of variants: settings.png, one panel per
group of variants, mAP bars (± sd) and robustness marks per setting against the baseline's and
the reference setting's mAP. Contrasts: contrasts.png, the paired differences with their 95 %
intervals, one panel per metric. A suite with a trend: trend.png, the baseline and the
augmented model against x, and the gain with its interval."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from attention_swap_reid.kernels.config import ROI_MODES
from attention_swap_reid.sweeps.spec import Variant, variant_groups
from attention_swap_reid.sweeps.stats import BASELINE_ROI, Cell

LINES = (("rank1", "o-", "tab:red"), ("rank5", "s-", "tab:orange"),
         ("rank10", "^-", "tab:green"), ("robust_mAP", "x--", "tab:purple"))  # metric, style, colour
LABELS = {"robust_mAP": "mAP, swapped backgrounds"}


def figure_name(variants: tuple[Variant, ...]) -> str:
    return "settings.png" if variants else "fig3.png"


def write_figure(cells: list[Cell], path: Path, variants: tuple[Variant, ...] = ()) -> None:
    """Draw `cells` (from `summarize`) into the PNG at `path` (with `variants`: the settings figure)."""
    if variants:
        _variant_figure(cells, variants, path)
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = [c for c in cells if c.p == 0]
    rois = [roi for roi in ROI_MODES if any(c.roi == roi for c in cells)] or [BASELINE_ROI]
    fig, axes = plt.subplots(1, len(rois), figsize=(4.2 * len(rois), 3.9), sharey=True, squeeze=False)
    for ax, roi in zip(axes[0], rois):
        group = base + [c for c in cells if c.roi == roi]
        x = np.arange(len(group))
        pct = lambda key: np.array([100 * c.mean[key] for c in group])  # noqa: E731
        ax.bar(x, pct("mAP"), yerr=np.nan_to_num([100 * c.sd["mAP"] for c in group]), capsize=3,
               color=["0.75" if c.p == 0 else "#9ecae1" for c in group], label="mAP ± sd (grey: baseline)")
        for key, style, color in LINES:
            ax.plot(x, pct(key), style, color=color, ms=4, label=LABELS.get(key, key.replace("rank", "rank-")))
        ax.set_xticks(x, ["base" if c.p == 0 else f"{c.p:g}" for c in group])
        ax.set_title(f"{roi} body" if roi != BASELINE_ROI else "baseline")
        ax.set_xlabel("p")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("percent, mean over seeds")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _variant_figure(cells: list[Cell], variants: tuple[Variant, ...], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first, labels = variants[0].name, {v.name: v.label or v.name for v in variants}
    base = next((c for c in cells if c.p == 0), None)
    panels = [(title, [c for c in cells if c.p > 0 and c.variant in {first, *(v.name for v in group)}])
              for title, group in variant_groups(variants).items()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 0.9 + sum(0.32 * max(len(r), 1) + 0.5 for _, r in panels)),
                             gridspec_kw={"height_ratios": [max(len(r), 1) for _, r in panels]}, squeeze=False)
    for ax, (title, rows) in zip(axes[:, 0], panels):
        y = np.arange(len(rows))[::-1]
        several = len({(c.roi, c.p) for c in rows}) > 1
        ax.barh(y, [100 * c.mean["mAP"] for c in rows], xerr=np.nan_to_num([100 * c.sd["mAP"] for c in rows]),
                capsize=2, color=["#3182bd" if c.variant == first else "#9ecae1" for c in rows], label="mAP ± sd")
        ax.plot([100 * c.mean["robust_mAP"] for c in rows], y, "x", color="tab:purple",
                label="mAP, swapped backgrounds")
        if base is not None:
            ax.axvline(100 * base.mean["mAP"], color="0.4", ls="--", lw=1, label="baseline mAP")
        ax.set_yticks(y, [labels[c.variant] + (f" ({c.roi}, p {c.p:g})" if several else "") for c in rows], fontsize=8)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlim(0, 100)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("percent, mean over seeds (dark bar: the reference setting)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def write_contrasts(rows: list, path: Path) -> None:
    """A forest plot of `rows` ((label, metric, `stats.Paired`), from `report.contrast_rows`):
    each difference in points with its 95 % interval, one panel per metric."""
    plt = _pyplot()
    metrics = list(dict.fromkeys(key for _, key, _ in rows))
    sizes = [sum(key == m for _, key, _ in rows) for m in metrics]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.5, 0.8 + sum(0.35 * n + 0.55 for n in sizes)),
                             gridspec_kw={"height_ratios": sizes}, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        mine = [(label, c) for label, key, c in rows if key == metric]
        y = np.arange(len(mine))[::-1]
        delta = np.array([100 * c.delta for _, c in mine])
        low = np.array([100 * c.low for _, c in mine])
        high = np.array([100 * c.high for _, c in mine])
        err = np.nan_to_num(np.stack([delta - low, high - delta]))
        ax.errorbar(delta, y, xerr=err, fmt="o", color="#3182bd", capsize=3)
        ax.axvline(0, color="0.4", lw=1)
        ax.set_yticks(y, [label for label, _ in mine], fontsize=8)
        ax.set_title(metric, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("difference a - b, points (paired by seed; bars: 95 % interval)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_trend(rows: list, label: str, path: Path) -> None:
    """trend.png from `suite.trend_rows`: left, the baseline's and the augmented model's mean
    (± sd) against x per test set; right, the gain with its 95 % interval."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = dict(zip(dict.fromkeys(r[0] for r in rows), ("tab:blue", "tab:green", "tab:purple")))
    for key, colour in colours.items():
        mine = [r for r in rows if r[0] == key]
        x = np.array([r[1] for r in mine], float)
        for index, style, who in ((2, "o--", "baseline"), (3, "s-", "augmented")):
            left.errorbar(x, [100 * r[index].mean[key] for r in mine], yerr=np.nan_to_num([100 * r[index].sd[key] for r in mine]),
                          fmt=style, color=colour, capsize=3, label=f"{who}, {key}")
        gain = np.array([100 * r[4].delta for r in mine])
        err = np.nan_to_num(np.stack([gain - [100 * r[4].low for r in mine], [100 * r[4].high for r in mine] - gain]))
        right.errorbar(x, gain, yerr=err, fmt="o-", color=colour, capsize=3, label=key)
    right.axhline(0, color="0.4", lw=1)
    left.set_ylabel("percent, mean ± sd over seeds")
    right.set_ylabel("gain, points (95 % interval)")
    for ax in (left, right):
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
