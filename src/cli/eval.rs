//! `voxmark eval`: one author's regions against another's (IoU, Dice, Acc@IoU≥0.5, pointing game,
//! CNR of heatmaps), per phrase, per category and per image.

use crate::core::annotation::{Shape, Status};
use crate::core::grounding_eval;
use crate::core::metrics::{self, Mask2};
use crate::store::Project;
use serde_json::json;
use std::collections::BTreeMap;

use super::error::CliError;
use super::grounding::{EvalArgs, parse_author};

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
    let shared = scores.shared;
    let mut phrase_rows = Vec::new();
    let mut per_category: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut phrase_ious = Vec::new();
    let mut pointing = (0usize, 0usize);
    for s in &scores.phrases {
        if let Some(h) = s.pointing {
            pointing.0 += h as usize;
            pointing.1 += 1;
        }
        phrase_ious.push(s.iou);
        per_category
            .entry(s.category.clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .push(s.iou);
        let text = doc.phrases.get(&s.phrase).map(|p| p.text.as_str());
        phrase_rows.push(json!({"phrase": s.phrase, "image": s.image, "text": text, "category": s.category,
            "iou": s.iou, "dice": s.dice, "pointing_hit": s.pointing, "truth_regions": s.truth_regions, "predicted_regions": s.predicted_regions}));
    }
    let image_ious: Vec<f64> = scores.images.iter().map(|s| s.iou).collect();
    let image_rows: Vec<_> = scores
        .images
        .iter()
        .map(|s| json!({"image": s.image, "truth_regions": s.truth_regions, "pred_regions": s.predicted_regions, "iou": s.iou, "dice": s.dice}))
        .collect();
    // Heatmaps of the prediction for phrases the reference grounds: CNR and pointing game on the
    // image grid (the map resampled nearest-neighbour), against the reference boxes on its slice.
    let mut heat_rows = Vec::new();
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
        if let Some(c) = cnr {
            cnrs.push(c);
        }
        if let Some(x) = hit {
            heat_hits.0 += x as usize;
            heat_hits.1 += 1;
        }
        heat_rows.push(json!({"heatmap": hm.id, "phrase": p, "image": hm.image, "cnr": cnr, "pointing_hit": hit}));
    }
    let summary = |v: &[f64]| {
        metrics::summarize(v)
            .map(|s| json!({"n": s.n, "mean_iou": s.mean_iou, "acc_at_iou_0_5": s.acc_at_05}))
    };
    let out = json!({
        "truth": args.truth, "pred": args.pred,
        "definitions": {
            "iou": metrics::IOU_DEFINITION, "dice": metrics::DICE_DEFINITION, "acc": metrics::ACC_DEFINITION,
            "pointing_game": metrics::POINTING_DEFINITION, "cnr": metrics::CNR_DEFINITION,
            "phrase_level": grounding_eval::PHRASE_LEVEL_DEFINITION,
            "image_level": grounding_eval::IMAGE_LEVEL_DEFINITION,
        },
        "phrase_level": {"overall": summary(&phrase_ious), "per_category": per_category.iter().map(|(k, v)| (k.clone(), summary(v))).collect::<BTreeMap<_, _>>(),
            "pointing_game": if pointing.1 > 0 { json!(pointing.0 as f64 / pointing.1 as f64) } else { json!(null) }, "phrases": phrase_rows},
        "image_level": {"overall": summary(&image_ious), "images": image_rows},
        "heatmaps": {
            "n": heat_rows.len(),
            "mean_cnr": if cnrs.is_empty() { json!(null) } else { json!(cnrs.iter().sum::<f64>() / cnrs.len() as f64) },
            "pointing_game": if heat_hits.1 > 0 { json!(heat_hits.0 as f64 / heat_hits.1 as f64) } else { json!(null) },
            "maps": heat_rows,
        },
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(CliError::internal)?
        );
        return Ok(());
    }
    println!("truth {}  vs  prediction {}", args.truth, args.pred);
    let line = |name: &str, s: &serde_json::Value| match s.is_null() {
        true => println!("{name:<28} no cases"),
        false => println!(
            "{name:<28} n {:>4}   mean IoU {:.3}   Acc@IoU≥0.5 {:.3}",
            s["n"],
            s["mean_iou"].as_f64().unwrap_or(0.0),
            s["acc_at_iou_0_5"].as_f64().unwrap_or(0.0)
        ),
    };
    if !shared {
        println!(
            "phrases: not applicable ({} grounds no phrase that {} grounds; compare whole images)",
            args.pred, args.truth
        );
    }
    line("phrases (overall)", &out["phrase_level"]["overall"]);
    for (k, v) in out["phrase_level"]["per_category"]
        .as_object()
        .into_iter()
        .flatten()
    {
        line(&format!("  {k}"), v);
    }
    if let Some(pg) = out["phrase_level"]["pointing_game"].as_f64() {
        println!("{:<28} {pg:.3}", "pointing game (boxes)");
    }
    line("images (all regions)", &out["image_level"]["overall"]);
    if let Some(n) = out["heatmaps"]["n"].as_u64().filter(|&n| n > 0) {
        println!(
            "{:<28} n {n:>4}   mean CNR {:.3}   pointing game {:.3}",
            "heatmaps",
            out["heatmaps"]["mean_cnr"].as_f64().unwrap_or(f64::NAN),
            out["heatmaps"]["pointing_game"]
                .as_f64()
                .unwrap_or(f64::NAN)
        );
    }
    println!("definitions:");
    for (k, v) in out["definitions"].as_object().into_iter().flatten() {
        println!("  {k}: {}", v.as_str().unwrap_or(""));
    }
    if phrase_ious.is_empty() && image_ious.is_empty() && cnrs.is_empty() {
        return Err(CliError::user(format!(
            "no region by {} or {} to compare",
            args.truth, args.pred
        )));
    }
    Ok(())
}
