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
        uniforms: torch.Tensor,
        rows_of: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Buckets [B, K] written one knob at a time. Row ``b`` draws knob ``i``'s bucket by inverse CDF with
        ``uniforms[b, i]`` in [0, 1); a NaN row takes the most likely bucket at every knob (greedy). Drawing
        from given uniforms makes each row's result independent of what else is in the batch.

        ``memory``/``pad`` hold one entry per workload and ``rows_of[b]`` names row ``b``'s workload (default:
        one row per workload). Decoding is incremental (cached keys and values, the memory projected once per
        workload): the same numbers as :meth:`forward` over the whole prefix, at a fraction of its cost.
        """
        b, k = knobs.shape
        rows_of = torch.arange(b, device=knobs.device) if rows_of is None else rows_of
        decoder = _IncrementalDecoder(self.decoder, memory, pad, rows_of)
        out = torch.zeros((b, k), dtype=torch.long, device=knobs.device)
        greedy_rows = torch.isnan(uniforms[:, 0])
        previous = torch.full((b,), BUCKETS, dtype=torch.long, device=knobs.device)
        for i in range(k):
            h = decoder.step(self.knob(knobs[:, i]) + self.bucket(previous))
            logits = self.out(h).masked_fill(self.invalid[knobs[:, i]], float("-inf"))
            last_valid = (~self.invalid[knobs[:, i]]).sum(dim=1) - 1
            drawn = (torch.softmax(logits, dim=1).cumsum(dim=1) < uniforms[:, i : i + 1]).sum(dim=1)
            previous = torch.where(greedy_rows, logits.argmax(dim=1), torch.minimum(drawn, last_valid))
            out[:, i] = previous
        return out


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[B, L, d] -> [B, heads, L, d / heads]."""
    b, length, d = x.shape
    return x.view(b, length, n_heads, d // n_heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, length, dh = x.shape
    return x.transpose(1, 2).reshape(b, length, h * dh)


class _IncrementalDecoder:
    """A post-norm ``nn.TransformerDecoder`` (eval mode) run one position at a time: each layer keeps the keys
    and values of the positions written so far, and the memory's keys and values are computed once per
    workload, then shared by that workload's rows."""

    def __init__(
        self, decoder: nn.TransformerDecoder, memory: torch.Tensor, pad: torch.Tensor, rows_of: torch.Tensor
    ) -> None:
        assert decoder.norm is None and not decoder.layers[0].norm_first, "written for post-norm layers"
        self.layers = list(decoder.layers)
        self.heads = self.layers[0].self_attn.num_heads
        self.past: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.layers)
        counts = torch.bincount(rows_of, minlength=memory.shape[0])
        n = int(counts[0]) if len(counts) else 0
        # Rows grouped by workload, the same number each (the usual case): each workload's rows attend to its
        # memory together, without copying the memory's keys and values once per row.
        self.group = n if n > 0 and bool((counts == n).all()) and bool(
            torch.equal(rows_of, torch.arange(len(counts), device=rows_of.device).repeat_interleave(n))
        ) else 0  # fmt: skip
        pick = (lambda t: t) if self.group else (lambda t: t[rows_of])
        self.cross = []
        for layer in self.layers:
            d = memory.shape[-1]
            w, bias = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            k = nn.functional.linear(memory, w[d : 2 * d], bias[d : 2 * d])
            v = nn.functional.linear(memory, w[2 * d :], bias[2 * d :])
            self.cross.append((pick(_heads(k, self.heads)), pick(_heads(v, self.heads))))
        self.attend = pick(~pad)[:, None, None, :]  # True where a memory token takes part

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's output [B, d] at the next position, given that position's input [B, d]."""
        h = x[:, None, :]
        for i, layer in enumerate(self.layers):
            sa = layer.self_attn
            q, k, v = nn.functional.linear(h, sa.in_proj_weight, sa.in_proj_bias).chunk(3, dim=-1)
            q, k, v = _heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads)
            past = self.past[i]
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            self.past[i] = (k, v)
            a = nn.functional.scaled_dot_product_attention(q, k, v)
            h = layer.norm1(h + sa.out_proj(_merge(a)))
            ca = layer.multihead_attn
            d = h.shape[-1]
            q = _heads(nn.functional.linear(h, ca.in_proj_weight[:d], ca.in_proj_bias[:d]), self.heads)
            a = self._cross_attention(q, *self.cross[i])
            h = layer.norm2(h + ca.out_proj(_merge(a)))
            h = layer.norm3(h + layer.linear2(layer.activation(layer.linear1(h))))
        return h[:, 0, :]

    def _cross_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Queries [B, heads, 1, dh] of every row against their workload's memory."""
        if not self.group:
            return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=self.attend)
        b, h, _, dh = q.shape
        grouped = q.view(b // self.group, self.group, h, dh).transpose(1, 2)  # [W, heads, n, dh]
        a = nn.functional.scaled_dot_product_attention(grouped, k, v, attn_mask=self.attend)
        return a.transpose(1, 2).reshape(b, h, dh).unsqueeze(2)
