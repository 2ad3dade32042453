"""`python -m attention_swap_reid.sweeps SWEEP.yaml [--dry-run] [--report-only] [--until HH:MM]` (see `sweeps.cli`)."""
import sys

from attention_swap_reid.sweeps.cli import main

sys.exit(main())
