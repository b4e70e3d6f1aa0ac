//! Regions drawn over the slice: boxes, polygons and points as vector shapes through the slice's
//! [`SliceView`] mapping, masks as one translucent texture with their outlines (drawn with the same
//! texture coordinates as the slice, so both mirror alike). Styles follow ARCHITECTURE.md §7:
//! label colour for accepted regions, the model colour and dashes for proposals, faint for rejected.

use super::slice::SliceView;
use super::theme;
use crate::core::MaskTiles;
use crate::core::annotation::{Label, LabelId, Region, Shape, Status};
use crate::core::mask::TILE;
use egui::{Color32, ColorImage, Painter, Pos2, Rect, Stroke};
use std::collections::BTreeMap;

/// How a region is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    /// Stroke colour (premultiplied, faint for rejected regions).
    pub color: Color32,
    /// Dashed (model proposals).
    pub dashed: bool,
    /// Drawn with a halo (its phrase or chip is hovered).
    pub highlighted: bool,
}

/// The style of `region`: its label's colour (else the theme's region colour), the model colour and
/// dashes while proposed, faint when rejected.
pub fn style(region: &Region, labels: &BTreeMap<LabelId, Label>, highlighted: bool) -> Style {
    let label = region
        .label
        .and_then(|l| labels.get(&l))
        .map_or(theme::REGION, |l| {
            Color32::from_rgb(l.color[0], l.color[1], l.color[2])
        });
    let (color, dashed) = match region.status {
        Status::Accepted => (label, false),
        Status::Proposed => (theme::MODEL, true),
        Status::Rejected => (label.gamma_multiply(theme::REJECTED_OPACITY), false),
    };
    Style {
        color,
        dashed,
        highlighted,
    }
}

/// A vector region on screen.
#[derive(Clone, Debug, PartialEq)]
pub enum ScreenShape {
    /// A box (2D, or a 3D box cut by the slice).
    Rect(Rect),
    /// A closed polygon.
    Polygon(Vec<Pos2>),
    /// A point, drawn as a small cross.
    Cross(Pos2),
    /// A line (a ruler) between two ends.
    Segment([Pos2; 2]),
}

/// What a region measures, as shown beside it: a line's length in mm on a grid of `spacing_mm`.
pub fn measurement(shape: &Shape, spacing_mm: [f64; 3]) -> Option<String> {
    match shape {
        Shape::Line { a, b } => Some(format!(
            "{:.1} mm",
            crate::core::annotation::length_mm(*a, *b, spacing_mm)
        )),
        _ => None,
    }
}

/// Whether a vector shape appears on slice `k`: boxes and polygons on their slice, 3D boxes where
/// `k` lies in their k range, points on the slice nearest to them, lines when both ends are on it.
/// Masks are not vector shapes.
pub fn on_slice(shape: &Shape, k: usize) -> bool {
    let kf = k as f64;
    match shape {
        Shape::Box2d { slice, .. } | Shape::Polygon { slice, .. } => *slice as usize == k,
        Shape::Box3d { min, max } => min[2] <= kf && kf <= max[2],
        Shape::Point { at } => at[2].round() == kf,
        Shape::Line { a, b } => a[2].round() == kf && b[2].round() == kf,
        Shape::Mask => false,
    }
}

/// Where `shape` appears on slice `k` of the view, if it does (see [`on_slice`]). Masks are drawn
/// by [`mask_overlay`] instead.
pub fn screen_shape(shape: &Shape, k: usize, view: &SliceView) -> Option<ScreenShape> {
    if !on_slice(shape, k) {
        return None;
    }
    let rect = |min: [f64; 2], max: [f64; 2]| {
        ScreenShape::Rect(Rect::from_two_pos(
            view.screen_from_voxel(min),
            view.screen_from_voxel(max),
        ))
    };
    match shape {
        Shape::Box2d { min, max, .. } => Some(rect(*min, *max)),
        Shape::Box3d { min, max } => Some(rect([min[0], min[1]], [max[0], max[1]])),
        Shape::Polygon { points, .. } => Some(ScreenShape::Polygon(
            points.iter().map(|&p| view.screen_from_voxel(p)).collect(),
        )),
        Shape::Point { at } => Some(ScreenShape::Cross(view.screen_from_voxel([at[0], at[1]]))),
        Shape::Line { a, b } => Some(ScreenShape::Segment([
            view.screen_from_voxel([a[0], a[1]]),
            view.screen_from_voxel([b[0], b[1]]),
        ])),
        Shape::Mask => None,
    }
}

