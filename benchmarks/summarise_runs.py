"""Markdown table of ``summary.json`` files written by ``tsl300 train --seeds ...``.

    python benchmarks/summarise_runs.py RUNS/flagship RUNS/no_consensus ...

One row per run folder: average mAP (tIoU 0.1:0.05:0.3), Recall and F2 (the TSL-300 paper's
columns), mAP@0.1/0.3, as mean +- sample std over the seeds, the seed count and the mean training
time per seed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(summary: dict, key: str) -> str:
    mean, std = summary["mean"][key], summary["std"][key]
    return f"{mean:.2f} ± {std:.2f}" if len(summary["seeds"]) > 1 else f"{mean:.2f}"


def main(argv: list[str]) -> int:
    print("| recipe | seeds | avg mAP | Recall | F2 | mAP@0.1 | mAP@0.3 | train min/seed |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in argv:
        path = Path(folder) / "summary.json"
        if not path.exists():
            print(f"| {Path(folder).name} | (no summary.json) |||||||")
            continue
        s = json.loads(path.read_text())
        print(f"| {s['recipe']} | {len(s['seeds'])} | {cell(s, 'avg_mAP')} | {cell(s, 'Recall')} | {cell(s, 'F2')} "
              f"| {cell(s, 'mAP@0.1')} | {cell(s, 'mAP@0.3')} | {s['train_seconds_mean'] / 60:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
