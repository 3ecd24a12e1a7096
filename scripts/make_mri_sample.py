"""Write the sample MRI slice shipped in the package (src/inrcodec/data/):

    mri_flair_slice.nii.gz  FLAIR slice of the held-out case OtherEXampleFromTCIA with the largest
                            tumour area, a one-slice int16 volume [240, 240, 1] (affine placed
                            at the slice's position in the source volume)
    mri_seg_slice.nii.gz    its BraTS labels (uint8; whole tumour = label > 0)

Usage: python scripts/make_mri_sample.py [--data ../shared/data/mri]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np

from inrcodec.io.nifti import slice_affine, write_nifti
from inrcodec.medical.datasets import load_case

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mri"))
    ap.add_argument("--case", default="OtherEXampleFromTCIA")
    args = ap.parse_args()
    case = load_case(args.data, args.case, "fla")
    k = case.largest_tumour_slices(1)[0]
    out = ROOT / "src" / "inrcodec" / "data"
    write_nifti(case.image(k), out / "mri_flair_slice.nii.gz")
    seg = nib.load(str(Path(args.data) / args.case / "seg.nii.gz"))
    labels = np.asarray(seg.dataobj)[:, :, k:k + 1].astype(np.uint8)
    img = nib.Nifti1Image(labels, slice_affine(seg.affine, k))
    img.set_data_dtype(np.uint8)
    nib.save(img, str(out / "mri_seg_slice.nii.gz"))
    print(f"slice {k} of {args.case}: tumour {int((labels > 0).sum())} pixels")


if __name__ == "__main__":
    main()
