#!/usr/bin/env python3
"""A TID 1500 Measurement Report written by highdicom (not by Voxmark) on a corpus CT, for
tests/sr.rs to import: a closed polygon with its Area and mean attenuation (HU, derivation Mean), a
rectangle, a ruler (an open two-point POLYLINE in a Length NUM) and a point, by a person observer,
with a finding per group. The values are measured here, with pydicom and numpy: the area and length
from the SCOORD and PixelSpacing, the mean from the HU of the pixels whose centres lie inside.

    python3 tools/make_highdicom_sr.py CT_FOLDER OUT.dcm

Prints one JSON line: per group its tracking UID, graphic type, points (SCOORD column, row), the
SOPInstanceUID of its image, its finding's meaning and its measurements (name, value, unit)."""
import glob
import json
import sys
import warnings

import highdicom as hd
import numpy as np
import pydicom
from highdicom.sr.coding import CodedConcept
from pydicom.pixels import apply_modality_lut
from pydicom.sr.codedict import codes

from check_region_stats import inside

warnings.simplefilter("ignore")


def main(folder, out):
    images = [pydicom.dcmread(f) for f in sorted(glob.glob(folder + "/*.dcm"))]
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Reader^Two"),
    )
    context = hd.sr.ObservationContext(observer_person_context=observer)
    hu = CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")
    groups, expected = [], []

    def group(n, graphic, points, finding, measurements, tracking):
        image = images[n]
        region = hd.sr.ImageRegion(
            graphic_type=getattr(hd.sr.GraphicTypeValues, graphic),
            graphic_data=np.array(points, dtype=float),
            source_image=hd.sr.SourceImageForRegion.from_source_image(image),
        )
        uid = hd.UID()
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=tracking),
            referenced_region=region,
            finding_type=CodedConcept(finding[0], "SCT", finding[1]),
            measurements=measurements,
        ))
        expected.append({
            "tracking_uid": str(uid), "graphic_type": graphic, "points": points,
            "sop_instance_uid": str(image.SOPInstanceUID), "finding": finding[1],
            "measurements": [[m.name.meaning, float(m.value), m.unit.value] for m in measurements],
        })

    def spacing(n):  # (column, row) spacing in mm
        ps = images[n].PixelSpacing
        return float(ps[1]), float(ps[0])

    poly = [[120.5, 140.25], [200.75, 150.5], [170.25, 230.75], [120.5, 140.25]]
    sx, sy = spacing(0)
    twice = sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(poly, poly[1:]))
    area = abs(twice) / 2 * sx * sy
    hu_values = apply_modality_lut(images[0].pixel_array, images[0]).astype(float)
    ring = [[x - 0.5, y - 0.5] for x, y in poly[:-1]]  # pixel centres at whole numbers
    rows, cols = hu_values.shape
    inside_values = [hu_values[r, c] for r in range(rows) for c in range(cols)
                     if 139 <= r <= 231 and 119 <= c <= 201 and inside(ring, c, r)]
    mean = float(np.mean(inside_values))
    group(0, "POLYLINE", poly, ("4147007", "Mass"), [
        hd.sr.Measurement(name=codes.SCT.Area, value=area, unit=codes.UCUM.SquareMillimeter),
        hd.sr.Measurement(name=CodedConcept("112031", "DCM", "Attenuation Coefficient"), value=mean,
                          unit=hu, derivation=CodedConcept("373098007", "SCT", "Mean")),
    ], "lesion 1")
    rect = [[300.5, 310.5], [360.5, 310.5], [360.5, 350.5], [300.5, 350.5], [300.5, 310.5]]
    group(1, "POLYLINE", rect, ("52988006", "Lesion"), [], "lesion 2")
    sx, sy = spacing(1)
    length = float(np.hypot(100.0 * sx, 50.0 * sy))
    group(1, "POLYLINE", [[50.5, 60.5], [150.5, 110.5]], ("52988006", "Lesion"), [
        hd.sr.Measurement(name=codes.SCT.Length, value=length, unit=codes.UCUM.Millimeter),
    ], "ruler 1")
    group(2, "POINT", [[256.5, 300.5]], ("52988006", "Lesion"), [], "point 1")
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=images, content=report, series_number=99, series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="highdicom",
        specific_character_set="ISO_IR 192",
    )
    sr.save_as(out)
    print(json.dumps(expected))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
