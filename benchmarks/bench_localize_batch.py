"""``tsl300 localize`` on a folder: one process vs ``--workers N``, and a resumed rerun.

Runs the real CLI three times, side by side in one go, on the same videos: ``--workers 1``,
``--workers N`` (default: the CPU count), then the ``--workers N`` command again on its own
output folder (every video already done: the cost of resuming). Prints wall seconds, videos per
minute and the speed-up of N workers over one.

    .venv/bin/python benchmarks/bench_localize_batch.py [--videos DIR] [--workers N]

The default folder is ``../shared/media/clips`` (20 real clips of 2-180 s; its bad files count
as failures in every run alike).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = REPO.parent / "shared" / "media" / "clips"


def run_cli(videos: str, out: Path, workers: int, model: str | None) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "tsl300", "localize", videos, "-o", str(out), "--quiet",
           "--workers", str(workers)] + (["-m", model] if model else [])
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - began, done.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", default=str(DEFAULT_VIDEOS), help="folder of videos")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default=None, help="model name or checkpoint (default: the shipped one)")
    args = parser.parse_args(argv)
    from tsl300.io.inputs import collect_inputs

    n = len(collect_inputs([args.videos]))
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, workers, out in (("1 process", 1, "one"), (f"--workers {args.workers}", args.workers, "many"),
                                    ("rerun, all done", args.workers, "many")):
            seconds, code = run_cli(args.videos, Path(tmp) / out, workers, args.model)
            rows.append((label, seconds, code))
    print(f"{n} videos in {args.videos}, {os.cpu_count()} CPUs")
    print(f"{'run':<22}{'wall s':>9}{'videos/min':>12}{'exit':>6}")
    for label, seconds, code in rows:
        print(f"{label:<22}{seconds:>9.1f}{n / seconds * 60:>12.1f}{code:>6}")
    print(f"speed-up of --workers {args.workers} over 1 process: {rows[0][1] / rows[1][1]:.2f}x; "
          f"resuming a finished batch costs {rows[2][1] / rows[1][1]:.1%} of running it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
