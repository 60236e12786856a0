import os
import sys

# Serve reads its throughput-optimised mode at import, here and in the Ray processes this one starts.
os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")

from serve._cli import main  # noqa: E402

sys.exit(main())