/// Where `shape` appears on the plane `index` across voxel axis `fixed` (0: i, 1: j; for 2 this is
/// [`screen_shape`]), seen through `view` (whose plane coordinates are then (i or j, k)): boxes as
/// rectangles one slice thick (3D boxes over their k range) where the plane cuts them, points on the
/// plane nearest to them, lines lying in the plane. Polygons lie in one k plane and show only there; masks go through
/// [`mask_overlay_plane`].
pub fn plane_shape(
    shape: &Shape,
    fixed: usize,
    index: usize,
    view: &SliceView,
) -> Option<ScreenShape> {
    if fixed >= 2 {
        return screen_shape(shape, index, view);
    }
    let (c, u) = (index as f64, 1 - fixed);
    let rect = |min: [f64; 2], max: [f64; 2]| {
        ScreenShape::Rect(Rect::from_two_pos(
            view.screen_from_voxel(min),
            view.screen_from_voxel(max),
        ))
    };
    match shape {
        Shape::Box2d { slice, min, max } if min[fixed] <= c && c <= max[fixed] => {
            let k = f64::from(*slice);
            Some(rect([min[u], k - 0.5], [max[u], k + 0.5]))
        }
        Shape::Box3d { min, max } if min[fixed] <= c && c <= max[fixed] => {
            Some(rect([min[u], min[2] - 0.5], [max[u], max[2] + 0.5]))
        }
        Shape::Point { at } if at[fixed].round() == c => {
            Some(ScreenShape::Cross(view.screen_from_voxel([at[u], at[2]])))
        }
        Shape::Line { a, b } if a[fixed].round() == c && b[fixed].round() == c => {
            Some(ScreenShape::Segment([
                view.screen_from_voxel([a[u], a[2]]),
                view.screen_from_voxel([b[u], b[2]]),
            ]))
        }
        _ => None,
    }
}

/// Half the size of a point's cross, in points.
const CROSS_HALF: f32 = 5.0;
/// Stroke width of region outlines, in points.
const STROKE: f32 = 1.5;
/// Extra width of the halo around highlighted regions.
const HALO: f32 = 4.0;

/// Draws one vector region with its style, and `tag` (label name or id) beside boxes and polygons.
pub fn paint(painter: &Painter, shape: &ScreenShape, style: Style, tag: Option<&str>) {
    let outline: Vec<Pos2> = match shape {
        ScreenShape::Rect(r) => vec![
            r.left_top(),
            r.right_top(),
            r.right_bottom(),
            r.left_bottom(),
        ],
        ScreenShape::Polygon(points) => points.clone(),
        ScreenShape::Segment(ends) => {
            paint_segment(painter, *ends, style, tag);
            return;
        }
        ScreenShape::Cross(c) => {
            let (h, v) = (egui::vec2(CROSS_HALF, 0.0), egui::vec2(0.0, CROSS_HALF));
            let mut widths = vec![STROKE + 0.5];
            if style.highlighted {
                widths.insert(0, STROKE + HALO);
            }
            for (n, w) in widths.into_iter().enumerate() {
                let color = if style.highlighted && n == 0 {
                    theme::HIGHLIGHT
                } else {
                    style.color
                };
                painter.line_segment([*c - h, *c + h], Stroke::new(w, color));
                painter.line_segment([*c - v, *c + v], Stroke::new(w, color));
            }
            return;
        }
    };
    if outline.len() < 2 {
        return;
    }
    let mut closed = outline.clone();
    closed.push(outline[0]);
    if style.highlighted {
        painter.add(egui::Shape::line(
            closed.clone(),
            Stroke::new(STROKE + HALO, theme::HIGHLIGHT),
        ));
    }
    let stroke = Stroke::new(STROKE, style.color);
    if style.dashed {
        painter.extend(egui::Shape::dashed_line(&closed, stroke, 6.0, 4.0));
    } else {
        painter.add(egui::Shape::closed_line(outline.clone(), stroke));
    }
    if let Some(tag) = tag {
        let top_left = outline
            .iter()
            .fold(Pos2::new(f32::INFINITY, f32::INFINITY), |a, p| {
                Pos2::new(a.x.min(p.x), a.y.min(p.y))
            });
        painter.text(
            top_left - egui::vec2(0.0, 2.0),
            egui::Align2::LEFT_BOTTOM,
            tag,
            egui::FontId::proportional(12.0),
            style.color,
        );
    }
}

