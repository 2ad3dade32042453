"""fig3.png of a sweep, in the style of the paper's Fig. 3: one panel per ROI, mAP bars per p
(with the seed standard deviation), rank-1/5/10 and robustness-mAP lines; p = 0 is the baseline."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kernels.config import ROI_MODES
from sweeps.plan import BASELINE_ROI
from sweeps.stats import Cell

LINES = (("rank1", "o-", "tab:red"), ("rank5", "s-", "tab:orange"),
         ("rank10", "^-", "tab:green"), ("robust_mAP", "x--", "tab:purple"))  # metric, style, colour
LABELS = {"robust_mAP": "mAP, swapped backgrounds"}


def write_figure(cells: list[Cell], path: Path) -> None:
    """Draw `cells` (from `summarize`) into the PNG at `path`."""
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
