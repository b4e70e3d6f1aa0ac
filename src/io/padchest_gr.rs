//! PadChest-GR grounded reports (`grounded_reports_<date>.json`, BIMCV): one entry per study image,
//! `{"ImageID": "<file>.png", "StudyID": …, "findings": [...]}`, each finding a sentence of the
//! report in English and Spanish (`sentence_en`, `sentence_es`), whether it is a present
//! (`abnormal: true`) or an absent finding, PadChest's finding `labels`, anatomical `locations`,
//! a `progression` class, and the boxes of up to two independent readers: `boxes` (the first) and
//! `extra_boxes` (the second), each `[x_min, y_min, x_max, y_max]` normalised to 0..1 of the image's
//! width and height.
//!
//! Errors name the entry, finding, box and field at fault. Box edges a hair outside the image
//! (within 5 % of its size, as annotation tools leave them) are clamped to it and counted; farther
//! out the file is not normalised and is refused.

use crate::io::radfact::NormBox;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One finding sentence of a study.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The English sentence (`sentence_en`; the Spanish one when there is no English).
    pub sentence: String,
    /// The Spanish sentence, when there is one.
    pub sentence_es: Option<String>,
    /// `abnormal`: a present finding (`true`) or a stated absence (`false`); `None` when missing.
    pub abnormal: Option<bool>,
    /// The first reader's boxes.
    pub boxes: Vec<NormBox>,
    /// The second reader's boxes.
    pub extra_boxes: Vec<NormBox>,
    /// PadChest finding labels.
    pub labels: Vec<String>,
    /// Anatomical locations.
    pub locations: Vec<String>,
    /// Progression class, when given.
    pub progression: Option<String>,
}

/// One study image's grounded report.
#[derive(Clone, Debug, PartialEq)]
pub struct Study {
    /// `ImageID`: the image's file name.
    pub image_id: String,
    /// `StudyID`, when given.
    pub study_id: Option<String>,
    /// The report's sentences, in order.
    pub findings: Vec<Finding>,
}

/// A file's content.
#[derive(Clone, Debug, PartialEq)]
pub struct GroundedReports {
    /// The studies, in file order.
    pub studies: Vec<Study>,
    /// Box edges clamped into 0..1.
    pub clamped_edges: usize,
    /// Boxes left out for having no area inside the image (zero width or height, or lying wholly
    /// in the margin outside it).
    pub empty_boxes: usize,
}

/// A PadChest-GR file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("PadChest-GR: {at}: {what}: {}", path.display())]
pub struct PadChestGrError {
    /// The file.
    pub path: PathBuf,
    /// Where in the file (e.g. `[12].findings[3].extra_boxes[0][2]`).
    pub at: String,
    /// What is wrong.
    pub what: String,
}

/// How far outside 0..1 a box edge may be and still be taken (clamped) as normalised.
const EDGE_SLACK: f64 = 0.05;

/// Reads a PadChest-GR grounded-reports file.
pub fn read(path: &Path) -> Result<GroundedReports, PadChestGrError> {
    let err = |at: String, what: String| PadChestGrError {
        path: path.to_path_buf(),
        at,
        what,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err("file".into(), e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        err(
            format!("line {}, column {}", e.line(), e.column()),
            format!("not valid JSON ({e})"),
        )
    })?;
    parse(&v).map_err(|(at, what)| err(at, what))
}

/// Parses a file's JSON; errors are (where, what).
pub fn parse(v: &Value) -> Result<GroundedReports, (String, String)> {
    let list = v.as_array().ok_or_else(|| {
        (
            "top level".to_string(),
            "expected a list of studies ({\"ImageID\", \"findings\"})".to_string(),
        )
    })?;
    let mut counts = Counts::default();
    let mut studies = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let at = format!("[{i}]");
        let image_id = e
            .get("ImageID")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| (format!("{at}.ImageID"), "missing or not a file name".into()))?;
        let study_id = match e.get("StudyID") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err((format!("{at}.StudyID"), "not a string".into()));
            }
        };
        let findings = match e.get("findings") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(f)) => f.as_slice(),
            Some(_) => return Err((format!("{at}.findings"), "expected a list".into())),
        };
        let mut out = Vec::with_capacity(findings.len());
        for (k, f) in findings.iter().enumerate() {
            out.push(finding(f, &format!("{at}.findings[{k}]"), &mut counts)?);
        }
        studies.push(Study {
            image_id: image_id.trim().to_string(),
            study_id,
            findings: out,
        });
    }
    Ok(GroundedReports {
        studies,
        clamped_edges: counts.clamped,
        empty_boxes: counts.empty,
    })
}

/// Boxes changed or left out while reading.
#[derive(Default)]
struct Counts {
    clamped: usize,
    empty: usize,
}

fn text_of(f: &Value, key: &str, at: &str) -> Result<Option<String>, (String, String)> {
    match f.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err((format!("{at}.{key}"), "not a string".into())),
    }
}

fn strings(f: &Value, key: &str, at: &str) -> Result<Vec<String>, (String, String)> {
    match f.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.trim().to_string()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_null())
            .map(|(n, s)| {
                s.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| (format!("{at}.{key}[{n}]"), "not a string".into()))
            })
            .filter(|s| s.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        Some(_) => Err((format!("{at}.{key}"), "expected a list of strings".into())),
    }
}

