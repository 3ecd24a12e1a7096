#!/usr/bin/env bash
# The SINCO study as recorded in benchmarks/results/sinco/ (run from the repository root).
# Two processes share four of the six largest-tumour FLAIR slices of the held-out case, then a third
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
inrcodec medical bench --data "$DATA" --case OtherEXampleFromTCIA --modality fla --steps "$STEPS" \
    --lr 1e-3 --methods paper --paper-bpp 0.3 --classical none --threads 1 --slice-ids 87,89 \
    --outdir $OUT/part3 &
wait
mkdir -p $OUT/recon && cp $OUT/part1/recon/*_87.npy $OUT/recon/
inrcodec medical bench "${COMMON[@]}" --slice-ids 87,86,89,91 --outdir $OUT --report-only \
    --merge $OUT/part1 --merge $OUT/part2 --merge $OUT/part3
inrcodec medical bench --data "$DATA" --case OtherEXampleFromTCIA --slices 10 --methods none \
    --classical jpeg2000,jpegxl --bpps 0.29,1.0,1.2 --outdir $OUT/classical10
python benchmarks/sinco_report.py
