"""Faithful TSL-Net as a :class:`~tsl300.methods.base.Method`.

Network: :class:`tsl300.models.tsl_net.TSLNet`. Loss (official ``train.Total_loss``):

    L = l0 * L_vid + l1 * [(1 - l2) * L_frame + l2 * (L_bkg + L_pact)] + l3 * L_fuse

with l = (2, 1, 0.5, 1): ``L_vid`` the label-distribution KL, ``L_frame`` the focal point loss
on label-smoothed targets, ``L_bkg``/``L_pact`` the losses on the pseudo-label search and
``L_fuse`` the reverse-mapping InfoNCE. Every term is computed per video and averaged over the
batch, which is what the official gradient accumulation over B=1 forwards computes.
Inference scores: fused class probabilities, the top-k video score, 1 - background.
The official 10x learning rate of the audio CNN is the recipe's
``optimizer.lr_multipliers: {net.a_extractor: 10.0}`` (:data:`AUDIO_CNN_PREFIX`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from tsl300.errors import RecipeError
from tsl300.losses.contrastive import reverse_mapping_infonce
from tsl300.losses.distribution import label_distribution_kl
from tsl300.losses.point import point_frame_loss, smoothed_point_targets
from tsl300.losses.pseudo_labels import (background_loss, pseudo_action_loss,
                                         search_pseudo_labels, seed_counts)
from tsl300.methods.base import Method
from tsl300.methods.registry import ModelSpec, register_method
from tsl300.models.tsl_net import TSLNet, TSLNetConfig


AUDIO_CNN_PREFIX = "net.a_extractor"
"""Parameter-name prefix of the audio CNN (for ``optimizer.lr_multipliers``)."""


@dataclass
class TSLNetModel:
    """The recipe's ``model:`` section (official values; smaller widths for quick tests)."""

    visual: str = "rgb"                  # modality names in the batch
    audio: str = "logmfcc"
    r_act: int = 8                       # top-k ratio, k = T // r_act
    min_k: int = 1                       # official 0 (NaN for T < 8)
    dropout: float = 0.7
    audio_dim: int = 512
    visual_aligned_dim: int = 512
    fused_dim: int = 2048
    reverse_layers: int = 4
    audio_chunk: int = 600
    max_positions: int = 4000
    use_positional_encoding: bool = True
    audio_cnn_batch: int = 1024          # eval-mode memory bound; results do not depend on it


@dataclass
class TSLNetLoss:
    """The recipe's ``loss:`` section: the constants of :func:`tsl_net_loss_terms`."""

    lambdas: tuple[float, float, float, float] = (2.0, 1.0, 0.5, 1.0)
    point_on: float = 0.9                # label smoothing at point snippets
    point_off: float = 0.1
    focal_gamma: float = 2.0
    bkg_thresh: float = 0.95             # pseudo-label search
    pseudo_action_scale: float = 0.5     # the official extra 0.5 on L_pact
    official_contrastive_sign: bool = False  # True: add +nce as the official code (a bug)
    contrastive_eps: float = 1e-8        # norm epsilon (official 0: NaN on an all-zero row)


def tsl_net_loss_terms(probs: torch.Tensor, point_targets: torch.Tensor, pred_distribution: torch.Tensor,
                       target_distribution: torch.Tensor, contrastive: torch.Tensor,
                       mask: torch.Tensor | None, params: TSLNetLoss) -> dict[str, torch.Tensor]:
    """All TSL-Net loss terms per video (B,) plus the pseudo labels, from the model outputs.

    Shapes: ``probs`` (B, T, C+1) fused probabilities, background last; ``point_targets``
    (B, T, C+1) smoothed point targets with a zero background column; ``pred_distribution`` and
    ``target_distribution`` (B, C); ``contrastive`` (B,) the per-video L_fuse as it enters the
    sum (sign already chosen); ``mask`` (B, T) real snippets. The seeds come back as
    ``act_seed`` (B, T, C+1) and ``bkg_seed`` (B, T).
    """
    l0, l1, l2, l3 = params.lambdas
    vid = label_distribution_kl(pred_distribution, target_distribution)
    frame = point_frame_loss(probs, point_targets, mask, params.focal_gamma)
    act_seed, bkg_seed = search_pseudo_labels(probs, point_targets, mask, params.bkg_thresh)
    pact = pseudo_action_loss(probs, act_seed, params.focal_gamma, params.pseudo_action_scale)
    bkg = background_loss(probs, bkg_seed, params.focal_gamma)
    total = l0 * vid + l1 * ((1 - l2) * frame + l2 * (bkg + pact)) + l3 * contrastive
    pos, neg = seed_counts(act_seed, bkg_seed)
    return {"loss_total": total, "loss_vid_ldl": vid, "loss_frame": frame, "loss_frame_bkg": bkg,
            "loss_frame_pact": pact, "loss_recover_cpc": contrastive, "pos_num": pos, "neg_num": neg,
            "act_seed": act_seed, "bkg_seed": bkg_seed}


