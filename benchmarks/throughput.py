"""`python benchmarks/throughput.py [options]` (also `python -m benchmarks.throughput`): images/s
of the authors-style loader and ours, side by side; `--help` and `benchmarks.throughput_cli`
say the rest. This script only forwards to `benchmarks.throughput_cli`."""
from __future__ import annotations

import os
import sys

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script: benchmarks/ is sys.path[0]; put the repository root there instead so that
    # benchmarks/*.py modules cannot shadow top-level names and `benchmarks.*` imports work.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

if __name__ == "__main__":
    from benchmarks.throughput_cli import main

    sys.exit(main())
