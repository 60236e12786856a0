"""The generative recommender: trained layers over a frozen text encoder, and a transformer decoder that writes
one bucket per knob, in the engine's knob order, each conditioned on the buckets written before it.

Memory the decoder attends to: the backbone's token states projected to ``d_model`` and passed through a
trained encoder layer (the "top layers"), plus one token for the numeric facts. Decoder input at knob ``i``:
the knob's embedding plus the embedding of the bucket written at ``i - 1`` (a start symbol at 0), causally
masked. Output: logits over the ten buckets, with the buckets a knob lacks (a choice of fewer than ten) masked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from trainables.recommender._buckets import BUCKETS


@dataclass(frozen=True)
class RecommenderArch:
    """Shapes of the network; ``vocabulary`` is every knob it can write (``engine.knob``)."""

    vocabulary: tuple[str, ...]
    bucket_counts: tuple[int, ...]
    text_dim: int = 384
    n_numeric: int = 0
    d_model: int = 128
    n_heads: int = 4
    top_layers: int = 1
    decoder_layers: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> RecommenderArch:
        return cls(**{**d, "vocabulary": tuple(d["vocabulary"]), "bucket_counts": tuple(d["bucket_counts"])})  # type: ignore[arg-type]


class RecommenderNet(nn.Module):
    """``encode`` the workload once, then ``forward`` (teacher forcing) or ``sample`` knob buckets."""

    def __init__(self, arch: RecommenderArch) -> None:
        super().__init__()
        self.arch = arch
        d = arch.d_model
        self.text_proj = nn.Sequential(nn.Linear(arch.text_dim, d), nn.LayerNorm(d))
        layer = nn.TransformerEncoderLayer(d, arch.n_heads, 2 * d, arch.dropout, "gelu", batch_first=True)
        self.top = nn.TransformerEncoder(layer, arch.top_layers, enable_nested_tensor=False)
        self.numeric = nn.Sequential(
            nn.Linear(arch.n_numeric, d), nn.GELU(), nn.Linear(d, d), nn.LayerNorm(d)
        )
        self.knob = nn.Embedding(len(arch.vocabulary), d)
        self.bucket = nn.Embedding(BUCKETS + 1, d)  # index BUCKETS: the start symbol
        dec = nn.TransformerDecoderLayer(d, arch.n_heads, 2 * d, arch.dropout, "gelu", batch_first=True)
        self.decoder = nn.TransformerDecoder(dec, arch.decoder_layers)
        self.out = nn.Linear(d, BUCKETS)
        counts = torch.as_tensor(arch.bucket_counts)
        self.register_buffer("invalid", torch.arange(BUCKETS)[None, :] >= counts[:, None], persistent=False)

    def encode(
        self, text: torch.Tensor, text_pad: torch.Tensor, numeric: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory [B, T + 1, d], its padding mask [B, T + 1]) from token states [B, T, text_dim] (``text_pad``
        True at padding) and numeric facts [B, n_numeric]."""
        tokens = self.text_proj(text)
        tokens = torch.cat([self.numeric(numeric)[:, None, :], tokens], dim=1)
        pad = torch.cat([torch.zeros_like(text_pad[:, :1]), text_pad], dim=1)
        return self.top(tokens, src_key_padding_mask=pad), pad

    def forward(
        self, memory: torch.Tensor, pad: torch.Tensor, knobs: torch.Tensor, previous: torch.Tensor
    ) -> torch.Tensor:
        """Logits [B, K, BUCKETS] for knob ids [B, K] given the buckets before each (``previous`` [B, K]: the
        start symbol, then the targets shifted by one)."""
        x = self.knob(knobs) + self.bucket(previous)
        k = knobs.shape[1]
        causal = torch.triu(torch.ones(k, k, dtype=torch.bool, device=x.device), diagonal=1)
        h = self.decoder(x, memory, tgt_mask=causal, memory_key_padding_mask=pad)
        return self.out(h).masked_fill(self.invalid[knobs], float("-inf"))

    @torch.no_grad()
    def sample(
        self,
        memory: torch.Tensor,
        pad: torch.Tensor,
        knobs: torch.Tensor,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Buckets [B, K] written one knob at a time; ``temperature`` 0 takes the most likely bucket."""
        b, k = knobs.shape
        previous = torch.full((b, k), BUCKETS, dtype=torch.long, device=knobs.device)
        out = torch.zeros((b, k), dtype=torch.long, device=knobs.device)
        for i in range(k):
            logits = self.forward(memory, pad, knobs[:, : i + 1], previous[:, : i + 1])[:, i]
            if temperature <= 0:
                pick = logits.argmax(dim=1)
            else:
                probs = torch.softmax(logits / temperature, dim=1)
                pick = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            out[:, i] = pick
            if i + 1 < k:
                previous[:, i + 1] = pick
        return out
