//! Volumes as 3D textures in their stored precision, dirty-box re-upload, and the texture cache.

use super::view::GridGeometry;
use super::{RenderError, Result};
use crate::core::geometry::Affine3;
use crate::core::mask::VoxelBox;
use crate::core::volume::{Photometric, Rescale, Volume, Voxels};
use std::collections::HashMap;
use std::sync::Arc;

/// What a volume is drawn as; decides its texture format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VolumeRole {
    /// Grey or colour image: stored values in their own type, rescale and window in the shader.
    Image,
    /// Label map: integers 0..=65535 in R8Uint or R16Uint.
    Labels,
    /// Heatmap: modality values (rescale applied) in R32Float.
    Heatmap,
}

impl VolumeRole {
    fn name(self) -> &'static str {
        match self {
            VolumeRole::Image => "an image",
            VolumeRole::Labels => "a label map",
            VolumeRole::Heatmap => "a heatmap",
        }
    }
}

/// How the shader reads a texture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TexelKind {
    /// `texture_3d<u32>`.
    Uint,
    /// `texture_3d<i32>`.
    Sint,
    /// `texture_3d<f32>` (not filterable; read with `textureLoad`).
    Float,
}

impl TexelKind {
    pub(crate) fn index(self) -> u32 {
        match self {
            TexelKind::Uint => 0,
            TexelKind::Sint => 1,
            TexelKind::Float => 2,
        }
    }
}

/// A volume in a 3D texture, with the geometry and value map the slice pass needs.
#[derive(Debug)]
pub struct GpuVolume {
    pub(crate) texture: wgpu::Texture,
    pub(crate) view: wgpu::TextureView,
    role: VolumeRole,
    format: wgpu::TextureFormat,
    kind: TexelKind,
    grid: GridGeometry,
    voxel_from_world: Affine3,
    components: usize,
    dtype: &'static str,
    rescale: Rescale,
    photometric: Photometric,
    lossy: bool,
    bytes: u64,
}

/// Upload in slabs of at most this many bytes, so that neither the converted copy nor wgpu's staging
/// buffer has to hold a whole large volume at once.
const SLAB_BYTES: usize = 64 << 20;

/// Format decisions for one volume.
#[derive(Clone, Copy, Debug)]
struct Encoding {
    format: wgpu::TextureFormat,
    kind: TexelKind,
    /// Components per texel on the GPU (1 or 4).
    texel_components: usize,
    texel_bytes: usize,
    lossy: bool,
}

fn fits_i32<T: Copy + TryInto<i32>>(v: &[T]) -> bool {
    v.iter().all(|&x| x.try_into().is_ok())
}

fn encoding(volume: &Volume, role: VolumeRole) -> Result<Encoding> {
    use wgpu::TextureFormat as F;
    let components = volume.components();
    let single = components == 1;
    let allowed = match role {
        VolumeRole::Image => matches!(components, 1 | 3 | 4),
        VolumeRole::Labels | VolumeRole::Heatmap => single,
    };
    if !allowed {
        return Err(RenderError::Components {
            components,
            role: role.name(),
        });
    }
    let pick = |one: F, four: F, kind: TexelKind, bytes: usize, lossy: bool| Encoding {
        format: if single { one } else { four },
        kind,
        texel_components: if single { 1 } else { 4 },
        texel_bytes: if single { bytes } else { 4 * bytes },
        lossy,
    };
    Ok(match role {
        VolumeRole::Heatmap => pick(F::R32Float, F::R32Float, TexelKind::Float, 4, false),
        VolumeRole::Labels => {
            let max = label_check(volume)?;
            if max <= 255 {
                pick(F::R8Uint, F::R8Uint, TexelKind::Uint, 1, false)
            } else {
                pick(F::R16Uint, F::R16Uint, TexelKind::Uint, 2, false)
            }
        }
        VolumeRole::Image => match volume.voxels() {
            Voxels::U8(_) => pick(F::R8Uint, F::Rgba8Uint, TexelKind::Uint, 1, false),
            Voxels::I8(_) => pick(F::R8Sint, F::Rgba8Sint, TexelKind::Sint, 1, false),
            Voxels::U16(_) => pick(F::R16Uint, F::Rgba16Uint, TexelKind::Uint, 2, false),
            Voxels::I16(_) => pick(F::R16Sint, F::Rgba16Sint, TexelKind::Sint, 2, false),
            Voxels::U32(_) => pick(F::R32Uint, F::Rgba32Uint, TexelKind::Uint, 4, false),
            Voxels::I32(_) => pick(F::R32Sint, F::Rgba32Sint, TexelKind::Sint, 4, false),
            Voxels::I64(v) if fits_i32(v) => {
                pick(F::R32Sint, F::Rgba32Sint, TexelKind::Sint, 4, false)
            }
            Voxels::U64(v) if fits_i32(v) => {
                pick(F::R32Sint, F::Rgba32Sint, TexelKind::Sint, 4, false)
            }
            Voxels::F32(_) => pick(F::R32Float, F::Rgba32Float, TexelKind::Float, 4, false),
            // 64-bit values beyond i32 and doubles: 32-bit float (the shader computes in f32 anyway).
            Voxels::I64(_) | Voxels::U64(_) | Voxels::F64(_) => {
                pick(F::R32Float, F::Rgba32Float, TexelKind::Float, 4, true)
            }
        },
    })
}

