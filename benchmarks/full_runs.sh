#!/usr/bin/env bash
# Full-size runs of the two core recipes on synthetic TSL-300-shaped data (200 train / 100
# test videos, T ~ 457), three seeds each, all six trainings in parallel on one machine.
# Usage: benchmarks/full_runs.sh OUT [DEVICE] [TIME_LIMIT_MIN] [EXTRA --set ...]
#   e.g. benchmarks/full_runs.sh runs/full cuda 7
# Writes OUT/data (the dataset), OUT/<recipe>/seed_<s>/ (runs), OUT/summary.md (table).
set -euo pipefail
OUT=${1:?usage: full_runs.sh OUT [DEVICE] [TIME_LIMIT_MIN]}
DEVICE=${2:-auto}
LIMIT=${3:-25}
shift $(( $# < 3 ? $# : 3 ))
TSL=${TSL300:-tsl300}
mkdir -p "$OUT"
[ -f "$OUT/data/split_test.txt" ] || $TSL synth "$OUT/data" --train ${SYNTH_TRAIN:-200} --test ${SYNTH_TEST:-100} --seed 0 ${SYNTH_ARGS:-} > "$OUT/synth.log"
pids=()
for recipe in ${RECIPES:-recipes/tsl_net/tsl_net.yaml recipes/tsl300/flagship.yaml}; do
  name=$(basename "$(dirname "$recipe")")
  for seed in ${SEEDS:-1 2 3}; do
    $TSL train "$recipe" --data "$OUT/data" --out "$OUT/$name/seed_$seed" --seeds "$seed" \
      --device "$DEVICE" --quiet --time-limit "$LIMIT" --set schedule.eval_every=0 "$@" \
      > "$OUT/$name.seed_$seed.log" 2>&1 &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
python3 - "$OUT" <<'PY'
import json, sys, pathlib, statistics as st
out = pathlib.Path(sys.argv[1])
lines = ["| recipe | seeds | avg mAP | Recall | F2 | steps done | train s/seed |", "|---|---|---|---|---|---|---|"]
for rdir in sorted(p for p in out.iterdir() if p.is_dir() and p.name != "data"):
    rows = [json.loads(s.read_text()) for s in sorted(rdir.glob("seed_*/summary.json"))]
    if not rows:
        continue
    per = [r["per_seed"][0] for r in rows]
    def ms(k):
        v = [p[k] for p in per]
        return f"{st.mean(v):.2f} ± {st.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"
    lines.append(f"| {rdir.name} | {len(per)} | {ms('avg_mAP')} | {ms('Recall')} | {ms('F2')} | "
                 f"{','.join(str(p['steps']) for p in per)} | {st.mean(p['train_seconds'] for p in per):.0f} |")
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
exit $status
