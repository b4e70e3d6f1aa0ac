#!/usr/bin/env python3
"""Reference geometry and pixel statistics for the Voxmark test corpus.

Walks a corpus folder (argv[1], else $VOXMARK_TEST_DATA, else /work/shared/data) and
writes a JSON file (--out, default stdout) with, for every image in it, the geometry and
value statistics computed by REFERENCE libraries only (SimpleITK, pydicom with
pylibjpeg/GDCM, nibabel, Pillow, numpy). Nothing from Voxmark itself is used: the Rust
reader is checked against this output.

Needed packages (pip): pydicom SimpleITK nibabel pillow numpy pylibjpeg
pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle python-gdcm

Rules (summary; see the brief in the project history for the full text):
* DICOM series folders (SERIES_FOLDERS) -> one entry of kind "dicom-series". Series IDs
  from SimpleITK/GDCM (GetGDCMSeriesIDs), per sub-folder for the recursive folder, merged
  by series UID; each series' sorted files from GetGDCMSeriesFileNames(folder, uid,
  recursive=...). Geometry from SimpleITK's ImageSeriesReader, values from pydicom
  (apply_modality_lut on each file in SimpleITK's order).
* Any other DICOM file with pixel data -> kind "dicom-file", one volume. Geometry from
  SimpleITK.ReadImage, falling back to pydicom tags ("geometry_from").
* Non-image DICOM (SEG, SR, RT Plan/Struct, waveforms, RWVM, bulk annotations, DICOMDIR,
  anything without pixel data) -> "non_image". Undecodable/unparsable -> "unreadable".
* NIfTI -> kind "nifti" (nibabel geometry and values, SimpleITK geometry as cross-check).
* PNG/JPEG/TIFF -> kind "image2d" (Pillow).
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import nibabel
import PIL
from PIL import Image
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut
import SimpleITK as sitk

# Folders read as series (relative to the corpus root); the bool says "recursive".
SERIES_FOLDERS = {
    "dicom/series/ct_abdomen_20sl_j2kr": False,
    "dicom/series/mr_prostate_adc_20sl": False,
    "dicom/seg_sr/dcmqi_ct3slice/image": False,
    "dicom/pydicom_test_files/dicomdirtests": True,
}

SKIP_EXT = (".onnx", ".json", ".csv", ".xml", ".md", ".txt", ".zst")
SKIP_DIRS = ("cxr/annotations", "grounding")
NIFTI_EXT = (".nii", ".nii.gz")
IMAGE2D_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

DICOMDIR_SOP = "1.2.840.10008.1.3.10"
NON_IMAGE_SOP_EXACT = {
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.66.7",  # Label Map Segmentation
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
    "1.2.840.10008.5.1.4.1.1.481.8",  # RT Ion Plan
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.67",  # Real World Value Mapping
    "1.2.840.10008.5.1.4.1.1.91.1",  # Microscopy Bulk Simple Annotations
    DICOMDIR_SOP,
}
NON_IMAGE_SOP_PREFIX = (
    "1.2.840.10008.5.1.4.1.1.88.",  # any SR
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms
)

IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# The corpus root, replaced by "<data>" in error reasons: reasons are compared between machines,
# where the corpus lives at different paths.
DATA_ROOT = None


def reason_of(exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    if DATA_ROOT:
        text = text.replace(DATA_ROOT, "<data>")
    return text[:200]


def fl(values):
    return [float(v) for v in values]


def stats_of(arr):
    """min/max/mean over everything, as float64, ignoring NaN; returns (stats, nan_count)."""
    a = np.asarray(arr, dtype=np.float64)
    nan_count = int(np.count_nonzero(np.isnan(a)))
    if a.size == 0 or nan_count == a.size:
        return {"min": None, "max": None, "mean": None}, nan_count
    if nan_count:
        return {"min": float(np.nanmin(a)), "max": float(np.nanmax(a)),
                "mean": float(np.nanmean(a))}, nan_count
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean())}, 0


# ----------------------------------------------------------------------------- SimpleITK

def sitk_geometry(img):
    """size/spacing/origin/direction of a SimpleITK image (or reader), padded/cut to 3D."""
    dim = img.GetDimension()
    size = list(img.GetSize())
    spacing = list(img.GetSpacing())
    origin = list(img.GetOrigin())
    d = list(img.GetDirection())
    direction = [[1.0 if r == c else 0.0 for c in range(3)] for r in range(3)]
    for r in range(min(dim, 3)):
        for c in range(min(dim, 3)):
            direction[r][c] = d[r * dim + c]
    while len(size) < 3:
        size.append(1)
        spacing.append(1.0)
        origin.append(0.0)
    return {
        "size": [int(v) for v in size[:3]],
        "spacing_mm": fl(spacing[:3]),
        "origin_lps_mm": fl(origin[:3]),
        "direction": fl(sum(direction, [])),
    }


# ----------------------------------------------------------------------------- pydicom

class NotDicom(Exception):
    pass


def read_dicom(path):
    """Returns (dataset, forced) or raises. Tries force=False first; for files with a .dcm
    extension or no extension, retries with force=True (files without preamble/meta)."""
    try:
        return pydicom.dcmread(path, force=False), False
    except Exception as first:
        base = os.path.basename(path)
        if not (base.lower().endswith(".dcm") or "." not in base):
            raise
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as second:
            raise RuntimeError("dcmread(force=False): %s; dcmread(force=True): %s"
                               % (reason_of(first), reason_of(second)))
        # A forced read of a non-DICOM file yields garbage: require an SOP class or pixel data.
        ok = False
        try:
            ok = ("SOPClassUID" in ds and str(ds.SOPClassUID).startswith("1.")) or "PixelData" in ds
        except Exception:
            ok = False
        if not ok and not base.lower().endswith(".dcm"):
            raise NotDicom("force-read found no SOP Class UID / PixelData")
        if not ok:
            raise RuntimeError("no DICM preamble; dcmread(force=False): %s; dcmread(force=True) "
                               "parsed %d top-level elements and no SOP Class UID"
                               % (reason_of(first), len(ds)))
        return ds, True


def has_dicm(path):
    try:
        with open(path, "rb") as f:
            head = f.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def sop_class_of(ds):
    for getter in (lambda: ds.SOPClassUID,
                   lambda: ds.file_meta.MediaStorageSOPClassUID):
        try:
            v = getter()
            if v:
                return str(v)
        except Exception:
            pass
    return None


def is_dicomdir(ds):
    try:
        if "DirectoryRecordSequence" in ds:
            return True
    except Exception:
        pass
    return sop_class_of(ds) == DICOMDIR_SOP


def non_image_reason(ds):
    """None if the object is an image, otherwise a short reason."""
    if is_dicomdir(ds):
        return "DICOMDIR"
    sop = sop_class_of(ds) or ""
    if sop in NON_IMAGE_SOP_EXACT or sop.startswith(NON_IMAGE_SOP_PREFIX):
        return "SOP class"
    try:
        has_px = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    except Exception:
        has_px = False
    if not has_px:
        return "no PixelData"
    return None


def tag(ds, name, default=None):
    try:
        v = ds.get(name, default)
        return default if v is None else v
    except Exception:
        return default


def transfer_syntax_of(ds):
    try:
        return str(ds.file_meta.TransferSyntaxUID)
    except Exception:
        return None


def decode_values(ds):
    """Decoded values (float64) as pydicom gives them, plus info about the decode."""
    arr = ds.pixel_array
    spp = int(tag(ds, "SamplesPerPixel", 1) or 1)
    photometric = str(tag(ds, "PhotometricInterpretation", "") or "")
    info = {}
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        desc = ds.RedPaletteColorLookupTableDescriptor
        if int(desc[2]) == 16:
            rgb = np.right_shift(rgb.astype(np.uint16), 8)
        info["palette"] = True
        return np.asarray(rgb, dtype=np.float64), 3, info
    vals = apply_modality_lut(arr, ds)
    return np.asarray(vals, dtype=np.float64), spp, info


def rescale_in_functional_groups(ds):
    """True when the rescale lives only in (Shared|PerFrame)FunctionalGroupsSequence /
    PixelValueTransformationSequence, which apply_modality_lut does not look at."""
    try:
        if "RescaleSlope" in ds or "ModalityLUTSequence" in ds:
            return False
        for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            for item in ds.get(group, []) or []:
                for pvt in item.get("PixelValueTransformationSequence", []) or []:
                    slope = float(pvt.get("RescaleSlope", 1) or 1)
                    inter = float(pvt.get("RescaleIntercept", 0) or 0)
                    if slope != 1.0 or inter != 0.0:
                        return True
    except Exception:
        return False
    return False


WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"


def functional_group_rescale(ds):
    """(slope, intercept) of the first PixelValueTransformationSequence in the functional groups."""
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(group, []) or []:
            for pvt in item.get("PixelValueTransformationSequence", []) or []:
                return float(pvt.get("RescaleSlope", 1) or 1), float(pvt.get("RescaleIntercept", 0) or 0)
    return 1.0, 0.0


def wsi_pixel_spacing(ds):
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(group, []) or []:
            for pm in item.get("PixelMeasuresSequence", []) or []:
                if "PixelSpacing" in pm:
                    return [float(x) for x in pm.PixelSpacing]
    return None


def sample_points(size):
    """Voxel positions (x, y, z) where values are sampled: a 5x5 grid on the first, middle and last
    slice. tests/reference_corpus.rs computes the same positions."""
    fx = [0.0, 0.25, 0.5, 0.75, 1.0]
    fz = [0.0, 0.5, 1.0]
    pts = []
    for h in fz:
        for g in fx:
            for f in fx:
                p = (int(f * (size[0] - 1)), int(g * (size[1] - 1)), int(h * (size[2] - 1)))
                if p not in pts:
                    pts.append(p)
    return pts


def sampled(arr_zyxc, size):
    """{"samples": [[x, y, z, [v per component]]...], "component_means": [...]} of a (Z, Y, X, C) array."""
    a = np.asarray(arr_zyxc, dtype=np.float64)
    out = []
    for (x, y, z) in sample_points(size):
        v = a[z, y, x]
        out.append([x, y, z, [float(t) for t in np.atleast_1d(v)]])
    means = [float(np.nanmean(a[..., c])) for c in range(a.shape[-1])]
    return {"samples": out, "component_means": means}


def as_zyxc(vals, comps, size):
    """Reshape decoded values into (Z, Y, X, C) using the volume size [x, y, z]."""
    return np.asarray(vals, dtype=np.float64).reshape(size[2], size[1], size[0], comps)


def pydicom_geometry(ds, n_frames):
    """Geometry from ImagePositionPatient/ImageOrientationPatient/PixelSpacing (top level,
    else the shared / first per-frame functional groups); defaults origin 0, identity,
    spacing 1."""
    def fg(seq_name, attr):
        for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            try:
                item = getattr(ds, group)[0]
                return getattr(getattr(item, seq_name)[0], attr)
            except Exception:
                continue
        return None

    ps = tag(ds, "PixelSpacing") or fg("PixelMeasuresSequence", "PixelSpacing")
    ipp = tag(ds, "ImagePositionPatient") or fg("PlanePositionSequence", "ImagePositionPatient")
    iop = tag(ds, "ImageOrientationPatient") or fg("PlaneOrientationSequence", "ImageOrientationPatient")
    spacing = [1.0, 1.0, 1.0]
    if ps is not None and len(ps) == 2:
        spacing[0], spacing[1] = float(ps[1]), float(ps[0])  # columns (x), rows (y)
    origin = fl(ipp) if ipp is not None and len(ipp) == 3 else [0.0, 0.0, 0.0]
    direction = list(IDENTITY)
    if iop is not None and len(iop) == 6:
        r = np.array(fl(iop[:3]))
        c = np.array(fl(iop[3:]))
        n = np.cross(r, c)
        direction = fl(np.stack([r, c, n], axis=1).ravel())
    return {
        "size": [int(ds.Columns), int(ds.Rows), int(n_frames)],
        "spacing_mm": spacing,
        "origin_lps_mm": origin,
        "direction": direction,
    }


# ----------------------------------------------------------------------------- handlers

class Corpus:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        global DATA_ROOT
        DATA_ROOT = self.root
        self.entries = []
        self.non_image = []
        self.unreadable = []
        self.skipped = []  # (path, why) - not reported in JSON, only on stderr
        self.sitk_failed = []
        self.nifti_geometry_diff = []
        self.single_slice_z = []

    def rel(self, path):
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def add_unreadable(self, rel, reason):
        self.unreadable.append({"path": rel, "reason": reason[:200]})
        log("  unreadable: %s" % reason[:200])

    def add_non_image(self, rel, ds, why):
        sop = DICOMDIR_SOP if why == "DICOMDIR" else sop_class_of(ds)
        item = {"path": rel, "sop_class": sop}
        if why != "DICOMDIR":
            mod = tag(ds, "Modality")
            item["modality"] = str(mod) if mod else None
        self.non_image.append(item)
        log("  non_image (%s): %s" % (why, sop))

    # -- single DICOM file
    def classify_dicom(self, path):
        """Returns (ds, forced) for an image object; records non-image / unreadable objects
        and returns None for them."""
        rel = self.rel(path)
        try:
            ds, forced = read_dicom(path)
        except NotDicom as e:
            self.skipped.append(rel)
            log("  skipped: not DICOM (%s)" % e)
            return None
        except Exception as e:
            self.add_unreadable(rel, reason_of(e))
            return None
        try:
            why = non_image_reason(ds)
        except Exception as e:
            self.add_unreadable(rel, reason_of(e))
            return None
        if why:
            self.add_non_image(rel, ds, why)
            return None
        return ds, forced

    def dicom_file(self, path):
        rel = self.rel(path)
        got = self.classify_dicom(path)
        if got is None:
            return
        ds, forced = got
        try:
            vals, comps, info = decode_values(ds)
        except Exception as e:
            self.add_unreadable(rel, reason_of(e))
            return
        try:
            n_frames = int(tag(ds, "NumberOfFrames", 1) or 1)
        except Exception:
            n_frames = 1
        vol = {"series_uid": str(tag(ds, "SeriesInstanceUID")) if tag(ds, "SeriesInstanceUID") else None}
        try:
            img = sitk.ReadImage(path)
            vol.update(sitk_geometry(img))
            vol["geometry_from"] = "SimpleITK"
            vol["sitk_components"] = int(img.GetNumberOfComponentsPerPixel())
            vol["sitk_pixel_type"] = img.GetPixelIDTypeAsString()
        except Exception as e:
            vol.update(pydicom_geometry(ds, n_frames))
            vol["geometry_from"] = "pydicom"
            vol["sitk_error"] = reason_of(e)
            self.sitk_failed.append((rel, reason_of(e)))
        st, nan_count = stats_of(vals)
        vol["components"] = int(comps)
        vol["stats"] = st
        try:
            fs = functional_group_rescale(ds) if rescale_in_functional_groups(ds) else (1.0, 0.0)
            vol.update(sampled(as_zyxc(vals, comps, vol["size"]) * fs[0] + fs[1], vol["size"]))
        except Exception as e:
            vol["samples_error"] = reason_of(e)
        if nan_count:
            vol["nan_count"] = nan_count
        vol["transfer_syntax"] = transfer_syntax_of(ds)
        vol["photometric"] = str(tag(ds, "PhotometricInterpretation")) if tag(ds, "PhotometricInterpretation") else None
        vol["sop_class"] = sop_class_of(ds)
        vol["frames"] = n_frames
        vol.update(info)
        if rescale_in_functional_groups(ds):
            # pydicom's apply_modality_lut only uses top-level Rescale*/Modality LUT: apply the
            # functional groups' PixelValueTransformationSequence here, from pydicom's own values.
            vol["rescale_in_functional_groups"] = True
            slope, inter = functional_group_rescale(ds)
            raw = decode_values(ds)[0]
            st_m, _ = stats_of(raw * slope + inter)
            vol["stats_modality"] = st_m
            vol["stats_modality_from"] = "pydicom values x PixelValueTransformationSequence (%r, %r)" % (slope, inter)
        if sop_class_of(ds) == WSI_SOP_CLASS and vol.get("geometry_from") == "SimpleITK":
            # GDCM does not read the pixel measures of whole-slide microscopy (it reports 1 mm):
            # take PixelSpacing from the shared functional groups with pydicom.
            ps = wsi_pixel_spacing(ds)
            if ps is not None:
                vol["spacing_mm"] = [float(ps[1]), float(ps[0]), vol["spacing_mm"][2]]
                vol["geometry_from"] = "SimpleITK, pixel spacing from pydicom (GDCM ignores WSI pixel measures)"
        if forced:
            vol["read_with_force"] = True
        if n_frames == 1 and vol["geometry_from"] == "SimpleITK":
            self.single_slice_z.append((rel, vol["spacing_mm"][2], tag(ds, "SliceThickness"),
                                        tag(ds, "SpacingBetweenSlices")))
        self.entries.append({"path": rel, "kind": "dicom-file", "volumes": [vol]})
        log("  dicom-file %s comps=%d min=%r max=%r" % (vol["size"], comps, st["min"], st["max"]))

    # -- DICOM series folder
    def dicom_series(self, folder, recursive, files):
        rel = self.rel(folder)
        dirs = [folder]
        if recursive:
            dirs = sorted(d for d, _, _ in os.walk(folder))
        uids = set()
        for d in dirs:
            uids.update(sitk.ImageSeriesReader.GetGDCMSeriesIDs(d))
        in_series = set()
        volumes = []
        groups = []
        for uid in sorted(uids):
            names = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(
                folder, uid, False, recursive, False))
            in_series.update(os.path.abspath(n) for n in names)
            # GDCM groups by SeriesInstanceUID alone. A series that mixes orientations or matrix
            # sizes cannot be one grid: split it (keeping GDCM's order inside each part), as Voxmark
            # does, and let SimpleITK read each part.
            parts = {}
            for n in names:
                h = pydicom.dcmread(n, stop_before_pixels=True)
                iop = tuple(round(float(x), 4) + 0.0 for x in (h.get("ImageOrientationPatient") or []))
                parts.setdefault((iop, int(h.get("Rows", 0)), int(h.get("Columns", 0))), []).append(n)
            if len(parts) > 1:
                log("  series %s mixes %d orientations/sizes: split" % (uid, len(parts)))
            for part in parts.values():
                groups.append((uid, part))
        for uid, names in groups:
            rel_names = [self.rel(n) for n in names]
            log("  series %s: %d files: %s" % (uid, len(names), " ".join(rel_names)))
            vol = {"series_uid": uid}
            try:
                reader = sitk.ImageSeriesReader()
                reader.SetFileNames(names)
                img = reader.Execute()
                vol.update(sitk_geometry(img))
                vol["geometry_from"] = "SimpleITK"
                vol["sitk_components"] = int(img.GetNumberOfComponentsPerPixel())
            except Exception as e:
                self.add_unreadable(rel + " [series " + uid + "]", "SimpleITK: " + reason_of(e))
                continue
            chunks, tsyn, phot, sops, comps = [], [], [], [], []
            try:
                for n in names:
                    ds = pydicom.dcmread(n)
                    v, c, _ = decode_values(ds)
                    chunks.append(v.ravel())
                    comps.append(c)
                    tsyn.append(transfer_syntax_of(ds))
                    phot.append(str(tag(ds, "PhotometricInterpretation", "")) or None)
                    sops.append(sop_class_of(ds))
            except Exception as e:
                self.add_unreadable(rel + " [series " + uid + "]", "pydicom %s: %s" % (self.rel(n), reason_of(e)))
                continue
            st, nan_count = stats_of(np.concatenate(chunks))
            try:
                vol.update(sampled(as_zyxc(np.concatenate(chunks), int(comps[0]), vol["size"]), vol["size"]))
            except Exception as e:
                vol["samples_error"] = reason_of(e)

            def one(values, key):
                u = sorted(set(x for x in values if x is not None))
                if len(u) > 1:
                    vol[key + "_all"] = u
                    return None
                return u[0] if u else None

            vol["components"] = int(comps[0]) if len(set(comps)) == 1 else None
            vol["stats"] = st
            if nan_count:
                vol["nan_count"] = nan_count
            vol["transfer_syntax"] = one(tsyn, "transfer_syntax")
            vol["photometric"] = one(phot, "photometric")
            vol["sop_class"] = one(sops, "sop_class")
            vol["frames"] = None
            vol["files"] = rel_names
            volumes.append(vol)
            log("  -> size %s spacing %s min=%r max=%r mean=%r" % (
                vol["size"], vol["spacing_mm"], st["min"], st["max"], st["mean"]))
        volumes.sort(key=lambda v: (v["series_uid"], v["origin_lps_mm"]))
        self.entries.append({"path": rel, "kind": "dicom-series", "volumes": volumes})
        # Files of the folder that are in no series: classify only (non_image / unreadable).
        for f in files:
            if os.path.abspath(f) in in_series or not self.looks_dicom_candidate(f):
                continue
            log("%s (in series folder, not in a series)" % self.rel(f))
            got = self.classify_dicom(f)
            if got is not None:
                # An image object that GDCM put in no series: report as unreadable.
                self.add_unreadable(self.rel(f), "image object in series folder but in no GDCM series")

    # -- NIfTI
    def nifti(self, path):
        rel = self.rel(path)
        try:
            img = nibabel.load(path)
            shape = img.shape
            aff = np.array(img.affine, dtype=np.float64)
            lps = aff.copy()
            lps[0, :] *= -1.0
            lps[1, :] *= -1.0
            m = lps[:3, :3]
            spacing = np.linalg.norm(m, axis=0)
            direction = m / np.where(spacing == 0, 1.0, spacing)
            if len(shape) > 3:
                data = img.dataobj[(Ellipsis,) + (0,) * (len(shape) - 3)]
            else:
                data = img.dataobj[...]
            data = np.asanyarray(data)
            if data.dtype.names:  # RGB(A) structured dtype
                comps = len(data.dtype.names)
                data = np.stack([data[n] for n in data.dtype.names], axis=-1)
            else:
                comps = 1
            st, nan_count = stats_of(np.asarray(data, dtype=np.float64))
        except Exception as e:
            self.add_unreadable(rel, reason_of(e))
            return
        size = list(shape[:3]) + [1] * (3 - len(shape[:3]))
        vol = {
            "series_uid": None,
            "size": [int(v) for v in size],
            "spacing_mm": fl(spacing),
            "origin_lps_mm": fl(lps[:3, 3]),
            "direction": fl(direction.ravel()),
            "components": comps,
            "stats": st,
            "transfer_syntax": None,
            "photometric": None,
            "sop_class": None,
            "frames": None,
            "geometry_from": "nibabel",
            "nifti_dtype": str(img.get_data_dtype()),
            "sform_code": int(img.header["sform_code"]),
            "qform_code": int(img.header["qform_code"]),
        }
        if nan_count:
            vol["nan_count"] = nan_count
        try:
            r = sitk.ImageFileReader()
            r.SetFileName(path)
            r.ReadImageInformation()
            g = sitk_geometry(r)
            vol["sitk_origin_lps_mm"] = g["origin_lps_mm"]
            vol["sitk_direction"] = g["direction"]
            vol["sitk_spacing_mm"] = g["spacing_mm"]
            diff = max(
                float(np.max(np.abs(np.array(g["origin_lps_mm"]) - np.array(vol["origin_lps_mm"])))),
                float(np.max(np.abs(np.array(g["direction"]) - np.array(vol["direction"])))),
                float(np.max(np.abs(np.array(g["spacing_mm"]) - np.array(vol["spacing_mm"])))),
            )
            if diff > 1e-4:
                self.nifti_geometry_diff.append((rel, diff))
                log("  SimpleITK geometry differs from nibabel by %.6g" % diff)
        except Exception as e:
            vol["sitk_origin_lps_mm"] = None
            vol["sitk_direction"] = None
            vol["sitk_spacing_mm"] = None
            vol["sitk_error"] = reason_of(e)
        entry = {"path": rel, "kind": "nifti", "volumes": [vol]}
        if len(shape) > 3:
            entry["volumes_4d"] = int(np.prod(shape[3:]))
        try:
            d4 = np.asarray(data, dtype=np.float64).reshape(size[0], size[1], size[2], comps)
            vol.update(sampled(d4.transpose(2, 1, 0, 3), vol["size"]))
        except Exception as e:
            vol["samples_error"] = reason_of(e)
        self.entries.append(entry)
        log("  nifti %s (shape %s) min=%r max=%r" % (vol["size"], list(shape), st["min"], st["max"]))

    # -- 2D raster images
    def image2d(self, path):
        rel = self.rel(path)
        try:
            with Image.open(path) as im:
                im.load()
                mode = im.mode
                arr = np.asarray(im)
                w, h = im.size
        except Exception as e:
            self.add_unreadable(rel, reason_of(e))
            return
        comps = 1 if arr.ndim == 2 else int(arr.shape[-1])
        st, nan_count = stats_of(arr)
        vol = {
            "series_uid": None,
            "size": [int(w), int(h), 1],
            "spacing_mm": [1.0, 1.0, 1.0],
            "origin_lps_mm": [0.0, 0.0, 0.0],
            "direction": list(IDENTITY),
            "components": comps,
            "stats": st,
            "transfer_syntax": None,
            "photometric": None,
            "sop_class": None,
            "frames": None,
            "pil_mode": mode,
        }
        vol.update(sampled(np.asarray(arr, dtype=np.float64).reshape(1, int(h), int(w), comps), vol["size"]))
        self.entries.append({"path": rel, "kind": "image2d", "volumes": [vol]})
        log("  image2d %s mode=%s min=%r max=%r" % (vol["size"], mode, st["min"], st["max"]))

    # -- walk
    def looks_dicom_candidate(self, path):
        base = os.path.basename(path).lower()
        if base.endswith(SKIP_EXT) or base.endswith(NIFTI_EXT) or base.endswith(IMAGE2D_EXT):
            return False
        if base.endswith(".dcm") or "." not in base or has_dicm(path):
            return True
        try:
            pydicom.dcmread(path, force=False, stop_before_pixels=True)
            return True
        except Exception:
            return False

    def run(self):
        all_files = []
        for d, dirs, files in os.walk(self.root):
            dirs.sort()
            for f in files:
                all_files.append(os.path.join(d, f))
        all_files.sort(key=self.rel)
        series_roots = {os.path.join(self.root, k): v for k, v in SERIES_FOLDERS.items()}
        series_files = {k: [] for k in series_roots}
        singles = []
        for p in all_files:
            rel = self.rel(p)
            if any(rel == s or rel.startswith(s + "/") for s in SKIP_DIRS):
                continue
            if rel.lower().endswith(SKIP_EXT):
                continue
            owner = None
            for root, rec in series_roots.items():
                rr = self.rel(root)
                if rel.startswith(rr + "/") and (rec or os.path.dirname(p) == root):
                    owner = root
            if owner:
                series_files[owner].append(p)
            else:
                singles.append(p)
        jobs = [(self.rel(r), "series", r) for r in series_roots if os.path.isdir(r)]
        jobs += [(self.rel(p), "file", p) for p in singles]
        jobs.sort()
        for i, (rel, what, p) in enumerate(jobs):
            t0 = time.time()
            log("[%d/%d] %s" % (i + 1, len(jobs), rel))
            low = rel.lower()
            if what == "series":
                self.dicom_series(p, series_roots[p], series_files[p])
            elif low.endswith(NIFTI_EXT):
                self.nifti(p)
            elif low.endswith(IMAGE2D_EXT):
                self.image2d(p)
            elif self.looks_dicom_candidate(p):
                self.dicom_file(p)
            else:
                self.skipped.append(rel)
                log("  skipped: not DICOM / not a known image format")
            dt = time.time() - t0
            if dt > 2:
                log("  (%.1f s)" % dt)
        self.entries.sort(key=lambda e: e["path"])
        self.non_image.sort(key=lambda e: e["path"])
        self.unreadable.sort(key=lambda e: e["path"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", nargs="?",
                    default=os.environ.get("VOXMARK_TEST_DATA") or "/work/shared/data")
    ap.add_argument("--out", default="-")
    args = ap.parse_args()
    if not os.path.isdir(args.corpus):
        sys.exit("corpus folder not found: %s" % args.corpus)

    warnings.simplefilter("ignore")
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    t0 = time.time()
    c = Corpus(args.corpus)
    c.run()
    doc = {
        "generator": "tools/reference.py",
        "versions": {
            "pydicom": pydicom.__version__,
            "SimpleITK": sitk.Version_VersionString(),
            "nibabel": nibabel.__version__,
            "PIL": PIL.__version__,
            "numpy": np.__version__,
        },
        "entries": c.entries,
        "non_image": c.non_image,
        "unreadable": c.unreadable,
    }
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        # One line for callers that read the result's summary (tests/reference_corpus.rs).
        print(json.dumps({"out": args.out, "entries": len(c.entries)}))

    n_vol = sum(len(e["volumes"]) for e in c.entries)
    log("")
    log("== summary (%.1f s) ==" % (time.time() - t0))
    kinds = {}
    for e in c.entries:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    log("entries: %d (%s), volumes: %d" % (len(c.entries), ", ".join(
        "%s %d" % kv for kv in sorted(kinds.items())), n_vol))
    log("non_image: %d" % len(c.non_image))
    log("unreadable: %d" % len(c.unreadable))
    for u in c.unreadable:
        log("  %s: %s" % (u["path"], u["reason"]))
    log("skipped (not DICOM / unknown format): %d %s" % (len(c.skipped), " ".join(c.skipped)))
    log("SimpleITK failed, geometry from pydicom: %d" % len(c.sitk_failed))
    for rel, why in c.sitk_failed:
        log("  %s: %s" % (rel, why))
    log("NIfTI with SimpleITK vs nibabel geometry difference > 1e-4: %d" % len(c.nifti_geometry_diff))
    for rel, d in c.nifti_geometry_diff:
        log("  %s: max abs diff %.6g" % (rel, d))
    log("single-frame DICOM files: SimpleITK z spacing / SliceThickness / SpacingBetweenSlices:")
    for rel, z, st, sbs in c.single_slice_z:
        log("  %s: %r / %s / %s" % (rel, z, st, sbs))


if __name__ == "__main__":
    main()