/// The largest label, after checking that every value is an integer in 0..=65535.
fn label_check(volume: &Volume) -> Result<u32> {
    let rescale = volume.rescale();
    let mut max = 0u32;
    let mut bad = None;
    #[allow(
        clippy::unnecessary_cast,
        reason = "the macro expands once per stored type"
    )]
    {
        crate::with_voxels!(volume.voxels(), v => {
            for &x in v.iter() {
                let m = rescale.apply(x as f64);
                if m.fract() != 0.0 || !(0.0..=65535.0).contains(&m) {
                    bad = Some(m);
                    break;
                }
                max = max.max(m as u32);
            }
        });
    }
    match bad {
        Some(m) => Err(RenderError::Labels(format!(
            "value {m} is not an integer in 0..=65535"
        ))),
        None => Ok(max),
    }
}

/// The stored bytes themselves, when the texel type is the stored type (no conversion needed).
fn direct_bytes<'a>(volume: &'a Volume, role: VolumeRole, enc: &Encoding) -> Option<&'a [u8]> {
    use wgpu::TextureFormat as F;
    if volume.components() != enc.texel_components {
        return None;
    }
    // Labels and heatmaps hold modality values: stored bytes serve only without a rescale.
    let identity = volume.rescale().is_identity();
    match (role, volume.voxels(), enc.format) {
        (VolumeRole::Image, Voxels::U8(v), _) => Some(v),
        (VolumeRole::Image, Voxels::I8(v), _) => Some(bytemuck::cast_slice(v)),
        (VolumeRole::Image, Voxels::U16(v), _) => Some(bytemuck::cast_slice(v)),
        (VolumeRole::Image, Voxels::I16(v), _) => Some(bytemuck::cast_slice(v)),
        (VolumeRole::Image, Voxels::U32(v), _) => Some(bytemuck::cast_slice(v)),
        (VolumeRole::Image, Voxels::I32(v), _) => Some(bytemuck::cast_slice(v)),
        (VolumeRole::Image, Voxels::F32(v), _) => Some(bytemuck::cast_slice(v)),
        (VolumeRole::Labels, Voxels::U8(v), F::R8Uint) if identity => Some(v),
        (VolumeRole::Labels, Voxels::U16(v), F::R16Uint) if identity => {
            Some(bytemuck::cast_slice(v))
        }
        (VolumeRole::Heatmap, Voxels::F32(v), F::R32Float) if identity => {
            Some(bytemuck::cast_slice(v))
        }
        _ => None,
    }
}

/// Texel bytes of the voxels in `b` (x fastest), converted as `enc` says.
fn encode(volume: &Volume, role: VolumeRole, enc: &Encoding, b: &VoxelBox) -> Vec<u8> {
    let size = volume.size();
    let comps = volume.components();
    let rescale = volume.rescale();
    let out_comps = enc.texel_components;
    let mut out: Vec<u8> = Vec::with_capacity(b.len() * enc.texel_bytes);
    #[allow(
        clippy::unnecessary_cast,
        reason = "the macro expands once per stored type"
    )]
    {
        crate::with_voxels!(volume.voxels(), v => {
            for z in b.min[2]..b.max[2] {
                for y in b.min[1]..b.max[1] {
                    let row = (z * size[1] + y) * size[0] * comps;
                    let run = &v[row + b.min[0] * comps..row + b.max[0] * comps];
                    for px in run.chunks_exact(comps) {
                        for c in 0..out_comps {
                            let x = px.get(c).map(|&s| s as f64);
                            push_texel(&mut out, enc.format, role, rescale, x);
                        }
                    }
                }
            }
        });
    }
    out
}

