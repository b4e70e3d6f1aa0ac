//! The 3D view of the 2×2 layout: the render module's volume pass (shaders/volume.wgsl) on the
//! viewer's own wgpu device when eframe gives one (else a headless context), drawn into an offscreen
//! target, read back and shown as an egui texture. Renders only when something it shows changes
//! (image, camera, mode, size, and the window for MIP); while the camera moves a slow renderer gets
//! half the pixels.

use crate::core::Volume;
use crate::core::reslice::Window;
use crate::render::{
    AdapterPreference, CameraGeometry, GpuTransferFunction, GridGeometry, OrbitCamera,
    RenderContext, Shading, TransferFunction, VolumeKey, VolumeMode, VolumePass, VolumeRole,
    VolumeScene,
};
use egui::{ColorImage, Pos2, Rect};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the rays compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode3d {
    /// Maximum intensity projection with the 2D views' window.
    Mip,
    /// Direct volume rendering with transfer-function preset `TransferFunction::PRESETS[n]`.
    Dvr(usize),
}

impl Mode3d {
    /// The name shown in the view's menu.
    pub fn name(self) -> &'static str {
        match self {
            Mode3d::Mip => "MIP",
            Mode3d::Dvr(n) => TransferFunction::PRESETS.get(n).copied().unwrap_or("dvr"),
        }
    }

    /// The modes offered: MIP, then DVR with each preset.
    pub fn all() -> Vec<Mode3d> {
        std::iter::once(Mode3d::Mip)
            .chain((0..TransferFunction::PRESETS.len()).map(Mode3d::Dvr))
            .collect()
    }

    /// DVR with the preset for the modality (CT soft tissue for CT, the relative MR ramp otherwise).
    pub fn default_for(modality: Option<&str>) -> Self {
        let name = TransferFunction::default_preset(modality);
        Mode3d::Dvr(
            TransferFunction::PRESETS
                .iter()
                .position(|p| *p == name)
                .unwrap_or(0),
        )
    }
}

/// The orbit of the 3D view: degrees about the superior axis and towards it, and magnification.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Orbit {
    /// Degrees about the superior axis (0: from the front).
    pub azimuth_deg: f64,
    /// Degrees towards superior.
    pub elevation_deg: f64,
    /// Magnification.
    pub zoom: f64,
}

impl Default for Orbit {
    fn default() -> Self {
        Self {
            azimuth_deg: 0.0,
            elevation_deg: 0.0,
            zoom: 1.0,
        }
    }
}

impl Orbit {
    /// Turns by a drag of `dx`, `dy` points (half a degree per point; elevation stops at the poles).
    pub fn drag(&mut self, dx: f32, dy: f32) {
        self.azimuth_deg = (self.azimuth_deg - f64::from(dx) * 0.5).rem_euclid(360.0);
        self.elevation_deg = (self.elevation_deg + f64::from(dy) * 0.5).clamp(-90.0, 90.0);
    }

    fn camera(self) -> OrbitCamera {
        let mut c = OrbitCamera::new(self.azimuth_deg, self.elevation_deg);
        c.zoom = self.zoom;
        c
    }
}

/// Everything a picture depends on.
#[derive(Clone, Debug, PartialEq)]
struct Key {
    image: u64,
    revision: u64,
    orbit: [u64; 3],
    mode: Mode3d,
    /// The window, for MIP only (DVR colours come from the transfer function).
    window: Option<Window>,
    size: [u32; 2],
}

struct Gpu {
    ctx: RenderContext,
    pass: VolumePass,
    /// By preset index and the value range it was resolved against (bits of min and max).
    transfer: HashMap<(usize, [u64; 2]), GpuTransferFunction>,
}

/// The 3D view's renderer and its latest picture.
pub struct View3d {
    shared: Option<(wgpu::Device, wgpu::Queue)>,
    gpu: Option<Result<Gpu, String>>,
    texture: Option<(Key, egui::TextureHandle)>,
    /// How long the latest render took.
    pub last_render: Option<Duration>,
}

impl View3d {
    /// Renders on `shared` (the viewer's device) when given, else on a headless context made when
    /// first needed.
    pub fn new(shared: Option<(wgpu::Device, wgpu::Queue)>) -> Self {
        Self {
            shared,
            gpu: None,
            texture: None,
            last_render: None,
        }
    }

