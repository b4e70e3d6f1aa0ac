//! [`RenderContext`]: device, queue, pipelines, colour tables and the texture cache, with or without a
//! window.

use super::colormap::{Colormap, GpuLabelLut, LabelLut};
use super::lines::{LineVertex, Tessellator};
use super::offscreen::{OFFSCREEN_FORMAT, OffscreenTarget, gpu_error};
use super::slice::{PreparedSlice, SliceScene, SliceUniforms, uniforms};
use super::texture::{GpuVolume, TextureCache, VolumeKey, VolumeRole};
use super::view::ViewGeometry;
use super::{RenderError, Result};
use crate::core::mask::VoxelBox;
use crate::core::reslice::RgbaPicture;
use crate::core::volume::Volume;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use wgpu::util::DeviceExt as _;

const SLICE_WGSL: &str = include_str!("../../shaders/slice.wgsl");
const LINES_WGSL: &str = include_str!("../../shaders/lines.wgsl");

/// Which adapter a headless context asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AdapterPreference {
    /// The fastest GPU (the normal choice).
    #[default]
    HighPerformance,
    /// A CPU rasteriser (Mesa's lavapipe) if there is one, else any adapter: deterministic output for
    /// tests and machines without a GPU.
    Software,
}

impl AdapterPreference {
    /// `Software` when `VOXMARK_ADAPTER` is `software` or `cpu`, else `HighPerformance`.
    pub fn from_env() -> Self {
        match std::env::var("VOXMARK_ADAPTER") {
            Ok(v) if v.eq_ignore_ascii_case("software") || v.eq_ignore_ascii_case("cpu") => {
                AdapterPreference::Software
            }
            _ => AdapterPreference::HighPerformance,
        }
    }
}

#[derive(Debug)]
struct Pipelines {
    slice: wgpu::RenderPipeline,
    lines: wgpu::RenderPipeline,
}

/// Device, queue, pipelines (per target format, built once), colour tables and the volume texture cache.
#[derive(Debug)]
pub struct RenderContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: wgpu::AdapterInfo,
    slice_layout: wgpu::BindGroupLayout,
    slice_pipeline_layout: wgpu::PipelineLayout,
    lines_pipeline_layout: wgpu::PipelineLayout,
    slice_module: wgpu::ShaderModule,
    lines_module: wgpu::ShaderModule,
    pipelines: HashMap<wgpu::TextureFormat, Pipelines>,
    /// 1×1×1 stand-ins for unused bindings: u32, i32, f32.
    dummies: [wgpu::TextureView; 3],
    colormaps: wgpu::TextureView,
    standard_labels: GpuLabelLut,
    cache: TextureCache,
    offscreen: Option<OffscreenTarget>,
}

