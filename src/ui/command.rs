//! The viewer's command vocabulary: every change the UI asks for (a panel's button, a key, a drag,
//! a finished background job) is one [`Command`], queued during the frame and applied in one place
//! at its end (`AppState::apply`, ARCHITECTURE.md §7). Document edits among them reach the project
//! only through the `DocumentSession`.

use super::grounding::{HeatmapStyle, RegionFilter};
use super::mpr::Layout;
use super::prefs::{Preferences, ThemeChoice};
use super::slice::Window;
use super::tools::Tool;
use super::view3d::Mode3d;
use crate::core::annotation::{Grounding, Label, LabelId, PhraseId, RegionId, Shape, Status};
use egui::{Pos2, Vec2};
use std::path::PathBuf;

/// A change the UI asks for; applied in one place at the end of the frame (ARCHITECTURE.md §7).
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Load files, folders or projects.
    Load(Vec<PathBuf>),
    /// Create a project at this path holding the loose images, and open it.
    NewProject(PathBuf),
    /// Add the images in these files and folders to the open project.
    AddImages(Vec<PathBuf>),
    /// Close the open project (loose images stay).
    CloseProject,
    /// Write a consistent copy of the open project to a new file (SQLite's online backup).
    SaveCopy(PathBuf),
    /// Re-apply the transactions a failed commit kept in the project's recovery journal.
    ApplyJournal {
        /// Drop entries that conflict with what other writers saved since.
        discard_conflicts: bool,
    },
    /// Close the offer to re-apply the recovery journal (the journal stays).
    DismissJournal,
    /// Show image `i`.
    Select(usize),
    /// Move `n` slices.
    StepSlice(i64),
    /// Go to slice `k` (clamped).
    SetSlice(usize),
    /// Change the window by a drag.
    AdjustWindow {
        /// Change of width.
        dwidth: f64,
        /// Change of centre.
        dcenter: f64,
    },
    /// Next window preset.
    NextPreset,
    /// The image's first window again.
    ResetWindow,
    /// This window (a preset picked from the list).
    SetWindow(Window),
    /// Show or hide the shortcuts.
    ToggleHelp,
    /// Pick a tool.
    SetTool(Tool),
    /// Move the image on screen by a drag.
    Pan(Vec2),
    /// Zoom by `factor` keeping the point under `about` in place.
    Zoom {
        /// Scale factor.
        factor: f32,
        /// Screen point that stays put.
        about: Pos2,
    },
    /// Fit the image to the viewport again.
    ResetView,
    /// Undo the latest step.
    Undo,
    /// Redo the latest undone step.
    Redo,
    /// Add a vector region with the active label.
    AddShape {
        /// Its geometry.
        shape: Shape,
        /// The undo step's name.
        name: &'static str,
    },
    /// Ask the chosen promptable model for a mask inside this box (a `box2d` on the shown slice).
    ModelBox(Shape),
    /// Run the chosen model on the shown image (segmentation; grounding: the active phrase, else
    /// every phrase of the image).
    RunModel,
    /// Choose the model (its manifest).
    ChooseModel(PathBuf),
    /// Stop the model job under way at its next step.
    CancelModel,
    /// Move or resize a region.
    SetShape {
        /// The region.
        region: RegionId,
        /// Its new geometry.
        shape: Shape,
    },
    /// Start a brush or eraser stroke (one undo step until `StrokeEnd`).
    StrokeBegin {
        /// Eraser.
        erase: bool,
    },
    /// Paint (or erase) the capsule between two positions (i, j, k).
    StrokeTo {
        /// Last position.
        from: [f64; 3],
        /// New position.
        to: [f64; 3],
        /// Eraser.
        erase: bool,
        /// The voxel axis held by the plane drawn in (2: the acquisition plane), across which a
        /// disc brush stays one voxel thick.
        across: usize,
    },
    /// End the stroke.
    StrokeEnd,
    /// A closed polygon: a vector region, or filled into the active label's mask.
    ClosePolygon {
        /// Vertices (i, j).
        points: Vec<[f64; 2]>,
        /// Slice.
        k: usize,
    },
    /// Fill the connected voxels within the threshold range from a seed.
    ThresholdFill {
        /// Seed voxel.
        seed: [usize; 3],
    },
    /// Select a region (or none).
    SelectRegion(Option<RegionId>),
    /// Delete a region.
    DeleteRegion(RegionId),
    /// Change a region's label.
    SetRegionLabel {
        /// The region.
        region: RegionId,
        /// The label.
        label: LabelId,
    },
    /// Accept or reject a region.
    SetStatus {
        /// The region.
        region: RegionId,
        /// The new status.
        status: Status,
    },
    /// Add a label with the next palette colour and make it active.
    AddLabel,
    /// Rename or recolour a label.
    UpdateLabel(Label),
    /// Draw with this label.
    SetActiveLabel(LabelId),
    /// A new phrase of the image's report: a `[start, end)` character span of it, or free text.
    AddPhrase {
        /// Span in characters of the report.
        span: Option<(usize, usize)>,
        /// Text (the span's text for spans).
        text: String,
    },
    /// The phrase new regions are linked to (or none).
    SelectPhrase(Option<PhraseId>),
    /// Mark a phrase as "no visible grounding", or back to pending.
    SetGrounding {
        /// The phrase.
        phrase: PhraseId,
        /// Its new state.
        grounding: Grounding,
    },
    /// Set or clear a phrase's category.
    SetCategory {
        /// The phrase.
        phrase: PhraseId,
        /// The category.
        category: Option<String>,
    },
    /// Link the region to the phrase, or unlink it when linked.
    ToggleLink {
        /// The phrase.
        phrase: PhraseId,
        /// The region.
        region: RegionId,
    },
    /// Delete a phrase (its links go with it; regions stay).
    DeletePhrase(PhraseId),
    /// Select the next proposal not reviewed yet and show its slice.
    NextProposal,
    /// Divide the centre into one view, 1×3 MPR or 2×2 with 3D.
    SetLayout(Layout),
    /// Move the crosshair (and the slices of every view) to voxel (i, j, k).
    SetCursor([usize; 3]),
    /// Move the plane across voxel axis `fixed` (0: i, 1: j) by `delta` voxels.
    StepPlane {
        /// The axis the plane is across.
        fixed: usize,
        /// Voxels to move.
        delta: i64,
    },
    /// Turn the 3D view by a drag.
    Orbit(Vec2),
    /// Magnify the 3D view by `factor`.
    Zoom3d(f32),
    /// MIP or a DVR preset in the 3D view.
    SetMode3d(Mode3d),
    /// The 3D view from the front, fitted, again.
    ResetOrbit,
    /// Dark, light or the system's theme (saved).
    SetTheme(ThemeChoice),
    /// Use and save these settings (the settings window).
    SetPreferences(Box<Preferences>),
    /// Open the settings window.
    ShowSettings,
    /// Open the built-in demo project (made on first use).
    OpenDemo,
    /// Replace the shown image's report (`None` removes it); phrase spans follow the text.
    SetReport(Option<String>),
    /// Draw everyone's regions, people's only or models' only.
    SetRegionFilter(RegionFilter),
    /// The phrase whose heatmap is drawn (or none).
    ShowHeatmap(Option<PhraseId>),
    /// Heatmap visibility, opacity and colour table.
    SetHeatmapStyle(HeatmapStyle),
    /// Hide the heatmap, or show it (the active phrase's, else the first phrase's with one, when
    /// none was chosen).
    ToggleHeatmap,
    /// A threshold fill finished on its thread: the filled box and voxels (`None`: nothing in
    /// range at the seed), for the image whose view has this uid.
    FillDone {
        /// The view uid of the image it filled.
        image: u64,
        /// The filled box and which of its voxels are inside.
        filled: Option<(crate::core::VoxelBox, Vec<bool>)>,
    },
    /// A model job finished: its edits are recorded as one undo step (or its error shown).
    #[cfg(feature = "inference")]
    ModelDone {
        /// The project image it ran on.
        image: crate::core::ImageId,
        /// What ran, for the undo step and the status line.
        what: String,
        /// Its edits, or why it failed.
        outcome: Result<crate::inference::job::Outcome, String>,
        /// How long it took.
        seconds: f64,
    },
    /// Multiply the brush radius (kept within 0.1…200 mm).
    ScaleBrush(f64),
    /// Esc: end the gesture in progress, else close the help, else clear the selection.
    Cancel,
}
