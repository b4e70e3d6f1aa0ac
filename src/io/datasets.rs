//! Box annotations of public chest X-ray datasets, read into one shape ([`BoxRow`]) for import:
//! NIH ChestX-ray8 `BBox_List_2017.csv`, VinDr-CXR `train.csv`, COCO-style box JSON (TBX11K, see
//! [`super::coco`]), and MS-CXR CSV (see [`super::ms_cxr`]). `.gz` files are read as they are.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One box (or one explicit "no finding") of one image, ready to become a phrase and a region.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxRow {
    /// The image's file name (with or without folders; matched by file name).
    pub file_name: String,
    /// The image's id in the dataset when it is a file stem (MS-CXR `dicom_id`, VinDr `image_id`).
    pub stem: Option<String>,
    /// Phrase text.
    pub text: String,
    /// Category.
    pub category: Option<String>,
    /// Who annotated it (VinDr's `rad_id`), if the file says.
    pub annotator: Option<String>,
    /// Box edges `[x_min, y_min, x_max, y_max]` in pixel-edge coordinates of `frame`, or `None` for an
    /// explicit "nothing to ground" row.
    pub edges: Option<[f64; 4]>,
    /// Size of the frame the box is in, when known (boxes are scaled to the image's size).
    pub frame: Option<(usize, usize)>,
    /// The image's report (COCO grounding `caption`), when the file carries it.
    pub caption: Option<String>,
    /// The phrase's `[start, end)` in characters of `caption` (COCO `tokens_positive`).
    pub span: Option<(usize, usize)>,
}

/// A dataset file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{format}: {at}: {what}: {}", path.display())]
pub struct DatasetError {
    /// The file.
    pub path: PathBuf,
    /// Which format.
    pub format: &'static str,
    /// Where (line and column, or JSON path).
    pub at: String,
    /// What is wrong.
    pub what: String,
}

pub(super) fn read_text(path: &Path, format: &'static str) -> Result<String, DatasetError> {
    let err = |what: String| DatasetError {
        path: path.to_path_buf(),
        format,
        at: "file".into(),
        what,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| err(format!("gzip: {e}")))?;
        Ok(s)
    } else {
        String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))
    }
}

fn number(
    rec: &csv::StringRecord,
    i: usize,
    line: usize,
    col: &str,
    path: &Path,
    format: &'static str,
) -> Result<f64, DatasetError> {
    let s = rec.get(i).unwrap_or("").trim();
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| DatasetError {
            path: path.to_path_buf(),
            format,
            at: format!("line {line}, column {col}"),
            what: format!("{s:?} is not a number"),
        })
}

/// NIH ChestX-ray8 `BBox_List_2017.csv`: `Image Index,Finding Label,Bbox [x,y,w,h],,,` (the box spans
/// the last four columns under an odd header), boxes in the 1024×1024 frame of the original images.
pub fn read_nih(path: &Path) -> Result<Vec<BoxRow>, DatasetError> {
    const F: &str = "NIH BBox_List";
    let text = read_text(path, F)?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = r
        .headers()
        .map_err(|e| DatasetError {
            path: path.into(),
            format: F,
            at: "header".into(),
            what: e.to_string(),
        })?
        .clone();
    if header.get(0).map(str::trim) != Some("Image Index")
        || header.get(1).map(str::trim) != Some("Finding Label")
    {
        return Err(DatasetError {
            path: path.into(),
            format: F,
            at: "header".into(),
            what: "expected `Image Index,Finding Label,Bbox [x,y,w,h],,,`".into(),
        });
    }
    let mut rows = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| DatasetError {
            path: path.into(),
            format: F,
            at: format!("line {line}"),
            what: e.to_string(),
        })?;
        if rec.len() < 6 {
            return Err(DatasetError {
                path: path.into(),
                format: F,
                at: format!("line {line}"),
                what: format!("{} columns, expected 6", rec.len()),
            });
        }
        let mut b = [0.0; 4];
        for (k, name) in ["x", "y", "w", "h"].iter().enumerate() {
            b[k] = number(&rec, k + 2, line, name, path, F)?;
        }
        let [x, y, w, h] = b;
        let label = rec.get(1).unwrap_or("").trim().to_string();
        rows.push(BoxRow {
            file_name: rec.get(0).unwrap_or("").trim().to_string(),
            stem: None,
            text: label.clone(),
            category: Some(label),
            annotator: None,
            edges: Some([x, y, x + w, y + h]),
            frame: Some((1024, 1024)),
            caption: None,
            span: None,
        });
    }
    Ok(rows)
}

