//! The views: the acquisition plane where the tools draw (`primary`), the planes across it
//! (`across`), the 3D view (`volume`), and what they share (panes, crosshairs, region overlays).

pub(in crate::ui) mod across;
pub(in crate::ui) mod input;
pub(in crate::ui) mod primary;
pub(in crate::ui) mod volume;

use crate::core::Document;
use crate::core::annotation::{Region, RegionId};
use crate::core::paint;
use crate::ui::grounding::{self};
use crate::ui::mpr::{Layout, Pane};
use crate::ui::overlay::{self, MaskLayer};
use crate::ui::slice::{self, SliceView};
use crate::ui::theme;
use egui::{Color32, Event, MouseWheelUnit, Pos2, Rect, Sense, Ui, Vec2};

use crate::ui::app::AppState;
use crate::ui::textures::{OverlayTexture, cached_texture};

/// The mask regions among `regions` as overlay layers, styled (highlighted where `lit` says).
pub(in crate::ui) fn mask_layers<'a>(
    doc: &'a Document,
    regions: &[&'a Region],
    lit: impl Fn(&Region) -> bool,
) -> Vec<MaskLayer<'a>> {
    regions
        .iter()
        .filter_map(|r| {
            Some(MaskLayer {
                mask: doc.masks.get(&r.id)?,
                style: overlay::style(r, &doc.labels, lit(r)),
            })
        })
        .collect()
}

/// A view's area taking clicks and drags, with `cursor` over it, and a painter clipped to it.
pub(in crate::ui) fn pane(
    ui: &mut Ui,
    area: Rect,
    cursor: egui::CursorIcon,
) -> (egui::Response, egui::Painter) {
    let response = ui
        .allocate_rect(area, Sense::click_and_drag())
        .on_hover_cursor(cursor);
    (response, ui.painter_at(area))
}

/// Mouse-wheel movement this frame in lines (pixel and page deltas converted).
pub(in crate::ui) fn wheel_lines(ui: &Ui) -> f32 {
    ui.input(|i| {
        i.events
            .iter()
            .filter_map(|e| match e {
                Event::MouseWheel { unit, delta, .. } => Some(match unit {
                    MouseWheelUnit::Line => delta.y,
                    MouseWheelUnit::Point => delta.y / 40.0,
                    MouseWheelUnit::Page => delta.y * 10.0,
                }),
                _ => None,
            })
            .sum()
    })
}

/// The crosshair through plane coordinates `at` of `view`: two lines across the pane with a gap
/// around the point so the anatomy under it stays visible.
pub(in crate::ui) fn paint_crosshair(
    painter: &egui::Painter,
    view: &SliceView,
    at: [f64; 2],
    colour: Color32,
) {
    let c = view.screen_from_voxel(at);
    let r = painter.clip_rect();
    let stroke = egui::Stroke::new(1.0, colour);
    const GAP: f32 = 8.0;
    if c.x >= r.min.x && c.x <= r.max.x {
        for (a, b) in [(r.min.y, c.y - GAP), (c.y + GAP, r.max.y)] {
            if b > a {
                painter.line_segment([Pos2::new(c.x, a), Pos2::new(c.x, b)], stroke);
            }
        }
    }
    if c.y >= r.min.y && c.y <= r.max.y {
        for (a, b) in [(r.min.x, c.x - GAP), (c.x + GAP, r.max.x)] {
            if b > a {
                painter.line_segment([Pos2::new(a, c.y), Pos2::new(b, c.y)], stroke);
            }
        }
    }
}

/// A view's name in its top-left corner, in the view's colour (as Slicer tags its slice views).
pub(in crate::ui) fn pane_title(painter: &egui::Painter, area: Rect, text: &str, colour: Color32) {
    painter.text(
        area.min + Vec2::new(6.0, 4.0),
        egui::Align2::LEFT_TOP,
        text,
        egui::FontId::proportional(13.0),
        colour,
    );
}