    fn gpu(&mut self) -> Result<&mut Gpu, String> {
        if self.gpu.is_none() {
            let made = (|| {
                let ctx = match self.shared.clone() {
                    Some((device, queue)) => RenderContext::with_device(device, queue),
                    None => RenderContext::new(AdapterPreference::from_env()),
                }
                .map_err(|e| e.to_string())?;
                let pass = VolumePass::new(&ctx).map_err(|e| e.to_string())?;
                Ok(Gpu {
                    ctx,
                    pass,
                    transfer: HashMap::new(),
                })
            })();
            self.gpu = Some(made);
        }
        match self.gpu.as_mut() {
            Some(Ok(g)) => Ok(g),
            Some(Err(e)) => Err(e.clone()),
            None => Err("no renderer".into()),
        }
    }

    /// The picture of `volume` (image `image`, voxels at `revision`) for a viewport of `size_px`
    /// pixels: the cached one when nothing changed, else a new rendering. `(min, max)` is the
    /// volume's value range (for DVR presets relative to it).
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; each input is a render key"
    )]
    pub fn picture(
        &mut self,
        ctx: &egui::Context,
        volume: &Volume,
        (image, revision): (u64, u64),
        range: (f64, f64),
        orbit: Orbit,
        mode: Mode3d,
        window: Window,
        size_px: [u32; 2],
    ) -> Result<egui::TextureId, String> {
        let key = Key {
            image,
            revision,
            orbit: [orbit.azimuth_deg, orbit.elevation_deg, orbit.zoom].map(f64::to_bits),
            mode,
            window: (mode == Mode3d::Mip).then_some(window),
            size: size_px,
        };
        if let Some((k, t)) = &self.texture
            && *k == key
        {
            return Ok(t.id());
        }
        if volume.components() != 1 || volume.size().iter().filter(|&&n| n > 1).count() < 3 {
            return Err("the 3D view needs a grey volume (more than one slice)".into());
        }
        let started = Instant::now();
        let gpu = self.gpu()?;
        let image_gpu = gpu
            .ctx
            .volume(VolumeKey { image, revision }, VolumeRole::Image, volume)
            .map_err(|e| e.to_string())?;
        let range_key = [range.0.to_bits(), range.1.to_bits()];
        let mode = match mode {
            Mode3d::Mip => VolumeMode::Mip { window },
            Mode3d::Dvr(n) => {
                if !gpu.transfer.contains_key(&(n, range_key)) {
                    let name = TransferFunction::PRESETS.get(n).copied().unwrap_or("mr");
                    let tf = TransferFunction::preset(name).map_err(|e| e.to_string())?;
                    let t = GpuTransferFunction::new(&gpu.ctx, &tf, [range.0, range.1])
                        .map_err(|e| e.to_string())?;
                    gpu.transfer.insert((n, range_key), t);
                }
                let Some(transfer) = gpu.transfer.get(&(n, range_key)) else {
                    return Err("transfer function missing".into());
                };
                VolumeMode::Dvr {
                    transfer,
                    shading: Some(Shading::default()),
                }
            }
        };
        let scene = VolumeScene::new(&image_gpu, orbit.camera(), mode);
        let picture = gpu
            .pass
            .render(&gpu.ctx, &scene, size_px)
            .map_err(|e| e.to_string())?;
        let colour =
            ColorImage::from_rgba_unmultiplied([picture.width, picture.height], &picture.rgba);
        let options = egui::TextureOptions::LINEAR;
        match &mut self.texture {
            Some((k, t)) => {
                t.set(colour, options);
                *k = key;
            }
            None => self.texture = Some((key, ctx.load_texture("voxmark-3d", colour, options))),
        }
        self.last_render = Some(started.elapsed());
        self.texture
            .as_ref()
            .map(|(_, t)| t.id())
            .ok_or_else(|| "no picture".into())
    }

    /// Where patient point `p_lps_mm` of `volume` appears in `rect` (the picture drawn there), if in
    /// front of the camera.
    pub fn screen_of(
        volume: &Volume,
        orbit: Orbit,
        rect: Rect,
        size_px: [u32; 2],
        p_lps_mm: [f64; 3],
    ) -> Option<Pos2> {
        let g = CameraGeometry::new(&GridGeometry::of(volume), &orbit.camera(), size_px).ok()?;
        let [x, y] = g.screen_at(p_lps_mm)?;
        let sx = rect.width() / size_px[0].max(1) as f32;
        let sy = rect.height() / size_px[1].max(1) as f32;
        Some(Pos2::new(
            rect.min.x + x as f32 * sx,
            rect.min.y + y as f32 * sy,
        ))
    }
}
