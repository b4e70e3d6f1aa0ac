//! Viewport layouts: one view, 1×3 MPR and 2×2 with 3D (ARCHITECTURE.md §7), as 3D Slicer arranges
//! them ("conventional" and "four-up"): the acquisition plane, then the planes across its two in-plane
//! axes, then the 3D view. Each plane view is named by the patient axis its normal runs closest to.

use crate::core::Mat3;
use egui::{Rect, Vec2, pos2};

/// How the centre is divided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// The acquisition plane alone.
    #[default]
    One,
    /// Three views in a row: the acquisition plane and the two planes across it.
    Mpr,
    /// 2×2: acquisition plane and 3D on top, the two planes across below.
    Quad,
}

impl Layout {
    /// Every layout, in menu order.
    pub const ALL: [Layout; 3] = [Layout::One, Layout::Mpr, Layout::Quad];

    /// The name shown in the View menu and the toolbar.
    pub fn name(self) -> &'static str {
        match self {
            Layout::One => "1 view",
            Layout::Mpr => "1×3 MPR",
            Layout::Quad => "2×2 with 3D",
        }
    }

    /// The toolbar's label.
    pub fn short_name(self) -> &'static str {
        match self {
            Layout::One => "1",
            Layout::Mpr => "1×3",
            Layout::Quad => "2×2",
        }
    }

    /// The key that switches to it.
    pub fn key(self) -> egui::Key {
        match self {
            Layout::One => egui::Key::Num1,
            Layout::Mpr => egui::Key::Num3,
            Layout::Quad => egui::Key::Num4,
        }
    }

    /// The panes and where they go in `area` (with a gap of `gap` points between them).
    pub fn panes(self, area: Rect, gap: f32) -> Vec<(Pane, Rect)> {
        let split = |r: Rect, fx: f32, fy: f32, fw: f32, fh: f32| {
            let min = pos2(r.min.x + fx * r.width(), r.min.y + fy * r.height());
            Rect::from_min_size(min, Vec2::new(fw * r.width(), fh * r.height())).shrink(gap / 2.0)
        };
        match self {
            Layout::One => vec![(Pane::Primary, area)],
            Layout::Mpr => vec![
                (Pane::Primary, split(area, 0.0, 0.0, 1.0 / 3.0, 1.0)),
                (Pane::Across(0), split(area, 1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0)),
                (Pane::Across(1), split(area, 2.0 / 3.0, 0.0, 1.0 / 3.0, 1.0)),
            ],
            Layout::Quad => vec![
                (Pane::Primary, split(area, 0.0, 0.0, 0.5, 0.5)),
                (Pane::ThreeD, split(area, 0.5, 0.0, 0.5, 0.5)),
                (Pane::Across(0), split(area, 0.0, 0.5, 0.5, 0.5)),
                (Pane::Across(1), split(area, 0.5, 0.5, 0.5, 0.5)),
            ],
        }
    }
}

/// One view of a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    /// The acquisition plane (voxel plane k), where the annotation tools draw.
    Primary,
    /// The plane across voxel axis `i` (0) or `j` (1): for an axial series sagittal and coronal.
    Across(usize),
    /// The volume rendering.
    ThreeD,
}

/// The patient-plane name of the voxel plane across voxel axis `fixed`, from the patient axis that
/// axis runs closest to: along L sagittal, along P coronal, along S axial.
pub fn plane_name(direction: &Mat3, fixed: usize) -> &'static str {
    let column = [0, 1, 2].map(|r| direction[r][fixed.min(2)].abs());
    if column[0] >= column[1] && column[0] >= column[2] {
        "Sagittal"
    } else if column[1] >= column[2] {
        "Coronal"
    } else {
        "Axial"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::IDENTITY3;

    #[test]
    fn planes_are_named_by_their_normal() {
        assert_eq!(plane_name(&IDENTITY3, 2), "Axial");
        assert_eq!(plane_name(&IDENTITY3, 1), "Coronal");
        assert_eq!(plane_name(&IDENTITY3, 0), "Sagittal");
        // A sagittal acquisition: i along P, j along −S (down), k along L.
        let sag = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]];
        assert_eq!(plane_name(&sag, 2), "Sagittal");
        assert_eq!(plane_name(&sag, 1), "Axial");
        assert_eq!(plane_name(&sag, 0), "Coronal");
    }

    #[test]
    fn panes_tile_the_area() {
        let area = Rect::from_min_size(pos2(10.0, 20.0), Vec2::new(900.0, 600.0));
        for layout in Layout::ALL {
            let panes = layout.panes(area, 0.0);
            let total: f32 = panes.iter().map(|(_, r)| r.area()).sum();
            assert!((total - area.area()).abs() < 1.0, "{layout:?}");
            assert!(panes.iter().all(|(_, r)| area.contains_rect(*r)));
            assert_eq!(panes[0].0, Pane::Primary);
        }
        assert_eq!(Layout::Quad.panes(area, 4.0).len(), 4);
    }
}
