"""The BoT-style ReID trainer: `python trainer/run.py CONFIG` (see `trainer.cli`).

Library modules take plain keyword arguments: `backbones` (the table of backbones: torchvision
ResNets, IBN-Net-a, timm), `model` (backbone + BNNeck),
`losses`, `optim`, `engine` (one training epoch), `features` + `evaluate` + `rerank` (the
standard ReID protocol), `attention` (where the network looks), `checkpoint`, `run_folder`
(creation, lock), `errors`, `metrics_log`, `distributed`, `provenance`, `summary`. The config
tree is `config` (built by `typed_tree`); only the CLI modules (`run`, `fit`, `preflight`,
`extract`, `visrank`; `cli` is what `run.py` runs) and `feature_extractor` (a trained run's model
as torchreid's `FeatureExtractor`) read it.
May import `kernels`, `dali_pipes` and `prepare`; nothing but `benchmarks`, `examples` and
`sweeps` imports `trainer`.
"""
