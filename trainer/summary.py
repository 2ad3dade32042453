"""The final results table of a run (Markdown, percentages)."""
from __future__ import annotations

COLUMNS = (("rank-1", "rank1"), ("rank-5", "rank5"), ("rank-10", "rank10"), ("mAP", "mAP"),
           ("mINP", "mINP"), ("robustness (mAP, swapped bg)", "robust_mAP"),
           ("attention on the person", "attention"), ("Grad-CAM on the person", "gradcam"),
           ("swap rate", "swap_rate"))


def format_table(results: dict[str, dict]) -> str:
    """`{variant: {"augment_p", "minutes", "rank1", ..., "robust_mAP"?}}` -> a Markdown table.

    Metrics are fractions and are shown as percentages with one decimal; a metric a variant
    lacks (no robustness set, no test masks for the attention shares, no swap rate in an older
    record) shows as "-".
    """
    head = ["variant", "augment p"] + [title for title, _ in COLUMNS] + ["train min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        p = "-" if r.get("augment_p") is None else f"{r['augment_p']:g}"
        cells = [f"{100 * r[key]:.1f}" if key in r else "-" for _, key in COLUMNS]
        lines.append("| " + " | ".join([name, p, *cells, f"{r.get('minutes', 0):.1f}"]) + " |")
    return "\n".join(lines)
