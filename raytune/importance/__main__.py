"""``python -m raytune.importance``."""

from __future__ import annotations

import sys

from raytune.importance._cli import main

sys.exit(main())