impl RenderContext {
    /// A context without a window on the adapter `preference` asks for (`VOXMARK_ADAPTER=software`
    /// overrides it). Backends: `WGPU_BACKEND` if set, else Vulkan/Metal/DX12 and GL.
    pub fn new(preference: AdapterPreference) -> Result<Self> {
        let preference = match AdapterPreference::from_env() {
            AdapterPreference::Software => AdapterPreference::Software,
            AdapterPreference::HighPerformance => preference,
        };
        let backends =
            wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY | wgpu::Backends::GL);
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        // Vulkan first: on Linux the GL backend's software adapter is slower and less capable.
        adapters.sort_by_key(|a| a.get_info().backend != wgpu::Backend::Vulkan);
        let adapter = match preference {
            AdapterPreference::Software => {
                let cpu = adapters
                    .iter()
                    .position(|a| a.get_info().device_type == wgpu::DeviceType::Cpu);
                match cpu {
                    Some(i) => Some(adapters.swap_remove(i)),
                    None => adapters.into_iter().next(),
                }
            }
            AdapterPreference::HighPerformance => {
                let options = wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                };
                match pollster::block_on(instance.request_adapter(&options)) {
                    Ok(a) => Some(a),
                    Err(_) => adapters.into_iter().next(),
                }
            }
        };
        let adapter =
            adapter.ok_or_else(|| RenderError::NoAdapter(format!("backends {backends:?}")))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("voxmark"),
            required_features: wgpu::Features::empty(),
            // Whatever the adapter allows: large volumes need large 3D textures.
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Device {
            adapter: info.name.clone(),
            what: e.to_string(),
        })?;
        Self::with_device(device, queue)
    }

    /// A context on an existing device (the viewer's).
    pub fn with_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        let adapter = device.adapter_info();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let slice_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("slice.wgsl"),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(SLICE_WGSL)),
        });
        let lines_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("lines.wgsl"),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(LINES_WGSL)),
        });
        let float = wgpu::TextureSampleType::Float { filterable: false };
        let d3 = wgpu::TextureViewDimension::D3;
        let d2 = wgpu::TextureViewDimension::D2;
        let slice_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("slice bindings"),
            entries: &[
                uniform_entry::<SliceUniforms>(0),
                texture_entry(1, wgpu::TextureSampleType::Uint, d3),
                texture_entry(2, wgpu::TextureSampleType::Sint, d3),
                texture_entry(3, float, d3),
                texture_entry(4, wgpu::TextureSampleType::Uint, d3),
                texture_entry(5, float, d3),
                texture_entry(6, float, d2),
                texture_entry(7, float, d2),
            ],
        });
        let slice_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("slice"),
                bind_group_layouts: &[Some(&slice_layout)],
                immediate_size: 0,
            });
        let lines_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("lines"),
                bind_group_layouts: &[],
                immediate_size: 0,
            });
        let dummy = |format: wgpu::TextureFormat, bytes: &[u8]| {
            let t = device.create_texture_with_data(
                &queue,
                &wgpu::TextureDescriptor {
                    label: Some("unused binding"),
                    size: wgpu::Extent3d {
                        width: 1,
                        height: 1,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D3,
                    format,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                },
                wgpu::util::TextureDataOrder::LayerMajor,
                bytes,
            );
            t.create_view(&wgpu::TextureViewDescriptor::default())
        };
        let dummies = [
            dummy(wgpu::TextureFormat::R8Uint, &[0]),
            dummy(wgpu::TextureFormat::R8Sint, &[0]),
            dummy(wgpu::TextureFormat::R32Float, &[0; 4]),
        ];
        let mut table_bytes = Vec::with_capacity(Colormap::ALL.len() * 256 * 4);
        for c in Colormap::ALL {
            for entry in c.table()? {
                table_bytes.extend_from_slice(&entry);
            }
        }
        let colormaps = device
            .create_texture_with_data(
                &queue,
                &wgpu::TextureDescriptor {
                    label: Some("colormaps"),
                    size: wgpu::Extent3d {
                        width: 256,
                        height: Colormap::ALL.len() as u32,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                },
                wgpu::util::TextureDataOrder::LayerMajor,
                &table_bytes,
            )
            .create_view(&wgpu::TextureViewDescriptor::default());
        let standard_labels = GpuLabelLut::new(&device, &queue, &LabelLut::standard()?);
        gpu_error(pollster::block_on(scope.pop()))?;
        let mut ctx = Self {
            device,
            queue,
            adapter,
            slice_layout,
            slice_pipeline_layout,
            lines_pipeline_layout,
            slice_module,
            lines_module,
            pipelines: HashMap::new(),
            dummies,
            colormaps,
            standard_labels,
            cache: TextureCache::new(),
            offscreen: None,
        };
        ctx.pipelines_for(OFFSCREEN_FORMAT)?;
        Ok(ctx)
    }

    fn pipelines_for(&mut self, format: wgpu::TextureFormat) -> Result<&Pipelines> {
        if !self.pipelines.contains_key(&format) {
            let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let target = |blend| {
                [Some(wgpu::ColorTargetState {
                    format,
                    blend,
                    write_mask: wgpu::ColorWrites::ALL,
                })]
            };
            let slice_targets = target(None);
            let slice = self
                .device
                .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                    label: Some("slice"),
                    layout: Some(&self.slice_pipeline_layout),
                    vertex: wgpu::VertexState {
                        module: &self.slice_module,
                        entry_point: Some("vs_main"),
                        compilation_options: Default::default(),
                        buffers: &[],
                    },
                    primitive: wgpu::PrimitiveState::default(),
                    depth_stencil: None,
                    multisample: wgpu::MultisampleState::default(),
                    fragment: Some(wgpu::FragmentState {
                        module: &self.slice_module,
                        entry_point: Some("fs_main"),
                        compilation_options: Default::default(),
                        targets: &slice_targets,
                    }),
                    multiview_mask: None,
                    cache: None,
                });
            let line_targets = target(Some(wgpu::BlendState::ALPHA_BLENDING));
            let lines = self
                .device
                .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                    label: Some("lines"),
                    layout: Some(&self.lines_pipeline_layout),
                    vertex: wgpu::VertexState {
                        module: &self.lines_module,
                        entry_point: Some("vs_main"),
                        compilation_options: Default::default(),
                        buffers: &[Some(wgpu::VertexBufferLayout {
                            array_stride: std::mem::size_of::<LineVertex>() as u64,
                            step_mode: wgpu::VertexStepMode::Vertex,
                            attributes: &LineVertex::ATTRIBUTES,
                        })],
                    },
                    primitive: wgpu::PrimitiveState::default(),
                    depth_stencil: None,
                    multisample: wgpu::MultisampleState::default(),
                    fragment: Some(wgpu::FragmentState {
                        module: &self.lines_module,
                        entry_point: Some("fs_main"),
                        compilation_options: Default::default(),
                        targets: &line_targets,
                    }),
                    multiview_mask: None,
                    cache: None,
                });
            gpu_error(pollster::block_on(scope.pop()))?;
            self.pipelines.insert(format, Pipelines { slice, lines });
        }
        self.pipelines
            .get(&format)
            .ok_or_else(|| RenderError::Gpu("pipeline missing".into()))
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }
    /// Which adapter this is (name, backend, device type).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.adapter
    }

    /// The texture of `volume` for `role`, uploaded unless the cache holds this image at this revision.
    pub fn volume(
        &mut self,
        key: VolumeKey,
        role: VolumeRole,
        volume: &Volume,
    ) -> Result<Arc<GpuVolume>> {
        if let Some(v) = self.cache.get(key, role) {
            return Ok(v);
        }
        let v = Arc::new(GpuVolume::upload(&self.device, &self.queue, volume, role)?);
        self.cache.insert(key, role, v.clone());
        Ok(v)
    }

    /// After the voxels in `dirty` changed (and nothing else), brings the cached texture of `key.image`
    /// to revision `key.revision` by uploading only that box; uploads everything when nothing is cached.
    pub fn update_volume_box(
        &mut self,
        key: VolumeKey,
        role: VolumeRole,
        volume: &Volume,
        dirty: &VoxelBox,
    ) -> Result<Arc<GpuVolume>> {
        if let Some(v) = self.cache.get(key, role) {
            return Ok(v);
        }
        match self.cache.any_revision(key.image, role) {
            Some(v) => {
                let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
                v.write_box(&self.queue, volume, dirty)?;
                gpu_error(pollster::block_on(scope.pop()))?;
                self.cache.set_revision(key, role);
                Ok(v)
            }
            None => self.volume(key, role, volume),
        }
    }

    /// Drops the cached textures of `image`.
    pub fn forget_image(&mut self, image: u64) {
        self.cache.remove(image);
    }

    /// Caps the texture cache; least recently used textures beyond it are dropped.
    pub fn set_cache_budget(&mut self, bytes: u64) {
        self.cache.set_budget(bytes);
    }

    /// Bytes of GPU memory held by cached volume textures.
    pub fn cached_bytes(&self) -> u64 {
        self.cache.bytes()
    }

    /// Uploads a label colour table for a [`super::LabelLayer`].
    pub fn label_colours(&self, lut: &LabelLut) -> GpuLabelLut {
        GpuLabelLut::new(&self.device, &self.queue, lut)
    }

    /// Prepares `scene` for a render pass on a target of `format`, drawn into a viewport of
    /// `viewport_px` pixels whose top-left corner is at `origin_px` of the framebuffer.
    pub fn prepare_slice(
        &mut self,
        scene: &SliceScene<'_>,
        viewport_px: [u32; 2],
        origin_px: [f32; 2],
        format: wgpu::TextureFormat,
    ) -> Result<PreparedSlice> {
        let geometry = ViewGeometry::new(scene.image.grid(), &scene.view, viewport_px)?;
        let srgb = format.is_srgb();
        let u = uniforms(
            scene,
            &geometry,
            [f64::from(origin_px[0]), f64::from(origin_px[1])],
            srgb,
        )?;
        let mut tess = Tessellator::new(viewport_px, srgb);
        for v in scene.vectors {
            tess.overlay(&geometry, v);
        }
        if let Some(c) = &scene.crosshair {
            tess.crosshair(&geometry, c);
        }
        let pipelines = self.pipelines_for(format)?;
        let (slice_pipeline, lines_pipeline) = (pipelines.slice.clone(), pipelines.lines.clone());
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("slice uniforms"),
                contents: bytemuck::bytes_of(&u),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let image_view = |kind: super::TexelKind| {
            if scene.image.kind() == kind {
                &scene.image.view
            } else {
                &self.dummies[kind.index() as usize]
            }
        };
        let labels_view = scene
            .labels
            .as_ref()
            .map_or(&self.dummies[0], |l| &l.volume.view);
        let heat_view = scene
            .heatmap
            .as_ref()
            .map_or(&self.dummies[2], |h| &h.volume.view);
        let lut_view = scene
            .labels
            .as_ref()
            .and_then(|l| l.colours)
            .map_or(&self.standard_labels.view, |c| &c.view);
        let views = [
            image_view(super::TexelKind::Uint),
            image_view(super::TexelKind::Sint),
            image_view(super::TexelKind::Float),
            labels_view,
            heat_view,
            &self.colormaps,
            lut_view,
        ];
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: buffer.as_entire_binding(),
        }];
        for (i, view) in views.into_iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::TextureView(view),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("slice"),
            layout: &self.slice_layout,
            entries: &entries,
        });
        let lines = (!tess.vertices.is_empty()).then(|| {
            let vb = self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("overlay lines"),
                    contents: bytemuck::cast_slice(&tess.vertices),
                    usage: wgpu::BufferUsages::VERTEX,
                });
            (lines_pipeline, vb, tess.vertices.len() as u32)
        });
        gpu_error(pollster::block_on(scope.pop()))?;
        Ok(PreparedSlice {
            geometry,
            pipeline: slice_pipeline,
            bind_group,
            lines,
        })
    }

    /// Renders `scene` into an owned `viewport_px` Rgba8Unorm texture and reads it back (rows top to bottom).
    pub fn render_slice(
        &mut self,
        scene: &SliceScene<'_>,
        viewport_px: [u32; 2],
    ) -> Result<RgbaPicture> {
        let prepared = self.prepare_slice(scene, viewport_px, [0.0; 2], OFFSCREEN_FORMAT)?;
        if self.offscreen.as_ref().map(|t| t.size) != Some(viewport_px) {
            self.offscreen = Some(OffscreenTarget::new(&self.device, viewport_px)?);
        }
        let Some(target) = self.offscreen.as_ref() else {
            return Err(RenderError::Gpu("no offscreen target".into()));
        };
        target.render(
            &self.device,
            &self.queue,
            "slice",
            scene.background,
            |pass| prepared.paint(pass),
        )?;
        target.read(&self.device)
    }
}

/// A fragment-stage texture binding of a bind group layout.
pub(crate) fn texture_entry(
    binding: u32,
    sample_type: wgpu::TextureSampleType,
    view_dimension: wgpu::TextureViewDimension,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type,
            view_dimension,
            multisampled: false,
        },
        count: None,
    }
}

/// A fragment-stage uniform buffer binding holding one `T`.
pub(crate) fn uniform_entry<T>(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<T>() as u64),
        },
        count: None,
    }
}
