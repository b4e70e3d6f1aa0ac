//! GPU rendering on a software adapter (lavapipe): the slice pass against the CPU reference slicer on the
//! corpus CT and oblique MR, stored precision of every voxel type, orientation, label and heatmap colours,
//! vector overlays, zoom/pan, partial re-upload, limits, the texture cache, `voxmark render`, PNG
//! snapshots, and the frame time.
//!
//! Without an adapter these tests print "skipped: no GPU adapter" and pass, unless
//! `VOXMARK_REQUIRE_GPU_TESTS=1` (set by `.ci/run`), which makes them fail.
#![cfg(feature = "gpu")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use common::gpu::{ct, difference, gpu, run_software as run};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use voxmark::core::geometry::{Mat3, from_columns};
use voxmark::core::reslice::{RgbaPicture, SliceAxes, reference_slice};
use voxmark::core::{Photometric, Rescale, Volume, VoxelBox, Voxels};
use voxmark::render::{
    Colormap, Crosshair, Frame, GpuVolume, HeatLayer, ImageDisplay, Interpolation, LabelLayer,
    LabelLut, LabelStyle, LineStyle, Orientation, RenderContext, RenderError, SliceScene,
    SliceView, VectorOverlay, VectorShape, ViewGeometry, VolumeKey, VolumeRole, Window,
};

// ---------------------------------------------------------------------------------------------
// Shared context and data

fn ct_labels() -> Option<&'static Volume> {
    static L: OnceLock<Option<Volume>> = OnceLock::new();
    L.get_or_init(|| {
        common::corpus()
            .map(|d| common::load_one(&d.join("nifti/totalseg/example_seg_dicom.nii.gz")))
    })
    .as_ref()
}

fn mr() -> Option<&'static Volume> {
    static MR: OnceLock<Option<Volume>> = OnceLock::new();
    MR.get_or_init(|| {
        common::corpus().map(|d| common::load_one(&d.join("dicom/series/mr_prostate_adc_20sl")))
    })
    .as_ref()
}

/// A fresh cache key (the context is shared by all tests).
fn key() -> VolumeKey {
    static NEXT: AtomicU64 = AtomicU64::new(1000);
    VolumeKey {
        image: NEXT.fetch_add(1, Ordering::Relaxed),
        revision: 0,
    }
}

fn upload(ctx: &mut RenderContext, v: &Volume, role: VolumeRole) -> std::sync::Arc<GpuVolume> {
    ctx.volume(key(), role, v).unwrap()
}

