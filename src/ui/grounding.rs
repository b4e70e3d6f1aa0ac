//! The grounding side of the viewer: the report with phrases in their label colours, model heatmaps
//! over the slice, the human / model filter, and the metrics section with its IoU distribution.

use super::theme;
use crate::core::annotation::{Author, Document, Heatmap, ImageId, PhraseId, Status};
use crate::core::grounding_eval::{self, Scores};
use crate::core::metrics;
use crate::render::Colormap;
use egui::{Color32, RichText, Ui};
use std::collections::BTreeMap;

/// Which regions the views draw: everyone's, people's only, or models' only (compare a phrase's
/// human and model grounding by switching, key C).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegionFilter {
    /// Every author.
    #[default]
    All,
    /// `human:` authors.
    Human,
    /// `model:` authors (and their heatmaps).
    Model,
}

impl RegionFilter {
    /// In the order C cycles through them.
    pub const ALL: [RegionFilter; 3] =
        [RegionFilter::All, RegionFilter::Human, RegionFilter::Model];

    /// Button text.
    pub fn name(self) -> &'static str {
        match self {
            RegionFilter::All => "All",
            RegionFilter::Human => "Human",
            RegionFilter::Model => "Model",
        }
    }

    /// The next one (key C).
    pub fn next(self) -> Self {
        match self {
            RegionFilter::All => RegionFilter::Human,
            RegionFilter::Human => RegionFilter::Model,
            RegionFilter::Model => RegionFilter::All,
        }
    }

    /// Whether an annotation by `author` is drawn.
    pub fn shows(self, author: &Author) -> bool {
        match self {
            RegionFilter::All => true,
            RegionFilter::Human => !matches!(author, Author::Model { .. }),
            RegionFilter::Model => matches!(author, Author::Model { .. }),
        }
    }
}

/// How heatmaps are drawn over the slice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatmapStyle {
    /// Drawn at all (key H).
    pub visible: bool,
    /// Opacity at the map's maximum (values fade in from its minimum).
    pub opacity: f32,
    /// Colour table.
    pub colormap: Colormap,
}

impl Default for HeatmapStyle {
    fn default() -> Self {
        Self {
            visible: true,
            opacity: 0.6,
            colormap: Colormap::Hot,
        }
    }
}

/// The newest heatmap of `phrase` on slice `k` of `image` that `filter` shows.
pub fn heatmap_on(
    doc: &Document,
    image: ImageId,
    phrase: PhraseId,
    k: usize,
    filter: RegionFilter,
) -> Option<&Heatmap> {
    doc.heatmaps
        .values()
        .filter(|h| h.image == image && h.phrase == Some(phrase) && h.slice as usize == k)
        .filter(|h| filter.shows(&h.author))
        .max_by_key(|h| (h.created_ms, h.id))
}

/// Heatmaps per phrase of an image (any slice).
pub fn heatmap_counts(doc: &Document, image: ImageId) -> BTreeMap<PhraseId, usize> {
    let mut out = BTreeMap::new();
    for h in doc.heatmaps.values().filter(|h| h.image == image) {
        if let Some(p) = h.phrase {
            *out.entry(p).or_default() += 1;
        }
    }
    out
}

/// The map as an RGBA image at its own resolution (it spans the slice, so it is drawn with the
/// slice's texture coordinates): its minimum → the table's first colour, transparent; its maximum →
/// the last, at `opacity`. Not-a-number values are transparent.
pub fn heatmap_image(h: &Heatmap, table: &[[u8; 4]; 256], opacity: f32) -> egui::ColorImage {
    if h.values.len() != h.width * h.height || h.values.is_empty() {
        // The store checks this on load; a map that does not fill its grid is not drawn.
        return egui::ColorImage::new([1, 1], vec![Color32::TRANSPARENT]);
    }
    let (lo, hi) = h
        .values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = if hi > lo { hi - lo } else { 1.0 };
    let pixels = h
        .values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                return Color32::TRANSPARENT;
            }
            let t = ((v - lo) / range).clamp(0.0, 1.0);
            let [r, g, b, _] = table[(t * 255.0).round() as usize];
            let a = (t * opacity.clamp(0.0, 1.0) * 255.0).round() as u8;
            Color32::from_rgba_unmultiplied(r, g, b, a)
        })
        .collect();
    egui::ColorImage::new([h.width, h.height], pixels)
}

