//! The annotation tools: which one is active, its settings, the gesture in progress and the plane
//! geometry they share (box handles, boxes over slices). `viewport::input` turns pointer input into
//! commands with them; they never change the document themselves (ARCHITECTURE.md §7).

use super::overlay::{self, ScreenShape};
use super::slice::SliceView;
use crate::core::annotation::{RegionId, Shape};
use crate::core::paint::Brush;
use egui::{Key, Pos2};

/// A tool of the toolbar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Select, move and resize regions; drag elsewhere to pan.
    Navigate,
    /// Drag to change the window.
    Window,
    /// Drag a box on the slice.
    Box,
    /// Paint the active label.
    Brush,
    /// Erase mask voxels.
    Eraser,
    /// Click vertices; double-click or Enter closes.
    Polygon,
    /// Click to fill the connected voxels within a value range.
    Threshold,
    /// Drag to measure a distance in millimetres.
    Ruler,
    /// Click to place a point.
    Point,
    /// Drag a box: the chosen promptable model proposes a mask inside it.
    ModelBox,
}

impl Tool {
    /// Every tool, in toolbar order.
    pub const ALL: [Tool; 10] = [
        Tool::Navigate,
        Tool::Window,
        Tool::Box,
        Tool::Brush,
        Tool::Eraser,
        Tool::Polygon,
        Tool::Threshold,
        Tool::Ruler,
        Tool::Point,
        Tool::ModelBox,
    ];

    /// Toolbar name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Navigate => "Select",
            Tool::Window => "W/L",
            Tool::Box => "Box",
            Tool::Brush => "Brush",
            Tool::Eraser => "Eraser",
            Tool::Polygon => "Polygon",
            Tool::Threshold => "Threshold",
            Tool::Ruler => "Ruler",
            Tool::Point => "Point",
            Tool::ModelBox => "Model box",
        }
    }

    /// Its keyboard shortcut.
    pub fn key(self) -> Key {
        match self {
            Tool::Navigate => Key::V,
            Tool::Window => Key::W,
            Tool::Box => Key::B,
            Tool::Brush => Key::D,
            Tool::Eraser => Key::E,
            Tool::Polygon => Key::G,
            Tool::Threshold => Key::T,
            Tool::Ruler => Key::M,
            Tool::Point => Key::O,
            Tool::ModelBox => Key::I,
        }
    }

    /// What it does, for tooltips and the help overlay.
    pub fn hint(self) -> &'static str {
        match self {
            Tool::Navigate => {
                "click a region to select it; drag a selected box or line to move it, its corners or ends to reshape it; drag elsewhere to pan"
            }
            Tool::Window => "drag: horizontal = width, vertical = centre",
            Tool::Box => "drag a box on the slice",
            Tool::Brush => "paint the active label (radius in mm; [ and ] change it)",
            Tool::Eraser => "erase mask voxels under the brush",
            Tool::Polygon => "click vertices; double-click or Enter closes, Esc cancels",
            Tool::Threshold => "click to fill the connected voxels within the range",
            Tool::Ruler => {
                "drag to measure a distance in mm (in a project it is kept as a line region)"
            }
            Tool::Point => "click to place a point",
            Tool::ModelBox => {
                "drag a box: the chosen model (e.g. LiteMedSAM) proposes a mask in it; A accepts, X rejects"
            }
        }
    }

    /// True for tools that change the document (they need an open project).
    pub fn edits(self) -> bool {
        !matches!(self, Tool::Navigate | Tool::Window | Tool::Ruler)
    }
}

/// Tool settings that persist between gestures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Brush and eraser.
    pub brush: Brush,
    /// Threshold range in modality units (set from the window when the tool is picked).
    pub threshold: (f64, f64),
    /// Threshold fill across slices (6-connected) instead of on the slice.
    pub threshold_3d: bool,
    /// Closed polygons are filled into the active label's mask instead of kept as vectors.
    pub polygon_to_mask: bool,
    /// New boxes reach this many slices above and below the one drawn on (0: a 2D box).
    pub box_depth: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            brush: Brush {
                radius_mm: 3.0,
                sphere: false,
            },
            threshold: (0.0, 1.0),
            threshold_3d: false,
            polygon_to_mask: false,
            box_depth: 0,
        }
    }
}

/// Which part of a selected box a drag holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handle {
    /// The inside: moves the box.
    Inside,
    /// A corner: (moves min i?, moves min j?).
    Corner(bool, bool),
    /// A line's end: its first (`true`) or its second.
    End(bool),
}

