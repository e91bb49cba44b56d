"""How fast ``tsl300.localize`` runs on a long real clip on this CPU, and where the time goes.

Measured side by side in one process on the same file:

1. ``localize(path)`` end to end (decode + extractors + model + post-processing), timed twice,
   with the peak memory after a short video and after the long one (streamed decoding keeps it
   flat);
2. the feature pass alone (one streamed decode, both offline extractors);
3. model + post-processing on the whole sequence vs. in overlapping windows (the long-video
   path), on the same features.

Prints seconds, the real-time factor (video seconds per second of compute; > 1 is faster than
real time) and the peak resident memory of the process.

    .venv/bin/python benchmarks/bench_localize.py [--video PATH] [--model NAME_OR_PATH]

The default video is ``../shared/media/clips/wannaworktogether.mp4`` (180 s, 480x352, 29.97 fps).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "clips" / "wannaworktogether.mp4"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    began = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(DEFAULT_VIDEO))
    parser.add_argument("--model", default=None, help="shipped model name or checkpoint (default: default)")
    parser.add_argument("--window", type=int, default=256, help="snippets per window for the windowed run")
    parser.add_argument("--overlap", type=int, default=32)
    args = parser.parse_args()
    video_path = Path(args.video)
    if not video_path.is_file():
        print(f"skip: {video_path} is absent (the ../shared folder is not beside the checkout)")
        return 0

    import torch

    import tsl300
    from tsl300.featurize import featurize

    model = tsl300.load_model(args.model, device="cpu")
    print(f"model {model.name} ({model.meta.get('method')}), torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, video {video_path.name}")

    rss_loaded = peak_rss_mib()
    example = Path(tsl300.__file__).parent / "resources" / "examples" / "crema_d_1001_example.mp4"
    short, _ = timed(model.localize, example)
    rss_short = peak_rss_mib()
    first, t_first = timed(model.localize, video_path)
    rss_long = peak_rss_mib()
    second, t_second = timed(model.localize, video_path)
    duration = first.metadata.duration
    video, t_feat = timed(featurize, video_path, model.spec.extractor_specs)
    whole, t_whole = timed(model.localize_features, video)
    windowed, t_windowed = timed(model.localize_features, video, window=args.window, overlap=args.overlap)

    rows = [
        ("localize() end to end, run 1", t_first),
        ("localize() end to end, run 2", t_second),
        ("  features only (decode + extractors)", t_feat),
        ("  model + post-processing, whole sequence", t_whole),
        (f"  model + post-processing, {windowed.metadata.windows} windows of {args.window}", t_windowed),
    ]
    print(f"\nvideo: {duration:.1f} s, {video.num_snippets} snippets at {video.fps:.3f} fps")
    print(f"{'step':<52}{'seconds':>10}{'x real time':>14}")
    for name, seconds in rows:
        print(f"{name:<52}{seconds:>10.2f}{duration / seconds:>14.1f}")
    best = min(t_first, t_second)
    print(f"\nend to end: {best:.1f} s for {duration:.1f} s of video = {duration / best:.1f}x real time "
          f"({best / duration * 60:.1f} s of compute per minute of video)")
    print(f"features are {t_feat / best:.0%} of the end-to-end time; windowed / whole model time = "
          f"{t_windowed / max(t_whole, 1e-9):.2f}")
    print(f"segments: whole {len(whole)}, windowed {len(windowed)}")
    print(f"peak RSS: {rss_loaded:.0f} MiB after loading the model, {rss_short:.0f} MiB after a "
          f"{short.metadata.duration:.1f} s video, {rss_long:.0f} MiB after the {duration:.0f} s one "
          f"(x{rss_long / rss_short:.2f} for x{duration / short.metadata.duration:.1f} the length)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
