"""SF-Net (Ma et al., ECCV 2020): what differs from the shared codebase.

Official code: ``Flowerfan/SF-Net`` (``model.py``, ``train.py``, ``video_dataset.py``,
``eval.py``). Two streams with late fusion; on TSL-300 the official "RGB" stream takes the
visual features and the "flow" stream the audio features. Class-score arrays have C+1 columns
with **column 0 = background** (the official ``--background`` left pad). Official quirks kept
by default (see ``recipes/sfnet/README.md``):

- the actionness loss treats the LAST sum-of-k unlabelled snippets of the batch (concatenation
  order) as background (a sort along a singleton axis), and is added only when above 0.1;
- background mining is one top-(sum of k) over the whole batch's unlabelled snippets;
- the expansion walk does not stop at a failed test, so gained snippets need not be contiguous.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsl300 import timegrid
from tsl300.data.types import Segment
from tsl300.methods.base import Method, TrainingContext
from tsl300.methods.registry import ModelSpec, register_method
from tsl300.models.encoders import build_encoder
from tsl300.postprocess import threshold_runs

STREAMS = ("f", "r", "final")
"""Official stream keys: ``f`` flow (here audio), ``r`` RGB (here visual), ``final`` fused."""


# --------------------------------------------------------------------------------------------
# Model


class SFNetStream(nn.Module):
    """One stream: a classification branch (C+1 logits) and an actionness branch (1 logit)."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int | None = None,
                 dropout: float = 0.7):
        super().__init__()
        hidden = in_dim if hidden is None else hidden
        self.classify = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, num_classes + 1))
        self.actionness = nn.Sequential(nn.Conv1d(in_dim, hidden, 1), nn.ReLU(),
                                        nn.Conv1d(hidden, hidden, 1), nn.ReLU())
        self.actionness_out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, D) -> ``(logits (B, T, C+1), actionness logits (B, T, 1))``."""
        act = self.actionness(x.transpose(1, 2)).transpose(1, 2)
        return self.classify(x), self.actionness_out(act)


class SFNetNetwork(nn.Module):
    """Two streams fused late: per-class learnable weights on the class logits (init 1) and
    learnable scalars on the actionness logits (init 0, as the official code)."""

    def __init__(self, visual_dim: int, audio_dim: int, num_classes: int,
                 hidden: int | None = None, dropout: float = 0.7):
        super().__init__()
        self.stream_r = SFNetStream(visual_dim, num_classes, hidden, dropout)
        self.stream_f = SFNetStream(audio_dim, num_classes, hidden, dropout)
        self.mul_r = nn.Parameter(torch.ones(num_classes + 1))
        self.mul_f = nn.Parameter(torch.ones(num_classes + 1))
        self.att_r = nn.Parameter(torch.zeros(1))
        self.att_f = nn.Parameter(torch.zeros(1))
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Xavier-uniform weights, zero biases, fusion weights 1 and actionness scalars 0."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        self.mul_r.fill_(1.0)
        self.mul_f.fill_(1.0)
        self.att_r.zero_()
        self.att_f.zero_()

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        logits_r, att_r = self.stream_r(visual)
        logits_f, att_f = self.stream_f(audio)
        return {"logits_f": logits_f, "logits_r": logits_r,
                "tcam": logits_r * self.mul_r + logits_f * self.mul_f,
                "att_logits_f": att_f, "att_logits_r": att_r,
                "att_logits": self.att_f * att_f + self.att_r * att_r}


def stream_outputs(outputs: Mapping[str, torch.Tensor], stream: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(class logits, actionness logits)`` of stream ``f``, ``r`` or ``final``."""
    if stream == "final":
        return outputs["tcam"], outputs["att_logits"]
    return outputs[f"logits_{stream}"], outputs[f"att_logits_{stream}"]


# --------------------------------------------------------------------------------------------
# Batches of labelled frames (``video_dataset.Dataset.load_frame_data``)


