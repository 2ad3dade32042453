"""`python benchmarks/throughput.py [options]` (also `python -m attention_swap_reid.benchmarks.throughput`): images/s
of the authors-style loader and ours, side by side; `--help` and `benchmarks.throughput_cli`
say the rest. This script only forwards to `benchmarks.throughput_cli`."""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script, benchmarks/ is sys.path[0]: drop it, so that benchmarks/*.py modules
    # (timing, report, ...) cannot shadow top-level names; the package comes from the install.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

if __name__ == "__main__":
    from attention_swap_reid.benchmarks.throughput_cli import main

    sys.exit(main())
