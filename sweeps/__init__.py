"""The experiment driver: a sweep file (`configs/sweep_*.yaml`) names a grid of training runs;
`python -m sweeps SWEEP.yaml` (or `python trainer/sweep.py SWEEP.yaml`) trains them one by one
as `trainer/run.py` subprocesses and writes the results and the report beside the other
experiments (`experiments/<sweep>/`).

Modules: `spec` (the sweep file, validated by the trainer's typed config machinery), `plan`
(the runs of the grid and their order), `runner` (subprocesses, deadlines, finished runs,
results.csv), `stats` (seeds combined per cell, comparisons), `report` (report.md and its
verdict), `figure` (fig3.png), `cli` (the command line).

May import `kernels`, `dali_pipes` and `trainer`; nothing imports `sweeps` (`trainer/sweep.py`
is a script that only forwards to `sweeps.cli`).
"""