/// Appends one component (`None`: padding) in the texel format.
fn push_texel(
    out: &mut Vec<u8>,
    format: wgpu::TextureFormat,
    role: VolumeRole,
    rescale: Rescale,
    stored: Option<f64>,
) {
    use wgpu::TextureFormat as F;
    // Labels and heatmaps hold modality values; images hold stored values.
    let x = match role {
        VolumeRole::Image => stored.unwrap_or(0.0),
        VolumeRole::Labels | VolumeRole::Heatmap => rescale.apply(stored.unwrap_or(0.0)),
    };
    // Every `as` below converts a value already known to fit the format (checked by `encoding`).
    match format {
        F::R8Uint | F::Rgba8Uint => out.push(x as u8),
        F::R8Sint | F::Rgba8Sint => out.push(x as i8 as u8),
        F::R16Uint | F::Rgba16Uint => out.extend_from_slice(&(x as u16).to_ne_bytes()),
        F::R16Sint | F::Rgba16Sint => out.extend_from_slice(&(x as i16).to_ne_bytes()),
        F::R32Uint | F::Rgba32Uint => out.extend_from_slice(&(x as u32).to_ne_bytes()),
        F::R32Sint | F::Rgba32Sint => out.extend_from_slice(&(x as i32).to_ne_bytes()),
        _ => out.extend_from_slice(&(x as f32).to_ne_bytes()),
    }
}

impl GpuVolume {
    /// Uploads `volume` for `role`. Fails with [`RenderError::VolumeTooLarge`] when a side exceeds the
    /// device's `max_texture_dimension_3d`.
    pub(crate) fn upload(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        volume: &Volume,
        role: VolumeRole,
    ) -> Result<Self> {
        let size = volume.size();
        let limits = device.limits();
        let limit = limits.max_texture_dimension_3d;
        if size.iter().any(|&s| s > limit as usize) {
            return Err(RenderError::VolumeTooLarge {
                size,
                limit,
                adapter: device.adapter_info().name,
            });
        }
        let enc = encoding(volume, role)?;
        let extent = wgpu::Extent3d {
            width: size[0] as u32,
            height: size[1] as u32,
            depth_or_array_layers: size[2] as u32,
        };
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some(match role {
                VolumeRole::Image => "image volume",
                VolumeRole::Labels => "label volume",
                VolumeRole::Heatmap => "heatmap volume",
            }),
            size: extent,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D3,
            format: enc.format,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let grid = GridGeometry::of(volume);
        let out = Self {
            texture,
            view,
            role,
            format: enc.format,
            kind: enc.kind,
            grid,
            voxel_from_world: grid.voxel_from_world(),
            components: volume.components(),
            dtype: volume.voxels().dtype(),
            rescale: match role {
                VolumeRole::Image => volume.rescale(),
                _ => Rescale::IDENTITY,
            },
            photometric: volume.meta.photometric,
            lossy: enc.lossy,
            bytes: (volume.voxel_count() * enc.texel_bytes) as u64,
        };
        out.write(
            queue,
            volume,
            &enc,
            &VoxelBox {
                min: [0; 3],
                max: size,
            },
        );
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(RenderError::OutOfMemory(e.to_string()));
        }
        if let Some(e) = v {
            return Err(RenderError::Gpu(e.to_string()));
        }
        Ok(out)
    }

    fn write(&self, queue: &wgpu::Queue, volume: &Volume, enc: &Encoding, b: &VoxelBox) {
        let row_bytes = (b.max[0] - b.min[0]) * enc.texel_bytes;
        let rows = b.max[1] - b.min[1];
        let slab = (SLAB_BYTES / (row_bytes * rows).max(1)).max(1);
        let mut z = b.min[2];
        while z < b.max[2] {
            let z_end = (z + slab).min(b.max[2]);
            let part = VoxelBox {
                min: [b.min[0], b.min[1], z],
                max: [b.max[0], b.max[1], z_end],
            };
            let whole_rows = part.min[0] == 0
                && part.max[0] == self.grid.size[0]
                && part.min[1] == 0
                && part.max[1] == self.grid.size[1];
            let converted;
            let data: &[u8] = match direct_bytes(volume, self.role, enc) {
                // Whole slices of unconverted data: a sub-slice of the stored bytes.
                Some(all) if whole_rows => &all[z * row_bytes * rows..z_end * row_bytes * rows],
                _ => {
                    converted = encode(volume, self.role, enc, &part);
                    &converted
                }
            };
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &self.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: part.min[0] as u32,
                        y: part.min[1] as u32,
                        z: part.min[2] as u32,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                data,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row_bytes as u32),
                    rows_per_image: Some(rows as u32),
                },
                wgpu::Extent3d {
                    width: (part.max[0] - part.min[0]) as u32,
                    height: rows as u32,
                    depth_or_array_layers: (z_end - z) as u32,
                },
            );
            z = z_end;
        }
    }

    /// Re-uploads only the voxels of `dirty` (e.g. after a brush stroke) from `volume`, which must have
    /// this texture's grid, type and components. A label value beyond the texture's 8 bits needs a
    /// full upload and is refused.
    pub(crate) fn write_box(
        &self,
        queue: &wgpu::Queue,
        volume: &Volume,
        dirty: &VoxelBox,
    ) -> Result<()> {
        if volume.size() != self.grid.size
            || volume.components() != self.components
            || volume.voxels().dtype() != self.dtype
        {
            return Err(RenderError::Update(format!(
                "the volume ({:?}, {}, {} components) is not the one in the texture ({:?}, {}, {} components)",
                volume.size(),
                volume.voxels().dtype(),
                volume.components(),
                self.grid.size,
                self.dtype,
                self.components
            )));
        }
        if !dirty.fits(self.grid.size) {
            return Err(RenderError::Update(format!(
                "box {:?}..{:?} is outside the grid {:?}",
                dirty.min, dirty.max, self.grid.size
            )));
        }
        if dirty.is_empty() {
            return Ok(());
        }
        let enc = encoding(volume, self.role)?;
        if enc.format != self.format {
            return Err(RenderError::Update(format!(
                "the values now need {:?} instead of {:?}; upload the volume again",
                enc.format, self.format
            )));
        }
        self.write(queue, volume, &enc, dirty);
        Ok(())
    }

    /// What the volume is drawn as.
    pub fn role(&self) -> VolumeRole {
        self.role
    }
    /// The texture format chosen for the stored type.
    pub fn format(&self) -> wgpu::TextureFormat {
        self.format
    }
    /// How the shader reads it.
    pub fn kind(&self) -> TexelKind {
        self.kind
    }
    /// Grid geometry.
    pub fn grid(&self) -> &GridGeometry {
        &self.grid
    }
    /// LPS mm → continuous voxel index.
    pub fn voxel_from_world(&self) -> &Affine3 {
        &self.voxel_from_world
    }
    /// Values per voxel of the source volume.
    pub fn components(&self) -> usize {
        self.components
    }
    /// Stored → modality map applied in the shader (identity for labels and heatmaps, converted on upload).
    pub fn rescale(&self) -> Rescale {
        self.rescale
    }
    /// Display intent (MONOCHROME1 is inverted by default).
    pub fn photometric(&self) -> Photometric {
        self.photometric
    }
    /// True when values were converted to 32-bit float with possible loss (64-bit sources).
    pub fn lossy(&self) -> bool {
        self.lossy
    }
    /// Bytes of GPU memory the texture holds (texels × bytes per texel).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Identifies the data in a cached texture: which image and which revision of its voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VolumeKey {
    /// The caller's image identifier (e.g. the project's image id).
    pub image: u64,
    /// Increases whenever the voxels change.
    pub revision: u64,
}

