//! The viewer app: state, the commands the UI pushes during a frame, and the panels that draw it.

use super::loader::{self, ImageEntry, LoadJob, Poll};
use super::slice::{self, SliceValues, Window};
use super::theme;
use egui::{Color32, Event, Key, MouseWheelUnit, PointerButton, Pos2, Rect, RichText, Sense, Ui};
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

/// The viewer's state.
pub struct ViewerApp {
    images: Vec<ImageEntry>,
    displays: Vec<Display>,
    non_images: Vec<crate::io::NonImageObject>,
    errors: Vec<String>,
    jobs: Vec<LoadJob>,
    selected: Option<usize>,
    /// Primary-button drag changes the window (right-drag always does).
    window_mode: bool,
    show_help: bool,
    /// Graphics backend and adapter, shown in the help window for bug reports.
    graphics: String,
    wheel_steps: f32,
    /// Where the image was drawn last frame, for the status bar's cursor read-out.
    image_rect: Option<Rect>,
    slice_cache: Option<((usize, usize), SliceValues)>,
    texture: Option<SliceTexture>,
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
            selected: None,
            window_mode: false,
            show_help: false,
            graphics,
            wheel_steps: 0.0,
            image_rect: None,
            slice_cache: None,
            texture: None,
            commands: Vec::new(),
        };
        if !paths.is_empty() {
            app.start_load(ctx, paths);
        }
        app
    }

    fn start_load(&mut self, ctx: &egui::Context, paths: Vec<PathBuf>) {
        let what = loader::describe_paths(&paths);
        match LoadJob::spawn(paths, ctx.clone()) {
            Ok(job) => self.jobs.push(job),
            Err(e) => self
                .errors
                .push(format!("cannot start loading: {e}: {what}")),
        }
    }

    fn poll_jobs(&mut self) {
        let mut still_running = Vec::new();
        for job in std::mem::take(&mut self.jobs) {
            match job.poll() {
                Poll::Pending => still_running.push(job),
                Poll::Failed(message) => self.errors.push(message),
                Poll::Done(loaded) => {
                    for entry in loaded.images {
                        let nz = entry.image.volume.size()[2];
                        let from_file = !entry.image.volume.meta.windows.is_empty();
                        self.displays.push(Display {
                            k: nz / 2,
                            window: entry.default_window,
                            preset: from_file.then_some(0),
                        });
                        self.images.push(entry);
                    }
                    self.non_images.extend(loaded.non_images);
                    self.errors.extend(loaded.errors);
                    if self.selected.is_none() && !self.images.is_empty() {
                        self.selected = Some(0);
                    }
                }
            }
        }
        self.jobs = still_running;
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
        for job in &self.jobs {
            let what = match job.paths.as_slice() {
                [one] => one.file_name().map_or_else(
                    || one.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                many => format!("{} paths", many.len()),
            };
            let seconds = job.started.elapsed().as_secs_f32();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.add(egui::Label::new(format!("Loading {what}… {seconds:.0} s")).truncate())
                    .on_hover_text(loader::describe_paths(&job.paths));
            });
        }
        if self.images.is_empty() && self.jobs.is_empty() {
            ui.weak("No images. Drop DICOM folders, NIfTI or PNG/JPEG/TIFF files on the window.");
        }
        for (i, entry) in self.images.iter().enumerate() {
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
            });
        });
    }

    fn viewport(&mut self, ui: &mut Ui) {
        let area = ui.available_rect_before_wrap();
        let response = ui.allocate_rect(area, Sense::click_and_drag());
        let ctx = ui.ctx().clone();
        let texture = self.slice_texture(&ctx);
        let painter = ui.painter_at(area);
        self.image_rect = None;
        if let (Some(id), Some((entry, _))) = (texture, self.current()) {
            let v = &entry.image.volume;
            let [nx, ny, _] = v.size();
            let sp = v.spacing_mm();
            let physical = egui::vec2((nx as f64 * sp[0]) as f32, (ny as f64 * sp[1]) as f32);
            let scale = (area.width() / physical.x).min(area.height() / physical.y);
            if scale.is_finite() && scale > 0.0 {
                let rect = Rect::from_center_size(area.center(), physical * scale);
                let [flip_x, flip_y] = slice::display_flips(&v.direction());
                let (u0, v0) = (f32::from(u8::from(flip_x)), f32::from(u8::from(flip_y)));
                let uv = Rect::from_min_max(egui::pos2(u0, v0), egui::pos2(1.0 - u0, 1.0 - v0));
                painter.image(id, rect, uv, Color32::WHITE);
                self.image_rect = Some(rect);
            }
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
            let [nx, ny, nz] = v.size();
            match (pointer, self.image_rect) {
                (Some(p), Some(rect)) if rect.contains(p) => {
                    let [flip_x, flip_y] = slice::display_flips(&v.direction());
                    let fx = (p.x - rect.min.x) / rect.width();
                    let fy = (p.y - rect.min.y) / rect.height();
                    let u = f64::from(if flip_x { 1.0 - fx } else { fx }) * nx as f64;
                    let w = f64::from(if flip_y { 1.0 - fy } else { fy }) * ny as f64;
                    let ijk = [
                        (u as usize).min(nx - 1),
                        (w as usize).min(ny - 1),
                        display.k,
                    ];
                    let mm = v
                        .world_from_voxel()
                        .apply([u - 0.5, w - 0.5, display.k as f64]);
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
        self.poll_jobs();
        self.handle_input(&ctx);
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
