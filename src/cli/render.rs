//! `voxmark render PATH --view axial|coronal|sagittal|3d [...] --out PNG`: one slice, or a volume rendering
//! (MIP, MinIP, DVR), through the same offscreen GPU path the viewer uses (ARCHITECTURE.md §5).

use super::error::CliError;
use crate::core::Volume;
use crate::core::reslice::{Orientation, SliceAxes, Window};
use crate::io::{self, LoadedImage};
use crate::render::{
    AdapterPreference, Aspect, CameraGeometry, Colormap, Frame, GpuTransferFunction, ImageDisplay,
    Interpolation, LabelLayer, LabelStyle, OrbitCamera, Projection, RenderContext, RenderError,
    Sampling, Shading, SliceScene, SliceView, TransferFunction, ViewGeometry, VolumeKey,
    VolumeMode, VolumePass, VolumeRole, VolumeScene,
};
use anyhow::{Context as _, anyhow};
use std::path::{Path, PathBuf};

/// The view to draw.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewArg {
    /// Screen right = patient left, down = posterior.
    Axial,
    /// Screen right = patient left, down = inferior.
    Coronal,
    /// Screen right = posterior, down = inferior.
    Sagittal,
    /// Volume rendering from an orbit camera (default: from the front, patient right on screen left).
    #[value(name = "3d")]
    ThreeD,
}

/// Volume rendering modes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Maximum intensity projection.
    Mip,
    /// Minimum intensity projection.
    Minip,
    /// Direct volume rendering with a transfer function.
    Dvr,
}

/// Colour tables.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColormapArg {
    /// Grey levels.
    Grey,
    /// matplotlib's hot.
    Hot,
    /// matplotlib's viridis.
    Viridis,
}

/// Arguments of `voxmark render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The image: a DICOM file or folder, NIfTI, PNG, JPEG or TIFF.
    pub path: PathBuf,
    /// Which view (radiological convention: patient left on screen right).
    #[arg(long, value_enum)]
    pub view: ViewArg,
    /// Voxel plane along the volume axis closest to the view normal (default: the middle one).
    #[arg(long, value_name = "K")]
    pub slice: Option<usize>,
    /// Window centre and width in modality units (default: the file's first preset, else the value range).
    #[arg(long, value_name = "C,W", allow_hyphen_values = true)]
    pub window: Option<String>,
    /// Output size in pixels; the slice (or volume) is fitted inside with physical proportions
    /// (3D default: 512x512).
    #[arg(long, value_name = "WxH", conflicts_with = "native")]
    pub size: Option<String>,
    /// One voxel per pixel (no resampling, for pixel-exact checks); with --view 3d: an orthographic
    /// picture with one voxel column per pixel.
    #[arg(long)]
    pub native: bool,
    /// A label map (e.g. a segmentation .nii.gz) drawn over the image, matched through patient coordinates.
    #[arg(long, value_name = "LABELS")]
    pub overlay: Option<PathBuf>,
    /// Opacity of the label overlay, 0..1.
    #[arg(long, value_name = "A", default_value_t = 0.5)]
    pub overlay_opacity: f32,
    /// Draw label outlines instead of filled labels.
    #[arg(long)]
    pub outline: bool,
    /// Colour table for grey images.
    #[arg(long, value_enum, default_value = "grey")]
    pub colormap: ColormapArg,
    /// Trilinear interpolation instead of nearest neighbour.
    #[arg(long)]
    pub linear: bool,
    /// Cut the exact patient plane (resampling oblique volumes) instead of the closest voxel plane.
    #[arg(long, conflicts_with = "native")]
    pub patient_axes: bool,
    /// Magnification relative to the fitted slice.
    #[arg(long, value_name = "Z", default_value_t = 1.0)]
    pub zoom: f64,
    /// 3D: what each ray shows (default dvr).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// 3D DVR transfer function: ct-bone, ct-soft-tissue or mr (default: ct-soft-tissue for CT, else mr).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// 3D: degrees about the patient's superior axis (0 from the front, 90 from the patient's left).
    #[arg(long, value_name = "DEG", allow_hyphen_values = true)]
    pub azimuth: Option<f64>,
    /// 3D: degrees towards the head (90 from above, -90 from the feet).
    #[arg(long, value_name = "DEG", allow_hyphen_values = true)]
    pub elevation: Option<f64>,
    /// 3D: perspective projection (30° field of view) instead of orthographic.
    #[arg(long, conflicts_with = "native")]
    pub perspective: bool,
    /// 3D: ray step as a fraction of the smallest voxel spacing.
    #[arg(long, value_name = "F")]
    pub step: Option<f64>,
    /// 3D DVR: flat colours, no gradient shading.
    #[arg(long)]
    pub no_shading: bool,
    /// Which image when PATH holds several (the order of `voxmark info`).
    #[arg(long, value_name = "N")]
    pub image: Option<usize>,
    /// Output PNG.
    #[arg(long, value_name = "PNG")]
    pub out: PathBuf,
}