fn volume(size: [usize; 3], spacing: [f64; 3], direction: Mat3, voxels: Voxels) -> Volume {
    Volume::new(
        size,
        spacing,
        [-10.0, 20.0, -30.0],
        direction,
        1,
        voxels,
        Rescale::IDENTITY,
    )
    .unwrap()
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

/// Renders slice `slice` of `orientation` one voxel per pixel.
fn render_native(
    ctx: &mut RenderContext,
    image: &GpuVolume,
    orientation: Orientation,
    slice: usize,
    window: Window,
) -> RgbaPicture {
    let view = SliceView::native(orientation, slice);
    let scene = SliceScene::new(image, view, ImageDisplay::new(image, window));
    let vp = ViewGeometry::native_viewport(image.grid(), orientation);
    ctx.render_slice(&scene, vp).unwrap()
}

/// GPU native slices equal the CPU reference within ±1 grey level (f32 vs f64 rounding at the
/// half-level boundaries of the window formula).
fn check_against_reference(
    ctx: &mut RenderContext,
    name: &str,
    v: &Volume,
    slices_of: impl Fn(usize) -> Vec<usize>,
    windows: &[Window],
) {
    let image = upload(ctx, v, VolumeRole::Image);
    let (mut pixels, mut off) = (0usize, 0usize);
    for o in Orientation::ALL {
        let count = SliceAxes::new(&v.direction(), o).slice_count(v.size());
        for slice in slices_of(count) {
            for &w in windows {
                let gpu = render_native(ctx, &image, o, slice, w);
                let cpu = reference_slice(v, o, slice, w).unwrap();
                let (max, n) = difference(&gpu, &cpu);
                assert!(
                    max <= 1,
                    "{name} {o:?} slice {slice} window {w:?}: {n} pixels differ, by up to {max}"
                );
                pixels += cpu.width * cpu.height;
                off += n;
            }
        }
    }
    eprintln!("{name}: {pixels} pixels compared, {off} off by one grey level, none by more");
}

// ---------------------------------------------------------------------------------------------
// Against the CPU reference

#[test]
fn ct_native_slices_equal_the_cpu_reference() {
    let Some(v) = ct() else { return };
    let Some(mut ctx) = gpu() else { return };
    let windows = [
        Window::initial(v),
        Window::new(300.0, 1500.0),
        Window::new(-600.0, 1200.0),
        Window::new(40.5, 2.0),
    ];
    assert_eq!(windows[0], Window::new(40.0, 300.0), "first DICOM preset");
    check_against_reference(&mut ctx, "CT", v, |n| vec![0, n / 2, n - 1], &windows);
}

#[test]
fn oblique_mr_native_slices_equal_the_cpu_reference() {
    let Some(v) = mr() else { return };
    let Some(mut ctx) = gpu() else { return };
    let windows = [
        Window::initial(v),
        Window::new(500.0, 800.0),
        Window::new(600.5, 2.0),
    ];
    check_against_reference(&mut ctx, "MR", v, |n| vec![0, n / 3, n - 1], &windows);
}

#[test]
fn every_voxel_type_keeps_its_precision_and_matches_the_reference() {
    let Some(mut ctx) = gpu() else { return };
    use wgpu::TextureFormat as F;
    let size = [13, 7, 5];
    let n = 13 * 7 * 5;
    let r = noise(n, 7);
    let cases: Vec<(Voxels, F)> = vec![
        (Voxels::U8(r.iter().map(|x| *x as u8).collect()), F::R8Uint),
        (Voxels::I8(r.iter().map(|x| *x as i8).collect()), F::R8Sint),
        (
            Voxels::U16(r.iter().map(|x| *x as u16).collect()),
            F::R16Uint,
        ),
        (
            Voxels::I16(r.iter().map(|x| *x as i16).collect()),
            F::R16Sint,
        ),
        (
            Voxels::U32(r.iter().map(|x| (*x % 5_000_000) as u32).collect()),
            F::R32Uint,
        ),
        (
            Voxels::I32(
                r.iter()
                    .map(|x| (*x % 5_000_000) as i32 - 2_500_000)
                    .collect(),
            ),
            F::R32Sint,
        ),
        (
            Voxels::I64(r.iter().map(|x| (*x % 70_000) as i64 - 35_000).collect()),
            F::R32Sint,
        ),
        (
            Voxels::F32(r.iter().map(|x| (*x % 100_000) as f32 / 7.0).collect()),
            F::R32Float,
        ),
        (
            Voxels::F64(r.iter().map(|x| (*x % 100_000) as f64 / 3.0).collect()),
            F::R32Float,
        ),
    ];
    for (voxels, format) in cases {
        let dtype = voxels.dtype();
        let mut v = Volume::new(
            size,
            [0.7, 0.9, 2.5],
            [0.0; 3],
            IDENTITY,
            1,
            voxels,
            Rescale {
                slope: 0.5,
                intercept: -100.0,
            },
        )
        .unwrap();
        for photometric in [Photometric::Monochrome2, Photometric::Monochrome1] {
            v.meta.photometric = photometric;
            let image = upload(&mut ctx, &v, VolumeRole::Image);
            assert_eq!(image.format(), format, "{dtype}");
            let s = v.stats();
            for w in [
                Window::from_range(s.min, s.max),
                Window::new((s.min + s.max) / 2.0, (s.max - s.min) / 10.0),
            ] {
                for o in Orientation::ALL {
                    let gpu = render_native(&mut ctx, &image, o, 2, w);
                    let cpu = reference_slice(&v, o, 2, w).unwrap();
                    let (max, n) = difference(&gpu, &cpu);
                    assert!(
                        max <= 1,
                        "{dtype} {photometric:?} {o:?} {w:?}: {n} pixels, up to {max}"
                    );
                }
            }
        }
    }
    // Colour: RGB u8, each channel windowed.
    let rgb: Vec<u8> = noise(6 * 5 * 2 * 3, 3).iter().map(|x| *x as u8).collect();
    let mut v = Volume::new(
        [6, 5, 2],
        [1.0; 3],
        [0.0; 3],
        IDENTITY,
        3,
        Voxels::U8(rgb),
        Rescale::IDENTITY,
    )
    .unwrap();
    v.meta.photometric = Photometric::Rgb;
    let image = upload(&mut ctx, &v, VolumeRole::Image);
    assert_eq!(image.format(), F::Rgba8Uint);
    let w = Window::initial(&v);
    let gpu = render_native(&mut ctx, &image, Orientation::Axial, 1, w);
    assert_eq!(gpu, reference_slice(&v, Orientation::Axial, 1, w).unwrap());
}

#[test]
fn sixteen_bit_neighbours_stay_apart() {
    let Some(mut ctx) = gpu() else { return };
    // 1000..1003 cannot be told apart in 8 bits after any fixed scaling; a 2-wide window at 1002 splits
    // 1001 from 1002.
    let v = volume(
        [4, 1, 1],
        [1.0; 3],
        IDENTITY,
        Voxels::U16(vec![1000, 1001, 1002, 1003]),
    );
    let image = upload(&mut ctx, &v, VolumeRole::Image);
    let p = render_native(
        &mut ctx,
        &image,
        Orientation::Axial,
        0,
        Window::new(1002.0, 2.0),
    );
    let grey: Vec<u8> = (0..4).map(|x| p.pixel(x, 0)[0]).collect();
    assert_eq!(grey, [0, 0, 255, 255]);
}

// ---------------------------------------------------------------------------------------------
// Geometry

/// Values are the LPS coordinate `axis` of each voxel centre; a view must show them increasing towards
/// screen right / down as the radiological convention says.
#[test]
fn views_follow_the_radiological_convention_on_any_grid() {
    let Some(mut ctx) = gpu() else { return };
    let a = 0.2f64;
    let grids: [(&str, Mat3); 6] = [
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
        (
            "oblique",
            from_columns(
                [a.cos(), a.sin(), 0.0],
                [-a.sin() * a.cos(), a.cos() * a.cos(), a.sin()],
                [a.sin() * a.sin(), -a.cos() * a.sin(), a.cos()],
            ),
        ),
    ];
    let size = [9, 8, 7];
    for (name, dir) in grids {
        for axis in 0..3 {
            let proto = volume(
                size,
                [1.0, 1.3, 1.7],
                dir,
                Voxels::F32(vec![0.0; 9 * 8 * 7]),
            );
            let w2v = proto.world_from_voxel();
            let values: Vec<f32> = (0..7)
                .flat_map(|k| (0..8).flat_map(move |j| (0..9).map(move |i| [i, j, k])))
                .map(|ijk| w2v.apply(ijk.map(|x| x as f64))[axis] as f32)
                .collect();
            let v = volume(size, [1.0, 1.3, 1.7], dir, Voxels::F32(values));
            let image = upload(&mut ctx, &v, VolumeRole::Image);
            let s = v.stats();
            let w = Window::from_range(s.min, s.max);
            for o in Orientation::ALL {
                let count = SliceAxes::new(&dir, o).slice_count(size);
                let p = render_native(&mut ctx, &image, o, count / 2, w);
                let (right, down) = o.screen_axes_lps();
                let (last_x, last_y) = (p.width - 1, p.height - 1);
                let g = |x, y| i32::from(p.pixel(x, y)[0]);
                let along_x = g(last_x, last_y / 2) - g(0, last_y / 2);
                let along_y = g(last_x / 2, last_y) - g(last_x / 2, 0);
                // The coordinate must grow (or shrink) the way the screen axis points in LPS.
                let expect = |screen: [f64; 3], delta: i32| {
                    let s = screen[axis];
                    if s > 0.5 {
                        assert!(
                            delta > 0,
                            "{name} {o:?} LPS axis {axis}: {delta} along a screen axis that points along it"
                        );
                    } else if s < -0.5 {
                        assert!(
                            delta < 0,
                            "{name} {o:?} LPS axis {axis}: {delta} along a screen axis that points against it"
                        );
                    }
                };
                expect(right, along_x);
                expect(down, along_y);
            }
        }
    }
}

/// Trilinear interpolation reproduces a linear function exactly, so a patient-aligned (resampled) view
/// of a rotated grid whose values are `f(LPS)` must show `f` at each pixel's LPS position.
#[test]
fn patient_aligned_linear_view_of_a_rotated_grid_shows_the_function() {
    let Some(mut ctx) = gpu() else { return };
    let (a, b) = (0.3f64, 0.2f64);
    let rx = from_columns(
        [1.0, 0.0, 0.0],
        [0.0, a.cos(), a.sin()],
        [0.0, -a.sin(), a.cos()],
    );
    let rz = from_columns(
        [b.cos(), b.sin(), 0.0],
        [-b.sin(), b.cos(), 0.0],
        [0.0, 0.0, 1.0],
    );
    let dir = voxmark::core::geometry::from_columns(
        voxmark::core::geometry::mul3(&rz, voxmark::core::geometry::column(&rx, 0)),
        voxmark::core::geometry::mul3(&rz, voxmark::core::geometry::column(&rx, 1)),
        voxmark::core::geometry::mul3(&rz, voxmark::core::geometry::column(&rx, 2)),
    );
    let size = [24, 22, 12];
    let f = |p: [f64; 3]| 3.0 * p[0] - 2.0 * p[1] + 5.0 * p[2] + 1000.0;
    let proto = volume(
        size,
        [1.5, 1.2, 2.5],
        dir,
        Voxels::F32(vec![0.0; 24 * 22 * 12]),
    );
    let w2v = proto.world_from_voxel();
    let values: Vec<f32> = (0..12)
        .flat_map(|k| (0..22).flat_map(move |j| (0..24).map(move |i| [i, j, k])))
        .map(|ijk| f(w2v.apply(ijk.map(|x| x as f64))) as f32)
        .collect();
    let v = volume(size, [1.5, 1.2, 2.5], dir, Voxels::F32(values));
    let image = upload(&mut ctx, &v, VolumeRole::Image);
    let s = v.stats();
    let w = Window::from_range(s.min, s.max);
    let v2w = v.voxel_from_world();
    for o in Orientation::ALL {
        let mut view = SliceView::new(o, 5);
        view.frame = Frame::PatientAligned;
        let mut display = ImageDisplay::new(&image, w);
        display.interpolation = Interpolation::Linear;
        let scene = SliceScene::new(&image, view, display);
        let vp = [48, 40];
        let p = ctx.render_slice(&scene, vp).unwrap();
        let geo = ViewGeometry::new(image.grid(), &view, vp).unwrap();
        let mut compared = 0;
        for y in 0..vp[1] as usize {
            for x in 0..vp[0] as usize {
                let world = geo.world_at(x as f64 + 0.5, y as f64 + 0.5);
                let ijk = v2w.apply(world);
                // Inside the hull of voxel centres the interpolation is exactly linear.
                let inner = (0..3).all(|a| ijk[a] >= 0.01 && ijk[a] <= size[a] as f64 - 1.01);
                if !inner {
                    continue;
                }
                let want = w.apply(f(world));
                let got = p.pixel(x, y)[0];
                assert!(got.abs_diff(want) <= 1, "{o:?} ({x},{y}): {got} vs {want}");
                compared += 1;
            }
        }
        assert!(compared > 300, "{o:?}: only {compared} pixels inside");
    }
}

#[test]
fn zoom_and_pan_map_pixels_exactly() {
    let Some(v) = ct() else { return };
    let Some(mut ctx) = gpu() else { return };
    let image = upload(&mut ctx, v, VolumeRole::Image);
    let w = Window::initial(v);
    let native = render_native(&mut ctx, &image, Orientation::Axial, 10, w);
    let mut view = SliceView::native(Orientation::Axial, 10);
    view.zoom = 2.0;
    let zoomed = ctx
        .render_slice(
            &SliceScene::new(&image, view, ImageDisplay::new(&image, w)),
            [512, 512],
        )
        .unwrap();
    // Zoom 2 about the centre: pixel x shows voxel 128 + x / 2.
    for (x, y) in [(0, 0), (1, 1), (37, 300), (511, 511), (256, 3)] {
        assert_eq!(
            zoomed.pixel(x, y),
            native.pixel(128 + x / 2, 128 + y / 2),
            "({x},{y})"
        );
    }
    let mut view = SliceView::native(Orientation::Axial, 10);
    view.pan_mm = [10.0 * v.spacing_mm()[0], -3.0 * v.spacing_mm()[1]];
    let panned = ctx
        .render_slice(
            &SliceScene::new(&image, view, ImageDisplay::new(&image, w)),
            [512, 512],
        )
        .unwrap();
    for (x, y) in [(0, 3), (100, 200), (501, 511)] {
        assert_eq!(panned.pixel(x, y), native.pixel(x + 10, y - 3), "({x},{y})");
    }
    // Past the right edge: background.
    assert_eq!(panned.pixel(505, 100), [0, 0, 0, 255]);
}

// ---------------------------------------------------------------------------------------------
// Overlays

/// A 10×8×3 image of constant grey 101 and a label map on the same voxels stored with j reversed
/// (like the TotalSegmentator file against its CT), holding an 8-bit and a 16-bit label.
fn label_fixture() -> (Volume, Volume, Vec<u16>) {
    let (nx, ny, nz) = (10usize, 8usize, 3usize);
    let image = volume(
        [nx, ny, nz],
        [1.0, 1.0, 2.0],
        IDENTITY,
        Voxels::U8(vec![101; nx * ny * nz]),
    );
    // Labels in image voxel order (what the expected picture shows at slice 1).
    let mut shown = vec![0u16; nx * ny];
    for y in 1..5 {
        for x in 2..7 {
            shown[y * nx + x] = 3;
        }
    }
    for y in 4..7 {
        for x in 6..9 {
            shown[y * nx + x] = 300;
        }
    }
    shown[7 * nx] = 2;
    // Stored with j reversed: voxel j of the label grid is image row ny-1-j; origin moves to the far row.
    let mut stored = vec![0u16; nx * ny * nz];
    for j in 0..ny {
        for x in 0..nx {
            stored[(ny + j) * nx + x] = shown[(ny - 1 - j) * nx + x];
        }
    }
    let origin = image.origin_lps_mm();
    let labels = Volume::new(
        [nx, ny, nz],
        [1.0, 1.0, 2.0],
        [origin[0], origin[1] + (ny - 1) as f64, origin[2]],
        from_columns([1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]),
        1,
        Voxels::U16(stored),
        Rescale::IDENTITY,
    )
    .unwrap();
    (image, labels, shown)
}

fn blend(base: u8, colour: u8, alpha: f64) -> u8 {
    let x = f64::from(base) * (1.0 - alpha) + f64::from(colour) * alpha;
    assert!(
        (x.fract() - 0.5).abs() > 0.01,
        "the fixture must avoid rounding ties: {x}"
    );
    x.round() as u8
}

#[test]
fn label_colours_are_exact_filled_translucent_and_outlined() {
    let Some(mut ctx) = gpu() else { return };
    let (image_v, labels_v, shown) = label_fixture();
    let image = upload(&mut ctx, &image_v, VolumeRole::Image);
    let labels = upload(&mut ctx, &labels_v, VolumeRole::Labels);
    assert_eq!(labels.format(), wgpu::TextureFormat::R16Uint);
    let mut lut = LabelLut::standard().unwrap();
    lut.set(3, [200, 30, 77, 255]);
    lut.set(300, [14, 240, 90, 128]);
    let colours = ctx.label_colours(&lut);
    let w = Window::from_range(0.0, 255.0);
    let (nx, ny) = (10, 8);
    for (style, opacity) in [
        (LabelStyle::Fill, 1.0f32),
        (LabelStyle::Fill, 0.6),
        (LabelStyle::Outline { width_px: 1 }, 1.0),
    ] {
        let mut scene = SliceScene::new(
            &image,
            SliceView::native(Orientation::Axial, 1),
            ImageDisplay::new(&image, w),
        );
        scene.labels = Some(LabelLayer {
            volume: &labels,
            colours: Some(&colours),
            opacity,
            style,
        });
        let p = ctx.render_slice(&scene, [nx as u32, ny as u32]).unwrap();
        for y in 0..ny {
            for x in 0..nx {
                let l = shown[y * nx + x];
                let at = |dx: i32, dy: i32| {
                    let (xx, yy) = (x as i32 + dx, y as i32 + dy);
                    if xx < 0 || yy < 0 || xx >= nx as i32 || yy >= ny as i32 {
                        0
                    } else {
                        shown[yy as usize * nx + xx as usize]
                    }
                };
                let drawn = l != 0
                    && match style {
                        LabelStyle::Fill => true,
                        LabelStyle::Outline { .. } => {
                            at(1, 0) != l || at(-1, 0) != l || at(0, 1) != l || at(0, -1) != l
                        }
                    };
                let want = if drawn {
                    let c = lut.get(l);
                    let a = f64::from(c[3]) / 255.0 * f64::from(opacity);
                    [
                        blend(101, c[0], a),
                        blend(101, c[1], a),
                        blend(101, c[2], a),
                        255,
                    ]
                } else {
                    [101, 101, 101, 255]
                };
                assert_eq!(
                    p.pixel(x, y),
                    want,
                    "{style:?} {opacity}: pixel ({x},{y}) label {l}"
                );
            }
        }
    }
}

/// The TotalSegmentator map is stored with j reversed against the CT: each pixel must show the label
/// found at its LPS position (nearest voxel), in the table's colour.
#[test]
fn ct_label_overlay_matches_labels_at_each_patient_position() {
    let (Some(v), Some(l)) = (ct(), ct_labels()) else {
        return;
    };
    let Some(mut ctx) = gpu() else { return };
    assert_eq!(l.size(), v.size());
    assert_ne!(
        l.direction(),
        v.direction(),
        "the fixture's point: a different voxel order"
    );
    let image = upload(&mut ctx, v, VolumeRole::Image);
    let labels = upload(&mut ctx, l, VolumeRole::Labels);
    assert_eq!(labels.format(), wgpu::TextureFormat::R8Uint);
    let lut = LabelLut::standard().unwrap();
    let w = Window::initial(v);
    let (w2v_image, v2w_labels) = (v.world_from_voxel(), l.voxel_from_world());
    let mut labelled = 0;
    for (o, slice) in [
        (Orientation::Axial, 10),
        (Orientation::Coronal, 250),
        (Orientation::Sagittal, 300),
    ] {
        let mut scene = SliceScene::new(
            &image,
            SliceView::native(o, slice),
            ImageDisplay::new(&image, w),
        );
        scene.labels = Some(LabelLayer {
            volume: &labels,
            colours: None,
            opacity: 1.0,
            style: LabelStyle::Fill,
        });
        let vp = ViewGeometry::native_viewport(image.grid(), o);
        let p = ctx.render_slice(&scene, vp).unwrap();
        let cpu = reference_slice(v, o, slice, w).unwrap();
        let axes = SliceAxes::new(&v.direction(), o);
        for y in 0..p.height {
            for x in 0..p.width {
                let ijk = axes.voxel(v.size(), x, y, slice);
                let at = v2w_labels.apply(w2v_image.apply(ijk.map(|c| c as f64)));
                let lijk = at.map(|c| c.round() as usize);
                let label = l.value(lijk, 0).unwrap() as u16;
                let want = if label == 0 {
                    cpu.pixel(x, y)
                } else {
                    labelled += 1;
                    let c = lut.get(label);
                    [c[0], c[1], c[2], 255]
                };
                let got = p.pixel(x, y);
                if label == 0 {
                    assert!(
                        got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 1),
                        "{o:?} ({x},{y})"
                    );
                } else {
                    assert_eq!(got, want, "{o:?} ({x},{y}) label {label}");
                }
            }
        }
    }
    assert!(labelled > 10_000, "only {labelled} labelled pixels");
}