/// VinDr-CXR `train.csv`: `image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max`, one reader per
/// row, boxes in the original DICOM's pixels; "No finding" rows have no box.
pub fn read_vindr(path: &Path) -> Result<Vec<BoxRow>, DatasetError> {
    const F: &str = "VinDr-CXR";
    let text = read_text(path, F)?;
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = r
        .headers()
        .map_err(|e| DatasetError {
            path: path.into(),
            format: F,
            at: "header".into(),
            what: e.to_string(),
        })?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| DatasetError {
                path: path.into(),
                format: F,
                at: "header".into(),
                what: format!("column {name:?} is missing"),
            })
    };
    let (img, class, rad) = (col("image_id")?, col("class_name")?, col("rad_id")?);
    let coords = [col("x_min")?, col("y_min")?, col("x_max")?, col("y_max")?];
    let mut rows = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| DatasetError {
            path: path.into(),
            format: F,
            at: format!("line {line}"),
            what: e.to_string(),
        })?;
        let empty = coords
            .iter()
            .all(|&i| rec.get(i).unwrap_or("").trim().is_empty());
        let edges = if empty {
            None
        } else {
            let names = ["x_min", "y_min", "x_max", "y_max"];
            let mut e = [0.0; 4];
            for (k, &i) in coords.iter().enumerate() {
                e[k] = number(&rec, i, line, names[k], path, F)?;
            }
            Some(e)
        };
        let id = rec.get(img).unwrap_or("").trim().to_string();
        let class_name = rec.get(class).unwrap_or("").trim().to_string();
        rows.push(BoxRow {
            file_name: String::new(),
            stem: Some(id),
            text: class_name.clone(),
            category: Some(class_name),
            annotator: Some(rec.get(rad).unwrap_or("").trim().to_string())
                .filter(|s| !s.is_empty()),
            edges,
            frame: None,
            caption: None,
            span: None,
        });
    }
    Ok(rows)
}

/// MS-CXR rows in the common shape.
pub fn from_ms_cxr(rows: &[super::ms_cxr::Row]) -> Vec<BoxRow> {
    rows.iter()
        .map(|r| BoxRow {
            file_name: r.path.clone(),
            stem: Some(r.dicom_id.clone()).filter(|s| !s.is_empty()),
            text: r.label_text.clone(),
            category: Some(r.category_name.clone()).filter(|s| !s.is_empty()),
            annotator: None,
            edges: Some([r.x, r.y, r.x + r.w, r.y + r.h]),
            frame: Some((r.image_width, r.image_height)),
            caption: None,
            span: None,
        })
        .collect()
}

/// Box edges in `frame` as a `box2d` in continuous pixel coordinates (centres at integers) of an
/// image of `width × height`.
pub fn edges_to_pixels(
    e: [f64; 4],
    frame: Option<(usize, usize)>,
    width: usize,
    height: usize,
) -> ([f64; 2], [f64; 2]) {
    let (sx, sy) = frame.map_or((1.0, 1.0), |(w, h)| {
        (width as f64 / w as f64, height as f64 / h as f64)
    });
    (
        [e[0] * sx - 0.5, e[1] * sy - 0.5],
        [e[2] * sx - 0.5, e[3] * sy - 0.5],
    )
}
