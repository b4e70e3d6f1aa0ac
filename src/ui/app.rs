//! The viewer app: state, the commands the UI pushes during a frame, and the panels that draw it.
//!
//! Projects are shown read-only for now: regions, phrases and links are drawn and listed, never
//! changed (the annotation tools and `AppState::apply` of ARCHITECTURE.md §7 come next).

use super::loader::{self, Event as LoadEvent, ImageEntry, LoadJob};
use super::overlay::{self, MaskLayer};
use super::project::{self, OpenProject, RecordState};
use super::slice::{self, SliceValues, SliceView, Window};
use super::theme;
use crate::core::annotation::{Grounding, ImageId, PhraseId, RegionId};
use egui::{Color32, Event, Key, MouseWheelUnit, PointerButton, Pos2, Rect, RichText, Sense, Ui};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A change the UI asks for; applied in one place at the end of the frame (ARCHITECTURE.md §7).
enum Command {
    Load(Vec<PathBuf>),
    Select(usize),
    StepSlice(i64),
    SetSlice(usize),
    AdjustWindow { dwidth: f64, dcenter: f64 },
    NextPreset,
    ResetWindow,
    ToggleWindowMode,
    ToggleHelp,
}

/// Display settings of one image, kept apart from its voxels.
struct Display {
    k: usize,
    window: Window,
    /// Index into the image's window presets; `None` after a manual change or for the data range.
    preset: Option<usize>,
}

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

/// Image, slice, subsampling step and highlighted regions.
type OverlayKey = (usize, usize, usize, Vec<RegionId>);

/// The viewer's state.
pub struct ViewerApp {
    images: Vec<ImageEntry>,
    displays: Vec<Display>,
    non_images: Vec<crate::io::NonImageObject>,
    errors: Vec<String>,
    jobs: Vec<LoadJob>,
    next_job: u64,
    /// The open project, shown read-only.
    project: Option<OpenProject>,
    /// Regions to highlight this frame (those of the hovered phrase, chip or list row).
    highlight: BTreeSet<RegionId>,
    /// The phrase under the pointer this frame.
    hovered_phrase: Option<PhraseId>,
    selected: Option<usize>,
    /// Primary-button drag changes the window (right-drag always does).
    window_mode: bool,
    show_help: bool,
    /// Graphics backend and adapter, shown in the help window for bug reports.
    graphics: String,
    wheel_steps: f32,
    /// Where the slice was drawn last frame, for the status bar's cursor read-out.
    view: Option<SliceView>,
    slice_cache: Option<((usize, usize), SliceValues)>,
    texture: Option<SliceTexture>,
    overlay: Option<OverlayTexture>,
    commands: Vec<Command>,
}

impl ViewerApp {
    /// Creates the app and starts loading `paths` (if any) in the background.
    pub fn new(cc: &eframe::CreationContext<'_>, paths: Vec<PathBuf>) -> Self {
        let ctx = &cc.egui_ctx;
        theme::apply(ctx);
        let graphics = cc.wgpu_render_state.as_ref().map_or_else(
            || "unknown".to_owned(),
            |r| {
                let info = r.adapter.get_info();
                format!("{:?} · {}", info.backend, info.name)
            },
        );
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
            window_mode: false,
            show_help: false,
            graphics,
            wheel_steps: 0.0,
            view: None,
            slice_cache: None,
            texture: None,
            overlay: None,
            commands: Vec::new(),
        };
        if !paths.is_empty() {
            app.start_load(ctx, paths);
        }
        app
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

    /// Adds a decoded image with its display settings; returns its index.
    fn push_image(&mut self, entry: ImageEntry) -> usize {
        let nz = entry.image.volume.size()[2];
        let from_file = !entry.image.volume.meta.windows.is_empty();
        self.displays.push(Display {
            k: nz / 2,
            window: entry.default_window,
            preset: from_file.then_some(0),
        });
        self.images.push(entry);
        self.images.len() - 1
    }

    /// Drops the images of the project open before, keeping loose files.
    fn close_project(&mut self) {
        if self.project.take().is_none() {
            return;
        }
        let keep: Vec<bool> = self
            .images
            .iter()
            .map(|e| e.project_image.is_none())
            .collect();
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
        // Indices changed: nothing cached by index stays valid.
        self.selected = (!self.images.is_empty()).then_some(0);
        self.slice_cache = None;
        self.texture = None;
        self.overlay = None;
    }

    fn poll_jobs(&mut self, ctx: &egui::Context) {
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
    }