/// A gesture in progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Gesture {
    /// Nothing.
    #[default]
    Idle,
    /// A box from its first corner (i, j) to the pointer.
    Box {
        /// First corner.
        start: [f64; 2],
        /// Current corner.
        end: [f64; 2],
    },
    /// A brush or eraser stroke; the last dab position.
    Stroke {
        /// Last position (i, j, k).
        last: [f64; 3],
    },
    /// Polygon vertices so far.
    Polygon {
        /// Vertices (i, j).
        points: Vec<[f64; 2]>,
        /// Its slice.
        k: usize,
    },
    /// A ruler from `a` to `b` (plane coordinates) on plane `k` across voxel axis `fixed` (2: the
    /// acquisition plane); without a project it stays shown until the next one.
    Ruler {
        /// Start.
        a: [f64; 2],
        /// End.
        b: [f64; 2],
        /// The plane's index along `fixed`.
        k: usize,
        /// The voxel axis the plane holds.
        fixed: usize,
    },
    /// Moving or resizing a box.
    Edit {
        /// The region.
        region: RegionId,
        /// Its shape when the drag began.
        original: Shape,
        /// What is dragged.
        handle: Handle,
        /// Where the drag began (i, j).
        from: [f64; 2],
        /// The shape now.
        current: Shape,
    },
}

/// Screen distance within which a box corner is grabbed.
const GRAB: f32 = 8.0;

/// The part of a box or line on the slice under `p`: a corner or end, else the inside (a box) or
/// the line itself, which move the whole.
pub fn handle_at(shape: &Shape, k: usize, view: &SliceView, p: Pos2) -> Option<Handle> {
    let r = match overlay::screen_shape(shape, k, view) {
        Some(ScreenShape::Rect(r)) => r,
        Some(ScreenShape::Segment([a, b])) => {
            return if a.distance(p) <= GRAB {
                Some(Handle::End(true))
            } else if b.distance(p) <= GRAB {
                Some(Handle::End(false))
            } else {
                (distance_to_segment(p, [a, b]) <= GRAB / 2.0).then_some(Handle::Inside)
            };
        }
        _ => return None,
    };
    let (min, max) = box_corners(shape)?;
    for lo_i in [true, false] {
        for lo_j in [true, false] {
            let c = view.screen_from_voxel([
                if lo_i { min[0] } else { max[0] },
                if lo_j { min[1] } else { max[1] },
            ]);
            if c.distance(p) <= GRAB {
                return Some(Handle::Corner(lo_i, lo_j));
            }
        }
    }
    r.contains(p).then_some(Handle::Inside)
}

/// Screen distance from `p` to the segment `a`–`b`.
pub fn distance_to_segment(p: Pos2, [a, b]: [Pos2; 2]) -> f32 {
    let ab = b - a;
    let t = if ab.length_sq() > 0.0 {
        ((p - a).dot(ab) / ab.length_sq()).clamp(0.0, 1.0)
    } else {
        0.0
    };
    p.distance(a + ab * t)
}

/// A line moved (`Inside`) or one end dragged (`End`) from `from` to `to` (i, j), kept inside a
/// plane of `size`; its k stays.
fn dragged_line(
    [a, b]: [[f64; 3]; 2],
    handle: Handle,
    from: [f64; 2],
    to: [f64; 2],
    size: [usize; 2],
) -> Shape {
    let hi = [size[0] as f64 - 0.5, size[1] as f64 - 0.5];
    let (mut na, mut nb) = (a, b);
    match handle {
        Handle::End(first) => {
            let end = if first { &mut na } else { &mut nb };
            for c in 0..2 {
                end[c] = to[c].clamp(-0.5, hi[c]);
            }
        }
        Handle::Inside | Handle::Corner(..) => {
            for c in 0..2 {
                let d = (to[c] - from[c]).clamp(-0.5 - a[c].min(b[c]), hi[c] - a[c].max(b[c]));
                na[c] = a[c] + d;
                nb[c] = b[c] + d;
            }
        }
    }
    Shape::Line { a: na, b: nb }
}

fn box_corners(shape: &Shape) -> Option<([f64; 2], [f64; 2])> {
    match shape {
        Shape::Box2d { min, max, .. } => Some((*min, *max)),
        Shape::Box3d { min, max } => Some(([min[0], min[1]], [max[0], max[1]])),
        _ => None,
    }
}

