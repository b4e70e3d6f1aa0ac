#!/usr/bin/env python3
"""LiteMedSAM latency, Voxmark against onnxruntime's Python API, in one run on the same inputs.

    ORT_DYLIB_PATH=... python3 tools/bench_litemedsam.py DATA [--repeat N] [--json OUT]

The corpus CT's slice 10 (SimpleITK) and the liver's box (the inputs of `benches/inference.rs`). Python is
timed first — the encoder and decoder calls alone, and with the numpy pre/post-processing of
`tools/litemedsam_reference.py` around them — then `cargo bench --bench inference` (release build) times
Voxmark's `Promptable::embed` (pre-processing + encoder) and `segment_box` (decoder + mask back on the slice).
Medians; the ratio is Voxmark's full step over Python's session call alone (the stricter comparison) and over
Python's full step.
"""

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))
import litemedsam_reference as ref  # noqa: E402

SLICE = 10
LIVER = (107, 196, 269, 374)  # x0, y0, x1, y1: TotalSegmentator label 5 on slice 10
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def median_s(f, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def python_times(data, repeat):
    series = data / "dicom/series/ct_abdomen_20sl_j2kr"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series)))
    hu = sitk.GetArrayFromImage(reader.Execute())[SLICE]
    onnx = data / "onnx"
    enc = ort.InferenceSession(str(onnx / "litemedsam_encoder.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(onnx / "litemedsam_decoder.int8.onnx"), providers=["CPUExecutionProvider"])
    image = ref.encoder_input(hu)
    (emb,) = enc.run(["image_embeddings"], {"image": image})  # warm-up
    h, w = hu.shape
    s, _, _ = ref.scaled_size(h, w)
    box = (np.array([LIVER], dtype=np.float64) * s).astype(np.float32)
    feeds = {"image_embeddings": emb, "boxes": box}
    dec.run(None, feeds)

    def encode_full():
        enc.run(["image_embeddings"], {"image": ref.encoder_input(hu)})

    def decode_full():
        logits, _ = dec.run(["low_res_masks", "iou_predictions"], feeds)
        ref.mask_from_logits(logits[0, 0], h, w)

    out = {
        "encoder_run_s": median_s(lambda: enc.run(["image_embeddings"], {"image": image}), repeat),
        "encoder_full_s": median_s(encode_full, repeat),
        "decoder_run_s": median_s(lambda: dec.run(None, feeds), 3 * repeat),
        "decoder_full_s": median_s(decode_full, 3 * repeat),
    }
    del enc, dec
    gc.collect()
    return out


def voxmark_times(data):
    env = dict(os.environ, VOXMARK_TEST_DATA=str(data))
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        ["cargo", "bench", "--bench", "inference"], cwd=root, env=env, capture_output=True, text=True
    )
    if run.returncode != 0:
        sys.exit(f"cargo bench failed:\n{run.stdout}\n{run.stderr}")
    medians = {}
    for line in run.stdout.splitlines():
        m = re.match(r"^\S+\s+(encoder_with_preprocessing|decoder_with_postprocessing)\s", line)
        if not m:
            continue
        cells = line.split("│")
        value, unit = cells[2].split()[:2]
        medians[m.group(1)] = float(value) * UNITS[unit]
    if len(medians) != 2:
        sys.exit(f"could not read the benchmark's medians:\n{run.stdout}")
    return {
        "encoder_full_s": medians["encoder_with_preprocessing"],
        "decoder_full_s": medians["decoder_with_postprocessing"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.data = args.data.resolve()
    py = python_times(args.data, args.repeat)
    vx = voxmark_times(args.data)
    result = {
        "onnxruntime": ort.__version__,
        "cpus": os.cpu_count(),
        "python": py,
        "voxmark": vx,
        "encoder_ratio_vs_run": vx["encoder_full_s"] / py["encoder_run_s"],
        "encoder_ratio_vs_full": vx["encoder_full_s"] / py["encoder_full_s"],
        "decoder_ratio_vs_run": vx["decoder_full_s"] / py["decoder_run_s"],
        "decoder_ratio_vs_full": vx["decoder_full_s"] / py["decoder_full_s"],
    }
    print(f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, medians")
    print(f"{'':32}{'encoder':>10}{'decoder':>10}")
    print(f"{'Python: session.run only':32}{py['encoder_run_s']:>9.3f}s{py['decoder_run_s']:>9.4f}s")
    print(f"{'Python: with numpy pre/post':32}{py['encoder_full_s']:>9.3f}s{py['decoder_full_s']:>9.4f}s")
    print(f"{'Voxmark: with Rust pre/post':32}{vx['encoder_full_s']:>9.3f}s{vx['decoder_full_s']:>9.4f}s")
    print(f"{'ratio to session.run only':32}{result['encoder_ratio_vs_run']:>9.2f}x{result['decoder_ratio_vs_run']:>9.2f}x")
    print(f"{'ratio to Python with pre/post':32}{result['encoder_ratio_vs_full']:>9.2f}x{result['decoder_ratio_vs_full']:>9.2f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
