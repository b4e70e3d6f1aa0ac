//! Image records: how an image is stored (its files, content hash and cached geometry), when two
//! records are the same image, and adding, listing and relinking them.

use super::{
    Project, Result, StoreError, classify, commit, json_floats, json_strings, parse_floats, write,
};
use crate::core::now_ms;
use crate::core::{Id, ImageId};
use rusqlite::params;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An image as the project stores it: where its voxels are and the geometry `io` found.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    /// Identity ([`Id::NIL`] before insertion).
    pub id: ImageId,
    /// File or folder it was added from.
    pub source: PathBuf,
    /// Files holding its voxels.
    pub files: Vec<PathBuf>,
    /// Source kind (`dicom-series`, ...).
    pub kind: String,
    /// Which volume of a multi-volume file.
    pub volume_index: usize,
    /// blake3 of the files' bytes, in order.
    pub content_hash: String,
    /// DICOM SeriesInstanceUID.
    pub series_uid: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// Grid size.
    pub size: [usize; 3],
    /// Spacing, mm.
    pub spacing_mm: [f64; 3],
    /// Origin, LPS mm.
    pub origin_lps_mm: [f64; 3],
    /// Direction, row-major, columns = voxel axes.
    pub direction: [f64; 9],
    /// Stored type.
    pub dtype: String,
    /// Components per voxel.
    pub components: usize,
    /// Report text.
    pub report: Option<String>,
}

impl ImageRecord {
    /// The record of `volume` as read from `files` (`kind` is io's source kind, e.g.
    /// `dicom-series`); `id` is nil until the project inserts it.
    pub fn describe(
        volume: &crate::core::Volume,
        source: PathBuf,
        files: Vec<PathBuf>,
        kind: &str,
        volume_index: usize,
        content_hash: String,
        report: Option<String>,
    ) -> Self {
        let d = volume.direction();
        Self {
            id: Id::NIL,
            source,
            files,
            kind: kind.to_string(),
            volume_index,
            content_hash,
            series_uid: volume.meta.series_uid.clone(),
            modality: volume.meta.modality.clone(),
            size: volume.size(),
            spacing_mm: volume.spacing_mm(),
            origin_lps_mm: volume.origin_lps_mm(),
            direction: [
                d[0][0], d[0][1], d[0][2], d[1][0], d[1][1], d[1][2], d[2][0], d[2][1], d[2][2],
            ],
            dtype: volume.voxels().dtype().to_string(),
            components: volume.components(),
            report,
        }
    }
}

/// What makes two image records the same image: their files (resolved, so that `a/../b.png` and
/// `b.png` agree), which volume of them, and their content.
pub type ImageKey = (Vec<PathBuf>, usize, String);

/// What [`Project::add_images_once`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Added as this new image.
    New(ImageId),
    /// The project had it already as this image (or it was named twice in the call).
    Already(ImageId),
}

impl Added {
    /// The image the record is.
    pub fn id(self) -> ImageId {
        match self {
            Added::New(id) | Added::Already(id) => id,
        }
    }
}

/// The [`ImageKey`] of a record.
pub fn image_key(r: &ImageRecord) -> ImageKey {
    (
        canonical_files(r.files.iter().cloned()),
        r.volume_index,
        r.content_hash.clone(),
    )
}

/// `files` resolved (so that `a/../b.png` and `b.png` agree) and sorted.
fn canonical_files(files: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = files
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .collect();
    files.sort();
    files
}

impl Project {
    /// Adds images in one transaction (one change-log row each) and returns their ids: a record's
    /// own id when it has one (a copy or merge keeps identities), else a new one.
    pub fn add_images(&mut self, records: &[ImageRecord], who: &str) -> Result<Vec<ImageId>> {
        let ids: Vec<ImageId> = records
            .iter()
            .map(|r| if r.id == Id::NIL { Id::new() } else { r.id })
            .collect();
        let txn = Id::new();
        let added = self.with_retries(|p| p.try_add_images(txn, records, &ids, None, who))?;
        let mut known = self.known.borrow_mut();
        known.extend(added.iter().map(|(a, rev)| (("image", a.id()), *rev)));
        Ok(ids)
    }

