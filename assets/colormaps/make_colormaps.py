#!/usr/bin/env python3
"""Writes the colour tables in this folder (standard library only).

    python3 assets/colormaps/make_colormaps.py [--viridis-from PATH/TO/colormaps.py]

Outputs, each a 256-row CSV (`#` lines are comments), read by `src/render/colormap.rs`:
  grey.csv     r,g,b in 0..1: i/255 (identity).
  hot.csv      r,g,b in 0..1: matplotlib's `hot`, sampled at N=256 from its segment data
               (`lib/matplotlib/_cm.py`, `_hot_data`) exactly as LinearSegmentedColormap does.
  viridis.csv  r,g,b in 0..1: the 256 rows of matplotlib's `_viridis_data` (CC0, by Nathaniel J. Smith,
               Stefan van der Walt and Eric Firing), copied verbatim from BIDS/colormap `colormaps.py`
               (commit bc549477db0c12b54a5928087552ad2cf274980f), the same table as matplotlib's
               `lib/matplotlib/_cm_listed.py`. Only regenerated when --viridis-from is given.
  labels.csv   label,r,g,b,a in 0..255 for labels 0..255: label 0 transparent; label L > 0 gets
               hue = frac(L * 0.618033988749895), saturation 0.75 (0.55 for odd L // 2), value 0.95
               (0.75 when L % 3 == 2), alpha 255; colours as round(255 * channel).
The renderer turns 0..1 values into 8-bit with round(255 * v).
"""
import argparse
import ast
import colorsys
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

# matplotlib lib/matplotlib/_cm.py
HOT = {
    "red": ((0.0, 0.0416, 0.0416), (0.365079, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "green": ((0.0, 0.0, 0.0), (0.365079, 0.0, 0.0), (0.746032, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "blue": ((0.0, 0.0, 0.0), (0.746032, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def segment_lut(points, n=256):
    """matplotlib.colors._create_lookup_table for segment data with gamma 1 (numpy-free copy)."""
    xs = [p[0] for p in points]
    y0 = [p[1] for p in points]
    y1 = [p[2] for p in points]
    step = 1.0 / (n - 1)  # np.linspace(0, 1, n)[i] == i * step
    out = [y1[0]]
    for i in range(1, n - 1):
        x = i * step
        k = next(k for k in range(len(xs)) if xs[k] >= x)  # np.searchsorted(xs, x, side="left")
        dist = (x - xs[k - 1]) / (xs[k] - xs[k - 1])
        out.append(dist * (y0[k] - y1[k - 1]) + y1[k - 1])
    out.append(y0[-1])
    return [min(1.0, max(0.0, v)) for v in out]


def write_rgb(name, rows, header):
    with open(os.path.join(HERE, name), "w") as f:
        for line in header:
            f.write(f"# {line}\n")
        for r, g, b in rows:
            f.write(f"{r:.6f},{g:.6f},{b:.6f}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viridis-from", help="BIDS/colormap colormaps.py or matplotlib _cm_listed.py")
    args = ap.parse_args()

    write_rgb("grey.csv", [(i / 255,) * 3 for i in range(256)], ["grey: i/255, written by make_colormaps.py"])
    hot = [segment_lut(HOT[c]) for c in ("red", "green", "blue")]
    write_rgb("hot.csv", list(zip(*hot)), ["matplotlib hot (N=256 from _hot_data), written by make_colormaps.py"])

    if args.viridis_from:
        text = open(args.viridis_from).read()
        m = re.search(r"_viridis_data = (\[\[.*?\]\])", text, re.S)
        data = ast.literal_eval(m.group(1))
        assert len(data) == 256
        write_rgb(
            "viridis.csv",
            data,
            [
                "matplotlib viridis, _viridis_data verbatim (CC0: Nathaniel J. Smith, Stefan van der Walt, Eric Firing)",
                "source: github.com/BIDS/colormap colormaps.py @ bc549477db0c12b54a5928087552ad2cf274980f",
            ],
        )

    with open(os.path.join(HERE, "labels.csv"), "w") as f:
        f.write("# label,r,g,b,a (0..255); written by make_colormaps.py, formula in its docstring\n")
        f.write("0,0,0,0,0\n")
        for label in range(1, 256):
            h = (label * 0.618033988749895) % 1.0
            s = 0.55 if (label // 2) % 2 else 0.75
            v = 0.75 if label % 3 == 2 else 0.95
            r, g, b = (round(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))
            f.write(f"{label},{r},{g},{b},255\n")


if __name__ == "__main__":
    main()
