"""POTLoc (Vahdani & Tian, CVIU 2024) pieces: base model, pseudo labels, crop, targets, inference.

Official code: ``elahevahd/POTLoc`` @47b8bc5 (``base_core.py``, ``PL_generation.py``,
``main_core.py``). POTLoc trains a base model (LACP without the sequence search), turns its
proposals and the points into pseudo-label segments, then trains a transformer on a temporal
pyramid with them. This module holds the parts; they reproduce ``../shared/golden/potloc``
(base losses, base inference, pseudo labels, training crop, the main network, its label
assignment, background seeds, video score, loss terms and inference) except the main model's
background-loss normalisation (see ``recipes/potloc/README.md``).

Official behaviours kept: the base background loss averages over the seeds (NaN without one,
here 0); points inside a proposal are taken in annotation order (unsorted points give inverted
pieces); the false-negative "clip to the best containing proposal" branch never runs, so a missed
point always gets ``[max(0, p - d/2), p + d/2]`` with score 0; a point whose candidates all
score <= -1 gets no pseudo label; the crop keeps points on the unrounded grid and rounds half to
even.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
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
from .lacp import LACP, LACPLoss, LACPModel
from .registry import ModelSpec, register_method

BASE_POSTPROCESS = dict(class_thresh=0.65, scale=8, oic_lambda=0.2, oic_gamma=0.25, nms="hard", nms_iou=0.6,
                        nms_plus_one=True, cas_thresholds=tuple(np.arange(0, 0.2, 0.025).tolist()),
                        actionness_thresholds=tuple(np.arange(0.3, 1, 0.025).tolist()),
                        oic_on_thresholded_cas=True, skip_lone_first_position=True)
"""``config.BaseConfig`` inference constants (the shared post-processing reproduces ``test()``)."""

BASE_LAMBDAS = (1.0, 0.5, 1.0, 0.0, 0.0)
"""LACP's loss terms ``[vid, frame, frame_bkg, score, feat]``: the base model has no search."""


@dataclass
class PseudoLabel:
    label: str
    point: float
    score: float
    segment: tuple[float, float]


def split_proposals(proposals: list[dict], points: list[tuple[str, float]]) -> list[dict]:
    """Step 1 of ``train_filter_proposals``: each proposal with its label's points inside
    ``[s, e]`` (inclusive, annotation order): 1 point -> kept; k >= 2 -> k pieces bounded by the
    midpoints; none -> dropped."""
    out = []
    for prop in proposals:
        s, e = prop["segment"]
        inside = [p for label, p in points if label == prop["label"] and s <= p <= e]
        if len(inside) == 1:
            out.append({"label": prop["label"], "point": inside[0], "score": prop["score"], "segment": list(prop["segment"])})
        elif len(inside) > 1:
            for i, p in enumerate(inside):
                lo = s if i == 0 else (p + inside[i - 1]) / 2
                hi = e if i == len(inside) - 1 else (p + inside[i + 1]) / 2
                out.append({"label": prop["label"], "point": p, "score": prop["score"], "segment": [lo, hi]})
    return out