/// Each phrase's colour: the label colour of its first linked region that is not rejected (a phrase
/// grounded with "Cardiomegaly" regions reads in that label's colour), when it has one.
pub fn phrase_colours(doc: &Document, image: ImageId) -> BTreeMap<PhraseId, Color32> {
    let mut out = BTreeMap::new();
    for ph in doc.phrases.values().filter(|p| p.image == image) {
        let colour = doc
            .regions_of(ph.id)
            .filter_map(|r| doc.regions.get(&r))
            .filter(|r| r.status != Status::Rejected)
            .find_map(|r| r.label.and_then(|l| doc.labels.get(&l)))
            .map(|l| Color32::from_rgb(l.color[0], l.color[1], l.color[2]));
        if let Some(c) = colour {
            out.insert(ph.id, c);
        }
    }
    out
}

/// The report as a layout job: phrase spans on their label colour (faint; strong when hovered or
/// being grounded), spans of ungrounded phrases on the neutral span colour.
pub fn report_layout(
    report: &str,
    spans: &[(PhraseId, (usize, usize))],
    colours: &BTreeMap<PhraseId, Color32>,
    hovered: Option<PhraseId>,
    font: egui::FontId,
    dark: bool,
) -> egui::text::LayoutJob {
    let chars: Vec<char> = report.chars().collect();
    let mut background = vec![Color32::TRANSPARENT; chars.len()];
    let [span_bg, hovered_bg, _] = theme::report_backgrounds(dark);
    // Hovered last so that it wins where spans overlap.
    let mut ordered: Vec<_> = spans.to_vec();
    ordered.sort_by_key(|(id, _)| hovered == Some(*id));
    for (id, (start, end)) in ordered {
        let lit = hovered == Some(id);
        let bg = match colours.get(&id) {
            Some(c) => c.gamma_multiply(if lit { 0.75 } else { 0.35 }),
            None if lit => hovered_bg,
            None => span_bg,
        };
        for b in background.iter_mut().take(end).skip(start) {
            if lit || *b == Color32::TRANSPARENT {
                *b = bg;
            }
        }
    }
    let text_colour = if dark { theme::TEXT } else { theme::LIGHT_TEXT };
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
                color: text_colour,
                background: bg,
                ..Default::default()
            },
        );
        at += run;
    }
    job
}

/// The metrics section's choices and its last computation.
#[derive(Default)]
pub struct MetricsPanel {
    /// Reference author (default: the first person).
    pub truth: Option<Author>,
    /// Predicting author (default: the first model).
    pub pred: Option<Author>,
    cache: Option<(MetricsKey, Scores)>,
}

/// Document revision, image, truth, prediction.
type MetricsKey = (u64, ImageId, Author, Author);

/// Text for an IoU.
fn iou_text(x: f64) -> String {
    format!("{x:.2}")
}

impl MetricsPanel {
    /// The scores of the image for the chosen authors among `authors` (the document's region
    /// authors), recomputed when the document changes unless `busy` (a gesture is under way and the
    /// last numbers stand).
    fn scores(
        &mut self,
        doc: &Document,
        authors: &[Author],
        revision: u64,
        image: ImageId,
        busy: bool,
    ) -> Option<&Scores> {
        let first = |model: bool| {
            authors
                .iter()
                .find(|a| matches!(a, Author::Model { .. }) == model)
                .cloned()
        };
        if self.truth.as_ref().is_none_or(|a| !authors.contains(a)) {
            self.truth = first(false);
        }
        if self.pred.as_ref().is_none_or(|a| !authors.contains(a)) {
            self.pred = first(true);
        }
        let (truth, pred) = (self.truth.clone()?, self.pred.clone()?);
        let key = (revision, image, truth, pred);
        let stale = self.cache.as_ref().is_none_or(|(k, _)| *k != key);
        let same_choice = self
            .cache
            .as_ref()
            .is_some_and(|(k, _)| k.1 == key.1 && k.2 == key.2 && k.3 == key.3);
        if stale && !(busy && same_choice) {
            let scores = grounding_eval::score(doc, &key.2, &key.3, Some(image));
            self.cache = Some((key, scores));
        }
        self.cache.as_ref().map(|(_, s)| s)
    }