#[test]
fn heatmap_on_its_own_grid_uses_the_colormap() {
    let Some(mut ctx) = gpu() else { return };
    let image_v = volume([8, 8, 2], [1.0; 3], IDENTITY, Voxels::U8(vec![40; 128]));
    // Heatmap at half resolution: 4×4×1 voxels of 2×2×2 mm covering the same field.
    let mut h = vec![0.0f32; 16];
    h[4 + 1] = 0.5;
    h[3 * 4 + 3] = 2.0;
    let o = image_v.origin_lps_mm();
    let heat_v = Volume::new(
        [4, 4, 1],
        [2.0; 3],
        [o[0] + 0.5, o[1] + 0.5, o[2] + 0.5],
        IDENTITY,
        1,
        Voxels::F32(h),
        Rescale::IDENTITY,
    )
    .unwrap();
    let image = upload(&mut ctx, &image_v, VolumeRole::Image);
    let heat = upload(&mut ctx, &heat_v, VolumeRole::Heatmap);
    let viridis = Colormap::Viridis.table().unwrap();
    for opacity in [1.0f32, 0.3] {
        let mut scene = SliceScene::new(
            &image,
            SliceView::native(Orientation::Axial, 0),
            ImageDisplay::new(&image, Window::from_range(0.0, 255.0)),
        );
        scene.heatmap = Some(HeatLayer {
            volume: &heat,
            colormap: Colormap::Viridis,
            range: [0.25, 1.0],
            opacity,
            interpolation: Interpolation::Nearest,
        });
        let p = ctx.render_slice(&scene, [8, 8]).unwrap();
        for y in 0..8 {
            for x in 0..8 {
                let hv = match (x / 2, y / 2) {
                    (1, 1) => 0.5,
                    (3, 3) => 2.0,
                    _ => 0.0,
                };
                let want = if hv < 0.25 {
                    [40, 40, 40, 255]
                } else {
                    // t = (0.5 - 0.25) / 0.75 → index 85; 2.0 clamps to 255.
                    let c = viridis[if hv == 0.5 { 85 } else { 255 }];
                    let a = f64::from(opacity);
                    [
                        blend(40, c[0], a),
                        blend(40, c[1], a),
                        blend(40, c[2], a),
                        255,
                    ]
                };
                assert_eq!(p.pixel(x, y), want, "opacity {opacity} ({x},{y})");
            }
        }
    }
}

