"""benchmarks.report: JSON round trip, Markdown table, PNG chart from a hand-made record."""
import json

from attention_swap_reid.benchmarks.report import markdown, write_report
from attention_swap_reid.benchmarks.timing import Rate


def _record():
    def row(id_, key, group, rates):
        return {"id": id_, "key": key, "label": f"path {key}", "group": group, "note": "",
                "rate": Rate.from_windows(rates, images=100).to_dict()}

    return {
        "device": {"kind": "cpu", "name": "Test CPU (2 cores)", "slug": "cpu-test-cpu"},
        "versions": {"torch": "x", "numpy": "y"}, "git_commit": "abc", "command": "python benchmarks/throughput.py --quick",
        "config": {"batch": 32, "size": [256, 128], "workers": 2, "cpu_cores": 2, "train_images": 128,
                   "manifest": "m.csv", "load_average": [0.5, 1.25], "timing": {"windows": 3, "window_s": 1.0, "warmup_s": 0.5}},
        "rows": [row("1", "authors_aug", "authors", [10.0, 12.0, 11.0]),
                 row("4", "ours_aug", "ours", [500.0, 520.0, 480.0])],
        "ratios": {"ours_aug_over_authors_aug": {"value": 500.0 / 11.0, "text": "(4)/(1)"}},
        "trainer": {"skipped": "no GPU"},
        "skipped": [{"key": "variants", "reason": "not offered"}],
    }


def test_write_report_files(tmp_path):
    record = _record()
    paths = write_report(record, tmp_path / "out")
    assert json.loads(paths["json"].read_text()) == record
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["markdown"].read_text() == markdown(record)


def test_markdown_table_contents():
    text = markdown(_record())
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| # |"))
    table = lines[header:header + 4]
    assert len(table) == 4 and table[3].startswith("| 4 |")
    cells = [c.strip() for c in table[3].split("|")[1:-1]]
    assert cells[1] == "path ours_aug" and cells[2] == "500" and cells[3] == "490-510" and cells[4] == "480-520"
    assert cells[5] == f"{500 / 11:.1f}x"
    assert "(4)/(1): **45.5**" in text
    assert "skipped: no GPU" in text and "not measured: variants: not offered" in text
    assert "`python benchmarks/throughput.py --quick`" in text
    assert "load average 0.5 at the start, 1.2 at the end" in text
