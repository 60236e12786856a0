"""The domain-adversarial cost model: a SAINT-style encoder over feature-group tokens, a regression head, and a
domain classifier behind a gradient-reversal layer (seed document 003's architecture, with one token per
feature group instead of per feature so that a CPU core predicts over ten thousand configurations a second)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DANNArch:
    """Shapes of the network."""

    group_sizes: tuple[int, ...]
    n_workload: int
    n_hardware: int
    plan_dim: int = 384
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.15

    @property
    def n_features(self) -> int:
        return sum(self.group_sizes)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.alpha = alpha  # type: ignore[attr-defined]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.alpha * grad, None  # type: ignore[attr-defined]


def reverse_gradient(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Identity forward; the gradient multiplied by ``-alpha`` backward."""
    return _ReverseGradient.apply(x, alpha)


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CORAL: squared Frobenius distance of the two feature covariances, over 4 d^2."""
    if source.shape[0] < 2 or target.shape[0] < 2:
        return source.new_zeros(())
    d = source.shape[1]

    def cov(x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=0, keepdim=True)
        return x.T @ x / (x.shape[0] - 1)

    return ((cov(source) - cov(target)) ** 2).sum() / (4 * d * d)


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class DANNCostModel(nn.Module):
    """Predicts a configuration's normalised log cost for a workload; exposes its latent ``z`` for alignment."""

    def __init__(self, arch: DANNArch) -> None:
        super().__init__()
        self.arch = arch
        d = arch.d_model
        self.group_sizes = list(arch.group_sizes)
        # One token per knob group (values and masks), one for the workload features.
        self.tokens = nn.ModuleList(
            [nn.Linear(2 * g, d) for g in arch.group_sizes] + [nn.Linear(arch.n_workload, d)]
        )
        self.token_type = nn.Parameter(torch.randn(len(self.tokens), d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, arch.n_heads, dim_feedforward=2 * d, dropout=arch.dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, arch.n_layers, enable_nested_tensor=False)
        head_in = d + arch.plan_dim + arch.n_features + arch.n_hardware
        self.head = _mlp([head_in, 256, 128, 64, 1], arch.dropout)
        self.domain = _mlp([d, 128, 64, 1], arch.dropout)

    def forward(
        self,
        knobs: torch.Tensor,
        masks: torch.Tensor,
        workload: torch.Tensor,
        plan: torch.Tensor,
        hardware: torch.Tensor,
        alpha: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predicted cost [B], latent z [B, d], domain logit [B]: target vs source)."""
        tokens = []
        start = 0
        for proj, size in zip(self.tokens[:-1], self.group_sizes, strict=True):
            part = torch.cat([knobs[:, start : start + size], masks[:, start : start + size]], dim=1)
            tokens.append(proj(part))
            start += size
        tokens.append(self.tokens[-1](workload))
        x = torch.stack(tokens, dim=1) + self.token_type
        z = self.encoder(x).mean(dim=1)
        cost = self.head(torch.cat([z, plan, masks, hardware], dim=1)).squeeze(1)
        if not self.training and alpha == 0.0 and not torch.is_grad_enabled():
            return cost, z, cost.new_zeros(cost.shape)  # prediction: the domain classifier is not needed
        domain = self.domain(reverse_gradient(z, alpha)).squeeze(1)
        return cost, z, domain