#[test]
fn boxes_polygons_and_crosshair_land_on_their_pixels() {
    let Some(mut ctx) = gpu() else { return };
    let v = volume(
        [32, 32, 4],
        [1.0, 1.0, 2.0],
        IDENTITY,
        Voxels::U8(vec![0; 32 * 32 * 4]),
    );
    let image = upload(&mut ctx, &v, VolumeRole::Image);
    let w2v = v.world_from_voxel();
    let red = LineStyle::solid([255, 0, 0, 255], 2.0);
    let green = LineStyle::solid([0, 255, 0, 255], 1.0);
    let vectors = [
        VectorOverlay {
            shape: VectorShape::Box {
                voxels: VoxelBox {
                    min: [4, 6, 0],
                    max: [10, 9, 3],
                },
                world_from_voxel: w2v,
            },
            style: red,
        },
        // A polygon drawn on slice 2: must not show on slice 1.
        VectorOverlay {
            shape: VectorShape::Polyline {
                points_lps_mm: [[20.0, 2.0, 2.0], [28.0, 2.0, 2.0], [28.0, 9.0, 2.0]]
                    .iter()
                    .map(|p| w2v.apply(*p))
                    .collect(),
                closed: true,
            },
            style: green,
        },
    ];
    let mut scene = SliceScene::new(
        &image,
        SliceView::native(Orientation::Axial, 1),
        ImageDisplay::new(&image, Window::from_range(0.0, 255.0)),
    );
    scene.vectors = &vectors;
    scene.crosshair = Some(Crosshair {
        point_lps_mm: w2v.apply([20.0, 25.0, 1.0]),
        style: LineStyle::solid([0, 0, 255, 255], 1.0),
        gap_px: 3.25,
    });
    let p = ctx.render_slice(&scene, [32, 32]).unwrap();
    for y in 0..32 {
        for x in 0..32 {
            // Box edges at voxel faces x = 4, 10 and y = 6, 9, 2 px wide with square caps.
            let in_outer = (3..=10).contains(&x) && (5..=9).contains(&y);
            let in_inner = (5..=8).contains(&x) && y == 7;
            let on_box = in_outer && !in_inner;
            let on_cross =
                (x == 20 && !(22..=28).contains(&y)) || (y == 25 && !(17..=23).contains(&x));
            let want = if on_box {
                [255, 0, 0, 255]
            } else if on_cross {
                [0, 0, 255, 255]
            } else {
                [0, 0, 0, 255]
            };
            assert_eq!(p.pixel(x, y), want, "({x},{y})");
        }
    }
    scene.view.slice = 2;
    scene.crosshair = None;
    let p = ctx.render_slice(&scene, [32, 32]).unwrap();
    assert_eq!(
        p.pixel(28, 4),
        [0, 255, 0, 255],
        "polygon edge on its own slice"
    );
    assert_eq!(
        p.pixel(4, 7),
        [255, 0, 0, 255],
        "the box spans slices 0..=2"
    );
}

