#!/usr/bin/env python3
"""Reference statistics of regions on an image, for tests/region_stats.rs: SimpleITK reads the image
(a DICOM series folder or a file; modality values after rescale), numpy takes the voxels whose
centres lie inside each region (boxes edges included, polygons by the even-odd rule, with pixel
centres at whole voxel coordinates) and gives their count, mean, population standard deviation,
minimum and maximum.

usage: check_region_stats.py IMAGE REGIONS_JSON
REGIONS_JSON: [{"box2d": [k, i0, j0, i1, j1]} | {"box3d": [i0, j0, k0, i1, j1, k1]} |
                {"polygon": [k, [[i, j], ...]]}, ...]
Prints one JSON line: a list of {"voxels", "mean", "sd", "min", "max"}.
"""
import json
import math
import os
import sys

import numpy as np
import SimpleITK as sitk


def read(path):
    if os.path.isdir(path):
        r = sitk.ImageSeriesReader()
        r.SetFileNames(r.GetGDCMSeriesFileNames(path))
        return r.Execute()
    return sitk.ReadImage(path)


def whole(lo, hi, n):
    return range(max(math.ceil(lo), 0), min(math.floor(hi), n - 1) + 1)


def inside(points, x, y):
    """Even-odd rule: a horizontal ray from (x, y) crosses the outline an odd number of times."""
    hit = False
    n = len(points)
    for a in range(n):
        (x1, y1), (x2, y2) = points[a], points[(a + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def main(image, regions):
    arr = sitk.GetArrayFromImage(read(image)).astype(np.float64)  # (z, y, x)
    nz, ny, nx = arr.shape
    out = []
    for r in json.loads(regions):
        values = []
        if "box2d" in r:
            k, i0, j0, i1, j1 = r["box2d"]
            values = [arr[k, j, i] for j in whole(j0, j1, ny) for i in whole(i0, i1, nx)]
        elif "box3d" in r:
            i0, j0, k0, i1, j1, k1 = r["box3d"]
            values = [arr[k, j, i] for k in whole(k0, k1, nz) for j in whole(j0, j1, ny)
                      for i in whole(i0, i1, nx)]
        elif "polygon" in r:
            k, pts = r["polygon"]
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            values = [arr[k, j, i] for j in whole(min(ys), max(ys), ny)
                      for i in whole(min(xs), max(xs), nx) if inside(pts, i, j)]
        v = np.array(values)
        out.append({"voxels": int(v.size), "mean": float(v.mean()), "sd": float(v.std()),
                    "min": float(v.min()), "max": float(v.max())})
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