def pseudo_labels(base_proposals: dict[str, list[dict]], point_dict: dict[str, list[tuple[str, float]]]
                  ) -> tuple[dict[str, list[PseudoLabel]], dict]:
    """``PL_generation.train_filter_proposals``: pseudo-label segments (seconds) per video in
    point order, and the intermediates (``proposals_dict``, ``stat_dict``,
    ``false_negative_dict``, ``new_proposals``). KeyError for a missed point of a class that no
    kept proposal has (official)."""
    vids = [v for v in point_dict if v in base_proposals]
    pieces = {v: split_proposals(base_proposals[v], point_dict[v]) for v in vids}
    lengths: dict[str, list[float]] = {}
    for v in vids:
        for prop in pieces[v]:
            lengths.setdefault(prop["label"], []).append(prop["segment"][1] - prop["segment"][0])
    stat = {label: float(np.mean(d)) for label, d in lengths.items()}
    missed: dict[str, list] = {}
    new: dict[str, list[dict]] = {}
    for v in vids:
        for label, p in point_dict[v]:
            if any(prop["label"] == label and prop["segment"][0] <= p <= prop["segment"][1] for prop in pieces[v]):
                continue
            d = stat[label]
            missed.setdefault(v, []).append([label, p])
            new.setdefault(v, []).append({"label": label, "score": 0, "segment": [max(0, p - d / 2), p + d / 2]})
    out: dict[str, list[PseudoLabel]] = {}
    for v in vids:
        cands = pieces[v] + new.get(v, [])
        labels = []
        for label, p in point_dict[v]:
            best, best_score = None, -1
            for prop in cands:
                if prop["label"] == label and prop["segment"][0] <= p <= prop["segment"][1] and prop["score"] > best_score:
                    best, best_score = prop, prop["score"]
            if best is not None:
                labels.append(PseudoLabel(label, p, best["score"], tuple(best["segment"])))
        out[v] = labels
    return out, {"proposals_dict": pieces, "stat_dict": stat, "false_negative_dict": missed, "new_proposals": new}


@dataclass
class Crop:
    crop_len: int
    st: int
    ed: int
    trials: int
    points: np.ndarray      # kept points, crop snippets (rounded half to even)
    labels: np.ndarray
    proposals: np.ndarray   # (K, 2) crop snippets, clamped to [0, crop_len - 1]


def truncate_feats(feat_len: int, max_seq_len: int, points_sec, proposals_sec, labels, rng: random.Random,
                   crop_ratio=(0.9, 1.0), max_trials: int = 500, cutoff: float = 0.7, sps: float = 25 / 16,
                   calls: list | None = None) -> Crop:
    """``main_core.truncate_feats``: a random window (a ``crop_ratio`` share of a short video,
    ``max_seq_len`` of a long one) keeping more than ``cutoff`` of the points (at most
    ``max_trials`` draws; the last otherwise). Python ``random`` (``rng``) as official."""
    def randint(a: int, b: int) -> int:
        r = rng.randint(a, b)
        if calls is not None:
            calls.append([a, b, r])
        return r

    T = feat_len
    if T <= max_seq_len:
        length = randint(max(round(crop_ratio[0] * T), 1), min(round(crop_ratio[1] * T), T))
    else:
        length = max_seq_len
    grid_pts = np.asarray(points_sec, np.float32).astype(np.float64) * sps
    n = len(grid_pts)
    trials = 0
    while True:
        trials += 1
        st = randint(0, T - length)
        ed = st + length
        keep = (grid_pts >= st) & (grid_pts <= ed - 1)
        if keep.sum() > cutoff * n or trials >= max_trials:
            break
    props = np.asarray(proposals_sec, np.float64).reshape(-1, 2)[keep]
    clamp = lambda x: min(max(x, 0), length - 1)  # noqa: E731
    return Crop(length, st, ed, trials,
                np.asarray([float(round(g - st)) for g in grid_pts[keep]]),
                np.asarray(labels)[keep],
                np.asarray([[clamp(round(s * sps - st)), clamp(round(e * sps - st))] for s, e in props],
                           np.float64).reshape(-1, 2))


