//! Mutation tests: real inputs (corpus DICOM in several encodings, NIfTI, PNG and JPEG, MS-CXR CSV
//! and RadFact JSON, a real project file, a model manifest) mutated at random — bits flipped, bytes
//! set to edge values, ranges zeroed, duplicated or cut — and given to the real binary. Every
//! outcome must be exit 0 or a clear user error (exit 1): no panic, no signal, no hang, no exit 2;
//! an import leaves the project passing `check`.
//!
//! Seeded and bounded: two threads run `VOXMARK_MUTATION_CASES` cases each (default 1,600: the same
//! cases on every machine), stopping early at `VOXMARK_MUTATION_SECONDS` (default 120);
//! `VOXMARK_MUTATION_SEED` picks another sequence.
//! Cases that fail are written to `target/mutation-failures/` to be kept as regression fixtures
//! in `tests/fixtures/mutation/`, which are replayed first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// How an input is given to the binary.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Use {
    /// `voxmark info --json FILE`.
    Info,
    /// `voxmark import PROJECT --format FMT FILE`, then `check`.
    Import(&'static str),
    /// `voxmark ls PROJECT` and `voxmark check PROJECT` on the mutated project itself.
    Project,
    /// `voxmark infer PROJECT --model FILE` (the manifest is read before any model runs).
    Manifest,
}

struct Input {
    name: String,
    bytes: Vec<u8>,
    extension: String,
    how: Use,
}

fn mutate(rng: &mut Rng, original: &[u8]) -> (Vec<u8>, String) {
    let mut b = original.to_vec();
    let n = b.len().max(1);
    let kind = rng.below(7);
    let what = match kind {
        0 => {
            let k = 1 + rng.below(8);
            for _ in 0..k {
                let at = rng.below(n);
                if let Some(x) = b.get_mut(at) {
                    *x ^= 1 << rng.below(8);
                }
            }
            format!("{k} bit(s) flipped")
        }
        1 => {
            let at = rng.below(n);
            let v = [0u8, 0xff, 0x7f, 0x80, b'9', b'-', b',', b'"'][rng.below(8)];
            if let Some(x) = b.get_mut(at) {
                *x = v;
            }
            format!("byte {at} set to {v:#x}")
        }
        2 => {
            let at = rng.below(n);
            b.truncate(at);
            format!("truncated to {at} bytes")
        }
        3 => {
            let at = rng.below(n);
            let len = (1 + rng.below(64)).min(b.len() - at.min(b.len()));
            let end = (at + len).min(b.len());
            b[at.min(end)..end].fill(0);
            format!("{len} bytes zeroed at {at}")
        }
        4 => {
            let at = rng.below(n);
            let len = 1 + rng.below(64);
            let end = (at + len).min(b.len());
            let chunk = b[at.min(end)..end].to_vec();
            let to = rng.below(n);
            let to = to.min(b.len());
            b.splice(to..to, chunk);
            format!("{len} bytes from {at} duplicated at {to}")
        }
        5 => {
            // Overwrite a 2- or 4-byte little-endian integer with an edge value.
            let at = rng.below(n);
            let v: u32 = [
                0,
                1,
                u32::MAX,
                0x7fff_ffff,
                0x8000_0000,
                0xffff,
                65_536,
                4096,
            ][rng.below(8)];
            for (i, byte) in v
                .to_le_bytes()
                .iter()
                .enumerate()
                .take(2 + 2 * rng.below(2))
            {
                if let Some(x) = b.get_mut(at + i) {
                    *x = *byte;
                }
            }
            format!("integer at {at} set to {v}")
        }
        _ => {
            let at = rng.below(n);
            let len = 1 + rng.below(16);
            let end = (at + len).min(b.len());
            b.drain(at.min(end)..end);
            format!("{len} bytes removed at {at}")
        }
    };
    (b, what)
}

fn run(args: &[&std::ffi::OsStr], limit: Duration) -> (Option<i32>, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxmark"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env_remove("ORT_DYLIB_PATH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start voxmark");
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return (status.code(), err, false);
            }
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return (None, String::new(), true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => return (None, String::new(), false),
        }
    }
}

