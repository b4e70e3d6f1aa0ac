#!/usr/bin/env python3
"""Times `voxmark info --json` against Python peers on a synthetic CT volume (ARCHITECTURE.md §10).

Generates once (cached in --out, default `bench-data/` in the repo root, git-ignored) a CT-like
512×512×N int16 volume and writes it as

  * a DICOM series (one file per slice, Explicit VR Little Endian, uint16 stored values with
    RescaleIntercept −1024 / RescaleSlope 1, one SeriesInstanceUID), with pydicom;
  * `ct_N.nii.gz` and `ct_N.nii` (int16 HU, RAS affine matching the DICOM geometry), with nibabel;
  * `ct_N.nrrd` (gzip) and `ct_N.mha` (zlib), the same HU volume in LPS, with SimpleITK.

Then, for each file set, runs every tool in a fresh child process (one warm-up, then best of --repeat)
and records wall time and peak RSS (`/usr/bin/time -f %M`, falling back to getrusage(RUSAGE_CHILDREN)).
voxmark is timed from outside (process start to exit). Peers are timed inside their child around the
load + min/max/mean work only (interpreter start and imports excluded, which favours the peers);
their whole-process wall time is kept in the JSON as `process_seconds`. Peak RSS is the whole child
process for everybody (for Python peers this includes the interpreter and the imported libraries,
whose footprint alone is recorded as `baseline_mb`).

Prints a table with voxmark/peer ratios and the target checks, and writes it to DIR/results.json.

Usage: python3 tools/bench_peers.py [--out DIR] [--slices 300] [--repeat 3] [--voxmark PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GEN_VERSION = 2  # bump when the generated data changes, to invalidate the cache

ROWS, COLS = 512, 512
PIXEL_SPACING_MM = (0.75, 0.75)  # (row spacing, column spacing)
SLICE_THICKNESS_MM = 1.25
ORIGIN_LPS_MM = (-191.625, -191.625, -120.0)  # centre of the first voxel of the first slice
INTERCEPT = -1024.0
SLOPE = 1.0


# ---------------------------------------------------------------------------------------------
# Data generation
# ---------------------------------------------------------------------------------------------


def ct_slice(k: int, n: int, rng):
    """One axial slice in HU (int16): air, a body ellipse with fat rim, soft tissue, lungs, spine, ribs, table."""
    import numpy as np

    y, x = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    cx, cy = COLS / 2, ROWS / 2 + 10
    t = k / max(n - 1, 1)  # 0 (feet side) .. 1 (head side)
    a = 200 - 25 * (t - 0.5) ** 2 * 4  # body half-width in pixels, a bit narrower at both ends
    b = 140 - 10 * (t - 0.5) ** 2 * 4
    hu = np.full((ROWS, COLS), -1000.0, dtype=np.float32)
    r_body = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2
    hu[r_body <= 1.0] = -100.0  # subcutaneous fat
    r_inner = ((x - cx) / (a - 18)) ** 2 + ((y - cy) / (b - 18)) ** 2
    hu[r_inner <= 1.0] = 40.0  # soft tissue
    if t > 0.55:  # lungs in the upper part
        for side in (-1, 1):
            r_lung = ((x - cx - side * 0.45 * a) / (0.35 * a)) ** 2 + ((y - cy + 10) / (0.6 * b)) ** 2
            hu[r_lung <= 1.0] = -850.0
    else:  # liver/kidneys: a brighter organ
        r_liver = ((x - cx + 0.4 * a) / (0.35 * a)) ** 2 + ((y - cy + 5) / (0.45 * b)) ** 2
        hu[r_liver <= 1.0] = 60.0
    # Spine: vertebral body (cancellous ~ +300) with a cortical ring (~ +1000).
    sx, sy = cx, cy + 0.6 * b
    r_spine = np.hypot(x - sx, y - sy)
    hu[r_spine <= 22] = 1000.0
    hu[r_spine <= 17] = 300.0
    # Ribs: small bright blobs around the inner ellipse.
    for ang in np.linspace(0.15, 2 * np.pi - 0.15, 16):
        if abs(ang - 1.5 * np.pi) < 0.5:  # no ribs over the spine side's midline
            continue
        rx, ry = cx + (a - 28) * np.cos(ang), cy - (b - 28) * np.sin(ang)
        hu[np.hypot(x - rx, y - ry) <= 6] = 800.0
    # Patient table below the body.
    hu[(y > cy + b + 15) & (y < cy + b + 25) & (np.abs(x - cx) < 230)] = 200.0
    # Noise: stronger inside the body, as in real CT.
    noise_sd = np.where(r_body <= 1.0, 15.0, 5.0).astype(np.float32)
    hu += rng.standard_normal((ROWS, COLS), dtype=np.float32) * noise_sd
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def generate(out: Path, n: int) -> dict:
    """Writes the series and NIfTI files unless an up-to-date set is already in `out`; returns their paths."""
    import numpy as np

    series_dir = out / f"ct_{n}_series"
    nii_gz = out / f"ct_{n}.nii.gz"
    nii = out / f"ct_{n}.nii"
    marker = out / f"ct_{n}.generated.json"
    nrrd = out / f"ct_{n}.nrrd"
    mha = out / f"ct_{n}.mha"
    paths = {"series": series_dir, "nii_gz": nii_gz, "nii": nii, "nrrd": nrrd, "mha": mha}
    if marker.exists():
        try:
            if json.loads(marker.read_text()).get("version") == GEN_VERSION and all(p.exists() for p in paths.values()):
                print(f"using cached data in {out}")
                return paths
        except json.JSONDecodeError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    print(f"generating a 512x512x{n} CT volume in {out} ...", flush=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(20261122)
    vol = np.empty((n, ROWS, COLS), dtype=np.int16)  # [k, row, col], HU
    for k in range(n):
        vol[k] = ct_slice(k, n, rng)

    write_series(series_dir, vol)
    write_nifti(nii_gz, nii, vol)
    write_itk(nrrd, mha, vol)
    marker.write_text(json.dumps({"version": GEN_VERSION, "slices": n}))
    print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths


def write_series(series_dir: Path, vol) -> None:
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    if series_dir.exists():
        shutil.rmtree(series_dir)
    series_dir.mkdir(parents=True)
    n = vol.shape[0]
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    stored = (vol.astype(np.int32) - int(INTERCEPT)).clip(0, 4095).astype(np.uint16)  # HU + 1024, 12 bits
    for k in range(n):
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = for_uid
        ds.Modality = "CT"
        ds.PatientName = "Synthetic^Bench"
        ds.PatientID = "BENCH0001"
        ds.StudyDate = ds.SeriesDate = "20261122"
        ds.SeriesDescription = "Synthetic CT for benchmarks"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        z = ORIGIN_LPS_MM[2] + k * SLICE_THICKNESS_MM
        ds.ImagePositionPatient = [f"{ORIGIN_LPS_MM[0]:g}", f"{ORIGIN_LPS_MM[1]:g}", f"{z:g}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = f"{z:g}"
        ds.PixelSpacing = [f"{PIXEL_SPACING_MM[0]:g}", f"{PIXEL_SPACING_MM[1]:g}"]
        ds.SliceThickness = f"{SLICE_THICKNESS_MM:g}"
        ds.SpacingBetweenSlices = f"{SLICE_THICKNESS_MM:g}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = ROWS, COLS
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = f"{INTERCEPT:g}"
        ds.RescaleSlope = f"{SLOPE:g}"
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.PixelData = stored[k].tobytes()
        ds["PixelData"].VR = "OW"
        ds.save_as(series_dir / f"IM{k + 1:04d}.dcm", enforce_file_format=True)


def write_nifti(nii_gz: Path, nii: Path, vol) -> None:
    import nibabel as nib
    import numpy as np

    # NIfTI voxel (i, j, k) = DICOM (column, row, slice); RAS = diag(-1, -1, 1) · LPS.
    data = np.transpose(vol, (2, 1, 0))  # Fortran-contiguous view, shape (cols, rows, slices)
    sx, sy = PIXEL_SPACING_MM[1], PIXEL_SPACING_MM[0]
    affine = np.array(
        [
            [-sx, 0, 0, -ORIGIN_LPS_MM[0]],
            [0, -sy, 0, -ORIGIN_LPS_MM[1]],
            [0, 0, SLICE_THICKNESS_MM, ORIGIN_LPS_MM[2]],
            [0, 0, 0, 1],
        ]
    )
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(np.int16)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header["scl_slope"] = 1.0
    img.header["scl_inter"] = 0.0
    nib.save(img, str(nii_gz))
    nib.save(img, str(nii))


def write_itk(nrrd: Path, mha: Path, vol) -> None:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(vol)  # [k, row, col] → (col, row, slice)
    img.SetSpacing((PIXEL_SPACING_MM[1], PIXEL_SPACING_MM[0], SLICE_THICKNESS_MM))
    img.SetOrigin(ORIGIN_LPS_MM)
    sitk.WriteImage(img, str(nrrd), useCompression=True)
    sitk.WriteImage(img, str(mha), useCompression=True)


# ---------------------------------------------------------------------------------------------
# Workers: each runs in a fresh child process and prints one JSON line
# ---------------------------------------------------------------------------------------------


def _peak_mb_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _stats(a, slope: float = 1.0, inter: float = 0.0) -> dict:
    import numpy as np

    lo, hi, mean = float(a.min()), float(a.max()), float(np.mean(a, dtype=np.float64))
    return {"min": lo * slope + inter, "max": hi * slope + inter, "mean": mean * slope + inter}


def worker(tool: str, path: str) -> None:
    import numpy as np  # noqa: F401  (imported by every peer; part of the baseline)

    if tool.startswith("sitk"):
        import SimpleITK as sitk
    elif tool.startswith("nibabel"):
        import nibabel as nib
    elif tool.startswith("pydicom"):
        import pydicom
    baseline = _peak_mb_self()
    t0 = time.perf_counter()
    if tool == "sitk-series":
        reader = sitk.ImageSeriesReader()
        files = reader.GetGDCMSeriesFileNames(path)
        reader.SetFileNames(files)
        img = reader.Execute()
        stats = _stats(sitk.GetArrayViewFromImage(img))
    elif tool == "sitk-read":
        img = sitk.ReadImage(path)
        stats = _stats(sitk.GetArrayViewFromImage(img))
    elif tool == "nibabel-dataobj":
        img = nib.load(path)
        stats = _stats(np.asanyarray(img.dataobj))
    elif tool == "nibabel-fdata":
        img = nib.load(path)
        stats = _stats(img.get_fdata())
    elif tool == "pydicom":
        files = sorted(os.path.join(path, f) for f in os.listdir(path))
        datasets = [pydicom.dcmread(f) for f in files]
        datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
        vol = np.stack([d.pixel_array for d in datasets])
        d0 = datasets[0]
        stats = _stats(vol, float(d0.RescaleSlope), float(d0.RescaleIntercept))
    elif tool == "zlib-only":
        import zlib

        with open(path, "rb") as f:
            raw = zlib.decompress(f.read(), 31)
        stats = {"min": None, "max": None, "mean": None, "bytes": len(raw)}
    else:
        raise SystemExit(f"unknown tool {tool}")
    elapsed = time.perf_counter() - t0
    print(json.dumps({"seconds": elapsed, "baseline_mb": baseline, "stats": stats}))


# ---------------------------------------------------------------------------------------------
# Running and measuring children
# ---------------------------------------------------------------------------------------------

HAVE_GNU_TIME = Path("/usr/bin/time").exists()


def run_child(cmd: list[str]) -> tuple[float, float, str]:
    """Runs `cmd` once; returns (wall seconds, peak RSS MB, stdout)."""
    env = dict(os.environ)
    if HAVE_GNU_TIME:
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            t0 = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%M", *cmd], capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
            lines = [ln for ln in tf.read().splitlines() if ln.strip()]
            peak_mb = int(lines[-1]) / 1024.0
    else:
        # A fresh intermediate Python whose only child is `cmd`, so RUSAGE_CHILDREN is that child alone.
        probe = (
            "import json,resource,subprocess,sys,time;t=time.perf_counter();"
            "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);w=time.perf_counter()-t;"
            "sys.stderr.write(p.stderr);"
            "print(json.dumps({'rc':p.returncode,'wall':w,'kb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,'out':p.stdout}))"
        )
        p = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env)
        r = json.loads(p.stdout)
        if r["rc"] != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r['rc']}): {p.stderr.strip()[-2000:]}")
        return r["wall"], r["kb"] / 1024.0, r["out"]
    return wall, peak_mb, p.stdout


def measure(cmd: list[str], repeat: int, inner_time: bool) -> dict:
    """One warm-up, then `repeat` runs: best time, largest peak RSS."""
    run_child(cmd)
    times, procs, peaks, last = [], [], [], None
    for _ in range(repeat):
        wall, peak, out = run_child(cmd)
        if inner_time:
            last = json.loads(out.strip().splitlines()[-1])
            times.append(last["seconds"])
        else:
            last = out
            times.append(wall)
        procs.append(wall)
        peaks.append(peak)
    return {"seconds": min(times), "process_seconds": min(procs), "peak_mb": max(peaks), "out": last}


def voxmark_stats(out: str) -> dict:
    vols = json.loads(out)["volumes"]
    if len(vols) != 1:
        raise RuntimeError(f"voxmark found {len(vols)} volumes, expected 1")
    v = vols[0]
    return {"min": v["stats"]["min"], "max": v["stats"]["max"], "mean": v["stats"]["mean"], "size": v["size"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench-data", help="data and results folder (default: bench-data/)")
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up (best is kept)")
    ap.add_argument("--voxmark", type=Path, default=Path("/work/target-bench/release/voxmark"))
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if not args.voxmark.exists():
        print(f"voxmark binary not found: {args.voxmark} (build with cargo build --release --no-default-features)", file=sys.stderr)
        return 1

    paths = generate(args.out, args.slices)
    voxel_bytes = ROWS * COLS * args.slices * 2
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    cases = [
        ("series", paths["series"], [("pydicom", "pydicom"), ("SimpleITK", "sitk-series")]),
        ("nii.gz", paths["nii_gz"], [("nibabel", "nibabel-dataobj"), ("nibabel get_fdata", "nibabel-fdata"),
                                     ("SimpleITK", "sitk-read"), ("zlib only (ref)", "zlib-only")]),
        ("nii", paths["nii"], [("nibabel", "nibabel-dataobj"), ("nibabel get_fdata", "nibabel-fdata"),
                               ("SimpleITK", "sitk-read")]),
        ("nrrd", paths["nrrd"], [("SimpleITK", "sitk-read")]),
        ("mha", paths["mha"], [("SimpleITK", "sitk-read")]),
    ]
    rows = []
    for case, path, peers in cases:
        print(f"timing {case} ...", flush=True)
        vm = measure([str(args.voxmark), "info", "--json", str(path)], args.repeat, inner_time=False)
        vm_stats = voxmark_stats(vm["out"])
        rows.append({"case": case, "tool": "voxmark", "seconds": vm["seconds"], "process_seconds": vm["process_seconds"],
                     "peak_mb": vm["peak_mb"], "stats": vm_stats})
        for label, tool in peers:
            r = measure([*me, tool, str(path)], args.repeat, inner_time=True)
            rows.append({"case": case, "tool": label, "seconds": r["seconds"], "process_seconds": r["process_seconds"],
                         "peak_mb": r["peak_mb"], "baseline_mb": r["out"]["baseline_mb"], "stats": r["out"]["stats"],
                         "time_ratio": vm["seconds"] / r["seconds"], "mem_ratio": vm["peak_mb"] / r["peak_mb"]})

    # Table.
    print()
    print(f"{'case':<8} {'tool':<20} {'seconds':>8} {'peak MB':>8} {'vm/peer t':>9} {'vm/peer mem':>11}   stats min/max/mean")
    for r in rows:
        tr = f"{r['time_ratio']:.2f}" if "time_ratio" in r else "-"
        mr = f"{r['mem_ratio']:.2f}" if "mem_ratio" in r else "-"
        s = r["stats"]
        st = f"{s['min']:g}/{s['max']:g}/{s['mean']:.3f}" if s.get("mean") is not None else ""
        print(f"{r['case']:<8} {r['tool']:<20} {r['seconds']:8.3f} {r['peak_mb']:8.1f} {tr:>9} {mr:>11}   {st}")

    def row(case, tool):
        return next(r for r in rows if r["case"] == case and r["tool"] == tool)

    mem_limit = 1.2 * voxel_bytes / 1e6 + 150
    vm_peak = max(r["peak_mb"] for r in rows if r["tool"] == "voxmark")
    checks = [
        {"check": "series load <= 0.25 x SimpleITK time", "value": row("series", "voxmark")["seconds"] / row("series", "SimpleITK")["seconds"], "limit": 0.25},
        {"check": ".nii.gz load <= 0.5 x nibabel time", "value": row("nii.gz", "voxmark")["seconds"] / row("nii.gz", "nibabel")["seconds"], "limit": 0.5},
        {"check": f"voxmark peak MB <= 1.2 x voxel bytes + 150 MB ({mem_limit:.0f} MB)", "value": vm_peak, "limit": mem_limit},
    ]
    for c in checks:
        c["pass"] = c["value"] <= c["limit"]
    # Stats agreement (voxmark against the first peer of each case).
    for case, _, peers in cases:
        a, b = row(case, "voxmark")["stats"], row(case, peers[0][0])["stats"]
        same = a["min"] == b["min"] and a["max"] == b["max"] and abs(a["mean"] - b["mean"]) <= 1e-6 * max(1.0, abs(b["mean"]))
        checks.append({"check": f"{case}: voxmark stats == {peers[0][0]}", "value": same, "limit": True, "pass": same})
    print()
    for c in checks:
        v = f"{c['value']:.3f}" if isinstance(c["value"], float) else str(c["value"])
        print(f"{'PASS' if c['pass'] else 'FAIL'}  {c['check']}: {v} (limit {c['limit'] if not isinstance(c['limit'], float) else round(c['limit'], 3)})")

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": sys.platform},
        "volume": {"size": [COLS, ROWS, args.slices], "dtype": "int16", "voxel_bytes": voxel_bytes},
        "repeat": args.repeat,
        "voxmark": str(args.voxmark),
        "rows": rows,
        "checks": checks,
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