/// Names the file a failure is about, at the end of its message.
trait At {
    fn at(self, path: &Path) -> Self;
}

impl At for CliError {
    fn at(self, path: &Path) -> Self {
        match self {
            CliError::User(e) => CliError::User(format!("{e}: {}", path.display())),
            CliError::Internal(e) => CliError::Internal(format!("{e}: {}", path.display())),
        }
    }
}

fn user(e: impl Into<anyhow::Error>) -> CliError {
    CliError::User(format!("{:#}", e.into()))
}

/// A renderer's error: the input's fault (too large, a bad setting) or the GPU's.
fn gpu(e: RenderError) -> CliError {
    match e {
        RenderError::VolumeTooLarge { .. }
        | RenderError::TargetSize { .. }
        | RenderError::Components { .. }
        | RenderError::Labels(_)
        | RenderError::UnknownPreset { .. }
        | RenderError::Setting(_)
        | RenderError::Slice(_) => user(e),
        _ => CliError::Internal(format!("{:#}", anyhow::Error::from(e))),
    }
}

/// Runs the command; 0 on success, 1 for bad input, 2 for an internal (GPU) failure.
pub fn run(args: &RenderArgs) -> Result<(), CliError> {
    let summary = render(args)?;
    println!("{summary}");
    Ok(())
}

/// The one image at `path` (or the `index`-th).
fn load(path: &Path, index: Option<usize>, what: &str) -> Result<LoadedImage, CliError> {
    let scan = io::scan_paths(&[path.to_path_buf()]);
    if scan.images.is_empty() {
        return Err(user(match scan.errors.first() {
            Some(e) => anyhow!("{e}"),
            None => anyhow!("no {what} found: {}", path.display()),
        }));
    }
    for e in &scan.errors {
        eprintln!("warning: {e}");
    }
    let count = scan.images.len();
    let i = match index {
        Some(i) if i < count => i,
        Some(i) => {
            return Err(user(anyhow!(
                "--image {i} is out of range: {count} images (0..={}) in {}",
                count - 1,
                path.display()
            )));
        }
        None if count == 1 => 0,
        None => {
            return Err(user(anyhow!(
                "{count} images found; choose one with --image N (0..={}, as `voxmark info` lists them): {}",
                count - 1,
                path.display()
            )));
        }
    };
    scan.images
        .into_iter()
        .nth(i)
        .ok_or_else(|| CliError::internal(format!("image {i} vanished")))
}

fn parse_window(text: &str) -> Result<Window, CliError> {
    let parts: Vec<&str> = text.split(',').collect();
    let nums: Option<Vec<f64>> = (parts.len() == 2)
        .then(|| parts.iter().map(|p| p.trim().parse::<f64>().ok()).collect())
        .flatten();
    match nums.as_deref() {
        Some(&[c, w]) if c.is_finite() && w.is_finite() && w >= 1.0 => Ok(Window::new(c, w)),
        _ => Err(user(anyhow!(
            "--window {text:?}: expected CENTRE,WIDTH with a width of at least 1 (e.g. 40,400)"
        ))),
    }
}

fn parse_size(text: &str) -> Result<[u32; 2], CliError> {
    let lower = text.to_ascii_lowercase();
    let dims: Option<Vec<u32>> = lower.split_once('x').map(|(w, h)| {
        [w, h]
            .iter()
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    });
    match dims.as_deref() {
        Some(&[w, h]) if w > 0 && h > 0 => Ok([w, h]),
        _ => Err(user(anyhow!(
            "--size {text:?}: expected WIDTHxHEIGHT in pixels (e.g. 512x512)"
        ))),
    }
}

