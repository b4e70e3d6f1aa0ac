//! The viewer app: state, the commands the UI pushes during a frame, and the panels that draw it.
//!
//! Panels and tools read the state and push [`Command`]s; [`AppState::apply`] runs them at the end
//! of the frame and is the only place the document changes (ARCHITECTURE.md §7). Each applied edit
//! is one undo step and is handed to the project's writer thread at once.

use super::grounding::{HeatmapStyle, RegionFilter};
use super::loader::{ImageEntry, LoadJob};
use super::mpr::Layout;
use super::prefs::{Preferences, ThemeChoice};
use super::session::{self, DocumentSession};
use super::slice::{SliceValues, SliceView};
use super::theme;
use super::tools::{Gesture, Settings, Tool};
use super::view3d::View3d;
use crate::core::annotation::{LabelId, PhraseId, RegionId};
use crate::ui::command::Command;
use crate::ui::textures::{
    Cached, OverlayTexture, PlaneKey, PlaneOverlayKey, PreviewTexture, SliceTexture,
};
use crate::ui::tools::FillJob;
use crate::ui::view_state::ViewState;
use egui::{Rect, Ui, Vec2};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The viewer's state.
pub struct AppState {
    pub(in crate::ui) images: Vec<ImageEntry>,
    pub(in crate::ui) displays: Vec<ViewState>,
    pub(in crate::ui) non_images: Vec<crate::io::NonImageObject>,
    pub(in crate::ui) errors: Vec<String>,
    pub(in crate::ui) jobs: Vec<LoadJob>,
    pub(in crate::ui) next_job: u64,
    /// The open project.
    pub(in crate::ui) project: Option<DocumentSession>,
    /// Regions to highlight this frame (those of the hovered phrase, chip or list row).
    pub(in crate::ui) highlight: BTreeSet<RegionId>,
    /// The phrase under the pointer this frame.
    /// The right panel's own state (report draft and selection, free phrase, metrics).
    pub(in crate::ui) annotations: crate::ui::grounding::AnnotationsPanel,
    pub(in crate::ui) hovered_phrase: Option<PhraseId>,
    pub(in crate::ui) selected: Option<usize>,
    /// The active tool, its settings and the gesture in progress.
    pub(in crate::ui) tool: Tool,
    pub(in crate::ui) settings: Settings,
    pub(in crate::ui) gesture: Gesture,
    /// The plane the gesture under way is drawn in (the voxel axis it holds; 2 = acquisition plane).
    pub(in crate::ui) gesture_plane: usize,
    /// Regions the open stroke paints into (erases from).
    pub(in crate::ui) stroke: Vec<RegionId>,
    /// The selected region (properties panel, move, delete).
    pub(in crate::ui) selected_region: Option<RegionId>,
    /// The label new regions get.
    pub(in crate::ui) active_label: Option<LabelId>,
    /// The phrase new regions are linked to.
    pub(in crate::ui) active_phrase: Option<PhraseId>,
    /// The characters selected in the report, `[start, end)`.
    /// Free phrase being typed.
    /// The latest action's outcome, shown in the status bar.
    pub(in crate::ui) message: Option<String>,
    /// Who draws: recorded as the author of new regions and in the audit table.
    pub(in crate::ui) user: crate::core::Author,
    /// How long a commit waits for a file another process keeps locked before it goes to the
    /// recovery journal (`VOXMARK_BUSY_PATIENCE_MS`; the store's minute when unset).
    pub(in crate::ui) busy_patience: Option<std::time::Duration>,
    /// Recently opened projects, newest first; `None` when not kept (tests).
    pub(in crate::ui) recent: Option<Vec<PathBuf>>,
    /// The folder settings and recent projects are kept in; `None`: not kept (tests).
    pub(in crate::ui) config: Option<PathBuf>,
    /// Theme, window presets, model folder (`settings.toml` in `config`).
    pub(in crate::ui) prefs: Preferences,
    /// The settings window, while open.
    pub(in crate::ui) settings_draft: Option<crate::ui::welcome::Draft>,
    pub(in crate::ui) show_help: bool,
    /// A damaged project refused on open, and the offer to salvage it.
    pub(in crate::ui) damaged: crate::ui::damaged::Damaged,
    /// Graphics backend and adapter, shown in the help window for bug reports.
    pub(in crate::ui) graphics: String,
    pub(in crate::ui) wheel_steps: f32,
    /// Where the slice was drawn last frame, for the status bar's cursor read-out.
    pub(in crate::ui) view: Option<SliceView>,
    pub(in crate::ui) slice_cache: Option<((usize, usize), SliceValues)>,
    pub(in crate::ui) texture: Option<SliceTexture>,
    pub(in crate::ui) overlay: Option<OverlayTexture>,
    pub(in crate::ui) preview: Option<PreviewTexture>,
    pub(in crate::ui) commands: Vec<Command>,
    /// How the centre is divided.
    pub(in crate::ui) layout: Layout,
    /// Textures of the planes across i and j (MPR layouts).
    pub(in crate::ui) plane_textures: [Cached<PlaneKey>; 2],
    pub(in crate::ui) plane_overlays: [Cached<PlaneOverlayKey>; 2],
    pub(in crate::ui) view3d: View3d,
    /// The voxel (index and continuous coordinates) under the pointer in any plane view, last frame.
    pub(in crate::ui) hover_voxel: Option<([usize; 3], [f64; 3])>,
    pub(in crate::ui) next_uid: u64,
    pub(in crate::ui) dark: bool,
    /// Whether the histogram of the visible image shows in the right panel.
    pub(in crate::ui) show_histogram: bool,
    /// A threshold fill running on its own thread.
    pub(in crate::ui) fill: Option<FillJob>,
    /// Shows only the project images whose name, kind, modality or status contain it.
    pub(in crate::ui) image_filter: String,
    /// The demo's load job and where its project is made once the images are read.
    pub(in crate::ui) pending_demo: Option<(u64, PathBuf)>,
    /// Where the demo goes instead of the user's data folder (tests).
    pub(in crate::ui) demo_folder: Option<PathBuf>,
    /// Where the planes across i and j and the 3D view were drawn last frame.
    pub(in crate::ui) plane_views: [Option<SliceView>; 2],
    pub(in crate::ui) rect_3d: Option<Rect>,
    /// The middle slice of a series still being decoded, shown while nothing else is.
    pub(in crate::ui) series_preview: Option<SeriesPreview>,
    /// The model thread, the chosen model and the job under way.
    pub(in crate::ui) models: crate::ui::models::ModelJobs,
    /// The phrase the model job under way links its proposals to.
    #[cfg_attr(not(feature = "inference"), allow(dead_code))]
    pub(in crate::ui) model_phrase: Option<PhraseId>,
    /// Whose regions the views draw.
    pub(in crate::ui) region_filter: RegionFilter,
    /// How heatmaps are drawn, and whose phrase's heatmap is shown.
    pub(in crate::ui) heatmap_style: HeatmapStyle,
    /// The selected region's statistics, and whether the values a report gave for it still describe
    /// it, for (region, document revision): computed once per change.
    pub(in crate::ui) region_stats: Option<(
        crate::core::RegionId,
        u64,
        Option<crate::core::RegionStats>,
        bool,
    )>,
    pub(in crate::ui) heat_phrase: Option<PhraseId>,
    pub(in crate::ui) heat_texture: Cached<(crate::core::HeatmapId, u32, crate::render::Colormap)>,
    /// The metrics section's authors and last scores.
    /// The report being edited: its image and text.
    /// What the acquisition-plane view drew last frame: the heatmap and the regions.
    pub(in crate::ui) drawn: (Option<crate::core::HeatmapId>, Vec<RegionId>),
}

