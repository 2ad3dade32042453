"""Throughput benchmark (`python benchmarks/throughput.py`, body in `throughput_cli`) and its reference loaders.

`authors_loader` (the authors' per-sample approach, for comparison only), `timing` (warm-up,
timed windows, median and spread), `steps` (what is timed), `trainer_wait` (the trainer's
data-wait share on a GPU), `report` (JSON, Markdown, PNG). Committed results live in
`benchmarks/results/<device>/`. May import every project package, `trainer` included.
"""
