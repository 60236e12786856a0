"""``python -m raytune.search``."""

from __future__ import annotations

import sys

from raytune.search._cli import main

sys.exit(main())
