"""`python -m core`: TuneLab's command line (see core/cli/)."""
import sys

from core.cli import main

sys.exit(main())
