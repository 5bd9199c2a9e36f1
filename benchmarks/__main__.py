"""``python -m benchmarks``: run the suite and print the table."""

import sys

from .suite import main

sys.exit(main())
