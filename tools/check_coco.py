#!/usr/bin/env python3
"""Reads a COCO grounding file written by `voxmark export --format coco` with pycocotools and checks
what MDETR/GLIP-style training code relies on; prints a JSON summary (the Rust test compares it).

Checks: the index builds; every annotation's image exists; bbox is [x, y, w, h] with w, h > 0 inside
the image; area = w·h; every tokens_positive span lies inside its image's caption and the text at
that span equals the annotation's `phrase`.
"""
import json
import sys

from pycocotools.coco import COCO


def main(path):
    coco = COCO(path)
    problems = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann["image_id"])[0]
        x, y, w, h = ann["bbox"]
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= img["width"] + 1e-6 and y + h <= img["height"] + 1e-6):
            problems.append("annotation %d: bbox %r outside %dx%d" % (ann["id"], ann["bbox"], img["width"], img["height"]))
        if abs(ann["area"] - w * h) > 1e-6 * max(1.0, w * h):
            problems.append("annotation %d: area %r != w*h" % (ann["id"], ann["area"]))
        for start, end in ann["tokens_positive"]:
            if not (0 <= start < end <= len(img["caption"])):
                problems.append("annotation %d: span [%d, %d) outside the caption" % (ann["id"], start, end))
            elif img["caption"][start:end] != ann["phrase"]:
                problems.append("annotation %d: caption[%d:%d] = %r, phrase %r" % (ann["id"], start, end, img["caption"][start:end], ann["phrase"]))
    print(json.dumps({"images": len(coco.getImgIds()), "annotations": len(coco.getAnnIds()),
                      "categories": len(coco.getCatIds()), "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