    fn on_load_event(&mut self, ctx: &egui::Context, job: u64, event: LoadEvent) {
        match event {
            LoadEvent::Failed(message) => self.errors.push(message),
            LoadEvent::Files(loaded) => {
                for entry in loaded.images {
                    self.push_image(entry);
                }
                self.non_images.extend(loaded.non_images);
                self.errors.extend(loaded.errors);
                if self.selected.is_none() && !self.images.is_empty() {
                    self.selected = Some(0);
                }
            }
            LoadEvent::ProjectOpened(contents) => {
                self.close_project();
                let project =
                    OpenProject::new(contents.path, job, contents.records, contents.document);
                ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!(
                    "{} — Voxmark",
                    project.name()
                )));
                self.project = Some(project);
            }
            LoadEvent::ProjectImage { id, result } => {
                let Some(p) = self.project.as_ref().filter(|p| p.job == job) else {
                    return; // from a project closed since
                };
                let Some(at) = p.records.iter().position(|r| r.id == id) else {
                    return;
                };
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
                    p.states[at] = state;
                }
            }
        }
    }

    fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::Load(paths) => {
                self.start_load(ctx, paths);
                return;
            }
            Command::Select(i) => {
                if i < self.images.len() {
                    self.selected = Some(i);
                }
                return;
            }
            Command::ToggleWindowMode => {
                self.window_mode = !self.window_mode;
                return;
            }
            Command::ToggleHelp => {
                self.show_help = !self.show_help;
                return;
            }
            _ => {}
        }
        let Some((entry, display)) = self
            .selected
            .and_then(|s| Some((self.images.get(s)?, self.displays.get_mut(s)?)))
        else {
            return;
        };
        let last_k = entry.image.volume.size()[2].saturating_sub(1);
        let presets = &entry.image.volume.meta.windows;
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
                display.preset = (!presets.is_empty()).then_some(0);
            }
            Command::NextPreset => {
                let next = display.preset.map_or(0, |p| p + 1);
                if let Some(p) = presets.get(next) {
                    display.window = Window::new(p.center, p.width);
                    display.preset = Some(next);
                } else {
                    display.window = Window::from_range(entry.stats.min, entry.stats.max);
                    display.preset = None;
                }
            }
            Command::Load(_)
            | Command::Select(_)
            | Command::ToggleWindowMode
            | Command::ToggleHelp => {}
        }
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
            .map_or(10, |(e, _)| (e.image.volume.size()[2] / 10).max(1)) as i64;
        let help = ctx.input(|i| {
            i.events
                .iter()
                .any(|e| matches!(e, Event::Text(t) if t == "?"))
        });
        ctx.input_mut(|i| {
            let mut key = |k: Key| i.consume_key(egui::Modifiers::NONE, k);
            let steps = [
                (Key::ArrowUp, Command::StepSlice(1)),
                (Key::ArrowDown, Command::StepSlice(-1)),
                (Key::PageUp, Command::StepSlice(page)),
                (Key::PageDown, Command::StepSlice(-page)),
                (Key::Home, Command::SetSlice(0)),
                (Key::End, Command::SetSlice(usize::MAX)),
                (Key::W, Command::ToggleWindowMode),
                (Key::R, Command::ResetWindow),
                (Key::P, Command::NextPreset),
                (Key::F1, Command::ToggleHelp),
            ];
            for (k, command) in steps {
                if key(k) {
                    self.commands.push(command);
                }
            }
            if key(Key::Escape) {
                self.show_help = false;
            }
        });
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
        let volume = &entry.image.volume;
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
            let v = &img.volume;
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
    fn current_project_image(&self) -> Option<(&OpenProject, ImageId)> {
        let (entry, _) = self.current()?;
        Some((self.project.as_ref()?, entry.project_image?))
    }

    /// Right panel: the report with phrase spans, the phrases with their regions' ids as chips, and
    /// the regions; hovering a phrase, chip or region highlights it in the view.
    fn annotations_panel(&mut self, ui: &mut Ui) {
        let Some((p, image)) = self.current_project_image() else {
            ui.weak("Open a .voxmark project to see its report, phrases and regions.");
            self.hovered_phrase = None;
            return;
        };
        let doc = &p.doc;
        let notes = p.notes(image).cloned().unwrap_or_default();
        let k = self.current().map_or(0, |(_, d)| d.k);
        let mut highlight = BTreeSet::new();
        let mut hovered_phrase = None;
        let mut commands = Vec::new();

        ui.heading("Report");
        match doc.images.get(&image).and_then(|i| i.report.as_deref()) {
            Some(report) => {
                let job = report_layout(
                    report,
                    notes
                        .phrases
                        .iter()
                        .filter_map(|id| doc.phrases.get(id))
                        .filter_map(|ph| Some((ph.id, ph.span?))),
                    self.hovered_phrase,
                    ui.style().text_styles[&egui::TextStyle::Body].clone(),
                );
                ui.label(job);
            }
            None => {
                ui.weak("No report text.");
            }
        }
        ui.add_space(6.0);
        ui.heading(format!("Phrases ({})", notes.phrases.len()));
        for id in &notes.phrases {
            let Some(ph) = doc.phrases.get(id) else {
                continue;
            };
            let linked: Vec<RegionId> = doc.regions_of(ph.id).collect();
            let frame = egui::Frame::new()
                .inner_margin(egui::Margin::same(4))
                .corner_radius(3.0)
                .fill(if self.hovered_phrase == Some(ph.id) {
                    theme::SELECTION_BG
                } else {
                    Color32::TRANSPARENT
                })
                .show(ui, |ui| {
                    ui.set_min_width(ui.available_width());
                    ui.label(&ph.text);
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
                        for r in &linked {
                            let chip = ui
                                .add(
                                    egui::Button::new(RichText::new(format!("#{r}")).small())
                                        .fill(theme::CHIP_BG)
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
                    if label.clicked()
                        && let Some(k) = region_slice(p, *r)
                    {
                        commands.push(Command::SetSlice(k));
                    }
                }
            });
        self.highlight = highlight;
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
        let Some(notes) = entry.project_image.and_then(|image| p.notes(image)) else {
            return;
        };
        let k = display.k;
        let doc = &p.doc;
        let regions: Vec<_> = notes
            .regions
            .iter()
            .filter_map(|r| doc.regions.get(r))
            .collect();
        // Masks: one texture of the plane, drawn with the slice's texture coordinates.
        let layers: Vec<MaskLayer<'_>> = regions
            .iter()
            .filter_map(|r| {
                Some(MaskLayer {
                    mask: doc.masks.get(&r.id)?,
                    style: overlay::style(r, &doc.labels, self.highlight.contains(&r.id)),
                })
            })
            .collect();
        if !layers.is_empty() {
            let max_side = ctx.input(|i| i.max_texture_side);
            let step = slice::subsample_step(view.size[0], view.size[1], max_side);
            let highlighted: Vec<RegionId> = self.highlight.iter().copied().collect();
            let key = (s, k, step, highlighted);
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
                let style = overlay::style(r, &doc.labels, self.highlight.contains(&r.id));
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

    fn toolbar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if ui
                .selectable_label(self.window_mode, "W/L")
                .on_hover_text("Drag to change the window (W)")
                .clicked()
            {
                self.commands.push(Command::ToggleWindowMode);
            }
            if ui.button("Reset window").on_hover_text("R").clicked() {
                self.commands.push(Command::ResetWindow);
            }
            if let Some((entry, display)) = self.current() {
                let nz = entry.image.volume.size()[2];
                if nz > 1 {
                    let mut k = display.k;
                    ui.label("Slice");
                    if ui.add(egui::Slider::new(&mut k, 0..=nz - 1)).changed() {
                        self.commands.push(Command::SetSlice(k));
                    }
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .button("?")
                    .on_hover_text("Keyboard shortcuts (F1)")
                    .clicked()
                {
                    self.commands.push(Command::ToggleHelp);
                }
                ui.label(
                    RichText::new("read-only: annotation tools come next").color(theme::MUTED),
                );
            });
        });
    }

    fn viewport(&mut self, ui: &mut Ui) {
        let area = ui.available_rect_before_wrap();
        let response = ui.allocate_rect(area, Sense::click_and_drag());
        let ctx = ui.ctx().clone();
        let texture = self.slice_texture(&ctx);
        let painter = ui.painter_at(area);
        self.view = None;
        if let (Some(id), Some((entry, _))) = (texture, self.current()) {
            let v = &entry.image.volume;
            let [nx, ny, _] = v.size();
            let sp = v.spacing_mm();
            let physical = egui::vec2((nx as f64 * sp[0]) as f32, (ny as f64 * sp[1]) as f32);
            let scale = (area.width() / physical.x).min(area.height() / physical.y);
            if scale.is_finite() && scale > 0.0 {
                let view =
                    SliceView::new(Rect::from_center_size(area.center(), physical * scale), v);
                painter.image(id, view.rect, view.uv(), Color32::WHITE);
                self.view = Some(view);
                self.paint_regions(&ctx, &painter, &view);
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
        if ui.ctx().input(|i| !i.raw.hovered_files.is_empty()) {
            painter.rect_stroke(
                area.shrink(2.0),
                0.0,
                egui::Stroke::new(3.0, theme::DROP_TARGET),
                egui::StrokeKind::Inside,
            );
        }

        if response.contains_pointer() {
            let wheel: f32 = ui.input(|i| {
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
            });
            self.wheel_steps += wheel;
            let whole = self.wheel_steps.trunc();
            if whole != 0.0 {
                self.wheel_steps -= whole;
                self.commands.push(Command::StepSlice(whole as i64));
            }
        }
        let windowing = response.dragged_by(PointerButton::Secondary)
            || (self.window_mode && response.dragged_by(PointerButton::Primary));
        if windowing && let Some((entry, _)) = self.current() {
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
    }

    fn status_bar(&self, ui: &mut Ui, pointer: Option<Pos2>) {
        ui.horizontal(|ui| {
            let Some((entry, display)) = self.current() else {
                ui.weak("No image");
                return;
            };
            let v = &entry.image.volume;
            let nz = v.size()[2];
            let under = pointer
                .zip(self.view)
                .and_then(|(p, view)| Some((view.voxel_at(p)?, view.voxel_from_screen(p))));
            match under {
                Some(([i, j], [u, w])) => {
                    let ijk = [i, j, display.k];
                    let mm = v.world_from_voxel().apply([u, w, display.k as f64]);
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
                let preset = display
                    .preset
                    .and_then(|p| v.meta.windows.get(p))
                    .and_then(|p| p.name.as_deref())
                    .map_or_else(String::new, |n| format!(" ({n})"));
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
                        for (keys, what) in SHORTCUTS {
                            ui.label(RichText::new(*keys).strong());
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
                ui.add_space(6.0);
                ui.weak(format!("Graphics: {graphics}"));
            });
    }
}

const SHORTCUTS: &[(&str, &str)] = &[
    ("Mouse wheel, Up / Down", "next / previous slice"),
    ("Page Up / Page Down", "10% of the slices forward / back"),
    ("Home / End", "first / last slice"),
    (
        "Right-drag",
        "window: horizontal = width, vertical = centre",
    ),
    ("W", "W/L mode: left-drag changes the window too"),
    ("P", "next window preset from the file, then the data range"),
    ("R", "reset the window"),
    ("Drop files", "load DICOM folders, NIfTI, PNG/JPEG/TIFF"),
    ("? / F1", "show or hide this list"),
];

/// The report with each phrase span on a background (the hovered phrase's brighter). Spans are in
/// characters; overlapping spans take the first phrase's background.
fn report_layout(
    report: &str,
    spans: impl Iterator<Item = (PhraseId, (usize, usize))>,
    hovered: Option<PhraseId>,
    font: egui::FontId,
) -> egui::text::LayoutJob {
    let chars: Vec<char> = report.chars().collect();
    let mut background = vec![Color32::TRANSPARENT; chars.len()];
    for (id, (start, end)) in spans {
        let bg = if hovered == Some(id) {
            theme::SPAN_BG_HOVERED
        } else {
            theme::SPAN_BG
        };
        for b in background.iter_mut().take(end).skip(start) {
            if hovered == Some(id) || *b == Color32::TRANSPARENT {
                *b = bg;
            }
        }
    }
    let mut job = egui::text::LayoutJob::default();
    let mut at = 0;
    while at < chars.len() {
        let bg = background[at];
        let run = background[at..].iter().take_while(|&&b| b == bg).count();
        let text: String = chars[at..at + run].iter().collect();
        job.append(
            &text,
            0.0,
            egui::TextFormat {
                font_id: font.clone(),
                color: theme::TEXT,
                background: bg,
                ..Default::default()
            },
        );
        at += run;
    }
    job
}

/// One line about a region for tooltips: id, label, kind, status, author.
fn region_summary(p: &OpenProject, id: RegionId) -> String {
    let Some(r) = p.doc.regions.get(&id) else {
        return format!("region {id} (not found)");
    };
    let label = r
        .label
        .and_then(|l| p.doc.labels.get(&l))
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
fn region_slice(p: &OpenProject, id: RegionId) -> Option<usize> {
    let r = p.doc.regions.get(&id)?;
    project::slice_of(&r.shape, p.doc.masks.get(&id))
}

/// Whether a region has anything on slice `k`.
fn region_on_slice(p: &OpenProject, id: RegionId, k: usize) -> bool {
    let Some(r) = p.doc.regions.get(&id) else {
        return false;
    };
    match p.doc.masks.get(&id) {
        Some(m) => u32::try_from(k).is_ok_and(|k| {
            m.tiles()
                .range((k, 0, 0)..=(k, u32::MAX, u32::MAX))
                .next()
                .is_some()
        }),
        None => overlay::on_slice(&r.shape, k),
    }
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

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.poll_jobs(&ctx);
        self.handle_input(&ctx);
        // Rebuilt by the right panel each frame; the hovered phrase is last frame's until then.
        self.highlight.clear();
        let pointer = ctx.pointer_hover_pos();

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
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui, pointer));
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::right("annotations")
            .resizable(true)
            .default_size(300.0)
            .size_range(200.0..=520.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, true])
                    .show(ui, |ui| self.annotations_panel(ui));
            });
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(theme::VIEWPORT))
            .show(ui, |ui| self.viewport(ui));
        self.help(&ctx);

        let commands = std::mem::take(&mut self.commands);
        if !commands.is_empty() {
            for command in commands {
                self.apply(&ctx, command);
            }
            ctx.request_repaint();
        }
    }
}
