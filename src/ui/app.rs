//! The viewer app: state, the commands the UI pushes during a frame, and the panels that draw it.
//!
//! Panels and tools read the state and push [`Command`]s; [`AppState::apply`] runs them at the end
//! of the frame and is the only place the document changes (ARCHITECTURE.md §7). Each applied edit
//! is one undo step and is handed to the project's writer thread at once.

pub use super::command::Command;
use super::grounding::{self, HeatmapStyle, MetricsPanel, RegionFilter};
use super::loader::{self, Event as LoadEvent, ImageEntry, LoadJob};
use super::mpr::{self, Layout, Pane};
use super::overlay::{self, MaskLayer};
use super::prefs::{Preferences, ThemeChoice};
use super::session::{self, DocumentSession, RecordState, SaveState};
use super::slice::{self, SliceValues, SliceView, Window};
use super::theme;
use super::tools::{self, Gesture, Settings, Tool};
use super::view3d::{Mode3d, Orbit, View3d};
use crate::core::annotation::{
    Grounding, ImageId, Label, LabelId, PhraseId, Region, RegionId, Shape, Status,
};
use crate::core::paint;
use crate::core::{Document, Edit, MaskTiles};
use egui::{
    Color32, Event, Key, Modifiers, MouseWheelUnit, PointerButton, Pos2, Rect, RichText, Sense, Ui,
    Vec2,
};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// MS-CXR's eight finding categories, offered for completion.
pub const CATEGORIES: [&str; 8] = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Lung Opacity",
    "Pleural Effusion",
    "Pneumonia",
    "Pneumothorax",
];

/// Display settings of one image, kept apart from its voxels.
struct Display {
    k: usize,
    window: Window,
    /// Index into the image's window presets; `None` after a manual change or for the data range.
    preset: Option<usize>,
    /// Zoom relative to fitting the viewport.
    zoom: f32,
    /// Offset of the image centre from the viewport centre, in points.
    pan: Vec2,
    /// Crosshair column i and row j (its slice is `k`): where the planes across i and j cut.
    cross: [usize; 2],
    /// The 3D view's camera and mode.
    orbit: Orbit,
    mode3d: Mode3d,
    /// Distinguishes loaded images for the 3D view's texture cache (indices shift when images close).
    uid: u64,
}

/// A threshold fill computing on its own thread: the filled box and voxels, or `None` when the seed
/// is out of range.
struct FillJob {
    rx: std::sync::mpsc::Receiver<Option<(crate::core::VoxelBox, Vec<bool>)>>,
    /// The image (its display uid) it fills.
    image: u64,
    started: std::time::Instant,
}

/// A texture and the key it was made from.
type Cached<K> = Option<(K, egui::TextureHandle)>;

