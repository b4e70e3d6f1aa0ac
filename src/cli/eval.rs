//! `voxmark eval`: one author's regions against another's (IoU, Dice, Acc@IoU≥0.5, pointing game,
//! CNR of heatmaps), per phrase, per category and per image.

use crate::core::annotation::{Shape, Status};
use crate::core::metrics::{self, Mask2};
use crate::core::{HeatmapId, ImageId, PhraseId, grounding_eval};
use crate::store::Project;
use serde::Serialize;
use std::collections::BTreeMap;

use super::error::CliError;
use super::grounding::{EvalArgs, parse_author};

/// Mean IoU and Acc@IoU≥0.5 over some cases.
#[derive(Serialize)]
struct Summary {
    n: usize,
    mean_iou: f64,
    acc_at_iou_0_5: f64,
}

fn summary(ious: &[f64]) -> Option<Summary> {
    metrics::summarize(ious).map(|s| Summary {
        n: s.n,
        mean_iou: s.mean_iou,
        acc_at_iou_0_5: s.acc_at_05,
    })
}

/// The definition of every number the report holds.
#[derive(Serialize)]
struct Definitions {
    iou: &'static str,
    dice: &'static str,
    acc: &'static str,
    pointing_game: &'static str,
    cnr: &'static str,
    phrase_level: &'static str,
    image_level: &'static str,
}

#[derive(Serialize)]
struct PhraseRow {
    phrase: PhraseId,
    image: ImageId,
    text: Option<String>,
    category: Option<String>,
    iou: f64,
    dice: f64,
    pointing_hit: Option<bool>,
    truth_regions: usize,
    predicted_regions: usize,
}

#[derive(Serialize)]
struct PhraseLevel {
    overall: Option<Summary>,
    per_category: BTreeMap<String, Option<Summary>>,
    pointing_game: Option<f64>,
    phrases: Vec<PhraseRow>,
}

#[derive(Serialize)]
struct ImageRow {
    image: ImageId,
    truth_regions: usize,
    pred_regions: usize,
    iou: f64,
    dice: f64,
}

#[derive(Serialize)]
struct ImageLevel {
    overall: Option<Summary>,
    images: Vec<ImageRow>,
}

#[derive(Serialize)]
struct HeatRow {
    heatmap: HeatmapId,
    phrase: PhraseId,
    image: ImageId,
    cnr: Option<f64>,
    pointing_hit: Option<bool>,
}

#[derive(Serialize)]
struct Heatmaps {
    n: usize,
    mean_cnr: Option<f64>,
    pointing_game: Option<f64>,
    maps: Vec<HeatRow>,
}

/// What `voxmark eval` found: printed as JSON with `--json`, as text otherwise.
#[derive(Serialize)]
struct EvalReport {
    truth: String,
    pred: String,
    definitions: Definitions,
    phrase_level: PhraseLevel,
    image_level: ImageLevel,
    heatmaps: Heatmaps,
}

fn fraction(hits: (usize, usize)) -> Option<f64> {
    (hits.1 > 0).then(|| hits.0 as f64 / hits.1 as f64)
}

