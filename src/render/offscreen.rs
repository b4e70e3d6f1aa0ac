//! Offscreen targets and read-back: an owned Rgba8Unorm texture, copied into a buffer whose rows are
//! padded to 256 bytes, mapped, and unpadded into tightly packed RGBA.

use super::{RenderError, Result};
use crate::core::reslice::RgbaPicture;

/// The format offscreen pictures are rendered in (values are stored as the shader writes them).
pub(crate) const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// An owned colour target and the buffer it is read back through.
#[derive(Debug)]
pub(crate) struct OffscreenTarget {
    pub(crate) texture: wgpu::Texture,
    pub(crate) view: wgpu::TextureView,
    buffer: wgpu::Buffer,
    pub(crate) size: [u32; 2],
    padded_row_bytes: u32,
}

impl OffscreenTarget {
    pub(crate) fn new(device: &wgpu::Device, size: [u32; 2]) -> Result<Self> {
        let limit = device.limits().max_texture_dimension_2d;
        if size[0] == 0 || size[1] == 0 || size[0] > limit || size[1] > limit {
            return Err(RenderError::TargetSize {
                width: size[0],
                height: size[1],
                limit,
            });
        }
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("offscreen target"),
            size: wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: OFFSCREEN_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let padded_row_bytes = (size[0] * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("offscreen read-back"),
            size: u64::from(padded_row_bytes) * u64::from(size[1]),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        Ok(Self {
            texture,
            view,
            buffer,
            size,
            padded_row_bytes,
        })
    }

    /// Clears the target to `background` (RGBA bytes), lets `paint` draw into one render pass, copies
    /// the result into the read-back buffer and submits; validation and memory errors come back typed.
    pub(crate) fn render(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        label: &str,
        background: [u8; 4],
        paint: impl FnOnce(&mut wgpu::RenderPass<'_>),
    ) -> Result<()> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let bg = background.map(|c| f64::from(c) / 255.0);
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some(label),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &self.view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color {
                            r: bg[0],
                            g: bg[1],
                            b: bg[2],
                            a: bg[3],
                        }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            paint(&mut pass);
        }
        self.encode_copy(&mut encoder);
        queue.submit([encoder.finish()]);
        gpu_error(pollster::block_on(scope.pop()))
    }

    /// Records the copy of the texture into the read-back buffer.
    pub(crate) fn encode_copy(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row_bytes),
                    rows_per_image: Some(self.size[1]),
                },
            },
            wgpu::Extent3d {
                width: self.size[0],
                height: self.size[1],
                depth_or_array_layers: 1,
            },
        );
    }

    /// Maps the buffer (after the copy was submitted), waits, and unpads the rows.
    pub(crate) fn read(&self, device: &wgpu::Device) -> Result<RgbaPicture> {
        read_mapped(device, &self.buffer, self.size, self.padded_row_bytes)
    }
}

fn read_mapped(
    device: &wgpu::Device,
    buffer: &wgpu::Buffer,
    size: [u32; 2],
    padded_row_bytes: u32,
) -> Result<RgbaPicture> {
    let slice = buffer.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        // The receiver waits below; if it is gone there is nobody to tell.
        tx.send(r).ok();
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| RenderError::Gpu(format!("waiting for the GPU: {e}")))?;
    rx.recv()
        .map_err(|_| RenderError::Gpu("the read-back never completed".into()))?
        .map_err(|e| RenderError::Gpu(format!("mapping the read-back buffer: {e}")))?;
    let row_bytes = size[0] as usize * 4;
    let mut rgba = Vec::with_capacity(row_bytes * size[1] as usize);
    {
        let data = slice
            .get_mapped_range()
            .map_err(|e| RenderError::Gpu(format!("reading the mapped buffer: {e}")))?;
        for row in data.chunks_exact(padded_row_bytes as usize) {
            rgba.extend_from_slice(&row[..row_bytes]);
        }
    }
    buffer.unmap();
    Ok(RgbaPicture {
        width: size[0] as usize,
        height: size[1] as usize,
        rgba,
    })
}

/// A wgpu error scope's result as ours.
pub(crate) fn gpu_error(e: Option<wgpu::Error>) -> Result<()> {
    match e {
        None => Ok(()),
        Some(e @ wgpu::Error::OutOfMemory { .. }) => Err(RenderError::OutOfMemory(e.to_string())),
        Some(e) => Err(RenderError::Gpu(e.to_string())),
    }
}