fn render(args: &RenderArgs) -> Result<String, CliError> {
    let orientation = match args.view {
        ViewArg::Axial => Orientation::Axial,
        ViewArg::Coronal => Orientation::Coronal,
        ViewArg::Sagittal => Orientation::Sagittal,
        ViewArg::ThreeD => return render_3d(args),
    };
    let only_3d = [
        ("--mode", args.mode.is_some()),
        ("--preset", args.preset.is_some()),
        ("--azimuth", args.azimuth.is_some()),
        ("--elevation", args.elevation.is_some()),
        ("--perspective", args.perspective),
        ("--step", args.step.is_some()),
        ("--no-shading", args.no_shading),
    ];
    if let Some((name, _)) = only_3d.iter().find(|(_, used)| *used) {
        return Err(user(anyhow!("{name} only applies to --view 3d")));
    }
    if !(0.0..=1.0).contains(&args.overlay_opacity) {
        return Err(user(anyhow!(
            "--overlay-opacity {}: expected a value in 0..1",
            args.overlay_opacity
        )));
    }
    if !(args.zoom.is_finite() && args.zoom > 0.0) {
        return Err(user(anyhow!(
            "--zoom {}: expected a positive number",
            args.zoom
        )));
    }
    let window = args.window.as_deref().map(parse_window).transpose()?;
    let size = args.size.as_deref().map(parse_size).transpose()?;

    let image = load(&args.path, args.image, "image")?;
    let volume: &Volume = &image.volume;
    let axes = SliceAxes::new(&volume.direction(), orientation);
    let count = axes.slice_count(volume.size());
    let slice = args.slice.unwrap_or(count / 2);
    if slice >= count {
        return Err(user(anyhow!(
            "--slice {slice} is out of range: the {} view has slices 0..={}: {}",
            orientation.name(),
            count - 1,
            args.path.display()
        )));
    }
    let window = window.unwrap_or_else(|| Window::initial(volume));
    let labels = args
        .overlay
        .as_deref()
        .map(|p| load(p, None, "label map"))
        .transpose()?;

    let mut ctx = RenderContext::new(AdapterPreference::from_env()).map_err(gpu)?;
    let image_gpu = ctx
        .volume(
            VolumeKey {
                image: 0,
                revision: 0,
            },
            VolumeRole::Image,
            volume,
        )
        .map_err(|e| gpu(e).at(&args.path))?;
    let labels_gpu = match (&labels, &args.overlay) {
        (Some(l), Some(path)) => Some(
            ctx.volume(
                VolumeKey {
                    image: 1,
                    revision: 0,
                },
                VolumeRole::Labels,
                &l.volume,
            )
            .map_err(|e| gpu(e).at(path))?,
        ),
        _ => None,
    };
    let mut view = if args.native {
        SliceView::native(orientation, slice)
    } else {
        SliceView::new(orientation, slice)
    };
    view.zoom = args.zoom;
    if args.patient_axes {
        view.frame = Frame::PatientAligned;
    }
    let grid = image_gpu.grid();
    let viewport = match (size, view.aspect) {
        (Some(s), _) => s,
        (None, Aspect::Voxel) => ViewGeometry::native_viewport(grid, orientation),
        (None, Aspect::Physical) => ViewGeometry::physical_viewport(grid, orientation),
    };
    let mut display = ImageDisplay::new(&image_gpu, window);
    display.colormap = match args.colormap {
        ColormapArg::Grey => Colormap::Grey,
        ColormapArg::Hot => Colormap::Hot,
        ColormapArg::Viridis => Colormap::Viridis,
    };
    if args.linear {
        display.interpolation = Interpolation::Linear;
    }
    let mut scene = SliceScene::new(&image_gpu, view, display);
    scene.labels = labels_gpu.as_deref().map(|volume| LabelLayer {
        volume,
        colours: None,
        opacity: args.overlay_opacity,
        style: if args.outline {
            LabelStyle::Outline { width_px: 1 }
        } else {
            LabelStyle::Fill
        },
    });
    let picture = ctx.render_slice(&scene, viewport).map_err(gpu)?;
    write_png(&picture.rgba, viewport, &args.out).map_err(user)?;
    Ok(format!(
        "wrote {}×{} px: {} slice {slice} of 0..={}, window {}/{} ({}, {:?}): {}",
        viewport[0],
        viewport[1],
        orientation.name(),
        count - 1,
        window.center,
        window.width,
        ctx.adapter_info().name,
        ctx.adapter_info().backend,
        args.out.display()
    ))
}

