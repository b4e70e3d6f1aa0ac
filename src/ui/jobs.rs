//! Background jobs that end in edits: threshold fills and model runs (polled each frame, their
//! results applied as commands), and stepping through model proposals.

#[cfg(feature = "inference")]
use crate::core::Edit;
#[cfg(feature = "inference")]
use crate::core::annotation::ImageId;
use crate::core::annotation::{RegionId, Shape, Status};
use crate::core::paint;
use crate::ui::app::AppState;
use crate::ui::command::Command;
use crate::ui::edits::now_ms;
use crate::ui::panels::phrases::region_slice;
use crate::ui::session::rules::{mask_target, phrase_on};
#[cfg(feature = "inference")]
use crate::ui::tools::Tool;

impl AppState {
    pub(in crate::ui) fn poll_jobs(&mut self, ctx: &egui::Context) {
        for reply in self.models.poll() {
            match reply {
                crate::ui::models::Reply::Loaded(Ok(_)) => {}
                crate::ui::models::Reply::Loaded(Err(e)) => self.message = Some(e),
                #[cfg(feature = "inference")]
                crate::ui::models::Reply::Done {
                    image,
                    what,
                    outcome,
                    seconds,
                } => self.commands.push(Command::ModelDone {
                    image,
                    what,
                    outcome,
                    seconds,
                }),
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
                    self.commands.push(Command::FillDone { image, filled });
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

    /// Selects the next proposed region of the image after the selected one and shows its slice.
    pub(in crate::ui) fn next_proposal(&mut self) {
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
    pub(in crate::ui) fn start_model(
        &mut self,
        ctx: &egui::Context,
        shape: Option<Shape>,
    ) -> Result<(), String> {
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
            let doc = crate::ui::models::job_document(p.doc(), image);
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
    pub(in crate::ui) fn finish_model(
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

    /// Sets `inside` of `bounds` in the active label's mask of the selected image, as one step.
    pub(in crate::ui) fn fill_mask(
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
}