fn finding(f: &Value, at: &str, counts: &mut Counts) -> Result<Finding, (String, String)> {
    let sentence_en = text_of(f, "sentence_en", at)?;
    let sentence_es = text_of(f, "sentence_es", at)?;
    let sentence = sentence_en.or_else(|| sentence_es.clone()).ok_or_else(|| {
        (
            format!("{at}.sentence_en"),
            "missing (and no sentence_es)".to_string(),
        )
    })?;
    let abnormal = match f.get("abnormal") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err((format!("{at}.abnormal"), "not true or false".into())),
    };
    let progression = match f.get("progression") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() || s == "None" => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err((format!("{at}.progression"), "not a string".into())),
    };
    Ok(Finding {
        sentence,
        sentence_es,
        abnormal,
        boxes: boxes(f, "boxes", at, counts)?,
        extra_boxes: boxes(f, "extra_boxes", at, counts)?,
        labels: strings(f, "labels", at)?,
        locations: strings(f, "locations", at)?,
        progression,
    })
}

fn boxes(
    f: &Value,
    key: &str,
    at: &str,
    counts: &mut Counts,
) -> Result<Vec<NormBox>, (String, String)> {
    let list = match f.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) => l,
        Some(_) => return Err((format!("{at}.{key}"), "expected a list of boxes".into())),
    };
    let mut out = Vec::with_capacity(list.len());
    for (n, b) in list.iter().enumerate() {
        let here = format!("{at}.{key}[{n}]");
        let values = b
            .as_array()
            .filter(|v| v.len() == 4)
            .ok_or_else(|| (here.clone(), "expected [x_min, y_min, x_max, y_max]".into()))?;
        let mut nb = [0.0; 4];
        for (slot, x) in values.iter().enumerate() {
            let x = x
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| (format!("{here}[{slot}]"), "not a number".into()))?;
            if !(-EDGE_SLACK..=1.0 + EDGE_SLACK).contains(&x) {
                return Err((
                    format!("{here}[{slot}]"),
                    format!("{x} is outside 0..1 (PadChest-GR boxes are normalised)"),
                ));
            }
            let c = x.clamp(0.0, 1.0);
            if c != x {
                counts.clamped += 1;
            }
            nb[slot] = c;
        }
        if nb[0] > nb[2] || nb[1] > nb[3] {
            return Err((here, "x_min > x_max or y_min > y_max".into()));
        }
        if nb[0] == nb[2] || nb[1] == nb[3] {
            counts.empty += 1;
            continue;
        }
        out.push(nb);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_readers_and_absent_findings() {
        let v = json!([{
            "ImageID": "a.png", "StudyID": "s1",
            "findings": [
                {"sentence_en": "Cardiomegaly.", "sentence_es": "Cardiomegalia.", "abnormal": true,
                 "boxes": [[0.1, 0.2, 0.5, 0.6], [1.01, 0.2, 1.03, 0.3]], "extra_boxes": [[0.12, 0.2, 0.5, 0.61], [0.7, 0.7, 0.8, 1.01]],
                 "labels": ["cardiomegaly"], "locations": ["cardiac"], "progression": null},
                {"sentence_en": "No pleural effusion.", "abnormal": false, "boxes": [], "labels": [], "locations": []}
            ]
        }]);
        let r = parse(&v).unwrap();
        assert_eq!(r.clamped_edges, 3);
        assert_eq!(r.empty_boxes, 1, "the box wholly right of the image");
        assert_eq!(r.studies[0].findings[0].boxes.len(), 1);
        let s = &r.studies[0];
        assert_eq!(s.image_id, "a.png");
        assert_eq!(s.study_id.as_deref(), Some("s1"));
        assert_eq!(s.findings[0].extra_boxes[1], [0.7, 0.7, 0.8, 1.0]);
        assert_eq!(s.findings[0].sentence_es.as_deref(), Some("Cardiomegalia."));
        assert_eq!(s.findings[1].abnormal, Some(false));
        assert!(s.findings[1].boxes.is_empty());
    }

    #[test]
    fn errors_name_the_place() {
        let at = |v: Value| parse(&v).unwrap_err().0;
        assert_eq!(at(json!({"ImageID": "a"})), "top level");
        assert_eq!(at(json!([{"findings": []}])), "[0].ImageID");
        assert_eq!(
            at(json!([{"ImageID": "a", "findings": [{"abnormal": true}]}])),
            "[0].findings[0].sentence_en"
        );
        assert_eq!(
            at(
                json!([{"ImageID": "a", "findings": [{"sentence_en": "x", "boxes": [[10, 20, 300, 400]]}]}])
            ),
            "[0].findings[0].boxes[0][0]"
        );
        assert_eq!(
            at(
                json!([{"ImageID": "a", "findings": [{"sentence_en": "x", "extra_boxes": [[0.5, 0.2, 0.1, 0.4]]}]}])
            ),
            "[0].findings[0].extra_boxes[0]"
        );
        assert_eq!(
            at(
                json!([{"ImageID": "a", "findings": [{"sentence_en": "x", "boxes": [[0.1, 0.2, 0.3]]}]}])
            ),
            "[0].findings[0].boxes[0]"
        );
    }
}
