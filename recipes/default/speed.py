"""``localize`` speed of the default and ``shipok`` models on the 180 s clip: wall time and
process CPU time (one thread), after a warm-up call. On a shared machine the CPU time is the
figure to compare (wall time grows with the other jobs).

    OMP_NUM_THREADS=1 python recipes/default/speed.py [--video ../shared/media/clips/wannaworktogether.mp4]
"""
from __future__ import annotations

import argparse
import time


def main(argv=None) -> int:
    import torch

    import tsl300

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default="../shared/media/clips/wannaworktogether.mp4")
    parser.add_argument("--warmup", default="../shared/media/clips/1001_DFA_HAP_XX.flv")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in ("default", "shipok"):
        model = tsl300.load_model(name, device="cpu")
        model.localize(args.warmup)
        wall, cpu = time.perf_counter(), time.process_time()
        result = model.localize(args.video)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        d = result.metadata.duration
        print(f"{name}: {d:.1f} s of video, wall {wall:.1f} s ({d / wall:.1f}x real time), "
              f"CPU {cpu:.1f} s ({d / cpu:.1f}x), {len(result)} segments, "
              f"speech fraction {result.metadata.speech_fraction}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
