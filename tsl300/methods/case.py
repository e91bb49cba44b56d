"""CASE (Liu et al., ICCV 2023): clustering-assisted foreground/background separation.

What differs from the shared codebase:

- two fully separate streams (official rgb / flow; here visual / audio), each with a CAS
  branch (no background class), an attention branch, an L2-normalised embedding and a cluster
  head (row-normalised prototypes x temperature 10), fused by averaging;
- the training losses: top-k MIL on the raw CAS at the indices of the fused score, generalized
  CE on the attention against top-k pseudo labels, snippet clustering with Sinkhorn optimal
  transport self-labelling under a "dynamic prior", and cluster -> fg/bg classification with
  OT under the fg/bg marginal; the last cluster assignment ``cls_gt`` is state kept for
  inference;
- clustering-assisted inference scores: the fused score averages 5 terms; the proposals are
  the shared post-processing with CASE's settings (:data:`OFFICIAL_POSTPROCESS`: OIC and the
  shared "BaS-Net" soft NMS that keeps suppressed proposals with decayed scores).

Official quirks reproduced by default (each has an explicit option): the dynamic prior uses
``argsort(-att)`` indices as ranks (``rank_fix=False``); inference passes gamma (0.15) into the
outer-ratio slot of the OIC, leaving the class-score weight at 0.2 (``postprocess.oic_lambda``
0.15, ``oic_gamma`` 0.2); the initial ``cls_gt`` is ``ones(K, 2) / K``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import postprocess
from ..models.encoders import build_encoder
from .base import Method
from .registry import ModelSpec, register_method

STREAMS = ("flow", "rgb")
"""Official stream names, in the order the network returns them. Here ``rgb`` is the visual
stream and ``flow`` the second modality (audio)."""


# ----------------------------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------------------------
class ClusterHead(nn.Module):
    """Cosine classifier over ``num_clusters`` prototypes: rows re-normalised (in place, as the
    official code) at every call, logits = temperature * emb @ P^T."""

    def __init__(self, dim: int, num_clusters: int, temperature: float = 10.0):
        super().__init__()
        self.temperature = temperature
        self.prototypes = nn.Linear(dim, num_clusters, bias=False)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        return self.prototypes(emb) * self.temperature


class CASEStream(nn.Module):
    """One stream: CAS (B, T, C), sigmoid attention (B, 1, T), base (B, H, T), cluster logits."""

    def __init__(self, in_dim: int, num_classes: int, num_clusters: int = 16, hidden: int = 512,
                 temperature: float = 10.0):
        super().__init__()
        self.cas = nn.Sequential(nn.Conv1d(in_dim, hidden, 1), nn.ReLU(),
                                 nn.Conv1d(hidden, num_classes, 1))
        self.base = nn.Sequential(nn.Conv1d(in_dim, hidden, 1), nn.ReLU())
        self.att = nn.Conv1d(hidden, 1, 1)
        self.cluster = ClusterHead(hidden, num_clusters, temperature)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` channels-first (B, D, T)."""
        base = self.base(x)
        return {"cas": self.cas(x).transpose(1, 2), "att": torch.sigmoid(self.att(base)),
                "clu": self.cluster(F.normalize(base.transpose(1, 2), dim=-1)), "base": base}


