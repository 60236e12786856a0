"""``python -m raytune.corpus``."""

from __future__ import annotations

import sys

from raytune.corpus._cli import main

sys.exit(main())