/// The texture in `slot` for `key`, remade by `make` (and re-uploaded) only when the key changed.
fn cached_texture<K: PartialEq>(
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
type PlaneKey = (u64, usize, usize, Window);
/// Image uid, axis, plane index, subsampling step, document revision, highlighted regions and the
/// author filter.
type PlaneOverlayKey = (u64, usize, usize, usize, u64, Vec<RegionId>, RegionFilter);

/// The texture of the selected slice and what it was made from.
struct SliceTexture {
    key: (usize, usize, Window),
    texture: egui::TextureHandle,
}

/// The mask overlay texture of the selected slice and what it was made from.
struct OverlayTexture {
    key: OverlayKey,
    texture: egui::TextureHandle,
}

/// Image, slice, subsampling step, document revision, highlighted regions and the author filter.
type OverlayKey = (usize, usize, usize, u64, Vec<RegionId>, RegionFilter);

/// The threshold preview of the selected slice and what it was made from.
struct PreviewTexture {
    key: (usize, usize, u64, u64),
    texture: egui::TextureHandle,
}

/// The viewer's state.
pub struct AppState {
    images: Vec<ImageEntry>,
    displays: Vec<Display>,
    non_images: Vec<crate::io::NonImageObject>,
    errors: Vec<String>,
    jobs: Vec<LoadJob>,
    next_job: u64,
    /// The open project.
    project: Option<DocumentSession>,
    /// Regions to highlight this frame (those of the hovered phrase, chip or list row).
    highlight: BTreeSet<RegionId>,
    /// The phrase under the pointer this frame.
    hovered_phrase: Option<PhraseId>,
    selected: Option<usize>,
    /// The active tool, its settings and the gesture in progress.
    tool: Tool,
    settings: Settings,
    gesture: Gesture,
    /// The plane the gesture under way is drawn in (the voxel axis it holds; 2 = acquisition plane).
    gesture_plane: usize,
    /// Regions the open stroke paints into (erases from).
    stroke: Vec<RegionId>,
    /// The selected region (properties panel, move, delete).
    selected_region: Option<RegionId>,
    /// The label new regions get.
    active_label: Option<LabelId>,
    /// The phrase new regions are linked to.
    active_phrase: Option<PhraseId>,
    /// The characters selected in the report, `[start, end)`.
    report_selection: Option<(usize, usize)>,
    /// Free phrase being typed.
    free_phrase: String,
    /// The latest action's outcome, shown in the status bar.
    message: Option<String>,
    /// Who draws: recorded as the author of new regions and in the audit table.
    user: crate::core::Author,
    /// How long a commit waits for a file another process keeps locked before it goes to the
    /// recovery journal (`VOXMARK_BUSY_PATIENCE_MS`; the store's minute when unset).
    busy_patience: Option<std::time::Duration>,
    /// Recently opened projects, newest first; `None` when not kept (tests).
    recent: Option<Vec<PathBuf>>,
    /// The folder settings and recent projects are kept in; `None`: not kept (tests).
    config: Option<PathBuf>,
    /// Theme, window presets, model folder (`settings.toml` in `config`).
    prefs: Preferences,
    /// The settings window, while open.
    settings_draft: Option<super::welcome::Draft>,
    show_help: bool,
    /// A damaged project refused on open, and the offer to salvage it.
    damaged: super::damaged::Damaged,
    /// Graphics backend and adapter, shown in the help window for bug reports.
    graphics: String,
    wheel_steps: f32,
    /// Where the slice was drawn last frame, for the status bar's cursor read-out.
    view: Option<SliceView>,
    slice_cache: Option<((usize, usize), SliceValues)>,
    texture: Option<SliceTexture>,
    overlay: Option<OverlayTexture>,
    preview: Option<PreviewTexture>,
    commands: Vec<Command>,
    /// How the centre is divided.
    layout: Layout,
    /// Textures of the planes across i and j (MPR layouts).
    plane_textures: [Cached<PlaneKey>; 2],
    plane_overlays: [Cached<PlaneOverlayKey>; 2],
    view3d: View3d,
    /// The voxel (index and continuous coordinates) under the pointer in any plane view, last frame.
    hover_voxel: Option<([usize; 3], [f64; 3])>,
    next_uid: u64,
    dark: bool,
    /// Whether the histogram of the visible image shows in the right panel.
    show_histogram: bool,
    /// A threshold fill running on its own thread.
    fill: Option<FillJob>,
    /// Shows only the project images whose name, kind, modality or status contain it.
    image_filter: String,
    /// The demo's load job and where its project is made once the images are read.
    pending_demo: Option<(u64, PathBuf)>,
    /// Where the demo goes instead of the user's data folder (tests).
    demo_folder: Option<PathBuf>,
    /// Where the planes across i and j and the 3D view were drawn last frame.
    plane_views: [Option<SliceView>; 2],
    rect_3d: Option<Rect>,
    /// The middle slice of a series still being decoded, shown while nothing else is.
    series_preview: Option<SeriesPreview>,
    /// The model thread, the chosen model and the job under way.
    models: super::models::ModelJobs,
    /// The phrase the model job under way links its proposals to.
    #[cfg_attr(not(feature = "inference"), allow(dead_code))]
    model_phrase: Option<PhraseId>,
    /// Whose regions the views draw.
    region_filter: RegionFilter,
    /// How heatmaps are drawn, and whose phrase's heatmap is shown.
    heatmap_style: HeatmapStyle,
    heat_phrase: Option<PhraseId>,
    heat_texture: Cached<(crate::core::HeatmapId, u32, crate::render::Colormap)>,
    /// The metrics section's authors and last scores.
    metrics: MetricsPanel,
    /// The report being edited: its image and text.
    report_draft: Option<(ImageId, String)>,
    /// What the acquisition-plane view drew last frame: the heatmap and the regions.
    drawn: (Option<crate::core::HeatmapId>, Vec<RegionId>),
}

/// A series' middle slice on screen before the whole series is decoded.
struct SeriesPreview {
    job: u64,
    texture: egui::TextureHandle,
    /// Width and height in mm.
    physical: Vec2,
    /// Texture coordinates with the image's mirroring (as the slice view draws it).
    uv: Rect,
    index: usize,
    count: usize,
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
        super::shutdown::install(cc.egui_ctx.clone());
        match super::paths::config_dir() {
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
            report_selection: None,
            free_phrase: String::new(),
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
            models: super::models::ModelJobs::default(),
            model_phrase: None,
            region_filter: RegionFilter::default(),
            heatmap_style: HeatmapStyle::default(),
            heat_phrase: None,
            heat_texture: None,
            metrics: MetricsPanel::default(),
            report_draft: None,
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
        self.recent = Some(super::recent::load(&dir));
        let prefs = match super::prefs::load_from(&super::prefs::file(&dir)) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(e);
                Preferences::default()
            }
        };
        self.config = Some(dir);
        self.set_preferences(ctx, prefs);
    }

    /// The names of the selected image's window presets, in the order L cycles through them.
    pub fn window_preset_names(&self) -> Vec<String> {
        self.current()
            .map(|(e, _)| e.presets.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Whose regions the views draw.
    pub fn region_filter(&self) -> RegionFilter {
        self.region_filter
    }

    /// The heatmap and the regions the acquisition-plane view drew last frame.
    pub fn drawn(&self) -> (Option<crate::core::HeatmapId>, &[RegionId]) {
        (self.drawn.0, &self.drawn.1)
    }

    /// Whether the dark theme is in use.
    pub fn is_dark(&self) -> bool {
        self.dark
    }

    /// The settings in use.
    pub fn preferences(&self) -> &Preferences {
        &self.prefs
    }

    /// Uses `prefs`: theme, window presets of the open images (the chosen preset kept when it is
    /// still offered), model folder. Saving is the caller's.
    fn set_preferences(&mut self, ctx: &egui::Context, prefs: Preferences) {
        self.prefs = prefs;
        self.dark = self.prefs.theme.is_dark(ctx.system_theme());
        theme::apply(ctx, self.dark);
        for (entry, display) in self.images.iter_mut().zip(&mut self.displays) {
            entry.refresh_presets(&self.prefs);
            display.preset = display
                .preset
                .and_then(|_| entry.presets.iter().position(|(_, w)| *w == display.window));
        }
    }

    /// Writes the settings to the config folder (when kept); a failure goes to the status bar.
    fn save_preferences(&mut self) {
        if let Some(dir) = &self.config {
            let file = super::prefs::file(dir);
            self.message = Some(match super::prefs::save_to(&self.prefs, &file) {
                Ok(()) => format!("settings saved in {}", file.display()),
                Err(e) => format!("settings not saved: {e}"),
            });
        }
    }

    /// Makes the demo project in `dir` instead of the user's data folder.
    pub fn set_demo_folder(&mut self, dir: PathBuf) {
        self.demo_folder = Some(dir);
    }

    /// The layout of the centre.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The crosshair (i, j, k) of the selected image.
    pub fn cursor(&self) -> Option<[usize; 3]> {
        let (_, d) = self.current()?;
        Some([d.cross[0], d.cross[1], d.k])
    }

    /// Where the plane across voxel axis `fixed` (0: i, 1: j) was drawn last frame (MPR layouts).
    pub fn plane_view(&self, fixed: usize) -> Option<SliceView> {
        *self.plane_views.get(fixed)?
    }

    /// Where the 3D view was drawn last frame, and the orbit's azimuth and elevation in degrees.
    pub fn view_3d_state(&self) -> Option<(Rect, f64, f64)> {
        let (_, d) = self.current()?;
        Some((self.rect_3d?, d.orbit.azimuth_deg, d.orbit.elevation_deg))
    }

    /// How long the 3D view's latest rendering took (none yet: `None`).
    pub fn last_3d_render(&self) -> Option<std::time::Duration> {
        self.view3d.last_render
    }

    /// True while images or a project are loading.
    pub fn is_loading(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// Whether the damaged-project window (with its salvage offer) shows.
    pub fn offers_salvage(&self) -> bool {
        self.damaged.is_open()
    }

    /// The open project's document, if a project is open.
    pub fn document(&self) -> Option<&Document> {
        self.project.as_ref().map(|p| p.doc())
    }

    /// Queues a command as if a panel had pushed it (menus whose dialogs tests cannot click).
    pub fn push_command(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Number of images shown (loose and of the project).
    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    /// Sets who draws (`human:<name>`); projects opened afterwards record it.
    pub fn set_user(&mut self, name: &str) {
        self.user = crate::core::Author::Human(name.to_owned());
    }

    /// How long commits wait for a file another process keeps locked (for projects opened next).
    pub fn set_busy_patience(&mut self, patience: std::time::Duration) {
        self.busy_patience = Some(patience);
    }

    /// The selected image's slice index, if an image is shown.
    pub fn slice(&self) -> Option<usize> {
        self.current().map(|(_, d)| d.k)
    }

    /// The selected image's window (centre, width), if an image is shown.
    pub fn window(&self) -> Option<(f64, f64)> {
        self.current()
            .map(|(_, d)| (d.window.center, d.window.width))
    }

    /// Where the acquisition plane was drawn last frame.
    pub fn slice_view(&self) -> Option<SliceView> {
        self.view
    }

    /// True while a model job runs.
    pub fn model_busy(&self) -> bool {
        self.models.running.is_some()
    }

    /// The status bar's latest message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Where the slice plane was drawn last frame.
    pub fn plane_rect(&self) -> Option<Rect> {
        self.view.map(|v| v.rect)
    }

    /// The active tool.
    pub fn tool(&self) -> Tool {
        self.tool
    }

    /// Transactions handed to the writer and not yet in the file.
    pub fn unsaved(&self) -> usize {
        self.project.as_ref().map_or(0, DocumentSession::unsaved)
    }

    /// What the status bar says about saving, when a project is open.
    pub fn save_state(&self) -> Option<SaveState> {
        self.project.as_ref().map(DocumentSession::save_state)
    }

    /// True while the viewer offers to re-apply the project's recovery journal.
    pub fn offers_journal(&self) -> bool {
        self.project
            .as_ref()
            .is_some_and(DocumentSession::offers_journal)
    }

    /// Other writers' changes merged into the open project, and this viewer's saved transactions.
    pub fn sync_counts(&self) -> (usize, usize) {
        self.project
            .as_ref()
            .map_or((0, 0), |p| (p.merged(), p.saved()))
    }

    /// Messages of loads and saves that failed.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.errors.clone();
        if let Some(p) = &self.project {
            out.extend(p.save_errors().iter().cloned());
        }
        out
    }

    /// Waits until every change handed to the project's writer is in the file.
    pub fn flush(&mut self) {
        if let Some(p) = &mut self.project {
            p.flush();
        }
    }

    /// Starts one job per `.voxmark` project in `paths` and one for the other files and folders.
    fn start_load(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>) {
        let (projects, files): (Vec<PathBuf>, Vec<PathBuf>) =
            paths.into_iter().partition(|p| loader::is_project(p));
        for path in projects {
            self.next_job += 1;
            let what = path.display().to_string();
            match LoadJob::spawn_project(self.next_job, path, ctx.clone()) {
                Ok(job) => self.jobs.push(job),
                Err(e) => self
                    .errors
                    .push(format!("cannot start opening the project: {e}: {what}")),
            }
        }
        if files.is_empty() {
            return;
        }
        self.next_job += 1;
        let what = loader::describe_paths(&files);
        match LoadJob::spawn(self.next_job, files, ctx.clone()) {
            Ok(job) => self.jobs.push(job),
            Err(e) => self
                .errors
                .push(format!("cannot start loading: {e}: {what}")),
        }
    }

    /// Creates a project holding the loose images (read again from their files) and opens it.
    fn new_project(&mut self, ctx: &egui::Context, path: PathBuf) {
        self.end_gesture();
        let path = if loader::is_project(&path) {
            path
        } else {
            path.with_extension("voxmark")
        };
        if path.exists() {
            self.errors
                .push(format!("a file exists already: {}", path.display()));
            return;
        }
        let records: Vec<_> = self
            .images
            .iter()
            .filter(|e| e.project_image.is_none())
            .map(loader::record_of)
            .collect();
        // The loose images come back as the project's.
        let keep: Vec<bool> = self
            .images
            .iter()
            .map(|e| e.project_image.is_some())
            .collect();
        self.retain_images(&keep);
        self.next_job += 1;
        let what = path.display().to_string();
        match LoadJob::spawn_new_project(
            self.next_job,
            path,
            records,
            self.user.to_string(),
            ctx.clone(),
        ) {
            Ok(job) => self.jobs.push(job),
            Err(e) => self
                .errors
                .push(format!("cannot start creating the project: {e}: {what}")),
        }
    }

    /// Adds files and folders to the open project on a background thread.
    fn add_images(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>) {
        let Some(p) = &self.project else {
            self.message = Some("open or create a project first".into());
            return;
        };
        self.next_job += 1;
        match LoadJob::spawn_add_images(
            self.next_job,
            p.path.clone(),
            paths,
            self.user.to_string(),
            ctx.clone(),
        ) {
            Ok(job) => self.jobs.push(job),
            Err(e) => self.errors.push(format!("cannot start adding images: {e}")),
        }
    }

    /// Keeps the images (and displays) whose flag is set; caches by index are dropped.
    fn retain_images(&mut self, keep: &[bool]) {
        let mut n = 0;
        self.images.retain(|_| {
            n += 1;
            keep[n - 1]
        });
        let mut n = 0;
        self.displays.retain(|_| {
            n += 1;
            keep[n - 1]
        });
        self.selected = (!self.images.is_empty()).then_some(0);
        self.slice_cache = None;
        self.texture = None;
        self.overlay = None;
        self.preview = None;
    }

    /// Adds a decoded image with its display settings; returns its index.
    fn push_image(&mut self, mut entry: ImageEntry) -> usize {
        entry.refresh_presets(&self.prefs);
        let [nx, ny, nz] = entry.volume.size();
        self.next_uid += 1;
        self.displays.push(Display {
            k: nz / 2,
            window: entry.default_window,
            preset: entry
                .presets
                .iter()
                .position(|(_, w)| *w == entry.default_window),
            zoom: 1.0,
            pan: Vec2::ZERO,
            cross: [nx / 2, ny / 2],
            orbit: Orbit::default(),
            mode3d: Mode3d::default_for(entry.volume.meta.modality.as_deref()),
            uid: self.next_uid,
        });
        self.images.push(entry);
        self.images.len() - 1
    }

    /// Drops the images of the project open before, keeping loose files.
    fn close_project(&mut self) {
        if self.project.take().is_none() {
            return;
        }
        super::shutdown::set_open_project(None);
        let keep: Vec<bool> = self
            .images
            .iter()
            .map(|e| e.project_image.is_none())
            .collect();
        // Indices change: nothing cached by index stays valid.
        self.retain_images(&keep);
        self.selected_region = None;
        self.active_label = None;
        self.active_phrase = None;
        self.report_selection = None;
        self.gesture = Gesture::Idle;
        self.stroke.clear();
    }

    fn poll_jobs(&mut self, ctx: &egui::Context) {
        for reply in self.models.poll() {
            match reply {
                super::models::Reply::Loaded(Ok(_)) => {}
                super::models::Reply::Loaded(Err(e)) => self.message = Some(e),
                #[cfg(feature = "inference")]
                super::models::Reply::Done {
                    image,
                    what,
                    outcome,
                    seconds,
                } => self.finish_model(image, &what, outcome, seconds),
            }
        }
        // Encode the shown slice while the user aims the model box.
        #[cfg(feature = "inference")]
        if self.tool == Tool::ModelBox
            && let Some((entry, display)) = self.current()
            && let Some(image) = entry.project_image
        {
            let (volume, k) = (std::sync::Arc::clone(&entry.volume), display.k);
            self.models.load(ctx);
            self.models.prefetch(ctx, &volume, image, k);
        }
        if let Some(job) = &self.fill {
            match job.rx.try_recv() {
                Ok(filled) => {
                    let image = job.image;
                    self.fill = None;
                    let outcome = match filled {
                        _ if self.current().map(|(_, d)| d.uid) != Some(image) => {
                            Err("threshold fill dropped: another image is shown".to_owned())
                        }
                        Some((bounds, inside)) => self.fill_mask("threshold fill", bounds, &inside),
                        None => Err("threshold fill: nothing in range at the seed".to_owned()),
                    };
                    if let Err(e) = outcome {
                        self.message = Some(e);
                    }
                    ctx.request_repaint();
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    ctx.request_repaint_after(std::time::Duration::from_millis(50));
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.fill = None;
                    self.message = Some("threshold fill failed".into());
                }
            }
        }
        let mut still_running = Vec::new();
        for mut job in std::mem::take(&mut self.jobs) {
            let (events, done) = job.poll();
            for event in events {
                self.on_load_event(ctx, job.id, event);
            }
            if !done {
                still_running.push(job);
            }
        }
        self.jobs = still_running;
        let job_running = |id| self.jobs.iter().any(|j| j.id == id);
        if self
            .series_preview
            .as_ref()
            .is_some_and(|p| !job_running(p.job) || self.current().is_some())
        {
            self.series_preview = None;
        }
    }

    /// Takes in what the project's writer reported; images other writers added start loading.
    fn poll_session(&mut self, ctx: &egui::Context) {
        let Some(p) = &mut self.project else {
            return;
        };
        let polled = p.poll_writer();
        if let Some(note) = polled.note {
            self.message = Some(note);
        }
        if polled.new_records.is_empty() {
            return;
        }
        self.next_job += 1;
        p.add_job(self.next_job);
        match LoadJob::spawn_records(self.next_job, polled.new_records, ctx.clone()) {
            Ok(job) => self.jobs.push(job),
            Err(e) => self
                .errors
                .push(format!("cannot start loading new images: {e}")),
        }
    }

    fn on_load_event(&mut self, ctx: &egui::Context, job: u64, event: LoadEvent) {
        match event {
            LoadEvent::Failed(message) => self.errors.push(message),
            LoadEvent::Damaged { path, message } => {
                self.errors.push(message.clone());
                self.damaged.offer(path, message);
            }
            LoadEvent::Preview {
                entry,
                index,
                count,
            } => {
                if self.current().is_some() {
                    return;
                }
                let v = &entry.volume;
                let values = slice::extract(v, 0, ctx.input(|i| i.max_texture_side));
                let image = slice::to_image(&values, entry.default_window, v.meta.photometric);
                let [nx, ny, _] = v.size();
                let sp = v.spacing_mm();
                self.series_preview = Some(SeriesPreview {
                    job,
                    texture: ctx.load_texture(
                        "voxmark-series-preview",
                        image,
                        egui::TextureOptions::LINEAR,
                    ),
                    physical: Vec2::new((nx as f64 * sp[0]) as f32, (ny as f64 * sp[1]) as f32),
                    uv: SliceView::new(Rect::ZERO, v).uv(),
                    index,
                    count,
                });
            }
            LoadEvent::Files(loaded) => {
                for entry in loaded.images {
                    self.push_image(entry);
                }
                if let Some((demo_job, path)) = self.pending_demo.take() {
                    if demo_job == job {
                        self.commands.push(Command::NewProject(path));
                    } else {
                        self.pending_demo = Some((demo_job, path));
                    }
                }
                self.non_images.extend(loaded.non_images);
                self.errors.extend(loaded.errors);
                if self.selected.is_none() && !self.images.is_empty() {
                    self.selected = Some(0);
                }
            }
            LoadEvent::ProjectOpened(contents) => {
                self.close_project();
                let mut project = DocumentSession::new(
                    contents.path,
                    job,
                    contents.records,
                    contents.document,
                    self.user.clone(),
                );
                super::shutdown::set_open_project(Some(project.path.clone()));
                project.start_writer(contents.project, self.busy_patience, ctx);
                self.active_label = project.doc().first_label();
                if let (Some(list), Some(dir)) = (&mut self.recent, &self.config) {
                    *list = super::recent::with_first(list, &project.path);
                    if let Err(e) = super::recent::save(dir, list) {
                        self.message = Some(format!("recent projects not kept: {e}"));
                    }
                }
                ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!(
                    "{} — Voxmark",
                    project.name()
                )));
                self.project = Some(project);
            }
            LoadEvent::ImagesAdded {
                project,
                added,
                errors,
            } => {
                self.errors.extend(errors);
                if self.project.as_ref().is_none_or(|p| p.path != project) {
                    return;
                }
                let n = added.len();
                let mut first = None;
                let mut records = Vec::new();
                for (record, entry) in added {
                    // Another writer's report may have brought it, loaded already.
                    if self
                        .images
                        .iter()
                        .any(|e| e.project_image == Some(record.id))
                    {
                        continue;
                    }
                    let i = self.push_image(entry);
                    records.push((record, RecordState::Ready(i)));
                    first.get_or_insert(i);
                }
                if let Some(p) = self.project.as_mut() {
                    p.add_records(records);
                }
                if let Some(i) = first {
                    self.selected = Some(i);
                }
                self.message = Some(format!("added {n} images to the project"));
            }
            LoadEvent::ProjectImage { id, result } => {
                let Some(p) = self.project.as_ref().filter(|p| p.owns_job(job)) else {
                    return; // from a project closed since
                };
                if !p.is_loading(id) {
                    return; // not a record of it, or shown already
                }
                let state = match result {
                    Ok(entry) => {
                        let i = self.push_image(*entry);
                        if self.selected.is_none() {
                            self.selected = Some(i);
                        }
                        RecordState::Ready(i)
                    }
                    Err(why) => RecordState::Problem(why),
                };
                if let Some(p) = self.project.as_mut() {
                    p.image_loaded(id, state);
                }
            }
        }
    }

    /// Runs one command: the only place the document and the view settings change.
    fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Load(paths) => self.start_load(ctx, paths),
            Command::NewProject(path) => self.new_project(ctx, path),
            Command::AddImages(paths) => self.add_images(ctx, paths),
            Command::CloseProject => {
                self.end_gesture();
                self.close_project();
                ctx.send_viewport_cmd(egui::ViewportCommand::Title("Voxmark".into()));
            }
            Command::SaveCopy(target) => {
                self.end_gesture();
                let queued = match self.project.as_mut() {
                    Some(p) => p.save_copy(target.clone()),
                    None => Err("no project is open".into()),
                };
                self.message = Some(match queued {
                    Ok(()) => format!("saving a copy at {}…", target.display()),
                    Err(e) => e,
                });
            }
            Command::ApplyJournal { discard_conflicts } => {
                self.end_gesture();
                let queued = match self.project.as_mut() {
                    Some(p) => p.recover_journal(discard_conflicts),
                    None => Err("no project is open".into()),
                };
                self.message = Some(match queued {
                    Ok(()) => "applying the recovery journal…".into(),
                    Err(e) => e,
                });
            }
            Command::DismissJournal => {
                if let Some(p) = &mut self.project {
                    p.dismiss_journal_offer();
                }
            }
            Command::Select(i) => {
                if i < self.images.len() && self.selected != Some(i) {
                    self.end_gesture();
                    self.selected = Some(i);
                    self.selected_region = None;
                }
            }
            Command::ToggleHelp => self.show_help = !self.show_help,
            Command::ScaleBrush(f) => {
                let r = &mut self.settings.brush.radius_mm;
                *r = (*r * f).clamp(0.1, 200.0);
            }
            Command::Cancel => {
                if self.gesture != Gesture::Idle {
                    self.end_gesture();
                } else if self.show_help {
                    self.show_help = false;
                } else {
                    self.apply(ctx, Command::SelectRegion(None));
                }
            }
            Command::SetTool(tool) => {
                if tool.edits() && self.current_project_image().is_none() {
                    self.message = Some(format!(
                        "{}: open or create a project to annotate",
                        tool.name()
                    ));
                    return;
                }
                self.end_gesture();
                if tool == Tool::Threshold && self.tool != Tool::Threshold {
                    // Start from the window: what is visible is what the user wants to fill.
                    if let Some((_, d)) = self.current() {
                        let (c, w) = (d.window.center, d.window.width);
                        self.settings.threshold = (c - w / 2.0, c + w / 2.0);
                    }
                }
                self.tool = tool;
            }
            Command::SelectRegion(r) => self.selected_region = r,
            Command::StepSlice(_)
            | Command::SetSlice(_)
            | Command::AdjustWindow { .. }
            | Command::NextPreset
            | Command::ResetWindow
            | Command::SetWindow(_)
            | Command::Pan(_)
            | Command::Zoom { .. }
            | Command::ResetView
            | Command::SetCursor(_)
            | Command::StepPlane { .. }
            | Command::Orbit(_)
            | Command::Zoom3d(_)
            | Command::SetMode3d(_)
            | Command::ResetOrbit => self.apply_view(command),
            Command::SetLayout(layout) => self.layout = layout,
            Command::OpenDemo => {
                let prepared = self
                    .demo_folder
                    .clone()
                    .or_else(super::demo::folder)
                    .ok_or_else(|| "no home folder for the demo".to_owned())
                    .and_then(|f| super::demo::prepare(&f));
                match prepared {
                    Ok(super::demo::Demo::Project(path)) => self.start_load(ctx, vec![path]),
                    Ok(super::demo::Demo::Files { files, project }) => {
                        self.start_load(ctx, files);
                        self.pending_demo = Some((self.next_job, project));
                    }
                    Err(e) => self.errors.push(e),
                }
            }
            Command::SetTheme(choice) => {
                let mut prefs = self.prefs.clone();
                prefs.theme = choice;
                self.set_preferences(ctx, prefs);
                self.save_preferences();
            }
            Command::SetPreferences(prefs) => {
                self.set_preferences(ctx, *prefs);
                self.save_preferences();
            }
            Command::ShowSettings => {
                self.settings_draft = Some(super::welcome::Draft::new(&self.prefs));
            }
            Command::SetActiveLabel(l) => self.active_label = Some(l),
            Command::SelectPhrase(ph) => self.active_phrase = ph,
            Command::SetRegionFilter(f) => {
                self.region_filter = f;
                self.message = Some(format!("showing {} regions", f.name().to_lowercase()));
            }
            Command::ShowHeatmap(ph) => {
                self.heat_phrase = ph;
                if ph.is_some() {
                    self.heatmap_style.visible = true;
                }
            }
            Command::SetHeatmapStyle(style) => self.heatmap_style = style,
            Command::ToggleHeatmap => {
                if self.heatmap_style.visible && self.heat_phrase.is_some() {
                    self.heatmap_style.visible = false;
                } else {
                    self.heatmap_style.visible = true;
                    if self.heat_phrase.is_none()
                        && let Some((p, image)) = self.current_project_image()
                    {
                        let with_map = grounding::heatmap_counts(p.doc(), image);
                        let notes = p
                            .notes(image)
                            .map(|n| n.phrases.clone())
                            .unwrap_or_default();
                        self.heat_phrase = self
                            .active_phrase
                            .filter(|ph| with_map.contains_key(ph))
                            .or_else(|| notes.into_iter().find(|ph| with_map.contains_key(ph)));
                    }
                }
            }
            Command::NextProposal => self.next_proposal(),
            Command::ChooseModel(path) => {
                self.models.choose(path);
                #[cfg(feature = "inference")]
                self.models.load(ctx);
            }
            Command::CancelModel => {
                self.models.cancel();
                self.message = Some("cancelling the model job…".into());
            }
            Command::ModelBox(shape) => {
                if let Err(e) = self.start_model(ctx, Some(shape)) {
                    self.message = Some(e);
                }
            }
            Command::RunModel => {
                if let Err(e) = self.start_model(ctx, None) {
                    self.message = Some(e);
                }
            }
            edit => {
                if let Err(e) = self.apply_edit(edit) {
                    self.message = Some(e);
                }
            }
        }
    }

    /// Slice, window, zoom and pan of the selected image.
    fn apply_view(&mut self, command: Command) {
        let Some((entry, display)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get_mut(s)?)))
        else {
            return;
        };
        let last_k = entry.volume.size()[2].saturating_sub(1);
        let presets = &entry.presets;
        match command {
            Command::StepSlice(delta) => {
                let k = i64::try_from(display.k)
                    .unwrap_or(i64::MAX)
                    .saturating_add(delta);
                display.k = usize::try_from(k.max(0)).unwrap_or(usize::MAX).min(last_k);
            }
            Command::SetSlice(k) => display.k = k.min(last_k),
            Command::AdjustWindow { dwidth, dcenter } => {
                let w = display.window;
                display.window = Window::new(w.center + dcenter, w.width + dwidth);
                display.preset = None;
            }
            Command::ResetWindow => {
                display.window = entry.default_window;
                display.preset = presets.iter().position(|(_, w)| *w == entry.default_window);
            }
            Command::NextPreset => {
                let next = display.preset.map_or(0, |p| p + 1) % presets.len().max(1);
                if let Some((_, w)) = presets.get(next) {
                    display.window = *w;
                    display.preset = Some(next);
                }
            }
            Command::SetWindow(w) => {
                display.window = w;
                display.preset = presets.iter().position(|(_, p)| *p == w);
            }
            Command::Pan(d) => display.pan += d,
            Command::Zoom { factor, about } => {
                let zoom = (display.zoom * factor).clamp(0.1, 64.0);
                let f = zoom / display.zoom;
                // Keep the point under the cursor in place: the centre moves away from it by f.
                if let Some(view) = self.view {
                    let centre = view.rect.center();
                    let new_centre = about + (centre - about) * f;
                    display.pan += new_centre - centre;
                }
                display.zoom = zoom;
            }
            Command::ResetView => {
                display.zoom = 1.0;
                display.pan = Vec2::ZERO;
            }
            Command::SetCursor(ijk) => {
                let size = entry.volume.size();
                let [i, j, k] = [0, 1, 2].map(|a| ijk[a].min(size[a].saturating_sub(1)));
                display.cross = [i, j];
                display.k = k;
            }
            Command::StepPlane { fixed, delta } => {
                let size = entry.volume.size();
                if let Some(at) = display.cross.get_mut(fixed) {
                    let moved = i64::try_from(*at).unwrap_or(i64::MAX).saturating_add(delta);
                    *at = usize::try_from(moved.max(0))
                        .unwrap_or(usize::MAX)
                        .min(size[fixed].saturating_sub(1));
                }
            }
            Command::Orbit(d) => display.orbit.drag(d.x, d.y),
            Command::Zoom3d(f) => {
                display.orbit.zoom = (display.orbit.zoom * f64::from(f)).clamp(0.2, 20.0);
            }
            Command::SetMode3d(m) => display.mode3d = m,
            Command::ResetOrbit => display.orbit = Orbit::default(),
            _ => {}
        }
    }

    /// Abandons a gesture in progress (an open stroke is committed: what was painted stays).
    fn end_gesture(&mut self) {
        if !self.stroke.is_empty() || matches!(self.gesture, Gesture::Stroke { .. }) {
            let _ = self.apply_edit(Command::StrokeEnd);
        }
        self.gesture = Gesture::Idle;
    }

    /// The "new phrase" command for the report selection, if text is selected.
    fn new_phrase_command(&self) -> Option<Command> {
        let (p, image) = self.current_project_image()?;
        let report = p.doc().images.get(&image)?.report.as_deref()?;
        phrase_from_selection(report, self.report_selection?)
    }

    /// Selects the next proposed region of the image after the selected one and shows its slice.
    fn next_proposal(&mut self) {
        let Some((p, image)) = self.current_project_image() else {
            return;
        };
        let proposals: Vec<RegionId> = p
            .notes(image)
            .map(|n| n.regions.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                p.doc()
                    .regions
                    .get(r)
                    .is_some_and(|x| x.status == Status::Proposed)
            })
            .collect();
        let next = proposals
            .iter()
            .copied()
            .find(|r| Some(*r) > self.selected_region)
            .or_else(|| proposals.first().copied());
        let Some(r) = next else {
            self.message = Some("no proposals left to review on this image".into());
            return;
        };
        let k = region_slice(p, r);
        self.selected_region = Some(r);
        self.message = Some(format!(
            "proposal #{r} ({} left): A accepts, X rejects",
            proposals.len()
        ));
        if let Some(k) = k {
            self.apply_view(Command::SetSlice(k));
        }
    }

    /// Starts the chosen model on the shown image: a box prompt (`shape`, from the model box tool) or
    /// the whole image. The proposals arrive later (see `poll_jobs`), linked to the active phrase.
    fn start_model(&mut self, ctx: &egui::Context, shape: Option<Shape>) -> Result<(), String> {
        #[cfg(feature = "inference")]
        {
            let (entry, display) = self.current().ok_or("no image is shown")?;
            let p = self
                .project
                .as_ref()
                .ok_or("open or create a project to annotate (File, New project…)")?;
            let image = entry
                .project_image
                .ok_or("this image is not part of the open project (File, Add images…)")?;
            let [nx, ny, _] = entry.volume.size();
            let (slice, bbox) = match &shape {
                Some(Shape::Box2d { slice, min, max }) => {
                    // Box edges → the pixel indices it covers, within the slice.
                    let clamp = |v: f64, n: usize| v.clamp(0.0, n as f64 - 1.0);
                    let bbox = [
                        clamp((min[0] + 0.5).round(), nx),
                        clamp((min[1] + 0.5).round(), ny),
                        clamp((max[0] - 0.5).round(), nx),
                        clamp((max[1] - 0.5).round(), ny),
                    ];
                    (*slice as usize, Some(bbox))
                }
                Some(_) => return Err("the model box works on the acquisition plane".into()),
                None => (display.k, None),
            };
            let phrase = phrase_on(p.doc(), self.active_phrase, image);
            let label = self
                .active_label
                .and_then(|l| p.doc().labels.get(&l))
                .map(|l| l.name.clone());
            let what = match (&bbox, phrase.and_then(|ph| p.doc().phrases.get(&ph))) {
                (Some(_), _) => format!("model box on slice {slice}"),
                (None, Some(ph)) => format!("model on `{}`", ph.text),
                (None, None) => format!("model on image {image}"),
            };
            let request = crate::inference::job::Request {
                image,
                slice: Some(slice),
                bbox,
                prompt: if bbox.is_none() {
                    phrase
                        .and_then(|ph| p.doc().phrases.get(&ph))
                        .map(|x| x.text.clone())
                } else {
                    None
                },
                label,
                provider: "cpu".into(),
                who: self.user.clone(),
            };
            let volume = std::sync::Arc::clone(&entry.volume);
            let doc = super::models::job_document(p.doc(), image);
            self.models.run(ctx, volume, doc, request, what.clone())?;
            self.model_phrase = phrase.filter(|_| bbox.is_some());
            self.message = Some(format!("{what}…"));
            Ok(())
        }
        #[cfg(not(feature = "inference"))]
        {
            let _ = (ctx, shape);
            Err("inference unavailable: built without the `inference` feature".into())
        }
    }

    /// A model job's outcome: its edits renumbered against the document now and applied as one undo
    /// step, when the image is still in the open project.
    #[cfg(feature = "inference")]
    fn finish_model(
        &mut self,
        image: ImageId,
        what: &str,
        outcome: Result<crate::inference::job::Outcome, String>,
        seconds: f64,
    ) {
        let phrase = self.model_phrase.take();
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.message = Some(format!("{what}: {e}"));
                return;
            }
        };
        let Some(p) = self.project.as_mut() else {
            self.message = Some(format!("{what}: dropped, the project was closed"));
            return;
        };
        if !p.doc().images.contains_key(&image) {
            self.message = Some(format!("{what}: dropped, the image left the project"));
            return;
        }
        let mut edits = crate::inference::job::rebase(outcome.edits, p.doc());
        let phrase = phrase.filter(|ph| p.doc().phrases.get(ph).is_some_and(|x| x.image == image));
        let mut first = None;
        for e in &mut edits {
            if let Edit::AddRegion { region, links, .. } = e {
                first = first.or(Some(region.id));
                if let Some(ph) = phrase
                    && !links.contains(&ph)
                {
                    links.push(ph);
                }
            }
        }
        if edits.is_empty() {
            self.message = Some(format!("{what}: {} ({seconds:.2} s)", outcome.summary));
            return;
        }
        match p.transact(what, edits) {
            Ok(()) => {
                if first.is_some() {
                    self.selected_region = first;
                }
                self.message = Some(format!(
                    "{what}: {} ({seconds:.2} s) — A accepts, X rejects",
                    outcome.summary
                ));
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// Commands that change the document of the open project.
    fn apply_edit(&mut self, command: Command) -> Result<(), String> {
        let s = self.selected.ok_or("no image is shown")?;
        let entry = self.images.get(s).ok_or("no image is shown")?;
        let p = self
            .project
            .as_mut()
            .ok_or("open or create a project to annotate (File, New project…)")?;
        let image = entry
            .project_image
            .ok_or("this image is not part of the open project (File, Add images…)")?;
        let volume = &entry.volume;
        let size = volume.size();
        let spacing = volume.spacing_mm();
        let now = now_ms();
        match command {
            Command::Undo => {
                if p.history().is_open() {
                    return Ok(());
                }
                self.message = Some(match p.undo()? {
                    Some(name) => format!("undid {name}"),
                    None => "nothing to undo".into(),
                });
                self.selected_region = self
                    .selected_region
                    .filter(|r| p.doc().regions.contains_key(r));
            }
            Command::Redo => {
                if p.history().is_open() {
                    return Ok(());
                }
                self.message = Some(match p.redo()? {
                    Some(name) => format!("redid {name}"),
                    None => "nothing to redo".into(),
                });
            }
            Command::AddShape { shape, name } => {
                // Box depth: the box reaches that many slices above and below.
                let d = self.settings.box_depth;
                let shape = match tools::box_slices(&shape) {
                    Some((k, _)) if d > 0 => {
                        tools::box_over_slices(&shape, k.saturating_sub(d), k + d, size[2])
                            .unwrap_or(shape)
                    }
                    _ => shape,
                };
                let (mut edits, label) = label_for_drawing(p.doc(), self.active_label);
                let id = crate::core::Id::new();
                let phrase = phrase_on(p.doc(), self.active_phrase, image);
                edits.push(Edit::AddRegion {
                    region: new_region(id, image, label, shape, p, now),
                    mask: None,
                    links: phrase.into_iter().collect(),
                });
                edits.extend(grounded(p.doc(), phrase, now));
                p.transact(name, edits)?;
                self.active_label = Some(label);
                self.selected_region = Some(id);
                self.message = Some(format!("{name}: region #{id}"));
            }
            Command::SetShape { region, shape } => {
                p.update_region("move region", region, now, |r| r.shape = shape)?;
            }
            Command::SetReport(text) => {
                let text = text.filter(|t| !t.trim().is_empty());
                match crate::core::report::set_report_edits(p.doc(), image, text, now) {
                    Some((edits, changes)) => {
                        p.transact("edit report", edits)?;
                        let mut m = "report saved".to_owned();
                        if changes.moved > 0 {
                            m += &format!("; {} phrase span(s) follow the text", changes.moved);
                        }
                        if changes.freed > 0 {
                            m += &format!(
                                "; {} phrase(s) no longer in the report are kept as free phrases",
                                changes.freed
                            );
                        }
                        self.message = Some(m);
                    }
                    None => self.message = Some("report unchanged".into()),
                }
            }
            Command::StrokeBegin { erase } => {
                if p.history().is_open() {
                    p.finish()?;
                }
                if erase {
                    p.begin("erase")?;
                    self.stroke = p
                        .notes(image)
                        .map(|n| n.regions.clone())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| {
                            p.doc().regions.get(r).is_some_and(|x| {
                                x.shape == Shape::Mask && x.status != Status::Rejected
                            })
                        })
                        .collect();
                } else {
                    p.begin("brush stroke")?;
                    let phrase = phrase_on(p.doc(), self.active_phrase, image);
                    let (region, label) =
                        mask_target(p, image, size, self.active_label, phrase, now)?;
                    self.active_label = Some(label);
                    self.stroke = vec![region];
                }
            }
            Command::StrokeTo {
                from,
                to,
                erase,
                across,
            } => {
                if !p.history().is_open() {
                    return Ok(());
                }
                let Some((bounds, inside)) =
                    paint::capsule(from, to, self.settings.brush, spacing, size, across)
                else {
                    return Ok(());
                };
                for &region in &self.stroke {
                    let Some(mask) = p.doc().masks.get(&region) else {
                        continue;
                    };
                    let value = u8::from(!erase);
                    if let Some(edit) = paint::paint_edit(region, mask, bounds, &inside, value) {
                        p.record(edit)?;
                    }
                }
            }
            Command::StrokeEnd => {
                let regions = std::mem::take(&mut self.stroke);
                if !p.history().is_open() {
                    return Ok(());
                }
                // A new mask that got no voxel (a stroke outside the image) is not kept.
                let empty_new = regions.iter().any(|r| {
                    p.doc().masks.get(r).is_some_and(|m| m.count() == 0)
                        && p.history().open_adds(*r)
                });
                if empty_new {
                    p.abort();
                } else {
                    p.finish()?;
                    self.message = Some("stroke saved".into());
                }
            }
            Command::ClosePolygon { points, k } => {
                if self.settings.polygon_to_mask {
                    let (bounds, inside) = paint::polygon_voxels(&points, k, size)
                        .ok_or("the polygon covers no voxel")?;
                    self.fill_mask("fill polygon", bounds, &inside)?;
                } else {
                    return self.apply_edit(Command::AddShape {
                        shape: Shape::Polygon {
                            slice: u32::try_from(k).unwrap_or(u32::MAX),
                            points,
                        },
                        name: "draw polygon",
                    });
                }
            }
            Command::ThresholdFill { seed } => {
                if self.fill.is_some() {
                    return Err("a threshold fill is still running".into());
                }
                let (lo, hi) = self.settings.threshold;
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                if volume.value(seed, 0).is_none_or(|x| !(x >= lo && x <= hi)) {
                    return Err(format!(
                        "the voxel clicked is outside the range {} … {}",
                        format_value(lo),
                        format_value(hi)
                    ));
                }
                // A 3D fill of a large volume takes seconds: it runs on its own thread and is applied
                // (one undo step, saved at once) when it is done, if the image is still shown.
                let (tx, rx) = std::sync::mpsc::channel();
                let (volume, three_d) = (entry.volume.clone(), self.settings.threshold_3d);
                std::thread::Builder::new()
                    .name("voxmark-fill".into())
                    .spawn(move || {
                        let value_at = |v: [usize; 3]| volume.value(v, 0);
                        let filled = paint::threshold_fill(
                            &value_at,
                            volume.size(),
                            seed,
                            (lo, hi),
                            three_d,
                            FILL_LIMIT,
                        );
                        let _ = tx.send(filled);
                    })
                    .map_err(|e| format!("cannot start the fill: {e}"))?;
                let uid = self.displays.get(s).map_or(0, |d| d.uid);
                self.fill = Some(FillJob {
                    rx,
                    image: uid,
                    started: std::time::Instant::now(),
                });
                self.message = Some("threshold fill…".into());
            }
            Command::DeleteRegion(region) => {
                let edit = Edit::remove_region(p.doc(), region).ok_or("the region is gone")?;
                p.transact("delete region", vec![edit])?;
                if self.selected_region == Some(region) {
                    self.selected_region = None;
                }
                self.message = Some(format!("deleted region #{region}"));
            }
            Command::SetRegionLabel { region, label } => {
                p.update_region("change label", region, now, |r| r.label = Some(label))?;
            }
            Command::SetStatus { region, status } => {
                let name = match status {
                    Status::Accepted => "accept",
                    Status::Rejected => "reject",
                    Status::Proposed => "reopen",
                };
                p.update_region(name, region, now, |r| r.status = status)?;
            }
            Command::AddLabel => {
                let label = next_label(p.doc());
                let id = label.id;
                p.transact("add label", vec![Edit::AddLabel(label)])?;
                self.active_label = Some(id);
            }
            Command::AddPhrase { span, text } => {
                let text = text.trim().to_owned();
                if text.is_empty() {
                    return Err("a phrase needs some text".into());
                }
                let id = crate::core::Id::new();
                // The selected region is linked at once (select a box, then text, then P).
                let links: Vec<RegionId> = self
                    .selected_region
                    .filter(|r| p.doc().regions.get(r).is_some_and(|x| x.image == image))
                    .into_iter()
                    .collect();
                let phrase = crate::core::Phrase {
                    id,
                    image,
                    text,
                    author: p.who().clone(),
                    span,
                    category: None,
                    grounding: if links.is_empty() {
                        Grounding::Pending
                    } else {
                        Grounding::Annotated
                    },
                    created_ms: now,
                    modified_ms: now,
                };
                p.transact("new phrase", vec![Edit::AddPhrase { phrase, links }])?;
                self.active_phrase = Some(id);
                self.report_selection = None;
                self.free_phrase.clear();
                self.message = Some(format!("phrase #{id}: draw regions to ground it"));
            }
            Command::SetGrounding { phrase, grounding } => {
                p.update_phrase("set grounding", phrase, now, |ph| ph.grounding = grounding)?;
            }
            Command::SetCategory { phrase, category } => {
                let category = category.filter(|c| !c.trim().is_empty());
                p.update_phrase("set category", phrase, now, |ph| ph.category = category)?;
            }
            Command::ToggleLink { phrase, region } => {
                if p.doc().links.contains(&(phrase, region)) {
                    p.transact("unlink", vec![Edit::Unlink { phrase, region }])?;
                    self.message = Some(format!("unlinked region #{region}"));
                } else {
                    let mut edits = vec![Edit::Link { phrase, region }];
                    edits.extend(grounded(p.doc(), Some(phrase), now));
                    p.transact("link", edits)?;
                    self.message = Some(format!("linked region #{region} to phrase #{phrase}"));
                }
            }
            Command::DeletePhrase(phrase) => {
                let edit = Edit::remove_phrase(p.doc(), phrase).ok_or("the phrase is gone")?;
                p.transact("delete phrase", vec![edit])?;
                if self.active_phrase == Some(phrase) {
                    self.active_phrase = None;
                }
            }
            Command::UpdateLabel(after) => {
                let before = p
                    .doc()
                    .labels
                    .get(&after.id)
                    .ok_or("the label is gone")?
                    .clone();
                if before != after {
                    p.transact("edit label", vec![Edit::UpdateLabel { before, after }])?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets `inside` of `bounds` in the active label's mask of the selected image, as one step.
    fn fill_mask(
        &mut self,
        name: &str,
        bounds: crate::core::VoxelBox,
        inside: &[bool],
    ) -> Result<(), String> {
        let s = self.selected.ok_or("no image is shown")?;
        let entry = self.images.get(s).ok_or("no image is shown")?;
        let image = entry.project_image.ok_or("not a project image")?;
        let size = entry.volume.size();
        let p = self.project.as_mut().ok_or("no project")?;
        p.begin(name)?;
        let phrase = phrase_on(p.doc(), self.active_phrase, image);
        let (region, label) = match mask_target(p, image, size, self.active_label, phrase, now_ms())
        {
            Ok(x) => x,
            Err(e) => {
                p.abort();
                return Err(e);
            }
        };
        let edit = p
            .doc()
            .masks
            .get(&region)
            .and_then(|m| paint::paint_edit(region, m, bounds, inside, 1));
        if let Some(edit) = edit
            && let Err(e) = p.record(edit)
        {
            p.abort();
            return Err(e);
        }
        p.finish()?;
        self.active_label = Some(label);
        self.message = Some(format!(
            "{name}: {} voxels",
            inside.iter().filter(|&&x| x).count()
        ));
        Ok(())
    }

    /// Keys and dropped files, read before the panels draw.
    fn handle_input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            self.commands.push(Command::Load(dropped));
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let page = self
            .current()
            .map_or(10, |(e, _)| (e.volume.size()[2] / 10).max(1)) as i64;
        let help = ctx.input(|i| {
            i.events
                .iter()
                .any(|e| matches!(e, Event::Text(t) if t == "?"))
        });
        let cx = super::keymap::Context {
            page,
            selected_region: self.selected_region,
            active_phrase: self.active_phrase,
            region_filter: self.region_filter,
            new_phrase: self.new_phrase_command(),
        };
        let commands = ctx.input_mut(|i| super::keymap::commands_for_keys(i, &cx));
        self.commands.extend(commands);
        if help {
            self.commands.push(Command::ToggleHelp);
        }
    }

    fn current(&self) -> Option<(&ImageEntry, &Display)> {
        let s = self.selected?;
        Some((self.images.get(s)?, self.displays.get(s)?))
    }

    /// Re-extracts the slice and re-uploads the texture only when image, slice or window changed.
    fn slice_texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureId> {
        let s = self.selected?;
        let (entry, display) = (self.images.get(s)?, self.displays.get(s)?);
        let key = (s, display.k, display.window);
        if let Some(t) = &self.texture
            && t.key == key
        {
            return Some(t.texture.id());
        }
        let volume = &entry.volume;
        if self
            .slice_cache
            .as_ref()
            .is_none_or(|(k, _)| *k != (s, display.k))
        {
            let max_side = ctx.input(|i| i.max_texture_side);
            self.slice_cache = Some(((s, display.k), slice::extract(volume, display.k, max_side)));
        }
        let values = &self.slice_cache.as_ref()?.1;
        let image = slice::to_image(values, display.window, volume.meta.photometric);
        let options = egui::TextureOptions::LINEAR;
        match &mut self.texture {
            Some(t) => {
                t.texture.set(image, options);
                t.key = key;
            }
            None => {
                let texture = ctx.load_texture("voxmark-slice", image, options);
                self.texture = Some(SliceTexture { key, texture });
            }
        }
        self.texture.as_ref().map(|t| t.texture.id())
    }

    fn image_list(&mut self, ui: &mut Ui) {
        self.project_list(ui);
        for job in &self.jobs {
            let what = match job.paths.as_slice() {
                [one] => one.file_name().map_or_else(
                    || one.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                many => format!("{} paths", many.len()),
            };
            let seconds = job.started.elapsed().as_secs_f32();
            let progress = job.progress.map_or_else(String::new, |(done, all)| {
                format!(" ({done} of {all} images)")
            });
            ui.horizontal(|ui| {
                ui.spinner();
                ui.add(
                    egui::Label::new(format!("Loading {what}… {seconds:.0} s{progress}"))
                        .truncate(),
                )
                .on_hover_text(loader::describe_paths(&job.paths));
            });
        }
        if self.images.is_empty() && self.jobs.is_empty() && self.project.is_none() {
            ui.weak(
                "No images. Drop DICOM folders, NIfTI or PNG/JPEG/TIFF files or a .voxmark project on the window.",
            );
        }
        let loose = self.images.iter().any(|e| e.project_image.is_none());
        if loose && self.project.is_some() {
            ui.separator();
            ui.label(RichText::new("Other images").color(theme::MUTED));
        }
        for (i, entry) in self.images.iter().enumerate() {
            if entry.project_image.is_some() {
                continue;
            }
            let img = &entry.image;
            let v = &entry.volume;
            let name = img.source.file_name().map_or_else(
                || img.source.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let [x, y, z] = v.size();
            let modality = v.meta.modality.as_deref().unwrap_or("—");
            let text = format!("{name}\n{} · {x}×{y}×{z} · {modality}", img.kind.as_str());
            let response = ui
                .selectable_label(self.selected == Some(i), text)
                .on_hover_text(format!(
                    "{}\n{}",
                    img.source.display(),
                    v.meta.description.as_deref().unwrap_or("")
                ));
            if response.clicked() {
                self.commands.push(Command::Select(i));
            }
        }
        if !self.non_images.is_empty() {
            ui.separator();
            ui.label(
                RichText::new(format!("{} non-image objects", self.non_images.len()))
                    .color(theme::MUTED),
            );
            for n in &self.non_images {
                let name = n
                    .path
                    .file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
                ui.label(
                    RichText::new(format!("{name}: {}", n.sop_class_name))
                        .small()
                        .color(theme::MUTED),
                );
            }
        }
        if !self.errors.is_empty() {
            ui.separator();
            ui.label(
                RichText::new(format!("{} could not be read", self.errors.len()))
                    .color(theme::ERROR_MUTED),
            );
            for e in &self.errors {
                ui.label(RichText::new(e).small().color(theme::ERROR_MUTED));
            }
        }
    }

    /// The open project's images: each with its counts, or the line saying why it is not shown.
    fn project_list(&mut self, ui: &mut Ui) {
        let Some(p) = &self.project else {
            return;
        };
        ui.label(RichText::new(p.name()).strong())
            .on_hover_text(p.path.display().to_string());
        if p.records.len() > 1 {
            ui.add(
                egui::TextEdit::singleline(&mut self.image_filter)
                    .hint_text("filter: name, modality, to review, empty…"),
            );
        }
        if p.records.is_empty() {
            ui.weak("The project has no images yet (voxmark add).");
        }
        for (record, state) in p.records.iter().zip(&p.states) {
            let name = record.source.file_name().map_or_else(
                || record.source.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let [x, y, z] = record.size;
            let modality = record.modality.as_deref().unwrap_or("—");
            let title = format!(
                "{}. {name}\n{} · {x}×{y}×{z} · {modality}",
                record.id, record.kind
            );
            let c = p.notes(record.id).map(|n| n.counts).unwrap_or_default();
            if !self.image_filter.is_empty() {
                let status = match (c.proposed, c.accepted + c.rejected) {
                    (p, _) if p > 0 => "to review",
                    (_, 0) => "empty",
                    _ => "annotated",
                };
                let haystack = format!("{title} {status}").to_lowercase();
                if !haystack.contains(&self.image_filter.to_lowercase()) {
                    continue;
                }
            }
            let counts = format!(
                "{} accepted · {} proposed · {} rejected\n{} phrases · {} links",
                c.accepted, c.proposed, c.rejected, c.phrases, c.links
            );
            match state {
                RecordState::Ready(i) => {
                    let text = format!("{title}\n{counts}");
                    let response = ui
                        .selectable_label(self.selected == Some(*i), text)
                        .on_hover_text(record.source.display().to_string());
                    if response.clicked() {
                        self.commands.push(Command::Select(*i));
                    }
                }
                RecordState::Loading => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(RichText::new(title).color(theme::MUTED));
                    });
                }
                RecordState::Problem(why) => {
                    ui.label(RichText::new(title).color(theme::MUTED));
                    ui.label(RichText::new(why).small().color(theme::ERROR_MUTED));
                }
            }
            ui.add_space(2.0);
        }
    }

    /// The selected project image's id and the project, when the selected image belongs to it.
    fn current_project_image(&self) -> Option<(&DocumentSession, ImageId)> {
        let (entry, _) = self.current()?;
        Some((self.project.as_ref()?, entry.project_image?))
    }

    /// Window presets and the histogram of the image's values with the window drawn over it (the
    /// grey ramp from black at C − W/2 to white at C + W/2). Counts are shown on a log scale so the
    /// air and background peaks do not flatten everything else.
    fn window_section(&mut self, ui: &mut Ui) {
        let Some((entry, display)) = self.current() else {
            return;
        };
        let (window, presets) = (display.window, &entry.presets);
        let current = display
            .preset
            .and_then(|p| presets.get(p))
            .map_or_else(|| "custom".to_owned(), |(n, _)| n.clone());
        let mut picked = None;
        ui.horizontal(|ui| {
            egui::ComboBox::new("window-preset", "Window")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for (name, w) in presets {
                        let label = format!(
                            "{name}  C {} W {}",
                            format_value(w.center),
                            format_value(w.width)
                        );
                        if ui.selectable_label(*w == window, label).clicked() {
                            picked = Some(*w);
                        }
                    }
                });
        });
        if self.show_histogram {
            let h = &entry.histogram;
            let width = h.bin_width();
            let bars: Vec<egui_plot::Bar> = h
                .counts
                .iter()
                .enumerate()
                .map(|(b, &c)| {
                    egui_plot::Bar::new(h.lo + (b as f64 + 0.5) * width, (1.0 + c as f64).log10())
                        .width(width)
                        .fill(theme::HISTOGRAM)
                        .stroke(egui::Stroke::NONE)
                })
                .collect();
            let top = bars.iter().map(|b| b.value).fold(1.0, f64::max);
            let (lo, hi) = (
                window.center - window.width / 2.0,
                window.center + window.width / 2.0,
            );
            let ramp = vec![
                [h.lo.min(lo), 0.0],
                [lo, 0.0],
                [hi, top],
                [h.hi.max(hi), top],
            ];
            egui_plot::Plot::new("histogram")
                .height(90.0)
                .show_y(false)
                .show_axes([true, false])
                .show_grid(false)
                .allow_zoom(false)
                .allow_drag(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .default_x_bounds(h.lo, h.hi)
                .default_y_bounds(0.0, top * 1.05)
                .show(ui, |plot| {
                    plot.bar_chart(egui_plot::BarChart::new("values", bars));
                    plot.line(
                        egui_plot::Line::new("window", ramp)
                            .color(theme::HISTOGRAM_WINDOW)
                            .width(1.5),
                    );
                });
        }
        if let Some(w) = picked {
            self.commands.push(Command::SetWindow(w));
        }
        ui.separator();
    }

    /// Right panel: the report with phrase spans, the phrases with their regions' ids as chips, and
    /// the regions; hovering a phrase, chip or region highlights it in the view.
    fn annotations_panel(&mut self, ui: &mut Ui) {
        let mut report_selection = self.report_selection;
        let mut free_phrase = std::mem::take(&mut self.free_phrase);
        let mut metrics = std::mem::take(&mut self.metrics);
        let busy = self.gesture != Gesture::Idle;
        let mut draft = self.report_draft.take();
        let Some((p, image)) = self.current_project_image() else {
            self.free_phrase = free_phrase;
            self.metrics = metrics;
            ui.weak("Open a .voxmark project to see its report, phrases and regions.");
            self.hovered_phrase = None;
            return;
        };
        let doc = p.doc();
        let notes = p.notes(image).cloned().unwrap_or_default();
        let k = self.current().map_or(0, |(_, d)| d.k);
        let mut highlight = BTreeSet::new();
        let mut hovered_phrase = None;
        let mut commands = Vec::new();

        labels_section(ui, doc, self.active_label, &mut commands);
        if notes.counts.proposed > 0 {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("{} proposals to review", notes.counts.proposed))
                        .color(theme::MODEL),
                );
                if ui
                    .small_button("Next")
                    .on_hover_text("N; then A accepts, X rejects")
                    .clicked()
                {
                    commands.push(Command::NextProposal);
                }
            });
        }
        if let Some(r) = self.selected_region.and_then(|r| doc.regions.get(&r)) {
            let slices = self.current().map_or(1, |(e, _)| e.volume.size()[2]);
            region_properties(ui, p, r, (k, slices), &mut commands);
        }
        view_filter_section(
            ui,
            doc,
            image,
            self.region_filter,
            self.heatmap_style,
            self.heat_phrase,
            &mut commands,
        );
        ui.add_space(6.0);
        let report = doc.images.get(&image).and_then(|i| i.report.as_deref());
        let mut draft = draft.take().filter(|(i, _)| *i == image);
        let mut opened = false;
        ui.horizontal(|ui| {
            ui.heading("Report");
            if draft.is_none()
                && ui
                    .small_button(if report.is_some() {
                        "Edit"
                    } else {
                        "Add report"
                    })
                    .on_hover_text("type or paste the report; phrase spans follow the text")
                    .clicked()
            {
                draft = Some((image, report.unwrap_or_default().to_owned()));
                opened = true;
            }
        });
        if let Some((_, text)) = &mut draft {
            let edit = ui.add(
                egui::TextEdit::multiline(text)
                    .id(ui.make_persistent_id(("report-draft", image)))
                    .desired_width(f32::INFINITY)
                    .desired_rows(6)
                    .hint_text("report text"),
            );
            if opened {
                edit.request_focus();
            }
            let mut close = false;
            ui.horizontal(|ui| {
                if ui.button("Save report").clicked() {
                    commands.push(Command::SetReport(Some(text.clone())));
                    close = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
            if close {
                draft = None;
            }
        }
        let editing = draft.is_some();
        match report.filter(|_| !editing) {
            Some(report) => {
                let spans: Vec<(PhraseId, (usize, usize))> = notes
                    .phrases
                    .iter()
                    .filter_map(|id| doc.phrases.get(id))
                    .filter_map(|ph| Some((ph.id, ph.span?)))
                    .collect();
                let hovered = self.hovered_phrase.or(self.active_phrase);
                let font = ui.style().text_styles[&egui::TextStyle::Body].clone();
                let dark = self.dark;
                let colours = grounding::phrase_colours(doc, image);
                let mut layouter = |ui: &Ui, text: &dyn egui::TextBuffer, width: f32| {
                    let mut job = grounding::report_layout(
                        text.as_str(),
                        &spans,
                        &colours,
                        hovered,
                        font.clone(),
                        dark,
                    );
                    job.wrap.max_width = width;
                    ui.fonts_mut(|f| f.layout_job(job))
                };
                // Read-only but selectable: select words, then P (or the button) makes a phrase.
                let mut text: &str = report;
                let id = ui.make_persistent_id(("report", image));
                let out = egui::TextEdit::multiline(&mut text)
                    .id(id)
                    .desired_width(f32::INFINITY)
                    .layouter(&mut layouter)
                    .show(ui);
                let selection = out.cursor_range.and_then(|r| {
                    let (a, b) = (r.primary.index.0, r.secondary.index.0);
                    (a != b).then_some((a.min(b), a.max(b)))
                });
                if out.response.has_focus() || selection.is_some() {
                    report_selection = selection;
                }
                let focused = out.response.has_focus();
                ui.horizontal(|ui| {
                    let new = ui
                        .add_enabled(report_selection.is_some(), egui::Button::new("New phrase"))
                        .on_hover_text("from the selected words (P)")
                        .on_disabled_hover_text("select words of the report first");
                    let key = focused && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::P));
                    if (new.clicked() || key)
                        && let Some(c) =
                            report_selection.and_then(|sel| phrase_from_selection(report, sel))
                    {
                        commands.push(c);
                        // Keys go back to the viewer (tool shortcuts) once the phrase exists.
                        out.response.surrender_focus();
                    }
                });
            }
            None if !editing => {
                ui.weak("No report text.");
            }
            None => {}
        }
        ui.horizontal(|ui| {
            let edit = ui.add(
                egui::TextEdit::singleline(&mut free_phrase)
                    .hint_text("free phrase (no span)")
                    .desired_width(170.0),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if (ui.button("Add").clicked() || enter) && !free_phrase.trim().is_empty() {
                commands.push(Command::AddPhrase {
                    span: None,
                    text: free_phrase.clone(),
                });
            }
        });
        ui.add_space(6.0);
        ui.heading(format!("Phrases ({})", notes.phrases.len()));
        let heat_counts = grounding::heatmap_counts(doc, image);
        if let Some(ph) = self.active_phrase.and_then(|ph| doc.phrases.get(&ph)) {
            ui.label(
                RichText::new(format!(
                    "Drawing grounds “{}” (click it again to stop)",
                    grounding::truncate_chars(&ph.text, 40)
                ))
                .small()
                .color(theme::ACCENT),
            );
        }
        for id in &notes.phrases {
            let Some(ph) = doc.phrases.get(id) else {
                continue;
            };
            let linked: Vec<RegionId> = doc.regions_of(ph.id).collect();
            let frame = egui::Frame::new()
                .inner_margin(egui::Margin::same(4))
                .corner_radius(3.0)
                .fill(if self.active_phrase == Some(ph.id) {
                    ui.visuals().selection.bg_fill
                } else if self.hovered_phrase == Some(ph.id) {
                    theme::report_backgrounds(self.dark)[2]
                } else {
                    Color32::TRANSPARENT
                })
                .show(ui, |ui| {
                    ui.set_min_width(ui.available_width());
                    let active = self.active_phrase == Some(ph.id);
                    let title = ui
                        .add(egui::Label::new(&ph.text).sense(Sense::click()))
                        .on_hover_text(if active {
                            "click to stop grounding this phrase"
                        } else {
                            "click to ground this phrase: regions drawn next are linked to it"
                        });
                    if title.clicked() {
                        commands.push(Command::SelectPhrase((!active).then_some(ph.id)));
                    }
                    phrase_controls(ui, ph, self.selected_region, &linked, &mut commands);
                    ui.horizontal_wrapped(|ui| {
                        if let Some(cat) = &ph.category {
                            ui.label(RichText::new(cat).small().color(theme::MUTED));
                        }
                        match ph.grounding {
                            Grounding::NoVisible => {
                                ui.label(
                                    RichText::new("no visible grounding")
                                        .small()
                                        .color(theme::MUTED),
                                );
                            }
                            Grounding::Pending if linked.is_empty() => {
                                ui.label(
                                    RichText::new("not grounded yet")
                                        .small()
                                        .color(theme::MUTED),
                                );
                            }
                            _ => {}
                        }
                        if let Some(iou) = metrics.phrase_iou(ph.id) {
                            ui.label(RichText::new(format!("IoU {iou:.2}")).small().color(
                                if iou >= 0.5 {
                                    theme::REGION
                                } else {
                                    theme::MODEL
                                },
                            ))
                            .on_hover_text("truth vs prediction (Metrics below)");
                        }
                        if heat_counts.contains_key(&ph.id) {
                            let shown = self.heat_phrase == Some(ph.id);
                            if ui
                                .selectable_label(shown, RichText::new("heatmap").small())
                                .on_hover_text(
                                    "show this phrase's heatmap over the image (H hides)",
                                )
                                .clicked()
                            {
                                commands.push(Command::ShowHeatmap((!shown).then_some(ph.id)));
                            }
                        }
                        for r in &linked {
                            let chip = ui
                                .add(
                                    egui::Button::new(RichText::new(format!("#{r}")).small())
                                        .fill(theme::report_backgrounds(self.dark)[2])
                                        .small(),
                                )
                                .on_hover_text(region_summary(p, *r));
                            if chip.hovered() {
                                highlight.insert(*r);
                            }
                            let here = doc.regions.get(r).is_some_and(|x| x.image == image);
                            if chip.clicked()
                                && here
                                && let Some(k) = region_slice(p, *r)
                            {
                                commands.push(Command::SetSlice(k));
                            }
                        }
                    });
                });
            if ui.rect_contains_pointer(frame.response.rect) {
                hovered_phrase = Some(ph.id);
                if highlight.is_empty() {
                    highlight.extend(linked.iter().copied());
                }
            }
        }
        if notes.phrases.is_empty() {
            ui.weak("No phrases.");
        }
        let authors = crate::core::grounding_eval::region_authors(doc);
        if authors.len() > 1 {
            ui.add_space(6.0);
            egui::CollapsingHeader::new("Metrics")
                .default_open(true)
                .show(ui, |ui| {
                    if let Some(ph) = metrics.show(ui, doc, &authors, p.revision(), image, busy) {
                        hovered_phrase = Some(ph);
                        highlight.extend(doc.regions_of(ph));
                    }
                });
        }
        ui.add_space(6.0);
        egui::CollapsingHeader::new(format!("Regions ({})", notes.regions.len()))
            .default_open(true)
            .show(ui, |ui| {
                for r in &notes.regions {
                    let Some(region) = doc.regions.get(r) else {
                        continue;
                    };
                    let style = overlay::style(region, &doc.labels, false);
                    let on_slice = region_on_slice(p, *r, k);
                    let name = region
                        .label
                        .and_then(|l| doc.labels.get(&l))
                        .map_or("no label", |l| l.name.as_str());
                    let text = RichText::new(format!(
                        "#{r} {name} · {} · {}",
                        region.shape.kind(),
                        region.status.as_str()
                    ))
                    .small()
                    .color(if on_slice { theme::TEXT } else { theme::MUTED });
                    let row = ui.horizontal(|ui| {
                        let (swatch, _) =
                            ui.allocate_exact_size(egui::vec2(10.0, 10.0), Sense::hover());
                        ui.painter().rect_filled(swatch, 2.0, style.color);
                        ui.add(egui::Label::new(text).sense(Sense::click()).truncate())
                    });
                    let label = row.inner.on_hover_text(region_summary(p, *r));
                    if label.hovered() {
                        highlight.insert(*r);
                    }
                    if label.clicked() {
                        commands.push(Command::SelectRegion(Some(*r)));
                        if let Some(k) = region_slice(p, *r) {
                            commands.push(Command::SetSlice(k));
                        }
                    }
                }
            });
        self.metrics = metrics;
        self.report_draft = draft;
        self.highlight = highlight;
        self.report_selection = report_selection;
        self.free_phrase = free_phrase;
        if hovered_phrase != self.hovered_phrase {
            // The report and the row backgrounds follow on the next frame.
            ui.ctx().request_repaint();
        }
        self.hovered_phrase = hovered_phrase;
        self.commands.extend(commands);
    }

    /// Draws the selected image's regions on slice `k` over the slice at `view`.
    fn paint_regions(&mut self, ctx: &egui::Context, painter: &egui::Painter, view: &SliceView) {
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
                let tag = r
                    .label
                    .and_then(|l| doc.labels.get(&l))
                    .map_or_else(|| format!("#{}", r.id), |l| format!("#{} {}", r.id, l.name));
                Some((shape, style, tag))
            })
            .collect();
        shapes.sort_by_key(|(_, style, _)| style.highlighted);
        for (shape, style, tag) in &shapes {
            overlay::paint(painter, shape, *style, Some(tag));
        }
    }

    /// File menu: projects, images, recent projects; Help.
    fn menu_bar(&mut self, ui: &mut Ui) {
        let has_project = self.project.is_some();
        let loose = self
            .images
            .iter()
            .filter(|e| e.project_image.is_none())
            .count();
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let new_hint = if loose > 0 {
                    format!("a new project file holding the {loose} open images")
                } else {
                    "a new, empty project file".to_owned()
                };
                if ui.button("New project…").on_hover_text(new_hint).clicked()
                    && let Some(path) = super::welcome::pick_new_project()
                {
                    self.commands.push(Command::NewProject(path));
                }
                if ui.button("Open…").clicked()
                    && let Some(paths) = super::welcome::pick_files()
                {
                    self.commands.push(Command::Load(paths));
                }
                if ui
                    .button("Open folder…")
                    .on_hover_text("a DICOM folder or DICOMDIR tree")
                    .clicked()
                    && let Some(path) = rfd::FileDialog::new().pick_folder()
                {
                    self.commands.push(Command::Load(vec![path]));
                }
                ui.separator();
                if ui
                    .add_enabled(has_project, egui::Button::new("Add images to project…"))
                    .clicked()
                    && let Some(paths) = rfd::FileDialog::new().pick_files()
                {
                    self.commands.push(Command::AddImages(paths));
                }
                if ui
                    .add_enabled(has_project, egui::Button::new("Add folder to project…"))
                    .clicked()
                    && let Some(path) = rfd::FileDialog::new().pick_folder()
                {
                    self.commands.push(Command::AddImages(vec![path]));
                }
                ui.separator();
                let recent = self.recent.clone().unwrap_or_default();
                ui.add_enabled_ui(!recent.is_empty(), |ui| {
                    ui.menu_button("Recent projects", |ui| {
                        for path in recent {
                            if super::welcome::file_button(ui, &path, false) {
                                self.commands.push(Command::Load(vec![path]));
                            }
                        }
                    });
                });
                if ui
                    .add_enabled(has_project, egui::Button::new("Save a copy…"))
                    .on_hover_text(
                        "a consistent copy of the project file, made while it stays open",
                    )
                    .clicked()
                    && let Some(path) = rfd::FileDialog::new()
                        .add_filter("Voxmark project", &["voxmark"])
                        .set_file_name("copy.voxmark")
                        .save_file()
                {
                    self.commands.push(Command::SaveCopy(path));
                }
                let journaled = self.project.as_ref().map_or(0, DocumentSession::journaled);
                if ui
                    .add_enabled(journaled > 0, egui::Button::new("Apply the recovery journal"))
                    .on_hover_text(format!(
                        "{journaled} transaction(s) a failed save kept beside the project (as `voxmark recover`)"
                    ))
                    .clicked()
                {
                    self.commands.push(Command::ApplyJournal {
                        discard_conflicts: false,
                    });
                }
                if ui
                    .add_enabled(has_project, egui::Button::new("Close project"))
                    .clicked()
                {
                    self.commands.push(Command::CloseProject);
                }
                ui.separator();
                if ui.button("Settings…").clicked() {
                    self.commands.push(Command::ShowSettings);
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                for layout in Layout::ALL {
                    if ui
                        .selectable_label(self.layout == layout, layout.name())
                        .on_hover_text(format!("key {}", layout.key().name()))
                        .clicked()
                    {
                        self.commands.push(Command::SetLayout(layout));
                    }
                }
                ui.separator();
                for choice in ThemeChoice::ALL {
                    let label = format!("{} theme", choice.name());
                    if ui
                        .selectable_label(self.prefs.theme == choice, label)
                        .clicked()
                    {
                        self.commands.push(Command::SetTheme(choice));
                    }
                }
                ui.separator();
                ui.checkbox(&mut self.show_histogram, "Histogram");
            });
            ui.menu_button("Help", |ui| {
                if ui.button("Keyboard shortcuts").clicked() {
                    self.commands.push(Command::ToggleHelp);
                }
            });
        });
    }

    fn toolbar(&mut self, ui: &mut Ui) {
        let editable = self.current_project_image().is_some();
        ui.horizontal_wrapped(|ui| {
            for tool in Tool::ALL {
                let enabled = editable || !tool.edits();
                let hint = if enabled {
                    format!("{} ({:?})", tool.hint(), tool.key())
                } else {
                    "open or create a project to annotate".to_owned()
                };
                let button = ui
                    .add_enabled(
                        enabled,
                        egui::Button::selectable(self.tool == tool, tool.name()),
                    )
                    .on_hover_text(hint)
                    .on_disabled_hover_text("open or create a project to annotate");
                if button.clicked() {
                    self.commands.push(Command::SetTool(tool));
                }
            }
            ui.separator();
            let (can_undo, can_redo) = self.project.as_ref().map_or((false, false), |p| {
                (p.history().undo_len() > 0, p.history().redo_len() > 0)
            });
            if ui
                .add_enabled(can_undo, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.commands.push(Command::Undo);
            }
            if ui
                .add_enabled(can_redo, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z")
                .clicked()
            {
                self.commands.push(Command::Redo);
            }
            ui.separator();
            self.tool_settings(ui);
            if let Some((entry, display)) = self.current() {
                let nz = entry.volume.size()[2];
                if nz > 1 {
                    let mut k = display.k;
                    ui.label("Slice");
                    if ui.add(egui::Slider::new(&mut k, 0..=nz - 1)).changed() {
                        self.commands.push(Command::SetSlice(k));
                    }
                }
            }
            ui.separator();
            for layout in Layout::ALL {
                if ui
                    .add(egui::Button::selectable(
                        self.layout == layout,
                        layout.short_name(),
                    ))
                    .on_hover_text(format!("{} (key {})", layout.name(), layout.key().name()))
                    .clicked()
                {
                    self.commands.push(Command::SetLayout(layout));
                }
            }
            if ui
                .button("?")
                .on_hover_text("Keyboard shortcuts (F1)")
                .clicked()
            {
                self.commands.push(Command::ToggleHelp);
            }
        });
    }

    /// The active tool's settings beside the tool buttons.
    fn tool_settings(&mut self, ui: &mut Ui) {
        let s = &mut self.settings;
        match self.tool {
            Tool::Brush | Tool::Eraser => {
                ui.label("Radius");
                ui.add(
                    egui::DragValue::new(&mut s.brush.radius_mm)
                        .range(0.1..=200.0)
                        .speed(0.1)
                        .suffix(" mm"),
                )
                .on_hover_text("[ and ] change it");
                ui.checkbox(&mut s.brush.sphere, "3D")
                    .on_hover_text("a sphere across slices instead of a disc on the slice");
                ui.separator();
            }
            Tool::Threshold => {
                ui.label("Range");
                ui.add(egui::DragValue::new(&mut s.threshold.0).speed(1.0));
                ui.label("…");
                ui.add(egui::DragValue::new(&mut s.threshold.1).speed(1.0));
                ui.checkbox(&mut s.threshold_3d, "3D")
                    .on_hover_text("fill connected voxels across slices");
                ui.separator();
            }
            Tool::Box => {
                ui.label("Depth ±");
                ui.add(
                    egui::DragValue::new(&mut s.box_depth)
                        .range(0..=500)
                        .suffix(" slices"),
                )
                .on_hover_text("0: a 2D box; more: a 3D box over that many slices above and below");
                ui.separator();
            }
            Tool::ModelBox => {
                let models = &self.models;
                let (name, why) = match &models.status {
                    Some(Err(e)) => ("model unusable".to_owned(), e.clone()),
                    _ => (
                        models.model_name(),
                        models.manifest.as_ref().map_or_else(
                            || "choose a model manifest (.toml beside its .onnx files)".into(),
                            |p| p.display().to_string(),
                        ),
                    ),
                };
                ui.label(name).on_hover_text(why);
                if ui
                    .button("Model…")
                    .on_hover_text("choose a model manifest (.toml beside its .onnx files)")
                    .clicked()
                {
                    let mut dialog = rfd::FileDialog::new().add_filter("Model manifest", &["toml"]);
                    if let Some(dir) = &self.prefs.model_folder {
                        dialog = dialog.set_directory(dir);
                    }
                    if let Some(path) = dialog.pick_file() {
                        self.commands.push(Command::ChooseModel(path));
                    }
                }
                if self.prefs.model_folder.is_some() {
                    ui.menu_button("Folder", |ui| {
                        let found = self.prefs.model_manifests();
                        if found.is_empty() {
                            ui.weak("no manifests in the model folder (File, Settings…)");
                        }
                        for path in found {
                            if super::welcome::file_button(ui, &path, true) {
                                self.commands.push(Command::ChooseModel(path));
                            }
                        }
                    })
                    .response
                    .on_hover_text("the model folder's manifests");
                }
                let runs_whole = matches!(&models.status, Some(Ok(s)) if !s.contains("promptable"));
                if runs_whole
                    && ui
                        .add_enabled(
                            models.manifest.is_some() && models.running.is_none(),
                            egui::Button::new("Run on image"),
                        )
                        .on_hover_text(
                            "segmentation models: the whole image; grounding models: the active \
                             phrase, else every phrase of the image",
                        )
                        .clicked()
                {
                    self.commands.push(Command::RunModel);
                }
                ui.separator();
            }
            Tool::Polygon => {
                ui.checkbox(&mut s.polygon_to_mask, "Fill into mask")
                    .on_hover_text(
                        "closed polygons paint the active label instead of staying vectors",
                    );
                ui.separator();
            }
            _ => {}
        }
    }

    /// The region drawn under `p` on slice `k` (the topmost, as drawn last).
    fn region_at(&self, view: &SliceView, k: usize, p: Pos2) -> Option<RegionId> {
        let (proj, image) = self.current_project_image()?;
        let notes = proj.notes(image)?;
        let [i, j] = view.voxel_at(p)?;
        notes.regions.iter().rev().copied().find(|id| {
            let Some(r) = proj.doc().regions.get(id) else {
                return false;
            };
            if let Some(m) = proj.doc().masks.get(id) {
                return m.get([i, j, k]) != 0;
            }
            match overlay::screen_shape(&r.shape, k, view) {
                Some(overlay::ScreenShape::Rect(rect)) => rect.expand(3.0).contains(p),
                Some(overlay::ScreenShape::Polygon(points)) => {
                    let ij = view.voxel_from_screen(p);
                    let poly: Vec<[f64; 2]> =
                        points.iter().map(|&q| view.voxel_from_screen(q)).collect();
                    paint::point_in_polygon(ij, &poly)
                }
                Some(overlay::ScreenShape::Cross(c)) => c.distance(p) <= 6.0,
                None => false,
            }
        })
    }

    /// The centre: the layout's panes.
    fn viewport(&mut self, ui: &mut Ui) {
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

    /// The acquisition plane (slice k), where the tools draw; with `crosshair` (MPR layouts) it shows
    /// the crosshair and Shift+click moves it.
    fn primary_view(&mut self, ui: &mut Ui, area: Rect, crosshair: bool) {
        let response = ui
            .allocate_rect(area, Sense::click_and_drag())
            .on_hover_cursor(match self.tool {
                Tool::Navigate => egui::CursorIcon::Default,
                Tool::Window => egui::CursorIcon::ResizeColumn,
                _ => egui::CursorIcon::Crosshair,
            });
        let ctx = ui.ctx().clone();
        let texture = self.slice_texture(&ctx);
        let painter = ui.painter_at(area);
        self.view = None;
        if let (Some(id), Some((entry, display))) = (texture, self.current()) {
            let v = &entry.volume;
            let [nx, ny, _] = v.size();
            let sp = v.spacing_mm();
            let physical = egui::vec2((nx as f64 * sp[0]) as f32, (ny as f64 * sp[1]) as f32);
            let scale = (area.width() / physical.x).min(area.height() / physical.y) * display.zoom;
            if scale.is_finite() && scale > 0.0 {
                let rect = Rect::from_center_size(area.center() + display.pan, physical * scale);
                let view = SliceView::new(rect, v);
                painter.image(id, view.rect, view.uv(), Color32::WHITE);
                let (name, [ci, cj], k) =
                    (mpr::plane_name(&v.direction(), 2), display.cross, display.k);
                self.view = Some(view);
                self.paint_threshold_preview(&ctx, &painter, &view);
                self.paint_regions(&ctx, &painter, &view);
                if crosshair {
                    let colour = theme::plane_colour(name);
                    paint_crosshair(&painter, &view, [ci as f64, cj as f64], colour);
                    pane_title(&painter, area, &format!("{name} · k {k}"), colour);
                }
            }
        } else if let Some(p) = &self.series_preview {
            // Read-only until the whole series is decoded: no tools, no cursor read-out.
            let scale = (area.width() / p.physical.x).min(area.height() / p.physical.y);
            if scale.is_finite() && scale > 0.0 {
                let rect = Rect::from_center_size(area.center(), p.physical * scale);
                painter.image(p.texture.id(), rect, p.uv, Color32::WHITE);
            }
            pane_title(
                &painter,
                area,
                &format!(
                    "slice {} of {} · decoding the series…",
                    p.index + 1,
                    p.count
                ),
                theme::MUTED,
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        } else if self.jobs.is_empty() && self.images.is_empty() && self.errors.is_empty() {
            // The start screen.
            let recent = self.recent.as_deref().unwrap_or_default();
            if let Some(action) = super::welcome::start_screen(ui, area, recent) {
                self.commands.push(match action {
                    super::welcome::Action::OpenDemo => Command::OpenDemo,
                    super::welcome::Action::Open(paths) => Command::Load(paths),
                    super::welcome::Action::NewProject(path) => Command::NewProject(path),
                    super::welcome::Action::Settings => Command::ShowSettings,
                });
            }
        } else if self.jobs.is_empty()
            && self.images.is_empty()
            && let Some(e) = self.errors.last()
        {
            ui.put(
                area.shrink(40.0),
                egui::Label::new(RichText::new(e).color(theme::ERROR_MUTED)).wrap(),
            );
        } else if !self.jobs.is_empty() {
            painter.text(
                area.center(),
                egui::Align2::CENTER_CENTER,
                "Loading…",
                egui::FontId::proportional(20.0),
                theme::MUTED,
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(250));
        }
        let k = self.current().map(|(_, d)| d.k);
        if let (Some(view), Some(k), Some(p)) = (self.view, k, response.hover_pos())
            && let Some([i, j]) = view.voxel_at(p)
        {
            let [u, w] = view.voxel_from_screen(p);
            self.hover_voxel = Some(([i, j, k], [u, w, k as f64]));
            let shift = ui.input(|i| i.modifiers.shift);
            if crosshair
                && shift
                && (response.clicked() || response.dragged_by(PointerButton::Primary))
            {
                self.commands.push(Command::SetCursor([i, j, k]));
                return;
            }
        }

        if response.contains_pointer() {
            let (wheel, zoom_mod) = (wheel_lines(ui), ui.input(|i| i.modifiers.command));
            if zoom_mod {
                if wheel != 0.0
                    && let Some(p) = response.hover_pos()
                {
                    self.commands.push(Command::Zoom {
                        factor: 1.15f32.powf(wheel),
                        about: p,
                    });
                }
            } else {
                self.wheel_steps += wheel;
                let whole = self.wheel_steps.trunc();
                if whole != 0.0 {
                    self.wheel_steps -= whole;
                    self.commands.push(Command::StepSlice(whole as i64));
                }
            }
        }
        if response.dragged_by(PointerButton::Middle) {
            self.commands.push(Command::Pan(response.drag_delta()));
        }
        let windowing = response.dragged_by(PointerButton::Secondary)
            || (self.tool == Tool::Window && response.dragged_by(PointerButton::Primary));
        if windowing {
            self.window_drag(&response);
        }
        if let (Some(view), Some(k)) = (self.view, self.current().map(|(_, d)| d.k)) {
            self.tool_input(&response, &painter, view, k, 2);
        }
    }

    /// Window change by a drag over any view: horizontal = width, vertical = centre, scaled to the
    /// image's value range.
    fn window_drag(&mut self, response: &egui::Response) {
        let Some((entry, _)) = self.current() else {
            return;
        };
        let range = entry.stats.max - entry.stats.min;
        let per_point = if range.is_finite() && range > 0.0 {
            range / 500.0
        } else {
            1.0
        };
        let d = response.drag_delta();
        self.commands.push(Command::AdjustWindow {
            dwidth: f64::from(d.x) * per_point,
            dcenter: f64::from(d.y) * per_point,
        });
    }

    /// The plane across voxel axis `fixed` through the crosshair (MPR layouts): the image, masks and
    /// boxes cut by it, the crosshair; click or drag moves the crosshair, the wheel moves the plane,
    /// right-drag windows. The annotation tools draw in the acquisition plane.
    fn across_view(&mut self, ui: &mut Ui, area: Rect, fixed: usize) {
        let (response, painter) = pane(ui, area, egui::CursorIcon::Crosshair);
        let ctx = ui.ctx().clone();
        let Some((entry, display)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get(s)?)))
        else {
            return;
        };
        let volume = &entry.volume;
        let axes = slice::plane_axes(fixed);
        let index = display.cross[fixed];
        let cursor = [display.cross[0], display.cross[1], display.k];
        let max_side = ctx.input(|i| i.max_texture_side);
        let (window, photometric) = (display.window, volume.meta.photometric);
        let texture = cached_texture(
            &mut self.plane_textures[fixed],
            &ctx,
            "voxmark-plane",
            (display.uid, fixed, index, window),
            egui::TextureOptions::LINEAR,
            || {
                let values = slice::extract_plane(volume, fixed, index, max_side);
                slice::to_image(&values, window, photometric)
            },
        );
        let physical = SliceView::physical_size(volume, axes);
        let scale = (area.width() / physical.x).min(area.height() / physical.y);
        if !(scale.is_finite() && scale > 0.0) {
            return;
        }
        let view = SliceView::plane(
            Rect::from_center_size(area.center(), physical * scale),
            volume,
            axes,
        );
        painter.image(texture, view.rect, view.uv(), Color32::WHITE);
        self.plane_views[fixed] = Some(view);
        if let Some(p) = self.project.as_ref()
            && let Some(notes) = entry.project_image.and_then(|image| p.notes(image))
        {
            let doc = p.doc();
            let lit =
                |r: &Region| self.highlight.contains(&r.id) || self.selected_region == Some(r.id);
            let filter = self.region_filter;
            let regions: Vec<&Region> = notes
                .regions
                .iter()
                .filter_map(|r| doc.regions.get(r))
                .filter(|r| filter.shows(&r.author))
                .collect();
            let layers = mask_layers(doc, &regions, lit);
            if !layers.is_empty() {
                let step = slice::subsample_step(view.size[0], view.size[1], max_side);
                let mut highlighted: Vec<RegionId> = self.highlight.iter().copied().collect();
                highlighted.extend(self.selected_region);
                let id = cached_texture(
                    &mut self.plane_overlays[fixed],
                    &ctx,
                    "voxmark-plane-masks",
                    (
                        display.uid,
                        fixed,
                        index,
                        step,
                        p.revision(),
                        highlighted,
                        filter,
                    ),
                    egui::TextureOptions::NEAREST,
                    || overlay::mask_overlay_plane(&layers, fixed, index, view.size, step),
                );
                painter.image(id, view.rect, view.uv(), Color32::WHITE);
            }
            for r in &regions {
                if let Some(shape) = overlay::plane_shape(&r.shape, fixed, index, &view) {
                    overlay::paint(
                        &painter,
                        &shape,
                        overlay::style(r, &doc.labels, lit(r)),
                        None,
                    );
                }
            }
        }
        let name = mpr::plane_name(&volume.direction(), fixed);
        let colour = theme::plane_colour(name);
        let at = axes.map(|a| cursor[a] as f64);
        paint_crosshair(&painter, &view, at, colour);
        let axis = ["i", "j"][fixed.min(1)];
        pane_title(&painter, area, &format!("{name} · {axis} {index}"), colour);

        // The voxel under the pointer, in the volume's (i, j, k).
        let under = response.hover_pos().and_then(|p| {
            let [u, w] = view.voxel_at(p)?;
            let [cu, cw] = view.voxel_from_screen(p);
            let (mut ijk, mut continuous) = (cursor, cursor.map(|c| c as f64));
            ijk[fixed] = index;
            continuous[fixed] = index as f64;
            [ijk[axes[0]], ijk[axes[1]]] = [u, w];
            [continuous[axes[0]], continuous[axes[1]]] = [cu, cw];
            Some((ijk, continuous))
        });
        if under.is_some() {
            self.hover_voxel = under;
        }
        // Box, brush, eraser and point draw here too (Shift+click still moves the crosshair).
        let shift = ui.input(|i| i.modifiers.shift);
        let drawing = tools::draws_across(self.tool)
            && self.current_project_image().is_some()
            && (!shift || tools::busy(&self.gesture));
        if drawing {
            self.tool_input(&response, &painter, view, index, fixed);
        } else if (response.clicked() || response.dragged_by(PointerButton::Primary))
            && let Some(p) = response.interact_pointer_pos()
            && let Some([u, w]) = view.voxel_at(p)
        {
            let mut ijk = cursor;
            [ijk[axes[0]], ijk[axes[1]]] = [u, w];
            self.commands.push(Command::SetCursor(ijk));
        }
        if response.contains_pointer() {
            self.wheel_steps += wheel_lines(ui);
            let whole = self.wheel_steps.trunc();
            if whole != 0.0 {
                self.wheel_steps -= whole;
                self.commands.push(Command::StepPlane {
                    fixed,
                    delta: whole as i64,
                });
            }
        }
        if response.dragged_by(PointerButton::Secondary) {
            self.window_drag(&response);
        }
    }

    /// The 3D view (2×2 layout): drag orbits, the wheel zooms, double-click resets; the menu in its
    /// corner switches MIP and the DVR presets. The crosshair is marked where it lies in the volume.
    fn view_3d(&mut self, ui: &mut Ui, area: Rect) {
        let (response, painter) = pane(ui, area, egui::CursorIcon::Grab);
        let ctx = ui.ctx().clone();
        let Some((entry, display)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get(s)?)))
        else {
            return;
        };
        let volume = &entry.volume;
        self.rect_3d = Some(area);
        let ppp = ctx.pixels_per_point();
        // A slow renderer (a CPU rasteriser) gets half the pixels while the camera moves.
        let slow = self
            .view3d
            .last_render
            .is_some_and(|d| d > std::time::Duration::from_millis(40));
        let factor = if slow && response.dragged() { 0.5 } else { 1.0 };
        let size_px = [area.width(), area.height()]
            .map(|x| ((x * ppp * factor).round() as u32).clamp(1, 4096));
        let (orbit, mode) = (display.orbit, display.mode3d);
        match self.view3d.picture(
            &ctx,
            volume,
            (display.uid, 0),
            (entry.stats.min, entry.stats.max),
            orbit,
            mode,
            display.window,
            size_px,
        ) {
            Ok(id) => {
                let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
                painter.image(id, area, uv, Color32::WHITE);
                let ijk = [display.cross[0], display.cross[1], display.k].map(|c| c as f64);
                let lps = volume.world_from_voxel().apply(ijk);
                if let Some(p) = View3d::screen_of(volume, orbit, area, size_px, lps) {
                    painter.circle_stroke(p, 4.0, egui::Stroke::new(1.5, theme::CROSS_3D));
                }
            }
            Err(e) => {
                painter.text(
                    area.center(),
                    egui::Align2::CENTER_CENTER,
                    e,
                    egui::FontId::proportional(14.0),
                    theme::MUTED,
                );
            }
        }
        pane_title(
            &painter,
            area,
            &format!("3D · {}", mode.name()),
            theme::CROSS_3D,
        );
        let corner = Rect::from_min_size(
            area.right_top() + Vec2::new(-206.0, 4.0),
            Vec2::new(200.0, 24.0),
        );
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(corner));
        egui::ComboBox::new("mode3d", "Rendering")
            .selected_text(mode.name())
            .width(120.0)
            .show_ui(&mut child, |ui| {
                for m in Mode3d::all() {
                    if ui.selectable_label(m == mode, m.name()).clicked() {
                        self.commands.push(Command::SetMode3d(m));
                    }
                }
            });
        if response.double_clicked() {
            self.commands.push(Command::ResetOrbit);
        } else if response.dragged_by(PointerButton::Primary) {
            self.commands.push(Command::Orbit(response.drag_delta()));
        }
        if response.dragged_by(PointerButton::Secondary) {
            self.window_drag(&response);
        }
        if response.contains_pointer() {
            let wheel = wheel_lines(ui);
            if wheel != 0.0 {
                self.commands.push(Command::Zoom3d(1.15f32.powf(wheel)));
            }
        }
    }

    /// The active tool's gesture and its drawing over the slice.
    /// `view` shows the plane holding voxel axis `fixed` at `k` (2: the acquisition plane, where all
    /// tools work; 0 or 1: a plane across, where those of [`tools::draws_across`] do).
    fn tool_input(
        &mut self,
        response: &egui::Response,
        painter: &egui::Painter,
        view: SliceView,
        k: usize,
        fixed: usize,
    ) {
        let Some((entry, _)) = self.current() else {
            return;
        };
        // A gesture belongs to the plane it began in.
        if tools::busy(&self.gesture) && self.gesture_plane != fixed {
            return;
        }
        let spacing_mm = entry.volume.spacing_mm();
        let editable = self.current_project_image().is_some();
        if self.tool.edits() && !editable {
            return;
        }
        let pointer = response.hover_pos().or(response.interact_pointer_pos());
        // Only the select tool clicks regions; skip the hit test for the others.
        let hovered = (self.tool == Tool::Navigate && fixed == 2)
            .then(|| pointer.and_then(|p| self.region_at(&view, k, p)))
            .flatten();
        // Boxes are moved and resized in the acquisition plane.
        let selected_shape = self.selected_region.filter(|_| fixed == 2).and_then(|r| {
            Some((
                r,
                self.project.as_ref()?.doc().regions.get(&r)?.shape.clone(),
            ))
        });
        let input = tools::Input {
            response,
            view: &view,
            k,
            selected: selected_shape.as_ref().map(|(r, s)| (*r, s)),
            hovered,
            spacing_mm,
            fixed,
        };
        let mut out = Vec::new();
        let was_busy = tools::busy(&self.gesture);
        tools::interact(self.tool, &mut self.gesture, &input, &mut out);
        if !was_busy && tools::busy(&self.gesture) {
            self.gesture_plane = fixed;
        }
        tools::paint(
            painter,
            self.tool,
            &self.gesture,
            &self.settings,
            &input,
            pointer,
        );
        self.commands.extend(out);
    }

    /// In-range voxels of the slice tinted while the threshold tool is active.
    fn paint_threshold_preview(
        &mut self,
        ctx: &egui::Context,
        painter: &egui::Painter,
        view: &SliceView,
    ) {
        if self.tool != Tool::Threshold {
            return;
        }
        let (Some(s), Some(((cs, ck), values))) = (self.selected, self.slice_cache.as_ref()) else {
            return;
        };
        let Some(display) = self.displays.get(s) else {
            return;
        };
        if (*cs, *ck) != (s, display.k) {
            return;
        }
        let (lo, hi) = self.settings.threshold;
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let key = (s, display.k, lo.to_bits(), hi.to_bits());
        if self.preview.as_ref().is_none_or(|t| t.key != key) {
            let c = values.components.max(1);
            let tint = theme::THRESHOLD_PREVIEW;
            let pixels: Vec<Color32> = values
                .values
                .chunks_exact(c)
                .map(|px| {
                    let x = f64::from(px[0]);
                    if x >= lo && x <= hi {
                        tint
                    } else {
                        Color32::TRANSPARENT
                    }
                })
                .collect();
            if pixels.len() != values.width * values.height {
                return;
            }
            let image = egui::ColorImage::new([values.width, values.height], pixels);
            match &mut self.preview {
                Some(t) => {
                    t.texture.set(image, egui::TextureOptions::NEAREST);
                    t.key = key;
                }
                None => {
                    let texture =
                        ctx.load_texture("voxmark-threshold", image, egui::TextureOptions::NEAREST);
                    self.preview = Some(PreviewTexture { key, texture });
                }
            }
        }
        if let Some(t) = &self.preview {
            painter.image(t.texture.id(), view.rect, view.uv(), Color32::WHITE);
        }
    }

    /// The status bar; true when its Cancel button (of a model job) was clicked.
    fn status_bar(&self, ui: &mut Ui) -> bool {
        let mut cancel = false;
        ui.horizontal(|ui| {
            let Some((entry, display)) = self.current() else {
                ui.weak("No image");
                return;
            };
            let v = &entry.volume;
            let nz = v.size()[2];
            match self.hover_voxel {
                Some((ijk, continuous)) => {
                    let mm = v.world_from_voxel().apply(continuous);
                    let values: Vec<String> = (0..v.components())
                        .filter_map(|c| v.value(ijk, c))
                        .map(format_value)
                        .collect();
                    let unit = if v.meta.modality.as_deref() == Some("CT") {
                        " HU"
                    } else {
                        ""
                    };
                    ui.label(format!("voxel ({}, {}, {})", ijk[0], ijk[1], ijk[2]));
                    ui.label(format!("LPS ({:.1}, {:.1}, {:.1}) mm", mm[0], mm[1], mm[2]));
                    ui.label(format!("value {}{unit}", values.join(", ")));
                }
                _ => {
                    ui.weak("Move the cursor over the image");
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(p) = &self.project {
                    let state = match p.save_state() {
                        SaveState::NotSaved { why, journaled } => {
                            let kept = match journaled {
                                0 => String::new(),
                                n => format!(" ({n} in the recovery journal)"),
                            };
                            let short: String = why.chars().take(60).collect();
                            let more = if short.len() < why.len() { "…" } else { "" };
                            (
                                RichText::new(format!("not saved: {short}{more}{kept}"))
                                    .color(theme::ERROR_MUTED)
                                    .into(),
                                Some(why),
                            )
                        }
                        SaveState::Saved => {
                            (RichText::new("saved").color(theme::MUTED).into(), None)
                        }
                        SaveState::Saving(n) => (
                            RichText::new(format!("saving {n}…"))
                                .color(theme::MUTED)
                                .into(),
                            None,
                        ),
                        SaveState::Journaled(n) => (
                            RichText::new(format!("saved · {n} in the recovery journal"))
                                .color(theme::ERROR_MUTED)
                                .into(),
                            Some("File → Apply the recovery journal".to_string()),
                        ),
                    };
                    let (text, hover): (egui::WidgetText, Option<String>) = state;
                    let r = ui.label(text);
                    if let Some(h) = hover {
                        r.on_hover_text(h);
                    }
                    ui.separator();
                }
                ui.label(format!("tool: {}", self.tool.name()));
                if let Some(job) = &self.fill {
                    ui.separator();
                    ui.spinner();
                    ui.label(format!(
                        "filling… {:.1} s",
                        job.started.elapsed().as_secs_f32()
                    ));
                }
                if let Some(job) = &self.models.running {
                    ui.separator();
                    cancel = ui
                        .small_button("Cancel")
                        .on_hover_text("stop the model job at its next step")
                        .clicked();
                    let (done, total) = self.models.progress();
                    if total > 0 {
                        ui.add(
                            egui::ProgressBar::new(done as f32 / total as f32)
                                .desired_width(90.0)
                                .show_percentage(),
                        );
                    } else {
                        ui.spinner();
                    }
                    ui.label(format!(
                        "{}… {:.1} s",
                        job.what,
                        job.started.elapsed().as_secs_f32()
                    ));
                }
                ui.separator();
                if let Some(m) = &self.message {
                    ui.label(RichText::new(m).color(theme::MUTED));
                    ui.separator();
                }
                let preset = display
                    .preset
                    .and_then(|p| entry.presets.get(p))
                    .map_or_else(String::new, |(n, _)| format!(" ({n})"));
                ui.label(format!(
                    "C {} W {}{preset}",
                    format_value(display.window.center),
                    format_value(display.window.width)
                ));
                ui.separator();
                ui.label(format!(
                    "slice {} of {nz} (k = {})",
                    display.k + 1,
                    display.k
                ));
            });
        });
        cancel
    }

    fn help(&mut self, ctx: &egui::Context) {
        let graphics = &self.graphics;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut self.show_help)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (keys, what) in super::keymap::help_rows() {
                            ui.label(RichText::new(keys).strong());
                            ui.label(what);
                            ui.end_row();
                        }
                    });
                ui.add_space(6.0);
                ui.weak(format!("Graphics: {graphics}"));
                match super::models::inference_status(ui.ctx()) {
                    Some(line) => ui.weak(line),
                    None => {
                        ui.ctx()
                            .request_repaint_after(std::time::Duration::from_millis(50));
                        ui.weak("Inference: looking for ONNX Runtime…")
                    }
                };
            });
    }
}

