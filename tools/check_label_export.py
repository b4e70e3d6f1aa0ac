#!/usr/bin/env python3
"""Checks a label map written by `voxmark export --format nifti-labels` with nibabel:
its affine equals the source image's geometry (given as JSON: spacing_mm, origin_lps_mm, direction in
LPS, as tools/reference.py writes it from SimpleITK), and its voxels equal the label map that was
imported, mapped through patient space (a signed axis permutation). Prints a JSON summary.

usage: check_label_export.py IMPORTED.nii.gz EXPORTED.nii.gz GEOMETRY_JSON
"""
import json
import sys

import nibabel as nib
import numpy as np


def main(src_path, out_path, geometry):
    g = json.loads(geometry)
    d = np.array(g["direction"], dtype=float).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = d * np.array(g["spacing_mm"])[None, :]
    lps[:3, 3] = g["origin_lps_mm"]
    expected = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    src, out = nib.load(src_path), nib.load(out_path)
    affine_err = float(np.abs(out.affine - expected).max())
    # out voxel -> src voxel: must be an integer signed permutation for a voxel-exact comparison.
    m = np.linalg.inv(src.affine) @ out.affine
    perm = np.round(m)
    exact = bool(np.abs(m - perm).max() < 1e-3)
    a = np.asarray(src.dataobj)
    b = np.asarray(out.dataobj)
    equal = False
    if exact:
        ii, jj, kk = np.meshgrid(*[np.arange(n) for n in b.shape], indexing="ij")
        idx = np.stack([ii, jj, kk, np.ones_like(ii)], axis=-1) @ perm.T
        s = idx[..., :3].astype(int)
        inside = np.all((s >= 0) & (s < np.array(a.shape)), axis=-1)
        mapped = np.zeros_like(b)
        mapped[inside] = a[s[inside][:, 0], s[inside][:, 1], s[inside][:, 2]]
        equal = bool(np.array_equal(mapped.astype(np.int64), b.astype(np.int64)))
    print(json.dumps({"affine_max_error_mm": affine_err, "axis_permutation": exact, "voxels_equal": equal,
                      "labels": sorted(int(v) for v in np.unique(b) if v != 0), "shape": list(b.shape)}))
    return 0 if affine_err < 1e-3 and equal else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
