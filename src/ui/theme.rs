//! Every colour the viewer uses, in one place (ARCHITECTURE.md §11). Dark by default.

use egui::{Color32, Theme, Visuals};

/// Window and panel background.
pub const PANEL: Color32 = Color32::from_rgb(0x1e, 0x20, 0x24);
/// Background behind dialogs and text areas, a little darker than panels.
pub const EXTREME_BG: Color32 = Color32::from_rgb(0x12, 0x13, 0x16);
/// Background of the image viewport (black, as radiology viewers use).
pub const VIEWPORT: Color32 = Color32::BLACK;
/// Normal text.
pub const TEXT: Color32 = Color32::from_rgb(0xd8, 0xda, 0xde);
/// Secondary text: image details, non-image objects, hints.
pub const MUTED: Color32 = Color32::from_rgb(0x8a, 0x8f, 0x98);
/// Error messages, muted so a long list does not shout.
pub const ERROR_MUTED: Color32 = Color32::from_rgb(0xc0, 0x7a, 0x72);
/// Selection and active-tool highlight.
pub const ACCENT: Color32 = Color32::from_rgb(0x4a, 0x9e, 0xe8);
/// Fill of selected list items and active toggles.
pub const SELECTION_BG: Color32 = Color32::from_rgb(0x2a, 0x4a, 0x6e);
/// Outline drawn around the viewport while files hover over the window.
pub const DROP_TARGET: Color32 = Color32::from_rgb(0x6a, 0xc0, 0x6a);
/// Regions without a label colour.
pub const REGION: Color32 = Color32::from_rgb(0x5c, 0xd6, 0xa0);
/// Model output: proposals are drawn dashed in this colour (ARCHITECTURE.md §7, review mode).
pub const MODEL: Color32 = Color32::from_rgb(0xf0, 0x8c, 0x3c);
/// Halo around the regions of the hovered phrase or chip.
pub const HIGHLIGHT: Color32 = Color32::from_rgb(0xff, 0xe0, 0x4a);
/// Opacity of rejected regions (kept on record, drawn faint).
pub const REJECTED_OPACITY: f32 = 0.35;
/// Opacity of a mask's fill inside its outline.
pub const MASK_FILL: f32 = 0.22;
/// Opacity of a highlighted mask's fill.
pub const MASK_FILL_HIGHLIGHTED: f32 = 0.5;
/// Background of phrase spans in the report text.
pub const SPAN_BG: Color32 = Color32::from_rgb(0x2c, 0x3a, 0x4a);
/// Background of the hovered phrase's span.
pub const SPAN_BG_HOVERED: Color32 = Color32::from_rgb(0x6a, 0x5a, 0x1e);
/// Background of region-id chips beside phrases.
pub const CHIP_BG: Color32 = Color32::from_rgb(0x30, 0x34, 0x3c);

/// Tint of the voxels inside the threshold tool's range (premultiplied, translucent).
pub const THRESHOLD_PREVIEW: Color32 = Color32::from_rgba_premultiplied(0x30, 0x60, 0x18, 0x60);

/// Colours given to new labels in turn (RGBA): distinct on grey images, as ITK-SNAP's first labels.
pub const LABEL_PALETTE: [[u8; 4]; 8] = [
    [0xe6, 0x4b, 0x3c, 0xff],
    [0x2e, 0xcc, 0x71, 0xff],
    [0x34, 0x98, 0xdb, 0xff],
    [0xf1, 0xc4, 0x0f, 0xff],
    [0x9b, 0x59, 0xb6, 0xff],
    [0x1a, 0xbc, 0x9c, 0xff],
    [0xe6, 0x7e, 0x22, 0xff],
    [0xec, 0x70, 0xb4, 0xff],
];

/// Installs the dark theme and its colours on `ctx`.
pub fn apply(ctx: &egui::Context) {
    ctx.set_theme(Theme::Dark);
    let mut visuals = Visuals::dark();
    visuals.panel_fill = PANEL;
    visuals.window_fill = PANEL;
    visuals.extreme_bg_color = EXTREME_BG;
    visuals.override_text_color = Some(TEXT);
    visuals.weak_text_color = Some(MUTED);
    visuals.hyperlink_color = ACCENT;
    visuals.error_fg_color = ERROR_MUTED;
    visuals.selection.bg_fill = SELECTION_BG;
    visuals.selection.stroke.color = ACCENT;
    ctx.set_visuals_of(Theme::Dark, visuals);
}
