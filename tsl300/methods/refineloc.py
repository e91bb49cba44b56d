"""RefineLoc (Alwassel et al., WACV 2021): iterative refinement with pseudo ground truth.

What differs from the shared codebase:

- the per-snippet MLP heads (CAS without background, attention with 1 or 2 logits);
- the loss: attention-weighted MIL over a single video label, optional L1 / group sparsity, and
  the (weighted) pseudo-ground-truth loss on the attention;
- the detection rule (thresholds on the class probability and the attention, binary dilation,
  connected runs, padding, no NMS);
- the refinement: detections on the training set become pseudo foreground (everything else
  pseudo background), 30 % of the labels are dropped, the model is re-initialised and trained
  again (:class:`PseudoGroundTruth`).

Official quirks reproduced by default (each has an explicit option):
``extra_snippet=True``: a detection ending at ``t-end`` marks snippets ``s .. e`` inclusive, one
past its padded end; ``first_label_only=True``: the video loss uses the smallest label id only;
the numpy generator of the dropping is ``RandomState(424242)`` shared, in order, by the training
and validation sets.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from .. import timegrid
from ..data.types import Segment, Video
from ..models.encoders import build_encoder
from .base import Method, TrainingContext, numpy_generator_state, restore_numpy_generator
from .registry import ModelSpec, register_method

OFFICIAL_NUMPY_SEED = 424242
"""Each official ``Dataset`` construction calls ``np.random.seed(424242)``."""


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
def mlp(num_layers: int, in_dim: int, out_dim: int) -> nn.Sequential:
    """The official per-snippet MLP: each hidden layer halves the width (not below ``out_dim``)."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(num_layers - 1):
        nxt = max(width // 2, out_dim)
        layers += [nn.Linear(width, nxt), nn.ReLU()]
        width = nxt
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class RefineLocNet(nn.Module):
    """``fc_cas`` (C logits, no background) and ``fc_attention`` (1 or 2 logits) per snippet."""

    def __init__(self, in_dim: int, num_classes: int, num_layers: int = 2,
                 attention_dim: int = 1):
        super().__init__()
        if attention_dim not in (1, 2):
            raise ValueError(f"attention_dim must be 1 or 2, got {attention_dim}")
        self.fc_cas = mlp(num_layers, in_dim, num_classes)
        self.fc_attention = mlp(num_layers, in_dim, attention_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., T, D) -> cas (..., T, C), attention logits (..., T, 1 or 2)."""
        return self.fc_cas(x), self.fc_attention(x)


# ----------------------------------------------------------------------------------------------
# Attention and loss (torch, batched with a (B, T) mask)
# ----------------------------------------------------------------------------------------------
def attention_over_time(attention: torch.Tensor, mask: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, d) logits -> (alpha (B, T): softmax over time, a (B, T): per-snippet score).

    d = 1: alpha = softmax_t(logit), a = sigmoid(logit). d = 2: a = softmax_c[:, 1] and alpha is
    the softmax over time of that PROBABILITY (official; nearly flat)."""
    if attention.shape[-1] == 1:
        logits, score = attention[..., 0], torch.sigmoid(attention[..., 0])
    else:
        score = F.softmax(attention, dim=-1)[..., 1]
        logits = score
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return F.softmax(logits, dim=1), score


@dataclass(frozen=True)
class RefineLocLossConfig:
    """Official ``_create_best_thumos14_config`` values."""

    alpha_l1: float = 0.0
    alpha_group_sparsity: float = 0.0
    alpha_pseudo_gt: float = 2.0
    weighted_pseudo_gt: bool = True


def refineloc_loss(cas: torch.Tensor, attention: torch.Tensor, target: torch.Tensor,
                   pseudo_gt: torch.Tensor, fg_class_loss_weight: float | None,
                   config: RefineLocLossConfig = RefineLocLossConfig(),
                   mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Batch loss = mean over videos of the official per-video loss.

    ``cas`` (B, T, C), ``attention`` (B, T, d), ``target`` (B, C) class weights (a one-hot of the
    single official label, or a normalised multi-hot), ``pseudo_gt`` (B, T) long in {-1, 0, 1},
    ``mask`` (B, T) True on real snippets."""
    b, t = cas.shape[:2]
    mask = torch.ones(b, t, dtype=torch.bool, device=cas.device) if mask is None else mask
    m = mask.to(cas.dtype)
    alpha, _ = attention_over_time(attention, mask)
    weighted_logp = (alpha[..., None] * F.log_softmax(cas, dim=-1)).sum(1)          # (B, C)
    video = -(target * weighted_logp).sum(1)
    n = m.sum(1)
    l1 = (attention.abs() * m[..., None]).sum((1, 2)) / (n * attention.shape[-1])
    gs = ((alpha[:, 1:] - alpha[:, :-1]).abs() * (m[:, 1:] * m[:, :-1])).sum(1) / (n - 1).clamp(min=1)
    pgt = _pseudo_gt_loss(attention, pseudo_gt, mask, fg_class_loss_weight,
                          config.weighted_pseudo_gt)
    per_video = {"video_label_loss": video, "l1_loss": l1, "group_sparsity_loss": gs,
                 "pseudo_gt_loss": pgt}
    out = {k: v.mean() for k, v in per_video.items()}
    out["loss"] = (out["video_label_loss"] + config.alpha_l1 * out["l1_loss"]
                   + config.alpha_group_sparsity * out["group_sparsity_loss"]
                   + config.alpha_pseudo_gt * out["pseudo_gt_loss"])
    return out


def _pseudo_gt_loss(attention: torch.Tensor, pseudo_gt: torch.Tensor, mask: torch.Tensor,
                    fg_weight: float | None, weighted: bool) -> torch.Tensor:
    """Per-video mean over labelled snippets (0 for a video without pseudo labels). Weighted:
    d = 1 uses ``pos_weight = sqrt(w)``; d = 2 a weighted mean with class weights [1 - w, w],
    where ``w`` is the pseudo-background share of the dataset."""
    valid = (pseudo_gt >= 0) & mask
    if not bool(valid.any()):
        return attention.sum((1, 2)) * 0.0
    if weighted and fg_weight is None:
        raise ValueError("a weighted pseudo-GT loss needs fg_class_loss_weight")
    target = pseudo_gt.clamp(min=0)
    if attention.shape[-1] == 1:
        pos_weight = None
        if weighted:
            pos_weight = torch.tensor(float(np.sqrt(fg_weight)), device=attention.device)
        per = F.binary_cross_entropy_with_logits(attention[..., 0], target.to(attention.dtype),
                                                 pos_weight=pos_weight, reduction="none")
        weights = valid.to(attention.dtype)
    else:
        per = F.cross_entropy(attention.transpose(1, 2), target, reduction="none")
        class_w = (torch.tensor([1.0 - fg_weight, fg_weight], device=attention.device,
                                dtype=attention.dtype) if weighted
                   else torch.ones(2, device=attention.device, dtype=attention.dtype))
        weights = class_w[target] * valid.to(attention.dtype)
    total = (per * weights).sum(1)
    denom = weights.sum(1)
    has = valid.any(1)
    return torch.where(has, total / torch.where(has, denom, torch.ones_like(denom)),
                       torch.zeros_like(total))


def single_label_target(video_labels: torch.Tensor, first_label_only: bool = True) -> torch.Tensor:
    """Class weights for the video loss: one-hot of the smallest present label id (official), or
    the normalised multi-hot (the multi-label fix)."""
    if first_label_only:
        first = (video_labels > 0).to(torch.int64).argmax(1)
        return F.one_hot(first, video_labels.shape[1]).to(video_labels.dtype)
    return video_labels / video_labels.sum(1, keepdim=True).clamp(min=1e-12)


# ----------------------------------------------------------------------------------------------
# Detection (numpy; one video)
# ----------------------------------------------------------------------------------------------
def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def video_probabilities(cas: np.ndarray, attention: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-snippet class probabilities p (T, C), attention score a (T,) and video score v (C)."""
    p = _softmax(cas, axis=-1)
    if attention.shape[-1] == 1:
        with np.errstate(over="ignore"):  # the official 1 / (1 + exp(-x)): exp overflow -> 0
            a = 1.0 / (1.0 + np.exp(-attention[:, 0]))
        alpha = _softmax(attention[:, 0], axis=0)
    else:
        a = _softmax(attention, axis=-1)[:, 1]
        alpha = _softmax(a, axis=0)
    return p, a, (alpha[:, None] * p).sum(0)


def mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) of each run of True after 3-wide binary dilation."""
    labelled, count = ndimage.label(ndimage.binary_dilation(mask))
    if not count:
        return []
    idx = np.arange(len(mask))
    firsts = ndimage.minimum(idx, labelled, np.arange(1, count + 1))
    lasts = ndimage.maximum(idx, labelled, np.arange(1, count + 1))
    return [(int(f), int(l)) for f, l in zip(firsts, lasts)]


def detect(cas: np.ndarray, attention: np.ndarray, fps: float, top_k: int = 2,
           min_cas: float = 0.35, min_attention: float = 0.5, padding: int = 2
           ) -> list[dict]:
    """The official detection rule on one video's logits (``cas`` (T, C), ``attention`` (T, d)).

    Returns dicts ``{t-start, t-end, label, score}`` (seconds; classes by descending video
    score, runs in time order). No NMS."""
    p, a, v = video_probabilities(np.asarray(cas), np.asarray(attention))
    n = len(p)
    out = []
    for label in np.argsort(v)[::-1][:top_k]:
        for first, last in mask_runs((p[:, label] > min_cas) & (a > min_attention)):
            start, end = max(first - padding, 0), min(last + padding, n - 1)
            out.append({"t-start": timegrid.snippet_start(start, fps),
                        "t-end": timegrid.snippet_end(end, fps), "label": int(label),
                        "score": float(p[first:last + 1, label].mean() + a[first:last + 1].mean()
                                       + v[label])})
    return out


def oracle_detections(true_bg_fg: np.ndarray, label: int, fps: float, padding: int = 2) -> list[dict]:
    """Generator 0: runs of the true foreground mask, dilated and padded like detections."""
    n = len(true_bg_fg)
    return [{"t-start": timegrid.snippet_start(max(f - padding, 0), fps),
             "t-end": timegrid.snippet_end(min(l + padding, n - 1), fps),
             "label": int(label), "score": 1.0}
            for f, l in mask_runs(np.asarray(true_bg_fg, dtype=bool))]


# ----------------------------------------------------------------------------------------------
# Pseudo ground truth
# ----------------------------------------------------------------------------------------------
def pseudo_foreground(detections: list[dict], n_snippets: int, fps: float,
                      extra_snippet: bool = True) -> np.ndarray:
    """0 everywhere, 1 on each detection's snippets ``round(t-start·fps/16)`` to
    ``round(t-end·fps/16)``: inclusive (official, one snippet past the detection) or exclusive
    (``extra_snippet=False``)."""
    labels = np.zeros(n_snippets, dtype=np.int64)
    for det in detections:
        s = int(np.clip(timegrid.seconds_to_nearest_boundary(det["t-start"], fps), 0, n_snippets))
        e = int(np.clip(timegrid.seconds_to_nearest_boundary(det["t-end"], fps), 0, n_snippets))
        labels[s:e + 1 if extra_snippet else e] = 1
    return labels


@dataclass(frozen=True)
class RefinementConfig:
    """Official best-THUMOS14 refinement settings."""

    generator: int = 1          # 0 oracle, 1 predictions, 2 attention only, 3 CAS only, 4/5 random
    top_k: int = 2
    min_cas: float = 0.1
    min_attention: float = 0.92
    padding: int = 2
    from_m_iterations: int = 1
    dropout: float = 0.3
    extra_snippet: bool = True


@dataclass
class VideoRecord:
    """What refinement needs of a video: its length, fps, labels and (optional) true mask."""

    name: str
    n_snippets: int
    fps: float
    labels: tuple[int, ...] = ()
    true_bg_fg: np.ndarray | None = None


class PseudoGroundTruth:
    """Pseudo background/foreground labels of one dataset across refinement iterations
    (the official ``Dataset.update_pseudo_bg_fg_gt``). Labels start at -1 (ignored)."""

    def __init__(self, videos: list[VideoRecord], config: RefinementConfig = RefinementConfig()):
        self.videos = list(videos)
        self.config = config
        self.labels = {v.name: -np.ones(v.n_snippets, dtype=np.int64) for v in self.videos}
        self.fg_class_loss_weight: float | None = None
        self.iteration = 0
        self.last_detections: list[tuple[str, dict]] = []
        self._history: list[list[tuple[str, dict]]] = []

    def state(self) -> dict:
        """Everything but the video records (rebuilt from the data): labels, weight, history."""
        pairs = lambda dets: [[name, det] for name, det in dets]  # noqa: E731
        return {"labels": dict(self.labels), "fg_class_loss_weight": self.fg_class_loss_weight,
                "iteration": self.iteration, "last_detections": pairs(self.last_detections),
                "history": [pairs(it) for it in self._history]}

    def load_state(self, state: dict) -> None:
        pairs = lambda rows: [(name, dict(det)) for name, det in rows]  # noqa: E731
        self.labels = {vid: np.asarray(labels, dtype=np.int64) for vid, labels in state["labels"].items()}
        self.fg_class_loss_weight = state["fg_class_loss_weight"]
        self.iteration = int(state["iteration"])
        self.last_detections = pairs(state["last_detections"])
        self._history = [pairs(it) for it in state["history"]]

    @property
    def prediction_sets_used(self) -> int:
        """How many iterations' detections the current labels unite (at most ``m``)."""
        return len(self._history)

    def _detections(self, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[tuple[str, dict]]:
        cfg = self.config
        if cfg.generator == 0:
            return [(v.name, d) for v in self.videos
                    for d in oracle_detections(v.true_bg_fg, v.labels[0], v.fps, cfg.padding)]
        min_cas = 0.0 if cfg.generator == 2 else cfg.min_cas
        min_att = 0.0 if cfg.generator == 3 else cfg.min_attention
        return [(v.name, d) for v in self.videos
                for d in detect(*outputs[v.name], v.fps, cfg.top_k, min_cas, min_att, cfg.padding)]

    def update(self, outputs: dict[str, tuple[np.ndarray, np.ndarray]],
               rng: np.random.RandomState) -> dict:
        """One refinement step from the model's outputs ``{name: (cas, attention)}``.

        ``rng`` is the numpy generator of the random generators and the dropping (official:
        the global generator, seeded 424242). Returns the statistics (before dropping)."""
        cfg = self.config
        if cfg.generator not in range(6):
            raise ValueError(f"pseudo-GT generator must be 0..5, got {cfg.generator}")
        self.iteration += 1
        detections: list[tuple[str, dict]] = []
        if cfg.generator in (4, 5):
            p = [0.4, 0.6] if cfg.generator == 4 else [0.5, 0.5]
            for v in self.videos:
                self.labels[v.name] = rng.choice([0, 1], size=v.n_snippets, p=p).astype(np.int64)
        else:
            detections = self._detections(outputs)
            self._history = (self._history + [detections])[-cfg.from_m_iterations:]
            by_video: dict[str, list[dict]] = {}
            for name, det in (d for it in self._history for d in it):
                by_video.setdefault(name, []).append(det)
            for v in self.videos:
                self.labels[v.name] = pseudo_foreground(by_video.get(v.name, []), v.n_snippets,
                                                        v.fps, cfg.extra_snippet)
        stats = self.stats()
        for v in self.videos:
            drop = rng.choice(v.n_snippets, size=int(v.n_snippets * cfg.dropout), replace=False)
            self.labels[v.name][drop] = -1
        self.fg_class_loss_weight = stats["fg_class_loss_weight"]
        self.last_detections = detections
        return stats

    def stats(self) -> dict:
        """Agreement of the pseudo labels with the true masks (official statistics)."""
        pseudo = np.concatenate([self.labels[v.name] for v in self.videos])
        known = [v for v in self.videos if v.true_bg_fg is not None]
        out = {"total_pseudo_fg": int((pseudo == 1).sum()), "total_pseudo_bg": int((pseudo == 0).sum())}
        total = out["total_pseudo_fg"] + out["total_pseudo_bg"]
        out["fg_class_loss_weight"] = out["total_pseudo_bg"] / total if total else 0.0
        if known:
            true = np.concatenate([np.asarray(v.true_bg_fg, dtype=np.int64) for v in known])
            ps = np.concatenate([self.labels[v.name] for v in known])
            out.update(num_true_fg=int(true[ps == 1].sum()), num_true_bg=int((1 - true[ps == 0]).sum()))
            ratio = lambda a, b: a / b if b else 0  # noqa: E731
            out["num_true_fg/total_pseudo_fg"] = ratio(out["num_true_fg"], out["total_pseudo_fg"])
            out["num_true_bg/total_pseudo_bg"] = ratio(out["num_true_bg"], out["total_pseudo_bg"])
            out["num_true_fg/total_fg"] = ratio(out["num_true_fg"], int((true == 1).sum()))
            out["num_true_bg/total_bg"] = ratio(out["num_true_bg"], int((true == 0).sum()))
        return out


def true_foreground(segments: list[tuple[float, float]], n_snippets: int, fps: float,
                    n_frames: int | None = None) -> np.ndarray:
    """The official true mask: 1 on ``[round(s·fps/16), round(e·fps/16))`` of each segment, built
    on ``ceil(n_frames/16)`` snippets (when given) and cut to ``n_snippets``."""
    length = max(n_snippets, timegrid.num_snippets(n_frames) if n_frames is not None else 0)
    mask = np.zeros(length, dtype=np.int64)
    for s, e in segments:
        mask[timegrid.seconds_to_nearest_boundary(s, fps):timegrid.seconds_to_nearest_boundary(e, fps)] = 1
    return mask[:n_snippets]


# ----------------------------------------------------------------------------------------------
# The recipe's Method
# ----------------------------------------------------------------------------------------------
@dataclass
class RefineLocModel:
    """The recipe's ``model:`` section."""

    visual: str = "rgb"
    audio: str | None = "logmfcc"
    audio_dim: int = 1024
    audio_kernel: int = 1          # 1: no temporal context, as the official per-snippet MLP
    audio_dropout: float = 0.2
    num_layers: int = 2
    attention_dim: int = 1         # 1: sigmoid attention; 2: [bg, fg] softmax
    top_k: int = 2                 # detection (test time)
    min_cas: float = 0.35
    min_attention: float = 0.5
    padding: int = 2


@dataclass
class RefineLocLoss:
    """The recipe's ``loss:`` section."""

    alpha_l1: float = 0.0
    alpha_group_sparsity: float = 0.0
    alpha_pseudo_gt: float = 2.0
    weighted_pseudo_gt: bool = True
    first_label_only: bool = True  # official; False: normalised multi-hot target
    round_steps: int = 300         # steps per refinement round (the main recipe's); 0: no refinement
    generator: int = 1
    refine_top_k: int = 2
    refine_min_cas: float = 0.1
    refine_min_attention: float = 0.92
    refine_padding: int = 2
    from_m_iterations: int = 1
    pseudo_gt_dropout: float = 0.3
    extra_snippet: bool = True     # official: pseudo fg one snippet past each detection
    reset_model: bool = True
    numpy_seed: int = OFFICIAL_NUMPY_SEED


@register_method("refineloc")
class RefineLoc(Method):
    """RefineLoc on TSL-300 features: per-snippet MLPs on ``[rgb ; audio encoder(logmfcc)]``
    (the official ActivityNet input is the concatenated two streams; its best THUMOS14 config
    uses the RGB stream alone, ``model.audio: null`` here). Training runs in rounds of
    ``round_steps``: after each round (but the last) the model labels the training videos,
    pseudo ground truth is built from its detections, the weights are re-initialised and the
    optimizer state cleared."""

    supervision = "video"

    ModelConfig = RefineLocModel
    LossConfig = RefineLocLoss

    def __init__(self, model: RefineLocModel, loss: RefineLocLoss, spec: ModelSpec):
        super().__init__()
        self.cfg, self.loss_cfg, self.classes = model, loss, tuple(spec.classes)
        spec.require("refineloc", *(m for m in (model.visual, model.audio) if m is not None))
        in_dim = spec.vector_dim("refineloc", model.visual)
        self.audio = None
        if model.audio is not None:
            self.audio = build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim,
                                       model.audio_dropout, kernel=model.audio_kernel)
            in_dim += model.audio_dim
        self.net = RefineLocNet(in_dim, spec.num_classes, model.num_layers, model.attention_dim)
        self.refinement = RefinementConfig(loss.generator, loss.refine_top_k, loss.refine_min_cas,
                                           loss.refine_min_attention, loss.refine_padding,
                                           loss.from_m_iterations, loss.pseudo_gt_dropout,
                                           loss.extra_snippet)
        self.pseudo: PseudoGroundTruth | None = None
        self._rng = np.random.RandomState(loss.numpy_seed)
        self.rounds_done = 0

    def forward(self, batch):
        mask = batch["mask"]
        keep = lambda name: batch["modality_mask"][name][:, None, None].to(mask.device)  # noqa: E731
        x = batch["features"][self.cfg.visual] * keep(self.cfg.visual)
        if self.audio is not None:
            a = self.audio(batch["features"][self.cfg.audio], mask).transpose(1, 2)
            x = torch.cat([x, a * keep(self.cfg.audio)], dim=2)
        cas, attention = self.net(x)
        return {"cas": cas, "attention": attention}

    def _pseudo_gt(self, batch) -> tuple[torch.Tensor, float | None]:
        mask = batch["mask"]
        out = torch.full(mask.shape, -1, dtype=torch.long, device=mask.device)
        if self.pseudo is None:
            return out, None
        for i, (vid, n) in enumerate(zip(batch["vids"], batch["lengths"].tolist())):
            labels = self.pseudo.labels.get(vid)
            if labels is None:
                continue
            if len(labels) != n:
                raise ValueError(f"refineloc: video {vid!r} has {n} snippets in the batch but "
                                 f"{len(labels)} pseudo labels; do not crop (data.max_snippets)")
            out[i, :n] = torch.from_numpy(labels).to(mask.device)
        return out, self.pseudo.fg_class_loss_weight

    def compute_loss(self, outputs, batch, step):
        c = self.loss_cfg
        pseudo, weight = self._pseudo_gt(batch)
        target = single_label_target(batch["video_labels"], c.first_label_only)
        terms = refineloc_loss(outputs["cas"], outputs["attention"], target, pseudo, weight,
                               RefineLocLossConfig(c.alpha_l1, c.alpha_group_sparsity,
                                                   c.alpha_pseudo_gt, c.weighted_pseudo_gt),
                               mask=batch["mask"])
        total = terms.pop("loss")
        return total, {k: float(v.detach()) for k, v in terms.items()}

    def scores(self, outputs, batch):
        """Softmax CAS, attention-weighted video score and the attention score as actionness
        (the official rule ANDs ``p_c > min_cas`` with ``a > min_att``; see the README)."""
        alpha, a = attention_over_time(outputs["attention"], batch["mask"])
        p = F.softmax(outputs["cas"], dim=-1) * batch["mask"][..., None].to(alpha.dtype)
        return {"cas": p, "video_scores": (alpha[..., None] * p).sum(1), "actionness": a}

    def detect_batch(self, outputs, batch, test_time: bool = True) -> dict[str, list[dict]]:
        """The official detection rule per video of a batch (test-time or refinement settings)."""
        m, c = self.cfg, self.refinement
        args = (m.top_k, m.min_cas, m.min_attention, m.padding) if test_time else \
            (c.top_k, c.min_cas, c.min_attention, c.padding)
        out = {}
        for i, (vid, n, fps) in enumerate(zip(batch["vids"], batch["lengths"].tolist(), batch["fps"])):
            out[vid] = detect(outputs["cas"][i, :n].detach().cpu().numpy(),
                              outputs["attention"][i, :n].detach().cpu().numpy(), fps, *args)
        return out

    # -------------------------------------------------------------- refinement rounds
    def refine(self, videos: Sequence[Video], passes: Iterable[tuple[list, dict, dict[str, torch.Tensor]]]) -> dict:
        """One refinement step on ``videos`` from the eval-mode outputs of a pass over them
        (:attr:`TrainingContext.predict`)."""
        if self.pseudo is None or not self.pseudo.videos:  # first round, or resumed from a checkpoint
            records = []
            for v in videos:
                labels = tuple(int(i) for i in np.flatnonzero(v.video_labels(len(self.classes))))
                segs = [(s.start, s.end) for s in v.segments]
                true = true_foreground(segs, v.num_snippets, v.fps) if segs else None
                records.append(VideoRecord(v.vid, v.num_snippets, float(v.fps), labels, true))
            if self.pseudo is None:
                self.pseudo = PseudoGroundTruth(records, self.refinement)
            else:
                self.pseudo.videos = records
        outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # vid -> (cas (T, C), attention (T, ...))
        for _, batch, out in passes:
            for i, (vid, n) in enumerate(zip(batch["vids"], batch["lengths"].tolist())):
                outputs[vid] = (out["cas"][i, :n].cpu().numpy(), out["attention"][i, :n].cpu().numpy())
        return self.pseudo.update(outputs, self._rng)

    def training_state(self) -> dict:
        """The pseudo ground truth so far, the dropping generator and the round counter."""
        state = {"rng": numpy_generator_state(self._rng), "rounds_done": self.rounds_done}
        if self.pseudo is not None:
            state["pseudo"] = self.pseudo.state()
        return state

    def load_training_state(self, state: dict) -> None:
        if "rng" in state:
            restore_numpy_generator(self._rng, state["rng"])
        self.rounds_done = int(state.get("rounds_done", 0))
        if "pseudo" in state:
            self.pseudo = PseudoGroundTruth([], self.refinement)
            self.pseudo.load_state(state["pseudo"])

    def reset_weights(self) -> None:
        """Re-initialise every layer (the official ``reset=True`` between rounds)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def on_step_end(self, step: int, context: TrainingContext) -> None:
        every = self.loss_cfg.round_steps
        done = step + 1
        if not every or done % every or done >= context.total_steps:
            return
        self.refine(context.videos, context.predict(context.videos))
        self.rounds_done += 1
        if self.loss_cfg.reset_model:
            self.reset_weights()
            context.reset_optimizer()

    def segments(self, outputs, batch, params):
        """The official detection rule (``model.top_k``, ``min_cas``, ``min_attention``,
        ``padding``; no NMS) instead of the shared OIC post-processing."""
        names = params.class_names
        return {vid: [Segment(d["t-start"], d["t-end"], names[d["label"]], d["score"]) for d in dets]
                for vid, dets in self.detect_batch(outputs, batch, test_time=True).items()}
