//! The workspace: loading files and projects on background threads, creating a project from the
//! loose images, adding images, and the images with their view states; load events and the
//! project writer's reports come in here.

use crate::ui::command::Command;
use crate::ui::loader::{self, Event as LoadEvent, ImageEntry, LoadJob};
use crate::ui::session::{DocumentSession, RecordState};
use crate::ui::slice::{self, SliceView};
use crate::ui::tools::Gesture;
use crate::ui::view3d::{Mode3d, Orbit};
use egui::{Rect, Vec2};
use std::path::PathBuf;

use crate::ui::app::AppState;
use crate::ui::app::SeriesPreview;
use crate::ui::view_state::ViewState;

impl AppState {
    /// Starts one job per `.voxmark` project in `paths` and one for the other files and folders.
    pub(in crate::ui) fn start_load(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>) {
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
    pub(in crate::ui) fn new_project(&mut self, ctx: &egui::Context, path: PathBuf) {
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
    pub(in crate::ui) fn add_images(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>) {
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
    pub(in crate::ui) fn retain_images(&mut self, keep: &[bool]) {
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
    pub(in crate::ui) fn push_image(&mut self, mut entry: ImageEntry) -> usize {
        entry.refresh_presets(&self.prefs);
        let [nx, ny, nz] = entry.volume.size();
        self.next_uid += 1;
        self.displays.push(ViewState {
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
    pub(in crate::ui) fn close_project(&mut self) {
        if self.project.take().is_none() {
            return;
        }
        crate::ui::shutdown::set_open_project(None);
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
        self.annotations.report_selection = None;
        self.gesture = Gesture::Idle;
        self.stroke.clear();
    }

    /// Takes in what the project's writer reported; images other writers added start loading.
    pub(in crate::ui) fn poll_session(&mut self, ctx: &egui::Context) {
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

    pub(in crate::ui) fn on_load_event(&mut self, ctx: &egui::Context, job: u64, event: LoadEvent) {
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
                crate::ui::shutdown::set_open_project(Some(project.path.clone()));
                project.start_writer(contents.project, self.busy_patience, ctx);
                self.active_label = project.doc().first_label();
                if let (Some(list), Some(dir)) = (&mut self.recent, &self.config) {
                    *list = crate::ui::recent::with_first(list, &project.path);
                    if let Err(e) = crate::ui::recent::save(dir, list) {
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
                already,
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
                    records.push((record, RecordState::Ready(self.displays[i].uid)));
                    first.get_or_insert(i);
                }
                if let Some(p) = self.project.as_mut() {
                    p.add_records(records);
                }
                // A file the project had already: show that image instead of a second copy.
                let first = first.or_else(|| {
                    already.first().and_then(|id| {
                        self.images
                            .iter()
                            .position(|e| e.project_image == Some(*id))
                    })
                });
                if let Some(i) = first {
                    self.selected = Some(i);
                }
                self.message = Some(match (n, already.len()) {
                    (n, 0) => format!("added {n} images to the project"),
                    (0, k) => format!("already in the project: {k} image(s), not added again"),
                    (n, k) => format!(
                        "added {n} images to the project; {k} were in it already, not added again"
                    ),
                });
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
                        RecordState::Ready(self.displays[i].uid)
                    }
                    Err(why) => RecordState::Problem(why),
                };
                if let Some(p) = self.project.as_mut() {
                    p.image_loaded(id, state);
                }
            }
        }
    }
}
