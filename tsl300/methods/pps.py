"""PPS (Kim et al., AAAI 2024), adapted: Gaussian-mixture proposals with pull-push learning.

Official code: ``sunoh-kim/pps`` @1e1d176 (``model/pps.py``, ``model/loss.py``,
``runner/base_runner.py``), a weakly supervised *grounding* method: one sentence in, one moment
out, scored by how well the masked video reconstructs the sentence. What carries over to TSL
unchanged (and reproduces ``../shared/golden/pps``): the Gaussian masks, the mixture boundaries,
the label-smoothed NLL, the main/ranking/push/pull losses, the IoU-voting moment decoding and its
metrics. What is adapted (see ``recipes/pps/README.md``): the query is a learned per-class
embedding instead of a sentence, and a proposal's "reconstruction" NLL is the label-smoothed NLL
of its class from the mask-weighted pooling of the snippet features (one "word": the class);
the masks weight attention pooling, as the official masks weight attention.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.types import Segment
from ..models.encoders import build_encoder
from ..postprocess import select_classes
from .base import Method
from .registry import ModelSpec, register_method

# --------------------------------------------------------------------------------------------
# Masks (``model/pps.py``)


def grid(props_len: int) -> torch.Tensor:
    return torch.linspace(0, 1, props_len)


def gauss_mask(center: torch.Tensor, width: torch.Tensor, props_len: int, sigma: float) -> torch.Tensor:
    """``generate_gauss_mask``: ``N(x; c, max(w, 0.01)/sigma)`` on ``linspace(0, 1, L)``,
    divided by its max over the grid (all-underflow rows are NaN, as official). (N,) -> (N, L)."""
    x = grid(props_len).to(center)[None, :]
    s = width.clamp(min=1e-2)[:, None] / sigma
    w = 0.3989422804014327
    g = w / s * torch.exp(-(x - center[:, None]) ** 2 / (2 * s ** 2))
    return g / g.max(dim=-1, keepdim=True).values


def laplace_mask(center: torch.Tensor, width: torch.Tensor, props_len: int, sigma: float) -> torch.Tensor:
    """``generate_laplace_mask``: ``exp(-|x - c| / s) / (2 s)`` / max."""
    x = grid(props_len).to(center)[None, :]
    s = width.clamp(min=1e-2)[:, None] / sigma
    g = torch.exp(-torch.abs(x - center[:, None]) / s) / (2 * s)
    return g / g.max(dim=-1, keepdim=True).values


def inverse_gauss_mask(center: torch.Tensor, width: torch.Tensor, props_len: int, sigma: float) -> torch.Tensor:
    """``generate_negative_inverse_gaussian_mask``: ``1 - gauss / max``."""
    return 1 - gauss_mask(center, width, props_len, sigma)


def generate_prop(center: torch.Tensor, width: torch.Tensor, props_len: int, sigma: float) -> dict[str, torch.Tensor]:
    """``generate_prop``: (B, K) centres and widths -> the component masks (B, K, L), their sum
    divided by its max (B, L) and each component's ``centre -+ width / 2``."""
    B, K = center.shape
    comp = gauss_mask(center.reshape(-1), width.reshape(-1), props_len, sigma).reshape(B, K, -1)
    total = comp.sum(dim=1)
    return {"component_masks": comp, "prop_weight": total / total.max(dim=-1, keepdim=True).values,
            "left": center - width / 2, "right": center + width / 2}