/// The viewer's path: its own render pass on an sRGB target, the slice in a viewport away from the
/// framebuffer's corner; the pixels there must be the offscreen picture's.
#[test]
fn a_viewport_inside_an_srgb_framebuffer_shows_the_same_picture() {
    let Some(v) = mr() else { return };
    let Some(mut ctx) = gpu() else { return };
    let image = upload(&mut ctx, v, VolumeRole::Image);
    let mut view = SliceView::new(Orientation::Coronal, 128);
    view.zoom = 1.7;
    let mut scene = SliceScene::new(&image, view, ImageDisplay::new(&image, Window::initial(v)));
    scene.crosshair = Some(Crosshair {
        point_lps_mm: v.world_from_voxel().apply([100.0, 128.0, 7.0]),
        style: LineStyle::solid([255, 128, 0, 255], 2.0),
        gap_px: 5.0,
    });
    let (vp, origin) = ([200u32, 150u32], [40u32, 30u32]);
    let offscreen = ctx.render_slice(&scene, vp).unwrap();
    let format = wgpu::TextureFormat::Rgba8UnormSrgb;
    let prepared = ctx
        .prepare_slice(&scene, vp, [origin[0] as f32, origin[1] as f32], format)
        .unwrap();
    let device = ctx.device();
    let size = wgpu::Extent3d {
        width: 300,
        height: 200,
        depth_or_array_layers: 1,
    };
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size,
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let target = texture.create_view(&Default::default());
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 300 * 4 * 200 + 256 * 200,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let row = (300 * 4u32).next_multiple_of(256);
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: None,
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::WHITE),
                    store: wgpu::StoreOp::Store,
                },
            })],
            ..Default::default()
        });
        pass.set_viewport(
            origin[0] as f32,
            origin[1] as f32,
            vp[0] as f32,
            vp[1] as f32,
            0.0,
            1.0,
        );
        pass.set_scissor_rect(origin[0], origin[1], vp[0], vp[1]);
        prepared.paint(&mut pass);
    }
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: Some(200),
            },
        },
        size,
    );
    ctx.queue().submit([encoder.finish()]);
    let slice = buffer.slice(..);
    slice.map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let data = slice.get_mapped_range().unwrap();
    let mut worst = 0;
    for y in 0..200usize {
        for x in 0..300usize {
            let i = y * row as usize + x * 4;
            let got = &data[i..i + 4];
            let inside = (40..240).contains(&x) && (30..180).contains(&y);
            if inside {
                let want = offscreen.pixel(x - 40, y - 30);
                let d = got
                    .iter()
                    .zip(want)
                    .map(|(a, b)| a.abs_diff(b))
                    .max()
                    .unwrap();
                worst = worst.max(d);
            } else {
                assert_eq!(got, [255, 255, 255, 255], "outside the viewport ({x},{y})");
            }
        }
    }
    // sRGB encode(decode(v)) in f32 comes back to v, or one level off at most.
    assert!(
        worst <= 1,
        "viewport pixels differ from the offscreen picture by up to {worst}"
    );
}

