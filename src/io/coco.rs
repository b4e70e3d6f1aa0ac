//! COCO JSON: boxes read from any COCO file (TBX11K's detection boxes, MDETR/GLIP grounding with
//! `caption` and `tokens_positive`, MS-CXR's `label_text`), and COCO with grounding written.

use super::datasets::{BoxRow, DatasetError, read_text};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// COCO box JSON (TBX11K): `images[].file_name/width/height`, `annotations[].image_id/category_id/bbox [x,y,w,h]`,
/// `categories[].id/name`.
pub fn read_boxes(path: &Path) -> Result<Vec<BoxRow>, DatasetError> {
    const F: &str = "COCO";
    let text = read_text(path, F)?;
    let err = |at: String, what: &str| DatasetError {
        path: path.into(),
        format: F,
        at,
        what: what.into(),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        err(
            format!("line {}, column {}", e.line(), e.column()),
            "not valid JSON",
        )
    })?;
    let mut images = std::collections::BTreeMap::new();
    for (i, im) in v["images"]
        .as_array()
        .ok_or_else(|| err("images".into(), "missing list"))?
        .iter()
        .enumerate()
    {
        let id = im["id"]
            .as_i64()
            .ok_or_else(|| err(format!("images[{i}].id"), "missing or not an integer"))?;
        let name = im["file_name"]
            .as_str()
            .ok_or_else(|| err(format!("images[{i}].file_name"), "missing"))?;
        let frame = match (im["width"].as_u64(), im["height"].as_u64()) {
            (Some(w), Some(h)) if w > 0 && h > 0 => Some((w as usize, h as usize)),
            _ => None,
        };
        images.insert(
            id,
            (
                name.to_string(),
                frame,
                im["caption"].as_str().map(str::to_string),
            ),
        );
    }
    let mut categories = std::collections::BTreeMap::new();
    for (i, c) in v["categories"].as_array().into_iter().flatten().enumerate() {
        let id = c["id"]
            .as_i64()
            .ok_or_else(|| err(format!("categories[{i}].id"), "missing"))?;
        categories.insert(id, c["name"].as_str().unwrap_or("").to_string());
    }
    let mut rows = Vec::new();
    for (i, a) in v["annotations"]
        .as_array()
        .ok_or_else(|| err("annotations".into(), "missing list"))?
        .iter()
        .enumerate()
    {
        let image = a["image_id"]
            .as_i64()
            .ok_or_else(|| err(format!("annotations[{i}].image_id"), "missing"))?;
        let (name, frame, caption) = images.get(&image).ok_or_else(|| {
            err(
                format!("annotations[{i}].image_id"),
                "names no image of the file",
            )
        })?;
        let b: Vec<f64> = a["bbox"]
            .as_array()
            .map(|b| b.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        if b.len() != 4 || b[2] < 0.0 || b[3] < 0.0 {
            return Err(err(
                format!("annotations[{i}].bbox"),
                "expected [x, y, w, h] with w, h ≥ 0",
            ));
        }
        let category = a["category_id"]
            .as_i64()
            .and_then(|c| categories.get(&c))
            .cloned();
        // Grounding: the phrase is the caption's text at the first `tokens_positive` span.
        let span = match a
            .get("tokens_positive")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
        {
            None => None,
            Some(t) => {
                let (Some(s), Some(e)) = (t[0].as_u64(), t[1].as_u64()) else {
                    return Err(err(
                        format!("annotations[{i}].tokens_positive[0]"),
                        "expected [start, end]",
                    ));
                };
                let len = caption.as_deref().map_or(0, |c| c.chars().count());
                if s >= e || e as usize > len {
                    return Err(err(
                        format!("annotations[{i}].tokens_positive[0]"),
                        "span outside the image's caption",
                    ));
                }
                Some((s as usize, e as usize))
            }
        };
        let span_text = span.and_then(|(s, e)| {
            caption
                .as_deref()
                .map(|c| c.chars().skip(s).take(e - s).collect::<String>())
        });
        let text = span_text
            .or_else(|| a["phrase"].as_str().map(str::to_string))
            // MS-CXR's COCO-style JSON puts the phrase on each annotation as `label_text`.
            .or_else(|| a["label_text"].as_str().map(str::to_string))
            .or_else(|| category.clone())
            .unwrap_or_else(|| "finding".into());
        rows.push(BoxRow {
            file_name: name.clone(),
            stem: None,
            text,
            category,
            annotator: None,
            edges: Some([b[0], b[1], b[0] + b[2], b[1] + b[3]]),
            frame: *frame,
            caption: caption.clone(),
            span,
        });
    }
    Ok(rows)
}

/// One image of a grounding file: `caption` is its report (or its phrases joined).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Image {
    /// 1, 2, … in the file's order.
    pub id: usize,
    /// The image file's name.
    pub file_name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// The text the annotations' spans point into.
    pub caption: String,
}

/// One box of a phrase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    /// 1, 2, … in the file's order.
    pub id: usize,
    /// Its [`Image::id`].
    pub image_id: usize,
    /// Its [`Category::id`].
    pub category_id: usize,
    /// `[x, y, w, h]`, pixel edges.
    pub bbox: [f64; 4],
    /// `w × h`.
    pub area: f64,
    /// Always 0.
    pub iscrowd: u8,
    /// The phrase's `[start, end)` in characters of the image's caption.
    pub tokens_positive: Vec<[usize; 2]>,
    /// The caption's text at that span.
    pub phrase: String,
    /// The phrase as written (MS-CXR's name for it).
    pub label_text: String,
}

/// A category.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Category {
    /// Its id.
    pub id: usize,
    /// Its name.
    pub name: String,
}

#[derive(Serialize)]
struct Info {
    description: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct File<'a> {
    info: Info,
    images: &'a [Image],
    annotations: &'a [Annotation],
    categories: &'a [Category],
}

/// Writes a COCO grounding file (through a `.part` file renamed into place).
///
/// # Errors
/// The file cannot be encoded or written.
pub fn write(
    path: &Path,
    images: &[Image],
    annotations: &[Annotation],
    categories: &[Category],
) -> Result<(), DatasetError> {
    let err = |what: String| DatasetError {
        path: path.to_path_buf(),
        format: "COCO",
        at: "file".into(),
        what,
    };
    let file = File {
        info: Info {
            description: "Voxmark grounding export",
            version: env!("CARGO_PKG_VERSION"),
        },
        images,
        annotations,
        categories,
    };
    let text =
        serde_json::to_string_pretty(&file).map_err(|e| err(format!("cannot encode: {e}")))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text + "\n").map_err(|e| err(format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| err(format!("cannot write: {e}")))
}