    /// Adds the images the project does not have yet (by [`image_key`]: the same files, volume and
    /// content), each once, and says for each record which image it is. The check is made under
    /// the write lock, in the transaction that adds them: two processes adding the same file at
    /// the same moment make one image. Records are meant to have no id yet (`Id::NIL`): one that
    /// has an id keeps it when it is new, and gets the project's when the project has it already.
    pub fn add_images_once(&mut self, records: &[ImageRecord], who: &str) -> Result<Vec<Added>> {
        let ids: Vec<ImageId> = records
            .iter()
            .map(|r| if r.id == Id::NIL { Id::new() } else { r.id })
            .collect();
        let keys: Vec<ImageKey> = records.iter().map(image_key).collect();
        let txn = Id::new();
        let added =
            self.with_retries(|p| p.try_add_images(txn, records, &ids, Some(&keys), who))?;
        let mut known = self.known.borrow_mut();
        known.extend(
            added
                .iter()
                .filter(|(a, _)| matches!(a, Added::New(_)))
                .map(|(a, rev)| (("image", a.id()), *rev)),
        );
        Ok(added.into_iter().map(|(a, _)| a).collect())
    }

    /// Adds `records` (with `ids`); with `once`, their keys, a record whose key the project (or an
    /// earlier record of the call) has already is not added but named. Gives what became of each
    /// record, with the row version of a new one.
    fn try_add_images(
        &mut self,
        txn: Id,
        records: &[ImageRecord],
        ids: &[ImageId],
        once: Option<&[ImageKey]>,
        who: &str,
    ) -> Result<Vec<(Added, i64)>> {
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self.begin_write()?;
        // What the project holds now, read under the write lock.
        let mut have: HashMap<ImageKey, (ImageId, i64)> = HashMap::new();
        if let Some(keys) = once {
            // Only images with the content of one being added can be it: their file lists alone
            // are parsed and resolved (a series' files are many).
            let wanted: std::collections::HashSet<&str> =
                keys.iter().map(|k| k.2.as_str()).collect();
            let mut st = tx
                .prepare("SELECT id, files, volume_index, content_hash, rev FROM images")
                .map_err(e)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Id>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(e)?;
            for row in rows {
                let (id, files, vi, hash, rev) = row.map_err(e)?;
                if !wanted.contains(hash.as_str()) {
                    continue;
                }
                let files: Vec<String> =
                    serde_json::from_str(&files).map_err(|_| StoreError::Corrupt {
                        path: path.clone(),
                        why: format!("image {id}: bad file list"),
                    })?;
                let files = canonical_files(files.into_iter().map(PathBuf::from));
                have.insert((files, vi.max(0) as usize, hash), (id, rev));
            }
        }
        let mut out = Vec::new();
        let at = now_ms();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO images (id, source, files, kind, volume_index, content_hash, series_uid, modality, size_x, size_y, size_z,
                     spacing_mm, origin_lps_mm, direction, dtype, components, report, added_ms, rev)
                     VALUES (?18, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?19)",
                )
                .map_err(e)?;
            for (n, (r, id)) in records.iter().zip(ids).enumerate() {
                if let Some(keys) = once
                    && let Some(&(existing, rev)) = have.get(&keys[n])
                {
                    out.push((Added::Already(existing), rev));
                    continue;
                }
                let rev = commit::log_change(
                    &tx,
                    txn,
                    at,
                    who,
                    "add_image",
                    "image",
                    Some(*id),
                    None,
                    &r.kind,
                )
                .map_err(e)?;
                insert
                    .execute(params![
                        r.source.to_string_lossy(),
                        json_strings(&r.files),
                        r.kind,
                        r.volume_index as i64,
                        r.content_hash,
                        r.series_uid,
                        r.modality,
                        r.size[0] as i64,
                        r.size[1] as i64,
                        r.size[2] as i64,
                        json_floats(&r.spacing_mm),
                        json_floats(&r.origin_lps_mm),
                        json_floats(&r.direction),
                        r.dtype,
                        r.components as i64,
                        r.report,
                        at,
                        id,
                        rev
                    ])
                    .map_err(e)?;
                if let Some(keys) = once {
                    have.insert(keys[n].clone(), (*id, rev));
                }
                out.push((Added::New(*id), rev));
            }
        }
        tx.commit().map_err(e)?;
        Ok(out)
    }

    /// Every image record.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let (records, revs) = self.read_images()?;
        self.known
            .borrow_mut()
            .extend(records.iter().map(|r| ("image", r.id)).zip(revs));
        Ok(records)
    }

    /// Every image record with its row revision (not recorded as known).
    pub(super) fn read_images(&self) -> Result<(Vec<ImageRecord>, Vec<i64>)> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, source, files, kind, volume_index, content_hash, series_uid, modality, size_x, size_y, size_z,
                 spacing_mm, origin_lps_mm, direction, dtype, components, report, rev FROM images ORDER BY id",
            )
            .map_err(self.sql_err())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Id>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    [
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                    ],
                    [
                        r.get::<_, String>(11)?,
                        r.get::<_, String>(12)?,
                        r.get::<_, String>(13)?,
                    ],
                    r.get::<_, String>(14)?,
                    r.get::<_, i64>(15)?,
                    r.get::<_, Option<String>>(16)?,
                    r.get::<_, i64>(17)?,
                ))
            })
            .map_err(self.sql_err())?;
        let mut out = Vec::new();
        let mut revs = Vec::new();
        for row in rows {
            let (
                id,
                source,
                files,
                kind,
                vi,
                hash,
                series_uid,
                modality,
                size,
                geo,
                dtype,
                comps,
                report,
                rev,
            ) = row.map_err(self.sql_err())?;
            revs.push(rev);
            let corrupt = |what: &str| StoreError::Corrupt {
                path: self.path.clone(),
                why: format!("image {id}: bad {what}"),
            };
            let files: Vec<String> =
                serde_json::from_str(&files).map_err(|_| corrupt("file list"))?;
            out.push(ImageRecord {
                id,
                source: PathBuf::from(source),
                files: files.into_iter().map(PathBuf::from).collect(),
                kind,
                volume_index: vi.max(0) as usize,
                content_hash: hash,
                series_uid,
                modality,
                size: size.map(|s| s.max(0) as usize),
                spacing_mm: parse_floats(&geo[0]).ok_or_else(|| corrupt("spacing"))?,
                origin_lps_mm: parse_floats(&geo[1]).ok_or_else(|| corrupt("origin"))?,
                direction: parse_floats(&geo[2]).ok_or_else(|| corrupt("direction"))?,
                dtype,
                components: comps.max(0) as usize,
                report,
            });
        }
        Ok((out, revs))
    }

    /// Points an image at new files (after the user moved them); `files` must hold the same content.
    pub fn relink(
        &mut self,
        image: ImageId,
        source: &Path,
        files: &[PathBuf],
        content_hash: &str,
        who: &str,
    ) -> Result<()> {
        let txn = Id::new();
        let rev = self.with_retries(|p| {
            let path = p.path.clone();
            let e = |e| classify(&path, e);
            let expected = p.known.borrow().get(&("image", image)).copied();
            let tx = p.begin_write()?;
            let rev = commit::log_change(
                &tx,
                txn,
                now_ms(),
                who,
                "relink",
                "image",
                Some(image),
                None,
                &source.to_string_lossy(),
            )
            .map_err(e)?;
            let n = tx
                .execute(
                    "UPDATE images SET source = ?1, files = ?2, content_hash = ?3, rev = ?5 WHERE id = ?4 AND rev = coalesce(?6, rev)",
                    params![
                        source.to_string_lossy(),
                        json_strings(files),
                        content_hash,
                        image,
                        rev,
                        expected
                    ],
                )
                .map_err(e)?;
            if n == 0 {
                return Err(write::conflict_or_missing(&tx, &path, "image", image, "relink").unwrap_or_else(
                    || StoreError::NotFound {
                        path: path.clone(),
                        what: format!("image {image}"),
                    },
                ));
            }
            tx.commit().map_err(e)?;
            Ok(rev)
        })?;
        self.known.borrow_mut().insert(("image", image), rev);
        Ok(())
    }

    /// Images whose files are gone (moved or deleted), with the first missing file.
    pub fn missing_sources(&self) -> Result<Vec<(ImageId, PathBuf)>> {
        Ok(self
            .images()?
            .into_iter()
            .filter_map(|r| {
                r.files
                    .iter()
                    .find(|f| !f.exists())
                    .map(|f| (r.id, f.clone()))
            })
            .collect())
    }
}
