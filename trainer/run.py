"""`python trainer/run.py CONFIG [--set key=value ...]` (also `python -m attention_swap_reid.trainer.run`): train and
evaluate a BoT ReID model; `--help` and `trainer.cli` say the rest. This script only forwards to
`trainer.cli`."""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script, trainer/ is sys.path[0]: drop it, so that trainer/*.py modules (config,
    # model, ...) cannot shadow top-level names; the package itself comes from the install.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

if __name__ == "__main__":
    from attention_swap_reid.trainer.cli import main

    sys.exit(main())
