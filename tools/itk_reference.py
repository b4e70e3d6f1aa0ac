#!/usr/bin/env python3
"""NRRD and MetaImage reference files for tests/readers.rs, written by SimpleITK from a corpus volume.

    python3 tools/itk_reference.py CORPUS OUTDIR

Takes nibabel's anatomical.nii from the corpus, gives it an oblique direction, anisotropic spacing and
an origin, casts it to every scalar type, and writes it as .nrrd (raw and gzip), detached .nhdr,
.mha and detached .mhd (raw and zlib); one RGB vector image too. Prints one JSON line: for each file
the geometry SimpleITK reads back and numpy's statistics of the voxels (the reference values the
Rust test compares `voxmark info --json` with)."""
import json
import os
import sys

import numpy as np
import SimpleITK as sitk


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    src = sitk.ReadImage(os.path.join(corpus, "nifti/nibabel/anatomical.nii"))
    a = sitk.GetArrayFromImage(src).astype(np.float64)
    # Oblique: 20° about z, then 10° about x; spacing 0.7 × 1.3 × 2.9 mm.
    cz, sz = np.cos(np.radians(20)), np.sin(np.radians(20))
    cx, sx = np.cos(np.radians(10)), np.sin(np.radians(10))
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    direction = (rz @ rx).flatten().tolist()
    files = []
    types = [
        ("uint8", sitk.sitkUInt8), ("int8", sitk.sitkInt8), ("uint16", sitk.sitkUInt16),
        ("int16", sitk.sitkInt16), ("uint32", sitk.sitkUInt32), ("int32", sitk.sitkInt32),
        ("uint64", sitk.sitkUInt64), ("int64", sitk.sitkInt64), ("float32", sitk.sitkFloat32),
        ("float64", sitk.sitkFloat64),
    ]
    scaled = a / max(a.max(), 1.0) * 120.0
    for name, pixel in types:
        arr = scaled if name.startswith("float") else np.round(scaled)
        if name == "int8" or name.startswith("int"):
            arr = arr - 40.0  # negative values too
        img = sitk.GetImageFromArray(arr.astype(sitk.GetArrayViewFromImage(sitk.Image(1, 1, 1, pixel)).dtype))
        img.SetSpacing((0.7, 1.3, 2.9))
        img.SetOrigin((-31.5, 12.25, 7.0))
        img.SetDirection(direction)
        for ext, compress in [(".nrrd", False), (".nrrd", True), (".nhdr", True), (".mha", False), (".mhd", True)]:
            f = os.path.join(out, "%s%s%s" % (name, "_z" if compress else "", ext))
            sitk.WriteImage(img, f, useCompression=compress)
            files.append(f)
    rgb = sitk.Compose([sitk.Cast(sitk.RescaleIntensity(src), sitk.sitkUInt8)] * 3)
    rgb.SetSpacing((0.5, 0.5, 2.0))
    for ext in [".nrrd", ".mha"]:
        f = os.path.join(out, "rgb" + ext)
        sitk.WriteImage(rgb, f, useCompression=True)
        files.append(f)
    ref = {}
    for f in files:
        img = sitk.ReadImage(f)
        v = sitk.GetArrayFromImage(img).astype(np.float64)
        ref[os.path.basename(f)] = {
            "size": list(img.GetSize()),
            "spacing_mm": list(img.GetSpacing()),
            "origin_lps_mm": list(img.GetOrigin()),
            "direction": list(img.GetDirection()),
            "components": img.GetNumberOfComponentsPerPixel(),
            "stats": {"min": float(v.min()), "max": float(v.max()), "mean": float(v.mean())},
        }
    print(json.dumps(ref))


if __name__ == "__main__":
    main()
