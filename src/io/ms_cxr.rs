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
