#!/usr/bin/env python3
"""What a PadChest-GR grounded-reports file holds in pixels, computed the way PadChest-GR's users
read it (a box `[x1, y1, x2, y2]` normalised to the image, drawn at `x1*W, y1*H, x2*W, y2*H`), for
the tests to compare with `voxmark import --format padchest-gr` followed by `voxmark export
--format ms-cxr` and `voxmark eval`.

Prints one JSON line: per reader (1: `boxes`, 2: `extra_boxes`) the MS-CXR rows `[file name,
sentence, labels joined with ", ", x, y, w, h, width, height]` of the studies whose image is in
IMAGE_DIR (sizes read with Pillow), and per such image the IoU of the union of reader 1's boxes with
the union of reader 2's, rasterised with numpy (a pixel belongs to a box when its centre lies inside,
edges included).

usage: check_padchest_gr.py FILE.json IMAGE_DIR
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def union_mask(boxes, width, height):
    mask = np.zeros((height, width), dtype=bool)
    xs = np.arange(width) + 0.5
    ys = np.arange(height) + 0.5
    for x1, y1, x2, y2 in boxes:
        cols = (xs >= x1 * width) & (xs <= x2 * width)
        rows = (ys >= y1 * height) & (ys <= y2 * height)
        mask |= rows[:, None] & cols[None, :]
    return mask


def main(path, image_dir):
    with open(path) as f:
        studies = json.load(f)
    rows = {"1": [], "2": []}
    image_iou = {}
    for study in studies:
        name = study["ImageID"]
        file = os.path.join(image_dir, name)
        if not os.path.exists(file):
            continue
        width, height = Image.open(file).size
        per_reader = {"1": [], "2": []}
        for finding in study.get("findings") or []:
            sentence = (finding.get("sentence_en") or finding.get("sentence_es")).strip()
            labels = ", ".join(finding.get("labels") or [])
            for reader, key in (("1", "boxes"), ("2", "extra_boxes")):
                for box in finding.get(key) or []:
                    x1, y1, x2, y2 = [min(max(float(v), 0.0), 1.0) for v in box]
                    per_reader[reader].append((x1, y1, x2, y2))
                    rows[reader].append([name, sentence, labels, x1 * width, y1 * height,
                                         (x2 - x1) * width, (y2 - y1) * height, width, height])
        if per_reader["1"] or per_reader["2"]:
            a = union_mask(per_reader["1"], width, height)
            b = union_mask(per_reader["2"], width, height)
            union = np.count_nonzero(a | b)
            image_iou[name] = float(np.count_nonzero(a & b)) / union if union else 0.0
    print(json.dumps({"rows": rows, "image_iou": image_iou}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