/// A series' middle slice on screen before the whole series is decoded.
pub(in crate::ui) struct SeriesPreview {
    pub(in crate::ui) job: u64,
    pub(in crate::ui) texture: egui::TextureHandle,
    /// Width and height in mm.
    pub(in crate::ui) physical: Vec2,
    /// Texture coordinates with the image's mirroring (as the slice view draws it).
    pub(in crate::ui) uv: Rect,
    pub(in crate::ui) index: usize,
    pub(in crate::ui) count: usize,
}

impl AppState {
    /// Creates the app and starts loading `paths` (if any) in the background.
    pub fn new(cc: &eframe::CreationContext<'_>, paths: Vec<PathBuf>) -> Self {
        let graphics = cc.wgpu_render_state.as_ref().map_or_else(
            || "unknown".to_owned(),
            |r| {
                let info = r.adapter.get_info();
                format!("{:?} · {}", info.backend, info.name)
            },
        );
        let mut app = Self::with_context(&cc.egui_ctx, graphics, paths);
        // SIGTERM, SIGINT and SIGHUP close the window like Quit, so the project is saved whole.
        crate::ui::shutdown::install(cc.egui_ctx.clone());
        match crate::ui::paths::config_dir() {
            Some(dir) => app.use_config_dir(&cc.egui_ctx, dir),
            None => app.recent = Some(Vec::new()),
        }
        // The 3D view renders on eframe's device: one GPU context, textures uploaded once.
        app.view3d = View3d::new(
            cc.wgpu_render_state
                .as_ref()
                .map(|r| (r.device.clone(), r.queue.clone())),
        );
        app
    }

