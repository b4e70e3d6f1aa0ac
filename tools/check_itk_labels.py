#!/usr/bin/env python3
"""Checks label maps written by `voxmark export --format nifti-labels --out X.nrrd|.nhdr|.mha|.mhd`
with SimpleITK: each has the source image's geometry (given as JSON: spacing_mm, origin_lps_mm,
direction in LPS, as tools/reference.py writes it from SimpleITK) and the same voxels as the NIfTI
label map Voxmark exported from the same project (itself checked against nibabel). Prints a JSON
summary; exit 0 when everything holds, 1 otherwise.

usage: check_itk_labels.py GEOMETRY_JSON REFERENCE.nii.gz EXPORTED [EXPORTED ...]
"""
import json
import sys

import numpy as np
import SimpleITK as sitk


def main(geometry, reference, *exported):
    g = json.loads(geometry)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(reference))
    out = {}
    ok = True
    for path in exported:
        img = sitk.ReadImage(path)
        arr = sitk.GetArrayFromImage(img)
        geometry_err = max(
            float(np.abs(np.array(img.GetSpacing()) - g["spacing_mm"]).max()),
            float(np.abs(np.array(img.GetOrigin()) - g["origin_lps_mm"]).max()),
            float(np.abs(np.array(img.GetDirection()) - g["direction"]).max()),
        )
        equal = arr.shape == ref.shape and bool(np.array_equal(arr.astype(np.int64), ref.astype(np.int64)))
        out[path] = {"geometry_max_error": geometry_err, "voxels_equal": equal,
                     "pixel_type": img.GetPixelIDTypeAsString(), "size": list(img.GetSize())}
        ok = ok and equal and geometry_err < 1e-6
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
