#!/usr/bin/env bash
# Issue 17's remaining runs as two resumable lanes, one core each, so that a session starts
# them with one command each and the next session resumes where they stopped:
#
#   benchmarks/study_remaining.sh study RUNS   # the loss study: main spec, AVIF 4:2:0, v2
#                                              # calibration, second table (-samelambda)
#   benchmarks/study_remaining.sh side RUNS    # the NIF kodak24-half anchor, the forks side by
#                                              # side (Cool-chic 2.0), then the study's -x2
#
# The two lanes' CPU is about even that way (2026-12-03: study ~16 h, side ~13 h left); -x2
# writes into the study's store beside the other lane (other jobs, SQLite in WAL mode).
#
# RUNS is a folder outside the repository (e.g. /work/runs). On a fresh machine each store is
# first rebuilt from its committed export (`inrcodec import`), so nothing finished is run again.
# The side lane needs the forks set up by benchmarks/forks_env.sh in $FORKS (default
# /work/forks). CPU estimates: each spec's header, and forks_side_by_side.md for the forks.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 study|side RUNS" >&2; exit 2; }
lane=$1
runs=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=${PYTHON:-$here/.venv/bin/python}
inrcodec=${INRCODEC:-$here/.venv/bin/inrcodec}
forks=${FORKS:-/work/forks}
results=benchmarks/results

bench() {  # bench SPEC DB [EXPORT [BENCH-OPTION...]]: import the export into a missing store,
           # then run the spec (options such as --loss narrow it to part of its jobs)
  local spec=$1 db=$2 export=${3:-}
  shift $(($# < 3 ? $# : 3))
  mkdir -p "$(dirname "$db")"
  if [[ ! -e $db && -n $export && -e $export ]]; then
    "$inrcodec" import "$export" --db "$db"
  fi
  nice -n 19 "$inrcodec" bench "benchmarks/specs/$spec.toml" --db "$db" --workers 1 --threads 1 "$@"
}

case $lane in
  study)
    db=$runs/study-kodak6-half/results.sqlite
    bench study-kodak6-half "$db" "$results/study-kodak6-half/study.store.json"
    bench study-kodak6-half-avif420 "$db"
    # the calibration before the second table: it decides C3 at the full v2 recipe
    bench study-kodak6-half-calibration "$runs/study-kodak6-half-calibration/results.sqlite" \
      "$results/study-kodak6-half/calibration.store.json"
    # the second table is shared with the side lane once -x2 is done: this lane takes l1,
    # logcosh and lcssim, the side lane l1ssim and rmse; each then runs the whole spec for
    # whatever is left, skipping what the other lane has finished or holds (each job is
    # claimed as it starts)
    bench study-kodak6-half-samelambda "$db" "" --loss l1 --loss logcosh --loss cc_lcssim
    bench study-kodak6-half-samelambda "$db"
    ;;
  side)
    bench nif-kodak24-half "$runs/nif-kodak24-half/results.sqlite" \
      "$results/nif-kodak24-half.store.json"
    out=$runs/forks/fsbs
    mkdir -p "$runs/forks/work"
    [[ -e $out.jsonl ]] || cp "$results/forks_side_by_side.jsonl" "$out.jsonl"
    nice -n 19 "$py" benchmarks/forks_side_by_side.py --nif-fork "$forks/nif" \
      --cc1-fork "$forks/cc-1.0-adaptations" --cc2-fork "$forks/cc-2.0-adaptations" \
      --python "$forks/venv/bin/python" --shim "$forks/shim" --runs cc2:mse,cc2:lcssim \
      --seeds 1,2,3 --sides fork,ours --workdir "$runs/forks/work" --out "$out"
    db=$runs/study-kodak6-half/results.sqlite
    bench study-kodak6-half-x2 "$db" "$results/study-kodak6-half/study.store.json"
    bench study-kodak6-half-samelambda "$db" "" --loss cc_l1ssim --loss rmse
    bench study-kodak6-half-samelambda "$db"
    ;;
  *)
    echo "unknown lane '$lane': study or side" >&2
    exit 2
    ;;
esac
