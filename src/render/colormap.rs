//! Colour tables from `assets/colormaps` (embedded at build time): grey, hot and viridis as 256-entry
//! tables, and the label colour table.

use super::{RenderError, Result};

/// A 256-entry colour table for grey levels and heatmaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Colormap {
    /// Identity grey.
    #[default]
    Grey,
    /// matplotlib's `hot`.
    Hot,
    /// matplotlib's `viridis`.
    Viridis,
}

const GREY_CSV: &str = include_str!("../../assets/colormaps/grey.csv");
const HOT_CSV: &str = include_str!("../../assets/colormaps/hot.csv");
const VIRIDIS_CSV: &str = include_str!("../../assets/colormaps/viridis.csv");
const LABELS_CSV: &str = include_str!("../../assets/colormaps/labels.csv");

/// Number of label values the label table covers (labels are 16-bit).
pub(crate) const LABEL_COUNT: usize = 65536;

impl Colormap {
    /// All tables, in the order of their rows in the colormap texture.
    pub const ALL: [Colormap; 3] = [Colormap::Grey, Colormap::Hot, Colormap::Viridis];

    /// Lower-case name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Grey => "grey",
            Colormap::Hot => "hot",
            Colormap::Viridis => "viridis",
        }
    }

    /// Parses a name (`gray` is accepted for `grey`).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        if t == "gray" {
            return Some(Colormap::Grey);
        }
        Self::ALL.into_iter().find(|c| c.name() == t)
    }

    /// Row of this table in the colormap texture.
    pub(crate) fn row(self) -> u32 {
        match self {
            Colormap::Grey => 0,
            Colormap::Hot => 1,
            Colormap::Viridis => 2,
        }
    }

    fn file(self) -> (&'static str, &'static str) {
        match self {
            Colormap::Grey => ("grey.csv", GREY_CSV),
            Colormap::Hot => ("hot.csv", HOT_CSV),
            Colormap::Viridis => ("viridis.csv", VIRIDIS_CSV),
        }
    }

    /// The 256 RGBA entries: the asset's 0..1 values as `round(255 · v)`, alpha 255.
    pub fn table(self) -> Result<[[u8; 4]; 256]> {
        let (name, text) = self.file();
        let bad = |what: String| RenderError::Asset { name, what };
        let mut out = [[0, 0, 0, 255]; 256];
        let mut n = 0;
        for (line_no, line) in data_lines(text) {
            if n == 256 {
                return Err(bad("more than 256 rows".into()));
            }
            let values: Vec<f64> = line
                .split(',')
                .map(|f| f.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(format!("line {line_no}: {e}")))?;
            if values.len() != 3 || values.iter().any(|v| !(0.0..=1.0).contains(v)) {
                return Err(bad(format!("line {line_no}: expected r,g,b in 0..1")));
            }
            for c in 0..3 {
                out[n][c] = (values[c] * 255.0).round() as u8;
            }
            n += 1;
        }
        if n != 256 {
            return Err(bad(format!("{n} rows, expected 256")));
        }
        Ok(out)
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Colour and opacity of every label value 0..=65535 (`[r, g, b, a]`, 8-bit); label 0 is never drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelLut {
    entries: Vec<[u8; 4]>,
}

impl LabelLut {
    /// The table of `assets/colormaps/labels.csv` for labels 0..=255; higher labels repeat labels 1..=255.
    pub fn standard() -> Result<Self> {
        let name = "labels.csv";
        let bad = |what: String| RenderError::Asset { name, what };
        let mut base = vec![None; 256];
        for (line_no, line) in data_lines(LABELS_CSV) {
            let v: Vec<u8> = line
                .split(',')
                .map(|f| f.trim().parse::<u8>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(format!("line {line_no}: {e}")))?;
            let [label, r, g, b, a] = v[..] else {
                return Err(bad(format!("line {line_no}: expected label,r,g,b,a")));
            };
            base[usize::from(label)] = Some([r, g, b, a]);
        }
        let base: Vec<[u8; 4]> = base
            .into_iter()
            .enumerate()
            .map(|(l, e)| e.ok_or_else(|| bad(format!("label {l} missing"))))
            .collect::<Result<_>>()?;
        let entries = (0..LABEL_COUNT)
            .map(|l| {
                if l < 256 {
                    base[l]
                } else {
                    base[1 + (l - 1) % 255]
                }
            })
            .collect();
        let mut lut = Self { entries };
        lut.entries[0] = [0, 0, 0, 0];
        Ok(lut)
    }

    /// Colour and opacity of `label`.
    pub fn get(&self, label: u16) -> [u8; 4] {
        self.entries[usize::from(label)]
    }

    /// Sets the colour and opacity of `label` (label 0 stays transparent).
    pub fn set(&mut self, label: u16, rgba: [u8; 4]) {
        if label != 0 {
            self.entries[usize::from(label)] = rgba;
        }
    }

    /// Sets only the opacity of `label` (0 hides it).
    pub fn set_opacity(&mut self, label: u16, alpha: u8) {
        if label != 0 {
            self.entries[usize::from(label)][3] = alpha;
        }
    }

    /// The entries as texture bytes, 256 × 256 RGBA, label L at (L % 256, L / 256).
    pub(crate) fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.entries)
    }
}

/// A [`LabelLut`] on the GPU (256 × 256 Rgba8Unorm).
#[derive(Debug)]
pub struct GpuLabelLut {
    pub(crate) texture: wgpu::Texture,
    pub(crate) view: wgpu::TextureView,
}

impl GpuLabelLut {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue, lut: &LabelLut) -> Self {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("label colours"),
            size: wgpu::Extent3d {
                width: 256,
                height: 256,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let out = Self { texture, view };
        out.write(queue, lut);
        out
    }

    /// Replaces the colours (e.g. after a label's colour or opacity changed).
    pub fn write(&self, queue: &wgpu::Queue, lut: &LabelLut) {
        queue.write_texture(
            self.texture.as_image_copy(),
            lut.bytes(),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(256 * 4),
                rows_per_image: Some(256),
            },
            wgpu::Extent3d {
                width: 256,
                height: 256,
                depth_or_array_layers: 1,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_and_have_known_anchors() {
        let grey = Colormap::Grey.table().unwrap();
        assert!(grey.iter().enumerate().all(|(i, c)| c[..3] == [i as u8; 3]));
        let v = Colormap::Viridis.table().unwrap();
        // matplotlib viridis: #440154 at 0, #21918c at 0.5 (row 128), #fde725 at 1.
        assert_eq!(v[0], [0x44, 0x01, 0x54, 255]);
        assert_eq!(v[128], [0x21, 0x91, 0x8c, 255]);
        assert_eq!(v[255], [0xfd, 0xe7, 0x25, 255]);
        let h = Colormap::Hot.table().unwrap();
        assert_eq!(h[0], [11, 0, 0, 255]);
        assert_eq!(h[255], [255, 255, 255, 255]);
        let l = LabelLut::standard().unwrap();
        assert_eq!(l.get(0), [0, 0, 0, 0]);
        assert_eq!(l.get(256), l.get(1));
        assert!((1..=255).all(|i| l.get(i)[3] == 255));
    }
}
