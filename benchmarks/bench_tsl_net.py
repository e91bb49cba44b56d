"""TSL-Net: one padded batch vs the official one-video-at-a-time loop, and the vectorised
pseudo-label search vs a per-region Python loop.

1. Training step (forward + loss + backward) on B videos of random lengths around ``--T``:
   ``batched`` = one padded forward (``TSLNetMethod``), ``loop`` = B forwards of one video
   with the losses averaged before one backward (the official gradient accumulation). Both
   give the same loss (asserted to 1e-4 relative); CPU time per step and the ratio are printed.
2. Pseudo-label search on B x T random scores with points: ``search_pseudo_labels`` on the
   batch vs the official algorithm's per-region loops (written here from the specification,
   the reference of tests/test_losses.py), outputs asserted equal.

CPU process time is the figure to quote on a busy shared machine.

    .venv/bin/python benchmarks/bench_tsl_net.py [--B 8] [--T 120] [--width full|small] [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_losses import reference_search  # noqa: E402
from test_tsl_net_method import collate  # noqa: E402

from tsl300.losses.pseudo_labels import search_pseudo_labels  # noqa: E402
from tsl300.methods.registry import ModelSpec  # noqa: E402
from tsl300.methods.tsl_net import TSLNetLoss, TSLNetMethod, TSLNetModel  # noqa: E402


def make_videos(rng, B, T):
    videos = []
    for _ in range(B):
        L = int(rng.integers(max(8, T // 2), T + 1))
        pts = np.sort(rng.choice(L, size=max(1, L // 40), replace=False))
        videos.append({"rgb": rng.random((L, 1024), dtype=np.float32),
                       "logmfcc": rng.random((L, 32, 60), dtype=np.float32),
                       "points": np.stack([pts, rng.integers(0, 2, len(pts))], 1)})
    return videos


def cpu_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def bench_training_step(args, rng):
    widths = {} if args.width == "full" else dict(audio_dim=128, visual_aligned_dim=128, fused_dim=256)
    torch.manual_seed(0)
    method = TSLNetMethod(TSLNetModel(**widths, dropout=0.0), TSLNetLoss(), ModelSpec({"rgb": (1024,), "logmfcc": (32, 60)}))
    method.train()
    videos = make_videos(rng, args.B, args.T)
    state = {k: v.clone() for k, v in method.state_dict().items()}

    def batched():
        method.load_state_dict(state)
        method.zero_grad()
        batch = collate(videos)
        loss, _ = method.compute_loss(method(batch), batch, 0)
        loss.backward()
        return float(loss.detach())

    def loop():
        method.load_state_dict(state)
        method.zero_grad()
        losses = []
        for v in videos:
            batch = collate([v])
            losses.append(method.compute_loss(method(batch), batch, 0)[0])
        loss = sum(losses) / len(losses)
        loss.backward()
        return float(loss.detach())

    t_b, l_b = cpu_time(batched, args.repeats)
    t_l, l_l = cpu_time(loop, args.repeats)
    assert abs(l_b - l_l) <= 1e-4 * max(1.0, abs(l_l)), (l_b, l_l)
    lengths = [len(v["rgb"]) for v in videos]
    print(f"training step, {args.width} widths, B={args.B}, T={min(lengths)}..{max(lengths)}: "
          f"batched {t_b:.2f} s, loop {t_l:.2f} s CPU -> loop / batched = {t_l / t_b:.2f}x "
          f"(loss {l_b:.6f} vs {l_l:.6f})")


def bench_search(args, rng):
    B, T = 16, 460
    probs = torch.from_numpy(rng.random((B, T, 3), dtype=np.float32))
    probs[..., 2] = probs[..., 2] ** 0.3  # plenty of background above 0.95
    targets = torch.zeros(B, T, 3)
    points = []
    for b in range(B):
        pts = np.sort(rng.choice(T, size=12, replace=False)).tolist()
        points.append(pts)
        targets[b, pts, 0], targets[b, pts, 1] = 0.1, 0.9
    t_v, (act, bkg) = cpu_time(lambda: search_pseudo_labels(probs, targets), args.repeats)
    p_np = probs.numpy()
    t_r, ref = cpu_time(lambda: [reference_search(p_np[b], points[b]) for b in range(B)], args.repeats)
    for b, (walk, seed) in enumerate(ref):
        assert np.array_equal(bkg[b].numpy(), seed)
        assert np.array_equal(act[b].numpy(), np.where(walk[:, None], p_np[b], targets[b].numpy()))
    print(f"pseudo-label search, B={B}, T={T}, 12 points each: vectorised {t_v * 1e3:.1f} ms, "
          f"per-region loop {t_r * 1e3:.1f} ms CPU -> {t_r / t_v:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--B", type=int, default=8)
    ap.add_argument("--T", type=int, default=120)
    ap.add_argument("--width", choices=["full", "small"], default="full")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_search(args, rng)
    bench_training_step(args, rng)


if __name__ == "__main__":
    main()
