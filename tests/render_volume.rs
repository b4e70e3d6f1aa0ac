//! The volume pass on a software adapter (lavapipe): MIP and MinIP of the corpus CT and of flipped and
//! permuted synthetic grids against the CPU projection (`core::projection`), an opaque sphere in a
//! rotated anisotropic grid landing where patient geometry says in orthographic and perspective views,
//! opacity correction for the step, early ray termination, PNG snapshots per mode, `voxmark render
//! --view 3d`, and frame times. The uniform struct's layout is checked against the WGSL without a GPU.
//!
//! Without an adapter the GPU tests print "skipped: no GPU adapter" and pass, unless
//! `VOXMARK_REQUIRE_GPU_TESTS=1` (set by `.ci/run`), which makes them fail.
#![cfg(feature = "gpu")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use common::gpu::{SnapshotTolerance, ct, difference, gpu, run_software, snapshot};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use voxmark::core::geometry::{Mat3, Vec3, from_columns};
use voxmark::core::projection::{IntensityProjection, reference_projection};
use voxmark::core::reslice::RgbaPicture;
use voxmark::core::{Rescale, Volume, Voxels};
use voxmark::render::{
    Aspect, CameraGeometry, GpuTransferFunction, GpuVolume, OrbitCamera, Orientation, Projection,
    RenderContext, Shading, TransferFunction, VolumeKey, VolumeMode, VolumePass, VolumeRole,
    VolumeScene, VolumeUniforms, Window,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A fresh cache key (the context is shared by all tests of this binary).
fn key() -> VolumeKey {
    static NEXT: AtomicU64 = AtomicU64::new(5000);
    VolumeKey {
        image: NEXT.fetch_add(1, Ordering::Relaxed),
        revision: 0,
    }
}

fn upload(ctx: &mut RenderContext, v: &Volume) -> Arc<GpuVolume> {
    ctx.volume(key(), VolumeRole::Image, v).unwrap()
}

const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Deterministic pseudo-random numbers (xorshift).
fn noise(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        })
        .collect()
}

/// Flips a picture top to bottom or left to right.
fn flipped(p: &RgbaPicture, vertical: bool) -> RgbaPicture {
    let mut rgba = Vec::with_capacity(p.rgba.len());
    for y in 0..p.height {
        for x in 0..p.width {
            let (sx, sy) = if vertical {
                (x, p.height - 1 - y)
            } else {
                (p.width - 1 - x, y)
            };
            rgba.extend_from_slice(&p.pixel(sx, sy));
        }
    }
    RgbaPicture {
        width: p.width,
        height: p.height,
        rgba,
    }
}

/// An orthographic camera at these angles with one voxel column per pixel, no jitter.
fn native_scene<'a>(
    image: &'a GpuVolume,
    azimuth: f64,
    elevation: f64,
    mode: VolumeMode<'a>,
) -> (VolumeScene<'a>, [u32; 2]) {
    let camera = OrbitCamera {
        aspect: Aspect::Voxel,
        ..OrbitCamera::new(azimuth, elevation)
    };
    let vp = CameraGeometry::native_viewport(image.grid(), &camera);
    let mut scene = VolumeScene::new(image, camera, mode);
    scene.sampling.jitter_seed = None;
    (scene, vp)
}

/// The views a projection is checked in: the camera angles, the slice layout the CPU projection has,
/// and how the GPU picture must be flipped to match it (from the head and from behind are mirror
/// images of the axial and coronal layouts).
const VIEWS: [(&str, f64, f64, Orientation, Option<bool>); 5] = [
    ("anterior", 0.0, 0.0, Orientation::Coronal, None),
    ("from the feet", 0.0, -90.0, Orientation::Axial, None),
    ("left", 90.0, 0.0, Orientation::Sagittal, None),
    ("from the head", 0.0, 90.0, Orientation::Axial, Some(true)),
    ("posterior", 180.0, 0.0, Orientation::Coronal, Some(false)),
];

