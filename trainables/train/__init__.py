"""``python -m trainables.train``: trains the learned tuners on Ray Train (the Ray adapter lives here)."""

from trainables.train._cli import main

__all__ = ["main"]