def shrink(left: torch.Tensor, right: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``pred_gamma``: each end moves inward by ``gamma * width / 2``, clamped to [0, 1]."""
    half = gamma * (right - left) / 2
    return (left + half).clamp(min=0), (right - half).clamp(max=1)


# --------------------------------------------------------------------------------------------
# Losses (``model/loss.py``)


def cal_nll_loss(logit: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None,
                 eps: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-smoothed NLL per row: ``(1-eps)(-log p_y) + eps/V sum_v -log p_v``, masked mean over
    positions (or ``weights``-weighted sum); and the masked argmax accuracy."""
    acc = (logit.argmax(dim=-1) == idx).float()
    mean_acc = (acc * mask).sum() / mask.sum()
    logp = logit.log_softmax(dim=-1)
    nll = -logp.gather(dim=-1, index=idx.unsqueeze(-1)).squeeze(-1)
    nll = (1 - eps) * nll + eps / logp.shape[-1] * -logp.sum(dim=-1)
    if weights is None:
        nll = nll.masked_fill(mask == 0, 0).sum(dim=-1) / mask.sum(dim=-1)
    else:
        nll = (nll * weights).sum(dim=-1)
    return nll, mean_acc


@dataclass
class PPSLossConfig:
    """``config_refact.json`` (Charades) loss weights; the other configs differ in four numbers."""

    margin_hneg: float = 0.1
    margin_eneg: float = 0.15
    lambda_inter_push: float = 0.15
    lambda_intra_push: float = 0.15
    alpha_ivc: float = 3.0
    alpha_pull: float = 5.0
    alpha_inter_push: float = 3.0
    alpha_intra_push: float = 0.0012
    num_train_prop: int = 1


def _push(masks: torch.Tensor, lam: float) -> torch.Tensor:
    """(B, K, L) -> (B,) ``||lam I - W W^T||_F^2`` with each mask divided by its sum."""
    w = masks / masks.sum(dim=-1, keepdim=True)
    gram = w @ w.transpose(1, 2)
    eye = torch.eye(masks.shape[1], dtype=masks.dtype, device=masks.device)
    return ((lam * eye - gram) ** 2).sum(dim=(1, 2))


def pps_losses(nll: torch.Tensor, neg_nll: torch.Tensor, hneg_nll: torch.Tensor, prop_weights: torch.Tensor,
               each_mask_weights: list[torch.Tensor], mask_centers: list[torch.Tensor],
               config: PPSLossConfig = PPSLossConfig()) -> dict[str, torch.Tensor]:
    """``main_loss_fn + sub_loss_fn``. ``nll``/``neg_nll`` (B, P) per-proposal NLLs,
    ``hneg_nll`` (B,) whole video, ``prop_weights`` (B, P, L), ``each_mask_weights[p]``
    (B, p+1, L) and ``mask_centers[p]`` (B, p+1). Logged quirks: ``ivc_loss`` is the whole sub
    loss (in-place aliasing), ``push_loss`` unweighted."""
    k = min(config.num_train_prop, nll.shape[1])  # official: a slice of the sorted NLLs
    best, idx = nll.topk(k, dim=1, largest=False)
    nll_loss = best.mean(dim=1)
    final = 0.5 * (nll_loss.mean() + hneg_nll.mean())
    neg = neg_nll.gather(1, idx)
    hneg_loss = (best - hneg_nll[:, None] + config.margin_hneg).clamp(min=0).mean(dim=1)
    neg_loss = (best - neg + config.margin_eneg).clamp(min=0).mean(dim=1)
    inter = _push(prop_weights, config.lambda_inter_push)
    intra = sum((_push(m, config.lambda_intra_push) for m in each_mask_weights if m.shape[1] > 1),
                torch.zeros_like(inter))
    pull = sum(((c.max(dim=1).values - c.min(dim=1).values) ** 2).mean() for c in mask_centers if c.shape[1] > 1)
    pull = pull if torch.is_tensor(pull) else nll.new_zeros(())
    sub = (config.alpha_ivc * (hneg_loss.mean() + neg_loss.mean())
           + config.alpha_inter_push * inter.mean() + config.alpha_intra_push * intra.mean() + config.alpha_pull * pull)
    return {"total": final + sub, "main_loss": final, "sub_loss": sub, "final_loss": final,
            "nll_loss": nll_loss.mean(), "hneg_nll_loss": hneg_nll.mean(), "ivc_loss": sub,
            "neg_loss": neg_loss.mean(), "hneg_loss": hneg_loss.mean(), "push_loss": (inter + intra).mean(),
            "pull_loss": pull}


# --------------------------------------------------------------------------------------------
# Decoding (``runner/base_runner.py``)


def calculate_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``calculate_IoU``: +1e-10 on intersection and union; negative intersection -> 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    inter = np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0])
    union = np.maximum(a[..., 1], b[..., 1]) - np.minimum(a[..., 0], b[..., 0])
    iou = (inter + 1e-10) / (union + 1e-10)
    return np.where(inter < 0, 0.0, iou)