    /// The IoU of a phrase in the last scores.
    pub fn phrase_iou(&self, phrase: PhraseId) -> Option<f64> {
        let (_, s) = self.cache.as_ref()?;
        s.phrases.iter().find(|p| p.phrase == phrase).map(|p| p.iou)
    }

    /// The section: author choices among `authors` (the document's region authors, see
    /// [`grounding_eval::region_authors`]), summary, per-category lines, per-phrase lines and the
    /// IoU distribution. Returns the phrase whose line is hovered.
    pub fn show(
        &mut self,
        ui: &mut Ui,
        doc: &Document,
        authors: &[Author],
        revision: u64,
        image: ImageId,
        busy: bool,
    ) -> Option<PhraseId> {
        // Ensure defaults before the combo boxes show them.
        self.scores(doc, authors, revision, image, busy);
        let mut truth = self.truth.clone();
        let mut pred = self.pred.clone();
        egui::Grid::new("metric-authors")
            .num_columns(2)
            .show(ui, |ui| {
                for (name, choice) in [("Truth", &mut truth), ("Prediction", &mut pred)] {
                    let label = ui.label(name);
                    egui::ComboBox::from_id_salt(("metric-author", name))
                        .selected_text(choice.as_ref().map_or("—".into(), |a| a.to_string()))
                        .width(200.0)
                        .show_ui(ui, |ui| {
                            for a in authors {
                                ui.selectable_value(choice, Some(a.clone()), a.to_string());
                            }
                        })
                        .response
                        .labelled_by(label.id);
                    ui.end_row();
                }
            });
        self.truth = truth;
        self.pred = pred;
        let scores = self.scores(doc, authors, revision, image, busy).cloned()?;
        let mut hovered = None;
        if scores.shared {
            let ious: Vec<f64> = scores.phrases.iter().map(|p| p.iou).collect();
            let hits: Vec<bool> = scores.phrases.iter().filter_map(|p| p.pointing).collect();
            if let Some(s) = metrics::summarize(&ious) {
                ui.label(format!(
                    "{} phrases · mean IoU {:.3} · Acc@IoU≥0.5 {:.3}",
                    s.n, s.mean_iou, s.acc_at_05
                ));
            }
            if !hits.is_empty() {
                let n = hits.iter().filter(|h| **h).count();
                ui.label(format!("pointing game {n}/{} hits", hits.len()));
            }
            let mut per_category: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            for p in &scores.phrases {
                per_category
                    .entry(p.category.as_deref().unwrap_or("(no category)"))
                    .or_default()
                    .push(p.iou);
            }
            if per_category.len() > 1 {
                for (cat, v) in &per_category {
                    if let Some(s) = metrics::summarize(v) {
                        ui.label(
                            RichText::new(format!(
                                "  {cat}: n {} · IoU {:.3} · Acc {:.3}",
                                s.n, s.mean_iou, s.acc_at_05
                            ))
                            .small()
                            .color(theme::MUTED),
                        );
                    }
                }
            }
            for p in &scores.phrases {
                let text = doc
                    .phrases
                    .get(&p.phrase)
                    .map_or("?", |ph| ph.text.as_str());
                let point = match p.pointing {
                    Some(true) => " · hit",
                    Some(false) => " · miss",
                    None => "",
                };
                let line = ui.add(
                    egui::Label::new(
                        RichText::new(format!(
                            "IoU {} · Dice {}{point} — {}",
                            iou_text(p.iou),
                            iou_text(p.dice),
                            truncate_chars(text, 32)
                        ))
                        .small(),
                    )
                    .truncate(),
                );
                if line.hovered() {
                    hovered = Some(p.phrase);
                }
            }
            iou_histogram(ui, &ious);
        } else {
            ui.weak(
                "The prediction grounds none of the truth's phrases (its own sentences): \
                 the image is compared as a whole.",
            );
        }
        for s in &scores.images {
            ui.label(format!(
                "Image: IoU {} · Dice {} ({} truth, {} predicted regions)",
                iou_text(s.iou),
                iou_text(s.dice),
                s.truth_regions,
                s.predicted_regions
            ));
        }
        ui.label(
            RichText::new(
                "IoU: shared pixels / pixels of either, over the union of a phrase's truth \
                 regions and of its predicted ones; Acc: share of phrases with IoU ≥ 0.5",
            )
            .small()
            .color(theme::MUTED),
        );
        hovered
    }
}