/// GPU MIP/MinIP of `v` in every view of [`VIEWS`] against the CPU projection; returns (pixels compared,
/// pixels off by one, largest difference).
fn check_projections(
    ctx: &mut RenderContext,
    pass: &mut VolumePass,
    name: &str,
    v: &Volume,
    windows: &[(IntensityProjection, Window)],
) -> (usize, usize, u8) {
    let image = upload(ctx, v);
    let (mut pixels, mut off, mut largest) = (0, 0, 0);
    for (view, az, el, orientation, flip) in VIEWS {
        for &(kind, window) in windows {
            let mode = match kind {
                IntensityProjection::Maximum => VolumeMode::Mip { window },
                IntensityProjection::Minimum => VolumeMode::Minip { window },
            };
            let (scene, vp) = native_scene(&image, az, el, mode);
            let gpu = pass.render(ctx, &scene, vp).unwrap();
            let gpu = match flip {
                Some(vertical) => flipped(&gpu, vertical),
                None => gpu,
            };
            let cpu = reference_projection(v, orientation, kind, window).unwrap();
            let (max, n) = difference(&gpu, &cpu);
            assert!(
                max <= 1,
                "{name} {view} {kind:?} {window:?}: {n} pixels differ, by up to {max}"
            );
            pixels += cpu.width * cpu.height;
            off += n;
            largest = largest.max(max);
        }
    }
    eprintln!(
        "{name}: {pixels} projected pixels compared, {off} off by one grey level, largest difference {largest}"
    );
    (pixels, off, largest)
}

// ---------------------------------------------------------------------------------------------
// Layout (no GPU)

#[test]
fn volume_uniforms_match_the_wgsl_struct() {
    use std::mem::{offset_of, size_of};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/volume.wgsl");
    let source = std::fs::read_to_string(&path).unwrap();
    let module = naga::front::wgsl::parse_str(&source).unwrap();
    let (span, members) = module
        .types
        .iter()
        .find_map(|(_, ty)| match &ty.inner {
            naga::TypeInner::Struct { members, span }
                if ty.name.as_deref() == Some("VolumeUniforms") =>
            {
                let m: Vec<(String, usize)> = members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
                    .collect();
                Some((*span as usize, m))
            }
            _ => None,
        })
        .expect("struct VolumeUniforms in volume.wgsl");
    assert_eq!(span, size_of::<VolumeUniforms>());
    let rust = [
        ("origin_rows", offset_of!(VolumeUniforms, origin_rows)),
        ("dir_rows", offset_of!(VolumeUniforms, dir_rows)),
        ("world_dir_rows", offset_of!(VolumeUniforms, world_dir_rows)),
        ("gradient_rows", offset_of!(VolumeUniforms, gradient_rows)),
        ("size", offset_of!(VolumeUniforms, size)),
        ("value_map", offset_of!(VolumeUniforms, value_map)),
        ("limits", offset_of!(VolumeUniforms, limits)),
        ("tf", offset_of!(VolumeUniforms, tf)),
        ("march", offset_of!(VolumeUniforms, march)),
        ("shading", offset_of!(VolumeUniforms, shading)),
        ("modes", offset_of!(VolumeUniforms, modes)),
        ("background", offset_of!(VolumeUniforms, background)),
    ];
    let rust: Vec<(String, usize)> = rust.iter().map(|(n, o)| (n.to_string(), *o)).collect();
    assert_eq!(members, rust);
}

// ---------------------------------------------------------------------------------------------
// MIP and MinIP against the CPU projection

#[test]
fn ct_mip_and_minip_equal_the_cpu_projection() {
    let Some(v) = ct() else { return };
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let windows = [
        (IntensityProjection::Maximum, Window::initial(v)),
        (IntensityProjection::Maximum, Window::new(300.0, 1500.0)),
        (IntensityProjection::Minimum, Window::new(-600.0, 1500.0)),
        (IntensityProjection::Minimum, Window::new(40.0, 400.0)),
    ];
    assert_eq!(windows[0].1, Window::new(40.0, 300.0), "first DICOM preset");
    let (pixels, _, largest) = check_projections(&mut ctx, &mut pass, "CT", v, &windows);
    assert!(pixels > 4 * 2 * 512 * 512 && largest <= 1);
}

