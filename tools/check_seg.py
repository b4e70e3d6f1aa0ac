#!/usr/bin/env python3
"""Checks a DICOM SEG written by `voxmark export --format dicom-seg` (or dicom-seg-heatmap) with
highdicom and pydicom, against what it should hold:

- it parses as a SEG of the expected type (LABELMAP, BINARY or FRACTIONAL);
- every referenced source instance is one of the source series' files (by SOPInstanceUID, or the file
  meta header's copy), and each frame's plane position equals its source instance's
  ImagePositionPatient (to 1e-3 mm);
- for masks: each segment's voxels equal (label map == value) of the label map(s) given, NIfTI files
  with the `.labels.json` sidecar naming each value (as `voxmark export --format nifti-labels` writes
  them, or written by the test), mapped through patient space (highdicom's LPS volume affine against
  nibabel's RAS affine);
- for heatmaps: each segment's fractions against an expected NIfTI of fractions (0..1), to 1/255.

Prints a JSON summary on its last line; exit 0 when everything holds, 1 otherwise.

usage: check_seg.py SEG.dcm SOURCE_DIR KIND EXPECTED.nii.gz [EXPECTED.nii.gz ...]
"""
import json
import os
import sys

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom


def source_positions(source_dir):
    out = {}
    for root, _, files in os.walk(source_dir):
        for f in files:
            try:
                ds = pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True)
            except Exception:
                continue
            uid = str(ds.get("SOPInstanceUID", "") or ds.file_meta.MediaStorageSOPInstanceUID)
            out[uid] = [float(v) for v in ds.ImagePositionPatient] if "ImagePositionPatient" in ds else None
    return out


def lps_affine_of(nifti):
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ nifti.affine


def mapped(seg_affine, shape, nifti):
    """Indices (i, j, k) into the NIfTI array for every (slice, row, column) of the SEG volume, or
    None when the grids are not a signed permutation of each other."""
    m = np.linalg.inv(lps_affine_of(nifti)) @ seg_affine
    perm = np.round(m)
    if np.abs(m - perm).max() > 1e-3:
        return None, float(np.abs(m - perm).max())
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    idx = np.concatenate([grid, np.ones(shape + (1,))], axis=-1) @ perm.T
    return idx[..., :3].astype(int), 0.0


def main(seg_path, source_dir, kind, *expected):
    seg = hd.seg.segread(seg_path)
    result = {"type": seg.segmentation_type.value, "segments": int(seg.number_of_segments),
              "frames": int(seg.NumberOfFrames)}
    ok = result["type"] == kind

    # References and positions.
    positions = source_positions(source_dir)
    refs = [uid for _, _, uid in seg.get_source_image_uids()]
    result["referenced"] = len(refs)
    result["references_in_source"] = all(r in positions for r in refs)
    worst = 0.0
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        want = positions.get(uid)
        if want is not None and "PlanePositionSequence" in frame:
            got = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
            worst = max(worst, float(np.abs(np.array(got) - np.array(want)).max()))
    result["position_max_error_mm"] = worst
    ok &= result["references_in_source"] and worst < 1e-3

    vol = seg.get_volume(combine_segments=False, rescale_fractional=True)
    arr = vol.array  # (slices, rows, columns, segments)
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    checked, equal, max_diff = 0, 0, 0.0
    for path in expected:
        img = nib.load(path)
        data = np.asarray(img.dataobj)
        idx, err = mapped(vol.affine, arr.shape[:3], img)
        if idx is None:
            result["grid_error"] = err
            ok = False
            continue
        inside = np.all((idx >= 0) & (idx < np.array(data.shape)), axis=-1)
        if kind == "FRACTIONAL":
            # One expected map of fractions per segment, in segment order.
            n = expected.index(path) + 1
            want = np.zeros(arr.shape[:3])
            want[inside] = data[idx[inside][:, 0], idx[inside][:, 1], idx[inside][:, 2]]
            diff = float(np.abs(arr[..., n - 1].astype(float) - want).max())
            max_diff = max(max_diff, diff)
            checked += 1
            equal += diff <= 1.0 / 255 + 1e-6
            continue
        names = json.load(open(path + ".labels.json"))
        for value, meta in names.items():
            numbers = [n for n, l in labels.items() if l == meta["name"]]
            checked += 1
            if len(numbers) != 1:
                continue
            want = np.zeros(arr.shape[:3], dtype=bool)
            want[inside] = data[idx[inside][:, 0], idx[inside][:, 1], idx[inside][:, 2]] == int(value)
            equal += bool(np.array_equal(arr[..., numbers[0] - 1] != 0, want))
    result.update({"segments_checked": checked, "segments_equal": equal})
    if kind == "FRACTIONAL":
        result["fraction_max_error"] = max_diff
    ok &= checked > 0 and equal == checked
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
