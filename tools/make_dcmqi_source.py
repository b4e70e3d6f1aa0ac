#!/usr/bin/env python3
"""Writes a stand-in for the series a DICOM SEG was drawn on, when that series is not at hand.

The corpus's dcmqi TID 1500 report (`dicom/seg_sr/dcmqi_tid1500`) and its SEG were made on a PET
series of QIN-HEADNECK that is not in `../shared/data`. Everything a viewer needs to place the
segmentation is in the SEG itself: the referenced series and instance UIDs, the frame of reference,
and for each frame its source instance, position, orientation and pixel spacing. This script writes
one PET Image Storage file per referenced instance with exactly those identities and that geometry
(pydicom), so that the real report and the real SEG can be imported onto it.

The stand-in carries no activity: every pixel is 0 (the real PET values are not available, and none
are made up). The report's SUV values are therefore checked as the values it states, and the
segment's geometry through its volume.

Prints one JSON line: {"series_uid", "instances", "voxels", "volume_ml"} where voxels counts the
SEG's set pixels (numpy) and volume_ml = voxels × pixel spacing² × slice spacing / 1000.

usage: make_dcmqi_source.py SEG.dcm OUT_DIR
"""
import json
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"


def main(seg_path, out_dir):
    seg = pydicom.dcmread(seg_path)
    os.makedirs(out_dir, exist_ok=True)
    series = seg.ReferencedSeriesSequence[0]
    shared = seg.SharedFunctionalGroupsSequence[0]
    measures = shared.PixelMeasuresSequence[0]
    orientation = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    spacing = [float(v) for v in measures.PixelSpacing]
    thickness = float(measures.SliceThickness)
    between = float(getattr(measures, "SpacingBetweenSlices", thickness))
    # Each referenced instance at the position of the frame drawn on it.
    position_of = {}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        src = frame.DerivationImageSequence[0].SourceImageSequence[0]
        position_of[str(src.ReferencedSOPInstanceUID)] = [
            float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient
        ]
    instances = [str(i.ReferencedSOPInstanceUID) for i in series.ReferencedInstanceSequence]
    missing = [uid for uid in instances if uid not in position_of]
    if missing:
        sys.exit(f"{seg_path}: {len(missing)} referenced instance(s) have no frame to place them")
    for n, uid in enumerate(instances, start=1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = PET_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = PET_IMAGE_STORAGE
        ds.SOPInstanceUID = uid
        ds.Modality = "PT"
        ds.SeriesDescription = "stand-in for the series the dcmqi SEG was drawn on (no activity)"
        for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "StudyID",
                        "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                        "AccessionNumber", "ReferringPhysicianName"):
            if keyword in seg:
                setattr(ds, keyword, seg.data_element(keyword).value)
        ds.SeriesInstanceUID = str(series.SeriesInstanceUID)
        ds.SeriesNumber = 1
        ds.InstanceNumber = n
        ds.FrameOfReferenceUID = str(seg.FrameOfReferenceUID)
        ds.ImagePositionPatient = position_of[uid]
        ds.ImageOrientationPatient = orientation
        ds.PixelSpacing = spacing
        ds.SliceThickness = thickness
        ds.SpacingBetweenSlices = between
        ds.Rows, ds.Columns = int(seg.Rows), int(seg.Columns)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = np.zeros((ds.Rows, ds.Columns), dtype="<u2").tobytes()
        ds.save_as(os.path.join(out_dir, f"{n:03d}.dcm"), enforce_file_format=True)
    voxels = int(np.count_nonzero(seg.pixel_array))
    print(json.dumps({
        "series_uid": str(series.SeriesInstanceUID),
        "instances": len(instances),
        "voxels": voxels,
        "volume_ml": voxels * spacing[0] * spacing[1] * between / 1000.0,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
