"""``python -m raytune.recommend``: a configuration for a workload from the trained recommender, at once."""

from raytune.recommend._cli import main

__all__ = ["main"]