#[test]
fn flipped_and_permuted_grids_project_like_the_cpu() {
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let grids: [(&str, Mat3); 5] = [
        ("LPS", IDENTITY),
        (
            "RAS",
            from_columns([-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]),
        ),
        (
            "LPI",
            from_columns([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]),
        ),
        (
            "sagittal acquisition",
            from_columns([0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]),
        ),
        (
            "coronal acquisition",
            from_columns([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]),
        ),
    ];
    let size = [13, 9, 7];
    let n = 13 * 9 * 7;
    let r = noise(n, 11);
    let kinds: [(&str, Voxels, Rescale); 3] = [
        (
            "int16",
            Voxels::I16(r.iter().map(|x| (*x % 4000) as i16 - 1000).collect()),
            Rescale {
                slope: 1.0,
                intercept: -24.0,
            },
        ),
        (
            "uint16",
            Voxels::U16(r.iter().map(|x| *x as u16).collect()),
            Rescale {
                slope: 0.5,
                intercept: 10.0,
            },
        ),
        (
            "float32",
            Voxels::F32(r.iter().map(|x| (*x % 100_000) as f32 / 7.0).collect()),
            Rescale::IDENTITY,
        ),
    ];
    for (grid, dir) in grids {
        for (dtype, voxels, rescale) in &kinds {
            let v = Volume::new(
                size,
                [0.7, 1.3, 2.5],
                [-10.0, 20.0, -30.0],
                dir,
                1,
                voxels.clone(),
                *rescale,
            )
            .unwrap();
            let s = v.stats();
            let full = Window::from_range(s.min, s.max);
            let narrow = Window::new((s.min + s.max) / 2.0, (s.max - s.min) / 8.0);
            check_projections(
                &mut ctx,
                &mut pass,
                &format!("{grid} {dtype}"),
                &v,
                &[
                    (IntensityProjection::Maximum, full),
                    (IntensityProjection::Maximum, narrow),
                    (IntensityProjection::Minimum, full),
                    (IntensityProjection::Minimum, narrow),
                ],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DVR geometry, opacity and termination

/// A rotated, anisotropic grid holding a shell (value 500 within `SHELL_MM` of `SPHERE_LPS`) around a
/// core (value 1000 within `CORE_MM`), with smooth edges (250 per mm) so the iso-surfaces lie at the
/// radii.
const SPHERE_LPS: Vec3 = [14.0, -9.0, 21.0];
const SHELL_MM: f64 = 8.0;
const CORE_MM: f64 = 4.0;
/// The camera's target, away from the sphere's centre and the grid's.
const TARGET_LPS: Vec3 = [10.0, -3.0, 16.0];

fn sphere_volume() -> Volume {
    let (a, b) = (0.4f64, 0.25f64);
    // Rotation by a about S, then by b about the new first axis.
    let c0 = [a.cos(), a.sin(), 0.0];
    let c1 = [-a.sin() * b.cos(), a.cos() * b.cos(), b.sin()];
    let c2 = [a.sin() * b.sin(), -a.cos() * b.sin(), b.cos()];
    let direction = from_columns(c0, c1, c2);
    let size = [56, 44, 26];
    let spacing = [0.8, 1.1, 1.7];
    let proto = Volume::new(
        size,
        spacing,
        [0.0; 3],
        direction,
        1,
        Voxels::F32(vec![0.0; 56 * 44 * 26]),
        Rescale::IDENTITY,
    )
    .unwrap();
    // Put the grid's centre 3 mm from the sphere's centre.
    let centre = proto.world_from_voxel().apply([27.5, 21.5, 12.5]);
    let origin = [0, 1, 2].map(|i| SPHERE_LPS[i] - centre[i] + [3.0, -2.0, 1.5][i]);
    let proto = Volume::new(
        size,
        spacing,
        origin,
        direction,
        1,
        Voxels::F32(vec![0.0; 56 * 44 * 26]),
        Rescale::IDENTITY,
    )
    .unwrap();
    let w = proto.world_from_voxel();
    let mut values = Vec::with_capacity(56 * 44 * 26);
    for k in 0..size[2] {
        for j in 0..size[1] {
            for i in 0..size[0] {
                let p = w.apply([i as f64, j as f64, k as f64]);
                let d = (0..3)
                    .map(|a| (p[a] - SPHERE_LPS[a]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let shell = (250.0 + 250.0 * (SHELL_MM - d)).clamp(0.0, 500.0);
                let core = (250.0 + 250.0 * (CORE_MM - d)).clamp(0.0, 500.0);
                values.push((shell + core) as f32);
            }
        }
    }
    // The shell must lie inside the grid with room for its smooth edge.
    let v2w = proto.voxel_from_world();
    for s in [-1.0, 1.0] {
        for axis in 0..3 {
            let mut p = SPHERE_LPS;
            p[axis] += s * (SHELL_MM + 2.0);
            let v = v2w.apply(p);
            assert!(
                (0..3).all(|a| v[a] > 0.0 && v[a] < size[a] as f64 - 1.0),
                "{v:?}"
            );
        }
    }
    Volume::new(
        size,
        spacing,
        origin,
        direction,
        1,
        Voxels::F32(values),
        Rescale::IDENTITY,
    )
    .unwrap()
}

const SHELL_RGB: [f32; 3] = [0.2, 0.6, 1.0];
const CORE_RGB: [f32; 3] = [1.0, 0.4, 0.0];

fn to_u8(c: [f32; 3]) -> [u8; 3] {
    c.map(|x| (x * 255.0).round() as u8)
}

/// Opaque shell colour from 250 up, opaque core colour from 750 up; or, with `shell_visible` false,
/// transparent up to 749 and opaque core colour from 751.
fn sphere_transfer(shell_visible: bool) -> TransferFunction {
    let [r, g, b] = SHELL_RGB;
    let [cr, cg, cb] = CORE_RGB;
    let text = if shell_visible {
        format!(
            "domain,modality\n249,{r},{g},{b},0\n251,{r},{g},{b},1\n700,{r},{g},{b},1\n\
             749,{cr},{cg},{cb},1\n1000,{cr},{cg},{cb},1\n"
        )
    } else {
        format!(
            "domain,modality\n749,{cr},{cg},{cb},0\n751,{cr},{cg},{cb},1\n1000,{cr},{cg},{cb},1\n"
        )
    };
    TransferFunction::parse("sphere", &text).unwrap()
}

/// (coverage in pixels, centroid x, centroid y) of pixels that differ from black, weighted by how far
/// towards `colour` they are.
fn coverage(p: &RgbaPicture, colour: [u8; 3]) -> (f64, f64, f64) {
    let channel = (0..3).max_by_key(|&c| colour[c]).unwrap();
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for y in 0..p.height {
        for x in 0..p.width {
            let w = f64::from(p.pixel(x, y)[channel]) / f64::from(colour[channel]);
            sum += w;
            sx += w * (x as f64 + 0.5);
            sy += w * (y as f64 + 0.5);
        }
    }
    (sum, sx / sum, sy / sum)
}

#[test]
fn an_opaque_sphere_lands_where_patient_geometry_says() {
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let v = sphere_volume();
    let image = upload(&mut ctx, &v);
    const L: Vec3 = [1.0, 0.0, 0.0];
    const P: Vec3 = [0.0, 1.0, 0.0];
    const S: Vec3 = [0.0, 0.0, 1.0];
    let neg = |v: Vec3| v.map(|x| -x);
    let dot = |a: Vec3, b: Vec3| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let offset = [0, 1, 2].map(|i| SPHERE_LPS[i] - TARGET_LPS[i]);
    let (w, h, px_mm) = (128u32, 96u32, 0.5);
    // (name, azimuth, elevation, screen right, screen up), the axes written out from the conventions.
    let views = [
        ("anterior", 0.0, 0.0, L, S),
        ("left", 90.0, 0.0, P, S),
        ("posterior", 180.0, 0.0, neg(L), S),
        ("right", -90.0, 0.0, neg(P), S),
        ("from the head", 0.0, 90.0, L, P),
        ("from the feet", 0.0, -90.0, L, neg(P)),
    ];
    for shell_visible in [true, false] {
        let tf =
            GpuTransferFunction::new(&ctx, &sphere_transfer(shell_visible), [0.0, 1000.0]).unwrap();
        let (radius, colour) = if shell_visible {
            (SHELL_MM, to_u8(SHELL_RGB))
        } else {
            (CORE_MM, to_u8(CORE_RGB))
        };
        let expected_area = std::f64::consts::PI * (radius / px_mm).powi(2);
        for (name, az, el, right, up) in views {
            let camera = OrbitCamera {
                target_lps_mm: Some(TARGET_LPS),
                height_mm: Some(f64::from(h) * px_mm),
                ..OrbitCamera::new(az, el)
            };
            let mut scene = VolumeScene::new(
                &image,
                camera,
                VolumeMode::Dvr {
                    transfer: &tf,
                    shading: None,
                },
            );
            scene.sampling.jitter_seed = Some(7);
            let p = pass.render(&ctx, &scene, [w, h]).unwrap();
            let ex = f64::from(w) / 2.0 + dot(offset, right) / px_mm;
            let ey = f64::from(h) / 2.0 - dot(offset, up) / px_mm;
            let centre = p.pixel(ex as usize, ey as usize);
            assert_eq!(
                [centre[0], centre[1], centre[2]],
                colour,
                "{name}: the front surface's colour at the projected centre"
            );
            let (area, cx, cy) = coverage(&p, colour);
            eprintln!(
                "sphere r {radius} mm {name}: area {area:.1} px (disc {expected_area:.1}), centroid ({cx:.2}, {cy:.2}) vs ({ex:.2}, {ey:.2})"
            );
            assert!(
                (area / expected_area - 1.0).abs() < 0.05,
                "{name}: covers {area} px, a disc of {radius} mm covers {expected_area}"
            );
            assert!(
                (cx - ex).abs() < 0.25 && (cy - ey).abs() < 0.25,
                "{name}: centroid ({cx}, {cy}), expected ({ex}, {ey})"
            );
        }
    }
    // Perspective from the front: a point at depth z projects to W/2 + x / (z · tan(fov/2) / (H/2)).
    let tf = GpuTransferFunction::new(&ctx, &sphere_transfer(true), [0.0, 1000.0]).unwrap();
    let (distance, fov) = (120.0, 30.0f64);
    let camera = OrbitCamera {
        target_lps_mm: Some(TARGET_LPS),
        distance_mm: Some(distance),
        projection: Projection::Perspective { fov_deg: fov },
        ..OrbitCamera::new(0.0, 0.0)
    };
    let scene = VolumeScene::new(
        &image,
        camera,
        VolumeMode::Dvr {
            transfer: &tf,
            shading: Some(Shading::default()),
        },
    );
    let p = pass.render(&ctx, &scene, [w, h]).unwrap();
    let depth = distance + offset[1];
    let per_px = (fov.to_radians() / 2.0).tan() / (f64::from(h) / 2.0);
    let ex = f64::from(w) / 2.0 + offset[0] / (depth * per_px);
    let ey = f64::from(h) / 2.0 - offset[2] / (depth * per_px);
    let lit = p.rgba.chunks_exact(4).filter(|c| c[2] > 0).count() as f64;
    let (_, cx, cy) = coverage(&p, [255, 255, 255]);
    // The silhouette of a sphere seen in perspective: a cone of half-angle asin(r / distance).
    let cone = (SHELL_MM / (depth.powi(2) + offset[0].powi(2) + offset[2].powi(2)).sqrt()).asin();
    let expected_area = std::f64::consts::PI * (cone.tan() / per_px).powi(2);
    eprintln!(
        "perspective: lit {lit} px (about {expected_area:.0}), centroid ({cx:.2}, {cy:.2}) vs ({ex:.2}, {ey:.2})"
    );
    assert!((lit / expected_area - 1.0).abs() < 0.08);
    assert!((cx - ex).abs() < 0.6 && (cy - ey).abs() < 0.6);
}

/// A uniform block seen along its 60 mm axis with a transfer function of constant opacity: the picture
/// shows `1 − (1 − a)^60` whatever the step, because each sample's opacity is corrected for it.
#[test]
fn opacity_is_corrected_for_the_step() {
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let v = Volume::new(
        [6, 6, 40],
        [1.0, 1.0, 1.5],
        [0.0; 3],
        IDENTITY,
        1,
        Voxels::I16(vec![1000; 6 * 6 * 40]),
        Rescale::IDENTITY,
    )
    .unwrap();
    let image = upload(&mut ctx, &v);
    let alpha = 0.02f32;
    let tf = GpuTransferFunction::new(
        &ctx,
        &TransferFunction::ramp(0.0, 1000.0, [1.0, 1.0, 1.0, alpha]),
        [0.0, 1000.0],
    )
    .unwrap();
    let expected = 255.0 * (1.0 - (1.0 - f64::from(alpha)).powf(60.0));
    let mut seen = Vec::new();
    for (step, jitter) in [
        (1.0, None),
        (0.5, None),
        (0.25, None),
        (0.1, None),
        (0.5, Some(3)),
    ] {
        let mode = VolumeMode::Dvr {
            transfer: &tf,
            shading: None,
        };
        let (mut scene, vp) = native_scene(&image, 0.0, -90.0, mode);
        scene.sampling.step_factor = step;
        scene.sampling.jitter_seed = jitter;
        let p = pass.render(&ctx, &scene, vp).unwrap();
        assert_eq!(vp, [6, 6]);
        let levels: Vec<u8> = p.rgba.chunks_exact(4).map(|c| c[0]).collect();
        let (lo, hi) = (*levels.iter().min().unwrap(), *levels.iter().max().unwrap());
        eprintln!("step {step} jitter {jitter:?}: {lo}..={hi} (1 − (1 − a)^60: {expected:.2})");
        assert!(
            f64::from(lo) >= expected - 2.0 && f64::from(hi) <= expected + 2.0,
            "step {step}: {lo}..={hi}, expected {expected:.2}"
        );
        seen.push(hi);
    }
    // Without the correction a step of 0.1 voxel would composite 10× more samples.
    assert!(seen.iter().max().unwrap() - seen.iter().min().unwrap() <= 2);
}

/// A black translucent front layer (28 mm of 0.1 per mm: about 95 % opaque) before a white opaque one:
/// rays that stop at 90 % opacity never see the white; without termination 5 % of it shows.
#[test]
fn early_ray_termination_stops_at_the_opacity_limit() {
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let (nx, ny, nz) = (5, 5, 40);
    let values: Vec<i16> = (0..nz)
        .flat_map(|k| std::iter::repeat_n(if k < 28 { 1000 } else { 2000 }, nx * ny))
        .collect();
    let v = Volume::new(
        [nx, ny, nz],
        [1.0; 3],
        [0.0; 3],
        IDENTITY,
        1,
        Voxels::I16(values),
        Rescale::IDENTITY,
    )
    .unwrap();
    let image = upload(&mut ctx, &v);
    let tf = TransferFunction::parse(
        "layers",
        "domain,modality\n0,0,0,0,0\n1000,0,0,0,0.1\n1400,0,0,0,0.1\n1600,1,1,1,1\n2000,1,1,1,1\n",
    )
    .unwrap();
    let tf = GpuTransferFunction::new(&ctx, &tf, [0.0, 2000.0]).unwrap();
    let mut levels = Vec::new();
    for limit in [0.9, 0.99, 1.0] {
        let mode = VolumeMode::Dvr {
            transfer: &tf,
            shading: None,
        };
        let (mut scene, vp) = native_scene(&image, 0.0, -90.0, mode);
        scene.sampling.opaque_alpha = limit;
        let p = pass.render(&ctx, &scene, vp).unwrap();
        let grey: Vec<u8> = p.rgba.chunks_exact(4).map(|c| c[0]).collect();
        assert!(grey.iter().all(|g| *g == grey[0]), "{grey:?}");
        eprintln!("stop at opacity {limit}: grey {}", grey[0]);
        levels.push(grey[0]);
    }
    assert_eq!(levels[0], 0, "stopped inside the black layer");
    assert!(levels[1] >= 8, "0.99 is not reached in the black layer");
    // After the white layer's first opaque sample nothing more is added either way (within the
    // last 1 % of opacity the 0.99 limit leaves out).
    assert!(levels[1].abs_diff(levels[2]) <= 3, "{levels:?}");
}

// ---------------------------------------------------------------------------------------------
// Snapshots, the command, timing

/// MIP and MinIP snapshots: ±1 level on 99.5 % of the pixels, as the slice snapshots (the window is
/// evaluated in f32 and a driver may round a half level either way; pixels between voxel columns
/// interpolate in f32).
const PROJECTION_TOLERANCE: SnapshotTolerance = SnapshotTolerance {
    max_level_diff: 1,
    max_fraction_beyond: 0.005,
};
/// DVR snapshots: ±4 levels on 99 % of the pixels. A pixel composites hundreds of samples, each through
/// `pow` (whose precision WGSL leaves to the implementation) and a gradient from differences of
/// neighbouring voxels, so another driver's rounding accumulates to a few levels; 1 %: rays that graze
/// a surface, where a sample moving by float rounding crosses it or not.
const DVR_TOLERANCE: SnapshotTolerance = SnapshotTolerance {
    max_level_diff: 4,
    max_fraction_beyond: 0.01,
};

#[test]
fn ct_renderings_match_their_snapshots() {
    let Some(v) = ct() else { return };
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let image = upload(&mut ctx, v);
    let mip = VolumeScene::new(
        &image,
        OrbitCamera::new(0.0, 0.0),
        VolumeMode::Mip {
            window: Window::new(300.0, 1500.0),
        },
    );
    let p = pass.render(&ctx, &mip, [256, 24]).unwrap();
    snapshot("render_ct_3d_mip", &p, PROJECTION_TOLERANCE);
    let minip = VolumeScene::new(
        &image,
        OrbitCamera::new(0.0, -90.0),
        VolumeMode::Minip {
            window: Window::new(-600.0, 1500.0),
        },
    );
    let p = pass.render(&ctx, &minip, [128, 128]).unwrap();
    snapshot("render_ct_3d_minip", &p, PROJECTION_TOLERANCE);
    for (name, preset) in [("bone", "ct-bone"), ("soft_tissue", "ct-soft-tissue")] {
        let s = v.stats();
        let tf = GpuTransferFunction::new(
            &ctx,
            &TransferFunction::preset(preset).unwrap(),
            [s.min, s.max],
        )
        .unwrap();
        let camera = OrbitCamera {
            projection: Projection::Perspective { fov_deg: 30.0 },
            zoom: 1.8,
            ..OrbitCamera::new(-30.0, 40.0)
        };
        let dvr = VolumeScene::new(
            &image,
            camera,
            VolumeMode::Dvr {
                transfer: &tf,
                shading: Some(Shading::default()),
            },
        );
        let p = pass.render(&ctx, &dvr, [160, 120]).unwrap();
        snapshot(&format!("render_ct_3d_dvr_{name}"), &p, DVR_TOLERANCE);
    }
}

#[test]
fn render_3d_command_draws_the_projection_and_refuses_bad_input() {
    let (Some(v), Some(dir)) = (ct(), common::corpus()) else {
        return;
    };
    if gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ct_dir = dir.join("dicom/series/ct_abdomen_20sl_j2kr");
    let out = tmp.path().join("3d.png");
    let os = |s: &str| std::ffi::OsString::from(s);
    let call = |extra: &[&str], out: &Path| {
        let mut a = vec![os("render"), ct_dir.clone().into_os_string()];
        a.extend(extra.iter().map(|s| os(s)));
        a.push(os("--out"));
        a.push(out.as_os_str().to_owned());
        run_software(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>())
    };

    // One voxel column per pixel from the front: the CPU's coronal maximum projection.
    let r = call(
        &[
            "--view", "3d", "--mode", "mip", "--window", "300,1500", "--native",
        ],
        &out,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let png = image::open(&out).unwrap().to_rgb8();
    let cpu = reference_projection(
        v,
        Orientation::Coronal,
        IntensityProjection::Maximum,
        Window::new(300.0, 1500.0),
    )
    .unwrap();
    assert_eq!(
        (png.width() as usize, png.height() as usize),
        (cpu.width, cpu.height)
    );
    for (p, c) in png.as_raw().chunks_exact(3).zip(cpu.rgba.chunks_exact(4)) {
        assert!(p.iter().zip(c).all(|(a, b)| a.abs_diff(*b) <= 1));
    }
    // Defaults: DVR with the CT preset, 512×512, from the front.
    let r = call(&["--view", "3d"], &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("ct-soft-tissue"), "{}", r.stdout);
    assert_eq!(image::image_dimensions(&out).unwrap(), (512, 512));
    let r = call(
        &[
            "--view",
            "3d",
            "--preset",
            "ct-bone",
            "--azimuth",
            "-30",
            "--elevation",
            "40",
            "--perspective",
            "--size",
            "96x64",
            "--step",
            "1",
        ],
        &out,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(image::image_dimensions(&out).unwrap(), (96, 64));

    for (extra, needle) in [
        (&["--view", "3d", "--preset", "nope"][..], "expected one of"),
        (&["--view", "3d", "--slice", "3"][..], "not --view 3d"),
        (
            &["--view", "3d", "--window", "40,400"][..],
            "--window applies",
        ),
        (
            &["--view", "3d", "--mode", "mip", "--preset", "mr"][..],
            "apply to --mode dvr",
        ),
        (&["--view", "3d", "--step", "0"][..], "--step"),
        (
            &["--view", "coronal", "--azimuth", "10"][..],
            "only applies",
        ),
    ] {
        let r = call(extra, &tmp.path().join("x.png"));
        assert_eq!(r.code, 1, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{extra:?}: {}", r.stderr);
    }
}

/// A CT-like phantom: air, an elliptic body of soft tissue with noise, a spine-like column and two
/// rib-like rings of bone.
fn phantom(n: usize) -> Volume {
    let r = noise(n * n * n, 5);
    let c = (n as f64 - 1.0) / 2.0;
    let mut values = Vec::with_capacity(n * n * n);
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let (x, y, z) = ((i as f64 - c) / c, (j as f64 - c) / c, (k as f64 - c) / c);
                let body = (x / 0.85).powi(2) + (y / 0.6).powi(2) < 1.0 && z.abs() < 0.95;
                let spine = (x.powi(2) + (y - 0.4).powi(2)).sqrt() < 0.12;
                let ring = ((x / 0.75).powi(2) + (y / 0.5).powi(2)).sqrt();
                let rib = (ring - 1.0).abs() < 0.04 && (z * 6.0).sin() > 0.6;
                let hu = if !body {
                    -1000
                } else if spine || rib {
                    700
                } else {
                    40
                };
                values.push(hu + (r[values.len()] % 41) as i16 - 20);
            }
        }
    }
    Volume::new(
        [n; 3],
        [1.0; 3],
        [0.0; 3],
        IDENTITY,
        1,
        Voxels::I16(values),
        Rescale::IDENTITY,
    )
    .unwrap()
}

#[test]
fn volume_frame_times_and_gpu_memory() {
    let Some(v) = ct() else { return };
    let Some(mut ctx) = gpu() else { return };
    let mut pass = VolumePass::new(&ctx).unwrap();
    let best = |pass: &mut VolumePass, ctx: &RenderContext, scene: &VolumeScene<'_>, n: usize| {
        let mut best = f64::INFINITY;
        for _ in 0..n {
            let t = std::time::Instant::now();
            let p = pass.render(ctx, scene, [512, 512]).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            assert_eq!(p.rgba.len(), 512 * 512 * 4);
        }
        best * 1e3
    };
    let ct_image = upload(&mut ctx, v);
    let mip = VolumeScene::new(
        &ct_image,
        OrbitCamera::new(0.0, 0.0),
        VolumeMode::Mip {
            window: Window::new(300.0, 1500.0),
        },
    );
    let ct_mip = best(&mut pass, &ctx, &mip, 5);
    let s = v.stats();
    let bone = GpuTransferFunction::new(
        &ctx,
        &TransferFunction::preset("ct-bone").unwrap(),
        [s.min, s.max],
    )
    .unwrap();
    let oblique = OrbitCamera {
        projection: Projection::Perspective { fov_deg: 30.0 },
        zoom: 1.8,
        ..OrbitCamera::new(-30.0, 40.0)
    };
    let ct_dvr_scene = VolumeScene::new(
        &ct_image,
        oblique,
        VolumeMode::Dvr {
            transfer: &bone,
            shading: Some(Shading::default()),
        },
    );
    let ct_dvr = best(&mut pass, &ctx, &ct_dvr_scene, 3);

    let big = phantom(256);
    let big_key = key();
    let big_image = ctx.volume(big_key, VolumeRole::Image, &big).unwrap();
    let soft = GpuTransferFunction::new(
        &ctx,
        &TransferFunction::preset("ct-soft-tissue").unwrap(),
        [-1000.0, 1000.0],
    )
    .unwrap();
    let mut times = Vec::new();
    for (name, transfer) in [("ct-soft-tissue", &soft), ("ct-bone", &bone)] {
        let scene = VolumeScene::new(
            &big_image,
            OrbitCamera::new(-30.0, 20.0),
            VolumeMode::Dvr {
                transfer,
                shading: Some(Shading::default()),
            },
        );
        times.push((name, best(&mut pass, &ctx, &scene, 2)));
    }
    let big_mip = VolumeScene::new(
        &big_image,
        OrbitCamera::new(-30.0, 20.0),
        VolumeMode::Mip {
            window: Window::new(300.0, 1500.0),
        },
    );
    let phantom_mip = best(&mut pass, &ctx, &big_mip, 2);
    let info = ctx.adapter_info();
    eprintln!(
        "volume frame (render + read-back, best of N) on {} ({:?}), 512×512: CT MIP {ct_mip:.0} ms, \
         CT DVR ct-bone perspective {ct_dvr:.0} ms; 256³ phantom DVR {} {:.0} ms, DVR {} {:.0} ms, \
         MIP {phantom_mip:.0} ms; GPU memory: CT {} bytes ({:?}), 256³ phantom {} bytes ({:?}), \
         transfer function {} bytes",
        info.name,
        info.backend,
        times[0].0,
        times[0].1,
        times[1].0,
        times[1].1,
        ct_image.bytes(),
        ct_image.format(),
        big_image.bytes(),
        big_image.format(),
        soft.bytes(),
    );
    assert_eq!(big_image.bytes(), 256 * 256 * 256 * 2);
    ctx.forget_image(big_key.image);
}
