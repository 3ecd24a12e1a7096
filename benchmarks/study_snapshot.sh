#!/usr/bin/env bash
# Issue 17's committed results, regenerated from the stores that study_remaining.sh fills, so
# that a session commits what finished with one command:
#
#   benchmarks/study_snapshot.sh RUNS     # RUNS as given to study_remaining.sh (e.g. /work/runs)
#
# Writes, for each store that exists under RUNS (a store not started yet is skipped):
#   study-kodak6-half/           study.store.json, results.csv, report/ (`inrcodec report`:
#                                index.html, figures, crops, CSVs), findings.csv (the report's
#                                claims.csv), nif_loss_ranking.md (once NIF rows exist),
#                                second_table.md (once -samelambda rows exist)
#   study-kodak6-half/           calibration.store.json, v2_calibration.md (and findings.csv's
#                                "C3 (icip24)" rows once the calibration has cc_lcssim encodes)
#   nif-kodak24-half.store.json, nif_kodak24-half.csv
#   forks_side_by_side.{jsonl,md,...} from RUNS/forks/fsbs.jsonl
# Reading a store while a lane writes to it is safe (SQLite, WAL): the snapshot holds the rows
# finished at that moment.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 RUNS" >&2; exit 2; }
[[ -d $1 ]] || { echo "$0: no folder $1" >&2; exit 2; }
runs=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=${PYTHON:-$here/.venv/bin/python}
inrcodec=${INRCODEC:-$here/.venv/bin/inrcodec}
results=${RESULTS:-benchmarks/results}  # another folder for a dry run (the tests use one)
study=$results/study-kodak6-half
mkdir -p "$study"

db=$runs/study-kodak6-half/results.sqlite
if [[ -e $db ]]; then
  "$inrcodec" export "$db" -o "$study/study.store.json"
  "$inrcodec" export "$db" -o "$study/results.csv"
  # a fresh folder, swapped in only once written: a curve or crop that is gone must not
  # linger, and a failed report must not take the committed one with it
  rm -rf "$study/report.new"
  # crops of rows whose decoded files were on another machine come from the committed report
  reuse=(); [[ -d $study/report/crops ]] && reuse=(--reuse-crops "$study/report/crops")
  "$inrcodec" report "$db" -o "$study/report.new" "${reuse[@]}"
  rm -rf "$study/report" && mv "$study/report.new" "$study/report"
  cp "$study/report/claims.csv" "$study/findings.csv"
  if grep -q ',nif,' "$study/report/curves.csv"; then
    "$py" benchmarks/nif_loss_ranking.py "$study/report/curves.csv" \
      -o "$study/nif_loss_ranking.md" > /dev/null || echo "nif_loss_ranking: failed" >&2
  fi
  if grep -q '^coolchic-v1-samelambda,' "$study/report/curves.csv"; then
    "$py" benchmarks/second_table.py "$study/report" -o "$study/second_table.md" > /dev/null \
      || echo "second_table: failed" >&2
  fi
fi

cal=$runs/study-kodak6-half-calibration/results.sqlite
if [[ -e $cal ]]; then
  "$inrcodec" export "$cal" -o "$study/calibration.store.json"
  if [[ -e $db ]]; then
    # C3 at the full recipe goes into findings.csv too, once its cc_lcssim encodes exist
    "$py" benchmarks/v2_calibration.py "$db" "$cal" -o "$study/v2_calibration.md" \
      --findings "$study/findings.csv" > /dev/null \
      || echo "v2_calibration: nothing to compare yet" >&2
  fi
fi

anchor=$runs/nif-kodak24-half/results.sqlite
if [[ -e $anchor ]]; then
  "$inrcodec" export "$anchor" -o "$results/nif-kodak24-half.store.json"
  "$py" scripts/nif_anchor_csv.py "$anchor" -o "$results/nif_kodak24-half.csv"
fi

if [[ -e $runs/forks/fsbs.jsonl ]]; then
  cp "$runs/forks/fsbs.jsonl" "$results/forks_side_by_side.jsonl"
  "$py" benchmarks/forks_side_by_side.py --report-only --out "$results/forks_side_by_side"
fi
git status --short -- "$results" 2>/dev/null || true
