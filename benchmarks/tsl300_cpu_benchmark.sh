#!/usr/bin/env bash
# Issue-4 benchmark on this CPU: the flagship and its no-consensus ablation (3 seeds each) and
# the other four ablations (seed 1 by default) on synthetic TSL-300-sized data, in three
# parallel queues of one torch thread each (on a shared
# 2-core machine one thread per process is far faster than two; see tsl300/engine/devices.py).
#
#   bash benchmarks/tsl300_cpu_benchmark.sh DATA RUNS [ABLATION_SEEDS]
#
# DATA: `tsl300 synth DATA --train 200 --test 100 --seed 0`. Each run folder gets summary.json
# (mean +- std over its seeds of average mAP, Recall, F2 and mAP per tIoU) and its logs.
set -u
DATA=$1
RUNS=$2
ABL_SEEDS=${3:-1}
PY=${PY:-.venv/bin/python}
mkdir -p "$RUNS"
export PYTHONUNBUFFERED=1
train() {  # name recipe seeds
  local began=$(date +%s)
  $PY -m tsl300 train "$2" --data "$DATA" --out "$RUNS/$1" --seeds "$3" --threads 1 --quiet > "$RUNS/$1.log" 2>&1
  echo "$1 exit $? after $(( $(date +%s) - began )) s ($(date -u +%H:%M:%S))" >> "$RUNS/timeline.txt"
}
( train flagship recipes/tsl300/flagship.yaml 1,2,3 ) &
( train no_consensus recipes/tsl300/no_consensus.yaml 1,2,3 ) &
( train no_label_smoothing recipes/tsl300/no_label_smoothing.yaml "$ABL_SEEDS"
  train no_ldl recipes/tsl300/no_ldl.yaml "$ABL_SEEDS"
  train audio_only recipes/tsl300/audio_only.yaml "$ABL_SEEDS"
  train visual_only recipes/tsl300/visual_only.yaml "$ABL_SEEDS" ) &
wait
echo "all done ($(date -u +%H:%M:%S))" >> "$RUNS/timeline.txt"