// ---------------------------------------------------------------------------------------------
// Textures

#[test]
fn a_dirty_box_is_uploaded_alone() {
    let Some(mut ctx) = gpu() else { return };
    let size = [16, 12, 6];
    let n = 16 * 12 * 6;
    let values: Vec<i16> = noise(n, 11)
        .iter()
        .map(|x| (*x % 2000) as i16 - 1000)
        .collect();
    let mut v = volume(size, [1.0; 3], IDENTITY, Voxels::I16(values));
    let k = key();
    let first = ctx.volume(k, VolumeRole::Image, &v).unwrap();
    let w = Window::new(0.0, 2000.0);
    let dirty = VoxelBox {
        min: [4, 2, 1],
        max: [9, 7, 4],
    };
    let set = |v: &Volume, ijk: [usize; 3], x: i16| -> Volume {
        let Voxels::I16(mut d) = v.voxels().clone() else {
            unreachable!()
        };
        d[v.index(ijk).unwrap()] = x;
        let mut out = volume(size, [1.0; 3], IDENTITY, Voxels::I16(d));
        out.meta = v.meta.clone();
        out
    };
    // Inside the box: the brush stroke. Outside: a change the update is not told about.
    let mut inside_only = v.clone();
    for z in 1..4 {
        for y in 2..7 {
            for x in 4..9 {
                inside_only = set(&inside_only, [x, y, z], 900);
            }
        }
    }
    v = set(&inside_only, [0, 0, 2], -999);
    let bytes_before = ctx.cached_bytes();
    let updated = ctx
        .update_volume_box(
            VolumeKey { revision: 1, ..k },
            VolumeRole::Image,
            &v,
            &dirty,
        )
        .unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first, &updated),
        "same texture, written in place"
    );
    assert_eq!(ctx.cached_bytes(), bytes_before);
    let gpu = render_native(&mut ctx, &updated, Orientation::Axial, 2, w);
    assert_eq!(
        difference(
            &gpu,
            &reference_slice(&inside_only, Orientation::Axial, 2, w).unwrap()
        )
        .0,
        0
    );
    assert_ne!(
        gpu.pixel(0, 0),
        reference_slice(&v, Orientation::Axial, 2, w)
            .unwrap()
            .pixel(0, 0)
    );
    // Revision 1 is now cached: asking for it uploads nothing.
    let again = ctx
        .volume(VolumeKey { revision: 1, ..k }, VolumeRole::Image, &v)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    // A box of whole planes goes up straight from the stored bytes of those planes.
    let plane3 = set(&set(&v, [5, 5, 3], 1234), [0, 0, 3], -1234);
    let whole = VoxelBox {
        min: [0, 0, 3],
        max: [16, 12, 4],
    };
    let updated = ctx
        .update_volume_box(
            VolumeKey { revision: 2, ..k },
            VolumeRole::Image,
            &plane3,
            &whole,
        )
        .unwrap();
    let gpu3 = render_native(&mut ctx, &updated, Orientation::Axial, 3, w);
    assert_eq!(
        difference(
            &gpu3,
            &reference_slice(&plane3, Orientation::Axial, 3, w).unwrap()
        )
        .0,
        0
    );
    let gpu2 = render_native(&mut ctx, &updated, Orientation::Axial, 2, w);
    assert_eq!(
        difference(
            &gpu2,
            &reference_slice(&inside_only, Orientation::Axial, 2, w).unwrap()
        )
        .0,
        0
    );
    // Out-of-grid boxes and mismatched volumes are refused.
    let outside = VoxelBox {
        min: [0, 0, 0],
        max: [17, 1, 1],
    };
    assert!(matches!(
        ctx.update_volume_box(
            VolumeKey { revision: 3, ..k },
            VolumeRole::Image,
            &v,
            &outside
        ),
        Err(RenderError::Update(_))
    ));
    // A label map whose new label no longer fits 8 bits needs a full upload.
    let lk = key();
    let mut labels = volume([4, 4, 1], [1.0; 3], IDENTITY, Voxels::U16(vec![1; 16]));
    ctx.volume(lk, VolumeRole::Labels, &labels).unwrap();
    labels = volume([4, 4, 1], [1.0; 3], IDENTITY, Voxels::U16(vec![300; 16]));
    let e = ctx
        .update_volume_box(
            VolumeKey { revision: 1, ..lk },
            VolumeRole::Labels,
            &labels,
            &VoxelBox {
                min: [0; 3],
                max: [1, 1, 1],
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("upload the volume again"), "{e}");
}

