"""The experiment driver: a sweep file (`configs/sweep_*.yaml`) names a grid of training runs;
`python -m attention_swap_reid.sweeps SWEEP.yaml` (or `python trainer/sweep.py SWEEP.yaml`) trains them one by one
as `trainer/run.py` subprocesses and writes the results and the report beside the other
experiments (`experiments/<sweep>/`).

Modules: `spec` (the sweep file, validated by the trainer's typed config machinery), `plan`
(the runs of the grid and its variants, and their order), `inputs` (degraded masks made before
the runs that need them), `runner` (subprocesses, side by side with `--jobs`, deadlines,
finished runs, results.csv), `stats` (seeds combined per cell, comparisons), `report`
(report.md and its verdict), `figure` (fig3.png or settings.png), `suite` (several sweeps,
one report), `cli` (the command line). How to write a sweep file: docs/experiments.md.

May import `kernels`, `dali_pipes`, `prepare` and `trainer`; nothing imports `sweeps`
(`trainer/sweep.py` is a script that only forwards to `sweeps.cli`).
"""
