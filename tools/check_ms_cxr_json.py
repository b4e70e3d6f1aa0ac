#!/usr/bin/env python3
"""Reads an MS-CXR COCO-style JSON with pycocotools and turns it into MS-CXR CSV rows the way
MS-CXR's own conversion does (`dicom_id` = the stem of `file_name`, one row per annotation, the
category's name, `label_text`, the image's `path`, `width` and `height`). Prints the rows as JSON on
the last line, for the tests to compare with `voxmark export --format ms-cxr`.

usage: check_ms_cxr_json.py FILE.json
"""
import json
import sys
from pathlib import Path

from pycocotools.coco import COCO


def main(path):
    coco = COCO(annotation_file=path)
    rows = []
    for img_id, anns in coco.imgToAnns.items():
        img = coco.loadImgs(img_id)[0]
        for ann in anns:
            x, y, w, h = ann["bbox"]
            rows.append({
                "dicom_id": Path(img["file_name"]).stem,
                "category_name": coco.loadCats(ann["category_id"])[0]["name"],
                "label_text": ann["label_text"],
                "path": img["path"],
                "x": x, "y": y, "w": w, "h": h,
                "image_width": img["width"], "image_height": img["height"],
            })
    print(json.dumps(rows))


if __name__ == "__main__":
    main(sys.argv[1])