/// The mask regions among `regions` as overlay layers, styled (highlighted where `lit` says).
fn mask_layers<'a>(
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
fn pane(ui: &mut Ui, area: Rect, cursor: egui::CursorIcon) -> (egui::Response, egui::Painter) {
    let response = ui
        .allocate_rect(area, Sense::click_and_drag())
        .on_hover_cursor(cursor);
    (response, ui.painter_at(area))
}

/// Mouse-wheel movement this frame in lines (pixel and page deltas converted).
fn wheel_lines(ui: &Ui) -> f32 {
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
fn paint_crosshair(painter: &egui::Painter, view: &SliceView, at: [f64; 2], colour: Color32) {
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
fn pane_title(painter: &egui::Painter, area: Rect, text: &str, colour: Color32) {
    painter.text(
        area.min + Vec2::new(6.0, 4.0),
        egui::Align2::LEFT_TOP,
        text,
        egui::FontId::proportional(13.0),
        colour,
    );
}

/// Whose regions to draw (key C) and, when the image has heatmaps, how to draw them (key H).
fn view_filter_section(
    ui: &mut Ui,
    doc: &Document,
    image: ImageId,
    filter: RegionFilter,
    style: HeatmapStyle,
    heat_phrase: Option<PhraseId>,
    commands: &mut Vec<Command>,
) {
    let models_here = doc
        .regions
        .values()
        .any(|r| r.image == image && matches!(r.author, crate::core::Author::Model { .. }))
        || doc.heatmaps.values().any(|h| h.image == image);
    if !models_here && filter == RegionFilter::All {
        return;
    }
    ui.horizontal(|ui| {
        ui.label("Show")
            .on_hover_text("whose regions the views draw (C)");
        for f in RegionFilter::ALL {
            if ui.selectable_label(filter == f, f.name()).clicked() {
                commands.push(Command::SetRegionFilter(f));
            }
        }
    });
    if !doc.heatmaps.values().any(|h| h.image == image) {
        return;
    }
    ui.horizontal(|ui| {
        let mut next = style;
        ui.checkbox(&mut next.visible, "Heatmap")
            .on_hover_text("H; pick a phrase's heatmap with its chip, or hover the phrase");
        let label = ui.label("opacity");
        ui.add(egui::Slider::new(&mut next.opacity, 0.0..=1.0).show_value(false))
            .labelled_by(label.id);
        let combo = egui::ComboBox::from_id_salt("heatmap-colormap")
            .selected_text(next.colormap.name())
            .width(70.0)
            .show_ui(ui, |ui| {
                for c in [
                    crate::render::Colormap::Hot,
                    crate::render::Colormap::Viridis,
                ] {
                    ui.selectable_value(&mut next.colormap, c, c.name());
                }
            });
        grounding::name_widget(&combo.response, egui::Role::ComboBox, "heatmap colours");
        if next != style {
            commands.push(Command::SetHeatmapStyle(next));
        }
    });
    if heat_phrase.is_none() {
        ui.label(
            RichText::new("hover a phrase, or click its heatmap chip, to see its map")
                .small()
                .color(theme::MUTED),
        );
    }
}

/// The labels: click one to draw with it, edit its name, click its swatch for the next colour.
fn labels_section(
    ui: &mut Ui,
    doc: &Document,
    active: Option<LabelId>,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("Labels");
        if ui.small_button("Add label").clicked() {
            commands.push(Command::AddLabel);
        }
    });
    if doc.labels.is_empty() {
        ui.weak("Drawing adds \"Label 1\".");
    }
    for label in doc.labels.values() {
        ui.horizontal(|ui| {
            let [r, g, b, _] = label.color;
            let swatch = ui
                .add(
                    egui::Button::new("")
                        .fill(Color32::from_rgb(r, g, b))
                        .min_size(egui::vec2(14.0, 14.0)),
                )
                .on_hover_text("next colour");
            if swatch.clicked() {
                let at = theme::LABEL_PALETTE
                    .iter()
                    .position(|c| *c == label.color)
                    .map_or(0, |n| (n + 1) % theme::LABEL_PALETTE.len());
                let mut after = label.clone();
                after.color = theme::LABEL_PALETTE[at];
                commands.push(Command::UpdateLabel(after));
            }
            if ui
                .radio(active == Some(label.id), "")
                .on_hover_text("draw with this label")
                .clicked()
            {
                commands.push(Command::SetActiveLabel(label.id));
            }
            let id = ui.make_persistent_id(("label-name", label.id));
            let mut name = ui
                .data(|d| d.get_temp::<String>(id))
                .unwrap_or_else(|| label.name.clone());
            let edit = ui.add(egui::TextEdit::singleline(&mut name).desired_width(140.0));
            grounding::name_widget(&edit, egui::Role::TextInput, "label name");
            if edit.changed() {
                ui.data_mut(|d| d.insert_temp(id, name.clone()));
            }
            if edit.lost_focus() {
                ui.data_mut(|d| d.remove::<String>(id));
                let name = name.trim();
                if !name.is_empty() && name != label.name {
                    let mut after = label.clone();
                    after.name = name.to_owned();
                    commands.push(Command::UpdateLabel(after));
                }
            }
        });
    }
}

