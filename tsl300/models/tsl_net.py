"""The TSL-Net network (ACM MM 2022), faithful to the official ``model_tsl.py``.

Audio: each snippet's 32x60 log-mel patch gets the sinusoidal code of its (global) snippet
index, is stacked with its previous and next snippets into a 96x60 image (neighbours wrap
around inside 600-snippet chunks, as the official circular ``roll``) and goes through a 2D CNN
(ReLU before BatchNorm) to 512 dims. Visual: Conv1d(1024->512, k3) + ReLU. Fusion: Conv1d over
[visual, audio] to 2048 + ReLU; a classifier and a distribution head (k1, no bias) give 3
channels (classes..., background). Two reverse-mapping nets (training only) predict each
modality's features back from the fused ones for the contrastive term.

Differences from the official module, none of which change a single video's numbers:
batches of padded videos (mask) run in one forward; the audio CNN runs only on real snippets;
BatchNorm statistics in training are per (video, chunk), exactly as one video at a time.
Parameter names are the official ones without the ``cls_module.`` prefix
(see :func:`official_to_ours`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsl300.models.layers import GroupBatchNorm2d, MaskedConvStack, conv1d_stack, sinusoid_table
from tsl300.models.masked import masked_time_mean, masked_topk_mean, topk_counts

OFFICIAL_PREFIX = "cls_module."


@dataclass
class TSLNetConfig:
    """Architecture constants (the official values)."""

    visual_dim: int = 1024
    mel_frames: int = 32           # log-mel frames per snippet
    mel_bins: int = 60
    audio_dim: int = 512
    visual_aligned_dim: int = 512
    fused_dim: int = 2048
    num_classes: int = 2
    r_act: int = 8                 # k = T // r_act for top-k pooling
    min_k: int = 1                 # official: 0 (NaN for T < 8)
    dropout: float = 0.7
    reverse_layers: int = 4        # conv layers in each reverse-mapping net
    audio_chunk: int = 600         # snippets per audio CNN chunk (neighbour wrap + BN batch)
    max_positions: int = 4000      # rows of the positional table (longer videos are an error)
    use_positional_encoding: bool = True
    audio_cnn_batch: int = 1024    # eval mode: audio images per CNN call (memory bound only)


def _audio_cnn(frames: int, bins: int, width: int = 512) -> nn.Sequential:
    """The official 3-block audio CNN on (3*frames, bins) images; positions match
    ``a_extractor.{i}`` of the official code. The final average pool covers the whole map
    (4 x 3 for TSL-300's 96 x 60 images, the official ``AvgPool2d((4, 3))``)."""
    h = ((3 * frames - 1) // 3 + 1) // 4 // 2
    w = ((bins - 1) // 2 + 1) // 4 // 2
    if h < 1 or w < 1:
        raise ValueError(f"audio patches of {frames} x {bins} are too small for TSL-Net's audio CNN")
    return nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=7, stride=(3, 2), padding=3), nn.ReLU(), GroupBatchNorm2d(64),
        nn.MaxPool2d(4),
        nn.Conv2d(64, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=1), nn.ReLU(), GroupBatchNorm2d(256), nn.MaxPool2d(2),
        nn.Conv2d(256, width, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, kernel_size=1), nn.ReLU(), GroupBatchNorm2d(width),
        nn.AvgPool2d((h, w)),
    )


def chunk_neighbours(lengths: torch.Tensor, T: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (B, T) of each snippet's previous and next snippet, wrapping inside its chunk.

    Chunk c of a video of length L covers [c*chunk, min((c+1)*chunk, L)); its first snippet's
    "previous" is the chunk's last snippet and vice versa (the official per-chunk ``roll``).
    """
    t = torch.arange(T, device=lengths.device)[None, :]
    start = (t // chunk) * chunk
    end = torch.minimum(start + chunk, lengths[:, None]).clamp_min(start + 1)  # exclusive
    prev = torch.where(t > start, t - 1, end - 1)
    nxt = torch.where(t + 1 < end, t + 1, start)
    return prev.expand(len(lengths), T), nxt.expand(len(lengths), T)


class TSLNet(nn.Module):
    """TSL-Net: audio CNN + visual alignment + fusion + classifier/distribution heads."""

    def __init__(self, config: TSLNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or TSLNetConfig()
        self.a_extractor = _audio_cnn(cfg.mel_frames, cfg.mel_bins, cfg.audio_dim)
        self.v_align = nn.Sequential(*conv1d_stack([cfg.visual_dim, cfg.visual_aligned_dim]))
        self.neck = nn.Sequential(*conv1d_stack([cfg.visual_aligned_dim + cfg.audio_dim, cfg.fused_dim]))
        hidden = [cfg.fused_dim] * cfg.reverse_layers
        self.rev_fa = MaskedConvStack(conv1d_stack(hidden + [cfg.audio_dim]))
        self.rev_fv = MaskedConvStack(conv1d_stack(hidden + [cfg.visual_aligned_dim]))
        out = cfg.num_classes + 1
        self.classifier = nn.Sequential(nn.Conv1d(cfg.fused_dim, out, 1, bias=False))
        self.distribution = nn.Sequential(nn.Conv1d(cfg.fused_dim, out, 1, bias=False))
        self.drop_out = nn.Dropout(cfg.dropout)
        # Not a buffer (as official): recomputed at construction, absent from checkpoints.
        self.positional = sinusoid_table(cfg.max_positions, cfg.mel_bins)

    # -- branches ---------------------------------------------------------------------------
    def encode_audio(self, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 32, 60) log-mel patches -> (B, T, 512); zero on padded snippets."""
        cfg = self.config
        B, T, H, W = audio.shape
        if T > cfg.max_positions and cfg.use_positional_encoding:
            raise ValueError(f"TSL-Net's positional table has {cfg.max_positions} rows; "
                             f"this video has {T} snippets")
        lengths = mask.sum(dim=1)
        x = audio
        if cfg.use_positional_encoding:
            x = x + self.positional[:T].to(audio)[None, :, None, :]
        prev, nxt = chunk_neighbours(lengths, T, cfg.audio_chunk)
        take = lambda idx: torch.gather(x, 1, idx[:, :, None, None].expand(B, T, H, W))
        images = torch.cat([take(prev), x, take(nxt)], dim=2)  # (B, T, 3H, W)
        b_idx, t_idx = mask.nonzero(as_tuple=True)  # real snippets, video-major then time
        chunks_per_video = (T + cfg.audio_chunk - 1) // cfg.audio_chunk
        group = b_idx * chunks_per_video + t_idx // cfg.audio_chunk
        _, group = torch.unique(group, sorted=True, return_inverse=True)
        flat = b_idx * T + t_idx
        images = images.reshape(B * T, 1, 3 * H, W)
        parts = []
        # Training needs each BN group whole; in eval mode (running statistics) slices of
        # images give identical results and bound the activation memory.
        step = len(flat) if self.training else max(1, cfg.audio_cnn_batch)
        for lo in range(0, len(flat), max(step, 1)):
            h = images.index_select(0, flat[lo:lo + step])  # (n, 1, 3H, W)
            for layer in self.a_extractor:
                h = layer(h, group[lo:lo + step]) if isinstance(layer, GroupBatchNorm2d) else layer(h)
            parts.append(h.flatten(1))
        feats = audio.new_zeros(B * T, cfg.audio_dim)
        if parts:
            feats = feats.index_copy(0, flat, torch.cat(parts))
        return feats.reshape(B, T, cfg.audio_dim)

    def encode_visual(self, visual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 1024) -> (B, T, 512); zero on padded snippets."""
        keep = mask[:, None, :].to(visual.dtype)
        out = self.v_align(visual.transpose(1, 2) * keep) * keep
        return out.transpose(1, 2)

    # -- full forward -----------------------------------------------------------------------
    def forward(self, visual: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor | None = None,
                with_reverse: bool | None = None) -> dict[str, torch.Tensor]:
        """Run the network on a padded batch.

        Args:
            visual: (B, T, 1024); audio: (B, T, 32, 60); mask: (B, T) bool (default all True).
            with_reverse: also run the reverse-mapping nets (default: in training mode).
        Returns a dict with ``a_fea``/``v_fea`` (B, T, 512), ``features`` (B, T, 2048, before
        dropout), logits ``cas``/``cas_dis`` (B, T, C+1), ``cas_sigmoid`` and
        ``cas_sigmoid_fuse`` (classes times (1 - background), then background),
        ``vid_score`` (B, C: top-k mean of the unfused class sigmoids), ``vid_ldl``
        (B, C: softmax of the top-k mean of the class distribution logits), ``k`` (B,), and
        with the reverse nets ``x_pred_a``/``x_pred_v`` (B, T, 512).
        """
        cfg = self.config
        B, T = visual.shape[:2]
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=visual.device)
        with_reverse = self.training if with_reverse is None else with_reverse
        a_fea = self.encode_audio(audio, mask)
        v_fea = self.encode_visual(visual, mask)
        keep = mask[:, None, :].to(visual.dtype)
        fused = self.neck(torch.cat([v_fea, a_fea], dim=-1).transpose(1, 2) * keep) * keep
        out = {"a_fea": a_fea, "v_fea": v_fea, "features": fused.transpose(1, 2), "mask": mask}
        if with_reverse:
            out["x_pred_a"] = self.rev_fa(fused, mask).transpose(1, 2)
            out["x_pred_v"] = self.rev_fv(fused, mask).transpose(1, 2)
        dropped = self.drop_out(fused)  # one mask shared by both heads, as official
        cas = self.classifier(dropped).transpose(1, 2)
        cas_dis = self.distribution(dropped).transpose(1, 2)
        sig = torch.sigmoid(cas)
        fg = 1 - sig[..., -1:]
        fuse = torch.cat([sig[..., :-1] * fg, sig[..., -1:]], dim=-1)
        k = topk_counts(mask.sum(dim=1), cfg.r_act, cfg.min_k)
        out.update(cas=cas, cas_dis=cas_dis, cas_sigmoid=sig, cas_sigmoid_fuse=fuse, k=k,
                   vid_score=masked_topk_mean(sig[..., :-1], mask, k),
                   vid_ldl=torch.softmax(masked_topk_mean(cas_dis[..., :-1], mask, k), dim=-1),
                   cas_softmax_dis=torch.softmax(cas_dis, dim=-1))
        return out

    @staticmethod
    def training_vid_score(out: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """The official training-path ``vid_score`` (top-k mean for labelled classes, time mean
        otherwise). No loss uses it; kept for parity checks and logging."""
        plain = masked_time_mean(out["cas_sigmoid"][..., :-1], out["mask"])
        return out["vid_score"] * labels + plain * (1 - labels)

    # -- parameter bookkeeping --------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """Parameters per official part, plus totals as the golden README lists them."""
        parts = ["a_extractor", "v_align", "neck", "rev_fa", "rev_fv", "classifier", "distribution"]
        counts = {p: sum(t.numel() for t in getattr(self, p).parameters()) for p in parts}
        total = sum(counts.values())
        counts["total"] = total
        counts["without_reverse_mapping"] = total - counts["rev_fa"] - counts["rev_fv"]
        counts["inference_path"] = counts["without_reverse_mapping"] - counts["distribution"]
        return counts


def official_to_ours(name: str) -> str:
    """Official state-dict name (``cls_module.neck.0.weight``) -> ours (``neck.0.weight``)."""
    if not name.startswith(OFFICIAL_PREFIX):
        raise KeyError(f"not an official TSL-Net parameter name: {name!r}")
    return name[len(OFFICIAL_PREFIX):]


def ours_to_official(name: str) -> str:
    """Our state-dict name -> the official one."""
    return OFFICIAL_PREFIX + name


def load_official_state_dict(model: TSLNet, state: dict[str, torch.Tensor], strict: bool = True):
    """Load a state dict with the official names (e.g. the released checkpoint's tensors)."""
    return model.load_state_dict({official_to_ours(k): v for k, v in state.items()}, strict=strict)
