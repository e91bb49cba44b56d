"""Scaling out, measured side by side in one run: extraction on the local pool vs on Ray, the
DDP training step with 1 vs 2 processes, and what those costs mean for a large job.

1. ``tsl300 extract`` (the real CLI, default extractors) on the same videos: one process,
   ``--workers N``, and ``--engine ray`` on a private local Ray cluster of N CPUs; then the same
   command on the finished folder (its fixed cost: start-up and the resume check) and the cost
   of starting and stopping a Ray cluster alone. Throughput is seconds of media per wall second.
2. ``tsl300 train`` with the flagship recipe on synthetic TSL-300-shaped data: one process vs
   ``torchrun --nproc_per_node 2`` (gloo, same global batch); step time from the run's own log
   (``elapsed_s`` between the 2nd and the last step: no start-up, no first-step warm-up).
3. Projections from the measured per-video cost: hours to extract 10,000 hours of video on N
   workers (independent videos: linear in N until the shared filesystem saturates), and hours to
   train TSL-Net's full schedule (10.6 PFLOP per seed, ``recipes/tsl300/README.md``) on N GPUs,
   from an *assumed* sustained GPU throughput and interconnect bandwidth (flags; no GPU here).

    .venv/bin/python benchmarks/bench_scale.py [--videos DIR] [--workers 2] [--steps 12]

Default videos: the six ``1001_DFA_*.flv``, ``mp4.mp4`` and ``webm.webm`` of
``../shared/media/clips`` (as ``bench_localize_batch.py``); synthetic clips when it is absent.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO.parent / "shared" / "media" / "clips"
DEFAULT_CLIPS = [f"1001_DFA_{e}_XX.flv" for e in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")] + ["mp4.mp4", "webm.webm"]
TSL_NET_FLOP = 10.6e15  # one seed's schedule: 2000 steps x ~5.3 TFLOP (recipes/tsl300/README.md)
TSL_NET_PARAMS = 91_342_592
TSL_NET_STEPS, TSL_NET_BATCH = 2000, 16


def _cli(*args: str, env: dict | None = None) -> tuple[float, int, str]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env)
    return time.perf_counter() - began, done.returncode, done.stdout + done.stderr


def _videos(folder: str | None, tmp: Path) -> Path:
    if folder:
        return Path(folder)
    out = tmp / "videos"
    out.mkdir()
    if CLIPS.is_dir():
        for name in DEFAULT_CLIPS:
            os.symlink(CLIPS / name, out / name)
    else:
        from tsl300.io.synthetic import write_video
        for i in range(8):
            write_video(out / f"synthetic{i}.mp4", 3.0 + i, fps=25, tones=[(0.5, 2.5, 200.0 + 40 * i)])
    return out


def bench_extract(videos: Path, workers: int, tmp: Path) -> dict:
    rows = {}
    runs = (("local, 1 process", "one", []), (f"local pool, --workers {workers}", "pool", ["--workers", str(workers)]),
            (f"Ray, private cluster of {workers} CPUs", "ray", ["--engine", "ray", "--workers", str(workers)]),
            ("rerun on a finished folder", "one", []))
    for label, out, extra in runs:
        seconds, code, text = _cli("tsl300", "extract", str(videos), "-o", str(tmp / out), "-q", *extra)
        rows[label] = {"seconds": seconds, "exit": code, "last": text.strip().splitlines()[-1] if text.strip() else ""}
    code = ("import time; t = time.perf_counter(); from tsl300.engine.ray_jobs import start_local; "
            f"ray = start_local({workers}); ray.shutdown(); print(time.perf_counter() - t)")
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    rows["Ray cluster start + stop alone"] = {"seconds": float(text.strip().splitlines()[-1]), "exit": 0, "last": ""}
    durations = json.loads((tmp / "one" / "len_duration_dict.json").read_text())
    return {"rows": rows, "media_s": float(sum(durations.values())), "videos": len(durations)}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_train(steps: int, batch: int, tmp: Path) -> dict:
    data = tmp / "synth"
    _cli("tsl300", "synth", str(data), "--train", "64", "--test", "8", "--seed", "0")
    common = ["tsl300", "train", str(REPO / "recipes" / "tsl300" / "flagship.yaml"), "--data", str(data),
              "--no-test", "--quiet", "--device", "cpu", "--set", f"schedule.steps={steps}",
              "--set", "schedule.log_every=1", "--set", f"batch_size={batch}", "--set", "select=last",
              "--set", "schedule.sync_batchnorm=true"]
    out = {}
    for label, prefix, threads, nproc in (("1 process x 1 thread", [], 1, 1), ("torchrun, 2 processes x 1 thread", [
            "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(_free_port())], 1, 2)):
        run_dir = tmp / f"train{nproc}"
        args = (prefix + ["-m"] + common) if prefix else common
        seconds, code, text = _cli(*args, "--out", str(run_dir), "--threads", str(threads),
                                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        if code:
            raise SystemExit(f"training failed ({label}):\n{text[-2000:]}")
        with open(run_dir / "train_log.csv", newline="") as handle:
            elapsed = [float(r["elapsed_s"]) for r in csv.DictReader(handle)]
        out[label] = {"step_s": (elapsed[-1] - elapsed[0]) / (len(elapsed) - 1), "wall_s": seconds}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", help="folder of videos (default: see above)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=12, help="training steps per DDP run")
    parser.add_argument("--batch-size", type=int, default=16, help="global batch of the DDP runs")
    parser.add_argument("--gpu-tflops", type=float, default=20.0,
                        help="ASSUMED sustained TFLOP/s of one GPU on TSL-Net (fp32/TF32; not measured here)")
    parser.add_argument("--link-gbytes", type=float, default=25.0,
                        help="ASSUMED all-reduce bandwidth per GPU, GB/s (NVLink is more, 10GbE ~1)")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        videos = _videos(args.videos, tmp)
        ex = bench_extract(videos, args.workers, tmp)
        train = None if args.skip_train else bench_train(args.steps, args.batch_size, tmp)
        shutil.rmtree(tmp, ignore_errors=True)

    rows, media = ex["rows"], ex["media_s"]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at start; "
          f"{ex['videos']} videos, {media:.1f} s of media, extractors visual_stats,audio_prosody")
    print("\n1. extraction (wall time of the whole command, start-up included)")
    print(f"{'run':<40}{'wall s':>9}{'media s / wall s':>18}{'vs 1 process':>14}{'exit':>6}")
    base = rows["local, 1 process"]["seconds"]
    for label, row in rows.items():
        rate = f"{media / row['seconds']:.2f}" if "alone" not in label and "rerun" not in label else "-"
        ratio = f"{base / row['seconds']:.2f}x" if rate != "-" else "-"
        print(f"{label:<40}{row['seconds']:>9.1f}{rate:>18}{ratio:>14}{row['exit']:>6}")
    fixed = rows["rerun on a finished folder"]["seconds"]
    per_media_s = max(1e-9, (base - fixed) / media)  # one worker's wall seconds per second of media
    ray_s = rows[f"Ray, private cluster of {args.workers} CPUs"]["seconds"]
    ray_start = rows["Ray cluster start + stop alone"]["seconds"]
    print(f"Ray without its cluster start/stop: {ray_s - ray_start:.1f} s "
          f"({(base - fixed) / max(1e-9, ray_s - ray_start - fixed):.2f}x one process's extraction work)")
    print(f"one worker: {per_media_s:.3f} wall s per s of media ({1 / per_media_s:.1f}x real time) "
          "after start-up")

    print("\n3a. projection: extract 10,000 h of video (this machine's per-core cost, linear in workers)")
    print(f"{'workers':>8}{'hours':>10}")
    for n in (1, 8, 64, 512):
        print(f"{n:>8}{10_000 * per_media_s / n:>10.1f}")

    if train:
        print(f"\n2. DDP training step (flagship recipe, global batch {args.batch_size}, synthetic TSL-300-shaped "
              f"data, {args.steps} steps, SyncBatchNorm)")
        print(f"{'run':<36}{'s / step':>10}{'wall s':>9}")
        for label, row in train.items():
            print(f"{label:<36}{row['step_s']:>10.3f}{row['wall_s']:>9.1f}")
        one, two = (row["step_s"] for row in train.values())
        print(f"speed-up of 2 processes: {one / two:.2f}x (one thread per process: each rank has a core "
              "of its own; with 2 threads one process already uses both)")

    print(f"\n3b. projection: TSL-Net's full schedule ({TSL_NET_FLOP / 1e15:.1f} PFLOP, {TSL_NET_STEPS} steps of "
          f"{TSL_NET_BATCH} videos) on N GPUs, ASSUMING {args.gpu_tflops:g} TFLOP/s sustained per GPU and "
          f"{args.link_gbytes:g} GB/s all-reduce bandwidth")
    print(f"{'GPUs':>6}{'compute min':>13}{'all-reduce min':>16}{'total min':>11}")
    grad_bytes = 4 * TSL_NET_PARAMS
    for n in (1, 2, 4, 8, 16):  # 16 videos per step: at most 16 ranks
        compute = TSL_NET_FLOP / (args.gpu_tflops * 1e12 * n)
        comm = 0.0 if n == 1 else TSL_NET_STEPS * 2 * (n - 1) / n * grad_bytes / (args.link_gbytes * 1e9)
        print(f"{n:>6}{compute / 60:>13.1f}{comm / 60:>16.1f}{(compute + comm) / 60:>11.1f}")
    print("(the global batch of 16 videos bounds the ranks at 16; beyond, more seeds in parallel. This CPU: "
          f"{TSL_NET_FLOP / 165e9 / 3600:.0f} h at its measured 165 GFLOP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