/// A line with short ticks across its ends, and `tag` beside its second end.
fn paint_segment(painter: &Painter, [a, b]: [Pos2; 2], style: Style, tag: Option<&str>) {
    let along = (b - a).normalized();
    let across = if along.is_finite() {
        egui::vec2(-along.y, along.x) * CROSS_HALF
    } else {
        egui::vec2(0.0, CROSS_HALF)
    };
    let mut strokes = vec![(STROKE, style.color)];
    if style.highlighted {
        strokes.insert(0, (STROKE + HALO, theme::HIGHLIGHT));
    }
    for (width, color) in strokes {
        let stroke = Stroke::new(width, color);
        if style.dashed {
            painter.extend(egui::Shape::dashed_line(&[a, b], stroke, 6.0, 4.0));
        } else {
            painter.line_segment([a, b], stroke);
        }
        for end in [a, b] {
            painter.line_segment([end - across, end + across], stroke);
        }
    }
    if let Some(tag) = tag {
        // The measurement on a dark plate, legible over bright tissue (as OHIF draws its text boxes).
        let away = if along.is_finite() {
            along * 8.0
        } else {
            egui::vec2(8.0, 0.0)
        };
        let galley = painter.layout_no_wrap(
            tag.to_owned(),
            egui::FontId::proportional(12.0),
            style.color,
        );
        let anchor = if away.x >= 0.0 {
            egui::Align2::LEFT_CENTER
        } else {
            egui::Align2::RIGHT_CENTER
        };
        let rect = anchor.anchor_size(b + away, galley.size());
        painter.rect_filled(rect.expand(2.0), 2.0, Color32::from_black_alpha(170));
        painter.galley(rect.min, galley, style.color);
    }
}

/// One mask to rasterise, with its style.
pub struct MaskLayer<'a> {
    /// The mask's voxels.
    pub mask: &'a MaskTiles,
    /// How it is drawn.
    pub style: Style,
}

