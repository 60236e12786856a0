"""``python -m raytune.search``: the main job. The search itself runs on Ray Tune (``raytune.tune``); this package
holds its command line and what a finished search reports."""

from __future__ import annotations

from raytune.search._report import SearchSummary, format_summary, plot_convergence, summarize, write_best

__all__ = ["SearchSummary", "format_summary", "plot_convergence", "summarize", "write_best"]