/// Category, "no visible grounding", link of the selected region, delete.
fn phrase_controls(
    ui: &mut Ui,
    ph: &crate::core::Phrase,
    selected_region: Option<RegionId>,
    linked: &[RegionId],
    commands: &mut Vec<Command>,
) {
    ui.horizontal_wrapped(|ui| {
        let combo = egui::ComboBox::from_id_salt(("category", ph.id))
            .selected_text(ph.category.as_deref().unwrap_or("category"))
            .width(120.0)
            .show_ui(ui, |ui| {
                if ui.selectable_label(ph.category.is_none(), "none").clicked() {
                    commands.push(Command::SetCategory {
                        phrase: ph.id,
                        category: None,
                    });
                }
                for c in CATEGORIES {
                    if ui
                        .selectable_label(ph.category.as_deref() == Some(c), c)
                        .clicked()
                    {
                        commands.push(Command::SetCategory {
                            phrase: ph.id,
                            category: Some(c.to_owned()),
                        });
                    }
                }
            });
        grounding::name_widget(&combo.response, egui::Role::ComboBox, "category");
        let mut none_visible = ph.grounding == Grounding::NoVisible;
        if ui
            .add_enabled(
                linked.is_empty(),
                egui::Checkbox::new(&mut none_visible, "none visible"),
            )
            .on_hover_text(
                "nothing in the image grounds this phrase (not the same as not annotated yet)",
            )
            .changed()
        {
            commands.push(Command::SetGrounding {
                phrase: ph.id,
                grounding: if none_visible {
                    Grounding::NoVisible
                } else {
                    Grounding::Pending
                },
            });
        }
        if let Some(r) = selected_region {
            let text = if linked.contains(&r) {
                format!("Unlink #{r}")
            } else {
                format!("Link #{r}")
            };
            if ui.small_button(text).on_hover_text("K").clicked() {
                commands.push(Command::ToggleLink {
                    phrase: ph.id,
                    region: r,
                });
            }
        }
        if ui
            .small_button("Delete")
            .on_hover_text("delete the phrase; its regions stay")
            .clicked()
        {
            commands.push(Command::DeletePhrase(ph.id));
        }
    });
}

