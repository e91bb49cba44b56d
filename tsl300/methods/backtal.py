"""BackTAL (Yang et al., TPAMI 2021): background-click supervision.

What differs from the shared codebase, and nothing else:

- the affinity-guided ("attention") temporal convolution, reproducing the official channel
  layout quirk by default (``affinity_layout="official"``; ``"tap"`` is the per-tap weighting
  the paper describes);
- the network: filter (foreground weights), embedding (affinity) and base modules with a
  bias-free classifier over C + 1 classes, run on the raw and the suppressed features;
- the BackTAL loss: MIL pair (background present / suppressed), L1 on the foreground weights,
  click cross-entropy, score separation and the affinity (embedding) hinge loss;
- :func:`derive_background_clicks`: simulated background clicks from temporal annotations.

Shapes follow the official code: ``cas`` is channel-first (B, C + 1, T) with background last,
``embedding`` is (B, E, T). A click label is ``C`` at a clicked snippet and ``-100`` elsewhere.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import timegrid
from ..errors import DataError, RecipeError
from ..models.encoders import build_encoder
from ..models.masked import masked_topk_mean
from .base import Method
from .registry import ModelSpec, register_method

IGNORE_INDEX = -100
"""Click label of an unclicked snippet (``nn.CrossEntropyLoss`` ignore index)."""

AFFINITY_LAYOUTS = ("official", "tap")


# ----------------------------------------------------------------------------------------------
# Affinity-guided convolution
# ----------------------------------------------------------------------------------------------
def neighbour_similarity(embedding: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity of each snippet's embedding with its left neighbour, itself and its
    right neighbour: (B, E, T) -> (B, 3, T). A neighbour outside the sequence is a zero vector
    (similarity 0), as in the official code."""
    left = F.pad(embedding, (1, 0))[..., :-1]
    right = F.pad(embedding, (0, 1))[..., 1:]
    return torch.stack([F.cosine_similarity(embedding, other, dim=1, eps=eps)
                        for other in (left, embedding, right)], dim=1)


