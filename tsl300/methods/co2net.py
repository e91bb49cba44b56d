"""CO2-Net (Hong et al., ACM MM 2021): what differs from the shared codebase.

Official code: ``harlanhong/MM2021-CO2-Net`` (``model.py``, ``wsad_dataset.py``,
``proposal_methods.py``). Supervision: video-level labels. On TSL-300 the two streams are
visual (I3D RGB, the official "RGB" role) and audio (the official "flow" role): ``vAttn`` is
the consensus module with visual as main and audio as auxiliary, ``fAttn`` the reverse.

Shared parts reused: the masked MIL / suppression / mutual / norm / opposite terms
(:mod:`tsl300.losses.consensus`), the audio encoder (:mod:`tsl300.models.encoders`), OIC,
class selection and soft-NMS (:mod:`tsl300.postprocess`). Here: the consensus module in its
original two-modality form (official parameter names, dropout on the attention logit), the
network, the co-activity loss, the fixed-length ``random_perturb`` sampling and the inference
variant (attention-only proposal mask, OIC on ``cas * attn``, soft-NMS in snippet units).
Official quirks kept by default are listed in ``recipes/co2net/README.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsl300 import timegrid
from tsl300.data.types import Segment
from tsl300.errors import RecipeError
from tsl300.losses.consensus import (attention_norm, masked_topk_mil, mutual_learning, opposite,
                                     softmax_background, suppress_background)
from tsl300.methods.base import Method
from tsl300.methods.registry import ModelSpec, register_method
from tsl300.models.encoders import build_encoder
from tsl300.postprocess import (outer_inner_contrast, select_classes, soft_nms, threshold_runs,
                                threshold_tuple)

# --------------------------------------------------------------------------------------------
# Modules


def run_masked(layers: nn.Sequential, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """Apply ``layers`` re-zeroing padded snippets before every conv (``keep`` (B, 1, T) or
    None), so a padded batch gives each video the outputs it gets alone."""
    for layer in layers:
        if keep is not None and isinstance(layer, nn.Conv1d):
            x = x * keep
        x = layer(x)
    return x if keep is None else x * keep


def _time_mean(x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    if keep is None:
        return x.mean(dim=-1, keepdim=True)
    return (x * keep).sum(-1, keepdim=True) / keep.sum(-1, keepdim=True).clamp_min(1.0)


class CrossModalConsensus(nn.Module):
    """The official two-modality consensus module (``BWA_fusion_dropout_feat_v2``).

    The main modality's global context (a k=3 conv on its time-average, so only the centre tap
    acts) gates, channel by channel, the auxiliary modality's local context (a k=3 conv); the
    sigmoid of their product re-calibrates the main feature, and an attention unit turns the
    result into a class-agnostic foreground attention. The official class hard-codes 1024 for
    both widths; here ``aux_dim`` may differ (``bit_wise_attn`` maps it to ``main_dim``).
    Parameter names follow the official state dict, so its weights load unchanged.
    :class:`tsl300.models.consensus.ConsensusFusion` is the N-modality generalisation (it has
    no dropout on the attention logit; in eval mode the two agree, see the golden tests).
    """

    def __init__(self, main_dim: int = 1024, aux_dim: int | None = None, hidden: int = 512,
                 dropout: float = 0.5):
        super().__init__()
        aux_dim = main_dim if aux_dim is None else aux_dim
        self.channel_conv = nn.Sequential(nn.Conv1d(main_dim, main_dim, 3, padding=1),
                                          nn.LeakyReLU(0.2), nn.Dropout(dropout))
        self.bit_wise_attn = nn.Sequential(nn.Conv1d(aux_dim, main_dim, 3, padding=1),
                                           nn.LeakyReLU(0.2), nn.Dropout(dropout))
        self.attention = nn.Sequential(
            nn.Conv1d(main_dim, hidden, 3, padding=1), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, 1, 1), nn.Dropout(dropout),  # dropout on the logit (official)
            nn.Sigmoid())

    def gates(self, main: torch.Tensor, aux: torch.Tensor, keep: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(channel_attn (B, D, 1), bit_wise_attn (B, D, T))`` for channels-first inputs."""
        channel = self.channel_conv(_time_mean(main, keep))
        return channel, run_masked(self.bit_wise_attn, aux, keep)

    def forward(self, main: torch.Tensor, aux: torch.Tensor, keep: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``main`` (B, Dm, T), ``aux`` (B, Da, T) -> ``(attention (B, 1, T), filtered (B, Dm, T))``."""
        channel, local = self.gates(main, aux, keep)
        filtered = torch.sigmoid(local * channel) * main
        return run_masked(self.attention, filtered, keep), filtered


class CO2Network(nn.Module):
    """The official ``CO2`` network on two streams (main = visual, aux = audio).

    ``vAttn``/``fAttn`` are the two consensus modules, ``fusion`` a 1x1 conv on the concatenated
    re-calibrated features (the embedded feature of the co-activity loss), ``classifier`` the
    k=3 + k=1 conv head with C+1 outputs (background last). ``smooth_kernel`` > 1 gives the
    ActivityNet variant ``ANT_CO2``: CAS and attentions averaged over time with zero padding.
    """

    def __init__(self, visual_dim: int = 1024, audio_dim: int = 1024, num_classes: int = 2,
                 embed_dim: int | None = None, dropout: float = 0.7, attention_hidden: int = 512,
                 ccm_dropout: float = 0.5, smooth_kernel: int = 1):
        super().__init__()
        embed_dim = visual_dim + audio_dim if not embed_dim else embed_dim
        self.vAttn = CrossModalConsensus(visual_dim, audio_dim, attention_hidden, ccm_dropout)
        self.fAttn = CrossModalConsensus(audio_dim, visual_dim, attention_hidden, ccm_dropout)
        self.fusion = nn.Sequential(nn.Conv1d(visual_dim + audio_dim, embed_dim, 1),
                                    nn.LeakyReLU(0.2), nn.Dropout(dropout))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Conv1d(embed_dim, embed_dim, 3, padding=1),
            nn.LeakyReLU(0.2), nn.Dropout(dropout), nn.Conv1d(embed_dim, num_classes + 1, 1))
        self.smooth_kernel = smooth_kernel
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def _smooth(self, x: torch.Tensor) -> torch.Tensor:
        if self.smooth_kernel <= 1:
            return x
        return F.avg_pool1d(x, self.smooth_kernel, stride=1, padding=self.smooth_kernel // 2,
                            count_include_pad=True)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """``visual`` (B, T, Dv), ``audio`` (B, T, Da), ``mask`` (B, T) or None -> time-major
        outputs with the official names: ``feat``, ``cas`` (logits), ``attn``, ``v_atn``, ``f_atn``."""
        keep = None if mask is None else mask[:, None, :].to(visual.dtype)
        v, a = visual.transpose(1, 2), audio.transpose(1, 2)
        if keep is not None:
            v, a = v * keep, a * keep
        v_atn, v_feat = self.vAttn(v, a, keep)
        f_atn, f_feat = self.fAttn(a, v, keep)
        attn = (v_atn + f_atn) / 2
        feat = run_masked(self.fusion, torch.cat([v_feat, f_feat], dim=1), keep)
        cas = self._smooth(run_masked(self.classifier, feat, keep))
        return {"feat": feat.transpose(1, 2), "cas": cas.transpose(1, 2),
                "attn": self._smooth(attn)[:, 0], "v_atn": self._smooth(v_atn)[:, 0],
                "f_atn": self._smooth(f_atn)[:, 0]}


def ant_smooth_kernel(max_seqlen: int = 60, t: int = 5) -> int:
    """The ``ANT_CO2`` pooling width, ``(max_seqlen // t) // 2 * 2 + 1`` (13 for 60 and 5)."""
    return (max_seqlen // t) // 2 * 2 + 1


def random_perturb_indices(lengths: torch.Tensor, num_segments: int,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """The official ``random_perturb``: (B, num_segments) snippet indices per video.

    Bin ``i`` starts at ``int(i * T / n)``; one index is drawn uniformly in
    ``[start_i, start_{i+1}]`` (both ends, as the official ``range(.., .. + 1)``), the last bin in
    ``[start, T - 1]``. Longer videos are subsampled, shorter ones repeat snippets; a video of
    exactly ``num_segments`` snippets is kept as is.
    """
    T = lengths.to(torch.float64)[:, None]
    i = torch.arange(num_segments + 1, dtype=torch.float64)[None, :]
    edges = torch.floor(i * T / num_segments).long()  # (B, n+1)
    low = edges[:, :-1]
    high = torch.cat([edges[:, 1:-1], lengths[:, None].long() - 1], dim=1)
    high = torch.maximum(high, low)
    draw = torch.rand(low.shape, generator=generator, dtype=torch.float64)
    picks = low + torch.floor(draw * (high - low + 1).to(torch.float64)).long()
    exact = lengths.long() == num_segments
    return torch.where(exact[:, None], torch.arange(num_segments)[None, :], picks)


# --------------------------------------------------------------------------------------------
# Losses (``CO2.criterion``)


def co_activity_loss(feat: torch.Tensor, cas_supp: torch.Tensor, labels: torch.Tensor,
                     pairs: Sequence[tuple[int, int]] = ((0, 1), (2, 3), (4, 5)),
                     margin: float = 0.5, mask: torch.Tensor | None = None) -> torch.Tensor:
    """W-TALC co-activity similarity loss on the given pairs (official: the head-of-batch pairs).

    Per video, class-wise high- and low-attention features come from the softmax over time of
    the suppressed CAS; each pair pulls the high features of shared classes together and pushes
    them away from the other video's low features (hinge with ``margin``); normalised by the
    number of shared (pair, class) entries. ``1 - cos`` has no epsilon (official).
    """
    y = torch.cat([labels, torch.zeros_like(labels[:, :1])], dim=1)

    def high_low(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, f = cas_supp[i], feat[i]
        if mask is not None:
            x, f = x[mask[i]], f[mask[i]]
        a = F.softmax(x, dim=0)
        return f.T @ a, f.T @ (1 - a) / max(f.shape[0] - 1, 1)

    def distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return 1 - (u * v).sum(0) / (u.norm(dim=0) * v.norm(dim=0))

    total, weight_sum = feat.new_zeros(()), feat.new_zeros(())
    for i, j in pairs:
        (high_i, low_i), (high_j, low_j) = high_low(i), high_low(j)
        d_hh = distance(high_i, high_j)
        w = y[i] * y[j]
        hinge = (0.5 * F.relu(d_hh - distance(high_i, low_j) + margin)
                 + 0.5 * F.relu(d_hh - distance(high_j, low_i) + margin))
        total = total + (w * hinge).sum()
        weight_sum = weight_sum + w.sum()
    return total / weight_sum


@dataclass
class CO2LossWeights:
    """``alpha1`` norm, ``alpha2`` guide, ``alpha3`` co-activity, ``alpha4`` mutual (official)."""

    alpha1: float = 0.8
    alpha2: float = 0.8
    alpha3: float = 1.0
    alpha4: float = 1.0


def co2_criterion(cas: torch.Tensor, attn: torch.Tensor, v_atn: torch.Tensor,
                  f_atn: torch.Tensor, feat: torch.Tensor, labels: torch.Tensor,
                  k: int = 7, weights: CO2LossWeights = CO2LossWeights(),
                  pairs: Sequence[tuple[int, int]] | None = ((0, 1), (2, 3), (4, 5)),
                  mask: torch.Tensor | None = None, margin: float = 0.5) -> dict[str, torch.Tensor]:
    """``CO2.criterion``: every named term and ``total`` (attentions (B, T), cas (B, T, C+1)).

    ``mask`` None = the official unpadded batch. ``pairs`` None or empty leaves the
    co-activity term out (the official code indexes videos 0..5 unconditionally).
    """
    full = torch.ones(cas.shape[:2], dtype=torch.bool, device=cas.device)
    m = full if mask is None else mask
    cas_supp = suppress_background(cas, attn)
    mil_orig = masked_topk_mil(cas, labels, m, int(k), background_present=True)
    mil_supp = masked_topk_mil(cas_supp, labels, m, int(k), background_present=False)
    contrastive = (co_activity_loss(feat, cas_supp, labels, pairs, margin, mask)
                   if pairs else cas.new_zeros(()))
    bg = softmax_background(cas)
    terms = {
        "loss_mil_orig": mil_orig.mean(), "loss_mil_supp": mil_supp.mean(),
        "loss_3_supp_Contrastive": contrastive,
        "mutual_loss": mutual_learning([v_atn, f_atn], m),
        "loss_norm": attention_norm(attn, m), "v_loss_norm": attention_norm(v_atn, m),
        "f_loss_norm": attention_norm(f_atn, m),
        "loss_guide": opposite(attn, bg, m), "v_loss_guide": opposite(v_atn, bg, m),
        "f_loss_guide": opposite(f_atn, bg, m),
    }
    norm = (terms["loss_norm"] + terms["v_loss_norm"] + terms["f_loss_norm"]) / 3
    guide = (terms["loss_guide"] + terms["v_loss_guide"] + terms["f_loss_guide"]) / 3
    terms["total"] = (terms["loss_mil_orig"] + terms["loss_mil_supp"]
                      + weights.alpha3 * contrastive + weights.alpha4 * terms["mutual_loss"]
                      + weights.alpha1 * norm + weights.alpha2 * guide)
    return terms


def shared_class_pairs(labels: torch.Tensor, num_pairs: int = 3) -> list[tuple[int, int]]:
    """Up to ``num_pairs`` disjoint pairs of batch rows that share a class.

    The official loader builds the batch around such pairs (3 classes, 2 videos each, at the
    head); the shared trainer samples videos uniformly, so the recipe pairs what it is given:
    classes in turn, the first two unused rows having that class.
    """
    y = labels.detach().cpu().numpy() > 0
    used = np.zeros(len(y), dtype=bool)
    pairs: list[tuple[int, int]] = []
    while len(pairs) < num_pairs:
        before = len(pairs)
        for c in range(y.shape[1]):
            rows = np.flatnonzero(y[:, c] & ~used)
            if len(rows) >= 2 and len(pairs) < num_pairs:
                pairs.append((int(rows[0]), int(rows[1])))
                used[rows[:2]] = True
        if len(pairs) == before:
            break
    return pairs


# --------------------------------------------------------------------------------------------
# Inference (``proposal_methods.multiple_threshold_hamnet``)


def _default_act_thresh() -> tuple[float, ...]:
    return threshold_tuple(np.linspace(0.1, 0.9, 10))


@dataclass
class CO2InferenceConfig:
    """Official inference constants (THUMOS14 ``test.py``)."""

    topk_rat: int = 10
    class_thresh: float = 0.2
    act_thresh: tuple[float, ...] = field(default_factory=_default_act_thresh)
    oic_lambda: float = 0.25
    oic_gamma: float = 0.2
    soft_nms_sigma: float = 0.3
    skip_lone_first_snippet: bool = True  # official ``.any()`` quirk on the index array


def co2_video_scores(cas: np.ndarray, attn: np.ndarray, topk_rat: int = 10) -> np.ndarray:
    """Softmax over the C+1 columns of the top-(T//rat) mean of ``cas * attn``; background dropped."""
    e = torch.from_numpy(np.asarray(cas, np.float32) * np.asarray(attn, np.float32)[:, None])
    k = max(1, int(e.shape[0] // topk_rat))
    return F.softmax(e.topk(k, dim=0).values.mean(dim=0), dim=0).numpy()[:-1]


@dataclass
class CO2VideoResult:
    """One video's inference. ``predictions`` rows ``[t_start, t_end, label, score]`` in
    snippet units (end exclusive), official order (class by class, soft-NMS pick order)."""

    video_scores: np.ndarray
    selected_classes: np.ndarray
    proposals: dict[int, np.ndarray]
    after_soft_nms: list[np.ndarray]
    predictions: np.ndarray


def co2_infer_video(cas: np.ndarray, attn: np.ndarray,
                    config: CO2InferenceConfig = CO2InferenceConfig(),
                    ambiguous: np.ndarray | None = None) -> CO2VideoResult:
    """``multiple_threshold_hamnet`` on one video's ``cas`` (T, C+1) logits and ``attn`` (T,).

    The proposal mask is ``attn > theta`` for every class; runs are scored by OIC on
    ``cas * attn`` plus ``gamma * video score``; gaussian soft-NMS per class with the
    official "+1" on snippet lengths, nothing discarded. ``ambiguous``: optional (n, 2)
    ``[start, end_exclusive]`` snippet ranges; predictions sharing a snippet are dropped.
    """
    cas = np.asarray(cas, np.float32)
    attn = np.asarray(attn, np.float32)
    e = (cas * attn[:, None]).astype(np.float64)
    vid = co2_video_scores(cas, attn, config.topk_rat)
    chosen = select_classes(vid, config.class_thresh)
    rows: dict[int, list[np.ndarray]] = {}
    for theta in config.act_thresh:
        # runs of the bool track ``attn > theta`` (a threshold of 1 on it: True only)
        _, starts, ends = threshold_runs(attn > theta, np.ones(1), config.skip_lone_first_snippet)
        if not len(starts):
            continue
        for c in chosen:
            track = np.ascontiguousarray(e[:, c][None, :])
            score = outer_inner_contrast(track, np.zeros_like(starts), starts, ends, config.oic_lambda)
            score = score + config.oic_gamma * vid[c]
            rows.setdefault(int(c), []).append(
                np.stack([np.full(len(starts), c), score, starts, ends + 1], axis=1))
    props = {c: np.concatenate(r).astype(np.float64) for c, r in rows.items()}
    after = []
    for c in chosen:
        if int(c) not in props:
            continue
        p = props[int(c)]
        keep, decayed = soft_nms(p[:, 2:4], p[:, 1], config.soft_nms_sigma, -np.inf, plus_one=True)
        kept = p[keep].copy()
        kept[:, 1] = decayed
        after.append(kept)
    preds = (np.concatenate(after) if after else np.zeros((0, 4)))[:, [2, 3, 0, 1]]
    if ambiguous is not None and len(ambiguous) and len(preds):
        amb = np.asarray(ambiguous).reshape(-1, 2)
        hit = (np.maximum(preds[:, None, 0], amb[None, :, 0])
               < np.minimum(preds[:, None, 1], amb[None, :, 1])).any(axis=1)
        preds = preds[~hit]
    return CO2VideoResult(vid, chosen, props, after, preds)


def ambiguous_to_snippets(seconds: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """THUMOS14 ambiguous segments (seconds) to (n, 2) snippet ranges: the nearest snippet
    boundaries, half-to-even (the official ``round(t * 25 / 16)``)."""
    return np.asarray(timegrid.seconds_to_nearest_boundary(
        np.asarray(seconds, np.float64).reshape(-1, 2), fps), dtype=np.int64).reshape(-1, 2)


def predictions_to_segments(predictions: np.ndarray, fps: float, class_names: Sequence[str]
                            ) -> list[Segment]:
    """Snippet-unit rows ``[t_start, t_end_exclusive, label, score]`` to segments in seconds
    on the video's own grid (the official code compares in snippets, 25 fps assumed)."""
    return [Segment(start=float(timegrid.snippet_start(s, fps)), end=float(timegrid.snippet_start(e, fps)),
                    label=class_names[int(c)], score=float(score))
            for s, e, c, score in np.asarray(predictions).reshape(-1, 4)]


# --------------------------------------------------------------------------------------------
# The recipe's Method


@dataclass
class CO2NetModel:
    """Network and data-sampling options; defaults are the official THUMOS14 values."""

    visual: str = "rgb"               # official RGB role (main of ``vAttn``)
    audio: str = "logmfcc"            # official flow role (main of ``fAttn``)
    audio_dim: int = 1024             # audio encoder width (the official flow width)
    audio_time_groups: int = 8        # mel frames pooled into this many groups per snippet
    audio_dropout: float = 0.2
    embed_dim: int = 0                # 0: visual + audio width (official 2048)
    attention_hidden: int = 512
    dropout: float = 0.7
    ccm_dropout: float = 0.5
    smooth_kernel: int = 1            # > 1: the ActivityNet ``ANT_CO2`` smoothing
    max_seqlen: int = 500             # training videos resampled to exactly this length
                                      # (official ``random_perturb``); 0: whole padded videos
    inference: CO2InferenceConfig = field(default_factory=CO2InferenceConfig)


@dataclass
class CO2NetLoss:
    k: int = 7                        # top-k MIL, k = max(1, T // k)
    alpha1: float = 0.8               # attention norm
    alpha2: float = 0.8               # opposite (guide)
    alpha3: float = 1.0               # co-activity
    alpha4: float = 1.0               # mutual learning
    num_pairs: int = 3
    pairing: str = "shared_class"     # shared_class | head (official: rows (0,1),(2,3),(4,5))
    margin: float = 0.5


@register_method("co2net")
class CO2Net(Method):
    """CO2-Net on the shared batch layout: visual as RGB, encoded audio as flow."""

    ModelConfig = CO2NetModel
    LossConfig = CO2NetLoss
    supervision = "video"

    def __init__(self, model: CO2NetModel, loss: CO2NetLoss, spec: ModelSpec):
        super().__init__()
        if loss.pairing not in ("shared_class", "head"):
            raise RecipeError(f"co2net: loss.pairing must be 'shared_class' or 'head', got {loss.pairing!r}")
        spec.require("co2net", model.visual, model.audio)
        visual_dim = spec.vector_dim("co2net", model.visual)
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        self.audio_encoder = build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim,
                                           model.audio_dropout, model.audio_time_groups)
        self.net = CO2Network(visual_dim, model.audio_dim, spec.num_classes, model.embed_dim or None,
                              model.dropout, model.attention_hidden, model.ccm_dropout, model.smooth_kernel)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        visual = batch["features"][self.cfg.visual].float()
        audio_raw = batch["features"][self.cfg.audio].float()
        mask = batch["mask"]
        audio = self.audio_encoder(audio_raw, mask).transpose(1, 2)  # (B, T, A)
        if self.training and self.cfg.max_seqlen:
            idx = random_perturb_indices(batch["lengths"].cpu(), self.cfg.max_seqlen).to(visual.device)
            take = lambda x: torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))
            visual, audio = take(visual), take(audio)
            mask = torch.ones(idx.shape, dtype=torch.bool, device=visual.device)
        out = self.net(visual, audio, mask)
        out["mask"] = mask
        return out

    def compute_loss(self, outputs, batch, step):
        cfg = self.loss_cfg
        labels = batch["video_labels"].to(outputs["cas"])
        if cfg.pairing == "head":
            pairs = [(2 * i, 2 * i + 1) for i in range(cfg.num_pairs) if 2 * i + 1 < labels.shape[0]]
        else:
            pairs = shared_class_pairs(labels, cfg.num_pairs)
        terms = co2_criterion(outputs["cas"], outputs["attn"], outputs["v_atn"], outputs["f_atn"],
                              outputs["feat"], labels, cfg.k,
                              CO2LossWeights(cfg.alpha1, cfg.alpha2, cfg.alpha3, cfg.alpha4),
                              pairs, outputs["mask"], cfg.margin)
        total = terms.pop("total")
        return total, {k: float(v.detach()) for k, v in terms.items()}

    def scores(self, outputs, batch):
        """For the shared pipeline: ``cas`` = softmax class probabilities times attention."""
        probs = F.softmax(outputs["cas"], dim=-1)[..., :-1]
        attn = outputs["attn"]
        return {"cas": probs * attn[..., None], "actionness": attn,
                "video_scores": torch.from_numpy(np.stack([
                    co2_video_scores(c[:n].detach().cpu().numpy(), a[:n].detach().cpu().numpy(),
                                     self.cfg.inference.topk_rat)
                    for c, a, n in zip(outputs["cas"], attn, batch["lengths"].tolist())]))}

    def segments(self, outputs, batch, params=None) -> dict[str, list[Segment]]:
        """The official inference (:func:`co2_infer_video`) per video, in seconds; the recipe's
        shared ``postprocess`` section does not apply (see ``model.inference``)."""
        out = {}
        for b, vid in enumerate(batch["vids"]):
            n = int(batch["lengths"][b])
            result = co2_infer_video(outputs["cas"][b, :n].detach().cpu().numpy(),
                                     outputs["attn"][b, :n].detach().cpu().numpy(), self.cfg.inference)
            out[vid] = predictions_to_segments(result.predictions, float(batch["fps"][b]), self.spec.classes)
        return out
