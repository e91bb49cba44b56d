"""Cross-modal consensus fusion (CO2-Net's CCM) generalised to N modalities.

Each modality in turn is the *main* one. Its own global context (time-average -> linear ->
LeakyReLU) gates, channel by channel, the *local* context of the other modalities (k=3 conv of
each other modality into the main width, averaged over the modalities present):
``filtered_m = sigmoid(local_others * global_m) * main_m``. An attention unit turns each
filtered feature into a class-agnostic foreground attention; the fused attention is the mean
over the modalities a video has (``attention_fusion="mean"``, CO2-Net's choice) or their
maximum (``"max"``: a segment carried by one modality only keeps that modality's attention,
which suits audio-visual sentiment, where the cue is often in one channel), or the output of
one more attention unit on all the filtered features (``"joint"``: the per-modality attentions
are then only returned for the mutual-learning and norm terms), or the mean of that joint unit
and the per-modality attentions (``"joint_mean"``: the joint unit counts as one more member of
CO2-Net's average, so the per-modality units shape the output; the joint attention is returned
as ``joint`` for the mutual-learning term). With two
modalities and equal widths this is CO2-Net's pair of modules (``vAttn``, ``fAttn``); the
official module's k=3 conv on a length-1 input is a linear map, written as one here.

Missing modalities (a video without audio) are masked: they contribute no local context, their
attention is left out of the mean and their filtered feature is zero. A main modality whose
others are all missing is gated by its global context alone. Every temporal conv output is
re-masked so that padding never leaks into real snippets.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .masked import masked_mean


ATTENTION_FUSIONS = ("mean", "max", "joint", "joint_mean")


class AttentionUnit(nn.Module):
    """k3 conv -> LReLU -> dropout -> k3 conv -> LReLU -> 1x1 conv -> sigmoid: (B, D, T) -> (B, T)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv1d(dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv1d(hidden, 1, 1)
        self.act = nn.LeakyReLU(0.2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, None, :].to(x.dtype)
        h = self.drop(self.act(self.conv1(x)) * m)
        h = self.act(self.conv2(h)) * m
        return torch.sigmoid(self.out(h))[:, 0]


class ConsensusFusion(nn.Module):
    """N-modality consensus: ``forward(features, mask, modality_mask)``.

    Args:
        dims: modality -> channel width of its (encoded) feature.
        attention_hidden: width of each attention unit.
        dropout: dropout on the global/local context and inside the attention units.
    """

    def __init__(self, dims: Mapping[str, int], attention_hidden: int = 128, dropout: float = 0.5,
                 attention_fusion: str = "mean"):
        super().__init__()
        if not dims:
            raise ValueError("ConsensusFusion needs at least one modality")
        if attention_fusion not in ATTENTION_FUSIONS:
            raise ValueError(f"attention_fusion must be one of {ATTENTION_FUSIONS}, got {attention_fusion!r}")
        self.attention_fusion = attention_fusion
        self.names: Sequence[str] = list(dims)
        self.dims = dict(dims)
        self.global_context = nn.ModuleDict({m: nn.Linear(d, d) for m, d in dims.items()})
        # local[main][other]: the other modality's k=3 context mapped into the main width
        self.local_context = nn.ModuleDict({
            main: nn.ModuleDict({o: nn.Conv1d(dims[o], dims[main], 3, padding=1)
                                 for o in dims if o != main})
            for main in dims})
        self.attention = nn.ModuleDict({m: AttentionUnit(d, attention_hidden, dropout) for m, d in dims.items()})
        if attention_fusion in ("joint", "joint_mean"):
            self.joint_attention = AttentionUnit(sum(dims.values()), attention_hidden, dropout)
        self.act = nn.LeakyReLU(0.2)
        self.drop = nn.Dropout(dropout)

    @property
    def out_dim(self) -> int:
        return sum(self.dims.values())

    def forward(self, features: Mapping[str, torch.Tensor], mask: torch.Tensor,
                modality_mask: Mapping[str, torch.Tensor]) -> dict:
        """``features[m]`` (B, D_m, T), ``mask`` (B, T) bool, ``modality_mask[m]`` (B,) bool.

        Returns ``filtered`` (modality -> (B, D_m, T)), ``attentions`` (modality -> (B, T)),
        ``attention`` (B, T) the fused attention (see ``attention_fusion``), ``fused`` (B, sum D_m, T),
        and with ``joint_mean`` also ``joint`` (B, T), the joint unit's attention.
        """
        time_mask = mask[:, None, :].to(next(iter(features.values())).dtype)
        filtered, attentions = {}, {}
        for main in self.names:
            x = features[main] * time_mask
            present = modality_mask[main].to(x.dtype)[:, None, None]
            g = self.drop(self.act(self.global_context[main](masked_mean(x, mask[:, None, :], dim=-1))))
            local_sum = torch.zeros_like(x)
            count = torch.zeros_like(present)
            for other, conv in self.local_context[main].items():
                has = modality_mask[other].to(x.dtype)[:, None, None]
                local = self.drop(self.act(conv(features[other] * time_mask))) * time_mask
                local_sum = local_sum + local * has
                count = count + has
            local = torch.where(count > 0, local_sum / count.clamp_min(1.0), torch.ones_like(local_sum))
            out = torch.sigmoid(local * g[..., None]) * x * present
            filtered[main] = out
            attentions[main] = self.attention[main](out, mask)
        stacked = torch.stack([attentions[m] for m in self.names])  # (N, B, T)
        weights = torch.stack([modality_mask[m].to(stacked.dtype) for m in self.names])[..., None]
        fused = torch.cat([filtered[m] for m in self.names], dim=1)
        if self.attention_fusion == "max":  # missing modalities count as 0 (attentions are >= 0)
            attention = (stacked * weights).amax(dim=0)
        elif self.attention_fusion == "joint":  # one unit reads every filtered feature
            attention = self.joint_attention(fused, mask)
        elif self.attention_fusion == "joint_mean":  # the joint unit is one more member of the mean
            joint = self.joint_attention(fused, mask)
            attention = (joint + (stacked * weights).sum(0)) / (1.0 + weights.sum(0))
            return {"filtered": filtered, "attentions": attentions, "attention": attention, "fused": fused,
                    "joint": joint}
        else:
            attention = (stacked * weights).sum(0) / weights.sum(0).clamp_min(1.0)
        return {"filtered": filtered, "attentions": attentions, "attention": attention, "fused": fused}


class ConcatFusion(nn.Module):
    """The ablation without consensus: concatenate the features; one attention unit on them."""

    def __init__(self, dims: Mapping[str, int], attention_hidden: int = 128, dropout: float = 0.5,
                 attention_fusion: str = "mean"):
        super().__init__()
        self.names = list(dims)
        self.dims = dict(dims)
        self.attention_unit = AttentionUnit(sum(dims.values()), attention_hidden, dropout)

    @property
    def out_dim(self) -> int:
        return sum(self.dims.values())

    def forward(self, features, mask, modality_mask) -> dict:
        time_mask = mask[:, None, :].to(next(iter(features.values())).dtype)
        parts = {m: features[m] * time_mask * modality_mask[m].to(time_mask.dtype)[:, None, None]
                 for m in self.names}
        fused = torch.cat([parts[m] for m in self.names], dim=1)
        attention = self.attention_unit(fused, mask)
        return {"filtered": parts, "attentions": {"fused": attention}, "attention": attention, "fused": fused}
