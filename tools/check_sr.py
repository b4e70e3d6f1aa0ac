#!/usr/bin/env python3
"""Reads a DICOM SR TID 1500 Measurement Report with highdicom and prints what it holds as JSON on
its last line, for the tests to compare with the regions that were exported (or with Voxmark's own
reading of a report someone else wrote):

{"observers": [{"type": "Person"|"Device", "name": ...}],
 "planar": [{"tracking_id", "tracking_uid", "finding": [value, scheme, meaning] | null,
             "graphic_type", "points": [[col, row], ...], "image": {"sop_instance_uid", "frame"},
             "measurements": [{"name", "value", "unit", "derivation"}], "algorithm": [name, version] | null}],
 "volumetric": [{..., "segment": {"sop_instance_uid", "segment_number"}, "source_series"}]}

usage: check_sr.py REPORT.dcm
"""
import json
import sys

import warnings

import highdicom as hd

warnings.simplefilter("ignore")


def code(c):
    return None if c is None else [c.value, c.scheme_designator, c.meaning]


def measurements(group):
    out = []
    for m in group.get_measurements():
        derivation = None
        if m.derivation is not None:
            derivation = m.derivation.meaning
        out.append({"name": m.name.meaning, "code": code(m.name), "value": float(m.value),
                    "unit": m.unit.value, "derivation": derivation})
    return out


def algorithm(group):
    """TID 4019 Algorithm Identification: highdicom writes it into groups but has no accessor."""
    found = {}
    for item in group[0].ContentSequence:
        if item.ValueType == "TEXT" and item.ConceptNameCodeSequence[0].CodeValue in ("111001", "111003"):
            found[item.ConceptNameCodeSequence[0].CodeValue] = item.TextValue
    if "111001" not in found:
        return None
    return [found["111001"], found.get("111003")]


def common(group):
    return {
        "tracking_id": group.tracking_identifier,
        "tracking_uid": str(group.tracking_uid) if group.tracking_uid else None,
        "finding": code(group.finding_type),
        "measurements": measurements(group),
        "algorithm": algorithm(group),
    }


def main(path):
    sr = hd.sr.srread(path)
    report = sr.content
    out = {"observers": [], "planar": [], "volumetric": []}
    for ctx in report.get_observer_contexts():
        kind = ctx.observer_type.meaning
        attrs = ctx.observer_identifying_attributes
        if kind == "Person":
            name = str(attrs.name)
        else:
            name = attrs.name
        out["observers"].append({"type": kind, "name": name})
    for g in report.get_planar_roi_measurement_groups():
        entry = common(g)
        roi = g.roi
        entry["graphic_type"] = roi.graphic_type.value
        entry["points"] = [[float(x), float(y)] for x, y in roi.value]
        src = roi.ReferencedSOPSequence[0] if "ReferencedSOPSequence" in roi else \
            roi.ContentSequence[0].ReferencedSOPSequence[0]
        entry["image"] = {"sop_instance_uid": str(src.ReferencedSOPInstanceUID),
                          "frame": int(src.ReferencedFrameNumber) if "ReferencedFrameNumber" in src else None}
        out["planar"].append(entry)
    for g in report.get_volumetric_roi_measurement_groups():
        entry = common(g)
        seg = g.referenced_segment
        if seg is not None:
            numbers = seg.referenced_segment_numbers
            series = seg.source_series_for_segmentation
            entry["segment"] = {"sop_instance_uid": str(seg.referenced_sop_instance_uid),
                                "segment_number": int(numbers[0]) if numbers else None}
            entry["source_series"] = None if series is None else str(series.value)
        out["volumetric"].append(entry)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