/// The "new phrase" command for characters `[start, end)` of the report: the span's text, exactly.
fn phrase_from_selection(report: &str, (start, end): (usize, usize)) -> Option<Command> {
    let text: String = report
        .chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    (!text.trim().is_empty() && end <= report.chars().count()).then_some(Command::AddPhrase {
        span: Some((start, end)),
        text,
    })
}

/// The selected region: label, status, author, and delete.
fn region_properties(
    ui: &mut Ui,
    p: &DocumentSession,
    r: &Region,
    (k, slices): (usize, usize),
    commands: &mut Vec<Command>,
) {
    ui.add_space(6.0);
    ui.heading(format!("Region #{}", r.id));
    ui.label(
        RichText::new(format!(
            "{} · {} · {}",
            r.shape.kind(),
            r.status.as_str(),
            r.author
        ))
        .small()
        .color(theme::MUTED),
    );
    if let Some(c) = r.confidence {
        ui.label(
            RichText::new(format!("confidence {c:.2}"))
                .small()
                .color(theme::MUTED),
        );
    }
    if let Some(m) = p.doc().masks.get(&r.id) {
        ui.label(
            RichText::new(format!("{} voxels", m.count()))
                .small()
                .color(theme::MUTED),
        );
    }
    if let Some((k0, k1)) = tools::box_slices(&r.shape) {
        ui.horizontal(|ui| {
            let span = if k0 == k1 {
                format!("slice {k0}")
            } else {
                format!("slices {k0}–{k1}")
            };
            ui.label(RichText::new(span).small().color(theme::MUTED));
            let extend = if k < k0 {
                Some((k, k1))
            } else if k > k1 {
                Some((k0, k))
            } else {
                None
            };
            if let Some((a, b)) = extend
                && ui
                    .small_button(format!("Extend to slice {k}"))
                    .on_hover_text("a 3D box over every slice between")
                    .clicked()
                && let Some(shape) = tools::box_over_slices(&r.shape, a, b, slices)
            {
                commands.push(Command::SetShape {
                    region: r.id,
                    shape,
                });
            }
            if k0 != k1
                && (k0..=k1).contains(&k)
                && ui
                    .small_button(format!("Only slice {k}"))
                    .on_hover_text("back to a 2D box on this slice")
                    .clicked()
                && let Some(shape) = tools::box_over_slices(&r.shape, k, k, slices)
            {
                commands.push(Command::SetShape {
                    region: r.id,
                    shape,
                });
            }
        });
    }
    let current = r
        .label
        .and_then(|l| p.doc().labels.get(&l))
        .map_or("no label", |l| l.name.as_str());
    let combo = egui::ComboBox::from_id_salt(("region-label", r.id))
        .selected_text(current)
        .show_ui(ui, |ui| {
            for l in p.doc().labels.values() {
                if ui
                    .selectable_label(r.label == Some(l.id), &l.name)
                    .clicked()
                {
                    commands.push(Command::SetRegionLabel {
                        region: r.id,
                        label: l.id,
                    });
                }
            }
        });
    grounding::name_widget(&combo.response, egui::Role::ComboBox, "region label");
    ui.horizontal(|ui| {
        if r.status != Status::Accepted && ui.button("Accept").clicked() {
            commands.push(Command::SetStatus {
                region: r.id,
                status: Status::Accepted,
            });
        }
        if r.status != Status::Rejected && ui.button("Reject").clicked() {
            commands.push(Command::SetStatus {
                region: r.id,
                status: Status::Rejected,
            });
        }
        if ui.button("Delete").on_hover_text("Delete").clicked() {
            commands.push(Command::DeleteRegion(r.id));
        }
    });
}

