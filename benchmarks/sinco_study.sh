#!/usr/bin/env bash
# The SINCO study as recorded in benchmarks/results/sinco/ (run from the repository root).
# Pairs of processes share the ten largest-tumour FLAIR slices of the held-out case, then a third
# call (--report-only) merges their rows and writes the tables and figures; a fourth measures JPEG 2000 /
# JPEG XL on the ten largest-tumour slices (the "real bar"). Every call is resumable.
set -euo pipefail
DATA=${DATA:-../shared/data/mri}
OUT=benchmarks/results/sinco
STEPS=${STEPS:-300}
COMMON=(--data "$DATA" --case OtherEXampleFromTCIA --modality fla --steps "$STEPS" --lr 1e-3
        --methods paper,sweep --lambdas 0,0.1,0.5,1,2 --classical jpeg2000,jpegxl
        --bpps 0.1,0.15,0.29,0.5,0.8,1.0,1.2 --threads 1)
inrcodec medical bench "${COMMON[@]}" --slice-ids 87,86 --outdir $OUT/part1 &
inrcodec medical bench "${COMMON[@]}" --slice-ids 89,91 --outdir $OUT/part2 &
wait
# the other six of the ten largest-tumour slices (run after the first four, same settings)
inrcodec medical bench "${COMMON[@]}" --slice-ids 88,90,92 --outdir $OUT/part4 &
inrcodec medical bench "${COMMON[@]}" --slice-ids 93,94,95 --outdir $OUT/part5 &
wait
# Cool-chic v1 (fast preset, 600 steps, lambda_rate 4e-3) without and with the sinco term (1)
CC=(--data "$DATA" --case OtherEXampleFromTCIA --modality fla --methods none --classical none
    --codecs coolchic-v1:fast --set lmbda=4e-3 --steps 600 --lr 1e-3 --threads 1)
inrcodec medical bench "${CC[@]}" --slice-ids 87 --outdir $OUT/part6 &
inrcodec medical bench "${CC[@]}" --slice-ids 89 --outdir $OUT/part7 &
inrcodec medical bench --data "$DATA" --case OtherEXampleFromTCIA --modality fla --steps "$STEPS" \
    --lr 1e-3 --methods paper --paper-bpp 0.3 --classical none --threads 1 --slice-ids 87,89 \
    --outdir $OUT/part3 &
wait
mkdir -p $OUT/recon && cp $OUT/part1/recon/*_87.npy $OUT/part6/recon/*_87.npy $OUT/recon/
inrcodec medical bench "${COMMON[@]}" --slice-ids 87,86,89,91,88,90,92,93,94,95 --outdir $OUT \
    --report-only --merge $OUT/part1 --merge $OUT/part2 --merge $OUT/part3 --merge $OUT/part4 \
    --merge $OUT/part5 --merge $OUT/part6 --merge $OUT/part7
inrcodec medical bench --data "$DATA" --case OtherEXampleFromTCIA --slices 10 --methods none \
    --classical jpeg2000,jpegxl --bpps 0.29,1.0,1.2 --outdir $OUT/classical10
python benchmarks/sinco_report.py