fn inputs(data: &Path, dir: &Path) -> Vec<Input> {
    let mut out = Vec::new();
    let mut add = |path: PathBuf, how: Use| {
        if let Ok(bytes) = std::fs::read(&path) {
            out.push(Input {
                name: path.display().to_string(),
                extension: path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .and_then(|n| n.split_once('.').map(|(_, e)| e.to_string()))
                    .unwrap_or_default(),
                bytes,
                how,
            });
        }
    };
    let pd = data.join("dicom/pydicom_test_files");
    for f in [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "JPEG-lossy.dcm",
        "SC_rgb_small_odd.dcm",
        "liver_1frame.dcm",
        "rtdose.dcm",
    ] {
        add(pd.join(f), Use::Info);
    }
    add(data.join("nifti/nibabel/anatomical.nii"), Use::Info);
    add(data.join("nifti/nibabel/standard.nii.gz"), Use::Info);
    add(data.join("nifti/nibabel/example_nifti2.nii.gz"), Use::Info);
    add(
        data.join("dicom/seg_sr/highdicom/frame_rgb.jpeg"),
        Use::Info,
    );
    // NRRD (attached, gzip) and MetaImage (attached, raw) of the corpus MR's voxels (its NIfTI data
    // starts at byte 352: 33×41×25 little-endian shorts).
    if let Ok(nii) = std::fs::read(data.join("nifti/nibabel/anatomical.nii"))
        && nii.len() > 352
    {
        use std::io::Write;
        let voxels = &nii[352..];
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(voxels).unwrap();
        let mut nrrd = b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 33 41 25\nspace directions: (2,0,0) (0,-2,0) (0,0,2.2)\nspace origin: (-32,40,-16)\nendian: little\nencoding: gzip\n\n".to_vec();
        nrrd.extend(z.finish().unwrap());
        let nrrd_path = dir.join("anatomical.nrrd");
        std::fs::write(&nrrd_path, nrrd).unwrap();
        add(nrrd_path, Use::Info);
        let mut mha = b"ObjectType = Image\nNDims = 3\nDimSize = 33 41 25\nElementType = MET_SHORT\nElementSpacing = 2 2 2.2\nOffset = -32 40 -16\nTransformMatrix = 1 0 0 0 -1 0 0 0 1\nElementDataFile = LOCAL\n".to_vec();
        mha.extend(voxels);
        let mha_path = dir.join("anatomical.mha");
        std::fs::write(&mha_path, mha).unwrap();
        add(mha_path, Use::Info);
    }
    // A small PNG made from the corpus chest X-ray (decoding 1024² in a debug build is slow).
    let png = dir.join("cxr-small.png");
    if let Ok(img) = image::open(data.join("cxr/nih_cxr14/00000001_000.png")) {
        let _ = img.thumbnail(128, 128).to_luma8().save(&png);
        add(png, Use::Info);
    }
    add(
        data.join("grounding/radfact_grounded_reporting_examples.json"),
        Use::Import("radfact"),
    );
    let csv = dir.join("boxes.csv");
    std::fs::write(
        &csv,
        "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height\n\
         cxr,Cardiomegaly,Enlarged heart,cxr.png,150,200,210,150,1024,1024\n\
         cxr,Nodule,Small nodule,cxr.png,600,300,40,40,1024,1024\n\
         other,Nodule,Elsewhere,other.png,1,2,3,4,512,512\n",
    )
    .unwrap();
    add(csv, Use::Import("ms-cxr"));
    add(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema3-project.voxmark"),
        Use::Project,
    );
    add(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/litemedsam.toml"),
        Use::Manifest,
    );
    out
}

/// A project with one image (a small PNG named like the CSV's rows) and a report, to import into.
fn base_project(dir: &Path, data: &Path) -> Option<(PathBuf, String)> {
    let png = dir.join("cxr.png");
    image::open(data.join("cxr/nih_cxr14/00000001_000.png"))
        .ok()?
        .thumbnail(64, 64)
        .to_luma8()
        .save(&png)
        .ok()?;
    let project = dir.join("base.voxmark");
    let report = dir.join("report.txt");
    std::fs::write(&report, "Enlarged heart. Small nodule.").ok()?;
    common::voxmark([std::ffi::OsStr::new("new"), project.as_os_str()]);
    let run = common::voxmark([
        std::ffi::OsStr::new("add"),
        project.as_os_str(),
        png.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let image = common::image_ids(&project).remove(0);
    Some((project, image))
}

#[derive(Debug)]
struct Failure {
    input: String,
    mutation: String,
    outcome: String,
    file: PathBuf,
}

/// Runs one mutated input; returns why it failed, if it did.
fn one_case(
    work: &Path,
    case: usize,
    input: &Input,
    bytes: &[u8],
    base: &Path,
    image: &str,
) -> Option<String> {
    let file = work.join(format!("case-{case}.{}", input.extension));
    std::fs::write(&file, bytes).ok()?;
    let limit = Duration::from_secs(30);
    let verdict =
        |cmd: &str, (code, stderr, hung): (Option<i32>, String, bool)| -> Option<String> {
            if hung {
                return Some(format!("`{cmd}` hung (killed after {} s)", limit.as_secs()));
            }
            if stderr.contains("panicked") {
                return Some(format!("`{cmd}` panicked: {}", stderr.trim()));
            }
            match code {
                Some(0 | 1) => None,
                Some(c) => Some(format!("`{cmd}` exited {c}: {}", stderr.trim())),
                None => Some(format!("`{cmd}` was killed by a signal: {}", stderr.trim())),
            }
        };
    let os = |s: &str| std::ffi::OsString::from(s);
    let result = match input.how {
        Use::Info => verdict(
            "info --json",
            run(&[&os("info"), &os("--json"), file.as_os_str()], limit),
        ),
        Use::Import(format) => {
            let project = work.join(format!("case-{case}.voxmark"));
            std::fs::copy(base, &project).ok()?;
            let mut args = vec![
                os("import"),
                project.clone().into_os_string(),
                os("--format"),
                os(format),
                file.clone().into_os_string(),
            ];
            if format == "radfact" {
                // The corpus example holds several reports: one image each is asked for; a
                // mismatch is a user error, which is fine.
                args.extend([os("--image"), os(image)]);
            }
            let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            verdict("import", run(&refs, limit)).or_else(|| {
                let (code, stderr, hung) = run(&[&os("check"), project.as_os_str()], limit);
                (hung || code != Some(0)).then(|| {
                    format!(
                        "the project fails `check` after the import: {}",
                        stderr.trim()
                    )
                })
            })
        }
        Use::Project => verdict("ls", run(&[&os("ls"), file.as_os_str()], limit))
            .or_else(|| verdict("check", run(&[&os("check"), file.as_os_str()], limit))),
        Use::Manifest => verdict(
            "infer",
            run(
                &[
                    &os("infer"),
                    base.as_os_str(),
                    &os("--model"),
                    file.as_os_str(),
                    &os("--image"),
                    &os(image),
                ],
                limit,
            ),
        ),
    };
    if result.is_none() {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!(
                "{}{ext}",
                work.join(format!("case-{case}.voxmark")).display()
            ));
        }
        let _ = std::fs::remove_file(&file);
    }
    result
}

