"""``python -m raytune.trial``."""

from __future__ import annotations

import sys

from raytune.trial._cli import main

sys.exit(main())
