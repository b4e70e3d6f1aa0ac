//! The GPU textures the views draw (a plane's windowed slice, its region overlay, the series
//! preview), each cached under a key of everything it depends on.

use crate::core::annotation::RegionId;
use crate::ui::grounding::RegionFilter;
use crate::ui::slice::Window;

/// A texture and the key it was made from.
pub(in crate::ui) type Cached<K> = Option<(K, egui::TextureHandle)>;

/// The texture in `slot` for `key`, remade by `make` (and re-uploaded) only when the key changed.
pub(in crate::ui) fn cached_texture<K: PartialEq>(
    slot: &mut Cached<K>,
    ctx: &egui::Context,
    name: &str,
    key: K,
    options: egui::TextureOptions,
    make: impl FnOnce() -> egui::ColorImage,
) -> egui::TextureId {
    match slot {
        Some((k, t)) if *k == key => t.id(),
        Some((k, t)) => {
            t.set(make(), options);
            *k = key;
            t.id()
        }
        None => {
            let t = ctx.load_texture(name, make(), options);
            let id = t.id();
            *slot = Some((key, t));
            id
        }
    }
}

/// Image uid, axis, plane index and window of a plane view's texture.
pub(in crate::ui) type PlaneKey = (u64, usize, usize, Window);

/// Image uid, axis, plane index, subsampling step, document revision, highlighted regions and the
/// author filter.
pub(in crate::ui) type PlaneOverlayKey =
    (u64, usize, usize, usize, u64, Vec<RegionId>, RegionFilter);

/// The texture of the selected slice and what it was made from.
pub(in crate::ui) struct SliceTexture {
    pub(in crate::ui) key: (usize, usize, Window),
    pub(in crate::ui) texture: egui::TextureHandle,
}

/// The mask overlay texture of the selected slice and what it was made from.
pub(in crate::ui) struct OverlayTexture {
    pub(in crate::ui) key: OverlayKey,
    pub(in crate::ui) texture: egui::TextureHandle,
}

/// Image, slice, subsampling step, document revision, highlighted regions and the author filter.
pub(in crate::ui) type OverlayKey = (usize, usize, usize, u64, Vec<RegionId>, RegionFilter);

/// The threshold preview of the selected slice and what it was made from.
pub(in crate::ui) struct PreviewTexture {
    pub(in crate::ui) key: (usize, usize, u64, u64),
    pub(in crate::ui) texture: egui::TextureHandle,
}
