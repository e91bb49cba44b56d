"""One markdown table from the summaries ``benchmarks/tsl300_benchmark.sh`` leaves behind.

Reads every ``summaries/*.json`` (the ``summary.json`` of ``tsl300 train --seeds``) under the
folder given, pools the seeds of runs that were split by seed (``tsl_net_s1``, ``tsl_net_s2``
...) into one row, and prints mean ± sample std of average mAP, Recall and F2 per recipe, with
the steps each run reached (a time-limited TSL-Net run reports fewer than its schedule).

    python benchmarks/summarize_benchmark.py STAGE_DIR   # the folder unpacked from bench.tgz
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

METRICS = ("avg_mAP", "Recall", "F2")


def pooled_rows(summaries: Path) -> dict[str, dict]:
    """recipe name -> {per_seed: [...], recipe_steps: int}, seeds of split runs pooled."""
    rows: dict[str, dict] = {}
    for path in sorted(summaries.glob("*.json")):
        data = json.loads(path.read_text())
        name = re.sub(r"_s\d+$", "", path.stem)
        row = rows.setdefault(name, {"recipe": data.get("recipe", name), "per_seed": [],
                                     "recipe_steps": data.get("recipe_steps")})
        row["per_seed"].extend(data.get("per_seed", []))
    return rows


def format_table(rows: dict[str, dict]) -> str:
    def cell(values):
        values = np.asarray(values, dtype=np.float64)
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"

    lines = ["| recipe | seeds | steps reached / schedule | " + " | ".join(METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for name, row in rows.items():
        seeds = row["per_seed"]
        if not seeds:
            continue
        steps = sorted({int(s.get("steps", 0)) for s in seeds})
        reached = "/".join(str(s) for s in steps)
        metrics = " | ".join(cell([s[m] for s in seeds]) for m in METRICS)
        lines.append(f"| {row['recipe']} | {len(seeds)} | {reached} / {row['recipe_steps']} | {metrics} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", help="folder holding summaries/ (unpacked bench.tgz)")
    args = parser.parse_args(argv)
    summaries = Path(args.stage) / "summaries"
    if not summaries.is_dir():
        print(f"{summaries}: no summaries folder", file=sys.stderr)
        return 1
    print(format_table(pooled_rows(summaries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