#[derive(Debug)]
struct Entry {
    revision: u64,
    volume: Arc<GpuVolume>,
    last_used: u64,
}

/// Textures by (image, role), each remembering the data revision it holds; least recently used entries
/// are dropped beyond a byte budget.
#[derive(Debug)]
pub(crate) struct TextureCache {
    entries: HashMap<(u64, VolumeRole), Entry>,
    clock: u64,
    budget_bytes: u64,
}

impl TextureCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: HashMap::new(),
            clock: 0,
            budget_bytes: u64::MAX,
        }
    }

    pub(crate) fn set_budget(&mut self, bytes: u64) {
        self.budget_bytes = bytes;
        self.evict(None);
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.entries.values().map(|e| e.volume.bytes()).sum()
    }

    pub(crate) fn get(&mut self, key: VolumeKey, role: VolumeRole) -> Option<Arc<GpuVolume>> {
        self.clock += 1;
        let clock = self.clock;
        let e = self.entries.get_mut(&(key.image, role))?;
        if e.revision != key.revision {
            return None;
        }
        e.last_used = clock;
        Some(e.volume.clone())
    }

    /// The cached texture of `image` whatever its revision, for a partial update.
    pub(crate) fn any_revision(&self, image: u64, role: VolumeRole) -> Option<Arc<GpuVolume>> {
        self.entries.get(&(image, role)).map(|e| e.volume.clone())
    }

    pub(crate) fn insert(&mut self, key: VolumeKey, role: VolumeRole, volume: Arc<GpuVolume>) {
        self.clock += 1;
        self.entries.insert(
            (key.image, role),
            Entry {
                revision: key.revision,
                volume,
                last_used: self.clock,
            },
        );
        self.evict(Some((key.image, role)));
    }

    pub(crate) fn set_revision(&mut self, key: VolumeKey, role: VolumeRole) {
        self.clock += 1;
        if let Some(e) = self.entries.get_mut(&(key.image, role)) {
            e.revision = key.revision;
            e.last_used = self.clock;
        }
    }

    pub(crate) fn remove(&mut self, image: u64) {
        self.entries.retain(|(i, _), _| *i != image);
    }

    fn evict(&mut self, keep: Option<(u64, VolumeRole)>) {
        while self.bytes() > self.budget_bytes {
            let oldest = self
                .entries
                .iter()
                .filter(|(k, _)| Some(**k) != keep)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }
}
