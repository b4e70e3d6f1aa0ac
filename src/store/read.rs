//! Reading the project: the whole annotation document as one state of the file, and `check`, which
//! lists every problem it can find.

use super::{
    Finding, Project, Result, StoreError, decode_shape, decompress_tile, journal, unpack_color,
};
use crate::core::annotation::{Author, Grounding, ImageInfo, Label, Phrase, Region, Shape, Status};
use crate::core::mask::{MaskTiles, TILE, TileKey};
use crate::core::{Document, Id};
use std::collections::HashMap;

impl Project {
    /// Runs `read` inside one read transaction, so that what it reads is one state of the file
    /// however many other writers commit meanwhile (nested calls share the outer one).
    fn snapshot<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return read();
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(self.sql_err())?;
        let out = read();
        // A read transaction has nothing to keep: ending it cannot lose anything, but it must end
        // (an open one would hold back checkpoints and turn the next write into an upgrade). Some
        // errors (a damaged page) end it already; only one still open after ROLLBACK is an error.
        if self.conn.execute_batch("COMMIT").is_err()
            && !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
            && !self.conn.is_autocommit()
        {
            return out.and(Err(self.sql_err()(e)));
        }
        out
    }

    /// Reads the whole annotation document (no pixels are read), as one state of the file.
    pub fn load_document(&self) -> Result<Document> {
        let (doc, known) = self.snapshot(|| self.read_document())?;
        self.known.borrow_mut().extend(known);
        Ok(doc)
    }

    /// Runs `read` in one read transaction (see `snapshot`), for the other modules of the store.
    pub(super) fn read_snapshot<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        self.snapshot(read)
    }

    /// The document with the revision of every row it holds (not recorded as known).
    pub(super) fn read_document(&self) -> Result<(Document, HashMap<super::write::Row, i64>)> {
        self.read_document_of(None)
    }

    /// [`Self::read_document`] restricted to the rows `only` names (by id; a link when either end
    /// is named, a mask's tiles with its region), or everything when `None`.
    pub(super) fn read_document_of(
        &self,
        only: Option<&[Id]>,
    ) -> Result<(Document, HashMap<super::write::Row, i64>)> {
        let ids: &[Id] = only.unwrap_or(&[]);
        // `WHERE a IN (?1, …) OR b IN (?1, …)`, or nothing when every row is wanted.
        let clause = |cols: &[&str]| -> String {
            if only.is_none() {
                return String::new();
            }
            let list = (1..=ids.len())
                .map(|n| format!("?{n}"))
                .collect::<Vec<_>>()
                .join(",");
            let list = if list.is_empty() {
                "NULL".to_owned()
            } else {
                list
            };
            let tests: Vec<String> = cols.iter().map(|c| format!("{c} IN ({list})")).collect();
            format!(" WHERE {}", tests.join(" OR "))
        };
        let params = || rusqlite::params_from_iter(ids.iter());
        let mut doc = Document::default();
        // Row revisions are recorded only once the whole document decoded.
        let mut known: HashMap<super::write::Row, i64> = HashMap::new();
        let err = self.sql_err();
        let corrupt = |what: String| StoreError::Corrupt {
            path: self.path.clone(),
            why: what,
        };
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT id, size_x, size_y, size_z, report, rev FROM images{}",
                    clause(&["id"])
                ))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: Id = r.get(0).map_err(&err)?;
                known.insert(("image", id), r.get(5).map_err(&err)?);
                let size = [
                    r.get::<_, i64>(1).map_err(&err)?,
                    r.get(2).map_err(&err)?,
                    r.get(3).map_err(&err)?,
                ];
                doc.images.insert(
                    id,
                    ImageInfo {
                        id,
                        size: size.map(|s| s.max(0) as usize),
                        report: r.get(4).map_err(&err)?,
                    },
                );
            }
        }
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT id, name, color, rev FROM labels{}",
                    clause(&["id"])
                ))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: Id = r.get(0).map_err(&err)?;
                known.insert(("label", id), r.get(3).map_err(&err)?);
                doc.labels.insert(
                    id,
                    Label {
                        id,
                        name: r.get(1).map_err(&err)?,
                        color: unpack_color(r.get(2).map_err(&err)?),
                    },
                );
            }
        }
        {
            let mut st = self
                .conn
                .prepare(&format!("SELECT id, image_id, label_id, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms, rev, reported FROM regions{}", clause(&["id"])))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: Id = r.get(0).map_err(&err)?;
                known.insert(("region", id), r.get(11).map_err(&err)?);
                let kind: String = r.get(3).map_err(&err)?;
                let blob: Vec<u8> = r.get(4).map_err(&err)?;
                let author: String = r.get(5).map_err(&err)?;
                let status: String = r.get(7).map_err(&err)?;
                doc.regions.insert(
                    id,
                    Region {
                        id,
                        image: r.get(1).map_err(&err)?,
                        label: r.get(2).map_err(&err)?,
                        shape: decode_shape(&kind, &blob)
                            .ok_or_else(|| corrupt(format!("region {id}: bad {kind} geometry")))?,
                        author: author
                            .parse::<Author>()
                            .map_err(|e| corrupt(format!("region {id}: {e}")))?,
                        prompt: r.get(6).map_err(&err)?,
                        status: Status::parse(&status)
                            .ok_or_else(|| corrupt(format!("region {id}: status {status:?}")))?,
                        confidence: r.get(8).map_err(&err)?,
                        created_ms: r.get(9).map_err(&err)?,
                        modified_ms: r.get(10).map_err(&err)?,
                        reported: r
                            .get::<_, Option<String>>(12)
                            .map_err(&err)?
                            .map(|j| serde_json::from_str(&j))
                            .transpose()
                            .map_err(|e| corrupt(format!("region {id}: reported values: {e}")))?,
                    },
                );
            }
        }
        for (id, region) in &doc.regions {
            if region.shape == Shape::Mask {
                let size = doc.images.get(&region.image).map_or([1, 1, 1], |i| i.size);
                doc.masks.insert(*id, MaskTiles::new(size));
            }
        }
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT region_id, k, ty, tx, data FROM mask_tiles{}",
                    clause(&["region_id"])
                ))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: Id = r.get(0).map_err(&err)?;
                let key: TileKey = (
                    r.get(1).map_err(&err)?,
                    r.get(2).map_err(&err)?,
                    r.get(3).map_err(&err)?,
                );
                let blob: Vec<u8> = r.get(4).map_err(&err)?;
                let tile = decompress_tile(&blob).ok_or_else(|| {
                    corrupt(format!(
                        "region {id}: mask tile {key:?} does not decompress"
                    ))
                })?;
                doc.masks
                    .get_mut(&id)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "mask tile of region {id}, which is not a mask region"
                        ))
                    })?
                    .set_tile(key, tile);
            }
        }
        {
            let mut st = self
                .conn
                .prepare(&format!("SELECT id, image_id, text, span_start, span_end, category, grounding, created_ms, modified_ms, author, rev FROM phrases{}", clause(&["id"])))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: Id = r.get(0).map_err(&err)?;
                known.insert(("phrase", id), r.get(10).map_err(&err)?);
                let span: (Option<i64>, Option<i64>) =
                    (r.get(3).map_err(&err)?, r.get(4).map_err(&err)?);
                let grounding: String = r.get(6).map_err(&err)?;
                let author: String = r.get(9).map_err(&err)?;
                doc.phrases.insert(
                    id,
                    Phrase {
                        id,
                        image: r.get(1).map_err(&err)?,
                        text: r.get(2).map_err(&err)?,
                        author: author
                            .parse::<Author>()
                            .map_err(|e| corrupt(format!("phrase {id}: {e}")))?,
                        span: match span {
                            (Some(a), Some(b)) if a >= 0 && b >= 0 => {
                                Some((a as usize, b as usize))
                            }
                            (None, None) => None,
                            _ => return Err(corrupt(format!("phrase {id}: bad span"))),
                        },
                        category: r.get(5).map_err(&err)?,
                        grounding: Grounding::parse(&grounding).ok_or_else(|| {
                            corrupt(format!("phrase {id}: grounding {grounding:?}"))
                        })?,
                        created_ms: r.get(7).map_err(&err)?,
                        modified_ms: r.get(8).map_err(&err)?,
                    },
                );
            }
        }
        {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT phrase_id, region_id FROM links{}",
                    clause(&["phrase_id", "region_id"])
                ))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                doc.links
                    .insert((r.get(0).map_err(&err)?, r.get(1).map_err(&err)?));
            }
        }
        {
            let mut st = self
                .conn
                .prepare(&format!("SELECT id, image_id, phrase_id, author, slice, width, height, data, created_ms, prompt, rev FROM heatmaps{}", clause(&["id"])))
                .map_err(&err)?;
            let mut rows = st.query(params()).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: Id = r.get(0).map_err(&err)?;
                known.insert(("heatmap", id), r.get(10).map_err(&err)?);
                let (width, height): (i64, i64) =
                    (r.get(5).map_err(&err)?, r.get(6).map_err(&err)?);
                let n = (width.max(0) * height.max(0)) as usize;
                let blob: Vec<u8> = r.get(7).map_err(&err)?;
                let raw = zstd::bulk::decompress(&blob, 4 * n)
                    .ok()
                    .filter(|v| v.len() == 4 * n)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "heatmap {id}: data does not decompress to {width}×{height} values"
                        ))
                    })?;
                let author: String = r.get(3).map_err(&err)?;
                doc.heatmaps.insert(
                    id,
                    crate::core::Heatmap {
                        id,
                        image: r.get(1).map_err(&err)?,
                        phrase: r.get(2).map_err(&err)?,
                        author: author
                            .parse::<Author>()
                            .map_err(|e| corrupt(format!("heatmap {id}: {e}")))?,
                        slice: r.get(4).map_err(&err)?,
                        width: width as usize,
                        height: height as usize,
                        values: raw
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                        created_ms: r.get(8).map_err(&err)?,
                        prompt: r.get(9).map_err(&err)?,
                    },
                );
            }
        }
        Ok((doc, known))
    }

    /// `PRAGMA integrity_check` plus Voxmark's invariants; an empty list means the project is sound.
    pub fn check(&self) -> Result<Vec<Finding>> {
        self.snapshot(|| self.check_now())
    }

    fn check_now(&self) -> Result<Vec<Finding>> {
        let err = self.sql_err();
        let mut findings = Vec::new();
        // Every step reports what it can; one that fails (a damaged page) is a finding too, and the
        // others still run.
        let lines = |sql: &str| -> Result<Vec<String>> {
            let mut st = self.conn.prepare(sql).map_err(&err)?;
            let rows = st
                .query_map([], |r| {
                    let cols = r.as_ref().column_count();
                    (0..cols)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                                rusqlite::types::Value::Text(t) => t,
                                rusqlite::types::Value::Integer(i) => i.to_string(),
                                other => format!("{other:?}"),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .map_err(&err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            Ok(rows.into_iter().map(|r| r.join(" ")).collect())
        };
        match lines("PRAGMA integrity_check") {
            Ok(rows) => findings.extend(
                rows.into_iter()
                    .filter(|r| r != "ok")
                    .map(|r| format!("integrity: {r}")),
            ),
            Err(e) => findings.push(format!("integrity check could not run: {e}")),
        }
        match lines("PRAGMA foreign_key_check") {
            Ok(rows) => findings.extend(rows.into_iter().map(|r| {
                let w: Vec<&str> = r.split(' ').collect();
                match w.as_slice() {
                    [t, row, parent, ..] => {
                        format!("{t} row {row} points at a missing {parent} row")
                    }
                    _ => format!("foreign key: {r}"),
                }
            })),
            Err(e) => findings.push(format!("foreign keys could not be checked: {e}")),
        }
        let mut query =
            |sql: &str, describe: &dyn Fn(&rusqlite::Row<'_>) -> rusqlite::Result<String>| {
                let run = || -> Result<Vec<String>> {
                    let mut st = self.conn.prepare(sql).map_err(&err)?;
                    st.query_map([], |r| describe(r))
                        .map_err(&err)?
                        .collect::<Result<_, _>>()
                        .map_err(&err)
                };
                match run() {
                    Ok(rows) => findings.extend(rows),
                    Err(e) => findings.push(format!("a check could not run: {e}")),
                }
            };
        // Spans count characters; SQLite's length() of TEXT does too.
        query(
            "SELECT p.id, p.span_start, p.span_end, coalesce(length(i.report), 0) FROM phrases p JOIN images i ON i.id = p.image_id
             WHERE p.span_start IS NOT NULL AND (p.span_start < 0 OR p.span_start >= p.span_end OR p.span_end > coalesce(length(i.report), 0))",
            &|r| {
                Ok(format!(
                    "phrase {}: span [{}, {}) lies outside its report ({} characters)",
                    r.get::<_, Id>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?
                ))
            },
        );
        query(
            "SELECT l.phrase_id, l.region_id FROM links l JOIN phrases p ON p.id = l.phrase_id JOIN regions r ON r.id = l.region_id
             WHERE p.image_id != r.image_id",
            &|r| Ok(format!("link phrase {} → region {} joins different images", r.get::<_, Id>(0)?, r.get::<_, Id>(1)?)),
        );
        query(
            &format!(
                "SELECT t.region_id, t.k, t.ty, t.tx, r.kind FROM mask_tiles t JOIN regions r ON r.id = t.region_id JOIN images i ON i.id = r.image_id
                 WHERE r.kind != 'mask' OR t.k < 0 OR t.ty < 0 OR t.tx < 0 OR t.k >= i.size_z OR t.ty * {TILE} >= i.size_y OR t.tx * {TILE} >= i.size_x"
            ),
            &|r| {
                Ok(format!(
                    "region {}: mask tile ({}, {}, {}) does not match the image grid or a mask region ({})",
                    r.get::<_, Id>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?
                ))
            },
        );
        // Identities must be 16-byte blobs (a damaged or foreign row is named by its rowid).
        for t in ["images", "labels", "regions", "phrases", "heatmaps"] {
            query(
                &format!("SELECT rowid FROM {t} WHERE typeof(id) != 'blob' OR length(id) != 16"),
                &|r| {
                    Ok(format!(
                        "{t} row {}: its id is not a 16-byte identity",
                        r.get::<_, i64>(0)?
                    ))
                },
            );
        }
        // Everything else that must decode: geometry, authors, statuses, tiles.
        if let Err(e) = self.load_document() {
            findings.push(e.to_string());
        }
        match journal::Journal::beside(&self.path).entries() {
            Ok(j) if !j.entries.is_empty() => findings.push(format!(
                "the recovery journal holds {} transaction(s) that were not saved; run `voxmark recover` ({})",
                j.entries.len(),
                journal::Journal::beside(&self.path).path().display()
            )),
            Ok(_) => {}
            Err(e) => findings.push(e.to_string()),
        }
        Ok(findings)
    }
}
