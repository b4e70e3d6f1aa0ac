//! RadFact / MAIRA-2 grounded reports: sentences with boxes normalised to 0..1 (or `null`).
//!
//! Two shapes are read: one grounded report, `[{"text", "boxes": [{x_min, y_min, x_max, y_max}] | null}]`,
//! and RadFact's evaluation examples, `[{"prediction": [...], "target": [...]}]`. Errors name the
//! example, list, sentence, box and field at fault.

use serde_json::{Value, json};
use std::path::Path;

/// A normalised box: `[x_min, y_min, x_max, y_max]` in 0..1 of the image width and height.
pub type NormBox = [f64; 4];

/// One sentence of a grounded report.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    /// The text.
    pub text: String,
    /// Its boxes; `None` when the sentence is not grounded (`null` in the file).
    pub boxes: Option<Vec<NormBox>>,
}

/// A file's content.
#[derive(Clone, Debug, PartialEq)]
pub enum RadFactFile {
    /// One grounded report.
    Report(Vec<Sentence>),
    /// Evaluation examples: a model's report and the reference, per study.
    Pairs(Vec<Pair>),
}

/// One evaluation example.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The model's grounded report.
    pub prediction: Vec<Sentence>,
    /// The reference grounded report.
    pub target: Vec<Sentence>,
}

/// A RadFact file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("RadFact: {at}: {what}: {}", path.display())]
pub struct RadFactError {
    /// The file.
    pub path: std::path::PathBuf,
    /// Where in the file (e.g. `[3].target[1].boxes[0].x_max`).
    pub at: String,
    /// What is wrong.
    pub what: String,
}

fn sentences(v: &Value, at: &str, path: &Path) -> Result<Vec<Sentence>, RadFactError> {
    let err = |at: String, what: &str| RadFactError {
        path: path.to_path_buf(),
        at,
        what: what.to_string(),
    };
    let list = v
        .as_array()
        .ok_or_else(|| err(at.to_string(), "expected a list of sentences"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let text = s
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("{here}.text"), "missing or not a string"))?;
        let boxes = match s.get("boxes") {
            None | Some(Value::Null) => None,
            Some(Value::Array(bs)) => {
                let mut out = Vec::with_capacity(bs.len());
                for (k, b) in bs.iter().enumerate() {
                    let mut nb = [0.0; 4];
                    for (slot, key) in ["x_min", "y_min", "x_max", "y_max"].iter().enumerate() {
                        let x = b.get(*key).and_then(Value::as_f64).ok_or_else(|| {
                            err(
                                format!("{here}.boxes[{k}].{key}"),
                                "missing or not a number",
                            )
                        })?;
                        if !(-1e-9..=1.0 + 1e-9).contains(&x) {
                            return Err(err(
                                format!("{here}.boxes[{k}].{key}"),
                                &format!("{x} is outside 0..1 (boxes are normalised)"),
                            ));
                        }
                        nb[slot] = x;
                    }
                    if nb[0] > nb[2] || nb[1] > nb[3] {
                        return Err(err(
                            format!("{here}.boxes[{k}]"),
                            "x_min > x_max or y_min > y_max",
                        ));
                    }
                    out.push(nb);
                }
                Some(out)
            }
            Some(_) => {
                return Err(err(
                    format!("{here}.boxes"),
                    "expected a list of boxes or null",
                ));
            }
        };
        out.push(Sentence {
            text: text.to_string(),
            boxes,
        });
    }
    Ok(out)
}

/// Parses a RadFact file's text.
pub fn parse(text: &str, path: &Path) -> Result<RadFactFile, RadFactError> {
    let v: Value = serde_json::from_str(text).map_err(|e| RadFactError {
        path: path.to_path_buf(),
        at: format!("line {}, column {}", e.line(), e.column()),
        what: format!("not valid JSON ({e})"),
    })?;
    let list = v.as_array().ok_or_else(|| RadFactError {
        path: path.to_path_buf(),
        at: "top level".into(),
        what: "expected a list".into(),
    })?;
    if list
        .first()
        .is_some_and(|e| e.get("prediction").is_some() || e.get("target").is_some())
    {
        let mut pairs = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            pairs.push(Pair {
                prediction: sentences(
                    e.get("prediction").unwrap_or(&Value::Null),
                    &format!("[{i}].prediction"),
                    path,
                )?,
                target: sentences(
                    e.get("target").unwrap_or(&Value::Null),
                    &format!("[{i}].target"),
                    path,
                )?,
            });
        }
        Ok(RadFactFile::Pairs(pairs))
    } else {
        Ok(RadFactFile::Report(sentences(&v, "", path)?))
    }
}

fn sentences_json(s: &[Sentence]) -> Value {
    Value::Array(
        s.iter()
            .map(|s| {
                json!({
                    "text": s.text,
                    "boxes": s.boxes.as_ref().map(|bs| bs.iter().map(|b| json!({"x_min": b[0], "y_min": b[1], "x_max": b[2], "y_max": b[3]})).collect::<Vec<_>>()),
                })
            })
            .collect(),
    )
}

/// Serialises a file's content in the shape it was read in.
pub fn to_json(f: &RadFactFile) -> Value {
    match f {
        RadFactFile::Report(s) => sentences_json(s),
        RadFactFile::Pairs(p) => Value::Array(
            p.iter().map(|p| json!({"prediction": sentences_json(&p.prediction), "target": sentences_json(&p.target)})).collect(),
        ),
    }
}

/// A normalised box as a `box2d` in continuous pixel coordinates (pixel centres at integers) of a
/// `width × height` image: edge `x` of the normalised frame is pixel coordinate `x·width − 0.5`.
pub fn to_pixels(b: NormBox, width: usize, height: usize) -> ([f64; 2], [f64; 2]) {
    let (w, h) = (width as f64, height as f64);
    (
        [b[0] * w - 0.5, b[1] * h - 0.5],
        [b[2] * w - 0.5, b[3] * h - 0.5],
    )
}

/// The inverse of [`to_pixels`].
pub fn from_pixels(min: [f64; 2], max: [f64; 2], width: usize, height: usize) -> NormBox {
    let (w, h) = (width as f64, height as f64);
    [
        (min[0] + 0.5) / w,
        (min[1] + 0.5) / h,
        (max[0] + 0.5) / w,
        (max[1] + 0.5) / h,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let p = Path::new("x.json");
        let e = parse(r#"[{"prediction": [], "target": [{"text": "a", "boxes": [{"x_min": 0.1, "y_min": 0.1, "x_max": 2.0, "y_max": 0.5}]}]}]"#, p).unwrap_err();
        assert_eq!(e.at, "[0].target[0].boxes[0].x_max");
        let e = parse(r#"[{"text": 3, "boxes": null}]"#, p).unwrap_err();
        assert_eq!(e.at, "[0].text");
        assert!(parse("[{", p).unwrap_err().at.starts_with("line 1"));
    }

    #[test]
    fn pixel_round_trip() {
        let b = [0.535, 0.355, 0.865, 0.725];
        let (min, max) = to_pixels(b, 1024, 1024);
        let back = from_pixels(min, max, 1024, 1024);
        for i in 0..4 {
            assert!((back[i] - b[i]).abs() < 1e-12);
        }
    }
}
