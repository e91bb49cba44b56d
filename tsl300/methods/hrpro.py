"""HR-Pro (Zhang et al., AAAI 2024): hierarchical reliability propagation, two stages.

Official code: ``pipixin321/HR-Pro`` @1abb331 (``model_S.py``, ``model_I.py``, ``ranking.py``,
``utils.py``, ``test.py``, ``dataset.py``, ``cfgs/thumos_hyp.yaml``). Stage 1 is a snippet model
with a reliable class memory (prototype tokens appended to a 2-layer attention encoder); its raw
proposals on the training videos are ranked into PP (all), RP (one reliable proposal per point)
and NP (random background intervals); stage 2 regresses boundaries and an IoU score per
proposal. Here both stages and the ranking run in one schedule (``base_steps``), so the recipe
needs no prior run. Official behaviours kept by default (see ``recipes/hrpro/README.md``):

- the memory enters as ``proto.view(1, D, C)``: a reshape, so token j mixes every class;
- the attention value is the raw input (``conv_value`` is built, counted and never used);
- top-k uses ``k = max(1, T // 8)``; the contrastive regions drop snippet T-1 and the loss
  divides by every labelled class, skipped ones included;
- RP needs a score > 0 and strict, class-agnostic neighbour bounds; NP is in snippet units;
- soft-NMS adds "+1" to lengths in seconds, swaps rows and removes nothing.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.types import Segment
from ..errors import RecipeError
from ..losses.point import focal_bce_terms
from ..postprocess import PostprocessParams, video_proposals
from .base import Method, TrainingContext
from .lacp import dense_segments, runs_of, select_seed
from .registry import ModelSpec, register_method
from .tspnet import roi_features, soft_nms_snippets

# --------------------------------------------------------------------------------------------
# Stage 1: snippet model (``model_S.py``)


class RAB(nn.Module):
    """Reliability-aware attention block: 1x1-conv query/key, the raw input as value, 8-head
    attention (its own in-projections), residual + LayerNorm, FFN, residual + LayerNorm."""

    def __init__(self, dim: int, heads: int = 8, ffn: int = 128, dropout: float = 0.3):
        super().__init__()
        self.conv_query = nn.Conv1d(dim, dim, 1)
        self.conv_key = nn.Conv1d(dim, dim, 1)
        self.conv_value = nn.Conv1d(dim, dim, 1)  # official: built, never called
        self.self_atten = nn.MultiheadAttention(dim, heads, dropout=0.1)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, L) -> (B, D, L) and the head-averaged attention (B, L, L)."""
        q = self.conv_query(x).permute(2, 0, 1)
        k = self.conv_key(x).permute(2, 0, 1)
        v = x.permute(2, 0, 1)
        attn, weights = self.self_atten(q, k, v)
        h = self.norm1(v + self.dropout1(attn))
        h = self.norm2(h + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(h))))))
        return h.permute(1, 2, 0), weights


class HRProEncoder(nn.Module):
    def __init__(self, dim: int, layers: int = 2, heads: int = 8, ffn: int = 128, dropout: float = 0.3):
        super().__init__()
        self.RAB = nn.ModuleList([RAB(dim, heads, ffn, dropout) for _ in range(layers)])
        self.feature_embedding = nn.Sequential(nn.Conv1d(dim, dim, 3, padding=1), nn.ReLU())


