#!/usr/bin/env python3
"""Reference values for Voxmark's grounding metrics (src/core/metrics.rs), computed with numpy
straight from the definitions, on seeded random cases. Writes JSON (stdout or --out).

Definitions (the same words `voxmark eval` prints):
- a pixel (i, j) belongs to a box [min_i, min_j, max_i, max_j] when its centre (i, j) lies inside,
  edges included; a phrase's regions are the union of their pixels;
- IoU = |A∩B| / |A∪B|, Dice = 2|A∩B| / (|A|+|B|);
- pointing game: hit when the prediction's peak lies in the truth region; for a heatmap the first
  maximum in row-major order, for boxes the centre of the most confident box (first on ties),
  rounded half up to a pixel;
- CNR = |μin − μout| / sqrt(σ²in + σ²out) of the raw heatmap, population variances.
"""
import argparse
import json
import sys

import numpy as np


def mask_of(w, h, boxes):
    jj, ii = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    m = np.zeros((h, w), dtype=bool)
    for b in boxes:
        m |= (ii >= b[0]) & (ii <= b[2]) & (jj >= b[1]) & (jj <= b[3])
    return m


def case(rng):
    w, h = int(rng.integers(6, 40)), int(rng.integers(6, 40))

    def box():
        x0, y0 = rng.uniform(-3, w), rng.uniform(-3, h)
        return [round(float(x0), 2), round(float(y0), 2),
                round(float(x0 + rng.uniform(0, w / 2)), 2), round(float(y0 + rng.uniform(0, h / 2)), 2)]

    truth = [box() for _ in range(int(rng.integers(1, 4)))]
    pred = [[box(), round(float(rng.uniform(0, 1)), 3)] for _ in range(int(rng.integers(1, 4)))]
    heat = rng.normal(0, 1, (h, w))
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    heat[cy, cx] += 5.0
    # Four decimals: the JSON stays small and both sides parse the same float32 values.
    heat = np.round(heat, 4).astype(np.float32)
    a, b = mask_of(w, h, truth), mask_of(w, h, [p[0] for p in pred])
    inter, na, nb = int((a & b).sum()), int(a.sum()), int(b.sum())
    exp = {
        "iou": inter / (na + nb - inter) if na + nb - inter > 0 else None,
        "dice": 2 * inter / (na + nb) if na + nb > 0 else None,
    }
    if na > 0:
        flat = heat.ravel()
        exp["pointing_heatmap"] = bool(a.ravel()[int(np.argmax(flat))])
        best = max(range(len(pred)), key=lambda k: (pred[k][1], -k))
        bb = pred[best][0]
        ci, cj = (bb[0] + bb[2]) / 2, (bb[1] + bb[3]) / 2
        if ci < -0.5 or cj < -0.5:
            exp["pointing_boxes"] = False
        else:
            pi, pj = int(np.floor(ci + 0.5)), int(np.floor(cj + 0.5))
            exp["pointing_boxes"] = bool(pi < w and pj < h and a[pj, pi])
        inside, outside = heat[a].astype(np.float64), heat[~a].astype(np.float64)
        if inside.size and outside.size:
            d = np.sqrt(inside.var() + outside.var())
            exp["cnr"] = float(abs(inside.mean() - outside.mean()) / d) if d > 0 else None
        else:
            exp["cnr"] = None
    else:
        exp["pointing_heatmap"] = exp["pointing_boxes"] = exp["cnr"] = None
    return {"w": w, "h": h, "truth": truth, "pred": pred, "heat": [round(float(v), 4) for v in heat.ravel()], "expected": exp}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=120)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--out")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    out = {"generator": "tools/metrics_reference.py", "numpy": np.__version__,
           "cases": [case(rng) for _ in range(args.cases)]}
    text = json.dumps(out)
    if args.out:
        open(args.out, "w").write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
