"""`python -m edgecv.cli ...` runs the command line (tests and devices without the script)."""
import sys

from edgecv.cli import main

sys.exit(main())