@dataclass
class FrameBatch:
    """A training batch in the official layout: rows, crops and labelled snippets.

    ``frame_labels`` has one row per labelled snippet (row 0's first), each the mean one-hot
    over that snippet's classes with background column 0; ``video_labels`` (B, C+1) marks the
    classes labelled inside each crop; ``k_per_video`` is the background quota per row.
    """

    video_order: list[int]
    crop_start: list[int]
    seq_len: list[int]
    frame_ids: list[list[int]]
    frame_labels: np.ndarray
    video_labels: np.ndarray
    k_per_video: list[int]
    visiting_order: list[int]
    crop_draws: list[list[int]]


def label_rows(labels_per_snippet: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """Mean one-hot rows with a background column 0 (a two-class snippet gets 0.5 / 0.5)."""
    rows = np.zeros((len(labels_per_snippet), num_classes + 1), np.float32)
    for n, classes in enumerate(labels_per_snippet):
        np.add.at(rows[n], np.asarray(classes, np.int64) + 1, 1.0)
        rows[n] /= len(classes)
    return rows


def background_quota(num_labelled: Sequence[int], seq_len: Sequence[int], tm: float = 7) -> list[int]:
    """``min(int(n * tm), seq_len - n)`` per row: the background ratio of the official code."""
    return [min(int(n * tm), int(t) - n) for n, t in zip(num_labelled, seq_len)]


def sample_frame_batch(videos: Sequence[Mapping[str, Any]], num_classes: int, t_max: int,
                       batch_size: int, rng: np.random.RandomState, tm: float = 7) -> FrameBatch:
    """The official batch sampler on ``videos`` = ``[{T, frame_labels: {snippet: [class]}}]``.

    Visit a shuffled order; crop a video longer than ``t_max`` at ``rng.randint(T - t_max)``
    (so its last snippet is never in a crop); skip a video with no labelled snippet in its
    crop; stop at ``batch_size`` videos.
    """
    order = np.arange(len(videos))
    rng.shuffle(order)
    batch = FrameBatch([], [], [], [], np.zeros((0, num_classes + 1), np.float32),
                       np.zeros((0, num_classes + 1), np.float32), [], [], [])
    rows, vlabels = [], []
    for idx in order:
        if len(batch.video_order) == batch_size:
            break
        batch.visiting_order.append(int(idx))
        T = int(videos[idx]["T"])
        start = 0
        if T > t_max:
            start = int(rng.randint(T - t_max))
            batch.crop_draws.append([T - t_max, start])
        length = min(T, t_max)
        labels = {int(k): v for k, v in videos[idx]["frame_labels"].items()}
        ids = sorted(t - start for t in labels if start <= t < start + length)
        if not ids:
            continue
        batch.video_order.append(int(idx))
        batch.crop_start.append(start)
        batch.seq_len.append(length)
        batch.frame_ids.append(ids)
        rows.append(label_rows([labels[t + start] for t in ids], num_classes))
        vlabels.append((rows[-1].sum(axis=0) > 0).astype(np.float32))
    if rows:
        batch.frame_labels = np.concatenate(rows)
        batch.video_labels = np.stack(vlabels)
    batch.k_per_video = background_quota([len(i) for i in batch.frame_ids], batch.seq_len, tm)
    return batch


# --------------------------------------------------------------------------------------------
# Losses (``train.train_SF``, mode ``single``)


def sfnet_video_loss(logits: torch.Tensor, seq_len: torch.Tensor, video_labels: torch.Tensor,
                     min_len: int = 5) -> torch.Tensor:
    """Top-ceil(T/8) MIL softmax CE, mean over rows with at least ``min_len`` valid snippets."""
    losses = []
    for b in range(logits.shape[0]):
        n = int(seq_len[b])
        if n < min_len:
            continue
        k = math.ceil(n / 8)
        pooled = logits[b, :n].topk(k, dim=0).values.mean(dim=0)
        target = video_labels[b] / (video_labels[b].sum() + 1e-10)
        losses.append(-(target * F.log_softmax(pooled, dim=0)).sum())
    return torch.stack(losses).mean() if losses else logits.sum() * 0


def unlabelled_pool(seq_len: Sequence[int], frame_ids: Sequence[Sequence[int]],
                    k_per_video: Sequence[int]) -> np.ndarray:
    """``(b, t)`` of the valid unlabelled snippets of rows with quota >= 1, concatenation order."""
    cells = []
    for b, (n, ids, k) in enumerate(zip(seq_len, frame_ids, k_per_video)):
        if k < 1:
            continue
        free = np.setdiff1d(np.arange(int(n)), np.asarray(ids, np.int64))
        cells.append(np.stack([np.full_like(free, b), free], axis=1))
    return np.concatenate(cells) if cells else np.zeros((0, 2), np.int64)


def mine_background(logits: torch.Tensor, pool: np.ndarray, total_k: int) -> np.ndarray:
    """The ``total_k`` pool snippets with the highest background (column 0) logit."""
    if not len(pool) or total_k < 1:
        return np.zeros((0, 2), np.int64)
    bg = logits[pool[:, 0], pool[:, 1], 0]
    top = bg.detach().topk(min(total_k, len(pool))).indices.cpu().numpy()
    return pool[top]


def _labelled_cells(frame_ids: Sequence[Sequence[int]]) -> np.ndarray:
    return np.array([(b, t) for b, ids in enumerate(frame_ids) for t in ids],
                    np.int64).reshape(-1, 2)


def sfnet_frame_loss(logits: torch.Tensor, frame_ids: Sequence[Sequence[int]],
                     frame_labels: torch.Tensor, mined: np.ndarray) -> dict[str, torch.Tensor]:
    """Soft-label CE at labelled snippets plus background CE on mined snippets / (C+1)."""
    cells = _labelled_cells(frame_ids)
    log_p = F.log_softmax(logits[cells[:, 0], cells[:, 1]], dim=-1)
    labelled = -(frame_labels * log_p).sum(dim=-1).mean()
    total = labelled
    if len(mined):
        bg = -F.log_softmax(logits[mined[:, 0], mined[:, 1]], dim=-1)[:, 0].mean()
        total = labelled + bg / logits.shape[-1]
    return {"frame_loss_labelled_only": labelled, "frame_loss": total}


def actionness_background(pool: np.ndarray, total_k: int, quirk: bool = True,
                          att_logits: torch.Tensor | None = None) -> np.ndarray:
    """Snippets the actionness loss pushes to 0.

    ``quirk=True`` (official): the last ``total_k`` pool snippets in concatenation order, since
    the official sort runs along a singleton axis. ``quirk=False`` (the intent): the
    ``total_k`` pool snippets with the LOWEST actionness.
    """
    if not len(pool) or total_k < 1:
        return np.zeros((0, 2), np.int64)
    k = min(total_k, len(pool))
    if quirk:
        return pool[len(pool) - k:]
    values = att_logits[pool[:, 0], pool[:, 1], 0].detach()
    return pool[(-values).topk(k).indices.cpu().numpy()]


def sfnet_act_loss(att_logits: torch.Tensor, frame_ids: Sequence[Sequence[int]],
                   background: np.ndarray) -> torch.Tensor:
    """``-mean log sigmoid(a)`` at labelled snippets ``- mean log(1 + 1e-3 - sigmoid(a))`` on
    the chosen background snippets (official epsilon; the loss can be negative)."""
    cells = _labelled_cells(frame_ids)
    fg = -torch.log(torch.sigmoid(att_logits[cells[:, 0], cells[:, 1], 0])).mean()
    if not len(background):
        return fg
    p_bg = torch.sigmoid(att_logits[background[:, 0], background[:, 1], 0])
    return fg - torch.log(1 + 1e-3 - p_bg).mean()


@dataclass
class SFNetLoss:
    """The recipe's ``loss:`` section: the constants of :func:`sfnet_losses` themselves."""

    tm: float = 7
    alpha: float = 1.0
    beta: float = 1.0
    act_loss_added_if_over: float = 0.1
    actionness_sort_quirk: bool = True


def sfnet_losses(outputs: Mapping[str, torch.Tensor], seq_len: Sequence[int],
                 frame_ids: Sequence[Sequence[int]], frame_labels: torch.Tensor,
                 video_labels: torch.Tensor, k_per_video: Sequence[int],
                 config: SFNetLoss = SFNetLoss()) -> dict[str, Any]:
    """Every stream's video, frame and actionness loss, the logged sums and ``total``."""
    pool = unlabelled_pool(seq_len, frame_ids, k_per_video)
    total_k = int(sum(k for k in k_per_video if k >= 1))
    lens = torch.as_tensor(list(seq_len))
    per_stream: dict[str, dict[str, Any]] = {}
    for stream in STREAMS:
        logits, att = stream_outputs(outputs, stream)
        mined = mine_background(logits, pool, total_k)
        act_bg = actionness_background(pool, total_k, config.actionness_sort_quirk, att)
        per_stream[stream] = {
            "video_loss": sfnet_video_loss(logits, lens, video_labels),
            **sfnet_frame_loss(logits, frame_ids, frame_labels, mined),
            "act_loss": sfnet_act_loss(att, frame_ids, act_bg),
            "mined_background": mined, "act_background_selected": act_bg,
        }
    video = sum(per_stream[s]["video_loss"] for s in STREAMS)
    frame = sum(per_stream[s]["frame_loss"] for s in STREAMS)
    act = sum(per_stream[s]["act_loss"] for s in STREAMS)
    act_added = bool(act.item() > config.act_loss_added_if_over)
    total = config.alpha * video + frame + (config.beta * act if act_added else 0.0)
    return {"streams": per_stream, "video_loss": video, "frame_loss": frame,
            "act_loss": act, "act_loss_added": act_added, "total": total}


# --------------------------------------------------------------------------------------------
# Pseudo action frames (``train.act_expand``)


def expand_frame_labels(tcam: np.ndarray, frame_labels: Mapping[int, Sequence[int]],
                        radius: int = 3, pv: float = 0.95) -> dict[int, list[int]]:
    """One official expansion pass; returns every labelled snippet afterwards.

    ``tcam`` (T, C+1) logits with background column 0 (dropped here). Anchors are the
    initially labelled snippets in ascending order; gains of earlier anchors block later walks.
    """
    s = np.asarray(tcam)[:, 1:]
    T = len(s)
    top = s.argmax(axis=1)
    labels = {int(t): list(c) for t, c in frame_labels.items()}
    for anchor in sorted(labels):
        classes = list(labels[anchor])
        anchor_score = s[anchor, classes].mean()
        for v in (-1, 1):
            p = anchor + v
            for step in range(radius):
                cur, q = anchor + v * (step + 1), anchor + v * (step + 2)
                if min(p, cur, q) < 0 or max(p, cur, q) >= T or cur in labels:
                    break
                if (top[p] == top[cur] == top[q]
                        and s[cur, classes].mean() >= pv * anchor_score):
                    labels[cur] = list(classes)
    return dict(sorted(labels.items()))


# --------------------------------------------------------------------------------------------
# Inference (``eval.py``)


def sfnet_video_class_scores(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Sum over the three streams of softmax(top-ceil(T/8) mean); background dropped (C,)."""
    total = 0.0
    for key in ("logits_f", "logits_r", "tcam"):
        x = torch.as_tensor(np.asarray(outputs[key], np.float32))
        k = math.ceil(x.shape[0] / 8)
        total = total + F.softmax(x.topk(k, dim=0).values.mean(dim=0), dim=0)
    return total.numpy()[1:]


def sfnet_kept_classes(tcam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cs, kept)``: top-max(int(T/12), 1) mean per class; keep ``cs > max/1.5`` and ``> 0``."""
    p = torch.as_tensor(np.asarray(tcam, np.float32)[:, 1:])
    k = max(int(p.shape[0] / 12), 1)
    cs = p.topk(k, dim=0).values.mean(dim=0).numpy()
    kept = np.flatnonzero((cs > cs.max() / 1.5) & (cs > 0))
    return cs, kept


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as ``(start, end_exclusive)``."""
    _, starts, lasts = threshold_runs(np.asarray(mask, bool), np.ones(1), skip_lone_first_position=False)
    return list(zip(starts.tolist(), (lasts + 1).tolist()))


def sfnet_generate_segments(tcam: np.ndarray, att_logits: np.ndarray, act_weight: float = 2.0,
                            adjust_mean: float = 1.0, min_len: int = 2) -> dict[str, list]:
    """Official ``generate_segment``: per kept class, runs of ``P + w * act > mean``.

    Returns ``segments`` ``[c, s, e_exclusive, agg]`` (runs of >= ``min_len``) and ``frames``
    ``[c, s + argmax, agg]`` (every run), ``agg = max(score in run) + cs_c``. No NMS.
    """
    cs, kept = sfnet_kept_classes(tcam)
    p = np.asarray(tcam, np.float32)[:, 1:]
    act = np.asarray(att_logits, np.float32).reshape(-1)
    segments, frames = [], []
    for c in kept:
        score = p[:, c] + np.float32(act_weight) * act
        for s, e in _runs(score > score.mean() * adjust_mean):
            agg = float(score[s:e].max()) + float(cs[c])
            frames.append([int(c), s + int(np.argmax(score[s:e])), agg])
            if e - s >= min_len:
                segments.append([int(c), s, e, agg])
    return {"segments": segments, "frames": frames}


def official_fps_sequence(fps_entries: Sequence[float | None], default: float = 25.0) -> list[float]:
    """The fps the official evaluator uses per video, in evaluation order: a video without an
    entry inherits the last earlier entry (its ``fps = gt[v].get('fps', fps)`` loop quirk)."""
    out, current = [], default
    for fps in fps_entries:
        current = current if fps is None else float(fps)
        out.append(current)
    return out


# --------------------------------------------------------------------------------------------
# The recipe's Method


@dataclass
class SFNetModel:
    """Network, crop schedule, expansion and inference options (official defaults)."""

    visual: str = "rgb"               # official RGB stream
    audio: str = "logmfcc"            # official flow stream
    audio_dim: int = 1024             # audio encoder width (the official flow width)
    audio_time_groups: int = 8
    audio_dropout: float = 0.2
    hidden: int = 0                   # 0: the stream's input width (official)
    dropout: float = 0.7
    t_max: int = 750                  # training crop; 0: whole videos
    t_max_long: int = 2800            # crop on even iterations after the first (official)
    expand_step: int = 2000           # one expansion pass after this many steps; 0: never
    expand_radius: int = 3
    expand_pv: float = 0.95
    reinit_after_expand: bool = True  # official: model and optimizer re-initialised
    act_weight: float = 2.0           # inference: score = tcam + act_weight * actionness logit
    adjust_mean: float = 1.0
    min_segment: int = 2
    score_divisor: float = 100.0


def crop_starts(lengths: torch.Tensor, t_max: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Official crop start per video: ``randint(T - t_max)`` (upper bound excluded) when longer."""
    span = (lengths - t_max).clamp_min(0)
    draw = torch.rand(lengths.shape, generator=generator, dtype=torch.float64)
    return torch.where(span > 0, torch.floor(draw * span.to(torch.float64)).long(),
                       torch.zeros_like(lengths))


def _crop(x: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """(B, T, ...) -> (B, length, ...) windows from ``starts`` (indices clamped at the end)."""
    idx = (starts[:, None] + torch.arange(length, device=x.device)[None, :]).clamp_max(x.shape[1] - 1)
    shape = idx.shape + (1,) * (x.dim() - 2)
    return torch.gather(x, 1, idx.reshape(shape).expand(-1, -1, *x.shape[2:]))


def labels_from_points(points: np.ndarray) -> dict[int, list[int]]:
    """``{snippet: [class, ...]}`` from ``[snippet, class]`` rows."""
    out: dict[int, list[int]] = {}
    for t, c in np.asarray(points, np.int64).reshape(-1, 2):
        out.setdefault(int(t), []).append(int(c))
    return out


@register_method("sfnet")
class SFNet(Method):
    """SF-Net on the shared batch layout: visual as the RGB stream, encoded audio as flow."""

    ModelConfig = SFNetModel
    LossConfig = SFNetLoss
    supervision = "point"

    def __init__(self, model: SFNetModel, loss: SFNetLoss, spec: ModelSpec):
        super().__init__()
        spec.require("sfnet", model.visual, model.audio)
        visual_dim = spec.vector_dim("sfnet", model.visual)
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        self.audio_encoder = build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim,
                                           model.audio_dropout, model.audio_time_groups)
        self.net = SFNetNetwork(visual_dim, model.audio_dim, spec.num_classes,
                                model.hidden or None, model.dropout)
        self.expanded: dict[str, dict[int, list[int]]] = {}
        self.steps_done = 0

    def _crop_length(self) -> int:
        if not self.cfg.t_max:
            return 0
        step = self.steps_done + 1  # official iterations count from 1
        return self.cfg.t_max_long if step > 1 and step % 2 == 0 else self.cfg.t_max

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        visual = batch["features"][self.cfg.visual].float()
        audio = batch["features"][self.cfg.audio].float()
        lengths = batch["lengths"].to(visual.device)
        starts = torch.zeros_like(lengths)
        t_max = self._crop_length() if self.training else 0
        if t_max and int(lengths.max()) > t_max:
            starts = crop_starts(lengths.cpu(), t_max).to(lengths.device)
            lengths = lengths.clamp_max(t_max)
            length = int(lengths.max())
            visual, audio = _crop(visual, starts, length), _crop(audio, starts, length)
        mask = torch.arange(visual.shape[1], device=visual.device)[None, :] < lengths[:, None]
        visual = visual * mask[..., None]
        out = self.net(visual, self.audio_encoder(audio, mask).transpose(1, 2))
        return {**out, "mask": mask, "lengths": lengths, "crop_start": starts}

    def frame_labels(self, batch: dict[str, Any], b: int) -> dict[int, list[int]]:
        """Labelled snippets of video ``b`` (after expansion when it has run), full-video indices."""
        vid = batch["vids"][b]
        return self.expanded[vid] if vid in self.expanded else labels_from_points(batch["points"][b])

    def compute_loss(self, outputs, batch, step):
        C = self.spec.num_classes
        rows, seq_len, frame_ids, label_blocks, vlabels = [], [], [], [], []
        for b in range(len(batch["vids"])):
            start, n = int(outputs["crop_start"][b]), int(outputs["lengths"][b])
            labels = {t - start: c for t, c in self.frame_labels(batch, b).items() if start <= t < start + n}
            if not labels:  # the official sampler skips a video with no label in its crop
                continue
            ids = sorted(labels)
            block = label_rows([labels[t] for t in ids], C)
            rows.append(b)
            seq_len.append(n)
            frame_ids.append(ids)
            label_blocks.append(block)
            vlabels.append((block.sum(axis=0) > 0).astype(np.float32))
        ref = outputs["tcam"]
        if not rows:
            zero = ref.sum() * 0
            return zero, {"video_loss": 0.0, "frame_loss": 0.0, "act_loss": 0.0}
        index = torch.as_tensor(rows, device=ref.device)
        picked = {k: outputs[k].index_select(0, index) for k in
                  ("logits_f", "logits_r", "tcam", "att_logits_f", "att_logits_r", "att_logits")}
        got = sfnet_losses(picked, seq_len, frame_ids,
                           torch.from_numpy(np.concatenate(label_blocks)).to(ref),
                           torch.from_numpy(np.stack(vlabels)).to(ref),
                           background_quota([len(i) for i in frame_ids], seq_len, self.loss_cfg.tm),
                           self.loss_cfg)
        logged = {k: float(got[k].detach()) for k in ("video_loss", "frame_loss", "act_loss")}
        return got["total"], {**logged, "act_loss_added": float(got["act_loss_added"])}

    # ------------------------------------------------------------------ expansion

    def training_state(self) -> dict[str, Any]:
        """The step counter (it alternates the crop length) and the expanded frame labels."""
        return {"steps_done": self.steps_done,
                "expanded": {vid: [[t, list(cs)] for t, cs in sorted(labels.items())]
                             for vid, labels in self.expanded.items()}}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.steps_done = int(state.get("steps_done", 0))
        self.expanded = {vid: {int(t): [int(c) for c in cs] for t, cs in rows}
                         for vid, rows in state.get("expanded", {}).items()}

    def on_step_end(self, step: int, context: TrainingContext) -> None:
        self.steps_done = step + 1
        if self.cfg.expand_step and self.steps_done == self.cfg.expand_step:
            self.expand(context.predict(context.videos))
            if self.cfg.reinit_after_expand:
                self.reset_parameters()
                context.reset_optimizer()

    def expand(self, passes: Iterable[tuple[list, dict, dict[str, torch.Tensor]]]) -> int:
        """One official expansion on the eval-mode outputs of a pass over the training videos
        (:attr:`TrainingContext.predict`); returns snippets gained."""
        gained = 0
        for group, _, outputs in passes:
            tcam = outputs["tcam"].cpu().numpy()  # (B, T, C + 1) logits, background first
            for b, video in enumerate(group):
                start = labels_from_points(video.points)
                done = expand_frame_labels(tcam[b, :video.num_snippets], start,
                                           self.cfg.expand_radius, self.cfg.expand_pv)
                gained += len(done) - len(start)
                self.expanded[video.vid] = done
        return gained

    def reset_parameters(self) -> None:
        """Fresh weights, as the official re-initialisation after the expansion."""
        for module in self.audio_encoder.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        self.net.init_weights()

    # ------------------------------------------------------------------ inference

    def scores(self, outputs, batch):
        probs = F.softmax(outputs["tcam"], dim=-1)[..., 1:]
        return {"cas": probs, "actionness": torch.sigmoid(outputs["att_logits"][..., 0]),
                "video_scores": torch.from_numpy(np.stack([
                    sfnet_video_class_scores({k: outputs[k][b, :n].detach().cpu().numpy()
                                              for k in ("logits_f", "logits_r", "tcam")}) / 3
                    for b, n in enumerate(outputs["lengths"].tolist())]))}

    def segments(self, outputs, batch, params=None) -> dict[str, list[Segment]]:
        """The official ``generate_segment`` per video (no NMS), in seconds on its own grid."""
        out = {}
        for b, vid in enumerate(batch["vids"]):
            n, fps = int(outputs["lengths"][b]), float(batch["fps"][b])
            found = sfnet_generate_segments(outputs["tcam"][b, :n].detach().cpu().numpy(),
                                            outputs["att_logits"][b, :n].detach().cpu().numpy(),
                                            self.cfg.act_weight, self.cfg.adjust_mean, self.cfg.min_segment)
            out[vid] = [Segment(start=float(timegrid.snippet_start(s, fps)),
                                end=float(timegrid.snippet_start(e, fps)),
                                label=self.spec.classes[c], score=agg / self.cfg.score_divisor)
                        for c, s, e, agg in found["segments"]]
        return out
