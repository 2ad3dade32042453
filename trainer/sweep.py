"""`python trainer/sweep.py SWEEP.yaml [--dry-run] [--report-only] [--until HH:MM]`: the command
the README, the sweep files and their reports name; the experiment driver is the `sweeps`
package (`python -m attention_swap_reid.sweeps`), which this script only forwards to."""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    _here = os.path.dirname(os.path.abspath(__file__))  # as in trainer/run.py
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

if __name__ == "__main__":
    from attention_swap_reid.sweeps.cli import main

    sys.exit(main())