class CASENet(nn.Module):
    """The official ``WTALModel`` on two streams of possibly different widths."""

    def __init__(self, rgb_dim: int, flow_dim: int, num_classes: int, num_clusters: int = 16,
                 hidden: int = 512, temperature: float = 10.0):
        super().__init__()
        self.rgb = CASEStream(rgb_dim, num_classes, num_clusters, hidden, temperature)
        self.flow = CASEStream(flow_dim, num_classes, num_clusters, hidden, temperature)

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, T, Drgb), (B, T, Dflow) -> ``{cas,att,clu,base}_{rgb,flow}`` (official layouts)."""
        out = {}
        for name, stream, x in (("flow", self.flow, flow), ("rgb", self.rgb, rgb)):
            for key, value in stream(x.transpose(1, 2)).items():
                out[f"{key}_{name}"] = value
        return out


# ----------------------------------------------------------------------------------------------
# Optimal transport
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def sinkhorn_ot(logits: torch.Tensor, prior: torch.Tensor | float = 1.0,
                beta: torch.Tensor | None = None, temp: float = 10.0, eps: float = 20.0,
                iterations: int = 3) -> torch.Tensor:
    """Sinkhorn-Knopp self-labelling (official ``Trainer.OT``): ``logits`` (N, M) -> an (N, M)
    assignment whose rows sum to 1, with column marginals pushed towards uniform (``beta=None``)
    or ``beta``. ``prior`` multiplies ``exp(logits / temp * eps)`` element-wise."""
    q = (logits / temp * eps).exp().mul(prior).t()               # (M, N)
    m, n = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True)
        q = q / m if beta is None else q * beta[:, None]
        q = q / q.sum(dim=0, keepdim=True)
        q = q / n
    return q.t() * n


# ----------------------------------------------------------------------------------------------
# Training losses
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CASELossConfig:
    """Official ``config_case.py`` values."""

    q: float = 0.7
    temp: float = 10.0
    std: float = 10.0
    w_clu: float = 1.0
    w_cls: float = 0.3
    eps: float = 20.0
    ot_iterations: int = 3
    rank_fix: bool = False     # True: use each snippet's rank in the prior, not argsort indices


def initial_cls_gt(num_clusters: int) -> torch.Tensor:
    """The official initial cluster -> (fg, bg) state: every entry 1/K (rows sum to 2/K)."""
    return torch.full((num_clusters, 2), 1.0 / num_clusters)


def video_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CASE's CE: ``-mean_b sum_c (y / sum y + 1e-10) log_softmax(x)`` (1e-10 after dividing)."""
    target = labels / labels.sum(dim=1, keepdim=True) + 1e-10
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def generalized_ce(p: torch.Tensor, y: torch.Tensor, q: float = 0.7,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Official ``GeneralizedCE``: per video, mean over positives of (1 - p^q)/q and over
    negatives of (1 - (1-p)^q)/q (1e-7 inside powers and counts); mean_b pos + mean_b neg."""
    m = torch.ones_like(y) if mask is None else mask.to(y.dtype)
    pos_w, neg_w = y * m, (1 - y) * m
    pos = (pos_w * (1 - (p + 1e-7) ** q) / q).sum(1) / (pos_w.sum(1) + 1e-7)
    neg = (neg_w * (1 - (1 - p + 1e-7) ** q) / q).sum(1) / (neg_w.sum(1) + 1e-7)
    return pos.mean() + neg.mean()


def topk_selection(combined: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k over time of (B, T, C) per video and class. Returns (order (B, T, C) time indices
    by decreasing value, in_topk (B, T, C) bool); ``k`` (B,) long."""
    if mask is not None:
        combined = combined.masked_fill(~mask[..., None], float("-inf"))
    order = combined.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(
        1, order, torch.arange(combined.shape[1], device=combined.device)[None, :, None].expand_as(order))
    return order, ranks < k[:, None, None]


def case_losses(out: dict[str, torch.Tensor], labels: torch.Tensor, cls_gt_state: torch.Tensor,
                config: CASELossConfig = CASELossConfig(), mask: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
    """Every term of one official training iteration, plus ``cls_gt`` (the new state).

    ``out`` holds the network outputs (official layouts), ``labels`` (B, C) multi-hot,
    ``cls_gt_state`` (K, 2) the stored assignment, ``mask`` (B, T) True on real snippets (a
    padded batch flattens only the real snippets into the N rows of the clustering).
    ``k = T // 8`` per video (its real length)."""
    cas_f, cas_r = out["cas_flow"], out["cas_rgb"]
    b, t, _ = cas_f.shape
    mask = torch.ones(b, t, dtype=torch.bool, device=cas_f.device) if mask is None else mask
    k = (mask.sum(1) // 8).clamp(min=1)
    att_f, att_r = out["att_flow"][:, 0], out["att_rgb"][:, 0]                      # (B, T)
    combined = (0.5 * cas_f.softmax(-1) + 0.5 * cas_r.softmax(-1)
                + att_f[..., None] + att_r[..., None]) / 3
    _, in_topk = topk_selection(combined, k, mask)
    top_w = in_topk.to(cas_f.dtype) / k[:, None, None].to(cas_f.dtype)
    res = {"combined_cas": combined, "in_topk": in_topk,
           "cas_top_flow": (cas_f * top_w).sum(1), "cas_top_rgb": (cas_r * top_w).sum(1)}
    res["vid_loss"] = 0.5 * video_ce(res["cas_top_flow"], labels) + 0.5 * video_ce(res["cas_top_rgb"], labels)
    att_gt = (in_topk & (labels[:, None, :] > 0)).any(2).to(cas_f.dtype)             # (B, T)
    res["att_gt"] = att_gt
    res["att_loss_flow"] = generalized_ce(att_f, att_gt, config.q, mask)
    res["att_loss_rgb"] = generalized_ce(att_r, att_gt, config.q, mask)

    # Snippet clustering on the N real snippets (batch-major flattening).
    flat = mask.reshape(-1)
    att = (0.5 * att_r + 0.5 * att_f).reshape(-1)[flat]
    n = att.shape[0]
    order = torch.argsort(-att.detach())
    rank = (torch.empty_like(order).scatter_(0, order, torch.arange(n, device=order.device))
            if config.rank_fix else order).to(att.dtype)
    dist = ((rank[:, None] + 1) / n - (1.0 - cls_gt_state[:, 0])[None, :]).abs()
    prior = torch.exp(-(dist ** 2) / (2 * config.std ** 2)) / (config.std * math.sqrt(2 * math.pi))
    prior = prior / prior.sum()
    clu_f = out["clu_flow"].reshape(b * t, -1)[flat]
    clu_r = out["clu_rgb"].reshape(b * t, -1)[flat]
    clu = 0.5 * clu_r + 0.5 * clu_f
    clu_gt = sinkhorn_ot(clu.detach(), prior, temp=config.temp, eps=config.eps,
                         iterations=config.ot_iterations)
    res.update(rank=rank, prior_T=prior, clu=clu, clu_gt=clu_gt)
    res["clu_loss"] = (-(clu_gt * F.log_softmax(clu_r, dim=1)).sum(1).mean()
                       - (clu_gt * F.log_softmax(clu_f, dim=1)).sum(1).mean())

    # Cluster -> fg/bg classification.
    weights_att = torch.stack([att_gt.reshape(-1)[flat], 1 - att_gt.reshape(-1)[flat]], dim=-1)
    for name in STREAMS:
        base = out[f"base_{name}"].transpose(1, 2).reshape(b * t, -1)[flat]
        res[f"proto_clu_{name}"] = F.normalize(clu_gt.t() @ base, dim=-1)
        res[f"proto_att_{name}"] = F.normalize(weights_att.t() @ base, dim=-1)
        res[f"cls_{name}"] = res[f"proto_clu_{name}"] @ res[f"proto_att_{name}"].t() * config.temp
    res["cls"] = 0.5 * res["cls_flow"] + 0.5 * res["cls_rgb"]
    res["beta"] = weights_att.mean(0)
    cls_gt = sinkhorn_ot(res["cls"].detach(), beta=res["beta"].detach(), temp=config.temp,
                         eps=config.eps, iterations=config.ot_iterations)
    res["cls_gt"] = cls_gt
    res["cls_loss"] = (-(cls_gt * F.log_softmax(res["cls_rgb"], dim=1)).sum(1).mean()
                       - (cls_gt * F.log_softmax(res["cls_flow"], dim=1)).sum(1).mean())
    res["cost_before_clu_cls"] = res["vid_loss"] + res["att_loss_flow"] + res["att_loss_rgb"]
    res["total_loss"] = (res["cost_before_clu_cls"] + config.w_clu * res["clu_loss"]
                         + config.w_cls * res["cls_loss"])
    return res


# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------
def combined_score(out: dict[str, torch.Tensor], cls_gt: torch.Tensor) -> torch.Tensor:
    """Clustering-assisted fused score (B, T, C): the mean of the fused softmax CAS, both
    attentions and both streams' foreground probability via their clusters."""
    fg_f = (out["clu_flow"].softmax(-1) @ cls_gt)[..., :1]
    fg_r = (out["clu_rgb"].softmax(-1) @ cls_gt)[..., :1]
    cas = 0.5 * out["cas_flow"].softmax(-1) + 0.5 * out["cas_rgb"].softmax(-1)
    att_f, att_r = out["att_flow"].transpose(1, 2), out["att_rgb"].transpose(1, 2)
    return (cas + att_f + att_r + fg_f + fg_r) / 5


def video_scores(out: dict[str, torch.Tensor], combined: torch.Tensor,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """``0.5 softmax(mean cas_rgb at top-k) + 0.5 softmax(mean cas_flow at top-k)`` (B, C),
    the top-k (k = T // 8) taken per class on ``combined``."""
    b, t, _ = combined.shape
    mask = torch.ones(b, t, dtype=torch.bool, device=combined.device) if mask is None else mask
    k = (mask.sum(1) // 8).clamp(min=1)
    _, in_topk = topk_selection(combined, k, mask)
    w = in_topk.to(combined.dtype) / k[:, None, None].to(combined.dtype)
    return (0.5 * ((out["cas_rgb"] * w).sum(1)).softmax(-1)
            + 0.5 * ((out["cas_flow"] * w).sum(1)).softmax(-1))


OFFICIAL_POSTPROCESS = {
    "class_thresh": 0.25,
    "scale": 24,
    "cas_thresholds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "actionness_thresholds": [],
    "oic_lambda": 0.15,            # config.gamma lands in the lambda_ slot (official quirk)
    "oic_gamma": 0.2,              # get_proposal_oic's default class-score weight
    "oic_on_thresholded_cas": False,
    "nms": "basnet",
    "nms_iou": 0.4,
    "basnet_alpha": 0.35,
    "nms_plus_one": True,
    "skip_lone_first_position": True,
}
"""The official ``inference_case.py`` settings as shared ``PostprocessParams`` keys (the recipe
repeats them). The documented intent would be ``oic_lambda: 0.25, oic_gamma: 0.15``."""


def official_postprocess_params(class_names) -> postprocess.PostprocessParams:
    """``PostprocessParams`` of the official CASE inference for ``class_names``."""
    return postprocess.PostprocessParams.from_dict(
        dict(OFFICIAL_POSTPROCESS, class_names=tuple(class_names)))


# ----------------------------------------------------------------------------------------------
# The recipe's Method
# ----------------------------------------------------------------------------------------------
@dataclass
class CASEModel:
    """The recipe's ``model:`` section."""

    visual: str = "rgb"
    audio: str = "logmfcc"
    audio_dim: int = 1024          # the official flow stream is 1024-d
    audio_kernel: int = 1          # 1: per-snippet, as the official k=1 convolutions
    audio_dropout: float = 0.2
    hidden: int = 512
    num_clusters: int = 16
    temperature: float = 10.0


@dataclass
class CASELoss:
    """The recipe's ``loss:`` section."""

    q: float = 0.7
    std: float = 10.0
    w_clu: float = 1.0
    w_cls: float = 0.3
    eps: float = 20.0
    ot_iterations: int = 3
    rank_fix: bool = False


@register_method("case")
class CASE(Method):
    """CASE on TSL-300 features: the official ``rgb`` stream takes the visual features (I3D RGB,
    as official) and the ``flow`` stream the audio, encoded per snippet by the shared light
    log-mel encoder. The cluster -> fg/bg assignment ``cls_gt`` is a buffer, so it is saved
    with the weights and used at inference."""

    supervision = "video"

    ModelConfig = CASEModel
    LossConfig = CASELoss

    def __init__(self, model: CASEModel, loss: CASELoss, spec: ModelSpec):
        super().__init__()
        self.cfg, self.num_classes = model, spec.num_classes
        self.loss_cfg = CASELossConfig(loss.q, model.temperature, loss.std, loss.w_clu,
                                       loss.w_cls, loss.eps, loss.ot_iterations, loss.rank_fix)
        spec.require("case", model.visual, model.audio, why="CASE needs two streams")
        visual_dim = spec.vector_dim("case", model.visual)
        self.audio = build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim, model.audio_dropout,
                                   kernel=model.audio_kernel)
        self.net = CASENet(visual_dim, model.audio_dim, spec.num_classes,
                           model.num_clusters, model.hidden, model.temperature)
        self.register_buffer("cls_gt", initial_cls_gt(model.num_clusters))

    def forward(self, batch):
        mask = batch["mask"]
        keep = lambda name: batch["modality_mask"][name][:, None, None].to(mask.device)  # noqa: E731
        visual = batch["features"][self.cfg.visual] * keep(self.cfg.visual) * mask[..., None]
        audio = self.audio(batch["features"][self.cfg.audio], mask).transpose(1, 2) * keep(self.cfg.audio)
        return self.net(visual, audio)

    def compute_loss(self, outputs, batch, step):
        res = case_losses(outputs, batch["video_labels"], self.cls_gt, self.loss_cfg, batch["mask"])
        if self.training:  # the trainer's state: only training iterations update it
            self.cls_gt.copy_(res["cls_gt"])
        terms = {k: float(res[k].detach()) for k in ("vid_loss", "att_loss_flow", "att_loss_rgb",
                                            "clu_loss", "cls_loss")}
        return res["total_loss"], terms

    def scores(self, outputs, batch):
        """Clustering-assisted fused score as ``cas`` and the two-stream video score."""
        combined = combined_score(outputs, self.cls_gt) * batch["mask"][..., None].to(self.cls_gt.dtype)
        return {"cas": combined, "video_scores": video_scores(outputs, combined, batch["mask"])}