/// One line about a region for tooltips: id, label, kind, status, author.
fn region_summary(p: &DocumentSession, id: RegionId) -> String {
    let Some(r) = p.doc().regions.get(&id) else {
        return format!("region {id} (not found)");
    };
    let label = r
        .label
        .and_then(|l| p.doc().labels.get(&l))
        .map_or("no label", |l| l.name.as_str());
    let confidence = r
        .confidence
        .map_or_else(String::new, |c| format!(" · confidence {c:.2}"));
    let k = region_slice(p, id).map_or_else(String::new, |k| format!(" · slice {k}"));
    format!(
        "#{id} {label}\n{} · {} · {}{confidence}{k}",
        r.shape.kind(),
        r.status.as_str(),
        r.author
    )
}

/// The slice that shows a region best (click a chip or row to go there).
fn region_slice(p: &DocumentSession, id: RegionId) -> Option<usize> {
    let r = p.doc().regions.get(&id)?;
    session::slice_of(&r.shape, p.doc().masks.get(&id))
}

/// Whether a region has anything on slice `k`.
fn region_on_slice(p: &DocumentSession, id: RegionId, k: usize) -> bool {
    let Some(r) = p.doc().regions.get(&id) else {
        return false;
    };
    match p.doc().masks.get(&id) {
        Some(m) => u32::try_from(k).is_ok_and(|k| {
            m.tiles()
                .range((k, 0, 0)..=(k, u32::MAX, u32::MAX))
                .next()
                .is_some()
        }),
        None => overlay::on_slice(&r.shape, k),
    }
}

