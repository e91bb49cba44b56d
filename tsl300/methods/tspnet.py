"""TSP-Net (Xia et al., CVPR 2024): re-score a base model's proposals with temporal saliency.

Official code: ``zyxia1009/CVPR2024-TSPNet`` @1afaee8 (``codes/model/model_proposal.py``,
``codes/utils/loss.py``, ``codes/utils/utils.py``, ``codes/dataset/dataset.py``,
``codes/tools/test_proposal.py``). TSP-Net is a proposal-level plug-in: it needs proposals of a
base point-supervised model (officially LACP without NMS). Here the recipe trains that base
itself (stage 1: our LACP for ``base_steps`` steps, then its proposals on the training videos
without NMS), so ``tsl300 train``/``bench`` need no prior run; ``proposal_file`` reads the
official JSON (or our predictions JSON) instead. Official behaviours kept by default:

- proposals are rounded to 0.01 snippet (Python ``round``); point times are continuous;
  containment is strict; the first point in the annotation order sets the centre label;
- the saliency-point update measures the shift from the CURRENT point but adds it to the
  ORIGINAL annotation (shifts do not accumulate; ``cumulative_update`` is the fix);
- the attention multiplies the class logits; the multi-hot target is not normalised;
- inference: only group leaders of the boundary adaptation move; Gaussian soft-NMS with "+1"
  lengths in snippets keeps every proposal.

Time unit inside this module: snippets, continuous (snippet ``i`` covers ``[i, i + 1)``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from ..data.types import Segment
from ..errors import RecipeError
from ..postprocess import PostprocessParams, predict_segments
from .base import Method, TrainingContext
from .lacp import LACP, LACPLoss, LACPModel
from .registry import ModelSpec, register_method

# --------------------------------------------------------------------------------------------
# Network (``model_proposal.py``)


def roi_features(features: torch.Tensor, proposals: torch.Tensor, roi_size: int = 12,
                 extension: float = 0.25) -> torch.Tensor:
    """(T, D) features, (M, 2) proposals in snippets -> (M, roi_size, D): torchvision's
    ``roi_align`` (``aligned=False``, adaptive sampling) on the sequence zero-padded by
    ``ceil(extension * max length) + 1`` rows, boxes extended by ``extension`` per side and
    shifted by -0.5, as the official TSP-Net and HR-Pro code call it."""
    length = proposals[:, 1] - proposals[:, 0]
    start = proposals[:, 0] - extension * length
    end = proposals[:, 1] + extension * length
    fill = int(math.ceil(float(extension * length.detach().max()))) + 1
    padded = F.pad(features.t(), (fill, fill))[None, :, :, None]  # (1, D, T + 2 fill, 1)
    zero = torch.zeros_like(start)
    boxes = torch.stack([zero, zero, start + fill - 0.5, zero + 1, end + fill - 0.5], dim=1)
    out = roi_align(padded, boxes, (roi_size, 1), 1.0, -1, False)  # (M, D, roi, 1)
    return out[..., 0].transpose(1, 2)


class TSPNetBackbone(nn.Module):
    """Fusion of the three RoI parts and the three heads (class C+1, attention, centre)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.prop_fusion = nn.Sequential(nn.Linear(3 * dim, dim), nn.ReLU(), nn.Dropout(dropout))

        def head(out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv1d(dim, dim // 2, 1), nn.ReLU(), nn.Conv1d(dim // 2, out, 1))

        self.prop_classifier = head(num_classes + 1)
        self.prop_attention = head(1)
        self.prop_completeness = head(1)


class TSPNetNetwork(nn.Module):
    """``TSPNet_Model``: RoIAlign over the 25 %-extended proposal, max over bins
    ``[0:r/6]``, ``[r/6:5r/6]``, ``[5r/6:r]``, ``[f2 - f1, f2, f2 - f3]`` -> Linear+ReLU+Dropout,
    three 1x1-conv heads. State-dict names match the official ones."""

    def __init__(self, dim: int, num_classes: int, roi_size: int = 12, extension: float = 0.25,
                 dropout: float = 0.5):
        super().__init__()
        self.prop_backbone = TSPNetBackbone(dim, num_classes, dropout)
        self.roi_size, self.extension = roi_size, extension

    def roi_features(self, features: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
        return roi_features(features, proposals, self.roi_size, self.extension)

    def forward(self, features: torch.Tensor, proposals: torch.Tensor) -> dict[str, torch.Tensor]:
        """One video: ``features`` (T, D), ``proposals`` (M, 2) -> ``prop_cas`` (M, C+1),
        ``prop_attn`` (M,), ``prop_center`` (M,) logits (rows = proposals)."""
        roi = self.roi_features(features, proposals)
        a, b = self.roi_size // 6, self.roi_size // 6 * 5
        f1, f2, f3 = roi[:, :a].amax(1), roi[:, a:b].amax(1), roi[:, b:].amax(1)
        fusion_input = torch.cat([f2 - f1, f2, f2 - f3], dim=1)
        bb = self.prop_backbone
        fused = bb.prop_fusion(fusion_input).t()[None]  # (1, D, M)
        return {"prop_cas": bb.prop_classifier(fused)[0].t(), "prop_attn": bb.prop_attention(fused)[0, 0],
                "prop_center": bb.prop_completeness(fused)[0, 0], "roi": roi, "fusion_input": fusion_input,
                "feat_fuse": fused[0]}


# --------------------------------------------------------------------------------------------
# Proposals and labels (``dataset.py``)


def proposals_to_snippets(segments_seconds, snippets_per_second: float) -> np.ndarray:
    """(M, 2) seconds -> snippets rounded to 0.01 with Python ``round`` (half-even on the binary
    value, as official); no proposal -> the placeholder ``[[0, 0]]``."""
    rows = [[round(float(s) * snippets_per_second, 2), round(float(e) * snippets_per_second, 2)]
            for s, e in np.asarray(segments_seconds, np.float64).reshape(-1, 2)]
    return np.asarray(rows if rows else [[0.0, 0.0]], np.float64)


def point_times(frames, fps: float, feature_fps: float | None = None, snippet_frames: int = 16) -> np.ndarray:
    """Continuous point times in snippets: ``frame * feature_fps / (fps * 16)`` (THUMOS14:
    feature_fps 25; TSL-300 features sit on the native grid, feature_fps = fps)."""
    feature_fps = fps if feature_fps is None else feature_fps
    return np.asarray(frames, np.float64) * (feature_fps / (fps * snippet_frames))


@dataclass
class ProposalLabels:
    point_label: np.ndarray    # (M, C) multi-hot
    center_label: np.ndarray   # (M,)
    point_id: np.ndarray       # (M,) first contained point (annotation order), -1: none
    multi_flag: np.ndarray     # (M, width) times of the contained points, annotation order


def proposal_labels(proposals: np.ndarray, times: np.ndarray, classes: np.ndarray, point_ids: np.ndarray,
                    num_classes: int, soft_value: float = 0.4, width: int = 200) -> ProposalLabels:
    """Point, centre and multi-point labels of a video's proposals (``_get_proposals``).

    ``times`` (K,) point times in snippets in annotation order, ``classes`` (K,), ``point_ids``
    (K,) their ids. A proposal contains a point iff ``s < t < e`` (strict)."""
    proposals = np.asarray(proposals, np.float64)
    s, e = proposals[:, :1], proposals[:, 1:]
    t = np.asarray(times, np.float64)[None, :]
    inside = (t - s > 0) & (t - e < 0)  # (M, K)
    onehot = np.eye(num_classes)[np.asarray(classes, np.int64)] if len(t[0]) else np.zeros((0, num_classes))
    point_label = ((inside.astype(np.float64) @ onehot) > 0).astype(np.float64)
    has = inside.any(axis=1)
    first = inside.argmax(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = 1 - 2 * np.abs((t[0][first] - s[:, 0]) / (e[:, 0] - s[:, 0]) - 0.5) if len(t[0]) else 0.0
    center_label = np.where(has, centre, soft_value)
    point_id = np.where(has, np.asarray(point_ids, np.int64)[first] if len(t[0]) else -1, -1)
    multi = np.zeros((len(proposals), width))
    rows, cols = np.nonzero(inside)
    slot = np.cumsum(inside, axis=1)[rows, cols] - 1
    keep = slot < width
    multi[rows[keep], slot[keep]] = np.broadcast_to(t, inside.shape)[rows[keep], cols[keep]]
    return ProposalLabels(point_label, center_label, point_id, multi)


def saliency_deltas(proposals: np.ndarray, comp: np.ndarray, point_id: np.ndarray,
                    first_time: np.ndarray, threshold: float = 0.8) -> dict[int, float]:
    """``utils.update_label``: for each point id among the confident proposals
    (``comp > threshold``, -1 included), ``sum w (centre - point)`` with ``w`` the normalised
    ``comp``, in float32; ``first_time`` (M,) is each proposal's first point time."""
    proposals = np.asarray(proposals, np.float32)
    comp = np.asarray(comp, np.float32)
    point_id = np.asarray(point_id, np.int64)
    sure = comp > threshold
    centre = (proposals[:, 0] + proposals[:, 1]) / np.float32(2)
    out = {}
    for p in np.unique(point_id[sure]).tolist():
        idx = np.flatnonzero(sure & (point_id == p))
        w = comp[idx] / comp[idx].sum(dtype=np.float32)
        point = np.float32(first_time[idx[0]])
        out[int(p)] = float(((centre[idx] - point) * w).sum(dtype=np.float32))
    return out


def read_proposal_file(path: str | Path) -> dict[str, np.ndarray]:
    """``{"results": {vid: [{"segment": [start_s, end_s], ...}]}}`` (the official LACP proposal
    JSON, or a ``tsl300 test`` predictions JSON) -> vid -> (M, 2) seconds."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise RecipeError(f"{path}: a proposal file needs a 'results' mapping of video id -> proposals")
    return {vid: np.asarray([p["segment"] for p in props], np.float64).reshape(-1, 2)
            for vid, props in data["results"].items()}


# --------------------------------------------------------------------------------------------
# Loss (``loss.py``)


@dataclass
class TSPNetLossConfig:
    point_weight: float = 1.0
    saliency_weight: float = 20.0


def tspnet_loss(prop_cas: torch.Tensor, prop_attn: torch.Tensor, point_label: torch.Tensor,
                prop_center: torch.Tensor, center_label: torch.Tensor,
                config: TSPNetLossConfig = TSPNetLossConfig()) -> dict[str, torch.Tensor]:
    """``PTAL_Loss`` of one video. ``prop_cas`` (M, C+1) logits (background last), ``prop_attn``
    and ``prop_center`` (M,) logits, ``point_label`` (M, C) multi-hot, ``center_label`` (M,).
    The attention scales the logits; the multi-hot target is not normalised; the mean runs over
    every proposal, background included."""
    z = prop_cas * torch.sigmoid(prop_attn)[:, None]
    bg = (point_label.sum(dim=1, keepdim=True) == 0).to(point_label)
    target = torch.cat([point_label, bg], dim=1)
    point = -(target * F.log_softmax(z, dim=1)).sum(dim=1).mean()
    saliency = ((torch.sigmoid(prop_center) - center_label) ** 2).mean()
    total = config.point_weight * point + config.saliency_weight * saliency
    return {"prop_point_loss": point, "prop_saliency_loss": saliency, "loss_total": total}


# --------------------------------------------------------------------------------------------
# Inference (``test_proposal.py``, ``utils.py``)


def proposal_scores(prop_cas: np.ndarray, prop_attn: np.ndarray, prop_center: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(video score (C,), aligned confidence (M, C+1)) in float32: ``P = softmax(cas)``,
    video score = attention-weighted mean of ``P``, confidence ``P * sigma(attn) * sigma(centre)``."""
    cas = torch.as_tensor(np.asarray(prop_cas, np.float32))
    P = torch.softmax(cas, dim=1)
    a = torch.sigmoid(torch.as_tensor(np.asarray(prop_attn, np.float32)))[:, None]
    c = torch.sigmoid(torch.as_tensor(np.asarray(prop_center, np.float32)))[:, None]
    vid = (P * a).sum(dim=0) / (a.sum() + 1e-6)
    return vid[:-1].numpy(), (P * a * c).numpy()


def boundary_adaption(proposals: np.ndarray, score: np.ndarray, threshold: float = 0.4) -> np.ndarray:
    """Alignment-based boundary adaptation: in descending score order, an unlocked proposal takes
    the weighted mean of the boundaries of all proposals with IoU > threshold (weights
    ``score * IoU / sum IoU``, normalised), and the whole group is locked. Members keep their
    boundaries; locked members still enter later averages."""
    props = np.asarray(proposals, np.float32)
    score = np.asarray(score, np.float32)
    out = props.copy()
    locked = np.zeros(len(props), bool)
    length = props[:, 1] - props[:, 0]
    for i in score.argsort()[::-1]:
        if locked[i]:
            continue
        inter = np.maximum(np.minimum(props[i, 1], props[:, 1]) - np.maximum(props[i, 0], props[:, 0]), 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / (length[i] + length - inter)
        group = iou > threshold
        if not group.any():
            continue
        w = score[group] * (iou[group] / iou[group].sum())
        w = w / w.sum()
        out[i] = (w[:, None] * props[group]).sum(axis=0)
        locked[group] = True
    return out


def soft_nms_snippets(rows: np.ndarray, sigma: float = 0.3) -> np.ndarray:
    """The official Gaussian soft-NMS on ``[start, end, class, score]`` rows: take the best
    remaining (first on ties), swap it to the front, decay the rest by ``exp(-IoU^2 / sigma)``
    with "+1" lengths; nothing is removed. Returns the rows in pick order."""
    rows = np.array(rows, np.float64, copy=True).reshape(-1, 4)
    for i in range(len(rows)):
        j = i + int(np.argmax(rows[i:, 3]))
        rows[[i, j]] = rows[[j, i]]
        rest = rows[i + 1:]
        inter = np.maximum(np.minimum(rows[i, 1], rest[:, 1]) - np.maximum(rows[i, 0], rest[:, 0]) + 1, 0)
        iou = inter / ((rows[i, 1] - rows[i, 0] + 1) + (rest[:, 1] - rest[:, 0] + 1) - inter)
        rest[:, 3] *= np.exp(-(iou ** 2) / sigma)
    return rows


def filter_ambiguous(rows: np.ndarray, ambiguous_seconds: np.ndarray, snippets_per_second: float) -> np.ndarray:
    """``filter_segments``: drop a row whose ``int()`` snippet range shares an index with the
    rounded range of any ambiguous interval (THUMOS14 only)."""
    rows = np.asarray(rows, np.float64).reshape(-1, 4)
    amb = np.asarray(ambiguous_seconds, np.float64).reshape(-1, 2)
    if not len(amb) or not len(rows):
        return rows
    a0 = np.array([int(round(a * snippets_per_second)) for a in amb[:, 0]])
    a1 = np.array([int(round(b * snippets_per_second)) for b in amb[:, 1]])
    r0, r1 = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)  # int() truncates toward 0
    lo = np.maximum(r0[:, None], a0[None, :])
    hi = np.minimum(r1[:, None], a1[None, :])
    overlap = ((lo < hi) & (r0[:, None] < r1[:, None]) & (a0 < a1)[None, :]).any(axis=1)
    return rows[~overlap]


def tspnet_detections(proposals: np.ndarray, prop_cas: np.ndarray, prop_attn: np.ndarray,
                      prop_center: np.ndarray, class_threshold: float = 0.1, refine_threshold: float = 0.4,
                      sigma: float = 0.3) -> tuple[np.ndarray, dict[str, Any]]:
    """One video: ``[start, end, class, score]`` rows in snippets (per selected class, ascending,
    the soft-NMS pick order) and the intermediate values."""
    vid_score, prop_score = proposal_scores(prop_cas, prop_attn, prop_center)
    chosen = np.flatnonzero(vid_score >= class_threshold)
    if not len(chosen):
        chosen = np.array([int(np.argmax(vid_score))])
    out, refined_by_class = [], {}
    for c in chosen.tolist():
        refined = boundary_adaption(proposals, prop_score[:, c], refine_threshold)
        refined_by_class[c] = refined
        rows = np.concatenate([refined.astype(np.float64), np.full((len(refined), 1), c),
                               prop_score[:, c:c + 1].astype(np.float64)], axis=1)
        out.append(soft_nms_snippets(rows, sigma))
    return np.concatenate(out), {"vid_score": vid_score, "prop_score": prop_score,
                                 "selected": chosen, "refined": refined_by_class}


# --------------------------------------------------------------------------------------------
# The recipe's Method


BASE_PROPOSALS = dict(class_thresh=0.5, scale=24, oic_lambda=0.25, oic_gamma=0.2, nms="none",
                      cas_thresholds=tuple(np.arange(0.0, 0.25, 0.025).tolist()),
                      actionness_thresholds=tuple(np.arange(0.5, 0.725, 0.025).tolist()))
"""LACP's inference constants without NMS: the proposals TSP-Net officially consumes."""


@dataclass
class TSPNetModel:
    """Stage 1 (the base LACP) and the proposal network; defaults: the official values."""

    base: LACPModel = field(default_factory=LACPModel)
    base_steps: int = 2000            # stage 1 (LACP) steps; then proposals, then stage 2
    proposal_file: str = ""           # official LACP JSON / predictions JSON, replaces stage 1's proposals
    roi_size: int = 12
    extension: float = 0.25
    dropout: float = 0.5              # official: hard-coded 0.5 (--dropout 0.7 unused)
    max_proposal: int = 3000
    update_freq: int = 200            # saliency-point update every this many stage-2 steps; 0: never
    up_threshold: float = 0.8
    soft_value: float = 0.4
    cumulative_update: bool = False   # official False: shifts are added to the ORIGINAL point
    class_threshold: float = 0.1
    refine_threshold: float = 0.4
    soft_nms_sigma: float = 0.3


@dataclass
class TSPNetLoss(TSPNetLossConfig):
    base: LACPLoss = field(default_factory=LACPLoss)


@register_method("tspnet")
class TSPNet(Method):
    """Base LACP (stage 1), then TSP-Net on its proposals (stage 2), in one schedule."""

    ModelConfig = TSPNetModel
    LossConfig = TSPNetLoss
    supervision = "point"

    def __init__(self, model: TSPNetModel, loss: TSPNetLoss, spec: ModelSpec):
        super().__init__()
        if model.base_steps <= 0 and not model.proposal_file:
            raise RecipeError("tspnet: base_steps 0 needs model.proposal_file (the proposals of a base model)")
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        self.base = LACP(model.base, loss.base, spec)
        dim = self.base.net.classifier.in_channels
        self.head = TSPNetNetwork(dim, spec.num_classes, model.roi_size, model.extension, model.dropout)
        self.register_buffer("stage2", torch.tensor(model.base_steps <= 0))
        self.file_proposals = read_proposal_file(model.proposal_file) if model.proposal_file else {}
        self.train_proposals: dict[str, np.ndarray] = {}  # vid -> (M, 2) seconds
        self.deltas: dict[str, dict[int, float]] = {}     # vid -> point index -> shift (snippets)
        self.gen = torch.Generator().manual_seed(0)       # proposal subsampling

    # -- forward ---------------------------------------------------------------------------
    def _inputs(self, batch: dict[str, Any]) -> torch.Tensor:
        x = batch["features"][self.cfg.base.visual].float()
        if self.base.audio_encoder is not None:
            audio = self.base.audio_encoder(batch["features"][self.cfg.base.audio].float(), batch["mask"])
            x = torch.cat([x, audio.transpose(1, 2)], dim=-1)
        return x

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        mask = batch["mask"]
        x = self._inputs(batch)
        labels = batch["video_labels"].to(x) if self.training else None
        outputs = {**self.base.net(x, labels, mask), "mask": mask}
        if not bool(self.stage2):
            return outputs
        proposals = self._proposals(batch, outputs)
        per_video = []
        for b, props in enumerate(proposals):
            n = int(batch["lengths"][b])
            p = torch.as_tensor(props, dtype=torch.float32, device=x.device)
            index = None
            if self.training and len(p) > self.cfg.max_proposal:  # official: labels not subsampled (crash)
                index = torch.randperm(len(p), generator=self.gen)[:self.cfg.max_proposal]
                p = p[index.to(p.device)]
            out = self.head(x[b, :n].detach(), p)
            out.update(proposals=p, index=index)
            per_video.append(out)
        outputs["proposal_outputs"] = per_video
        return outputs

    def _sps(self, fps: float) -> float:
        return float(fps) / 16.0  # TSL-300 features: one snippet = 16 native frames

    def _proposals(self, batch, outputs) -> list[np.ndarray]:
        """Per video (M, 2) in snippets: training proposals fixed at the stage switch, the
        proposal file, or the base model's proposals of this pass (test)."""
        out, missing = [], []
        for b, vid in enumerate(batch["vids"]):
            seconds = self.file_proposals.get(vid) if self.file_proposals else None
            if seconds is None and self.training:
                seconds = self.train_proposals.get(vid)
            if seconds is None:
                missing.append(b)
            out.append(seconds)
        if missing:
            fresh = self._base_proposals(batch, outputs)
            for b in missing:
                out[b] = fresh[batch["vids"][b]]
        return [proposals_to_snippets(s, self._sps(fps)) for s, fps in zip(out, batch["fps"])]

    def _base_proposals(self, batch, outputs) -> dict[str, np.ndarray]:
        params = PostprocessParams(**BASE_PROPOSALS, class_names=self.spec.classes)
        segs = predict_segments(self.base.scores(outputs, batch), batch, params)
        return {vid: np.asarray([[s.start, s.end] for s in v], np.float64).reshape(-1, 2) for vid, v in segs.items()}

    # -- loss --------------------------------------------------------------------------------
    def _labels(self, batch, b: int, proposals: np.ndarray) -> ProposalLabels:
        vid = batch["vids"][b]
        fps = float(batch["fps"][b])
        frames = np.asarray(batch["point_frames"][b])
        times = point_times(frames, fps)
        shift = self.deltas.get(vid, {})
        if shift:
            times = times + np.array([shift.get(k, 0.0) for k in range(len(times))])
        classes = np.asarray(batch["points"][b], np.int64).reshape(-1, 2)[:, 1]
        return proposal_labels(proposals, times, classes, np.arange(len(times)), self.spec.num_classes,
                               self.cfg.soft_value)

    STAGE2_TERMS = ("prop_point_loss", "prop_saliency_loss")

    def compute_loss(self, outputs, batch, step):
        """Stage 1: LACP's loss; stage 2: ``PTAL_Loss`` per video, averaged. Every step logs
        both stages' terms (0 for the inactive one; ``stage`` says which)."""
        if not bool(self.stage2):
            total, logs = self.base.compute_loss(outputs, batch, step)
            return total, {"stage": 1.0, **logs, **{k: 0.0 for k in self.STAGE2_TERMS}}
        totals, logs = [], {"stage": 2.0}
        for b, out in enumerate(outputs["proposal_outputs"]):
            lab = self._labels(batch, b, out["proposals"].cpu().numpy().astype(np.float64))
            point = torch.as_tensor(lab.point_label, dtype=torch.float32)
            centre = torch.as_tensor(lab.center_label, dtype=torch.float32)
            terms = tspnet_loss(out["prop_cas"], out["prop_attn"], point.to(out["prop_cas"].device),
                                out["prop_center"], centre.to(out["prop_cas"].device), self.loss_cfg)
            totals.append(terms["loss_total"])
            for k in self.STAGE2_TERMS:
                logs[k] = logs.get(k, 0.0) + float(terms[k].detach()) / len(outputs["proposal_outputs"])
        return torch.stack(totals).mean(), logs

    # -- schedule ------------------------------------------------------------------------------
    def on_step_end(self, step: int, context: TrainingContext) -> None:
        if not bool(self.stage2):
            self.base.on_step_end(step, context)
            if step + 1 == self.cfg.base_steps:
                self._switch(context)
            return
        done = step + 1 - max(self.cfg.base_steps, 0)
        if self.cfg.update_freq and done > 0 and done % self.cfg.update_freq == 0:
            self.update_points(context)

    def _switch(self, context: TrainingContext) -> None:
        """End of stage 1: fix the base's proposals on the training videos, start stage 2."""
        for _, batch, outputs in context.predict(context.videos):
            self.train_proposals.update(self._base_proposals(batch, outputs))
        self.stage2.fill_(True)
        context.reset_optimizer()

    def update_points(self, context: TrainingContext) -> None:
        """Saliency-point update on the training videos (``utils.update_label``)."""
        for group, batch, outputs in context.predict(context.videos):
            for b, video in enumerate(group):
                if not len(video.point_frames):
                    continue
                out = outputs["proposal_outputs"][b]
                props = out["proposals"].cpu().numpy()
                lab = self._labels(batch, b, props.astype(np.float64))
                comp = torch.sigmoid(out["prop_center"]).cpu().numpy()
                delta = saliency_deltas(props, comp, lab.point_id, lab.multi_flag[:, 0].astype(np.float32),
                                        self.cfg.up_threshold)
                old = self.deltas.get(video.vid, {}) if self.cfg.cumulative_update else {}
                self.deltas[video.vid] = {k: old.get(k, 0.0) + v for k, v in delta.items() if k >= 0}

    def training_state(self) -> dict[str, Any]:
        return {"base": self.base.training_state(),
                "train_proposals": {k: np.asarray(v) for k, v in self.train_proposals.items()},
                "deltas": {vid: {str(k): v for k, v in d.items()} for vid, d in self.deltas.items()},
                "gen": self.gen.get_state().numpy()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.base.load_training_state(state.get("base", {}))
        self.train_proposals = {k: np.asarray(v, np.float64).reshape(-1, 2)
                                for k, v in state.get("train_proposals", {}).items()}
        self.deltas = {vid: {int(k): float(v) for k, v in d.items()} for vid, d in state.get("deltas", {}).items()}
        if "gen" in state:
            self.gen.set_state(torch.as_tensor(np.asarray(state["gen"]), dtype=torch.uint8))

    # -- inference -----------------------------------------------------------------------------
    def scores(self, outputs, batch):
        return self.base.scores(outputs, batch)

    def segments(self, outputs, batch, params):
        """TSP-Net's own inference (aligned confidence, boundary adaptation, soft-NMS), in
        seconds; before stage 2 the shared post-processing of the base."""
        if "proposal_outputs" not in outputs:
            return None
        names = params.class_names
        result = {}
        for b, out in enumerate(outputs["proposal_outputs"]):
            rows, _ = tspnet_detections(out["proposals"].cpu().numpy(), out["prop_cas"].cpu().numpy(),
                                        out["prop_attn"].cpu().numpy(), out["prop_center"].cpu().numpy(),
                                        self.cfg.class_threshold, self.cfg.refine_threshold,
                                        self.cfg.soft_nms_sigma)
            sps = self._sps(batch["fps"][b])
            result[batch["vids"][b]] = [Segment(float(r[0]) / sps, float(r[1]) / sps, names[int(r[2])], float(r[3]))
                                        for r in rows]
        return result