def vote(nll: np.ndarray, lefts: np.ndarray, rights: np.ndarray, weighted: bool) -> dict[str, np.ndarray]:
    """Sort proposals by NLL (ascending), ``votes_i = sum_j IoU(i, j) c_j`` (Charades:
    ``c_j = 1 - nll_j / max nll``; ActivityNet: 1), rank-1 = argmax (first on ties)."""
    nll = np.asarray(nll, np.float64)
    order = np.argsort(nll, kind="stable")
    moments = np.stack([np.asarray(lefts)[order], np.asarray(rights)[order]], axis=1).astype(np.float64)
    c = 1 - nll[order] / nll.max() if weighted else np.ones(len(nll))
    iou = calculate_iou(moments[:, None, :], moments[None, :, :])
    votes = (iou * c[None, :]).sum(axis=1)
    return {"order": order, "moments": moments, "votes": votes, "selected": int(np.argmax(votes))}


def top1_metric(pred: np.ndarray, gt: np.ndarray, thresholds=(0.1, 0.3, 0.5, 0.7, 0.9)) -> dict[str, float]:
    iou = calculate_iou(pred, gt)
    return {"mIoU": float(iou.mean()), **{f"IoU@{t}": float((iou >= t).mean()) for t in thresholds}}


def topn_metric(preds: np.ndarray, gt: np.ndarray, thresholds=(0.1, 0.3, 0.5, 0.7, 0.9)) -> dict[str, float]:
    """``preds`` (n, B, 2): the best IoU of the n moments per sample."""
    iou = calculate_iou(np.asarray(preds), np.asarray(gt)[None]).max(axis=0)
    return {"mIoU": float(iou.mean()), **{f"IoU@{t}": float((iou >= t).mean()) for t in thresholds}}


# --------------------------------------------------------------------------------------------
# The adapted model and the recipe's Method


class PPSNetwork(nn.Module):
    """Per (video, class): a frame encoder with the class query as an extra token, P mixture heads
    (proposal p has p+1 Gaussians), a learned-negative head reading the same hidden state (official
    quirk 2), attentive pooling of the components, and a class scorer on mask-weighted attention
    pooling (the adapted "reconstruction")."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, heads: int = 4, layers: int = 3,
                 num_props: int = 7, num_neg: int = 3, dropout: float = 0.1):
        super().__init__()
        self.frame_fc = nn.Linear(in_dim, hidden)
        self.query = nn.Embedding(num_classes, hidden)
        enc = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, layers)
        self.gauss = nn.ModuleList([nn.Linear(hidden, 2 * (p + 1)) for p in range(num_props)])
        self.neg_gauss = nn.Linear(hidden, 2 * num_props * num_neg)
        self.feat2att = nn.Linear(hidden, hidden, bias=False)
        self.to_alpha = nn.Linear(hidden, 1, bias=False)
        self.attn_score = nn.Linear(hidden, 1)
        self.classifier = nn.Linear(hidden, num_classes)
        self.num_props, self.num_neg = num_props, num_neg

    def pool(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H), (B, T) mask weights -> (B, H): attention pooling re-weighted by the mask
        (``softmax * (g + 1e-10)``, renormalised), as the official masks weight attention."""
        att = torch.softmax(self.attn_score(h)[..., 0], dim=-1) * (mask + 1e-10)
        att = att / att.sum(dim=-1, keepdim=True)
        return (att[..., None] * h).sum(dim=1)


@dataclass
class PPSModel:
    visual: str = "rgb"
    audio: str = "logmfcc"
    audio_dim: int = 1024
    audio_time_groups: int = 8
    audio_dropout: float = 0.2
    hidden: int = 256
    heads: int = 4
    layers: int = 3
    dropout: float = 0.1
    num_props: int = 7              # Charades: 7 mixtures (1..7 Gaussians)
    sigma_gauss: float = 9.0
    num_neg: int = 3
    sigma_neg_gauss: float = 9.0
    pred_gamma: float = 0.0         # Charades 0, ActivityNet 0.15
    weighted_vote: bool = True      # Charades: c_j = 1 - nll_j / max nll
    class_thresh: float = 0.5


@dataclass
class PPSLoss(PPSLossConfig):
    label_smoothing: float = 0.1