impl AppState {
    /// The centre: the layout's panes.
    pub(in crate::ui) fn viewport(&mut self, ui: &mut Ui) {
        let area = ui.available_rect_before_wrap();
        let layout = if self.current().is_some() {
            self.layout
        } else {
            Layout::One
        };
        self.hover_voxel = None;
        self.plane_views = [None, None];
        self.rect_3d = None;
        for (pane, rect) in layout.panes(area, 4.0) {
            match pane {
                Pane::Primary => self.primary_view(ui, rect, layout != Layout::One),
                Pane::Across(fixed) => self.across_view(ui, rect, fixed),
                Pane::ThreeD => self.view_3d(ui, rect),
            }
        }
        if layout != Layout::One {
            // Gaps between the panes.
            let painter = ui.painter_at(area);
            for (_, rect) in layout.panes(area, 4.0) {
                painter.rect_stroke(
                    rect.expand(1.0),
                    0.0,
                    egui::Stroke::new(1.0, theme::PANE_BORDER),
                    egui::StrokeKind::Outside,
                );
            }
        }
        if ui.ctx().input(|i| !i.raw.hovered_files.is_empty()) {
            ui.painter_at(area).rect_stroke(
                area.shrink(2.0),
                0.0,
                egui::Stroke::new(3.0, theme::DROP_TARGET),
                egui::StrokeKind::Inside,
            );
        }
    }

    /// The region drawn under `p` on slice `k` (the topmost, as drawn last).
    pub(in crate::ui) fn region_at(&self, view: &SliceView, k: usize, p: Pos2) -> Option<RegionId> {
        let [i, j] = view.voxel_at(p)?;
        self.pick(view, [i, j, k], p, |shape| {
            overlay::screen_shape(shape, k, view)
        })
    }

    /// The region drawn under `p` in the plane across voxel axis `fixed` at `index` (the topmost).
    pub(in crate::ui) fn region_across_at(
        &self,
        view: &SliceView,
        fixed: usize,
        index: usize,
        p: Pos2,
    ) -> Option<RegionId> {
        let [u, w] = view.voxel_at(p)?;
        let axes = crate::ui::slice::plane_axes(fixed);
        let mut ijk = [0usize; 3];
        ijk[fixed] = index;
        [ijk[axes[0]], ijk[axes[1]]] = [u, w];
        self.pick(view, ijk, p, |shape| {
            overlay::plane_shape(shape, fixed, index, view)
        })
    }

    /// The topmost region of the current image under screen point `p` (voxel `ijk`): a mask that
    /// has the voxel, or a shape `drawn` in this pane near `p`; never one the view filter hides.
    fn pick(
        &self,
        view: &SliceView,
        ijk: [usize; 3],
        p: Pos2,
        drawn: impl Fn(&crate::core::Shape) -> Option<overlay::ScreenShape>,
    ) -> Option<RegionId> {
        let (proj, image) = self.current_project_image()?;
        let notes = proj.notes(image)?;
        notes.regions.iter().rev().copied().find(|id| {
            let Some(r) = proj.doc().regions.get(id) else {
                return false;
            };
            if !self.region_filter.shows(&r.author) {
                return false;
            }
            if let Some(m) = proj.doc().masks.get(id) {
                return m.get(ijk) != 0;
            }
            drawn(&r.shape).is_some_and(|s| hits(&s, view, p))
        })
    }