/// The masks' voxels on slice `k` as one image of the plane (row 0 = j 0, every `step`-th voxel, as
/// the slice texture samples them): a translucent fill and an opaque outline (dotted for proposals,
/// in the halo colour when highlighted). Where masks overlap, the later one wins.
pub fn mask_overlay(
    layers: &[MaskLayer<'_>],
    k: usize,
    size: [usize; 2],
    step: usize,
) -> ColorImage {
    mask_overlay_plane(layers, 2, k, size, step)
}

/// [`mask_overlay`] of the plane `index` across voxel axis `fixed`: `size` is the plane's size along
/// its columns and rows (the lower and the higher of the other two axes, as
/// [`super::slice::plane_axes`]).
pub fn mask_overlay_plane(
    layers: &[MaskLayer<'_>],
    fixed: usize,
    index: usize,
    size: [usize; 2],
    step: usize,
) -> ColorImage {
    let step = step.max(1);
    let [nu, nv] = size;
    let (width, height) = (nu.div_ceil(step).max(1), nv.div_ceil(step).max(1));
    let mut owner = vec![0u16; width * height];
    let Ok(at32) = u32::try_from(index) else {
        return ColorImage::filled([width, height], Color32::TRANSPARENT);
    };
    let axes = super::slice::plane_axes(fixed);
    let (tile_of, within) = (at32 / TILE as u32, index % TILE);
    for (n, layer) in layers.iter().enumerate().take(usize::from(u16::MAX)) {
        let tiles = layer.mask.tiles();
        // Tiles are keyed (k, j / TILE, i / TILE): the k plane is one range, the others a filter.
        let cut: Box<dyn Iterator<Item = _>> = match fixed {
            0 => Box::new(tiles.iter().filter(move |((_, _, col), _)| *col == tile_of)),
            1 => Box::new(tiles.iter().filter(move |((_, row, _), _)| *row == tile_of)),
            _ => Box::new(tiles.range((at32, 0, 0)..=(at32, u32::MAX, u32::MAX))),
        };
        for (&(k, row, col), tile) in cut {
            for (at, &v) in tile.iter().enumerate() {
                let (x, y) = (at % TILE, at / TILE);
                if v == 0 || (fixed == 0 && x != within) || (fixed == 1 && y != within) {
                    continue;
                }
                let ijk = [col as usize * TILE + x, row as usize * TILE + y, k as usize];
                let [u, w] = axes.map(|a| ijk[a]);
                if u < nu && w < nv && u % step == 0 && w % step == 0 {
                    owner[(w / step) * width + u / step] = n as u16 + 1;
                }
            }
        }
    }
    let pixels = (0..width * height)
        .map(|at| {
            let o = owner[at];
            let Some(layer) = o.checked_sub(1).and_then(|n| layers.get(usize::from(n))) else {
                return Color32::TRANSPARENT;
            };
            let (x, y) = (at % width, at / width);
            let differs = |dx: isize, dy: isize| {
                let (xx, yy) = (x as isize + dx, y as isize + dy);
                xx < 0
                    || yy < 0
                    || xx >= width as isize
                    || yy >= height as isize
                    || owner[yy as usize * width + xx as usize] != o
            };
            let edge = differs(-1, 0) || differs(1, 0) || differs(0, -1) || differs(0, 1);
            let s = layer.style;
            if edge && !(s.dashed && (x + y) / 3 % 2 == 1) {
                if s.highlighted {
                    theme::HIGHLIGHT
                } else {
                    s.color
                }
            } else {
                let fill = if s.highlighted {
                    theme::MASK_FILL_HIGHLIGHTED
                } else {
                    theme::MASK_FILL
                };
                s.color.gamma_multiply(fill)
            }
        })
        .collect();
    ColorImage::new([width, height], pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mask::VoxelBox;

    /// A 512 × 512 plane drawn into a 600 × 600 square at (100, 50), as the viewer lays it out.
    fn view(flips: [bool; 2]) -> SliceView {
        SliceView {
            rect: Rect::from_min_size(Pos2::new(100.0, 50.0), egui::vec2(600.0, 600.0)),
            size: [512, 512],
            flips,
            axes: [0, 1],
        }
    }

    fn close(a: Rect, b: Rect) -> bool {
        (a.min - b.min).length() < 1e-3 && (a.max - b.max).length() < 1e-3
    }

    #[test]
    fn radfact_box_lands_in_the_lower_right_quarter() {
        // RadFact x, y 0.55..0.8 on a 512² image: corners at 0.55 · 512 − 0.5 and 0.8 · 512 − 0.5.
        let b = Shape::Box2d {
            slice: 0,
            min: [0.55 * 512.0 - 0.5; 2],
            max: [0.8 * 512.0 - 0.5; 2],
        };
        let want = Rect::from_min_max(Pos2::new(430.0, 380.0), Pos2::new(580.0, 530.0));
        let Some(ScreenShape::Rect(r)) = screen_shape(&b, 0, &view([false, false])) else {
            panic!("box not drawn");
        };
        assert!(close(r, want), "{r:?}");
        assert_eq!(screen_shape(&b, 1, &view([false, false])), None);
        // Mirrored in x and y (e.g. a NIfTI stored RAS): the same box lands in the upper left.
        let Some(ScreenShape::Rect(m)) = screen_shape(&b, 0, &view([true, true])) else {
            panic!("box not drawn");
        };
        let mirrored = Rect::from_min_max(Pos2::new(220.0, 170.0), Pos2::new(370.0, 320.0));
        assert!(close(m, mirrored), "{m:?}");
    }

    #[test]
    fn box3d_only_within_its_slices_and_points_on_theirs() {
        let b = Shape::Box3d {
            min: [-0.5, -0.5, 2.0],
            max: [511.5, 255.5, 4.0],
        };
        let v = view([false, false]);
        assert_eq!(screen_shape(&b, 1, &v), None);
        assert_eq!(screen_shape(&b, 5, &v), None);
        let want = Rect::from_min_max(Pos2::new(100.0, 50.0), Pos2::new(700.0, 350.0));
        for k in 2..=4 {
            let Some(ScreenShape::Rect(r)) = screen_shape(&b, k, &v) else {
                panic!("slice {k}");
            };
            assert!(close(r, want), "{r:?}");
        }
        let p = Shape::Point {
            at: [255.5, 255.5, 3.0],
        };
        assert_eq!(
            screen_shape(&p, 3, &v),
            Some(ScreenShape::Cross(Pos2::new(400.0, 350.0)))
        );
        assert_eq!(screen_shape(&p, 2, &v), None);
        let poly = Shape::Polygon {
            slice: 3,
            points: vec![[-0.5, -0.5], [511.5, -0.5], [511.5, 511.5]],
        };
        let Some(ScreenShape::Polygon(pts)) = screen_shape(&poly, 3, &view([true, false])) else {
            panic!("polygon not drawn");
        };
        assert_eq!(
            pts,
            vec![
                Pos2::new(700.0, 50.0),
                Pos2::new(100.0, 50.0),
                Pos2::new(100.0, 650.0)
            ]
        );
        assert_eq!(screen_shape(&Shape::Mask, 3, &v), None);
    }

    #[test]
    fn styles_by_status() {
        let mut labels = BTreeMap::new();
        labels.insert(
            crate::core::Id::from_u128(5),
            Label {
                id: crate::core::Id::from_u128(5),
                name: "liver".into(),
                color: [200, 100, 50, 255],
            },
        );
        let mut r = Region {
            id: crate::core::Id::from_u128(1),
            image: crate::core::Id::from_u128(1),
            label: Some(crate::core::Id::from_u128(5)),
            shape: Shape::Mask,
            author: crate::core::Author::Human("a".into()),
            prompt: None,
            status: Status::Accepted,
            confidence: None,
            created_ms: 0,
            modified_ms: 0,
            reported: None,
        };
        let s = style(&r, &labels, false);
        assert_eq!(
            (s.color, s.dashed),
            (Color32::from_rgb(200, 100, 50), false)
        );
        r.status = Status::Proposed;
        assert_eq!(style(&r, &labels, false).color, theme::MODEL);
        assert!(style(&r, &labels, false).dashed);
        r.status = Status::Rejected;
        assert!(style(&r, &labels, false).color.a() < 255);
        r.label = None;
        r.status = Status::Accepted;
        assert_eq!(style(&r, &labels, true).color, theme::REGION);
    }

    #[test]
    fn mask_overlay_fills_and_outlines_the_slice() {
        let mut m = MaskTiles::new([70, 8, 3]);
        // A 4 × 3 block on slice 1 that straddles a tile edge (i = 62..66).
        let b = VoxelBox {
            min: [62, 2, 1],
            max: [66, 5, 2],
        };
        m.write_box(b, &vec![1; b.len()]);
        let s = Style {
            color: Color32::from_rgb(0, 200, 0),
            dashed: false,
            highlighted: false,
        };
        let img = mask_overlay(&[MaskLayer { mask: &m, style: s }], 1, [70, 8], 1);
        assert_eq!(img.size, [70, 8]);
        let at = |i: usize, j: usize| img.pixels[j * 70 + i];
        assert_eq!(at(61, 3), Color32::TRANSPARENT);
        assert_eq!(at(62, 3), s.color); // outline
        assert_eq!(at(63, 3), s.color.gamma_multiply(theme::MASK_FILL)); // inside
        assert_eq!(at(64, 3), s.color.gamma_multiply(theme::MASK_FILL));
        assert_eq!(at(65, 2), s.color);
        assert_eq!(at(66, 3), Color32::TRANSPARENT);
        // Other slices are empty; subsampling keeps every second voxel.
        let empty = mask_overlay(&[MaskLayer { mask: &m, style: s }], 0, [70, 8], 1);
        assert!(empty.pixels.iter().all(|&p| p == Color32::TRANSPARENT));
        let half = mask_overlay(&[MaskLayer { mask: &m, style: s }], 1, [70, 8], 2);
        assert_eq!(half.size, [35, 4]);
        assert_ne!(half.pixels[35 + 31], Color32::TRANSPARENT); // voxel (62, 2)
    }

    #[test]
    fn planes_across_i_and_j_cut_masks_and_boxes() {
        // A mask block i 62..66, j 2..5, k 1..3 (across a tile edge), seen from the planes across it.
        let mut m = MaskTiles::new([70, 8, 4]);
        let b = VoxelBox {
            min: [62, 2, 1],
            max: [66, 5, 3],
        };
        m.write_box(b, &vec![1; b.len()]);
        let s = Style {
            color: Color32::from_rgb(0, 200, 0),
            dashed: false,
            highlighted: false,
        };
        let layer = [MaskLayer { mask: &m, style: s }];
        // Across j at j = 3: columns i (70), rows k (4).
        let cj = mask_overlay_plane(&layer, 1, 3, [70, 4], 1);
        assert_eq!(cj.size, [70, 4]);
        let filled = |img: &ColorImage, w: usize| {
            let mut at: Vec<(usize, usize)> = img
                .pixels
                .iter()
                .enumerate()
                .filter(|(_, p)| **p != Color32::TRANSPARENT)
                .map(|(n, _)| (n % w, n / w))
                .collect();
            at.sort_unstable();
            at
        };
        let expect: Vec<(usize, usize)> =
            (62..66).flat_map(|i| (1..3).map(move |k| (i, k))).collect();
        assert_eq!(filled(&cj, 70), expect);
        // Across i at i = 64: columns j (8), rows k.
        let ci = mask_overlay_plane(&layer, 0, 64, [8, 4], 1);
        let expect: Vec<(usize, usize)> =
            (2..5).flat_map(|j| (1..3).map(move |k| (j, k))).collect();
        assert_eq!(filled(&ci, 8), expect);
        // Planes that miss the block are empty.
        assert!(filled(&mask_overlay_plane(&layer, 0, 61, [8, 4], 1), 8).is_empty());
        assert!(filled(&mask_overlay_plane(&layer, 1, 5, [70, 4], 1), 70).is_empty());

        // A box on slice 2 spanning i 10..20, j 30..40 shows across j = 35 as one slice-thick band.
        let plane = SliceView {
            rect: Rect::from_min_size(Pos2::ZERO, egui::vec2(100.0, 10.0)),
            size: [100, 10],
            flips: [false, false],
            axes: [0, 2],
        };
        let boxed = Shape::Box2d {
            slice: 2,
            min: [10.0, 30.0],
            max: [20.0, 40.0],
        };
        let Some(ScreenShape::Rect(r)) = plane_shape(&boxed, 1, 35, &plane) else {
            panic!("the plane cuts the box");
        };
        assert_eq!((r.min, r.max), (Pos2::new(10.5, 2.0), Pos2::new(20.5, 3.0)));
        assert_eq!(plane_shape(&boxed, 1, 41, &plane), None);
        // A 3D box covers its k range; a point shows on the plane through it.
        let b3 = Shape::Box3d {
            min: [10.0, 30.0, 1.0],
            max: [20.0, 40.0, 6.0],
        };
        let Some(ScreenShape::Rect(r)) = plane_shape(&b3, 1, 30, &plane) else {
            panic!("the plane cuts the 3D box");
        };
        assert_eq!((r.min.y, r.max.y), (1.0, 7.0));
        let point = Shape::Point {
            at: [12.0, 35.2, 4.0],
        };
        assert!(plane_shape(&point, 1, 35, &plane).is_some());
        assert!(plane_shape(&point, 1, 36, &plane).is_none());
    }
}