@register_method("pps")
class PPS(Method):
    """PPS adapted to TSL: one query per class present (video labels), Gaussian-mixture
    proposals, pull-push losses, IoU-voting decoding per predicted class."""

    ModelConfig = PPSModel
    LossConfig = PPSLoss
    supervision = "video"

    def __init__(self, model: PPSModel, loss: PPSLoss, spec: ModelSpec):
        super().__init__()
        spec.require("pps", *[m for m in (model.visual, model.audio) if m])
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        dim = spec.vector_dim("pps", model.visual) + (model.audio_dim if model.audio else 0)
        self.audio_encoder = (build_encoder(tuple(spec.modality_shapes[model.audio]), model.audio_dim,
                                            model.audio_dropout, model.audio_time_groups) if model.audio else None)
        self.net = PPSNetwork(dim, spec.num_classes, model.hidden, model.heads, model.layers, model.num_props,
                              model.num_neg, model.dropout)

    def _inputs(self, batch):
        x = batch["features"][self.cfg.visual].float()
        if self.audio_encoder is not None:
            audio = self.audio_encoder(batch["features"][self.cfg.audio].float(), batch["mask"])
            x = torch.cat([x, audio.transpose(1, 2)], dim=-1)
        return x

    def _class_nll(self, h, pad, masks, cls):
        """(N, T, H) hidden, (N, T) padding, (N, T) masks, (N,) class -> (N,) NLL of the class."""
        logits = self.net.classifier(self.net.pool(h, masks * pad))[:, None]
        nll, _ = cal_nll_loss(logits, cls[:, None], torch.ones_like(cls[:, None], dtype=logits.dtype),
                              eps=self.loss_cfg.label_smoothing)
        return nll

    def forward(self, batch):
        x = self._inputs(batch)
        pad = batch["mask"].to(x)
        B, T, _ = x.shape
        C, P, cfg = self.spec.num_classes, self.cfg.num_props, self.cfg
        # every (video, class) pair: the class query token is appended to the frames
        frames = self.net.frame_fc(x)
        tokens = torch.cat([frames[:, None].expand(B, C, T, -1),
                            self.net.query.weight[None, :, None].expand(B, C, 1, -1)], dim=2).reshape(B * C, T + 1, -1)
        key_pad = torch.cat([pad == 0, torch.zeros(B, 1, dtype=torch.bool, device=x.device)], dim=1)
        h = self.net.encoder(tokens, src_key_padding_mask=key_pad.repeat_interleave(C, dim=0))
        hq, hf = h[:, -1], h[:, :-1]                       # (BC, H), (BC, T, H)
        padc = pad.repeat_interleave(C, dim=0)
        cls = torch.arange(C, device=x.device).repeat(B)
        lengths = batch["lengths"].repeat_interleave(C).tolist()
        L = T
        prop_w, lefts, rights, each, centers, nll, neg_nll = [], [], [], [], [], [], []
        neg_params = torch.sigmoid(self.net.neg_gauss(hq)).reshape(B * C, P, cfg.num_neg, 2)
        for p in range(P):
            cw = torch.sigmoid(self.net.gauss[p](hq)).reshape(B * C, p + 1, 2)
            c, w = cw[..., 0], cw[..., 1][:, 0]              # one width per mixture (its first component's)
            comps = _video_masks(c, w, lengths, L, cfg.sigma_gauss)  # (BC, p+1, L)
            if p == 0:
                alpha = torch.ones(B * C, 1, device=x.device)
            else:
                pooled = torch.stack([self.net.pool(hf, comps[:, k] * padc) for k in range(p + 1)], dim=1)
                alpha = torch.softmax(self.net.to_alpha(torch.tanh(self.net.feat2att(pooled)))[..., 0], dim=1)
            mask = (alpha[:, :, None] * comps).sum(dim=1)
            left, right = shrink((alpha * (c - w[:, None] / 2)).sum(1), (alpha * (c + w[:, None] / 2)).sum(1),
                                 cfg.pred_gamma)
            ng = neg_params[:, p]
            neg = _video_masks(ng[..., 0], ng[..., 1][:, 0], lengths, L, cfg.sigma_neg_gauss).sum(dim=1)
            neg = neg / neg.max(dim=-1, keepdim=True).values
            prop_w.append(mask)
            lefts.append(left)
            rights.append(right)
            each.append(comps)
            centers.append(c)
            nll.append(self._class_nll(hf, padc, mask, cls))
            neg_nll.append(self._class_nll(hf, padc, neg, cls))
        whole = self.net.classifier(self.net.pool(hf, padc))      # hard negative: the whole video
        hneg_nll, _ = cal_nll_loss(whole[:, None], cls[:, None], torch.ones(B * C, 1, device=x.device),
                                   eps=self.loss_cfg.label_smoothing)
        video_scores = torch.softmax(whole.reshape(B, C, C), dim=-1).diagonal(dim1=1, dim2=2)
        return {"nll": torch.stack(nll, 1).reshape(B, C, P), "neg_nll": torch.stack(neg_nll, 1).reshape(B, C, P),
                "hneg_nll": hneg_nll.reshape(B, C), "prop_weights": torch.stack(prop_w, 1).reshape(B, C, P, L),
                "each_mask_weights": [m.reshape(B, C, m.shape[1], L) for m in each],
                "mask_centers": [c.reshape(B, C, -1) for c in centers],
                "lefts": torch.stack(lefts, 1).reshape(B, C, P), "rights": torch.stack(rights, 1).reshape(B, C, P),
                "video_scores": video_scores, "whole_logits": whole.reshape(B, C, C)}

    def compute_loss(self, outputs, batch, step):
        """The PPS losses over the (video, class) pairs of the classes present (as a sentence
        is only ever paired with its own video); absent classes' queries get no loss."""
        labels = batch["video_labels"] > 0
        b, c = torch.nonzero(labels, as_tuple=True)
        if not len(b):
            zero = outputs["nll"].sum() * 0
            return zero, {}
        pick = lambda t: t[b, c]  # noqa: E731
        terms = pps_losses(pick(outputs["nll"]), pick(outputs["neg_nll"]), pick(outputs["hneg_nll"]),
                           _finite(pick(outputs["prop_weights"])), [_finite(pick(m)) for m in outputs["each_mask_weights"]],
                           [pick(m) for m in outputs["mask_centers"]], self.loss_cfg)
        return terms["total"], {k: float(v.detach()) for k, v in terms.items() if k != "ivc_loss"}

    def scores(self, outputs, batch):
        """Per-snippet scores for the shared path (not used by :meth:`segments`): the proposal
        masks weighted by exp(-NLL), max over proposals."""
        w = torch.exp(-outputs["nll"])[..., None] * outputs["prop_weights"].nan_to_num(0)
        return {"cas": w.amax(dim=2).transpose(1, 2), "video_scores": outputs["video_scores"]}

    def segments(self, outputs, batch, params):
        """Per predicted class (video score >= class_thresh, else the argmax): the P proposals in
        PPS's order (the IoU-voting rank-1 first, then ascending NLL), scored
        ``video_score x exp(-NLL)`` (the rank-1 moment: the video score)."""
        names = params.class_names
        result = {}
        vs = outputs["video_scores"].detach().cpu().numpy()
        nll = outputs["nll"].detach().cpu().numpy()
        lefts, rights = outputs["lefts"].detach().cpu().numpy(), outputs["rights"].detach().cpu().numpy()
        for b, vid in enumerate(batch["vids"]):
            duration = float(batch["lengths"][b]) * 16.0 / float(batch["fps"][b])
            segs = []
            for c in select_classes(vs[b], self.cfg.class_thresh).tolist():
                v = vote(nll[b, c], lefts[b, c], rights[b, c], self.cfg.weighted_vote)
                scores = vs[b, c] * np.exp(-nll[b, c][v["order"]])
                scores[v["selected"]] = vs[b, c]
                for (left, right), s in zip(v["moments"], scores):
                    segs.append(Segment(float(max(left, 0.0)) * duration, float(min(right, 1.0)) * duration,
                                        names[c], float(s)))
            result[vid] = segs
        return result


def _finite(x: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(x, nan=0.0)


def _video_masks(center: torch.Tensor, width: torch.Tensor, lengths: list[int], L: int, sigma: float) -> torch.Tensor:
    """Masks on each video's own grid ``linspace(0, 1, length)``, zero-padded to L: (N, K, L)."""
    N, K = center.shape
    out = center.new_zeros(N, K, L)
    for n in sorted(set(lengths)):
        rows = [i for i, m in enumerate(lengths) if m == n]
        idx = torch.as_tensor(rows, device=center.device)
        masks = gauss_mask(center[idx].reshape(-1), width[idx].repeat_interleave(K), n, sigma)
        out[idx, :, :n] = torch.nan_to_num(masks.reshape(len(rows), K, n), nan=0.0)
    return out
