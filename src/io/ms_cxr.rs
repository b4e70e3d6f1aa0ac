//! MS-CXR phrase-grounding CSV: `dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height[,split]`,
//! one row per box, boxes in pixels of an `image_width × image_height` frame (x, y = top-left corner,
//! w, h = size, edges in pixel-edge coordinates). Columns are found by name; errors name the line and
//! column at fault.

use std::path::{Path, PathBuf};

/// One box row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// DICOM id (the image file's stem in MIMIC-CXR).
    pub dicom_id: String,
    /// Finding category (MS-CXR's eight).
    pub category_name: String,
    /// The phrase.
    pub label_text: String,
    /// Image path as the dataset gives it.
    pub path: String,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Width of the frame the box is in.
    pub image_width: usize,
    /// Height of the frame the box is in.
    pub image_height: usize,
    /// Dataset split, when the file has the column.
    pub split: Option<String>,
}

/// A CSV that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("MS-CXR CSV: {at}: {what}: {}", path.display())]
pub struct MsCxrError {
    /// The file.
    pub path: PathBuf,
    /// Where: `line N, column NAME` or `header`.
    pub at: String,
    /// What is wrong.
    pub what: String,
}

const COLUMNS: [&str; 10] = [
    "dicom_id",
    "category_name",
    "label_text",
    "path",
    "x",
    "y",
    "w",
    "h",
    "image_width",
    "image_height",
];