    /// Creates the app on `ctx` (the test harness's, or eframe's) and starts loading `paths`.
    pub fn with_context(ctx: &egui::Context, graphics: String, paths: Vec<PathBuf>) -> Self {
        theme::apply(ctx, true);
        let mut app = Self {
            images: Vec::new(),
            displays: Vec::new(),
            non_images: Vec::new(),
            errors: Vec::new(),
            jobs: Vec::new(),
            next_job: 0,
            project: None,
            highlight: BTreeSet::new(),
            annotations: Default::default(),
            hovered_phrase: None,
            selected: None,
            tool: Tool::Navigate,
            settings: Settings::default(),
            gesture: Gesture::Idle,
            gesture_plane: 2,
            stroke: Vec::new(),
            selected_region: None,
            active_label: None,
            active_phrase: None,
            message: None,
            user: crate::core::Author::Human(session::user_name()),
            busy_patience: std::env::var("VOXMARK_BUSY_PATIENCE_MS")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_millis),
            recent: None,
            config: None,
            prefs: Preferences::default(),
            settings_draft: None,
            show_help: false,
            damaged: Default::default(),
            graphics,
            wheel_steps: 0.0,
            view: None,
            slice_cache: None,
            texture: None,
            overlay: None,
            preview: None,
            commands: Vec::new(),
            layout: Layout::One,
            plane_textures: [None, None],
            plane_overlays: [None, None],
            view3d: View3d::new(None),
            hover_voxel: None,
            next_uid: 0,
            dark: true,
            show_histogram: true,
            plane_views: [None, None],
            rect_3d: None,
            series_preview: None,
            models: crate::ui::models::ModelJobs::default(),
            model_phrase: None,
            region_filter: RegionFilter::default(),
            heatmap_style: HeatmapStyle::default(),
            region_stats: None,
            heat_phrase: None,
            heat_texture: None,
            drawn: (None, Vec::new()),
            fill: None,
            image_filter: String::new(),
            pending_demo: None,
            demo_folder: None,
        };
        if !paths.is_empty() {
            app.start_load(ctx, paths);
        }
        app
    }

    /// Keeps settings and recent projects in `dir` (the platform's config folder; tests use their
    /// own), reading what is there now.
    pub fn use_config_dir(&mut self, ctx: &egui::Context, dir: PathBuf) {
        self.recent = Some(crate::ui::recent::load(&dir));
        let prefs = match crate::ui::prefs::load_from(&crate::ui::prefs::file(&dir)) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(e);
                Preferences::default()
            }
        };
        self.config = Some(dir);
        self.set_preferences(ctx, prefs);
    }
}

impl eframe::App for AppState {
    fn on_exit(&mut self) {
        // Everything applied is in the file before the process ends.
        self.end_gesture();
        self.flush();
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }
}

impl AppState {
    /// One frame of the whole window: panels, viewport, then the frame's commands.
    pub fn frame_ui(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.poll_jobs(&ctx);
        self.poll_session(&ctx);
        self.handle_input(&ctx);
        if let Some(p) = &self.project
            && let Some(command) = crate::ui::recovery::offer(&ctx, p)
        {
            self.commands.push(command);
        }
        if let Some((salvaged, said)) = self.damaged.ui(&ctx) {
            self.message = Some(said);
            self.commands.push(Command::Load(vec![salvaged]));
        }
        if self.prefs.theme == ThemeChoice::System {
            let dark = self.prefs.theme.is_dark(ctx.system_theme());
            if dark != self.dark {
                self.dark = dark;
                theme::apply(&ctx, dark);
            }
        }
        // Rebuilt by the right panel each frame; the hovered phrase is last frame's until then.
        self.highlight.clear();

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::left("images")
            .resizable(true)
            .default_size(260.0)
            .size_range(180.0..=480.0)
            .show(ui, |ui| {
                ui.heading("Images");
                egui::ScrollArea::vertical()
                    .auto_shrink([false, true])
                    .show(ui, |ui| {
                        ui.with_layout(egui::Layout::top_down_justified(egui::Align::LEFT), |ui| {
                            self.image_list(ui);
                        });
                    });
            });
        egui::Panel::bottom("status").show(ui, |ui| {
            let cancel = self.status_bar(ui);
            if cancel {
                self.commands.push(Command::CancelModel);
            }
        });
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::right("annotations")
            .resizable(true)
            .default_size(300.0)
            .size_range(200.0..=520.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, true])
                    .show(ui, |ui| {
                        self.window_section(ui);
                        self.annotations_panel(ui);
                    });
            });
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(theme::VIEWPORT))
            .show(ui, |ui| self.viewport(ui));
        self.help(&ctx);
        if let Some(draft) = &mut self.settings_draft {
            let file = self.config.as_deref().map(crate::ui::prefs::file);
            match crate::ui::welcome::settings_window(&ctx, draft, file.as_deref()) {
                crate::ui::welcome::SettingsOutcome::Open => {}
                crate::ui::welcome::SettingsOutcome::Cancelled => self.settings_draft = None,
                crate::ui::welcome::SettingsOutcome::Save(prefs) => {
                    self.settings_draft = None;
                    self.commands.push(Command::SetPreferences(prefs));
                }
            }
        }

        let commands = std::mem::take(&mut self.commands);
        if !commands.is_empty() {
            for command in commands {
                self.apply(&ctx, command);
            }
            ctx.request_repaint();
        }
    }
}