#[test]
fn the_cache_is_keyed_by_image_role_and_revision() {
    let Some(mut ctx) = gpu() else { return };
    let v = volume([8, 8, 8], [1.0; 3], IDENTITY, Voxels::U16(vec![7; 512]));
    let k = key();
    let a = ctx.volume(k, VolumeRole::Image, &v).unwrap();
    let b = ctx.volume(k, VolumeRole::Image, &v).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(a.bytes(), 8 * 8 * 8 * 2);
    let as_heat = ctx.volume(k, VolumeRole::Heatmap, &v).unwrap();
    assert_eq!(
        (as_heat.format(), as_heat.bytes()),
        (wgpu::TextureFormat::R32Float, 8 * 8 * 8 * 4)
    );
    let c = ctx
        .volume(VolumeKey { revision: 1, ..k }, VolumeRole::Image, &v)
        .unwrap();
    assert!(!std::sync::Arc::ptr_eq(&a, &c));
    // A budget drops the least recently used entries, never the one just used.
    let total = ctx.cached_bytes();
    ctx.set_cache_budget(c.bytes());
    assert!(ctx.cached_bytes() <= c.bytes() && ctx.cached_bytes() < total);
    let d = ctx
        .volume(VolumeKey { revision: 1, ..k }, VolumeRole::Image, &v)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&c, &d));
    ctx.set_cache_budget(u64::MAX);
    ctx.forget_image(k.image);
}