def label_points(segments, points, labels, level_lengths, strides, num_classes: int,
                 radius: float = 2.0) -> np.ndarray:
    """``Model.label_points`` (centre sampling on the pyramid): location ``t = i * stride`` is
    positive for pseudo label ``(p, [a, b])`` iff ``max(p - r s, a) < t < min(p + r s, b)``
    (strict); the shortest applicable segment wins, with every segment within 1e-3 of it
    (multi-hot). Returns (sum of level lengths, C) targets, levels concatenated."""
    seg = np.asarray(segments, np.float64).reshape(-1, 2)
    pts = np.asarray(points, np.float64).reshape(-1)
    lab = np.asarray(labels, np.int64).reshape(-1)
    t = np.concatenate([np.arange(n) * s for n, s in zip(level_lengths, strides)]).astype(np.float64)
    stride = np.concatenate([np.full(n, s) for n, s in zip(level_lengths, strides)]).astype(np.float64)
    lo = np.maximum(pts[None, :] - radius * stride[:, None], seg[None, :, 0])
    hi = np.minimum(pts[None, :] + radius * stride[:, None], seg[None, :, 1])
    ok = (t[:, None] > lo) & (t[:, None] < hi)                       # (N, K)
    if not ok.size:
        return np.zeros((len(t), num_classes))
    length = np.where(ok, (seg[:, 1] - seg[:, 0])[None, :], np.inf)
    best = length.min(axis=1, keepdims=True)
    win = ok & (length <= best + 1e-3)
    targets = np.zeros((len(t), num_classes))
    rows, cols = np.nonzero(win)
    targets[rows, lab[cols]] = 1.0
    return targets


def main_select_seed(bkg_score: np.ndarray, point_anno: np.ndarray, bkg_thresh: float = 0.95) -> np.ndarray:
    """``main_utils.select_seed``: background seeds of one level. At the edges (before the
    first / after the last positive) only confident snippets (``>= bkg_thresh``): the span of
    two or more, the one alone, or nothing (no argmax fallback); in a gap of more than one
    snippet the span of two or more confident ones, else the argmax."""
    b = np.asarray(bkg_score)
    T = len(b)
    seed = np.zeros(T, np.float32)
    pts = np.flatnonzero(np.asarray(point_anno).max(axis=1) > 0)
    if not len(pts):
        return seed
    high = b >= bkg_thresh

    def span(lo: int, hi: int, fallback: bool) -> None:
        h = np.flatnonzero(high[lo:hi]) + lo
        if len(h) >= 1 and (len(h) >= 2 or not fallback):
            seed[h[0]:h[-1] + 1] = 1
        elif fallback and hi > lo:
            seed[lo + int(np.argmax(b[lo:hi]))] = 1

    span(0, int(pts[0]), fallback=False)
    span(int(pts[-1]) + 1, T, fallback=False)
    for a, c in zip(pts[:-1].tolist(), pts[1:].tolist()):
        if c - a > 1:
            span(a + 1, c, fallback=True)
    return seed


MAIN_INFERENCE = dict(class_thresh=0.7, nms_iou=0.45, temp_scale=4, oic_lambda=0.1, oic_gamma=0.0,
                      cas_thresholds=(0.4,), actionness_thresholds=tuple(np.arange(0.1, 0.95, 0.025).tolist()))
"""``config.MainConfig.inference``."""


def level_video_score(cas_sigmoid: np.ndarray, padded_len: int, r_act: int = 8) -> np.ndarray:
    """The main model's video score of one level: top-``padded_len // r_act`` mean of the masked,
    un-fused class sigmoid over the PADDED length (padding zeros count)."""
    x = np.zeros((padded_len, cas_sigmoid.shape[1] - 1), np.float32)
    x[:len(cas_sigmoid)] = cas_sigmoid[:, :-1]
    k = padded_len // r_act
    return -np.sort(-x, axis=0)[:k].mean(axis=0)


