"""Dataset preparation CLIs: synthetic world, Market-1501/DukeMTMC/MSMT17/RAP importers, person masks.

`prepare.synthetic` renders the embedded default dataset (a synthetic pedestrian world with
exact masks and a built-in background shortcut); the importers write manifests (docs/datasets.md)
for the real datasets; `prepare.masks` makes person masks. May import `dali_pipes.manifest`.
"""
