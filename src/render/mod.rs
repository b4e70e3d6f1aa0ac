//! wgpu rendering: textures, slice pass, volume pass, overlays, offscreen read-back.
//! Filled by the rendering issue; nothing here yet. Uses `core` and wgpu only, never egui.