def main_detections(levels: list[dict], class_names, params: dict = MAIN_INFERENCE) -> list:
    """``Model.inference`` of one video from per-level ``cas_sigmoid`` (valid rows, C+1 columns),
    ``padded_len`` and ``stride``: per level its own classes, both proposal pools on the fused
    output upsampled over the PADDED length (so detections can pass the video end), 0.16 s per
    upsampled index on every level; NMS per class over all levels (classes in order of first
    appearance). Returns Segments in seconds."""
    from ..postprocess import hard_nms

    pooled: dict[str, list] = {}
    for lv in levels:
        sig = np.asarray(lv["cas_sigmoid"], np.float32)
        fused = np.zeros((lv["padded_len"], sig.shape[1]), np.float32)
        fused[:len(sig), :-1] = sig[:, :-1] * (np.float32(1) - sig[:, -1:])
        fused[:len(sig), -1] = sig[:, -1]
        vid = level_video_score(sig, lv["padded_len"])
        s = lv["stride"]
        pp = PostprocessParams(class_thresh=params["class_thresh"], scale=params["temp_scale"] * s,
                               oic_lambda=params["oic_lambda"], oic_gamma=params["oic_gamma"], nms="none",
                               cas_thresholds=params["cas_thresholds"],
                               actionness_thresholds=params["actionness_thresholds"], class_names=tuple(class_names))
        act = np.where(np.arange(lv["padded_len"]) < len(sig), 1 - fused[:, -1], 0.0)
        for seg in video_proposals(fused[:, :-1], vid, 25.0 / s, pp, act):
            pooled.setdefault(seg.label, []).append(seg)
    out = []
    for segs in pooled.values():
        times = np.asarray([[x.start, x.end] for x in segs])
        scores = np.asarray([x.score for x in segs])
        out.extend(segs[i] for i in hard_nms(times, scores, params["nms_iou"], True))
    return out


# --------------------------------------------------------------------------------------------
# The main network (``main_model.py`` / ``main_backbones.py``: ActionFormer's conv-transformer
# backbone, identity FPN with LayerNorm, classification head; no regression head)



class MaskedConv1D(nn.Module):
    """Conv1d whose output is multiplied by the (nearest-downsampled) mask."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)
        self.stride = stride

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.conv(x)
        if self.stride > 1:
            mask = F.interpolate(mask.float(), size=out.shape[-1], mode="nearest").bool()
        return out * mask.to(out.dtype), mask


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of (B, C, T), biased variance, eps 1e-5, (1, C, 1) affine."""

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, c, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=1, keepdim=True)
        res = x - mu
        return res / torch.sqrt((res ** 2).mean(dim=1, keepdim=True) + self.eps) * self.weight + self.bias