#[test]
fn mutated_inputs_give_exit_0_or_a_clear_error() {
    let Some(data) = common::corpus() else { return };
    let seconds: f64 = std::env::var("VOXMARK_MUTATION_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120.0);
    let per_thread: usize = std::env::var("VOXMARK_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1600);
    let seed: u64 = std::env::var("VOXMARK_MUTATION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x0DD_BA11);
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs(&data, dir.path());
    assert!(inputs.len() >= 15, "the corpus inputs are there");
    let Some((base, image)) = base_project(dir.path(), &data) else {
        panic!("the base project could not be made")
    };
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let cases = std::sync::atomic::AtomicUsize::new(0);
    // Regression fixtures first: every file kept from an earlier failure.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutation");
    if let Ok(entries) = std::fs::read_dir(&fixtures) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let how = match name.split('.').next_back() {
                Some("dcm" | "nii" | "gz" | "png" | "jpeg" | "nrrd" | "mha") => Use::Info,
                Some("csv") => Use::Import("ms-cxr"),
                Some("json") => Use::Import("radfact"),
                Some("voxmark") => Use::Project,
                Some("toml") => Use::Manifest,
                _ => continue,
            };
            let bytes = std::fs::read(e.path()).unwrap();
            let input = Input {
                name: name.clone(),
                extension: name
                    .split_once('.')
                    .map_or(String::new(), |(_, x)| x.to_string()),
                bytes: bytes.clone(),
                how,
            };
            let n = cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(outcome) = one_case(dir.path(), n, &input, &bytes, &base, &image) {
                failures.lock().unwrap().push(Failure {
                    input: name,
                    mutation: "regression fixture".into(),
                    outcome,
                    file: e.path(),
                });
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (inputs, failures, cases, base, image, dir) =
                (&inputs, &failures, &cases, &base, &image, dir.path());
            s.spawn(move || {
                let mut rng = Rng(seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t as u64 + 1)));
                for _ in 0..per_thread {
                    if started.elapsed().as_secs_f64() > seconds {
                        break;
                    }
                    let input = &inputs[rng.below(inputs.len())];
                    let (bytes, what) = mutate(&mut rng, &input.bytes);
                    let n = cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(outcome) = one_case(dir, n, input, &bytes, base, image) {
                        let keep =
                            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../mutation-failures");
                        let _ = std::fs::create_dir_all(&keep);
                        let file = keep.join(format!("case-{n}.{}", input.extension));
                        let _ = std::fs::write(&file, &bytes);
                        failures.lock().unwrap().push(Failure {
                            input: input.name.clone(),
                            mutation: what,
                            outcome,
                            file,
                        });
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let n = cases.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{n} mutated cases in {:.1} s (seed {seed:#x}, {threads} threads), {} failure(s)",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    for f in failures.iter().take(40) {
        println!(
            "FAIL {} ({}): {} — kept as {}",
            f.input,
            f.mutation,
            f.outcome.chars().take(400).collect::<String>(),
            f.file.display()
        );
    }
    assert!(
        failures.is_empty(),
        "{} mutated input(s) failed; see above",
        failures.len()
    );
    assert!(n >= 200, "only {n} cases ran: the test proves little");
}