/// `shape` moved or resized by a drag from `from` to `to` (i, j), kept inside a plane of `size`.
pub fn dragged(
    shape: &Shape,
    handle: Handle,
    from: [f64; 2],
    to: [f64; 2],
    size: [usize; 2],
) -> Shape {
    if let Shape::Line { a, b } = shape {
        return dragged_line([*a, *b], handle, from, to, size);
    }
    let (min, max) = match box_corners(shape) {
        Some(c) => c,
        None => return shape.clone(),
    };
    let lo = -0.5;
    let hi = [size[0] as f64 - 0.5, size[1] as f64 - 0.5];
    let (mut nmin, mut nmax) = (min, max);
    match handle {
        Handle::Inside | Handle::End(_) => {
            for a in 0..2 {
                // Keep the whole box inside the plane.
                let d = (to[a] - from[a]).clamp(lo - min[a], hi[a] - max[a]);
                nmin[a] = min[a] + d;
                nmax[a] = max[a] + d;
            }
        }
        Handle::Corner(lo_i, lo_j) => {
            let t = [to[0].clamp(lo, hi[0]), to[1].clamp(lo, hi[1])];
            if lo_i {
                nmin[0] = t[0];
            } else {
                nmax[0] = t[0];
            }
            if lo_j {
                nmin[1] = t[1];
            } else {
                nmax[1] = t[1];
            }
            for a in 0..2 {
                if nmin[a] > nmax[a] {
                    std::mem::swap(&mut nmin[a], &mut nmax[a]);
                }
            }
        }
    }
    match shape {
        Shape::Box2d { slice, .. } => Shape::Box2d {
            slice: *slice,
            min: nmin,
            max: nmax,
        },
        Shape::Box3d { min, max } => Shape::Box3d {
            min: [nmin[0], nmin[1], min[2]],
            max: [nmax[0], nmax[1], max[2]],
        },
        other => other.clone(),
    }
}

/// A box dragged from `a` to `b` (i, j), clipped to the plane; `None` when smaller than a voxel.
pub fn box_between(a: [f64; 2], b: [f64; 2], k: usize, size: [usize; 2]) -> Option<Shape> {
    let clip = |v: f64, n: usize| v.clamp(-0.5, n as f64 - 0.5);
    let min = [clip(a[0].min(b[0]), size[0]), clip(a[1].min(b[1]), size[1])];
    let max = [clip(a[0].max(b[0]), size[0]), clip(a[1].max(b[1]), size[1])];
    (max[0] - min[0] >= 1.0 && max[1] - min[1] >= 1.0).then(|| Shape::Box2d {
        slice: u32::try_from(k).unwrap_or(u32::MAX),
        min,
        max,
    })
}

/// Tools that draw in the planes across i and j too (the others work in the acquisition plane).
pub fn draws_across(tool: Tool) -> bool {
    matches!(
        tool,
        Tool::Box | Tool::Brush | Tool::Eraser | Tool::Point | Tool::Ruler
    )
}

/// Whether a gesture is under way (a finished ruler stays shown but is not).
pub fn busy(gesture: &Gesture) -> bool {
    !matches!(gesture, Gesture::Idle | Gesture::Ruler { .. })
}

/// A box dragged from `a` to `b` in the plane holding voxel axis `fixed` at `index` (plane
/// coordinates, `size` the plane's): a 2D box in the acquisition plane; in a plane across i or j a
/// box one voxel thick across it, 2D when it covers one slice, else 3D over the slices it covers.
pub fn box_in_plane(
    a: [f64; 2],
    b: [f64; 2],
    index: usize,
    fixed: usize,
    size: [usize; 2],
) -> Option<Shape> {
    let flat = box_between(a, b, index, size)?;
    if fixed == 2 {
        return Some(flat);
    }
    let Shape::Box2d { min, max, .. } = flat else {
        return None;
    };
    // The plane spans (i or j, k): `min`/`max` are ([i or j], k) edges.
    let along = 1 - fixed.min(1);
    let (mut lo, mut hi) = ([0.0; 2], [0.0; 2]);
    (lo[along], hi[along]) = (min[0], max[0]);
    (lo[fixed], hi[fixed]) = (index as f64 - 0.5, index as f64 + 0.5);
    // The slices whose centres the box takes in, with a quarter slice of slack for edges drawn
    // through a centre.
    let first = (min[1] - 0.25).ceil().max(0.0) as usize;
    let last = ((max[1] + 0.25).floor().max(0.0) as usize).max(first);
    let ij = Shape::Box2d {
        slice: 0,
        min: lo,
        max: hi,
    };
    ij.box_over_slices(first, last, size[1])
}