    /// Draws the selected image's regions on slice `k` over the slice at `view`.
    pub(in crate::ui) fn paint_regions(
        &mut self,
        ctx: &egui::Context,
        painter: &egui::Painter,
        view: &SliceView,
    ) {
        let Some(s) = self.selected else {
            return;
        };
        // Field by field, so that the overlay cache can be updated while the document is read.
        let (Some(entry), Some(display), Some(p)) = (
            self.images.get(s),
            self.displays.get(s),
            self.project.as_ref(),
        ) else {
            return;
        };
        let Some((image, notes)) = entry
            .project_image
            .and_then(|image| Some((image, p.notes(image)?)))
        else {
            return;
        };
        let k = display.k;
        let doc = p.doc();
        let filter = self.region_filter;
        let spacing_mm = entry.volume.spacing_mm();
        let regions: Vec<_> = notes
            .regions
            .iter()
            .filter_map(|r| doc.regions.get(r))
            .filter(|r| filter.shows(&r.author))
            .collect();
        // The heatmap of the hovered phrase (when it has one here), else of the chosen phrase, under
        // the regions.
        let heatmap = [self.hovered_phrase, self.heat_phrase]
            .into_iter()
            .flatten()
            .find_map(|ph| grounding::heatmap_on(doc, image, ph, k, filter))
            .filter(|_| self.heatmap_style.visible);
        self.drawn = (
            heatmap.map(|h| h.id),
            regions
                .iter()
                .filter(|r| {
                    overlay::screen_shape(&r.shape, k, view).is_some()
                        || doc.masks.get(&r.id).is_some_and(|m| m.touches_slice(k))
                })
                .map(|r| r.id)
                .collect(),
        );
        if let Some(h) = heatmap {
            let style = self.heatmap_style;
            let id = cached_texture(
                &mut self.heat_texture,
                ctx,
                "voxmark-heatmap",
                (h.id, style.opacity.to_bits(), style.colormap),
                egui::TextureOptions::LINEAR,
                || {
                    let table = style.colormap.table().unwrap_or([[255; 4]; 256]);
                    grounding::heatmap_image(h, &table, style.opacity)
                },
            );
            painter.image(id, view.rect, view.uv(), Color32::WHITE);
        }
        // Masks: one texture of the plane, drawn with the slice's texture coordinates.
        let layers = mask_layers(doc, &regions, |r| {
            self.highlight.contains(&r.id) || self.selected_region == Some(r.id)
        });
        if !layers.is_empty() {
            let max_side = ctx.input(|i| i.max_texture_side);
            let step = slice::subsample_step(view.size[0], view.size[1], max_side);
            let mut highlighted: Vec<RegionId> = self.highlight.iter().copied().collect();
            highlighted.extend(self.selected_region);
            let key = (s, k, step, p.revision(), highlighted, filter);
            let fresh = self.overlay.as_ref().is_some_and(|o| o.key == key);
            if !fresh {
                let image = overlay::mask_overlay(&layers, k, view.size, step);
                let options = egui::TextureOptions::NEAREST;
                match &mut self.overlay {
                    Some(o) => {
                        o.texture.set(image, options);
                        o.key = key;
                    }
                    None => {
                        let texture = ctx.load_texture("voxmark-masks", image, options);
                        self.overlay = Some(OverlayTexture { key, texture });
                    }
                }
            }
            if let Some(o) = &self.overlay {
                painter.image(o.texture.id(), view.rect, view.uv(), Color32::WHITE);
            }
        }
        // Vector regions, highlighted ones last so their halo is on top.
        let mut shapes: Vec<_> = regions
            .iter()
            .filter_map(|r| {
                let shape = overlay::screen_shape(&r.shape, k, view)?;
                let style = overlay::style(
                    r,
                    &doc.labels,
                    self.highlight.contains(&r.id) || self.selected_region == Some(r.id),
                );
                let mut tag = r
                    .label
                    .and_then(|l| doc.labels.get(&l))
                    .map_or_else(|| format!("#{}", r.id), |l| format!("#{} {}", r.id, l.name));
                if let Some(m) = overlay::measurement(&r.shape, spacing_mm) {
                    tag = format!("{tag} · {m}");
                }
                Some((shape, style, tag))
            })
            .collect();
        shapes.sort_by_key(|(_, style, _)| style.highlighted);
        for (shape, style, tag) in &shapes {
            overlay::paint(painter, shape, *style, Some(tag));
        }
    }
}

/// Whether screen point `p` picks a region drawn as `shape` (a few pixels' slack on thin shapes).
fn hits(shape: &overlay::ScreenShape, view: &SliceView, p: Pos2) -> bool {
    match shape {
        overlay::ScreenShape::Rect(rect) => rect.expand(3.0).contains(p),
        overlay::ScreenShape::Polygon(points) => {
            let ij = view.voxel_from_screen(p);
            let poly: Vec<[f64; 2]> = points.iter().map(|&q| view.voxel_from_screen(q)).collect();
            paint::point_in_polygon(ij, &poly)
        }
        overlay::ScreenShape::Cross(c) => c.distance(p) <= 6.0,
        overlay::ScreenShape::Segment(ends) => {
            crate::ui::tools::distance_to_segment(p, *ends) <= 4.0
        }
    }
}
