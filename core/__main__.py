"""`python -m core`: TuneLab's command line (see core/cli.py)."""
import sys

from core.cli import main

sys.exit(main())
