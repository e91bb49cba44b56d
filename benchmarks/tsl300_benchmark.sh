#!/usr/bin/env bash
# Issue-4 benchmark on synthetic TSL-300-sized data: the flagship, its five ablations and the
# faithful TSL-Net, 3 seeds each, all in parallel on one CUDA machine (flagship-sized models
# share the GPU), plus one flagship seed on 2 pinned CPU cores for the CPU training time.
#
#   OUT=/tmp/bench bash benchmarks/tsl300_benchmark.sh [TSL_NET_MINUTES] [CPU_MINUTES]
#   tar xzf bench.tgz -C STAGE && python benchmarks/summarize_benchmark.py STAGE   # the table
#
# TSL-Net's official schedule (2000 steps of 16 videos, 91 M parameters) does not fit a short
# device session, so its runs get a time limit (default 7 min each) and report the steps they
# reached; the flagship recipes run their full schedule. TSL-Net's schedule is about 10.6 PFLOP
# per seed (`benchmarks/bench_train.py` counts it), so 3 seeds need about 32 PFLOP: some 5 min
# at a sustained 100 TFLOP/s (TF32 convolutions, cuDNN's default). Run it as one device call
# with a timeout of 600 s. Outputs under $OUT: logs/, summaries/
# (one summary.json per recipe and seed group), train logs, and bench_*.txt; all of it is also
# packed into $OUT/bench.tgz every 20 s (the device tool returns only a few files); the files
# themselves are written beside $OUT, in ../tsl300_bench_stage.
set -u
DEST=${OUT:-/tmp/tsl300_bench}   # receives bench.tgz only
OUT=$DEST/../tsl300_bench_stage; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
TSL_MIN=${1:-7}
CPU_MIN=${2:-5}
DATA=${DATA:-/tmp/tsl300_synth_full}
RUNS=${RUNS:-/tmp/tsl300_runs}
PY=${PY:-python}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}          # extra train arguments, e.g. "--set schedule.steps=2" for a dry run
if command -v taskset >/dev/null && [ "$(nproc)" -ge 16 ]; then PIN_REST="taskset -c 0-13"; PIN_CPU="taskset -c 14,15"; else PIN_REST=""; PIN_CPU=""; fi
mkdir -p "$OUT/logs" "$OUT/summaries" "$OUT/train_logs" "$RUNS"
export PYTHONUNBUFFERED=1

start=$(date +%s)
( while true; do sleep 20; tar czf "$DEST/.bench.tgz" -C "$OUT" . 2>/dev/null && mv "$DEST/.bench.tgz" "$DEST/bench.tgz"; done ) &
PACKER=$!
if [ ! -f "$DATA/gt.json" ]; then
  $PY -m tsl300 synth "$DATA" --train 200 --test 100 --seed 0 > "$OUT/logs/synth.log" 2>&1 || { cat "$OUT/logs/synth.log"; exit 1; }
fi
echo "synth done in $(( $(date +%s) - start )) s" | tee -a "$OUT/logs/timeline.txt"

collect() {  # name run_dir
  [ -f "$2/summary.json" ] && cp "$2/summary.json" "$OUT/summaries/$1.json"
  for f in "$2"/train_log.csv "$2"/seed_*/train_log.csv; do
    [ -f "$f" ] && cp "$f" "$OUT/train_logs/$1_$(basename "$(dirname "$f")")_train_log.csv"
  done
}

flag() {  # name recipe
  $PIN_REST $PY -m tsl300 train "$2" --data "$DATA" --out "$RUNS/$1" --seeds 1,2,3 --device "$DEVICE" --threads 1 \
    --quiet --time-limit 6 $EXTRA > "$OUT/logs/$1.log" 2>&1
  collect "$1" "$RUNS/$1"
  echo "$1 done at $(( $(date +%s) - start )) s" >> "$OUT/logs/timeline.txt"
}

tslnet() {  # seed
  $PIN_REST $PY -m tsl300 train recipes/tsl_net/tsl_net.yaml --data "$DATA" --out "$RUNS/tsl_net_s$1" --seeds "$1" \
    --device "$DEVICE" --threads 2 --quiet --time-limit "$TSL_MIN" --set schedule.eval_every=0 \
    --set schedule.checkpoint_every=0 $EXTRA > "$OUT/logs/tsl_net_s$1.log" 2>&1
  collect "tsl_net_s$1" "$RUNS/tsl_net_s$1"
  echo "tsl_net seed $1 done at $(( $(date +%s) - start )) s" >> "$OUT/logs/timeline.txt"
}

# step time, peak memory and FLOPs at batch 16 on the GPU, on the synthetic data's first 16
# videos; first, alone on the device, so that the timings and the memory peak are its own
$PIN_REST $PY benchmarks/bench_train.py --device "$DEVICE" --data "$DATA" --batch-size 16 --steps 3 \
  --recipes recipes/tsl300/flagship.yaml recipes/tsl_net/tsl_net.yaml --json "$OUT/bench_cuda.json" \
  > "$OUT/bench_cuda.txt" 2>&1
echo "bench_train done at $(( $(date +%s) - start )) s" >> "$OUT/logs/timeline.txt"

JOBS=()
for s in 1 2 3; do tslnet $s & JOBS+=($!); done
flag flagship recipes/tsl300/flagship.yaml & JOBS+=($!)
for r in no_consensus no_label_smoothing no_ldl audio_only visual_only; do flag "$r" "recipes/tsl300/$r.yaml" & JOBS+=($!); done

# the flagship on 2 pinned CPU cores (time of a full CPU training run)
( $PIN_CPU $PY -m tsl300 train recipes/tsl300/flagship.yaml --data "$DATA" --out "$RUNS/cpu2" \
    --device cpu --threads 2 --quiet --no-test --time-limit "$CPU_MIN" $EXTRA > "$OUT/logs/cpu2.log" 2>&1
  cp "$RUNS/cpu2/train_log.csv" "$OUT/train_logs/cpu2_train_log.csv" 2>/dev/null
  echo "cpu2 done at $(( $(date +%s) - start )) s" >> "$OUT/logs/timeline.txt" ) & JOBS+=($!)

wait "${JOBS[@]}"
kill $PACKER 2>/dev/null
echo "all done at $(( $(date +%s) - start )) s" | tee -a "$OUT/logs/timeline.txt"
tar czf "$DEST/bench.tgz" -C "$OUT" .