/// Reads every row; the first problem stops the read with its line and column.
pub fn read(path: &Path) -> Result<Vec<Row>, MsCxrError> {
    let err = |at: String, what: String| MsCxrError {
        path: path.to_path_buf(),
        at,
        what,
    };
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| err("file".into(), e.to_string()))?;
    let header = r
        .headers()
        .map_err(|e| err("header".into(), e.to_string()))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let mut idx = [0usize; 10];
    for (i, name) in COLUMNS.iter().enumerate() {
        idx[i] =
            col(name).ok_or_else(|| err("header".into(), format!("column {name:?} is missing")))?;
    }
    let split = col("split");
    let mut rows = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| err(format!("line {line}"), e.to_string()))?;
        let text = |i: usize| rec.get(idx[i]).unwrap_or("").to_string();
        let num = |i: usize| -> Result<f64, MsCxrError> {
            let s = rec.get(idx[i]).unwrap_or("").trim();
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    err(
                        format!("line {line}, column {}", COLUMNS[i]),
                        format!("{s:?} is not a number"),
                    )
                })
        };
        let size = |i: usize| -> Result<usize, MsCxrError> {
            let v = num(i)?;
            (v >= 1.0 && v.fract() == 0.0)
                .then_some(v as usize)
                .ok_or_else(|| {
                    err(
                        format!("line {line}, column {}", COLUMNS[i]),
                        format!("{v} is not a positive whole number"),
                    )
                })
        };
        let row = Row {
            dicom_id: text(0),
            category_name: text(1),
            label_text: text(2),
            path: text(3),
            x: num(4)?,
            y: num(5)?,
            w: num(6)?,
            h: num(7)?,
            image_width: size(8)?,
            image_height: size(9)?,
            split: split
                .and_then(|i| rec.get(i))
                .map(str::to_string)
                .filter(|s| !s.is_empty()),
        };
        if row.w < 0.0 || row.h < 0.0 {
            return Err(err(
                format!("line {line}"),
                format!("negative box size w {} h {}", row.w, row.h),
            ));
        }
        if row.label_text.trim().is_empty() {
            return Err(err(
                format!("line {line}, column label_text"),
                "empty phrase".into(),
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Writes rows with the standard header (and `split` when any row has one).
pub fn write(path: &Path, rows: &[Row]) -> Result<(), MsCxrError> {
    let err = |what: String| MsCxrError {
        path: path.to_path_buf(),
        at: "file".into(),
        what,
    };
    let with_split = rows.iter().any(|r| r.split.is_some());
    let mut w = csv::Writer::from_path(path).map_err(|e| err(e.to_string()))?;
    let mut header: Vec<&str> = COLUMNS.to_vec();
    if with_split {
        header.push("split");
    }
    w.write_record(&header).map_err(|e| err(e.to_string()))?;
    for r in rows {
        let mut rec = vec![
            r.dicom_id.clone(),
            r.category_name.clone(),
            r.label_text.clone(),
            r.path.clone(),
            format!("{:?}", r.x),
            format!("{:?}", r.y),
            format!("{:?}", r.w),
            format!("{:?}", r.h),
            r.image_width.to_string(),
            r.image_height.to_string(),
        ];
        if with_split {
            rec.push(r.split.clone().unwrap_or_default());
        }
        w.write_record(&rec).map_err(|e| err(e.to_string()))?;
    }
    w.flush().map_err(|e| err(e.to_string()))
}

/// Reads MS-CXR's COCO-style JSON (`MS_CXR_Local_Alignment_v*.json`): `images` with `id`,
/// `file_name` (its stem is the `dicom_id`), `path`, `width`, `height` (and `split` when present);
/// `categories` with `id`, `name`; one `annotations` entry per box with `image_id`, `category_id`,
/// `bbox` `[x, y, w, h]` and the phrase in `label_text`. Gives the rows the CSV would hold, in the
/// file's annotation order.
///
/// # Errors
/// A file that is not JSON, or an annotation whose image, category, box or text is missing or
/// wrong (named by its index and id).
pub fn read_json(path: &Path) -> Result<Vec<Row>, MsCxrError> {
    use serde_json::Value;
    let err = |at: String, what: String| MsCxrError {
        path: path.to_path_buf(),
        at,
        what,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err("file".into(), e.to_string()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| err("file".into(), format!("not JSON: {e}")))?;
    let list = |key: &str| -> Result<&Vec<Value>, MsCxrError> {
        v.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| err("file".into(), format!("no `{key}` list")))
    };
    let id_of = |x: &Value| x.get("id").map(|i| i.to_string());
    let mut images = std::collections::HashMap::new();
    for (n, im) in list("images")?.iter().enumerate() {
        let at = || format!("images[{n}]");
        let id = id_of(im).ok_or_else(|| err(at(), "no `id`".into()))?;
        images.insert(id, (n, im));
    }
    let mut categories = std::collections::HashMap::new();
    for c in list("categories")? {
        if let (Some(id), Some(name)) = (id_of(c), c.get("name").and_then(Value::as_str)) {
            categories.insert(id, name.to_owned());
        }
    }
    let mut rows = Vec::new();
    for (n, a) in list("annotations")?.iter().enumerate() {
        let at = || {
            format!(
                "annotations[{n}] (id {})",
                id_of(a).unwrap_or_else(|| "none".into())
            )
        };
        let image_id = a
            .get("image_id")
            .map(|i| i.to_string())
            .ok_or_else(|| err(at(), "no `image_id`".into()))?;
        let (_, im) = images
            .get(&image_id)
            .ok_or_else(|| err(at(), format!("image {image_id} is not in `images`")))?;
        let bbox: Vec<f64> = a
            .get("bbox")
            .and_then(Value::as_array)
            .map(|b| b.iter().filter_map(Value::as_f64).collect())
            .filter(|b: &Vec<f64>| b.len() == 4)
            .ok_or_else(|| err(at(), "`bbox` is not [x, y, w, h]".into()))?;
        if bbox[2] <= 0.0 || bbox[3] <= 0.0 {
            return Err(err(at(), format!("an empty box {bbox:?}")));
        }
        let label_text = a
            .get("label_text")
            .and_then(Value::as_str)
            .ok_or_else(|| err(at(), "no `label_text` (the phrase)".into()))?;
        let category_name = a
            .get("category_id")
            .map(|c| c.to_string())
            .and_then(|c| categories.get(&c).cloned())
            .unwrap_or_default();
        let file_name = im
            .get("file_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let size = |k: &str| {
            im.get(k)
                .and_then(Value::as_u64)
                .filter(|&s| s > 0)
                .map(|s| s as usize)
                .ok_or_else(|| err(at(), format!("its image has no `{k}`")))
        };
        rows.push(Row {
            dicom_id: Path::new(file_name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            category_name,
            label_text: label_text.to_owned(),
            path: im
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or(file_name)
                .to_owned(),
            x: bbox[0],
            y: bbox[1],
            w: bbox[2],
            h: bbox[3],
            image_width: size("width")?,
            image_height: size("height")?,
            split: im.get("split").and_then(Value::as_str).map(str::to_owned),
        });
    }
    Ok(rows)
}

/// Writes rows as MS-CXR's COCO-style JSON: one image per distinct `path` (ids from 1, `file_name`
/// = the path, `split` when the row has one), one category per distinct `category_name`, one
/// annotation per row with `bbox`, `area`, `iscrowd` 0 and `label_text`. Written to a `.part`
/// file renamed into place.
///
/// # Errors
/// A failed write.
pub fn write_json(path: &Path, rows: &[Row]) -> Result<(), MsCxrError> {
    use serde_json::json;
    let err = |what: String| MsCxrError {
        path: path.to_path_buf(),
        at: "file".into(),
        what,
    };
    let mut images: Vec<serde_json::Value> = Vec::new();
    let mut image_ids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut categories: Vec<&str> = Vec::new();
    let mut annotations = Vec::new();
    for (n, r) in rows.iter().enumerate() {
        let image_id = *image_ids.entry(r.path.as_str()).or_insert_with(|| {
            let mut im = json!({
                "id": images.len() + 1,
                "file_name": r.path,
                "path": r.path,
                "width": r.image_width,
                "height": r.image_height,
            });
            if let Some(s) = &r.split {
                im["split"] = json!(s);
            }
            images.push(im);
            images.len()
        });
        let category_id = match categories.iter().position(|c| *c == r.category_name) {
            Some(i) => i + 1,
            None => {
                categories.push(&r.category_name);
                categories.len()
            }
        };
        annotations.push(json!({
            "id": n + 1,
            "image_id": image_id,
            "category_id": category_id,
            "bbox": [r.x, r.y, r.w, r.h],
            "area": r.w * r.h,
            "iscrowd": 0,
            "label_text": r.label_text,
        }));
    }
    let doc = json!({
        "info": {"description": "phrase grounding boxes in MS-CXR's COCO-style layout", "contributor": "voxmark"},
        "images": images,
        "annotations": annotations,
        "categories": categories
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"id": i + 1, "name": c, "supercategory": "finding"}))
            .collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| err(e.to_string()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text + "\n").map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

/// A row's box as a `box2d` in continuous pixel coordinates (centres at integers) of an image of
/// `width × height`, scaling from the row's frame.
pub fn to_pixels(r: &Row, width: usize, height: usize) -> ([f64; 2], [f64; 2]) {
    let (sx, sy) = (
        width as f64 / r.image_width as f64,
        height as f64 / r.image_height as f64,
    );
    (
        [r.x * sx - 0.5, r.y * sy - 0.5],
        [(r.x + r.w) * sx - 0.5, (r.y + r.h) * sy - 0.5],
    )
}

/// The inverse of [`to_pixels`] in the image's own frame: (x, y, w, h).
pub fn from_pixels(min: [f64; 2], max: [f64; 2]) -> [f64; 4] {
    [min[0] + 0.5, min[1] + 0.5, max[0] - min[0], max[1] - min[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let row = |path: &str, text: &str, split: Option<&str>| Row {
            dicom_id: Path::new(path)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            category_name: "Pneumonia".into(),
            label_text: text.into(),
            path: path.into(),
            x: 10.5,
            y: 20.0,
            w: 30.0,
            h: 40.25,
            image_width: 512,
            image_height: 256,
            split: split.map(str::to_owned),
        };
        let rows = vec![
            row("files/a.jpg", "left opacity", Some("train")),
            row("files/a.jpg", "right \"effusion\"", Some("train")),
            row("files/b.jpg", "cardiomegaly", Some("test")),
        ];
        write_json(&path, &rows).unwrap();
        assert_eq!(read_json(&path).unwrap(), rows);
        std::fs::write(
            &path,
            r#"{"images": [], "categories": [], "annotations": [{"id": 5, "image_id": 3, "bbox": [1, 2, 3, 4], "label_text": "x"}]}"#,
        )
        .unwrap();
        let e = read_json(&path).unwrap_err().to_string();
        assert!(
            e.contains("annotations[0] (id 5)") && e.contains("image 3"),
            "{e}"
        );
    }
}