fn render_3d(args: &RenderArgs) -> Result<String, CliError> {
    let slice_only = [
        ("--slice", args.slice.is_some()),
        ("--overlay", args.overlay.is_some()),
        ("--outline", args.outline),
        ("--patient-axes", args.patient_axes),
        ("--linear", args.linear),
        ("--colormap", args.colormap != ColormapArg::Grey),
    ];
    if let Some((name, _)) = slice_only.iter().find(|(_, used)| *used) {
        return Err(user(anyhow!(
            "{name} applies to axial, coronal and sagittal views, not --view 3d"
        )));
    }
    let mode = args.mode.unwrap_or(ModeArg::Dvr);
    if mode == ModeArg::Dvr && args.window.is_some() {
        return Err(user(anyhow!(
            "--window applies to --mode mip and minip; DVR colours come from --preset"
        )));
    }
    if mode != ModeArg::Dvr && (args.preset.is_some() || args.no_shading) {
        return Err(user(anyhow!(
            "--preset and --no-shading apply to --mode dvr"
        )));
    }
    if !(args.zoom.is_finite() && args.zoom > 0.0) {
        return Err(user(anyhow!(
            "--zoom {}: expected a positive number",
            args.zoom
        )));
    }
    let step = args.step.unwrap_or(Sampling::default().step_factor);
    if !(step.is_finite() && step > 0.0 && step <= 4.0) {
        return Err(user(anyhow!(
            "--step {step}: expected a fraction of the smallest voxel spacing in (0, 4]"
        )));
    }
    let window = args.window.as_deref().map(parse_window).transpose()?;
    let size = args.size.as_deref().map(parse_size).transpose()?;
    let preset_name = args.preset.clone();
    if let Some(name) = &preset_name
        && !TransferFunction::PRESETS.contains(&name.as_str())
    {
        return Err(user(anyhow!(
            "--preset {name:?}: expected one of {}",
            TransferFunction::PRESETS.join(", ")
        )));
    }

    let image = load(&args.path, args.image, "image")?;
    let volume: &Volume = &image.volume;
    let mut ctx = RenderContext::new(AdapterPreference::from_env()).map_err(gpu)?;
    let image_gpu = ctx
        .volume(
            VolumeKey {
                image: 0,
                revision: 0,
            },
            VolumeRole::Image,
            volume,
        )
        .map_err(|e| gpu(e).at(&args.path))?;
    let mut pass = VolumePass::new(&ctx).map_err(gpu)?;
    let mut camera = OrbitCamera::new(args.azimuth.unwrap_or(0.0), args.elevation.unwrap_or(0.0));
    camera.zoom = args.zoom;
    if args.perspective {
        camera.projection = Projection::Perspective { fov_deg: 30.0 };
    }
    if args.native {
        camera.aspect = Aspect::Voxel;
    }
    let viewport = match size {
        Some(s) => s,
        None if args.native => CameraGeometry::native_viewport(image_gpu.grid(), &camera),
        None => [512, 512],
    };
    let transfer;
    let (mode, what) = match mode {
        ModeArg::Mip | ModeArg::Minip => {
            let window = window.unwrap_or_else(|| Window::initial(volume));
            let what = format!(
                "{}, window {}/{}",
                if mode == ModeArg::Mip { "mip" } else { "minip" },
                window.center,
                window.width
            );
            let m = if mode == ModeArg::Mip {
                VolumeMode::Mip { window }
            } else {
                VolumeMode::Minip { window }
            };
            (m, what)
        }
        ModeArg::Dvr => {
            let name = preset_name.unwrap_or_else(|| {
                TransferFunction::default_preset(volume.meta.modality.as_deref()).to_string()
            });
            let tf = TransferFunction::preset(&name).map_err(gpu)?;
            let stats = volume.stats();
            transfer = GpuTransferFunction::new(&ctx, &tf, [stats.min, stats.max]).map_err(gpu)?;
            let shading = (!args.no_shading).then(Shading::default);
            (
                VolumeMode::Dvr {
                    transfer: &transfer,
                    shading,
                },
                format!("dvr, preset {name}"),
            )
        }
    };
    let mut scene = VolumeScene::new(&image_gpu, camera, mode);
    scene.sampling.step_factor = step;
    if args.native {
        // Exact, repeatable sampling: rays along a voxel axis meet every voxel centre.
        scene.sampling.jitter_seed = None;
    }
    let picture = pass.render(&ctx, &scene, viewport).map_err(gpu)?;
    write_png(&picture.rgba, viewport, &args.out).map_err(user)?;
    Ok(format!(
        "wrote {}×{} px: 3d {what}, azimuth {}° elevation {}° ({}), GPU memory {} bytes ({}, {:?}): {}",
        viewport[0],
        viewport[1],
        camera.azimuth_deg,
        camera.elevation_deg,
        if args.perspective {
            "perspective"
        } else {
            "orthographic"
        },
        image_gpu.bytes(),
        ctx.adapter_info().name,
        ctx.adapter_info().backend,
        args.out.display()
    ))
}

/// Writes RGB when every pixel is opaque, else RGBA.
fn write_png(rgba: &[u8], [w, h]: [u32; 2], out: &Path) -> anyhow::Result<()> {
    let opaque = rgba.chunks_exact(4).all(|p| p[3] == 255);
    let result = if opaque {
        let rgb: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        image::save_buffer_with_format(
            out,
            &rgb,
            w,
            h,
            image::ColorType::Rgb8,
            image::ImageFormat::Png,
        )
    } else {
        image::save_buffer_with_format(
            out,
            rgba,
            w,
            h,
            image::ColorType::Rgba8,
            image::ImageFormat::Png,
        )
    };
    result.with_context(|| format!("cannot write the PNG: {}", out.display()))
}
