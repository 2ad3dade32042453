"""`python -m sweeps SWEEP.yaml [--dry-run] [--report-only] [--until HH:MM]` (see `sweeps.cli`)."""
import sys

from sweeps.cli import main

sys.exit(main())
