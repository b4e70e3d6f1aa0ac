//! Shared helpers of the GPU tests (`tests/render.rs`, `tests/render_volume.rs`): one software-adapter
//! context per test binary, the `voxmark` binary on the software adapter, picture differences and PNG
//! snapshots with a named tolerance.
//!
//! Without an adapter, [`gpu`] prints "skipped: no GPU adapter" and the tests return early and pass,
//! unless `VOXMARK_REQUIRE_GPU_TESTS=1` (set by `.ci/run`), which makes them fail.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use voxmark::core::Volume;
use voxmark::core::reslice::RgbaPicture;
use voxmark::render::{AdapterPreference, RenderContext};

static CONTEXT: OnceLock<Option<Mutex<RenderContext>>> = OnceLock::new();

/// `XDG_RUNTIME_DIR`, else a folder of this process (lavapipe warns without one).
pub fn xdg_runtime_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("voxmark-xdg-{}", std::process::id())))
}

/// The shared software-adapter context, or `None` (after saying so) when no adapter exists, unless
/// `VOXMARK_REQUIRE_GPU_TESTS=1`, which panics instead.
pub fn gpu() -> Option<MutexGuard<'static, RenderContext>> {
    let ctx = CONTEXT.get_or_init(|| {
        // lavapipe warns on stderr without XDG_RUNTIME_DIR; .ci/run sets it (no unsafe set_var here).
        match RenderContext::new(AdapterPreference::Software) {
            Ok(c) => {
                let info = c.adapter_info();
                eprintln!(
                    "GPU tests on {} ({:?}, {:?})",
                    info.name, info.backend, info.device_type
                );
                Some(Mutex::new(c))
            }
            Err(e) => {
                if std::env::var("VOXMARK_REQUIRE_GPU_TESTS").as_deref() == Ok("1") {
                    panic!("VOXMARK_REQUIRE_GPU_TESTS=1 but there is no GPU adapter: {e}");
                }
                None
            }
        }
    });
    match ctx {
        Some(m) => Some(m.lock().unwrap_or_else(|p| p.into_inner())),
        None => {
            eprintln!("skipped: no GPU adapter");
            None
        }
    }
}

pub use super::load_one;

/// The corpus CT series (`dicom/series/ct_abdomen_20sl_j2kr`), loaded once per test binary.
pub fn ct() -> Option<&'static Volume> {
    static CT: OnceLock<Option<Volume>> = OnceLock::new();
    CT.get_or_init(|| {
        super::corpus().map(|d| load_one(&d.join("dicom/series/ct_abdomen_20sl_j2kr")))
    })
    .as_ref()
}

/// Runs the built `voxmark` binary on the software adapter.
pub fn run_software(args: &[&std::ffi::OsStr]) -> super::Run {
    let dir = xdg_runtime_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxmark"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("XDG_RUNTIME_DIR", &dir)
        .env("VOXMARK_ADAPTER", "software")
        .output()
        .unwrap();
    super::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (largest per-channel difference, pixels that differ at all).
pub fn difference(a: &RgbaPicture, b: &RgbaPicture) -> (u8, usize) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mut max = 0;
    let mut count = 0;
    for (pa, pb) in a.rgba.chunks_exact(4).zip(b.rgba.chunks_exact(4)) {
        let d = pa
            .iter()
            .zip(pb)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0);
        max = max.max(d);
        count += usize::from(d > 0);
    }
    (max, count)
}

/// How far a picture may be from its committed snapshot: every channel of all but
/// `max_fraction_beyond` of the pixels within `max_level_diff` levels.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotTolerance {
    /// Largest per-channel difference allowed for most pixels.
    pub max_level_diff: u8,
    /// Fraction of pixels (0..1) that may differ by more.
    pub max_fraction_beyond: f64,
}

/// Compares `p` (RGB, alpha dropped) with `tests/snapshots/{name}.png` under `tolerance`;
/// `VOXMARK_UPDATE_SNAPSHOTS=1` rewrites the snapshot instead (then look at it).
pub fn snapshot(name: &str, p: &RgbaPicture, tolerance: SnapshotTolerance) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.png"));
    let rgb: Vec<u8> = p
        .rgba
        .chunks_exact(4)
        .flat_map(|c| [c[0], c[1], c[2]])
        .collect();
    if std::env::var("VOXMARK_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::save_buffer(
            &path,
            &rgb,
            p.width as u32,
            p.height as u32,
            image::ColorType::Rgb8,
        )
        .unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let want = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {} (VOXMARK_UPDATE_SNAPSHOTS=1 writes it)",
                path.display()
            )
        })
        .to_rgb8();
    assert_eq!(
        (want.width() as usize, want.height() as usize),
        (p.width, p.height),
        "{name}"
    );
    let level = tolerance.max_level_diff;
    let mut largest = 0u8;
    let beyond = want
        .as_raw()
        .chunks_exact(3)
        .zip(rgb.chunks_exact(3))
        .filter(|(a, b)| {
            let d = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap_or(0);
            largest = largest.max(d);
            d > level
        })
        .count();
    let fraction = beyond as f64 / (p.width * p.height) as f64;
    eprintln!(
        "{name}: largest difference {largest} levels, {beyond} pixels ({:.3} %) beyond {level}",
        fraction * 100.0
    );
    assert!(
        fraction <= tolerance.max_fraction_beyond,
        "{name}: {beyond} pixels ({:.3} %) differ by more than {level} from {}",
        fraction * 100.0,
        path.display()
    );
}