@register_method("tsl_net")
class TSLNetMethod(Method):
    """TSL-Net on the shared batch layout (see :mod:`tsl300.methods.base`)."""

    ModelConfig = TSLNetModel
    LossConfig = TSLNetLoss
    supervision = "point"

    def __init__(self, model: TSLNetModel, loss: TSLNetLoss, spec: ModelSpec):
        super().__init__()
        self.cfg, self.loss_cfg = model, loss
        spec.require("tsl_net", model.visual, model.audio)
        visual_shape, audio_shape = tuple(spec.modality_shapes[model.visual]), tuple(spec.modality_shapes[model.audio])
        if len(visual_shape) != 1 or len(audio_shape) != 2:
            raise RecipeError(f"tsl_net expects {model.visual} features (D,) and {model.audio} patches "
                              f"(frames, bins); got {visual_shape} and {audio_shape}")
        self.num_classes = spec.num_classes
        self.net = TSLNet(TSLNetConfig(
            visual_dim=visual_shape[0], mel_frames=audio_shape[0], mel_bins=audio_shape[1],
            audio_dim=model.audio_dim, visual_aligned_dim=model.visual_aligned_dim, fused_dim=model.fused_dim,
            num_classes=spec.num_classes, r_act=model.r_act, min_k=model.min_k, dropout=model.dropout,
            reverse_layers=model.reverse_layers, audio_chunk=model.audio_chunk,
            max_positions=model.max_positions, use_positional_encoding=model.use_positional_encoding,
            audio_cnn_batch=model.audio_cnn_batch))

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        feats = batch["features"]
        return self.net(feats[self.cfg.visual], feats[self.cfg.audio], batch["mask"],
                        with_reverse=self.training)

    def point_targets(self, batch: dict[str, Any], T: int, device) -> torch.Tensor:
        return smoothed_point_targets(batch["points"], T, self.num_classes, self.loss_cfg.point_on,
                                      self.loss_cfg.point_off, background=True, device=device)

    def contrastive(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-video L_fuse = term(audio) + term(visual); zeros without the reverse nets."""
        mask = outputs["mask"]
        if "x_pred_a" not in outputs:
            return torch.zeros(mask.shape[0], device=mask.device)
        kw = dict(official_sign=self.loss_cfg.official_contrastive_sign, eps=self.loss_cfg.contrastive_eps)
        return (reverse_mapping_infonce(outputs["a_fea"], outputs["x_pred_a"], mask, **kw)
                + reverse_mapping_infonce(outputs["v_fea"], outputs["x_pred_v"], mask, **kw))

    def compute_loss(self, outputs, batch, step):
        probs = outputs["cas_sigmoid_fuse"]
        targets = self.point_targets(batch, probs.shape[1], probs.device)
        dist = batch["label_distribution"].to(probs)
        terms = tsl_net_loss_terms(probs, targets, outputs["vid_ldl"], dist, self.contrastive(outputs),
                                   outputs["mask"], self.loss_cfg)
        total = terms["loss_total"].mean()
        log = {k: float(v.detach().float().mean()) for k, v in terms.items() if k not in ("act_seed", "bkg_seed")}
        return total, log

    def scores(self, outputs, batch):
        probs = outputs["cas_sigmoid_fuse"]
        return {"cas": probs[..., :-1], "video_scores": outputs["vid_score"],
                "actionness": 1 - probs[..., -1]}
