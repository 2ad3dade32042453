"""Benchmark output: the JSON record, a Markdown table and a PNG bar chart (matplotlib, Agg).

The record is a plain dict (see `benchmarks.throughput`): "device", "versions", "git_commit",
"command", "config", "rows" (each with "key", "label", "group", "rate" from
`benchmarks.timing.Rate.to_dict()`, optional "note"), "ratios", "trainer", "skipped".
"""
from __future__ import annotations

import json
import os
from pathlib import Path

GROUP_COLOURS = {"authors": "#c44e52", "ours": "#4c72b0", "kernel": "#55a868"}
FILES = {"json": "throughput.json", "markdown": "throughput.md", "png": "throughput.png"}


def write_report(record: dict, folder: str | os.PathLike) -> dict[str, Path]:
    """Write throughput.json, throughput.md and throughput.png into `folder`; return their paths.

    Without matplotlib (e.g. a bare GPU machine) the PNG is left out, with a warning.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / name for kind, name in FILES.items()}
    paths["json"].write_text(json.dumps(record, indent=2) + "\n")
    paths["markdown"].write_text(markdown(record))
    try:
        bar_chart(record, paths["png"])
    except ImportError as e:
        print(f"warning: no bar chart ({e}); plot it later with "
              f"python -m attention_swap_reid.benchmarks.report {paths['json']}")
        del paths["png"]
    return paths


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def markdown(record: dict) -> str:
    """The results as Markdown: provenance lines, the table, the ratios, the trainer figure."""
    cfg = record["config"]
    first = next((r["rate"]["median"] for r in record["rows"] if r["key"] == "authors_aug"), None)
    lines = [
        f"# Throughput on {record['device']['name']}",
        "",
        f"- command: `{record['command']}`",
        f"- commit {record['git_commit']}; " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        f"- {cfg['train_images']} training images of `{cfg['manifest']}` at {cfg['size'][0]}x{cfg['size'][1]}, "
        f"batch {cfg['batch']}, {cfg['workers']} DataLoader workers / {cfg['workers']} pipeline threads "
        f"on the same {cfg['cpu_cores']} CPU cores",
        f"- images/s: median of {cfg['timing']['windows']} windows of >= {cfg['timing']['window_s']} s "
        f"after {cfg['timing']['warmup_s']} s warm-up; spread = quartiles and min-max",
        f"- 1-minute load average {cfg['load_average'][0]:.1f} at the start, {cfg['load_average'][1]:.1f} "
        f"at the end (other work on the same cores makes absolute figures noisy; ratios are side by side)",
        "",
        "| # | path | images/s | IQR | min-max | vs (1) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in record["rows"]:
        r = row["rate"]
        ratio = f"{r['median'] / first:.1f}x" if first else "-"
        label = row["label"] + (f" ({row['note']})" if row.get("note") else "")
        lines.append(f"| {row['id']} | {label} | {_fmt(r['median'])} | {_fmt(r['q1'])}-{_fmt(r['q3'])} "
                     f"| {_fmt(r['min'])}-{_fmt(r['max'])} | {ratio} |")
    lines += ["", "Ratios (medians):", ""]
    lines += [f"- {ratio['text']}: **{ratio['value']:.3g}**" for ratio in record["ratios"].values()]
    trainer = record.get("trainer", {})
    lines += ["", "Trainer (ResNet-50, AMP): " + (
        f"data-wait **{trainer['data_wait']:.1%}** of step time over {trainer['steps']} steps of batch "
        f"{trainer['batch']} fed by our loader with the augmentation, {trainer['img_s']:,.0f} images/s; the same steps on one cached "
        f"batch: {trainer['model_img_s']:,.0f} images/s"
        if "data_wait" in trainer else f"skipped: {trainer.get('skipped', '-')}")]
    for skip in record.get("skipped", []):
        lines.append(f"- not measured: {skip['key']}: {skip['reason']}")
    return "\n".join(lines) + "\n"


def bar_chart(record: dict, path: str | os.PathLike) -> None:
    """Horizontal bars of the median images/s (log scale), min-max whiskers, one colour per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["rows"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    y = list(range(len(rows)))[::-1]
    med = [r["rate"]["median"] for r in rows]
    err = [[m - r["rate"]["min"] for m, r in zip(med, rows)], [r["rate"]["max"] - m for m, r in zip(med, rows)]]
    ax.barh(y, med, xerr=err, color=[GROUP_COLOURS.get(r["group"], "#8c8c8c") for r in rows], capsize=3)
    ax.set_yticks(y, [f"({r['id']}) {r['label']}" for r in rows], fontsize=8)
    for yi, m, r in zip(y, med, rows):
        ax.text(r["rate"]["max"] * 1.05, yi, f" {_fmt(m)}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("images/s (median, min-max whiskers; log scale)")
    cfg = record["config"]
    ax.set_title(f"{record['device']['name']}: batch {cfg['batch']}, {cfg['size'][0]}x{cfg['size'][1]}, "
                 f"{cfg['workers']} workers/threads", fontsize=9)
    ax.set_xlim(right=max(r["rate"]["max"] for r in rows) * 4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.benchmarks.report",
                                     description="Re-draw the table and chart of a saved throughput.json beside it.")
    parser.add_argument("record", type=Path, help="a throughput.json written by benchmarks/throughput.py")
    args = parser.parse_args(argv)
    try:
        record = json.loads(args.record.read_text())
    except (OSError, ValueError) as e:
        parser.error(f"{args.record}: cannot read a throughput record: {e}")
    print(write_report(record, args.record.parent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
