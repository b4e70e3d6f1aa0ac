#!/usr/bin/env python3
"""LiteMedSAM through onnxruntime's Python API on the corpus CT: the reference Voxmark's own run must match.

For slices 5, 10 and 15 of `dicom/series/ct_abdomen_20sl_j2kr` (read by SimpleITK), every TotalSegmentator
label (`nifti/totalseg/example_seg_dicom.nii.gz`, resampled onto the CT grid with nearest neighbour) that
covers at least MIN_PIXELS pixels of the slice in one connected piece (an organ, as a user would box it;
thin or scattered structures are not what a box prompt is for) gives one box prompt: its bounding box. The pre- and
post-processing is the contract of `assets/models/litemedsam.toml`, written out here with numpy so that it
is independent of Voxmark:

- window [-160, 240] HU to [0, 1] (clamped), float64;
- resize so the longest side is 256 (bilinear, half-pixel centres, edges clamped), pad bottom/right with 0;
- three identical channels, float32, NCHW;
- box [x_min, y_min, x_max, y_max] of the label's pixel indices times 256 / longest side;
- mask logits 256x256: the unpadded part, bilinear back to the slice size (as above), > 0.

Writes per-case Dice against the label, the model's IoU estimate, and median latencies of the encoder and
the decoder (`--repeat` runs each), as JSON.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import SimpleITK as sitk

SLICES = [5, 10, 15]
MIN_PIXELS = 2000
WINDOW = (-160.0, 240.0)
SIDE = 256


def resize_bilinear(a, out_h, out_w):
    """Bilinear resize with half-pixel centres and clamped edges (OpenCV INTER_LINEAR, no anti-aliasing)."""

    def weights(n_in, n_out):
        o = np.arange(n_out, dtype=np.float64)
        src = (o + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    a = a.astype(np.float64)
    r0, r1, rt = weights(a.shape[0], out_h)
    rows = a[r0, :] * (1.0 - rt)[:, None] + a[r1, :] * rt[:, None]
    c0, c1, ct = weights(a.shape[1], out_w)
    return rows[:, c0] * (1.0 - ct)[None, :] + rows[:, c1] * ct[None, :]


def scaled_size(h, w):
    s = SIDE / max(h, w)
    return s, int(round(h * s)), int(round(w * s))


def encoder_input(hu):
    lo, hi = WINDOW
    x = np.clip((hu.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    h, w = x.shape
    _, nh, nw = scaled_size(h, w)
    small = resize_bilinear(x, nh, nw)
    padded = np.zeros((SIDE, SIDE), dtype=np.float64)
    padded[:nh, :nw] = small
    return np.repeat(padded[None, None].astype(np.float32), 3, axis=1)


def mask_from_logits(logits, h, w):
    _, nh, nw = scaled_size(h, w)
    return resize_bilinear(logits[:nh, :nw], h, w) > 0.0


def dice(a, b):
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(a, b).sum() / total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the corpus folder (shared/data)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=1, help="runs per encoder/decoder call for timing")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)")
    args = ap.parse_args()

    series = args.data / "dicom/series/ct_abdomen_20sl_j2kr"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series)))
    ct = reader.Execute()
    labels = sitk.ReadImage(str(args.data / "nifti/totalseg/example_seg_dicom.nii.gz"))
    labels = sitk.Resample(labels, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, labels.GetPixelID())
    hu = sitk.GetArrayFromImage(ct)  # (k, j, i)
    lab = sitk.GetArrayFromImage(labels)

    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    onnx = args.data / "onnx"
    encoder = ort.InferenceSession(str(onnx / "litemedsam_encoder.onnx"), options, providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(
        str(onnx / "litemedsam_decoder.int8.onnx"), options, providers=["CPUExecutionProvider"]
    )

    cases, encode_s, decode_s = [], [], []
    for k in SLICES:
        image = encoder_input(hu[k])
        for _ in range(args.repeat):
            t = time.perf_counter()
            (embeddings,) = encoder.run(["image_embeddings"], {"image": image})
            encode_s.append(time.perf_counter() - t)
        h, w = hu[k].shape
        s, _, _ = scaled_size(h, w)
        ids, counts = np.unique(lab[k], return_counts=True)
        for label, n in zip(ids.tolist(), counts.tolist()):
            if label == 0 or n < MIN_PIXELS:
                continue
            truth = lab[k] == label
            pieces = sitk.ConnectedComponent(sitk.GetImageFromArray(truth.astype(np.uint8)))
            if int(sitk.GetArrayFromImage(pieces).max()) != 1:
                continue
            js, is_ = np.nonzero(truth)
            box = np.array([[is_.min(), js.min(), is_.max(), js.max()]], dtype=np.float64) * s
            box = box.astype(np.float32)
            for _ in range(args.repeat):
                t = time.perf_counter()
                logits, iou = decoder.run(
                    ["low_res_masks", "iou_predictions"], {"image_embeddings": embeddings, "boxes": box}
                )
                decode_s.append(time.perf_counter() - t)
            mask = mask_from_logits(logits[0, 0], h, w)
            cases.append(
                {
                    "slice": k,
                    "label": int(label),
                    "box_256": [float(v) for v in box[0]],
                    "pixels": int(mask.sum()),
                    "dice": float(dice(mask, truth)),
                    "iou_prediction": float(iou[0, 0]),
                }
            )
    out = {
        "onnxruntime": ort.__version__,
        "slices": SLICES,
        "min_pixels": MIN_PIXELS,
        "window": list(WINDOW),
        "cases": cases,
        "mean_dice": float(np.mean([c["dice"] for c in cases])),
        "encoder_median_s": statistics.median(encode_s),
        "decoder_median_s": statistics.median(decode_s),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"LiteMedSAM (onnxruntime {ort.__version__}): {len(cases)} boxes, mean Dice {out['mean_dice']:.4f}, "
        f"encoder {out['encoder_median_s']:.3f} s, decoder {out['decoder_median_s']:.3f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
