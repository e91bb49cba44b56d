"""The flagship: cross-modal consensus fusion + TSL-Net's point-supervised head.

Architecture as shipped (``recipes/tsl300/flagship.yaml`` = the dataclass defaults below)::

    per modality: encoder (vector: 1x1 proj + k3 conv; log-mel: pooled patch + proj + k3 conv),
        width 128, BatchNorm statistics from the videos that have the modality
        -> ConsensusFusion (CO2-Net CCM for N modalities; ``fusion: concat`` for plain concatenation)
        -> filtered features (concat) + fused attention A: one attention unit (hidden 64) on all
           filtered features (``attention_fusion: joint``); ``joint_mean`` averages it with the
           per-modality attention units (CO2-Net-style, so they shape A), ``mean``/``max`` use
           only the per-modality units
        -> k3 conv neck (width 128) on [filtered, unfiltered encoded features] (``skip_features``)
           -> dropout
        -> classifier: C+1 logits (background last)       -> p_c = sigmoid(cas_c) * A
                                                              p_bg = sigmoid(cas_bg)
        -> distribution head: C logits -> D = softmax(top-k mean over time)

With ``joint`` the per-modality attention units do not reach the output: they only take part in
the mutual-learning and norm terms (an auxiliary signal on the filtered features); see
``recipes/tsl300/README.md`` for the measured comparison with ``joint_mean``.

Losses (weights in ``loss:``; a weight of 0 switches a term off):

- TSL-Net's label-distribution KL between D and the normalised per-class point counts;
- TSL-Net's focal point loss on p with label-smoothed targets (1 - eps on the labelled class,
  eps on the others, at the point's snippet; eps = 0 gives hard targets);
- TSL-Net's pseudo-label search around the points (on detached p), background and
  pseudo-action losses;
- CO2-Net's top-k MIL on the raw CAS (background present) and on the attention-suppressed CAS
  (background absent), its mutual learning between modality attentions (and the joint attention
  with ``joint_mean``), attention norm and opposite (A vs background) terms; a modality's
  attention counts only for videos that have the modality; the video-level terms (LDL, MIL)
  average over the windows whose video labels are known (a cropped window without a point has
  none);
- cross-modal InfoNCE between each modality's encoded feature and a linear reverse mapping of F,
  with the correct sign (TSL-Net's shipped code has it reversed).

Inference: ``cas`` = p_c, ``actionness`` = A, ``video_scores`` = top-k mean of p_c over time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import RecipeError
from ..losses import consensus as co2
from ..losses import pseudo_labels as pseudo
from ..losses.contrastive import reverse_mapping_infonce
from ..losses.distribution import label_distribution_kl
from ..losses.point import point_frame_loss, smoothed_point_targets
from ..models.consensus import ConcatFusion, ConsensusFusion
from ..models.encoders import build_encoder
from ..models.masked import masked_topk_mean_ratio
from .base import Method
from .registry import ModelSpec, register_method


@dataclass
class FlagshipModel:
    """Defaults = ``recipes/tsl300/flagship.yaml`` (tests/test_recipe_defaults.py keeps them equal)."""

    hidden: int = 128  # encoder width per modality
    attention_hidden: int = 64
    fusion_hidden: int = 128
    fusion: str = "consensus"  # consensus | concat
    attention_fusion: str = "joint"  # joint (one unit on all filtered features) | joint_mean | mean (CO2) | max
    skip_features: bool = True  # neck also reads the unfiltered encoded features
    encoder_dropout: float = 0.2
    consensus_dropout: float = 0.5
    head_dropout: float = 0.5
    mel_time_groups: int = 8
    topk_ratio: int = 8  # k = T // r for video-level pooling
    input_norm: str = "batch"  # batch (BatchNorm over snippets) | video (z-score per video first)


@dataclass
class FlagshipLoss:
    label_smoothing: float = 0.1  # targets 1-eps / eps at points (TSL-Net: 0.9 / 0.1)
    focal_gamma: float = 2.0
    ldl: float = 2.0
    point: float = 0.5
    pseudo: float = 0.5  # background + pseudo-action (TSL-Net's (1 - mu) share)
    pseudo_start_step: int = 0
    background_threshold: float = 0.95
    mil: float = 0.5
    mutual: float = 1.0
    norm: float = 0.1
    opposite: float = 0.5
    contrastive: float = 0.1
    contrastive_official_sign: bool = False
    # a training window without a point has all-zero video labels: "skip" leaves it out of the
    # video-level terms (LDL, MIL); "background" trains it as pure background (before issue 12)
    pointless_windows: str = "skip"


@register_method("flagship")
class FlagshipMethod(Method):
    ModelConfig = FlagshipModel
    LossConfig = FlagshipLoss
    supervision = "point"

    def __init__(self, model: FlagshipModel, loss: FlagshipLoss, spec: ModelSpec):
        super().__init__()
        if model.input_norm not in ("batch", "video"):
            raise RecipeError(f"model.input_norm must be 'batch' or 'video', got {model.input_norm!r}")
        if loss.pointless_windows not in ("skip", "background"):
            raise RecipeError(f"loss.pointless_windows must be 'skip' or 'background', got {loss.pointless_windows!r}")
        if model.fusion not in ("consensus", "concat"):
            raise RecipeError(f"model.fusion must be 'consensus' or 'concat', got {model.fusion!r}")
        self.cfg, self.loss_cfg, self.spec = model, loss, spec
        self.modalities = list(spec.modality_shapes)
        self.num_classes = spec.num_classes
        self.encoders = nn.ModuleDict({
            m: build_encoder(tuple(shape), model.hidden, model.encoder_dropout, model.mel_time_groups,
                             per_video=model.input_norm == "video")
            for m, shape in spec.modality_shapes.items()})
        dims = {m: model.hidden for m in self.modalities}
        fusion_cls = ConsensusFusion if model.fusion == "consensus" else ConcatFusion
        self.fusion = fusion_cls(dims, model.attention_hidden, model.consensus_dropout, model.attention_fusion)
        neck_in = self.fusion.out_dim + (sum(dims.values()) if model.skip_features else 0)
        self.neck = nn.Conv1d(neck_in, model.fusion_hidden, 3, padding=1)
        self.drop = nn.Dropout(model.head_dropout)
        self.classifier = nn.Conv1d(model.fusion_hidden, self.num_classes + 1, 1)
        self.distribution = nn.Conv1d(model.fusion_hidden, self.num_classes, 1)
        self.reverse = nn.ModuleDict({m: nn.Linear(model.fusion_hidden, model.hidden) for m in self.modalities})

    # ------------------------------------------------------------------ forward

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        mask = batch["mask"]
        m = mask[:, None, :].float()
        present = batch["modality_mask"]
        # a missing modality's zero rows are masked out of its encoder (BatchNorm statistics)
        encoded = {name: self.encoders[name](batch["features"][name].float(), mask & present[name][:, None])
                   for name in self.modalities}
        fused = self.fusion(encoded, mask, batch["modality_mask"])
        neck_in = fused["fused"]
        if self.cfg.skip_features:
            raw = [encoded[n] * present[n].to(m.dtype)[:, None, None] for n in self.modalities]
            neck_in = torch.cat([neck_in] + raw, dim=1)
        feat = torch.relu(self.neck(neck_in)) * m  # (B, H, T)
        cas = self.classifier(self.drop(feat)).transpose(1, 2)  # (B, T, C+1)
        dist = self.distribution(self.drop(feat)).transpose(1, 2)  # (B, T, C)
        attention = fused["attention"] * mask
        sig = torch.sigmoid(cas)
        probs = torch.cat([sig[..., :-1] * attention[..., None], sig[..., -1:]], dim=-1)
        return {"cas": cas, "probs": probs, "attention": attention, "dist_logits": dist,
                "attentions": fused["attentions"], "joint_attention": fused.get("joint"), "encoded": encoded,
                "feat": feat}

    # ------------------------------------------------------------------ loss

    def compute_loss(self, outputs, batch, step):
        cfg = self.loss_cfg
        mask = batch["mask"]
        probs, cas, attention = outputs["probs"], outputs["cas"], outputs["attention"]
        labels = batch["video_labels"]
        # A training window without a point has no video-level evidence (cropping drops the
        # segments): its all-zero labels would train it as pure background, so by default the
        # video-level terms (LDL, MIL) average over the videos whose labels are known only.
        known = labels.sum(dim=1) > 0  # (B,)
        if cfg.pointless_windows == "background":
            known = torch.ones_like(known)
        terms: dict[str, torch.Tensor] = {}

        eps = cfg.label_smoothing
        target = smoothed_point_targets(batch["points"], mask.shape[1], self.num_classes, 1.0 - eps, eps,
                                        device=probs.device)  # (B, T, C+1)
        if cfg.ldl:
            d_pred = torch.softmax(masked_topk_mean_ratio(outputs["dist_logits"], mask, self.cfg.topk_ratio), dim=-1)
            terms["ldl"] = _mean_over(label_distribution_kl(d_pred, batch["label_distribution"]), known)
        if cfg.point:
            terms["point"] = point_frame_loss(probs, target, mask, cfg.focal_gamma).mean()
        if cfg.pseudo and step >= cfg.pseudo_start_step:
            act_seed, bkg_seed = pseudo.search_pseudo_labels(probs.detach(), target, mask, cfg.background_threshold)
            terms["background"] = pseudo.background_loss(probs, bkg_seed * mask, cfg.focal_gamma).mean()
            terms["pseudo_action"] = pseudo.pseudo_action_loss(probs, act_seed * mask[..., None],
                                                               cfg.focal_gamma).mean()
        if cfg.mil:
            orig = co2.masked_topk_mil(cas, labels, mask, self.cfg.topk_ratio, background_present=True)
            supp = co2.masked_topk_mil(co2.suppress_background(cas, attention), labels, mask,
                                       self.cfg.topk_ratio, background_present=False)
            terms["mil"] = _mean_over(orig + supp, known)
        names = list(outputs["attentions"])
        attentions = [outputs["attentions"][n] for n in names]
        # a modality attention is (B, T); a video lacking that modality is left out of its terms
        present = [batch["modality_mask"].get(n, torch.ones_like(known)) for n in names]
        if outputs.get("joint_attention") is not None:  # joint_mean: the joint unit is one more member
            attentions.append(outputs["joint_attention"])
            present.append(torch.ones_like(known))
        if cfg.mutual and len(attentions) > 1:
            terms["mutual"] = co2.mutual_learning(attentions, mask, present)
        if cfg.norm:
            norms = [co2.attention_norm(attention, mask)]
            norms += [co2.attention_norm(a, mask & p[:, None]) for a, p in zip(attentions, present)]
            terms["norm"] = sum(norms) / len(norms)
        if cfg.opposite:
            terms["opposite"] = co2.opposite(attention, probs[..., -1], mask)
        if cfg.contrastive:
            feat = outputs["feat"].transpose(1, 2)
            nce = []
            for name, x in outputs["encoded"].items():
                valid = mask & batch["modality_mask"][name][:, None]
                if valid.any():
                    per_video = reverse_mapping_infonce(x.transpose(1, 2), self.reverse[name](feat), valid,
                                                        official_sign=cfg.contrastive_official_sign, eps=1e-6)
                    has = valid.any(dim=1)
                    nce.append(per_video[has].mean())
            if nce:
                terms["contrastive"] = sum(nce)
        weights = {"ldl": cfg.ldl, "point": cfg.point, "background": cfg.pseudo, "pseudo_action": cfg.pseudo,
                   "mil": cfg.mil, "mutual": cfg.mutual, "norm": cfg.norm, "opposite": cfg.opposite,
                   "contrastive": cfg.contrastive}
        total = sum(weights[k] * v for k, v in terms.items())
        return total, {k: float(v.detach()) for k, v in terms.items()}

    # ------------------------------------------------------------------ inference

    def scores(self, outputs, batch):
        mask = batch["mask"]
        cas = outputs["probs"][..., :-1] * mask[..., None]
        return {"cas": cas, "video_scores": masked_topk_mean_ratio(cas, mask, self.cfg.topk_ratio),
                "actionness": outputs["attention"]}


def _mean_over(per_video: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of the (B,) ``per_video`` losses over the videos where ``keep``; 0 when none."""
    return (per_video * keep.to(per_video.dtype)).sum() / keep.sum().clamp_min(1)