/// Gives a widget without a visible label its accessible name (screen readers, kittest).
pub fn name_widget(response: &egui::Response, kind: egui::Role, name: &str) {
    let enabled = response.enabled();
    response.widget_info(|| egui::WidgetInfo::labeled(kind, enabled, name));
}

/// At most `n` characters of `text`, with `…` when cut.
pub fn truncate_chars(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}

/// Ten bins over [0, 1] (the last includes 1), counts of `ious` in each.
pub fn iou_bins(ious: &[f64]) -> [usize; 10] {
    let mut bins = [0usize; 10];
    for &x in ious.iter().filter(|x| x.is_finite()) {
        bins[((x.clamp(0.0, 1.0) * 10.0).floor() as usize).min(9)] += 1;
    }
    bins
}

/// The IoU distribution as a bar chart, with the 0.5 threshold marked.
fn iou_histogram(ui: &mut Ui, ious: &[f64]) {
    let bars: Vec<egui_plot::Bar> = iou_bins(ious)
        .iter()
        .enumerate()
        .map(|(b, &c)| {
            let fill = if b >= 5 { theme::REGION } else { theme::MODEL };
            egui_plot::Bar::new(b as f64 * 0.1 + 0.05, c as f64)
                .width(0.095)
                .fill(fill)
                .name(format!(
                    "IoU {:.1}–{:.1}",
                    b as f64 * 0.1,
                    b as f64 * 0.1 + 0.1
                ))
        })
        .collect();
    egui_plot::Plot::new("iou-distribution")
        .height(110.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .show_y(false)
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .x_axis_label("IoU per phrase")
        .show(ui, |plot| {
            plot.bar_chart(egui_plot::BarChart::new("phrases", bars));
            plot.vline(egui_plot::VLine::new("Acc threshold", 0.5).color(theme::HIGHLIGHT));
        });
}

/// The annotations panel's own state: the report being edited, the words selected in it, the free phrase
/// being typed and the metrics section's choices.
#[derive(Default)]
pub(in crate::ui) struct AnnotationsPanel {
    /// The report text being edited, for the image it belongs to.
    pub(in crate::ui) report_draft: Option<(ImageId, String)>,
    /// Characters selected in the shown report (start, end), for "New phrase".
    pub(in crate::ui) report_selection: Option<(usize, usize)>,
    /// The free phrase being typed.
    pub(in crate::ui) free_phrase: String,
    /// The metrics section's authors and last scores.
    pub(in crate::ui) metrics: MetricsPanel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_cycles_and_sorts_authors() {
        let h: Author = "human:a".parse().unwrap();
        let m: Author = "model:m@1".parse().unwrap();
        assert!(RegionFilter::All.shows(&h) && RegionFilter::All.shows(&m));
        assert!(RegionFilter::Human.shows(&h) && !RegionFilter::Human.shows(&m));
        assert!(!RegionFilter::Model.shows(&h) && RegionFilter::Model.shows(&m));
        let mut f = RegionFilter::All;
        for _ in 0..3 {
            f = f.next();
        }
        assert_eq!(f, RegionFilter::All);
    }

    #[test]
    fn heatmaps_fade_in_from_their_minimum() {
        let h = Heatmap {
            id: crate::core::Id::from_u128(1),
            image: crate::core::Id::from_u128(1),
            phrase: Some(crate::core::Id::from_u128(1)),
            author: "model:m@1".parse().unwrap(),
            slice: 0,
            width: 3,
            height: 1,
            values: vec![-2.0, 0.0, f32::NAN],
            created_ms: 0,
            prompt: None,
        };
        let table = Colormap::Hot.table().unwrap();
        let img = heatmap_image(&h, &table, 0.5);
        assert_eq!(img.size, [3, 1]);
        assert_eq!(img.pixels[0].a(), 0, "the minimum is transparent");
        assert_eq!(img.pixels[1].a(), 128, "the maximum at the opacity");
        assert_eq!(img.pixels[2], Color32::TRANSPARENT);
        assert_eq!(
            iou_bins(&[0.0, 0.05, 0.5, 0.99, 1.0]),
            [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
        );
    }
}
