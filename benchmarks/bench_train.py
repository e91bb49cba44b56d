"""Training cost of recipes side by side: step time and peak memory at one batch size.

Each recipe runs in its own subprocess (so peak memory is that recipe's alone) on a batch of
TSL-300-shaped videos: from a dataset (``--data``, the first ``--batch-size`` training videos)
or random features of T = ``--snippets`` (rgb 1024, logmfcc 32 x 60). A step is forward + loss
+ backward + optimizer update, exactly as the trainer does it. Peak memory is the process's
maximum resident set size on CPU (minus the same process's size before the model is built),
``torch.cuda.max_memory_allocated`` on CUDA.

    python benchmarks/bench_train.py --recipes recipes/tsl300/flagship.yaml recipes/tsl_net/tsl_net.yaml \
        --batch-size 16 --steps 3 --threads 2

Prints one row per recipe and the step-time ratio of each recipe to the first one, plus the
floating-point work of one step (forward + backward, counted by ``torch.utils.flop_counter`` on
one extra step) and of the recipe's whole schedule: the device-independent cost of a full run.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def measure(recipe_path: str, data: str | None, batch_size: int, snippets: int, steps: int, warmup: int,
            device: str, threads: int | None, overrides: list[str]) -> dict:
    import numpy as np
    import torch

    from tsl300.data.types import Video
    from tsl300.engine.batching import collate
    from tsl300.engine.optim import build_optimizer
    from tsl300.methods.registry import ModelSpec, build_method
    from tsl300.recipes import load_recipe

    if threads:
        torch.set_num_threads(threads)
    recipe = load_recipe(recipe_path, overrides)
    if data:
        from tsl300.engine.runs import open_split, spec_from_dataset
        dataset = open_split(data, "train", recipe)
        spec = spec_from_dataset(dataset, recipe.data.modalities)
        videos = [dataset[i] for i in range(batch_size)]
    else:
        rng = np.random.default_rng(0)
        shapes = {"rgb": (1024,), "logmfcc": (32, 60)}
        spec = ModelSpec({m: shapes[m] for m in recipe.data.modalities})
        videos = [Video(vid=f"v{i}", fps=25.0, features={m: rng.random((snippets,) + shapes[m], dtype=np.float32)
                                                         for m in recipe.data.modalities},
                        points=np.array([[snippets // 5, 0], [snippets // 2, 1], [4 * snippets // 5, 1]]))
                  for i in range(batch_size)]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    torch.manual_seed(0)
    method = build_method(recipe, spec).to(device).train()
    optimizer = build_optimizer(method, recipe.optimizer)
    batch = collate(videos, recipe.data.modalities, spec.classes, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(warmup + steps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        loss, _ = method.compute_loss(method(batch), batch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - began)
    if device.startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    step_flops = count_step_flops(method, batch, warmup + steps)
    return {"recipe": recipe.name, "params": sum(p.numel() for p in method.parameters()),
            "step_s": float(np.median(times)), "step_s_all": times, "peak_mb": peak_mb,
            "batch_size": batch_size, "snippets": [v.num_snippets for v in videos],
            "device": device, "threads": torch.get_num_threads(), "steps": recipe.schedule.steps,
            "step_tflop": step_flops / 1e12, "run_pflop": step_flops * recipe.schedule.steps / 1e15}


def count_step_flops(method, batch, step: int) -> int:
    """FLOPs of one forward + loss + backward (matmuls and convolutions, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss, _ = method.compute_loss(method(batch), batch, step)
        loss.backward()
    method.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["recipes/tsl300/flagship.yaml", "recipes/tsl_net/tsl_net.yaml"])
    parser.add_argument("--data", help="dataset folder (default: random TSL-300-shaped features)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--snippets", type=int, default=450, help="T of the random videos (TSL-300 mean ~457)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        row = measure(args._child, args.data, args.batch_size, args.snippets, args.steps, args.warmup,
                      args.device, args.threads, args.overrides)
        print("RESULT " + json.dumps(row))
        return 0
    rows = []
    for recipe in args.recipes:
        cmd = [sys.executable, __file__, "--_child", recipe, "--batch-size", str(args.batch_size),
               "--snippets", str(args.snippets), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--device", args.device] + (["--data", args.data] if args.data else []) \
            + (["--threads", str(args.threads)] if args.threads else []) \
            + [x for o in args.overrides for x in ("--set", o)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{recipe}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(line[len("RESULT "):]))
    if not rows:
        return 1
    base = rows[0]["step_s"]
    print(f"batch {args.batch_size}, device {args.device}, threads {rows[0]['threads']}, "
          f"T {'from ' + args.data if args.data else args.snippets}")
    print(f"{'recipe':<24}{'params':>12}{'step s':>10}{'x first':>9}{'peak MB':>10}{'steps':>7}{'est. run min':>14}"
          f"{'TFLOP/step':>12}{'PFLOP/run':>11}")
    for row in rows:
        print(f"{row['recipe']:<24}{row['params']:>12,}{row['step_s']:>10.3f}{row['step_s'] / base:>9.2f}"
              f"{row['peak_mb']:>10.0f}{row['steps']:>7}{row['step_s'] * row['steps'] / 60:>14.1f}"
              f"{row['step_tflop']:>12.3f}{row['run_pflop']:>11.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
