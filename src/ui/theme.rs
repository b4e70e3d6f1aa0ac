//! Every colour the viewer uses, in one place (ARCHITECTURE.md §11). Dark by default; the light
//! theme changes the panels and text, never the viewports (images are read on black).

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

pub use crate::core::annotation::LABEL_PALETTE;

/// Crosshair and title of views whose normal runs closest to S (3D Slicer's red view).
pub const CROSS_AXIAL: Color32 = Color32::from_rgb(0xf3, 0x4a, 0x33);
/// ... closest to L (Slicer's yellow view).
pub const CROSS_SAGITTAL: Color32 = Color32::from_rgb(0xed, 0xd5, 0x4c);
/// ... closest to P (Slicer's green view).
pub const CROSS_CORONAL: Color32 = Color32::from_rgb(0x6e, 0xb0, 0x4b);
/// The 3D view's title and crosshair marker.
pub const CROSS_3D: Color32 = Color32::from_rgb(0x9a, 0xb8, 0xe6);
/// Line between the panes of a layout.
pub const PANE_BORDER: Color32 = Color32::from_rgb(0x3a, 0x3d, 0x44);
/// Histogram bars.
pub const HISTOGRAM: Color32 = Color32::from_rgb(0x7a, 0x86, 0x96);
/// The window drawn over the histogram.
pub const HISTOGRAM_WINDOW: Color32 = Color32::from_rgb(0xf0, 0xb0, 0x40);

/// Light theme: panels and text.
pub const LIGHT_PANEL: Color32 = Color32::from_rgb(0xf2, 0xf3, 0xf5);
/// Light theme: text areas.
pub const LIGHT_EXTREME_BG: Color32 = Color32::from_rgb(0xff, 0xff, 0xff);
/// Light theme: normal text.
pub const LIGHT_TEXT: Color32 = Color32::from_rgb(0x1e, 0x20, 0x24);
/// Light theme: selected items.
pub const LIGHT_SELECTION_BG: Color32 = Color32::from_rgb(0xb8, 0xd4, 0xf0);
/// Light theme: phrase spans in the report.
pub const LIGHT_SPAN_BG: Color32 = Color32::from_rgb(0xd4, 0xe2, 0xf2);
/// Light theme: the hovered phrase's span.
pub const LIGHT_SPAN_BG_HOVERED: Color32 = Color32::from_rgb(0xf6, 0xe0, 0x8a);
/// Light theme: region chips.
pub const LIGHT_CHIP_BG: Color32 = Color32::from_rgb(0xe0, 0xe3, 0xe8);

/// The crosshair colour of a view named `plane` ("Axial", "Coronal", "Sagittal").
pub fn plane_colour(plane: &str) -> Color32 {
    match plane {
        "Sagittal" => CROSS_SAGITTAL,
        "Coronal" => CROSS_CORONAL,
        _ => CROSS_AXIAL,
    }
}

/// Span, hovered-span and chip backgrounds for the current theme.
pub fn report_backgrounds(dark: bool) -> [Color32; 3] {
    if dark {
        [SPAN_BG, SPAN_BG_HOVERED, CHIP_BG]
    } else {
        [LIGHT_SPAN_BG, LIGHT_SPAN_BG_HOVERED, LIGHT_CHIP_BG]
    }
}

/// Installs the dark (or light) theme and its colours on `ctx`.
pub fn apply(ctx: &egui::Context, dark: bool) {
    let (theme, mut visuals, panel, extreme, text, selection) = if dark {
        (
            Theme::Dark,
            Visuals::dark(),
            PANEL,
            EXTREME_BG,
            TEXT,
            SELECTION_BG,
        )
    } else {
        (
            Theme::Light,
            Visuals::light(),
            LIGHT_PANEL,
            LIGHT_EXTREME_BG,
            LIGHT_TEXT,
            LIGHT_SELECTION_BG,
        )
    };
    ctx.set_theme(theme);
    visuals.panel_fill = panel;
    visuals.window_fill = panel;
    visuals.extreme_bg_color = extreme;
    visuals.override_text_color = Some(text);
    visuals.weak_text_color = Some(MUTED);
    visuals.hyperlink_color = ACCENT;
    visuals.error_fg_color = ERROR_MUTED;
    visuals.selection.bg_fill = selection;
    visuals.selection.stroke.color = ACCENT;
    ctx.set_visuals_of(theme, visuals);
}
