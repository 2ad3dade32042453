"""The experiment driver: a sweep file (`configs/sweep_*.yaml`) names a grid of training runs;
`python -m attention_swap_reid.sweeps SWEEP.yaml` (or `python trainer/sweep.py SWEEP.yaml`) trains them one by one
as `trainer/run.py` subprocesses and writes the results and the report beside the other
experiments (`experiments/<sweep>/`).

Modules, each importing only those before it (no cycle; `tests/sweeps/test_layers.py`):
`stats` (seeds combined per cell, comparisons), `spec` (the sweep file's keys, validated by the
trainer's typed config machinery), `plan` (the runs of the grid and its variants, and their
order) -- these three read and write nothing --, then the modules with side effects: `inputs`
(reads the sweep file and every run's trainer config; makes the synthetic world and the
degraded masks), `runner` (subprocesses, side by side with `--jobs`, deadlines, finished runs,
results.csv), `report` (report.md and its verdict), `figure` (fig3.png or settings.png),
`suite` (several sweeps, one report), `cli` (the command line). How to write a sweep file:
docs/experiments.md.

May import `kernels`, `dali_pipes`, `prepare` and `trainer`; nothing imports `sweeps`
(`trainer/sweep.py` is a script that only forwards to `sweeps.cli`).
"""