/// The most voxels one threshold fill takes (a 512×512×300 CT has 78.6 M).
const FILL_LIMIT: usize = 100_000_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The label a new region gets: the active one, else the first, else a new "Label 1" (whose
/// `AddLabel` edit is returned to go first in the same undo step).
fn label_for_drawing(doc: &Document, active: Option<LabelId>) -> (Vec<Edit>, LabelId) {
    if let Some(l) = active.filter(|l| doc.labels.contains_key(l)) {
        return (Vec::new(), l);
    }
    if let Some(l) = doc.first_label() {
        return (Vec::new(), l);
    }
    let label = next_label(doc);
    let id = label.id;
    (vec![Edit::AddLabel(label)], id)
}

/// A new label: "Label N" with the next palette colour.
fn next_label(doc: &Document) -> Label {
    let mut n = doc.labels.len() + 1;
    while doc.labels.values().any(|l| l.name == format!("Label {n}")) {
        n += 1;
    }
    Label {
        id: doc.new_label_id(&format!("Label {n}")),
        name: format!("Label {n}"),
        color: theme::LABEL_PALETTE[(n - 1) % theme::LABEL_PALETTE.len()],
    }
}

/// A region drawn by the viewer's user now.
fn new_region(
    id: RegionId,
    image: ImageId,
    label: LabelId,
    shape: Shape,
    p: &DocumentSession,
    now: i64,
) -> Region {
    Region {
        id,
        image,
        label: Some(label),
        shape,
        author: p.who().clone(),
        prompt: None,
        status: Status::Accepted,
        confidence: None,
        created_ms: now,
        modified_ms: now,
    }
}

/// The mask region the active label paints into on `image`, added (with its label if needed)
/// inside the open transaction when there is none yet.
fn mask_target(
    p: &mut DocumentSession,
    image: ImageId,
    size: [usize; 3],
    active: Option<LabelId>,
    phrase: Option<PhraseId>,
    now: i64,
) -> Result<(RegionId, LabelId), String> {
    let (edits, label) = label_for_drawing(p.doc(), active);
    let existing = p
        .doc()
        .regions
        .values()
        .find(|r| {
            r.image == image
                && r.label == Some(label)
                && r.shape == Shape::Mask
                && r.status != Status::Rejected
        })
        .map(|r| r.id);
    let id = match existing {
        Some(id) => {
            if let Some(ph) = phrase
                && !p.doc().links.contains(&(ph, id))
            {
                p.record(Edit::Link {
                    phrase: ph,
                    region: id,
                })?;
            }
            id
        }
        None => {
            for edit in edits {
                p.record(edit)?;
            }
            let id = crate::core::Id::new();
            let region = new_region(id, image, label, Shape::Mask, p, now);
            p.record(Edit::AddRegion {
                region,
                mask: Some(MaskTiles::new(size)),
                links: phrase.into_iter().collect(),
            })?;
            id
        }
    };
    if let Some(edit) = grounded(p.doc(), phrase, now) {
        p.record(edit)?;
    }
    Ok((id, label))
}

/// `phrase` when it belongs to `image` (drawing links to it).
fn phrase_on(doc: &Document, phrase: Option<PhraseId>, image: ImageId) -> Option<PhraseId> {
    phrase.filter(|ph| doc.phrases.get(ph).is_some_and(|x| x.image == image))
}

/// The edit marking `phrase` as annotated, when it is not yet.
fn grounded(doc: &Document, phrase: Option<PhraseId>, now: i64) -> Option<Edit> {
    let before = doc.phrases.get(&phrase?)?;
    (before.grounding != Grounding::Annotated).then(|| {
        let mut after = before.clone();
        after.grounding = Grounding::Annotated;
        after.modified_ms = now;
        Edit::UpdatePhrase {
            before: before.clone(),
            after,
        }
    })
}

/// A value with as many decimals as it needs (integers stay integers).
fn format_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
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
            && let Some(command) = super::recovery::offer(&ctx, p)
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
            let file = self.config.as_deref().map(super::prefs::file);
            match super::welcome::settings_window(&ctx, draft, file.as_deref()) {
                super::welcome::SettingsOutcome::Open => {}
                super::welcome::SettingsOutcome::Cancelled => self.settings_draft = None,
                super::welcome::SettingsOutcome::Save(prefs) => {
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
