#!/usr/bin/env python3
"""NRRD and MetaImage reference files for tests/readers.rs, written by SimpleITK and pynrrd from a
corpus volume.

    python3 tools/itk_reference.py CORPUS OUTDIR

Takes nibabel's anatomical.nii from the corpus, gives it an oblique direction, anisotropic spacing and
an origin, casts it to every scalar type, and writes it as .nrrd (raw and gzip), detached .nhdr,
.mha and detached .mhd (raw and zlib); one RGB vector image too. Prints one JSON line: for each file
the geometry SimpleITK reads back and numpy's statistics of the voxels (the reference values the
Rust test compares `voxmark info --json` with)."""
import gzip
import json
import os
import sys

import nrrd
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
    files += write_pynrrd(a, out)
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


def write_pynrrd(a, out):
    """NRRD files as pynrrd writes them (its header conventions, not ITK's). `a` is (z, y, x)."""
    xyz = np.ascontiguousarray(np.transpose(a, (2, 1, 0)))  # pynrrd's default index order is x fastest
    scaled = xyz / max(xyz.max(), 1.0) * 200.0
    # Oblique, anisotropic, in RAS: columns of `space directions` are the axes (one row per axis).
    t = np.radians(15)
    axes = np.array([[0.8 * np.cos(t), 0.8 * np.sin(t), 0.0],
                     [-1.1 * np.sin(t), 1.1 * np.cos(t), 0.0],
                     [0.0, 0.0, 2.4]])
    files = []

    def put(name, data, header, **kw):
        f = os.path.join(out, name)
        nrrd.write(f, data, header, **kw)
        files.append(f)

    put("pynrrd_int16_ras_gzip.nrrd", np.round(scaled - 50).astype(np.int16),
        {"space": "right-anterior-superior", "space directions": axes,
         "space origin": np.array([12.5, -40.0, 3.25]), "kinds": ["domain"] * 3, "encoding": "gzip"})
    put("pynrrd_float32_be_raw.nhdr", scaled.astype(">f4"),
        {"space": "left-posterior-superior", "space directions": axes,
         "space origin": np.array([-5.0, 6.0, -7.0]), "encoding": "raw"}, detached_header=True)
    put("pynrrd_uint8_ascii.nrrd", np.round(scaled).astype(np.uint8),
        {"space": "left-posterior-superior", "space directions": np.diag([0.9, 0.9, 3.0]),
         "space origin": np.array([0.0, 0.0, 0.0]), "encoding": "ascii"})
    put("pynrrd_float64_spacings.nrrd", scaled.astype(np.float64),
        {"spacings": np.array([0.6, 0.75, 1.9]), "encoding": "gzip"})
    rgb = np.stack([np.round(scaled).astype(np.uint8)] * 3, axis=0)  # (3, x, y, z)
    rgb[1] = 255 - rgb[1]
    put("pynrrd_rgb.nrrd", rgb,
        {"space": "left-posterior-superior",
         "space directions": np.array([[np.nan] * 3, [0.5, 0, 0], [0, 0.5, 0], [0, 0, 2.0]]),
         "kinds": ["RGB-color", "domain", "domain", "domain"], "encoding": "gzip"})
    # A gzip NRRD with a byte skip, which teem (and so ITK) counts in the decompressed stream.
    f = os.path.join(out, "crafted_gzip_byte_skip.nrrd")
    values = np.round(scaled - 20).astype("<i2")
    header = ("NRRD0004\ntype: short\ndimension: 3\nsizes: %d %d %d\nspacings: 0.5 0.5 1.5\n"
              "endian: little\nencoding: gzip\nbyte skip: 37\n\n" % values.shape)
    with open(f, "wb") as fh:
        fh.write(header.encode() + gzip.compress(b"\x5a" * 37 + values.tobytes(order="F")))
    files.append(f)
    return files


if __name__ == "__main__":
    main()