class HRProMemory(nn.Module):
    """One prototype per class, (C, 1, D); not trained by gradient (EMA updates)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.proto_vectors = nn.Parameter(torch.zeros(num_classes, 1, dim), requires_grad=False)


class HRProSnippetNet(nn.Module):
    """``S_Model``: ``[x_1..x_T, tokens]`` through the RABs, the first T kept, Conv(k3)+ReLU
    embedding, dropout + bias-free 1x1 classifier (C+1, background last), LACP fusion."""

    def __init__(self, dim: int, num_classes: int, layers: int = 2, heads: int = 8, ffn: int = 128,
                 rab_dropout: float = 0.3, dropout: float = 0.7, r_act: int = 8):
        super().__init__()
        self.memory = HRProMemory(num_classes, dim)
        self.encoder = HRProEncoder(dim, layers, heads, ffn, rab_dropout)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(dim, num_classes + 1, 1, bias=False))
        self.r_act = r_act

    def prototype_tokens(self) -> torch.Tensor:
        """(D, C): ``proto.view(1, D, C)`` (official reshape; token j = flat[f C + j])."""
        C, _, D = self.memory.proto_vectors.shape
        return self.memory.proto_vectors.reshape(D, C)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, trace: dict | None = None
                ) -> dict[str, torch.Tensor]:
        """One video ``x`` (T, D) -> ``logits``/``cas_fuse`` (T, C+1), ``vid_score`` (C,),
        ``embeded_feature`` (T, D)."""
        T = x.shape[0]
        h = torch.cat([x.t(), self.prototype_tokens().to(x)], dim=1)[None]  # (1, D, T + C)
        for layer in self.encoder.RAB:
            h, weights = layer(h)
            if trace is not None:
                trace.setdefault("rab_out", []).append(h[0].t())
                trace.setdefault("attention", []).append(weights[0])
        emb = self.encoder.feature_embedding(h[:, :, :T])  # (1, D, T)
        logits = self.classifier(emb)[0].t()
        return {"logits": logits, **snippet_head(logits, labels, self.r_act), "embeded_feature": emb[0].t()}


def snippet_head(logits: torch.Tensor, labels: torch.Tensor | None = None, r_act: int = 8) -> dict[str, torch.Tensor]:
    """(T, C+1) logits -> ``cas_fuse`` ``[s_c (1 - s_bg), s_bg]`` and ``vid_score``: the top
    ``max(1, T // r_act)`` mean of the un-fused ``s_c`` (with labels, negatives use the mean)."""
    sigma = torch.sigmoid(logits)
    bg = sigma[:, -1:]
    fused = torch.cat([sigma[:, :-1] * (1 - bg), bg], dim=1)
    vid = sigma[:, :-1].topk(max(1, logits.shape[0] // r_act), dim=0).values.mean(dim=0)
    if labels is not None:
        vid = vid * labels + sigma[:, :-1].mean(dim=0) * (1 - labels)
    return {"cas_fuse": fused, "vid_score": vid}


@torch.no_grad()
def memory_init(embeddings: list[torch.Tensor], points: list[np.ndarray], num_classes: int) -> torch.Tensor:
    """``Reliable_Memory.init``: each prototype = mean embedding at every point snippet of its
    class over all videos (all points concatenated). ``points``: ``[snippet, class]`` rows.
    A class without any point keeps a zero prototype (official: KeyError)."""
    dim = embeddings[0].shape[1]
    sums = torch.zeros(num_classes, dim, dtype=torch.float64)
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for emb, pts in zip(embeddings, points):
        pts = np.asarray(pts, np.int64).reshape(-1, 2)
        if len(pts):
            sums.index_add_(0, torch.as_tensor(pts[:, 1]), emb[torch.as_tensor(pts[:, 0])].double())
            counts.index_add_(0, torch.as_tensor(pts[:, 1]), torch.ones(len(pts), dtype=torch.float64))
    return (sums / counts.clamp(min=1)[:, None]).float()[:, None, :]


# --------------------------------------------------------------------------------------------
# Stage-1 loss (``S_Model.criterion``)


@dataclass
class HRProSnippetLossConfig:
    lambdas: tuple[float, float, float, float] = (0, 0.5, 1, 1)  # vid, frame, frame_bkg, contrastive
    temperature: float = 0.1
    act_thresh: float = 0.1
    bkg_thresh: float = 0.95
    proto_momentum: float = 0.001


def regions(sequence: np.ndarray) -> list[tuple[int, int]] | None:
    """``extract_region_feat`` runs: maximal runs of 1s, a run reaching T-1 cut at T-2 (a run of
    T-1 alone dropped); None without any 0/1 transition."""
    segs, moving = dense_segments(np.asarray(sequence, np.float32))
    return segs if moving else None


def _region_mask(segs, T: int) -> np.ndarray:
    mask = np.zeros(T, bool)
    for s, e in segs or []:
        mask[s:e + 1] = True
    return mask


def hrpro_snippet_loss(out: dict[str, torch.Tensor], vid_label: torch.Tensor, point_label: torch.Tensor,
                       proto: torch.Tensor, config: HRProSnippetLossConfig = HRProSnippetLossConfig(),
                       trace: dict | None = None) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Every term of ``S_Model.criterion`` for one video and the act seeds (T, C+1) for the
    memory update. ``point_label`` (T, C), ``proto`` (C, 1, D) or (C, D)."""
    p = out["cas_fuse"]
    T, C1 = p.shape
    zero = p.new_zeros(())
    P = torch.cat([point_label.to(p), p.new_zeros(T, 1)], dim=1)
    act_seed, bkg_seed = select_seed(p[:, -1].detach().cpu().numpy(), P.cpu().numpy(),
                                     config.act_thresh, config.bkg_thresh)
    loss_vid = F.binary_cross_entropy(out["vid_score"], vid_label.to(out["vid_score"]))
    w = P.max(dim=1).values
    loss_frame = (focal_bce_terms(p, P, gamma=2).sum(dim=1) * w).sum() / (w.sum() + 1e-6)
    bkg_w = torch.as_tensor(bkg_seed, dtype=p.dtype, device=p.device)
    bkg_t = torch.zeros_like(P)
    bkg_t[:, -1] = 1
    loss_frame_bkg = (focal_bce_terms(p, bkg_t, gamma=2).sum(dim=1) * bkg_w).sum() / (bkg_w.sum() + 1e-6)
    emb = F.normalize(out["embeded_feature"], dim=1)
    pi = F.normalize(proto.reshape(proto.shape[0], -1).to(emb), dim=1)
    sims = torch.exp(emb @ pi.t() / config.temperature)  # (T, C)
    labelled = np.flatnonzero(vid_label.detach().cpu().numpy() > 0)
    bkg_regions = regions(bkg_seed)
    act_regions = {int(c): regions(act_seed[:, c]) for c in labelled}
    terms, sim_trace = [], []
    bkg_mask = _region_mask(bkg_regions, T)
    if bkg_regions and bkg_mask.any():
        b = sims[torch.as_tensor(bkg_mask)].mean(dim=0)
        for c in labelled.tolist():
            mask = _region_mask(act_regions[c], T)
            if not mask.any():
                continue
            a = sims[torch.as_tensor(mask)].mean(dim=0)
            terms.append(0.5 * -torch.log(a[c] / a.sum()) + 0.5 * -torch.log(a[c] / (a[c] + b[c])))
            sim_trace.append({"class": c, "a_sim": a.detach(), "b_sim": b.detach(),
                              "n_act_snippets": int(mask.sum()), "n_bkg_snippets": int(bkg_mask.sum())})
    loss_con = torch.stack(terms).sum() / len(labelled) if terms else zero
    lam = config.lambdas
    total = lam[0] * loss_vid + lam[1] * loss_frame + lam[2] * loss_frame_bkg + lam[3] * loss_con
    if trace is not None:
        trace.update(act_seed=act_seed, bkg_seed=bkg_seed, bkg_regions=bkg_regions, act_regions=act_regions,
                     similarities=sim_trace)
    return ({"loss_vid": loss_vid, "loss_frame": loss_frame, "loss_frame_bkg": loss_frame_bkg,
             "loss_contrastive": loss_con, "loss_total": total}, act_seed)


@torch.no_grad()
def memory_update(proto: torch.Tensor, embeddings: torch.Tensor, act_seed: np.ndarray, vid_label: np.ndarray,
                  momentum: float = 0.001) -> list[int]:
    """After the loss: ``proto_c <- (1 - m) proto_c + m mean(E at act seeds of c)`` for each
    labelled class with a seed (T-1 included). In place; returns the updated classes."""
    updated = []
    for c in np.flatnonzero(np.asarray(vid_label) > 0).tolist():
        idx = np.flatnonzero(act_seed[:, c] > 0)
        if len(idx):
            mean = embeddings[torch.as_tensor(idx)].mean(dim=0)
            proto[c, 0] = (1 - momentum) * proto[c, 0] + momentum * mean.to(proto)
            updated.append(c)
    return updated


# --------------------------------------------------------------------------------------------
# Stage-1 inference (``test.S_test``) and the ranking (``ranking.py``)


SNIPPET_POSTPROCESS = dict(class_thresh=0.5, scale=2, oic_lambda=0.25, oic_gamma=0.0, nms="none",
                           cas_thresholds=tuple(np.arange(0.0, 0.25, 0.025).tolist()),
                           actionness_thresholds=tuple(np.arange(0.5, 0.725, 0.025).tolist()),
                           oic_on_thresholded_cas=True, skip_lone_first_position=True)
"""``cfgs/thumos_hyp.yaml`` inference constants; the proposals are raw (``--mode test``)."""


def raw_proposals(cas_fuse: np.ndarray, vid_score: np.ndarray, fps: float,
                  class_names=None) -> np.ndarray:
    """Stage-1 proposals without NMS: rows ``[t_start, t_end, class, score]`` in seconds (per
    class, by descending score)."""
    params = PostprocessParams(**SNIPPET_POSTPROCESS, **({"class_names": tuple(class_names)} if class_names else {}))
    names = list(params.class_names)
    segs = video_proposals(np.asarray(cas_fuse)[:, :-1], np.asarray(vid_score), fps, params,
                           1 - np.asarray(cas_fuse)[:, -1])
    return np.asarray([[s.start, s.end, names.index(s.label), s.score] for s in segs], np.float64).reshape(-1, 4)


def class_soft_nms(rows: np.ndarray, sigma: float = 0.3) -> np.ndarray:
    """Soft-NMS per class (classes in order of first appearance), official order."""
    rows = np.asarray(rows, np.float64).reshape(-1, 4)
    classes = list(dict.fromkeys(rows[:, 2].tolist()))
    out = [soft_nms_snippets(rows[rows[:, 2] == c], sigma) for c in classes]
    return np.concatenate(out) if out else rows


def match_point(proposals: dict[Any, np.ndarray], points: list[tuple[float, Any]]) -> dict[Any, list]:
    """RP (``ranking.match_point``): per point (sorted by time), the best proposal of its class
    with ``s <= t <= e`` and strictly inside the neighbouring points (any class); score > 0;
    first on ties; else the same without the neighbour bounds; else None."""
    order = sorted(range(len(points)), key=lambda i: points[i][0])
    t_pos = [-1.0] + [points[i][0] for i in order] + [1e5]
    out: dict[Any, list] = {}
    for n, i in enumerate(order, start=1):
        t, label = points[i]
        cands = np.asarray(proposals.get(label, np.zeros((0, 3))), np.float64).reshape(-1, 3)
        inside = (cands[:, 0] <= t) & (t <= cands[:, 1]) & (cands[:, 2] > 0)
        best = None
        for mask in (inside & (cands[:, 0] > t_pos[n - 1]) & (cands[:, 1] < t_pos[n + 1]), inside):
            if mask.any():
                idx = np.flatnonzero(mask)
                best = cands[idx[int(np.argmax(cands[idx, 2]))]].tolist()
                break
        out.setdefault(label, []).append(best)
    return out


def negative_proposals(bkg_seed: np.ndarray, num_pp: int, rng: random.Random,
                       draws: list | None = None) -> np.ndarray:
    """NP (``ranking.py:50-68``), snippet units: ``int(0.5 num_PP)`` random sub-intervals of the
    background-seed runs, score ``-(e - s) / (g_last - g0)`` (``[g, g+1, -1]`` for a one-snippet
    run). Python ``random`` (``rng``) as the official global one."""
    groups = runs_of(np.asarray(bkg_seed) > 0)
    want = int(0.5 * num_pp)
    out: list[list[float]] = []
    if not groups:
        return np.zeros((0, 3))
    while len(out) < want:
        g = rng.randint(0, len(groups) - 1)
        if draws is not None:
            draws.append(["randint", 0, len(groups) - 1, g])
        g0, g1 = groups[g]
        if g0 == g1:
            out.append([float(g0), float(g0 + 1), -1])
            continue
        u = rng.uniform(g0, g1)
        s = int(u)
        if draws is not None:
            draws.append(["uniform", g0, g1, u])
        u = rng.uniform(s, g1)
        e = int(u)
        if draws is not None:
            draws.append(["uniform", s, g1, u])
        if s < e:
            out.append([float(s), float(e), -(e - s) / (g1 - g0)])
    return np.asarray(out, np.float64).reshape(-1, 3)


def to_snippet_rows(rows: np.ndarray, sps: float) -> np.ndarray:
    """``load_proposals``: seconds -> ``round(x sps, 3)`` for the two boundary columns; an
    empty list -> ``[[0, 0, 0]]``."""
    rows = np.asarray(rows, np.float64)
    if not rows.size:
        return np.zeros((1, 3))
    out = rows.copy()
    out[:, 0] = [round(v * sps, 3) for v in rows[:, 0]]
    out[:, 1] = [round(v * sps, 3) for v in rows[:, 1]]
    return out


# --------------------------------------------------------------------------------------------
# Stage 2: instance model (``model_I.py``)


def _two_conv(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(dim, dim // 2, 1), nn.ReLU(), nn.Conv1d(dim // 2, 1, 1))


class HRProBCR(nn.Module):
    def __init__(self, dim: int, dropout: float = 0.7):
        super().__init__()
        self.start_reg_conv = _two_conv(dim)
        self.end_reg_conv = _two_conv(dim)
        self.prop_fusion = nn.Sequential(nn.Linear(3 * dim, dim), nn.ReLU(), nn.Dropout(dropout))
        self.prop_completeness = _two_conv(dim)


class HRProInstanceNet(nn.Module):
    """``I_Model``: RoI parts as TSP-Net; start/end offsets from the boundary parts (scaled by
    the width), an IoU score from the fused parts; the refined proposals are scored again."""

    def __init__(self, dim: int, roi_size: int = 12, extension: float = 0.25, dropout: float = 0.7):
        super().__init__()
        self.bcr = HRProBCR(dim, dropout)
        self.roi_size, self.extension = roi_size, extension

    def _heads(self, features, proposals):
        roi = roi_features(features, proposals, self.roi_size, self.extension)
        a, b = self.roi_size // 6, self.roi_size // 6 * 5
        f1, f2, f3 = roi[:, :a].amax(1), roi[:, a:b].amax(1), roi[:, b:].amax(1)
        fused = self.bcr.prop_fusion(torch.cat([f2 - f1, f2, f2 - f3], dim=1))
        logit = self.bcr.prop_completeness(fused.t()[None])[0, 0]
        start = self.bcr.start_reg_conv(f1.t()[None])[0, 0]
        end = self.bcr.end_reg_conv(f3.t()[None])[0, 0]
        return roi, logit, start, end

    def forward(self, features: torch.Tensor, proposals: torch.Tensor) -> dict[str, torch.Tensor]:
        """One video: (T, D), (M, 2) snippets -> ``iou_pred_orig``, ``start_reg``, ``end_reg``,
        ``prop_refined`` (M, 2), ``iou_pred_refined``."""
        roi, logit, start, end = self._heads(features, proposals)
        width = proposals[:, 1] - proposals[:, 0]
        refined = torch.stack([proposals[:, 0] + start * width, proposals[:, 1] + end * width], dim=1)
        _, logit_r, _, _ = self._heads(features, refined)
        return {"roi": roi, "iou_logit": logit, "iou_pred_orig": torch.sigmoid(logit), "start_reg": start,
                "end_reg": end, "prop_refined": refined, "iou_pred_refined": torch.sigmoid(logit_r)}


def max_iou(proposals: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(M,) max over targets of ``max(0, inter / (len_a + len_b - inter + 1e-6))`` (no "+1")."""
    inter = (torch.minimum(proposals[:, None, 1], targets[None, :, 1])
             - torch.maximum(proposals[:, None, 0], targets[None, :, 0]))
    union = (proposals[:, 1] - proposals[:, 0])[:, None] + (targets[:, 1] - targets[:, 0])[None] - inter
    return (inter / (union + 1e-6)).clamp(min=0).max(dim=1).values


def hrpro_instance_loss(out: dict[str, torch.Tensor], proposals: torch.Tensor, pseudo: torch.Tensor,
                        u: np.ndarray, iou_thresh: float = 0.3) -> dict[str, torch.Tensor]:
    """``I_Model.criterion`` for one video: ``pseudo`` (R, >=2) RP in snippets, ``u`` (M,) the
    numpy uniform draws of the low-IoU sampling."""
    m = max_iou(proposals, pseudo[:, :2]).detach()
    high = (m >= iou_thresh).to(proposals)
    low = 1 - high
    zero = proposals.new_zeros(())
    refined_iou = max_iou(out["prop_refined"], pseudo[:, :2])
    reg_terms = F.smooth_l1_loss(refined_iou, torch.ones_like(refined_iou), reduction="none")
    reg = (high * reg_terms).sum() / high.sum() if high.sum() > 0 else zero
    ratio = min(float(high.sum()) / float(low.sum()), 1.0) if float(low.sum()) > 0 else 1.0
    draw = torch.as_tensor(np.asarray(u, np.float32), device=proposals.device) * low
    weights = high + (draw > 1 - ratio).to(proposals)
    iou_terms = F.smooth_l1_loss(out["iou_pred_orig"], m, reduction="none")
    iou = (weights * iou_terms).sum() / weights.sum() if weights.sum() > 0 else zero
    return {"loss_prop_reg": reg, "loss_prop_iou": iou, "loss_total": reg + iou}


def instance_predictions(pp: np.ndarray, out: dict[str, np.ndarray], sps: float) -> np.ndarray:
    """``get_prediction``: ``[s/t, e/t, c, iou_orig + score]`` (float64) for every original and
    ``[s'/t, e'/t, c, float32(iou_refined + score)]`` for every refined proposal."""
    pp = np.asarray(pp, np.float64)
    score32 = pp[:, 2].astype(np.float32)
    orig = np.stack([pp[:, 0] / sps, pp[:, 1] / sps, pp[:, 3],
                     np.asarray(out["iou_pred_orig"], np.float64) + pp[:, 2]], axis=1)
    ref = np.asarray(out["prop_refined"], np.float32)
    refined = np.stack([ref[:, 0] / sps, ref[:, 1] / sps, pp[:, 3],
                        (np.asarray(out["iou_pred_refined"], np.float32) + score32).astype(np.float64)], axis=1)
    return np.concatenate([orig, refined])


# --------------------------------------------------------------------------------------------
# The recipe's Method


@dataclass
class HRProModel:
    visual: str = "rgb"
    audio: str = "logmfcc"
    audio_dim: int = 1024
    audio_time_groups: int = 8
    audio_dropout: float = 0.2
    layers: int = 2
    heads: int = 8
    ffn: int = 128
    rab_dropout: float = 0.3
    dropout: float = 0.7
    r_act: int = 8
    base_steps: int = 1000          # stage 1 iterations; then ranking, then stage 2
    roi_size: int = 12
    extension: float = 0.25
    instance_dropout: float = 0.7
    max_proposal: int = 1000
    iou_thresh: float = 0.3
    soft_nms_sigma: float = 0.3
    ranking_seed: int = 0           # Python random of the NP draws (official: global, seed 0)


@dataclass
class HRProLoss(HRProSnippetLossConfig):
    weight_loss_reg: float = 1.0
    weight_loss_score: float = 1.0


@register_method("hrpro")
class HRPro(Method):
    """Stage 1 (snippet model + memory), ranking (PP/RP/NP), stage 2 (instance model)."""

    ModelConfig = HRProModel
    LossConfig = HRProLoss
    supervision = "point"

    def __init__(self, model: HRProModel, loss: HRProLoss, spec: ModelSpec):
        super().__init__()
        from ..models.encoders import build_encoder

        spec.require("hrpro", *[m for m in (model.visual, model.audio) if m])
        if len(loss.lambdas) != 4:
            raise RecipeError(f"hrpro: loss.lambdas needs 4 numbers, got {loss.lambdas!r}")
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        dim = spec.vector_dim("hrpro", model.visual) + (model.audio_dim if model.audio else 0)
        if dim % model.heads:
            raise RecipeError(f"hrpro: input width {dim} must be divisible by model.heads {model.heads}")
        self.audio_encoder = (build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim,
                                            model.audio_dropout, model.audio_time_groups) if model.audio else None)
        self.snippet = HRProSnippetNet(dim, spec.num_classes, model.layers, model.heads, model.ffn,
                                       model.rab_dropout, model.dropout, model.r_act)
        self.instance = HRProInstanceNet(dim, model.roi_size, model.extension, model.instance_dropout)
        self.register_buffer("stage2", torch.tensor(False))
        self.register_buffer("memory_ready", torch.tensor(False))
        self.ranked: dict[str, dict[str, np.ndarray]] = {}  # vid -> PP (M,4) snippets, RP (R,3), NP (N,3)
        self.np_rng = np.random.RandomState(0)              # low-IoU sampling (official: numpy global)

    def _inputs(self, batch):
        x = batch["features"][self.cfg.visual].float()
        if self.audio_encoder is not None:
            audio = self.audio_encoder(batch["features"][self.cfg.audio].float(), batch["mask"])
            x = torch.cat([x, audio.transpose(1, 2)], dim=-1)
        return x

    def forward(self, batch):
        x = self._inputs(batch)
        per_video = []
        for b in range(x.shape[0]):  # official: one video at a time (full attention, no mask)
            n = int(batch["lengths"][b])
            labels = batch["video_labels"][b].to(x) if self.training else None
            out = self.snippet(x[b, :n], labels)
            if bool(self.stage2):
                out["instance"] = self._instance(x[b, :n].detach(), out, batch, b)
            per_video.append(out)
        return {"videos": per_video}

    def _sps(self, fps) -> float:
        return float(fps) / 16.0

    def _instance(self, x, out, batch, b):
        vid, sps = batch["vids"][b], self._sps(batch["fps"][b])
        if self.training:
            ranked = self.ranked.get(vid)
            if ranked is None:
                return None
            props = np.concatenate([ranked["PP"][:, :2], ranked["NP"][:, :2]])
            if len(props) > self.cfg.max_proposal:
                props = props[np.sort(self.np_rng.choice(len(props), self.cfg.max_proposal, replace=False))]
            pp = None
        else:
            raw = raw_proposals(out["cas_fuse"].detach().cpu().numpy(), out["vid_score"].detach().cpu().numpy(),
                                float(batch["fps"][b]), self.spec.classes)
            pp = to_snippet_rows(raw[:, [0, 1, 3, 2]], sps) if len(raw) else np.zeros((1, 4))
            props = pp[:, :2]
        p = torch.as_tensor(props, dtype=torch.float32, device=x.device)
        res = self.instance(x, p)
        res.update(proposals=p, pp=pp)
        return res

    def compute_loss(self, outputs, batch, step):
        C = self.spec.num_classes
        totals, logs = [], {}
        keys = ("loss_vid", "loss_frame", "loss_frame_bkg", "loss_contrastive", "loss_prop_reg", "loss_prop_iou")
        for b, out in enumerate(outputs["videos"]):
            n = out["cas_fuse"].shape[0]
            pts = np.asarray(batch["points"][b], np.int64).reshape(-1, 2)
            point_label = torch.zeros(n, C)
            pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < n)]
            point_label[pts[:, 0], pts[:, 1]] = 1
            if bool(self.stage2):
                inst, ranked = out.get("instance"), self.ranked.get(batch["vids"][b])
                if inst is None or ranked is None:  # a held-out video has no RP
                    continue
                rp = torch.as_tensor(ranked["RP"], dtype=torch.float32)
                terms = hrpro_instance_loss(inst, inst["proposals"], rp, self.np_rng.rand(len(inst["proposals"])),
                                            self.cfg.iou_thresh)
                total = self.loss_cfg.weight_loss_reg * terms["loss_prop_reg"] + \
                    self.loss_cfg.weight_loss_score * terms["loss_prop_iou"]
            else:
                label = batch["video_labels"][b].to(out["cas_fuse"])
                terms, act_seed = hrpro_snippet_loss(out, label, point_label, self.snippet.memory.proto_vectors,
                                                     self.loss_cfg)
                total = terms["loss_total"]
                if self.training:
                    memory_update(self.snippet.memory.proto_vectors.data, out["embeded_feature"].detach(), act_seed,
                                  label.cpu().numpy(), self.loss_cfg.proto_momentum)
            totals.append(total)
            for k in keys:
                logs[k] = logs.get(k, 0.0) + (float(terms[k].detach()) if k in terms else 0.0) / len(outputs["videos"])
        logs["stage"] = 2.0 if bool(self.stage2) else 1.0
        if not totals:
            return outputs["videos"][0]["cas_fuse"].sum() * 0, logs
        return torch.stack([t.float() for t in totals]).mean(), logs

    def on_step_end(self, step: int, context: TrainingContext) -> None:
        if not bool(self.memory_ready):  # official: before the first step; here after it
            self.ensure_memory(context)
        if step + 1 == self.cfg.base_steps:
            self.rank(context)
            self.stage2.fill_(True)
            context.reset_optimizer()

    def ensure_memory(self, context: TrainingContext) -> None:
        """``Reliable_Memory.init`` over the training videos (zero memory, eval mode)."""
        embs, pts = [], []
        for group, _, outputs in context.predict(context.videos):
            for video, out in zip(group, outputs["videos"]):
                embs.append(out["embeded_feature"])
                pts.append(video.points)
        self.snippet.memory.proto_vectors.data.copy_(memory_init(embs, pts, self.spec.num_classes))
        self.memory_ready.fill_(True)

    def rank(self, context: TrainingContext) -> None:
        """Reliability ranking on the training videos: PP (raw stage-1 proposals), RP, NP."""
        rng = random.Random(self.cfg.ranking_seed)
        for group, batch, outputs in context.predict(context.videos):
            for b, (video, out) in enumerate(zip(group, outputs["videos"])):
                cas = out["cas_fuse"].cpu().numpy()
                raw = raw_proposals(cas, out["vid_score"].cpu().numpy(), video.fps, self.spec.classes)
                by_class = {int(c): raw[raw[:, 2] == c][:, [0, 1, 3]] for c in np.unique(raw[:, 2])}
                times = np.asarray(video.point_frames, np.float64) / video.fps
                rp = match_point(by_class, list(zip(times.tolist(), video.points[:, 1].tolist())))
                rp_rows = [r for rows in rp.values() for r in rows if r is not None]
                P = np.zeros((len(cas), self.spec.num_classes + 1), np.float32)
                pts = video.points[(video.points[:, 0] >= 0) & (video.points[:, 0] < len(cas))]
                P[pts[:, 0], pts[:, 1]] = 1
                _, bkg_seed = select_seed(cas[:, -1], P, self.loss_cfg.act_thresh, self.loss_cfg.bkg_thresh)
                sps = self._sps(video.fps)
                pp = to_snippet_rows(raw[:, [0, 1, 3, 2]], sps) if len(raw) else np.zeros((1, 3))
                self.ranked[video.vid] = {"PP": pp[:, :3], "RP": to_snippet_rows(np.asarray(rp_rows).reshape(-1, 3), sps),
                                          "NP": negative_proposals(bkg_seed, len(raw), rng).reshape(-1, 3)}

    def training_state(self):
        from .base import numpy_generator_state

        return {"ranked": {vid: {k: np.asarray(v) for k, v in r.items()} for vid, r in self.ranked.items()},
                "np_rng": numpy_generator_state(self.np_rng)}

    def load_training_state(self, state):
        from .base import restore_numpy_generator

        self.ranked = {vid: {k: np.asarray(v, np.float64) for k, v in r.items()}
                       for vid, r in state.get("ranked", {}).items()}
        if "np_rng" in state:
            restore_numpy_generator(self.np_rng, state["np_rng"])

    def scores(self, outputs, batch):
        vids = outputs["videos"]
        T = int(batch["mask"].shape[1])
        cas = torch.zeros(len(vids), T, self.spec.num_classes)
        act = torch.zeros(len(vids), T)
        for b, out in enumerate(vids):
            n = out["cas_fuse"].shape[0]
            cas[b, :n] = out["cas_fuse"][:, :-1].cpu()
            act[b, :n] = 1 - out["cas_fuse"][:, -1].cpu()
        return {"cas": cas, "video_scores": torch.stack([o["vid_score"].cpu() for o in vids]), "actionness": act}

    def segments(self, outputs, batch, params):
        """Stage 2: original + refined proposals (``get_prediction``), soft-NMS; before it, the
        stage-1 inference (raw proposals, soft-NMS)."""
        names = params.class_names
        result = {}
        for b, out in enumerate(outputs["videos"]):
            sps = self._sps(batch["fps"][b])
            inst = out.get("instance")
            if inst is not None and inst["pp"] is not None:
                rows = instance_predictions(inst["pp"], {k: inst[k].cpu().numpy() for k in
                                                         ("iou_pred_orig", "prop_refined", "iou_pred_refined")}, sps)
            else:
                rows = raw_proposals(out["cas_fuse"].cpu().numpy(), out["vid_score"].cpu().numpy(),
                                     float(batch["fps"][b]), self.spec.classes)
            rows = class_soft_nms(rows, self.cfg.soft_nms_sigma)
            result[batch["vids"][b]] = [Segment(float(r[0]), float(r[1]), names[int(r[2])], float(r[3])) for r in rows]
        return result
