//! PNG, JPEG and TIFF as 2D images (8/16-bit grey and RGB), through the `image` crate.

use super::{IoError, Result};
use crate::core::geometry::IDENTITY3;
use crate::core::{Photometric, Rescale, Volume, VolumeMeta, Voxels};
use image::DynamicImage;
use std::path::Path;

/// True when the name ends in a 2D image extension we read.
pub fn is_image_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("png" | "jpg" | "jpeg" | "tif" | "tiff")
    )
}

fn err(path: &Path, what: impl Into<String>) -> IoError {
    IoError::Image {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Reads a 2D image file as a volume with z = 1, spacing 1 mm, at the origin.
pub fn read(path: &Path) -> Result<Volume> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| IoError::Open {
            path: path.to_path_buf(),
            source: e,
        })?
        .with_guessed_format()
        .map_err(|e| IoError::read(path, e))?;
    let img = reader.decode().map_err(|e| err(path, e.to_string()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (components, voxels, photometric) = match img {
        DynamicImage::ImageLuma8(b) => (1, Voxels::U8(b.into_raw()), Photometric::Monochrome2),
        DynamicImage::ImageLuma16(b) => (1, Voxels::U16(b.into_raw()), Photometric::Monochrome2),
        DynamicImage::ImageLumaA8(b) => (2, Voxels::U8(b.into_raw()), Photometric::Monochrome2),
        DynamicImage::ImageLumaA16(b) => (2, Voxels::U16(b.into_raw()), Photometric::Monochrome2),
        DynamicImage::ImageRgb8(b) => (3, Voxels::U8(b.into_raw()), Photometric::Rgb),
        DynamicImage::ImageRgb16(b) => (3, Voxels::U16(b.into_raw()), Photometric::Rgb),
        DynamicImage::ImageRgba8(b) => (4, Voxels::U8(b.into_raw()), Photometric::Rgba),
        DynamicImage::ImageRgba16(b) => (4, Voxels::U16(b.into_raw()), Photometric::Rgba),
        DynamicImage::ImageRgb32F(b) => (3, Voxels::F32(b.into_raw()), Photometric::Rgb),
        DynamicImage::ImageRgba32F(b) => (4, Voxels::F32(b.into_raw()), Photometric::Rgba),
        other => {
            return Err(err(
                path,
                format!("pixel layout {:?} is not supported", other.color()),
            ));
        }
    };
    let mut volume = Volume::new(
        [w, h, 1],
        [1.0; 3],
        [0.0; 3],
        IDENTITY3,
        components,
        voxels,
        Rescale::IDENTITY,
    )
    .map_err(|e| err(path, e.to_string()))?;
    volume.meta = VolumeMeta {
        photometric,
        ..VolumeMeta::default()
    };
    Ok(volume)
}