def _tap_ranges(cin: int, layout: str) -> list[tuple[int, int, int, int]]:
    """``(group, tap, lo, hi)``: input channels ``lo..hi-1`` enter through kernel tap ``tap``
    scaled by ``similarity[group]``. Official layout: unfolded row ``3c + k`` belongs to group
    ``(3c + k) // Cin``, so for each tap the channels of a group are one contiguous range."""
    if layout == "tap":
        return [(k, k, 0, cin) for k in range(3)]
    ceil3 = lambda a: -(-a // 3)  # noqa: E731
    ranges = []
    for k in range(3):
        for g in range(3):
            lo, hi = max(0, ceil3(g * cin - k)), min(cin, ceil3((g + 1) * cin - k))
            if hi > lo:
                ranges.append((g, k, lo, hi))
    return ranges


def affinity_conv1d(feature: torch.Tensor, embedding: torch.Tensor, weight: torch.Tensor,
                    layout: str = "official") -> torch.Tensor:
    """Kernel-3 temporal convolution whose inputs are scaled by neighbour similarities.

    ``weight`` has the ``Conv1d(k=3, padding=1, bias=False)`` layout (Cout, Cin, 3).

    ``layout="official"`` reproduces ``network.py``: the similarity tile is tap-major but the
    unfolded input channel-major, so unfolded row ``r = 3c + k`` is scaled by
    ``similarity[r // Cin]`` (first third of the channels by the left similarity on every tap,
    the middle third by 1, the last third by the right similarity).
    ``layout="tap"`` scales tap ``k`` by ``similarity[k]`` (the paper's description).

    Computed as per-(group, tap) channel-range matmuls summed per group, then scaled: the FLOPs
    of one convolution, without materialising the (B, 3 Cin, T) unfolded input.
    """
    if layout not in AFFINITY_LAYOUTS:
        raise ValueError(f"affinity layout must be one of {AFFINITY_LAYOUTS}, got {layout!r}")
    sim = neighbour_similarity(embedding)                         # (B, 3, T)
    t = feature.shape[-1]
    padded = F.pad(feature, (1, 1))
    per_group: dict[int, torch.Tensor] = {}
    for g, k, lo, hi in _tap_ranges(feature.shape[1], layout):
        term = torch.einsum("oc,bct->bot", weight[:, lo:hi, k], padded[:, lo:hi, k:k + t])
        per_group[g] = term if g not in per_group else per_group[g] + term
    return sum(sim[:, g:g + 1] * value for g, value in per_group.items())


# ----------------------------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------------------------
class BackTALNet(nn.Module):
    """Filter, embedding and base modules plus the bias-free C + 1 classifier (official widths
    by default: hidden 512, base 2048, embedding 32). Input (B, D, T), optional mask (B, T)."""

    def __init__(self, in_dim: int, num_classes: int, base_dim: int = 2048, hidden_dim: int = 512,
                 embed_dim: int = 32, dropout: float = 0.7, affinity_layout: str = "official"):
        super().__init__()
        if affinity_layout not in AFFINITY_LAYOUTS:
            raise ValueError(f"affinity_layout must be one of {AFFINITY_LAYOUTS}")
        self.affinity_layout = affinity_layout
        self.filter = nn.Sequential(nn.Conv1d(in_dim, hidden_dim, 1), nn.LeakyReLU(),
                                    nn.Conv1d(hidden_dim, 1, 1), nn.Sigmoid())
        self.embed_1 = nn.Conv1d(in_dim, hidden_dim, 3, padding=1)
        self.embed_2 = nn.Conv1d(hidden_dim, embed_dim, 3, padding=1)
        # Plain Conv1d modules hold the weights (official initialisation); they are applied
        # through affinity_conv1d, never called directly.
        self.base_1 = nn.Conv1d(in_dim, base_dim, 3, padding=1, bias=False)
        self.base_2 = nn.Conv1d(base_dim, base_dim, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv1d(base_dim, num_classes + 1, 1, bias=False)

    def _base(self, x: torch.Tensor, embedding: torch.Tensor, keep: torch.Tensor):
        feat1 = F.leaky_relu(affinity_conv1d(x, embedding, self.base_1.weight,
                                             self.affinity_layout)) * keep
        feat2 = F.leaky_relu(affinity_conv1d(feat1, embedding, self.base_2.weight,
                                             self.affinity_layout)) * keep
        return feat1, self.dropout(feat2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        # Zeroing padded snippets between layers makes a padded batch compute exactly what each
        # video alone would (zero neighbours outside the real sequence, as the official padding).
        keep = (torch.ones_like(x[:, :1]) if mask is None
                else mask[:, None, :].to(x.dtype))
        x = x * keep
        fore_weights = self.filter(x) * keep
        hidden = F.leaky_relu(self.embed_1(x)) * keep
        embedding = F.normalize(self.embed_2(hidden), p=2, dim=1) * keep
        _, feat_base = self._base(x, embedding, keep)
        feat_supp_1, feat_supp = self._base(fore_weights * x, embedding, keep)
        return {"cas_base": self.classifier(feat_base), "cas_supp": self.classifier(feat_supp),
                "embedding": embedding, "fore_weights": fore_weights,
                "feature_supp_1": feat_supp_1}


def topk_mean(cas: torch.Tensor, k: torch.Tensor | int,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the top-k over time of channel-first (B, C, T), per-video ``k`` (int or (B,)),
    padded snippets ignored (shared ``masked_topk_mean``); the official video score."""
    b, _, t = cas.shape
    mask = torch.ones(b, t, dtype=torch.bool, device=cas.device) if mask is None else mask
    k = torch.as_tensor(k, device=cas.device).expand(b)
    return masked_topk_mean(cas.transpose(1, 2), mask, k)


# ----------------------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackTALLossConfig:
    """Official THUMOS14 settings (``experiments/THUMOS14.yaml``)."""

    w_norm: float = 1e-4
    w_separation: float = 1.0
    w_embedding: float = 0.8
    th_similar_min: float = 0.5
    th_different_max: float = 0.1


def mil_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of video scores (B, C+1) against normalised multi-hot labels,
    normalised as the official ``_cls_loss``: ``y / (sum y + 1e-10)``."""
    target = labels / (labels.sum(dim=1, keepdim=True) + 1e-10)
    return -(target * F.log_softmax(scores, dim=1)).sum(1).mean()


def click_loss(cas_base: torch.Tensor, click_label: torch.Tensor) -> torch.Tensor:
    """Cross-entropy pushing every clicked snippet to the background class (mean over clicks).
    Zero when the batch has no click (the official code returns NaN there)."""
    if not bool((click_label != IGNORE_INDEX).any()):
        return cas_base.sum() * 0.0
    return F.cross_entropy(cas_base, click_label, ignore_index=IGNORE_INDEX)


def separation_loss(cas_base: torch.Tensor, fg_score: torch.Tensor, labels: torch.Tensor,
                    clicked: torch.Tensor, trace: dict | None = None) -> torch.Tensor:
    """Score separation: for each video with clicks and each GT class c,
    ``-log softmax([fg_c, mean cas_c at clicks])[0]``; mean over the video's classes, then over
    the videos with clicks. ``clicked`` is a bool (B, T) click mask, ``fg_score`` (B, C+1).
    ``trace`` (a dict) receives the per-video intermediates ``per_class`` (B, C), ``per_video`` (B,)."""
    num_classes = labels.shape[1]
    n_clicks = clicked.sum(1)
    has = (n_clicks > 0) & (labels.sum(1) > 0)
    if not bool(has.any()):
        return cas_base.sum() * 0.0
    bg = (cas_base[:, :num_classes] * clicked[:, None, :]).sum(2) / n_clicks.clamp(min=1)[:, None]
    per_class = F.softplus(bg - fg_score[:, :num_classes])   # = -log_softmax([fg, bg])[0]
    per_video = (per_class * labels).sum(1) / labels.sum(1).clamp(min=1)
    if trace is not None:
        trace.update(per_class=per_class.detach(), per_video=per_video.detach())
    return per_video[has].mean()


def _pairwise_cosine(e: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(B, E, T) -> (B, T, T), cosine with the official clamp on the norm product."""
    norm = e.norm(p=2, dim=1)
    return torch.einsum("bet,bes->bts", e, e) / (norm[:, :, None] * norm[:, None, :]).clamp(min=eps)


def foreground_counts(cas_supp: torch.Tensor, labels: torch.Tensor, k: int | torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """How many GT classes put each snippet in their top-k of ``cas_supp`` (B, T): the official
    foreground index list, duplicates across classes included, as multiplicities."""
    num_classes = labels.shape[1]
    cas = cas_supp[:, :num_classes].detach()
    if mask is not None:
        cas = cas.masked_fill(~mask[:, None, :], float("-inf"))
    order = cas.argsort(dim=2, descending=True)
    k = torch.as_tensor(k, device=cas.device).reshape(-1, 1, 1)
    ranks = torch.empty_like(order).scatter_(
        2, order, torch.arange(cas.shape[2], device=cas.device).expand_as(order))
    in_topk = (ranks < k).to(cas_supp.dtype)                   # (B, C, T)
    return (in_topk * labels[:, :, None]).sum(1)


def embedding_loss(embedding: torch.Tensor, clicked: torch.Tensor, fg_count: torch.Tensor,
                   th_similar_min: float = 0.5, th_different_max: float = 0.1,
                   trace: dict | None = None) -> torch.Tensor:
    """Affinity hinge loss on the hardest pairs, per video with clicks, summed over the four
    terms and averaged over those videos. Foreground rows are weighted by their multiplicity.
    ``trace`` (a dict) receives the per-video intermediates: the hardest similarity of every
    snippet (B, T) as ``sim_fg2fg_hard`` ... and the four per-video terms (B,) ``loss_fg2fg`` ..."""
    has = clicked.any(1) & (fg_count.sum(1) > 0)
    if not bool(has.any()):
        return embedding.sum() * 0.0
    cos = _pairwise_cosine(embedding)
    fg, bg = fg_count > 0, clicked
    inf = torch.finfo(cos.dtype).max

    def hardest(select_cols: torch.Tensor, largest: bool) -> torch.Tensor:
        if largest:
            return cos.masked_fill(~select_cols[:, None, :], -inf).amax(2)
        return cos.masked_fill(~select_cols[:, None, :], inf).amin(2)

    def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (values * weights).sum(1) / weights.sum(1).clamp(min=1e-12)

    w_fg, w_bg = fg_count, bg.to(cos.dtype)
    sims = {"sim_fg2fg_hard": hardest(fg, False), "sim_bg2bg_hard": hardest(bg, False),
            "sim_fg2bg_hard": hardest(bg, True), "sim_bg2fg_hard": hardest(fg, True)}
    fg2fg = weighted_mean(F.relu(th_similar_min - sims["sim_fg2fg_hard"]), w_fg)
    bg2bg = weighted_mean(F.relu(th_similar_min - sims["sim_bg2bg_hard"]), w_bg)
    fg2bg = weighted_mean(F.relu(sims["sim_fg2bg_hard"] - th_different_max), w_fg)
    bg2fg = weighted_mean(F.relu(sims["sim_bg2fg_hard"] - th_different_max), w_bg)
    if trace is not None:
        trace.update({k: v.detach() for k, v in sims.items()})
        trace.update(loss_fg2fg=fg2fg.detach(), loss_bg2bg=bg2bg.detach(), loss_fg2bg=fg2bg.detach(),
                     loss_bg2fg=bg2fg.detach(), has=has)
    return (fg2fg + bg2bg + fg2bg + bg2fg)[has].sum() / has.sum()


def backtal_loss(score_base: torch.Tensor, cas_base: torch.Tensor, score_supp: torch.Tensor,
                 cas_supp: torch.Tensor, embedding: torch.Tensor, fore_weights: torch.Tensor,
                 labels: torch.Tensor, click_label: torch.Tensor, k: int | torch.Tensor,
                 config: BackTALLossConfig = BackTALLossConfig(),
                 separation_fg: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None, trace: dict | None = None) -> dict[str, torch.Tensor]:
    """Every term of the official ``BackTALLoss`` and their weighted total.

    ``separation_fg`` overrides the foreground value of the separation loss (the official
    ActivityNet branch uses a top-``k_for_topk_bg_loss`` mean of ``cas_base``); by default it is
    ``score_base`` (THUMOS14). ``trace`` (a dict) receives the per-video intermediates under
    ``"separation"`` and ``"embedding"`` (see :func:`separation_loss`, :func:`embedding_loss`)."""
    sep_trace = trace.setdefault("separation", {}) if trace is not None else None
    emb_trace = trace.setdefault("embedding", {}) if trace is not None else None
    ones = torch.ones_like(labels[:, :1])
    clicked = click_label == labels.shape[1]
    terms = {
        "loss_base": mil_loss(score_base, torch.cat([labels, ones], 1)),
        "loss_supp": mil_loss(score_supp, torch.cat([labels, 0 * ones], 1)),
        "loss_norm": fore_weights.abs().sum(2).mean(),
        "loss_click_base": click_loss(cas_base, click_label),
        "loss_gt_fg_bg_click": separation_loss(
            cas_base, score_base if separation_fg is None else separation_fg, labels, clicked, sep_trace),
        "loss_embedding": embedding_loss(
            embedding, clicked, foreground_counts(cas_supp, labels, k, mask),
            config.th_similar_min, config.th_different_max, emb_trace),
    }
    terms["loss_total"] = (terms["loss_base"] + terms["loss_supp"]
                           + config.w_norm * terms["loss_norm"] + terms["loss_click_base"]
                           + config.w_separation * terms["loss_gt_fg_bg_click"]
                           + config.w_embedding * terms["loss_embedding"])
    return terms


# ----------------------------------------------------------------------------------------------
# Background clicks from temporal annotations
# ----------------------------------------------------------------------------------------------
def background_gaps(segments: np.ndarray, n_snippets: int) -> np.ndarray:
    """Maximal runs of snippets covered by no annotated segment: (G, 2) inclusive [first, last].

    ``segments`` is (S, 2) inclusive snippet ranges (see ``timegrid.segment_to_snippets``)."""
    covered = np.zeros(n_snippets + 2, dtype=bool)            # sentinels at both ends
    covered[0] = covered[-1] = True
    for first, last in np.asarray(segments, dtype=np.int64).reshape(-1, 2):
        covered[1 + max(first, 0):1 + min(last, n_snippets - 1) + 1] = True
    edges = np.diff(covered.astype(np.int8))
    starts = np.flatnonzero(edges == -1)                      # covered -> free
    ends = np.flatnonzero(edges == 1) - 1                     # last free snippet
    return np.stack([starts, ends], axis=1) if len(starts) else np.zeros((0, 2), np.int64)


def derive_background_clicks(segments: np.ndarray, n_snippets: int, rng: np.random.Generator,
                             mode: str = "random", forbidden: np.ndarray | None = None) -> np.ndarray:
    """Simulated background clicks, one per background gap (the BackTAL protocol: annotators
    click one frame in each background segment, so clicks cost about as much as action points).

    ``mode="random"`` draws the click uniformly inside each gap (the simulation used by the
    paper for datasets without human clicks); ``"center"`` takes the gap's middle snippet.
    Snippets in ``forbidden`` (e.g. annotated points) are never clicked; a gap made only of
    forbidden snippets gives no click. Returns sorted unique snippet indices."""
    if mode not in ("random", "center"):
        raise ValueError(f"click mode must be 'random' or 'center', got {mode!r}")
    banned = np.zeros(n_snippets, dtype=bool)
    if forbidden is not None and len(forbidden):
        f = np.asarray(forbidden, dtype=np.int64)
        banned[f[(f >= 0) & (f < n_snippets)]] = True
    clicks = []
    for first, last in background_gaps(segments, n_snippets):
        candidates = np.flatnonzero(~banned[first:last + 1]) + first
        if not len(candidates):
            continue
        if mode == "random":
            clicks.append(int(rng.choice(candidates)))
        else:
            clicks.append(int(candidates[np.abs(candidates - (first + last) / 2).argmin()]))
    return np.unique(np.asarray(clicks, dtype=np.int64))


def click_label_tensor(clicks: list[np.ndarray], n_snippets: int, num_classes: int,
                       device: torch.device | None = None) -> torch.Tensor:
    """Per-snippet click labels (B, T): ``num_classes`` at clicks, ``-100`` elsewhere."""
    labels = torch.full((len(clicks), n_snippets), IGNORE_INDEX, dtype=torch.long, device=device)
    for b, idx in enumerate(clicks):
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=device)
        labels[b, idx[idx < n_snippets]] = num_classes
    return labels


# ----------------------------------------------------------------------------------------------
# The recipe's Method
# ----------------------------------------------------------------------------------------------
def minmax_over_time(x: torch.Tensor, mask: torch.Tensor, clip: bool = False) -> torch.Tensor:
    """Official ``minmax_norm`` over time of (B, C, T) on real snippets: ReLU'd min and max,
    a non-positive range replaced by 1; ``clip`` bounds the result to [0, 1]
    (``minmax_norm_feature``)."""
    big = torch.finfo(x.dtype).max
    hi = F.relu(x.masked_fill(~mask[:, None, :], -big).amax(2, keepdim=True))
    lo = F.relu(x.masked_fill(~mask[:, None, :], big).amin(2, keepdim=True))
    delta = hi - lo
    out = (x - lo) / torch.where(delta > 0, delta, torch.ones_like(delta))
    out = out.clamp(0.0, 1.0) if clip else out
    return out * mask[:, None, :].to(x.dtype)


@dataclass
class BackTALModel:
    """The recipe's ``model:`` section."""

    visual: str = "rgb"
    audio: str | None = "logmfcc"     # None: visual only
    audio_dim: int = 1024             # audio encoder width (the official flow half is 1024)
    audio_dropout: float = 0.2
    base_dim: int = 2048
    hidden_dim: int = 512
    embed_dim: int = 32
    dropout: float = 0.7
    affinity_layout: str = "official"  # 'tap': per-tap similarity (the paper's intent)
    topk_ratio: float = 0.125          # k = int(T * ratio)


@dataclass(frozen=True)
class BackTALLoss(BackTALLossConfig):
    """The loss constants plus how background clicks are derived from the annotations."""

    click_mode: str = "random"        # one click per background gap: 'random' or 'center'
    click_seed: int = 0


@register_method("backtal")
class BackTAL(Method):
    """BackTAL on TSL-300 features: early fusion ``[rgb ; audio encoder(logmfcc)]`` (the official
    input is ``[rgb ; flow]``), background clicks simulated from the training segments."""

    supervision = "background-click"

    ModelConfig = BackTALModel
    LossConfig = BackTALLoss

    def __init__(self, model: BackTALModel, loss: BackTALLoss, spec: ModelSpec):
        super().__init__()
        if model.affinity_layout not in AFFINITY_LAYOUTS:
            raise RecipeError(f"backtal: model.affinity_layout must be one of {AFFINITY_LAYOUTS}")
        if loss.click_mode not in ("random", "center"):
            raise RecipeError("backtal: loss.click_mode must be 'random' or 'center'")
        self.cfg, self.loss_cfg, self.num_classes = model, loss, spec.num_classes
        spec.require("backtal", *(m for m in (model.visual, model.audio) if m is not None))
        in_dim = spec.vector_dim("backtal", model.visual)
        self.audio = None
        if model.audio is not None:
            self.audio = build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim, model.audio_dropout)
            in_dim += model.audio_dim
        self.net = BackTALNet(in_dim, spec.num_classes, model.base_dim, model.hidden_dim,
                              model.embed_dim, model.dropout, model.affinity_layout)
        self._clicks: dict[str, np.ndarray] = {}

    def _inputs(self, batch: dict[str, Any]) -> torch.Tensor:
        mask = batch["mask"]
        keep = lambda name: batch["modality_mask"][name][:, None, None].to(mask.device)  # noqa: E731
        x = batch["features"][self.cfg.visual].transpose(1, 2) * keep(self.cfg.visual)
        if self.audio is not None:
            a = self.audio(batch["features"][self.cfg.audio], mask) * keep(self.cfg.audio)
            x = torch.cat([x, a], dim=1)
        return x

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch["mask"]
        out = self.net(self._inputs(batch), mask)
        k = (batch["lengths"].to(mask.device).double() * self.cfg.topk_ratio).long().clamp(min=1)
        out["k"] = k
        out["score_base"] = topk_mean(out["cas_base"], k, mask)
        out["score_supp"] = topk_mean(out["cas_supp"], k, mask)
        return out

    def clicks_for(self, vid: str, segments: np.ndarray, n_snippets: int, fps: float,
                   points: np.ndarray) -> np.ndarray:
        """The video's simulated clicks, drawn once and cached (an annotation does not change
        between epochs); the draw depends only on ``click_seed`` and the video id. A video
        without segments is background throughout: one click, away from its points."""
        if vid not in self._clicks:
            spans = np.array([timegrid.segment_to_snippets(s, e, fps, n_snippets)
                              for s, e, _ in segments], dtype=np.int64).reshape(-1, 2)
            rng = np.random.default_rng([self.loss_cfg.click_seed, zlib.crc32(vid.encode())])
            self._clicks[vid] = derive_background_clicks(
                spans, n_snippets, rng, self.loss_cfg.click_mode,
                forbidden=np.asarray(points, dtype=np.int64).reshape(-1, 2)[:, 0])
        return self._clicks[vid]

    def click_labels(self, batch: dict[str, Any]) -> torch.Tensor:
        if not any(len(s) for s in batch["segments"]) and any(v not in self._clicks for v in batch["vids"]):
            raise DataError(
                f"backtal: no video of the batch ({', '.join(batch['vids'][:3])}, ...) has "
                "ground-truth segments, so background clicks cannot be simulated; load the train "
                "split with its segments (data.loader_options: {gt: videosenti}) and do not crop "
                "(data.max_snippets)")
        lengths = batch["lengths"].tolist()
        clicks = [self.clicks_for(vid, segs, n, fps, pts) for vid, segs, n, fps, pts in
                  zip(batch["vids"], batch["segments"], lengths, batch["fps"], batch["points"])]
        return click_label_tensor(clicks, batch["mask"].shape[1], self.num_classes,
                                  batch["mask"].device)

    def compute_loss(self, outputs, batch, step):
        terms = backtal_loss(outputs["score_base"], outputs["cas_base"], outputs["score_supp"],
                             outputs["cas_supp"], outputs["embedding"], outputs["fore_weights"],
                             batch["video_labels"], self.click_labels(batch), outputs["k"],
                             self.loss_cfg, mask=batch["mask"])
        total = terms.pop("loss_total")
        return total, {k: float(v.detach()) for k, v in terms.items()}

    def scores(self, outputs, batch):
        """Official inference inputs: min-max normalised suppressed CAS, softmax of the
        suppressed video score, and the min-max normalised L2 magnitude of the first base
        layer (BackTAL's THUMOS class-agnostic proposals) as ``actionness``."""
        mask = batch["mask"]
        c = self.num_classes
        cas = minmax_over_time(outputs["cas_supp"], mask)[:, :c].transpose(1, 2)
        magnitude = outputs["feature_supp_1"].norm(p=2, dim=1, keepdim=True)
        return {"cas": cas, "video_scores": F.softmax(outputs["score_supp"], dim=1)[:, :c],
                "actionness": minmax_over_time(magnitude, mask, clip=True)[:, 0]}


__all__ = [
    "AFFINITY_LAYOUTS", "BackTAL", "BackTALLossConfig", "BackTALNet", "IGNORE_INDEX",
    "affinity_conv1d", "background_gaps", "backtal_loss", "click_label_tensor", "click_loss",
    "derive_background_clicks", "embedding_loss", "foreground_counts", "mil_loss",
    "minmax_over_time", "neighbour_similarity", "separation_loss", "topk_mean",
]