#[test]
fn a_volume_beyond_the_3d_texture_limit_is_a_clear_error() {
    let Some(mut ctx) = gpu() else { return };
    let limit = ctx.device().limits().max_texture_dimension_3d as usize;
    let v = volume(
        [limit + 1, 1, 1],
        [1.0; 3],
        IDENTITY,
        Voxels::U8(vec![0; limit + 1]),
    );
    let e = ctx.volume(key(), VolumeRole::Image, &v).unwrap_err();
    assert!(matches!(e, RenderError::VolumeTooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("limit of {limit}")), "{e}");
    let labels = volume([2, 1, 1], [1.0; 3], IDENTITY, Voxels::F32(vec![0.5, 1.0]));
    assert!(matches!(
        ctx.volume(key(), VolumeRole::Labels, &labels),
        Err(RenderError::Labels(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Snapshots and timing

/// Snapshot tolerance: every channel of at least 99.5 % of the pixels within ±1 level of the committed
/// PNG, the rest free. ±1: window and blend arithmetic is f32 and drivers may round a half level either
/// way; 0.5 %: a pixel centre that falls within float rounding of a voxel boundary can pick either
/// neighbour for nearest-neighbour labels on another driver. Set `VOXMARK_UPDATE_SNAPSHOTS=1` to
/// rewrite the snapshots (then look at them).
const SNAPSHOT_MAX_LEVEL_DIFF: u8 = 1;
const SNAPSHOT_MAX_FRACTION_BEYOND: f64 = 0.005;

fn snapshot(name: &str, p: &RgbaPicture) {
    common::gpu::snapshot(
        name,
        p,
        common::gpu::SnapshotTolerance {
            max_level_diff: SNAPSHOT_MAX_LEVEL_DIFF,
            max_fraction_beyond: SNAPSHOT_MAX_FRACTION_BEYOND,
        },
    );
}

#[test]
fn ct_views_with_labels_match_their_snapshots() {
    let (Some(v), Some(l)) = (ct(), ct_labels()) else {
        return;
    };
    let Some(mut ctx) = gpu() else { return };
    let image = upload(&mut ctx, v, VolumeRole::Image);
    let labels = upload(&mut ctx, l, VolumeRole::Labels);
    let w2v = v.world_from_voxel();
    let centre = w2v.apply([250.0, 300.0, 10.0]);
    let vectors = [VectorOverlay {
        shape: VectorShape::Box {
            voxels: VoxelBox {
                min: [300, 250, 4],
                max: [420, 360, 16],
            },
            world_from_voxel: w2v,
        },
        style: LineStyle {
            colour: [255, 220, 0, 255],
            width_px: 2.0,
            dash_px: Some([6.0, 4.0]),
        },
    }];
    for (o, slice, vp) in [
        (Orientation::Axial, 10, [256, 256]),
        (Orientation::Coronal, 300, [256, 64]),
        (Orientation::Sagittal, 250, [256, 64]),
    ] {
        let mut display = ImageDisplay::new(&image, Window::initial(v));
        display.interpolation = Interpolation::Linear;
        let mut view = SliceView::new(o, slice);
        if o != Orientation::Axial {
            view.zoom = 2.5;
        }
        let mut scene = SliceScene::new(&image, view, display);
        scene.labels = Some(LabelLayer {
            volume: &labels,
            colours: None,
            opacity: 0.45,
            style: LabelStyle::Fill,
        });
        scene.vectors = &vectors;
        scene.crosshair = Some(Crosshair {
            point_lps_mm: centre,
            style: LineStyle::solid([0, 200, 255, 160], 1.0),
            gap_px: 6.0,
        });
        let p = ctx.render_slice(&scene, vp).unwrap();
        snapshot(&format!("render_ct_{}", o.name()), &p);
    }
}

#[test]
fn frame_time_and_gpu_memory() {
    let (Some(v), Some(l)) = (ct(), ct_labels()) else {
        return;
    };
    let Some(mut ctx) = gpu() else { return };
    let image = upload(&mut ctx, v, VolumeRole::Image);
    let labels = upload(&mut ctx, l, VolumeRole::Labels);
    let mut scene = SliceScene::new(
        &image,
        SliceView::new(Orientation::Axial, 10),
        ImageDisplay::new(&image, Window::initial(v)),
    );
    let best = |ctx: &mut RenderContext, scene: &SliceScene<'_>, vp: [u32; 2]| {
        let mut best = f64::INFINITY;
        for _ in 0..10 {
            let t = std::time::Instant::now();
            let p = ctx.render_slice(scene, vp).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            assert_eq!(p.rgba.len(), vp[0] as usize * vp[1] as usize * 4);
        }
        best * 1e3
    };
    let plain = best(&mut ctx, &scene, [512, 512]);
    let tiny = best(&mut ctx, &scene, [16, 16]);
    scene.labels = Some(LabelLayer {
        volume: &labels,
        colours: None,
        opacity: 0.5,
        style: LabelStyle::Outline { width_px: 1 },
    });
    scene.display.interpolation = Interpolation::Linear;
    let full = best(&mut ctx, &scene, [512, 512]);
    let info = ctx.adapter_info();
    eprintln!(
        "frame (render + read-back, best of 10) on {} ({:?}): 512×512 nearest {plain:.2} ms, 16×16 {tiny:.2} ms, \
         512×512 linear + label outlines {full:.2} ms; GPU memory: CT {} bytes ({:?}), labels {} bytes ({:?}); \
         max 3D texture side {}",
        info.name,
        info.backend,
        image.bytes(),
        image.format(),
        labels.bytes(),
        labels.format(),
        ctx.device().limits().max_texture_dimension_3d
    );
    assert_eq!(image.bytes(), 512 * 512 * 20 * 2);
    assert_eq!(labels.bytes(), 512 * 512 * 20);
}

// ---------------------------------------------------------------------------------------------
// The command

#[test]
fn render_command_writes_the_reference_slice_and_refuses_bad_input() {
    let (Some(v), Some(dir)) = (ct(), common::corpus()) else {
        return;
    };
    if gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ct_dir = dir.join("dicom/series/ct_abdomen_20sl_j2kr");
    let out = tmp.path().join("axial.png");
    let os = |s: &str| std::ffi::OsString::from(s);
    let args = |extra: &[&str], out: &Path| -> Vec<std::ffi::OsString> {
        let mut a = vec![os("render"), ct_dir.clone().into_os_string()];
        a.extend(extra.iter().map(|s| os(s)));
        a.push(os("--out"));
        a.push(out.as_os_str().to_owned());
        a
    };
    let call =
        |a: Vec<std::ffi::OsString>| run(&a.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());

    let r = call(args(
        &[
            "--view",
            "coronal",
            "--slice",
            "200",
            "--window",
            "-600,1200",
            "--native",
        ],
        &out,
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let png = image::open(&out).unwrap().to_rgb8();
    let cpu = reference_slice(v, Orientation::Coronal, 200, Window::new(-600.0, 1200.0)).unwrap();
    assert_eq!(
        (png.width() as usize, png.height() as usize),
        (cpu.width, cpu.height)
    );
    for (p, c) in png.as_raw().chunks_exact(3).zip(cpu.rgba.chunks_exact(4)) {
        assert!(p.iter().zip(c).all(|(a, b)| a.abs_diff(*b) <= 1));
    }

    // Physical proportions by default: 20 slices of 2 mm at 0.977 mm pixels.
    let r = call(args(&["--view", "sagittal"], &out));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(image::image_dimensions(&out).unwrap(), (512, 41));
    let r = call(args(
        &[
            "--view",
            "axial",
            "--size",
            "300x200",
            "--colormap",
            "viridis",
            "--linear",
        ],
        &out,
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(image::image_dimensions(&out).unwrap(), (300, 200));

    for (extra, needle) in [
        (
            &["--view", "axial", "--mode", "mip"][..],
            "only applies to --view 3d",
        ),
        (&["--view", "axial", "--slice", "20"][..], "0..=19"),
        (&["--view", "axial", "--window", "40"][..], "CENTRE,WIDTH"),
        (&["--view", "axial", "--size", "0x10"][..], "WIDTHxHEIGHT"),
    ] {
        let r = call(args(extra, &tmp.path().join("x.png")));
        assert_eq!(r.code, 1, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{extra:?}: {}", r.stderr);
    }
    let missing = tmp.path().join("missing");
    let r = run(&[
        os("render").as_os_str(),
        missing.as_os_str(),
        os("--view").as_os_str(),
        os("axial").as_os_str(),
        os("--out").as_os_str(),
        out.as_os_str(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("missing"), "{}", r.stderr);
}
