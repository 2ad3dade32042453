"""The BoT-style ReID trainer: `python trainer/run.py CONFIG` (see `trainer.run`).

Library modules take plain keyword arguments: `model` (ResNet + BNNeck), `losses`, `optim`,
`engine` (one training epoch), `features` + `evaluate` + `rerank` (DESIGN §5 evaluation),
`checkpoint`, `metrics_log`, `distributed`, `provenance`, `summary`. The config tree is
`config` (built by `typed_tree`); only the CLI modules (`run`, `fit`, `preflight`) read it.
May import `kernels`, `dali_pipes` and `prepare`; nothing but `benchmarks` and `examples`
imports `trainer`.
"""