/// A threshold fill computing on its own thread: the filled box and voxels, or `None` when the seed
/// is out of range.
pub(in crate::ui) struct FillJob {
    pub(in crate::ui) rx: std::sync::mpsc::Receiver<Option<(crate::core::VoxelBox, Vec<bool>)>>,
    /// The image (its display uid) it fills.
    pub(in crate::ui) image: u64,
    pub(in crate::ui) started: std::time::Instant,
}

/// The most voxels one threshold fill takes (a 512×512×300 CT has 78.6 M).
pub(in crate::ui) const FILL_LIMIT: usize = 100_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use egui::Rect;

    fn view() -> SliceView {
        SliceView {
            rect: Rect::from_min_size(Pos2::ZERO, egui::vec2(100.0, 100.0)),
            size: [10, 10],
            flips: [false, false],
            axes: [0, 1],
        }
    }

    #[test]
    fn a_box_across_i_is_one_voxel_thick_and_spans_the_slices_it_reaches() {
        // Sagittal plane i = 7 of a 64 × 12 (j × k) plane: one slice reached gives a 2D box.
        let flat = box_in_plane([10.0, 1.5], [20.0, 2.6], 7, 0, [64, 12]).unwrap();
        assert_eq!(
            flat,
            Shape::Box2d {
                slice: 2,
                min: [6.5, 10.0],
                max: [7.5, 20.0]
            }
        );
        // Coronal plane j = 3: i from 4 to 9, slices 1 to 5.
        let deep = box_in_plane([9.0, 5.1], [4.0, 0.9], 3, 1, [16, 12]).unwrap();
        assert_eq!(
            deep,
            Shape::Box3d {
                min: [4.0, 2.5, 1.0],
                max: [9.0, 3.5, 5.0]
            }
        );
    }

    #[test]
    fn boxes_are_clipped_to_the_plane_and_tiny_ones_dropped() {
        let b = box_between([8.0, 2.0], [12.0, -3.0], 4, [10, 10]).unwrap();
        assert_eq!(
            b,
            Shape::Box2d {
                slice: 4,
                min: [8.0, -0.5],
                max: [9.5, 2.0]
            }
        );
        assert!(box_between([1.0, 1.0], [1.5, 4.0], 0, [10, 10]).is_none());
    }

    #[test]
    fn a_dragged_box_moves_inside_the_plane_and_corners_resize() {
        let b = Shape::Box2d {
            slice: 0,
            min: [2.0, 2.0],
            max: [4.0, 5.0],
        };
        let v = view();
        // The corner (2, 2) is at screen (25, 25).
        assert_eq!(
            handle_at(&b, 0, &v, Pos2::new(26.0, 24.0)),
            Some(Handle::Corner(true, true))
        );
        assert_eq!(
            handle_at(&b, 0, &v, Pos2::new(35.0, 40.0)),
            Some(Handle::Inside)
        );
        assert_eq!(handle_at(&b, 0, &v, Pos2::new(90.0, 90.0)), None);
        assert_eq!(handle_at(&b, 1, &v, Pos2::new(35.0, 40.0)), None);
        let moved = dragged(&b, Handle::Inside, [3.0, 3.0], [30.0, 4.0], [10, 10]);
        assert_eq!(
            moved,
            Shape::Box2d {
                slice: 0,
                min: [7.5, 3.0],
                max: [9.5, 6.0]
            }
        );
        // Dragging a corner past the opposite one flips it instead of inverting the box.
        let resized = dragged(
            &b,
            Handle::Corner(true, true),
            [2.0, 2.0],
            [6.0, 1.0],
            [10, 10],
        );
        assert_eq!(
            resized,
            Shape::Box2d {
                slice: 0,
                min: [4.0, 1.0],
                max: [6.0, 5.0]
            }
        );
    }

    #[test]
    fn a_line_moves_inside_the_plane_and_its_ends_drag() {
        let line = Shape::Line {
            a: [1.0, 1.0, 3.0],
            b: [4.0, 5.0, 3.0],
        };
        // Moved 10 to the right in a 10-wide plane: it stops at the border.
        assert_eq!(
            dragged(&line, Handle::Inside, [2.0, 2.0], [12.0, 2.0], [10, 10]),
            Shape::Line {
                a: [6.5, 1.0, 3.0],
                b: [9.5, 5.0, 3.0]
            }
        );
        assert_eq!(
            dragged(&line, Handle::End(false), [4.0, 5.0], [7.0, 9.0], [10, 10]),
            Shape::Line {
                a: [1.0, 1.0, 3.0],
                b: [7.0, 9.0, 3.0]
            }
        );
    }
}
