"""`python -m benchmarks [--smoke]`: see benchmarks/README.md."""

import sys

from .run import main

sys.exit(main())
