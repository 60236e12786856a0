"""The two-gate mixture of experts: plan encoder, workload pooling, engine and lake gates, experts, head."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MoEShape:
    """Sizes of the network (the seed's defaults: 4 kernels x 72 channels, 4 pooling heads)."""

    node_features: int
    conf_features: int
    n_queries: int
    n_engines: int
    n_lakes: int
    channels: int = 72
    kernels: int = 4
    tree_layers: int = 2
    pool_heads: int = 4
    expert_dim: int = 128
    conf_dim: int = 64
    dropout: float = 0.1
    # Column of ``conf_x`` holding the config's prior log ratio; the head then predicts a correction to it.
    prior_column: int | None = None

    def to_dict(self) -> dict[str, int | float | None]:
        return asdict(self)

    @property
    def query_dim(self) -> int:
        return self.channels * self.kernels

    @property
    def workload_dim(self) -> int:
        return self.query_dim * (self.pool_heads + 2)


def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class TreeConv(nn.Module):
    """One tree-convolution layer: a node mixes with its left and right child."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.self_w = nn.Linear(d_in, d_out)
        self.left_w = nn.Linear(d_in, d_out, bias=False)
        self.right_w = nn.Linear(d_in, d_out, bias=False)

    def forward(self, x: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        out = self.self_w(x) + self.left_w(x[left]) + self.right_w(x[right])
        out = F.leaky_relu(out)
        return torch.cat([torch.zeros_like(out[:1]), out[1:]])  # keep the padding node at zero


class TreeQueryEncoder(nn.Module):
    """Tree convolution (several kernels) with channel attention, max pooling per tree and per-query LayerNorm.

    Queries without a plan get a learnable embedding: their own while training, a shared one for queries never
    seen in training.
    """

    def __init__(self, shape: MoEShape) -> None:
        super().__init__()
        self.kernels = nn.ModuleList()
        for _ in range(shape.kernels):
            dims = [shape.node_features] + [shape.channels] * shape.tree_layers
            self.kernels.append(nn.ModuleList(TreeConv(a, b) for a, b in zip(dims, dims[1:], strict=False)))
        d = shape.query_dim
        self.attn = _mlp([d, max(8, d // 8), d])
        self.norm = nn.LayerNorm(d)
        self.no_plan = nn.Embedding(shape.n_queries + 1, d)  # row 0: shared, for unseen plan-less queries
        nn.init.normal_(self.no_plan.weight, std=0.1)

    def forward(
        self,
        node_x: torch.Tensor,
        left: torch.Tensor,
        right: torch.Tensor,
        tree: torch.Tensor,
        has_plan: torch.Tensor,
        known: torch.Tensor,
    ) -> torch.Tensor:
        """Embeddings of all queries, [Q, query_dim]. ``known`` marks queries whose own no-plan row is trained."""
        outs = []
        for layers in self.kernels:
            h = node_x
            for layer in layers:
                h = layer(h, left, right)
            outs.append(h)
        h = torch.cat(outs, dim=1)[1:]
        owner = tree[1:]
        n_q = has_plan.shape[0]
        idx = owner.unsqueeze(1).expand(-1, h.shape[1])
        counts = torch.zeros(n_q, device=h.device).index_add_(0, owner, torch.ones_like(owner, dtype=h.dtype))
        mean = torch.zeros(n_q, h.shape[1], device=h.device).index_add_(0, owner, h) / counts.clamp(
            min=1
        ).unsqueeze(1)
        mx = torch.full((n_q, h.shape[1]), -1e4, device=h.device).scatter_reduce(0, idx, h, "amax")
        gate = torch.sigmoid(self.attn(mean) + self.attn(mx))  # channel attention (CBAM's channel branch)
        pooled = torch.full((n_q, h.shape[1]), -1e4, device=h.device).scatter_reduce(
            0, idx, h * gate[owner], "amax"
        )
        ids = torch.where(
            known, torch.arange(1, n_q + 1, device=h.device), torch.zeros_like(known, dtype=torch.long)
        )
        emb = torch.where(has_plan.unsqueeze(1), pooled, self.no_plan(ids))
        return self.norm(emb)


class AttentionPool(nn.Module):
    """Multi-head attention pooling over a workload's queries, concatenated with their mean and max."""

    def __init__(self, shape: MoEShape) -> None:
        super().__init__()
        self.score = nn.Linear(shape.query_dim, shape.pool_heads)

    def forward(self, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``q`` [B, L, d] query embeddings of B workloads padded to L; ``mask`` [B, L] true for real members."""
        s = self.score(q).masked_fill(~mask.unsqueeze(-1), -1e9)  # [B, L, H]
        w = torch.softmax(s, dim=1)
        heads = torch.einsum("blh,bld->bhd", w, q).flatten(1)
        m = mask.unsqueeze(-1).float()
        mean = (q * m).sum(1) / m.sum(1).clamp(min=1)
        mx = q.masked_fill(~mask.unsqueeze(-1), -1e9).amax(1)
        return torch.cat([heads, mean, mx], dim=1)


class TwoGateMoE(nn.Module):
    """Engine gate and lake gate over a workload embedding, one expert per engine and per lake, a config
    encoder, and a head that predicts log(latency / per-query optimum) for an (engine, lake, config)."""

    def __init__(self, shape: MoEShape) -> None:
        super().__init__()
        self.shape = shape
        self.encoder = TreeQueryEncoder(shape)
        self.pool = AttentionPool(shape)
        w, e = shape.workload_dim, shape.expert_dim
        self.engine_gate = _mlp([w, 128, 256, shape.n_engines], shape.dropout)
        self.lake_gate = _mlp([w, 128, 256, shape.n_lakes], shape.dropout)
        self.engine_experts = nn.ModuleList(_mlp([w, 256, e], shape.dropout) for _ in range(shape.n_engines))
        self.lake_experts = nn.ModuleList(_mlp([w, 256, e], shape.dropout) for _ in range(shape.n_lakes))
        self.conf_encoder = _mlp([shape.conf_features, 64, 64, shape.conf_dim])
        self.head = _mlp([2 * e + shape.conf_dim + shape.query_dim, 128, 1], shape.dropout)
        if shape.prior_column is not None:
            # Start from the prior exactly: training then only learns where a query departs from it.
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "encoder": list(self.encoder.parameters()),
            "gates": list(self.pool.parameters())
            + list(self.engine_gate.parameters())
            + list(self.lake_gate.parameters()),
            "experts": list(self.engine_experts.parameters())
            + list(self.lake_experts.parameters())
            + list(self.conf_encoder.parameters())
            + list(self.head.parameters()),
        }

    def gates(self, wl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Engine and lake logits of workload embeddings [B, workload_dim]."""
        return self.engine_gate(wl), self.lake_gate(wl)

    def experts(self, wl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every engine expert's and every lake expert's output for workload embeddings: [B, E, e], [B, L, e]."""
        return (
            torch.stack([ex(wl) for ex in self.engine_experts], 1),
            torch.stack([ex(wl) for ex in self.lake_experts], 1),
        )

    def predict(
        self,
        wl: torch.Tensor,
        qemb: torch.Tensor,
        engine: torch.Tensor,
        lake: torch.Tensor,
        conf_x: torch.Tensor,
    ) -> torch.Tensor:
        """Predicted log ratio for rows (workload embedding, query embedding, engine id, lake id, config).

        With ``shape.prior_column`` set, the prediction is that column of ``conf_x`` (the config's log ratio
        on the training queries) plus the head's correction.
        """
        eng_out, lake_out = self.experts(wl)
        ar = torch.arange(wl.shape[0], device=wl.device)
        z = torch.cat([eng_out[ar, engine], lake_out[ar, lake], self.conf_encoder(conf_x), qemb], dim=1)
        out = self.head(z).squeeze(1)
        if self.shape.prior_column is not None:
            out = out + conf_x[:, self.shape.prior_column]
        return out

    def predict_grid(
        self,
        wl: torch.Tensor,
        qemb: torch.Tensor,
        engine: torch.Tensor,
        lake: torch.Tensor,
        conf_x: torch.Tensor,
    ) -> torch.Tensor:
        """:meth:`predict` for every (query, config) pair of one workload, [Q, C]: the workload embedding
        [1, workload_dim] goes through each expert once, each config [C, F] through the config encoder once."""
        eng_out, lake_out = (out[0] for out in self.experts(wl))  # [E, e], [L, e]
        per_conf = torch.cat([eng_out[engine], lake_out[lake], self.conf_encoder(conf_x)], dim=1)  # [C, .]
        q, c = qemb.shape[0], conf_x.shape[0]
        z = torch.cat([per_conf.expand(q, -1, -1), qemb[:, None, :].expand(-1, c, -1)], dim=2)
        out = self.head(z).squeeze(2)
        if self.shape.prior_column is not None:
            out = out + conf_x[:, self.shape.prior_column][None, :]
        return out
