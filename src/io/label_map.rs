//! Label maps on an image's grid: the container chosen by the file's extension (NIfTI `.nii`,
//! `.nii.gz`; NRRD `.nrrd`, `.nhdr`; MetaImage `.mha`, `.mhd`) and the `<file>.labels.json` sidecar
//! that names each value and gives its colour (`{"1": {"name": "liver", "color": [r, g, b, a]}}`).

use super::nifti::LabelValues;
use super::{IoError, Result};
use crate::core::{Mat3, Vec3, Volume};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a label map's value stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEntry {
    /// The label's name.
    pub name: String,
    /// Its colour, RGBA.
    pub color: [u8; 4],
}

/// The sidecar of `map`: `<map>.labels.json` beside it.
pub fn sidecar_path(map: &Path) -> PathBuf {
    let mut name = map.as_os_str().to_owned();
    name.push(".labels.json");
    PathBuf::from(name)
}

/// The value table of `map` from its sidecar; empty when there is none.
///
/// # Errors
/// A sidecar that exists but cannot be read or is not a table of names and colours (named).
pub fn read_table(map: &Path) -> Result<BTreeMap<u32, LabelEntry>> {
    let path = sidecar_path(map);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(IoError::Read { path, source }),
    };
    // Colours may be left out or be RGB; names are required.
    #[derive(Deserialize)]
    struct Loose {
        name: String,
        #[serde(default)]
        color: Vec<u8>,
    }
    let loose: BTreeMap<String, Loose> =
        serde_json::from_str(&text).map_err(|e| IoError::Image {
            path: path.clone(),
            what: format!("not a label table ({e})"),
        })?;
    loose
        .into_iter()
        .map(|(value, l)| {
            let v: u32 = value.trim().parse().map_err(|_| IoError::Image {
                path: path.clone(),
                what: format!("{value:?} is not a label value"),
            })?;
            let c = |i: usize| l.color.get(i).copied().unwrap_or(255);
            Ok((
                v,
                LabelEntry {
                    name: l.name,
                    color: [c(0), c(1), c(2), c(3)],
                },
            ))
        })
        .collect()
}

/// Writes the value table of `map` as its sidecar.
///
/// # Errors
/// The sidecar cannot be written (named).
pub fn write_table(map: &Path, table: &BTreeMap<u32, LabelEntry>) -> Result<PathBuf> {
    let path = sidecar_path(map);
    let keyed: BTreeMap<String, &LabelEntry> =
        table.iter().map(|(v, e)| (v.to_string(), e)).collect();
    let text = serde_json::to_string_pretty(&keyed).map_err(|e| IoError::Image {
        path: path.clone(),
        what: format!("cannot encode the label table: {e}"),
    })?;
    std::fs::write(&path, text + "\n").map_err(|source| IoError::Read {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Reads a label map (NIfTI, NRRD or MetaImage by its extension).
///
/// # Errors
/// As the format's reader.
pub fn read(path: &Path) -> Result<Volume> {
    if super::itk::is_itk_name(path) {
        super::itk::read(path)
    } else {
        super::nifti::read(path, 0).map(|n| n.volume)
    }
}

/// Writes a label map (NIfTI, NRRD or MetaImage by its extension) on the grid `size` placed in LPS.
///
/// # Errors
/// As the format's writer.
pub fn write(
    path: &Path,
    size: [usize; 3],
    spacing_mm: Vec3,
    origin_lps_mm: Vec3,
    direction: Mat3,
    values: LabelValues<'_>,
    description: &str,
) -> Result<()> {
    let write = if super::itk::is_itk_name(path) {
        super::itk::write_labels
    } else {
        super::nifti::write_labels
    };
    write(
        path,
        size,
        spacing_mm,
        origin_lps_mm,
        direction,
        values,
        description,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("m.nii.gz");
        assert!(read_table(&map).unwrap().is_empty());
        let table = BTreeMap::from([(
            3,
            LabelEntry {
                name: "liver".into(),
                color: [200, 10, 10, 255],
            },
        )]);
        let written = write_table(&map, &table).unwrap();
        assert_eq!(written, dir.path().join("m.nii.gz.labels.json"));
        assert_eq!(read_table(&map).unwrap(), table);
        std::fs::write(&written, r#"{"1": {"name": "a", "color": [1, 2, 3]}}"#).unwrap();
        assert_eq!(read_table(&map).unwrap()[&1].color, [1, 2, 3, 255]);
        std::fs::write(&written, r#"{"x": {"name": "a"}}"#).unwrap();
        let e = read_table(&map).unwrap_err().to_string();
        assert!(
            e.contains("\"x\" is not a label value") && e.contains("labels.json"),
            "{e}"
        );
    }
}