/// `voxmark eval`: per phrase with reference regions, the union of the reference regions against the
/// union of the predicted regions linked to the same phrase; per image, all reference regions against
/// all predicted regions (for grounded reports, whose sentences differ). See [`grounding_eval`].
pub fn run(args: &EvalArgs) -> Result<(), CliError> {
    let (truth, pred) = (parse_author(&args.truth)?, parse_author(&args.pred)?);
    let project = Project::open(&args.project)?;
    let doc = project.load_document()?;
    // Phrase level applies when the prediction grounds the reference's phrases (MS-CXR style review);
    // grounded reports bring their own sentences, and only the image level compares them.
    let scores = grounding_eval::score(&doc, &truth, &pred, None);
    let mut phrases = Vec::new();
    let mut per_category: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut phrase_ious = Vec::new();
    let mut pointing = (0usize, 0usize);
    for s in &scores.phrases {
        if let Some(h) = s.pointing {
            pointing.0 += usize::from(h);
            pointing.1 += 1;
        }
        phrase_ious.push(s.iou);
        per_category
            .entry(s.category.clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .push(s.iou);
        phrases.push(PhraseRow {
            phrase: s.phrase,
            image: s.image,
            text: doc.phrases.get(&s.phrase).map(|p| p.text.clone()),
            category: s.category.clone(),
            iou: s.iou,
            dice: s.dice,
            pointing_hit: s.pointing,
            truth_regions: s.truth_regions,
            predicted_regions: s.predicted_regions,
        });
    }
    let image_ious: Vec<f64> = scores.images.iter().map(|s| s.iou).collect();
    let images = scores
        .images
        .iter()
        .map(|s| ImageRow {
            image: s.image,
            truth_regions: s.truth_regions,
            pred_regions: s.predicted_regions,
            iou: s.iou,
            dice: s.dice,
        })
        .collect();
    // Heatmaps of the prediction for phrases the reference grounds: CNR and pointing game on the
    // image grid (the map resampled nearest-neighbour), against the reference boxes on its slice.
    let mut maps = Vec::new();
    let (mut cnrs, mut heat_hits) = (Vec::new(), (0usize, 0usize));
    for hm in doc.heatmaps.values().filter(|h| h.author == pred) {
        let (Some(p), Some(info)) = (hm.phrase, doc.images.get(&hm.image)) else {
            continue;
        };
        let (w, h) = (info.size[0], info.size[1]);
        let t: Vec<[f64; 4]> = doc
            .regions_of(p)
            .filter_map(|r| doc.regions.get(&r))
            .filter(|r| r.author == truth && r.status != Status::Rejected)
            .filter_map(|r| match r.shape {
                Shape::Box2d { slice, min, max } if slice == hm.slice => {
                    Some([min[0], min[1], max[0], max[1]])
                }
                _ => None,
            })
            .collect();
        if t.is_empty() {
            continue;
        }
        let truth_mask = Mask2::from_boxes(w, h, &t);
        let values = hm.on_image_grid(w, h);
        let cnr = metrics::cnr(&values, &truth_mask);
        let hit = metrics::pointing_heatmap(&values, &truth_mask);
        cnrs.extend(cnr);
        if let Some(x) = hit {
            heat_hits.0 += usize::from(x);
            heat_hits.1 += 1;
        }
        maps.push(HeatRow {
            heatmap: hm.id,
            phrase: p,
            image: hm.image,
            cnr,
            pointing_hit: hit,
        });
    }
    let nothing = phrase_ious.is_empty() && image_ious.is_empty() && cnrs.is_empty();
    let report = EvalReport {
        truth: args.truth.clone(),
        pred: args.pred.clone(),
        definitions: Definitions {
            iou: metrics::IOU_DEFINITION,
            dice: metrics::DICE_DEFINITION,
            acc: metrics::ACC_DEFINITION,
            pointing_game: metrics::POINTING_DEFINITION,
            cnr: metrics::CNR_DEFINITION,
            phrase_level: grounding_eval::PHRASE_LEVEL_DEFINITION,
            image_level: grounding_eval::IMAGE_LEVEL_DEFINITION,
        },
        phrase_level: PhraseLevel {
            overall: summary(&phrase_ious),
            per_category: per_category
                .iter()
                .map(|(k, v)| (k.clone(), summary(v)))
                .collect(),
            pointing_game: fraction(pointing),
            phrases,
        },
        image_level: ImageLevel {
            overall: summary(&image_ious),
            images,
        },
        heatmaps: Heatmaps {
            n: maps.len(),
            mean_cnr: (!cnrs.is_empty()).then(|| cnrs.iter().sum::<f64>() / cnrs.len() as f64),
            pointing_game: fraction(heat_hits),
            maps,
        },
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(CliError::internal)?
        );
    } else {
        print_text(&report, scores.shared);
    }
    if nothing {
        return Err(CliError::user(format!(
            "no region by {} or {} to compare",
            args.truth, args.pred
        )));
    }
    Ok(())
}

/// The report as text: one line per summary, then the definitions.
fn print_text(r: &EvalReport, shared: bool) {
    println!("truth {}  vs  prediction {}", r.truth, r.pred);
    let line = |name: &str, s: &Option<Summary>| match s {
        None => println!("{name:<28} no cases"),
        Some(s) => println!(
            "{name:<28} n {:>4}   mean IoU {:.3}   Acc@IoU≥0.5 {:.3}",
            s.n, s.mean_iou, s.acc_at_iou_0_5
        ),
    };
    if !shared {
        println!(
            "phrases: not applicable ({} grounds no phrase that {} grounds; compare whole images)",
            r.pred, r.truth
        );
    }
    line("phrases (overall)", &r.phrase_level.overall);
    for (k, v) in &r.phrase_level.per_category {
        line(&format!("  {k}"), v);
    }
    if let Some(pg) = r.phrase_level.pointing_game {
        println!("{:<28} {pg:.3}", "pointing game (boxes)");
    }
    line("images (all regions)", &r.image_level.overall);
    if r.heatmaps.n > 0 {
        println!(
            "{:<28} n {:>4}   mean CNR {:.3}   pointing game {:.3}",
            "heatmaps",
            r.heatmaps.n,
            r.heatmaps.mean_cnr.unwrap_or(f64::NAN),
            r.heatmaps.pointing_game.unwrap_or(f64::NAN)
        );
    }
    let d = &r.definitions;
    println!("definitions:");
    for (k, v) in [
        ("acc", d.acc),
        ("cnr", d.cnr),
        ("dice", d.dice),
        ("image_level", d.image_level),
        ("iou", d.iou),
        ("phrase_level", d.phrase_level),
        ("pointing_game", d.pointing_game),
    ] {
        println!("  {k}: {v}");
    }
}