class AffineDropPath(nn.Module):
    def __init__(self, c: int, drop_prob: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(1e-4 * torch.ones(1, c, 1))
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale * x
        if not self.training or self.drop_prob == 0:
            return x
        keep = 1 - self.drop_prob
        u = keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
        return x / keep * u.floor()


class LocalMaskedMHCA(nn.Module):
    """Local (±window/2) multi-head attention: depthwise conv (stride) + LayerNorm + 1x1 conv for
    q, k, v; keys outside the sequence excluded, invalid keys -1e4, invalid query rows zeroed."""

    def __init__(self, dim: int, heads: int, window: int, stride: int = 1):
        super().__init__()
        self.heads, self.overlap = heads, window // 2
        self.scale = 1.0 / math.sqrt(dim // heads)
        for name in ("query", "key", "value"):
            setattr(self, f"{name}_conv", MaskedConv1D(dim, dim, 3, stride, groups=dim, bias=False))
            setattr(self, f"{name}_norm", ChannelLayerNorm(dim))
        self.key = nn.Conv1d(dim, dim, 1)
        self.query = nn.Conv1d(dim, dim, 1)
        self.value = nn.Conv1d(dim, dim, 1)
        self.proj = nn.Conv1d(dim, dim, 1)

    def forward(self, x, mask):
        q, qmask = self.query_conv(x, mask)
        k, kmask = self.key_conv(x, mask)
        v, _ = self.value_conv(x, mask)
        q, k, v = self.query(self.query_norm(q)), self.key(self.key_norm(k)), self.value(self.value_norm(v))
        B, C, T = q.shape
        H, w = self.heads, self.overlap
        q = q.view(B, H, C // H, T).transpose(2, 3) * self.scale          # (B, H, T, c)
        k = k.view(B, H, C // H, T).transpose(2, 3)
        v = v.view(B, H, C // H, T).transpose(2, 3)
        kp = F.pad(k, (0, 0, w, w)).unfold(2, 2 * w + 1, 1)                 # (B, H, T, c, 2w+1)
        vp = F.pad(v, (0, 0, w, w)).unfold(2, 2 * w + 1, 1)
        att = torch.einsum("bhtc,bhtcw->bhtw", q, kp)
        pos = torch.arange(T, device=x.device)[:, None] + torch.arange(-w, w + 1, device=x.device)[None]
        inside = (pos >= 0) & (pos < T)                                     # (T, 2w+1)
        kvalid = F.pad(kmask[:, 0].float(), (w, w)).unfold(1, 2 * w + 1, 1)  # (B, T, 2w+1)
        att = att + ((1 - kvalid) * -1e4)[:, None]
        att = att.masked_fill(~inside[None, None], float("-inf")).softmax(dim=-1)
        att = att * kmask[:, 0, :, None].to(att.dtype)[:, None]           # rows of invalid queries
        out = torch.einsum("bhtw,bhtcw->bhtc", att, vp).transpose(2, 3).reshape(B, C, T)
        return self.proj(out) * qmask.to(out.dtype), qmask


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, stride: int = 1, path_pdrop: float = 0.1):
        super().__init__()
        self.ln1, self.ln2 = ChannelLayerNorm(dim), ChannelLayerNorm(dim)
        self.attn = LocalMaskedMHCA(dim, heads, window, stride)
        self.pool_skip = nn.MaxPool1d(stride + 1, stride, (stride + 1) // 2) if stride > 1 else nn.Identity()
        self.mlp = nn.Sequential(nn.Conv1d(dim, 4 * dim, 1), nn.GELU(), nn.Dropout(0.0), nn.Conv1d(4 * dim, dim, 1),
                                 nn.Dropout(0.0))
        self.drop_path_attn = AffineDropPath(dim, path_pdrop)
        self.drop_path_mlp = AffineDropPath(dim, path_pdrop)

    def forward(self, x, mask):
        out, omask = self.attn(self.ln1(x), mask)
        m = omask.to(out.dtype)
        out = self.pool_skip(x) * m + self.drop_path_attn(out)
        return out + self.drop_path_mlp(self.mlp(self.ln2(out)) * m), omask


class POTLocBackbone(nn.Module):
    def __init__(self, in_dim: int, dim: int, heads: int = 4, window: int = 12, arch=(2, 2, 2), path_pdrop: float = 0.1):
        super().__init__()
        self.embd = nn.ModuleList([MaskedConv1D(in_dim if i == 0 else dim, dim, 3, bias=False) for i in range(arch[0])])
        self.embd_norm = nn.ModuleList([ChannelLayerNorm(dim) for _ in range(arch[0])])
        self.stem = nn.ModuleList([TransformerBlock(dim, heads, window, 1, path_pdrop) for _ in range(arch[1])])
        self.branch = nn.ModuleList([TransformerBlock(dim, heads, window, 2, path_pdrop) for _ in range(arch[2])])

    def forward(self, x, mask):
        for conv, norm in zip(self.embd, self.embd_norm):
            x, mask = conv(x, mask)
            x = F.relu(norm(x))
        for block in self.stem:
            x, mask = block(x, mask)
        feats, masks = [x], [mask]
        for block in self.branch:
            x, mask = block(x, mask)
            feats.append(x)
            masks.append(mask)
        return feats, masks


class POTLocNeck(nn.Module):
    def __init__(self, dim: int, levels: int = 3):
        super().__init__()
        self.fpn_norms = nn.ModuleList([ChannelLayerNorm(dim) for _ in range(levels)])


class POTLocHead(nn.Module):
    def __init__(self, dim: int, num_classes: int, layers: int = 3):
        super().__init__()
        self.head = nn.ModuleList([MaskedConv1D(dim, dim, 3, bias=False) for _ in range(layers - 1)])
        self.norm = nn.ModuleList([ChannelLayerNorm(dim) for _ in range(layers - 1)])
        self.cls_head = MaskedConv1D(dim, num_classes + 1, 3)

    def forward(self, x, mask):
        for conv, norm in zip(self.head, self.norm):
            x, _ = conv(x, mask)
            x = F.relu(norm(x))
        return self.cls_head(x, mask)[0]


class POTLocMainNet(nn.Module):
    """``main_model.Model`` without the unused ``cls_module``: per-level logits (B, C+1, T_l)."""

    def __init__(self, in_dim: int, num_classes: int, dim: int = 512, heads: int = 4, window: int = 12,
                 path_pdrop: float = 0.1):
        super().__init__()
        self.backbone = POTLocBackbone(in_dim, dim, heads, window, path_pdrop=path_pdrop)
        self.neck = POTLocNeck(dim)
        self.cls_head = POTLocHead(dim, num_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """``x`` (B, D, T) padded, ``mask`` (B, 1, T) bool -> ``logits``, ``fpn_feats``, ``masks`` per level."""
        feats, masks = self.backbone(x, mask)
        feats = [norm(f) for norm, f in zip(self.neck.fpn_norms, feats)]
        return {"logits": [self.cls_head(f, m) for f, m in zip(feats, masks)], "fpn_feats": feats, "masks": masks}


def potloc_main_loss(cas_sigmoid: list[torch.Tensor], masks: list[torch.Tensor], targets: torch.Tensor,
                     label: torch.Tensor, r_act: int = 8, bkg_thresh: float = 0.95) -> dict[str, Any]:
    """The main model's loss terms of one video. ``cas_sigmoid[l]`` (padded T_l, C+1) sigmoid of
    the head, ``masks[l]`` (T_l,) bool, ``targets`` (sum T_l, C) from :func:`label_points`,
    ``label`` (C,) the crop's video labels. The top-k uses ``padded T_l // r_act`` over the padded
    level (official); the frame loss is normalised by the positive locations, the background loss
    by the seeds (1 when there is none); seeds per level without edge fallback."""

    scores, fused_all = [], []
    for sig, m in zip(cas_sigmoid, masks):
        mf = m.to(sig.dtype)[:, None]
        cls = sig[:, :-1] * mf
        k = sig.shape[0] // r_act
        scores.append(cls.topk(k, dim=0).values.mean(dim=0) * label + cls.mean(dim=0) * (1 - label))
        fused_all.append(torch.cat([sig[:, :-1] * (1 - sig[:, -1:]), sig[:, -1:]], dim=1) * mf)
    vid = torch.stack(scores).mean(dim=0)
    loss_vid = F.binary_cross_entropy(vid, label)
    p = torch.cat(fused_all)
    Q = torch.cat([targets, targets.new_zeros(len(targets), 1)], dim=1) * torch.cat(masks).to(p.dtype)[:, None]
    w = Q.max(dim=1).values
    num_actions = max(float(w.sum()), 1.0)
    loss_frame = (focal_bce_terms(p, Q, gamma=2).sum(dim=1) * w).sum() / num_actions
    seeds, start = [], 0
    for f in fused_all:
        n = len(f)
        seeds.append(main_select_seed(f[:, -1].detach().cpu().numpy(), Q[start:start + n].detach().cpu().numpy(),
                                      bkg_thresh))
        start += n
    seed = torch.as_tensor(np.concatenate(seeds), dtype=p.dtype, device=p.device)
    bg_target = torch.zeros_like(p)
    bg_target[:, -1] = 1
    num_bkg = max(float(seed.sum()), 1.0)
    loss_bg = (focal_bce_terms(p, bg_target, gamma=2).sum(dim=1) * seed).sum() / num_bkg
    return {"loss_vid": loss_vid, "loss_frame": loss_frame, "loss_bg": loss_bg,
            "final_loss": loss_vid + 0.5 * loss_frame + loss_bg, "vid_score": vid, "num_actions": num_actions,
            "num_bkg": num_bkg, "bkg_seed_per_level": [np.flatnonzero(s).tolist() for s in seeds]}


# --------------------------------------------------------------------------------------------
# The recipe's Method: base (LACP without search) -> pseudo labels -> main model, one schedule




@dataclass
class POTLocModel:
    base: LACPModel = field(default_factory=lambda: LACPModel(search_freq=0))
    base_steps: int = 4000          # official base iterations; then pseudo labels, then the main model
    embd_dim: int = 512
    n_head: int = 4
    window: int = 12
    path_pdrop: float = 0.1
    max_seq_len: int = 768
    max_div_factor: int = 48
    sample_radius: float = 2.0
    crop: bool = True               # official random crop of [0.9 T, T] snippets


@dataclass
class POTLocLoss:
    base: LACPLoss = field(default_factory=lambda: LACPLoss(lambdas=BASE_LAMBDAS))
    bkg_thresh: float = 0.95
    r_act: int = 8


@register_method("potloc")
class POTLoc(Method):
    """Stage 1: the base LACP (no search); at ``base_steps`` its proposals on the training videos
    become pseudo labels; stage 2: the main network on the pyramid."""

    ModelConfig = POTLocModel
    LossConfig = POTLocLoss
    supervision = "point"
    STRIDES = (1, 2, 4)

    def __init__(self, model: POTLocModel, loss: POTLocLoss, spec: ModelSpec):
        super().__init__()
        if model.base.search_freq:
            raise RecipeError("potloc: the base model has no sequence search (model.base.search_freq must be 0)")
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        self.base = LACP(model.base, loss.base, spec)
        dim = self.base.net.classifier.in_channels
        self.main = POTLocMainNet(dim, spec.num_classes, model.embd_dim, model.n_head, model.window, model.path_pdrop)
        self.register_buffer("stage2", torch.tensor(False))
        self.labels_: dict[str, list[list[float]]] = {}  # vid -> [point_s, start_s, end_s, class]
        self.rng = random.Random(0)                      # the crop (official: Python's global random)

    def forward(self, batch):
        out = self.base(batch)
        if not bool(self.stage2):
            return out
        x = torch.cat([batch["features"][self.cfg.base.visual].float()]
                      + ([self.base.audio_encoder(batch["features"][self.cfg.base.audio].float(), batch["mask"])
                          .transpose(1, 2)] if self.base.audio_encoder is not None else []), dim=-1).detach()
        videos = []
        for b in range(x.shape[0]):
            n = int(batch["lengths"][b])
            feats, crop = x[b, :n], None
            if self.training:
                self._sps = float(batch["fps"][b]) / 16.0
                crop = self._crop(batch["vids"][b], n)
                if crop is None:
                    videos.append(None)
                    continue
                feats = feats[crop.st:crop.ed]
            T = len(feats)
            L = self.cfg.max_seq_len if T <= self.cfg.max_seq_len else \
                int(math.ceil(T / self.cfg.max_div_factor) * self.cfg.max_div_factor)
            xp = feats.new_zeros(1, feats.shape[1], L)
            xp[0, :, :T] = feats.t()
            res = self.main(xp, (torch.arange(L, device=x.device) < T)[None, None])
            res.update(crop=crop, length=T)
            videos.append(res)
        out["main"] = videos
        return out

    def _crop(self, vid: str, n: int) -> Crop | None:
        rows = self.labels_.get(vid)
        if not rows:
            return None
        rows = np.asarray(rows, np.float64)
        sps = self._sps
        if not self.cfg.crop:
            return Crop(n, 0, n, 1, np.asarray([float(round(p * sps)) for p in rows[:, 0]]), rows[:, 3].astype(int),
                        np.clip(np.round(rows[:, 1:3] * sps), 0, n - 1))
        return truncate_feats(n, self.cfg.max_seq_len, rows[:, 0], rows[:, 1:3], rows[:, 3].astype(int), self.rng,
                              sps=sps)

    _sps = 1.0  # set per video (snippets per second) before each crop

    def compute_loss(self, outputs, batch, step):
        if not bool(self.stage2):
            total, logs = self.base.compute_loss(outputs, batch, step)
            return total, {"stage": 1.0, **logs}
        C = self.spec.num_classes
        terms, logs = [], {"stage": 2.0}
        for b, res in enumerate(outputs.get("main", [])):
            if res is None:
                continue
            crop = res["crop"]
            lengths = [lg.shape[-1] for lg in res["logits"]]
            if crop is not None:
                targets = label_points(crop.proposals, crop.points, crop.labels, lengths, self.STRIDES, C,
                                       self.cfg.sample_radius)
                label = np.zeros(C, np.float32)
                label[np.asarray(crop.labels, int)] = 1
            else:  # validation pass: the video's own points, no segments -> video labels only
                targets = np.zeros((sum(lengths), C))
                label = batch["video_labels"][b].cpu().numpy()
            sigs = [torch.sigmoid(lg[0].t()) for lg in res["logits"]]
            masks = [m[0, 0] for m in res["masks"]]
            t = potloc_main_loss(sigs, masks, torch.as_tensor(targets, dtype=sigs[0].dtype, device=sigs[0].device),
                                 torch.as_tensor(label, dtype=sigs[0].dtype, device=sigs[0].device), self.loss_cfg.r_act,
                                 self.loss_cfg.bkg_thresh)
            terms.append(t)
        if not terms:
            return outputs["vid_score"].sum() * 0, logs
        for k in ("loss_vid", "loss_frame", "loss_bg"):
            logs[k] = float(torch.stack([t[k] for t in terms]).mean())
        return torch.stack([t["final_loss"] for t in terms]).mean(), logs

    def on_step_end(self, step: int, context: TrainingContext) -> None:
        if bool(self.stage2) or step + 1 != self.cfg.base_steps:
            return
        names = self.spec.classes
        params = PostprocessParams(**BASE_POSTPROCESS, class_names=names)
        for group, batch, outputs in context.predict(context.videos):
            scores = self.base.scores(outputs, batch)
            for b, video in enumerate(group):
                n = video.num_snippets
                segs = video_proposals(scores["cas"][b, :n].cpu().numpy(), scores["video_scores"][b].cpu().numpy(),
                                       video.fps, params, scores["actionness"][b, :n].cpu().numpy())
                props = [{"label": s.label, "score": s.score, "segment": [s.start, s.end]} for s in segs]
                points = [(names[int(c)], float(f) / video.fps) for f, c in zip(video.point_frames, video.points[:, 1])]
                try:
                    labels, _ = pseudo_labels({video.vid: props}, {video.vid: points})
                except KeyError:  # official: a class without any matched proposal raises
                    labels = {video.vid: []}
                self.labels_[video.vid] = [[p.point, p.segment[0], p.segment[1], names.index(p.label)]
                                           for p in labels[video.vid]]
        self.stage2.fill_(True)
        context.reset_optimizer()

    def training_state(self):
        return {"base": self.base.training_state(), "labels": {k: np.asarray(v) for k, v in self.labels_.items()},
                "rng": list(self.rng.getstate()[1]), "rng_pos": self.rng.getstate()[2] or 0}

    def load_training_state(self, state):
        self.base.load_training_state(state.get("base", {}))
        self.labels_ = {k: np.asarray(v, np.float64).reshape(-1, 4).tolist() for k, v in state.get("labels", {}).items()}
        if "rng" in state:
            self.rng.setstate((3, tuple(int(v) for v in state["rng"]), None))

    def scores(self, outputs, batch):
        return self.base.scores(outputs, batch)

    def segments(self, outputs, batch, params):
        if "main" not in outputs:
            return None
        result = {}
        for b, res in enumerate(outputs["main"]):
            fps = float(batch["fps"][b])
            levels = [{"cas_sigmoid": torch.sigmoid(lg[0, :, :int(m[0, 0].sum())].t()).cpu().numpy(),
                       "padded_len": lg.shape[-1], "stride": s}
                      for lg, m, s in zip(res["logits"], res["masks"], self.STRIDES)]
            dets = main_detections(levels, params.class_names)
            scale = 25.0 / fps  # main_detections assumes 25-fps snippets: rescale to this video's grid
            result[batch["vids"][b]] = [Segment(d.start * scale, d.end * scale, d.label, d.score) for d in dets]
        return result
