//! Writing one edit inside a commit's SQLite transaction: inserts, and updates and deletes guarded
//! by the row revision the writer read (a conflict otherwise); mask strokes merged into the tiles
//! the file holds now.

use super::{
    Result, StoreError, classify, compress_tile, decompress_tile, encode_shape, pack_color,
};
use crate::core::mask::{MaskTiles, TileKey, rle_decode};
use crate::core::{Edit, Id, RegionId};
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;

/// Why an update or delete of `id` (in table `entity`s) matched no row: a conflict naming who
/// changed or deleted it, or `None` when the log never heard of the row.
pub(super) fn conflict_or_missing(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    entity: &str,
    id: Id,
    action: &str,
) -> Option<StoreError> {
    let table = table_of(entity)?;
    let exists: Option<i64> = tx
        .query_row(
            &format!("SELECT rev FROM {table} WHERE id = ?1"),
            [id],
            |r| r.get(0),
        )
        .optional()
        .ok()?;
    let last: Option<(String, i64)> = tx
        .query_row(
            "SELECT who, rev FROM changes WHERE entity_id = ?1 OR related_id = ?1 ORDER BY rev DESC LIMIT 1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ok()?;
    let by = match (exists, &last) {
        (Some(rev), _) => tx
            .query_row("SELECT who FROM changes WHERE rev = ?1", [rev], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .ok()
            .flatten(),
        (None, Some((who, _))) => Some(who.clone()),
        (None, None) => return None,
    };
    Some(StoreError::Conflict {
        path: path.to_path_buf(),
        what: format!("{entity} {id}"),
        how: if exists.is_some() {
            "changed"
        } else {
            "deleted"
        },
        by: by.unwrap_or_else(|| "another writer".into()),
        action: action.to_string(),
    })
}

pub(super) fn table_of(entity: &str) -> Option<&'static str> {
    Some(match entity {
        "image" => "images",
        "label" => "labels",
        "region" => "regions",
        "phrase" => "phrases",
        "heatmap" => "heatmaps",
        _ => return None,
    })
}

/// A row: its table's entity name and its id (ids are unique across tables in practice, but
/// nothing relies on it).
pub(super) type Row = (&'static str, Id);

/// What a committed edit did to the rows this writer knows.
pub(super) enum Known {
    /// The row is at this revision now.
    At(Row, i64),
    /// The row is gone.
    Gone(Row),
    /// Nothing to record.
    Nothing,
}

/// Writes edits inside one SQLite transaction at one change-log revision.
pub(super) struct Writer<'a> {
    pub(super) tx: &'a rusqlite::Transaction<'a>,
    pub(super) path: &'a Path,
    pub(super) rev: i64,
    pub(super) expected: &'a HashMap<Row, i64>,
    pub(super) action: &'a str,
}

impl Writer<'_> {
    fn sql(&self, e: rusqlite::Error) -> StoreError {
        classify(self.path, e)
    }

    fn unsupported(&self, what: &str) -> StoreError {
        StoreError::Unsupported {
            path: self.path.to_path_buf(),
            what: what.to_string(),
        }
    }

    /// A foreign key that failed: a row this edit refers to was deleted by another writer.
    fn refers_to_gone(&self, e: rusqlite::Error, refs: &[(&str, Id)]) -> StoreError {
        let is_fk = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY);
        if is_fk {
            for (entity, id) in refs {
                let Some(table) = table_of(entity) else {
                    continue;
                };
                let present = self
                    .tx
                    .query_row(
                        &format!("SELECT 1 FROM {table} WHERE id = ?1"),
                        [id],
                        |_| Ok(()),
                    )
                    .optional()
                    .ok()
                    .flatten()
                    .is_some();
                if !present {
                    return conflict_or_missing(self.tx, self.path, entity, *id, self.action)
                        .unwrap_or_else(|| StoreError::NotFound {
                            path: self.path.to_path_buf(),
                            what: format!("{entity} {id}"),
                        });
                }
            }
        }
        self.sql(e)
    }

    /// The revision `id` must still have, or a conflict when this writer never read it.
    fn expected(&self, entity: &'static str, id: Id) -> Result<i64> {
        self.expected.get(&(entity, id)).copied().ok_or_else(|| {
            conflict_or_missing(self.tx, self.path, entity, id, self.action).unwrap_or_else(|| {
                StoreError::NotFound {
                    path: self.path.to_path_buf(),
                    what: format!("{entity} {id}"),
                }
            })
        })
    }

    /// A region's reported values as the JSON stored in `regions.reported`.
    fn reported_json(&self, r: &crate::core::Region) -> Result<Option<String>> {
        r.reported
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Unsupported {
                path: self.path.to_path_buf(),
                what: format!("region {}'s reported values ({e})", r.id),
            })
    }

    /// Runs an update or delete of `id` guarded by its expected revision.
    fn guarded(
        &self,
        entity: &'static str,
        id: Id,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Known> {
        let expected = self.expected(entity, id)?;
        let mut all: Vec<&dyn rusqlite::ToSql> = args.to_vec();
        all.push(&expected);
        let n = self.tx.execute(sql, all.as_slice());
        let n = match n {
            Ok(n) => n,
            Err(e) => return Err(self.refers_to_gone(e, &[(entity, id)])),
        };
        if n == 0 {
            return Err(
                conflict_or_missing(self.tx, self.path, entity, id, self.action).unwrap_or_else(
                    || StoreError::NotFound {
                        path: self.path.to_path_buf(),
                        what: format!("{entity} {id}"),
                    },
                ),
            );
        }
        Ok(if sql.trim_start().starts_with("DELETE") {
            Known::Gone((entity, id))
        } else {
            Known::At((entity, id), self.rev)
        })
    }

    fn insert_links(&self, pairs: &mut dyn Iterator<Item = (Id, Id)>) -> Result<()> {
        let mut st = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO links (phrase_id, region_id) VALUES (?1, ?2)")
            .map_err(|e| self.sql(e))?;
        for (p, r) in pairs {
            st.execute(params![p, r])
                .map_err(|e| self.refers_to_gone(e, &[("phrase", p), ("region", r)]))?;
        }
        Ok(())
    }

    pub(super) fn edit(&self, edit: &Edit) -> Result<Known> {
        let rev = self.rev;
        Ok(match edit {
            Edit::AddHeatmap(h) => {
                let raw: Vec<u8> = h.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                let data = super::compress_checked(&raw, 3);
                let mut refs = vec![("image", h.image)];
                refs.extend(h.phrase.map(|p| ("phrase", p)));
                self.tx
                    .execute(
                        "INSERT INTO heatmaps (id, image_id, phrase_id, author, slice, width, height, data, created_ms, prompt, rev)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![h.id, h.image, h.phrase, h.author.to_string(), h.slice, h.width as i64, h.height as i64, data, h.created_ms, h.prompt, rev],
                    )
                    .map_err(|e| self.refers_to_gone(e, &refs))?;
                Known::At(("heatmap", h.id), rev)
            }
            Edit::RemoveHeatmap(h) => self.guarded(
                "heatmap",
                h.id,
                "DELETE FROM heatmaps WHERE id = ?1 AND rev = ?2",
                &[&h.id],
            )?,
            Edit::AddImage(_) | Edit::RemoveImage(_) => {
                return Err(self.unsupported(
                    "image rows as edits (images are added with `voxmark add`)",
                ));
            }
            Edit::SetReport { image, after, .. } => self.guarded(
                "image",
                *image,
                "UPDATE images SET report = ?1, rev = ?2 WHERE id = ?3 AND rev = ?4",
                &[after, &rev, image],
            )?,
            Edit::AddLabel(l) => {
                // Labels are identified by name: a writer creating a name that exists reuses it.
                self.tx
                    .execute(
                        "INSERT OR IGNORE INTO labels (id, name, color, rev) VALUES (?1, ?2, ?3, ?4)",
                        params![l.id, l.name, pack_color(l.color), rev],
                    )
                    .map_err(|e| self.sql(e))?;
                let row: Option<(String, i64)> = self
                    .tx
                    .query_row("SELECT name, rev FROM labels WHERE id = ?1", [l.id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(|e| self.sql(e))?;
                match row {
                    Some((name, at)) if name == l.name => Known::At(("label", l.id), at),
                    _ => {
                        let by: Option<String> = self
                            .tx
                            .query_row(
                                "SELECT c.who FROM labels l JOIN changes c ON c.rev = l.rev WHERE l.name = ?1 OR l.id = ?2 LIMIT 1",
                                params![l.name, l.id],
                                |r| r.get(0),
                            )
                            .optional()
                            .map_err(|e| self.sql(e))?;
                        return Err(StoreError::Conflict {
                            path: self.path.to_path_buf(),
                            what: format!("label \"{}\" (a label was renamed to or from it)", l.name),
                            how: "changed",
                            by: by.unwrap_or_else(|| "another writer".into()),
                            action: self.action.to_string(),
                        });
                    }
                }
            }
            Edit::RemoveLabel(l) => self.guarded(
                "label",
                l.id,
                "DELETE FROM labels WHERE id = ?1 AND rev = ?2",
                &[&l.id],
            )?,
            Edit::UpdateLabel { after, .. } => self.guarded(
                "label",
                after.id,
                "UPDATE labels SET name = ?1, color = ?2, rev = ?3 WHERE id = ?4 AND rev = ?5",
                &[&after.name, &pack_color(after.color), &rev, &after.id],
            )?,
            Edit::AddRegion {
                region: r,
                mask,
                links,
            } => {
                let mut refs = vec![("image", r.image)];
                refs.extend(r.label.map(|l| ("label", l)));
                let reported = self.reported_json(r)?;
                self.tx
                    .prepare_cached(
                        "INSERT INTO regions (id, image_id, label_id, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms, rev, reported)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            r.id,
                            r.image,
                            r.label,
                            r.shape.kind(),
                            encode_shape(&r.shape),
                            r.author.to_string(),
                            r.prompt,
                            r.status.as_str(),
                            r.confidence,
                            r.created_ms,
                            r.modified_ms,
                            rev,
                            reported
                        ])
                    })
                    .map_err(|e| self.refers_to_gone(e, &refs))?;
                if let Some(m) = mask {
                    let mut up = self
                        .tx
                        .prepare_cached("INSERT INTO mask_tiles (region_id, k, ty, tx, data) VALUES (?1, ?2, ?3, ?4, ?5)")
                        .map_err(|e| self.sql(e))?;
                    for (key, t) in m.tiles() {
                        up.execute(params![r.id, key.0, key.1, key.2, compress_tile(t)])
                            .map_err(|e| self.sql(e))?;
                    }
                }
                self.insert_links(&mut links.iter().map(|p| (*p, r.id)))?;
                Known::At(("region", r.id), rev)
            }
            Edit::RemoveRegion { region, .. } => self.guarded(
                "region",
                region.id,
                "DELETE FROM regions WHERE id = ?1 AND rev = ?2",
                &[&region.id],
            )?,
            Edit::UpdateRegion { after: r, .. } => {
                let reported = self.reported_json(r)?;
                let known = self.guarded(
                    "region",
                    r.id,
                    "UPDATE regions SET label_id = ?2, kind = ?3, geometry = ?4, author = ?5, prompt = ?6, status = ?7, confidence = ?8,
                     created_ms = ?9, modified_ms = ?10, reported = ?11, rev = ?12 WHERE id = ?1 AND rev = ?13",
                    &[
                        &r.id,
                        &r.label,
                        &r.shape.kind(),
                        &encode_shape(&r.shape),
                        &r.author.to_string(),
                        &r.prompt,
                        &r.status.as_str(),
                        &r.confidence,
                        &r.created_ms,
                        &r.modified_ms,
                        &reported,
                        &rev,
                    ],
                );
                match (known, r.label) {
                    (Err(e @ StoreError::Sql { .. }), Some(label)) => {
                        // A label another writer deleted meanwhile.
                        return Err(conflict_or_missing(self.tx, self.path, "label", label, self.action)
                            .unwrap_or(e));
                    }
                    (k, _) => k?,
                }
            }
            Edit::AddPhrase { phrase: p, links } => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO phrases (id, image_id, text, span_start, span_end, category, grounding, created_ms, modified_ms, author, rev)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            p.id,
                            p.image,
                            p.text,
                            p.span.map(|s| s.0 as i64),
                            p.span.map(|s| s.1 as i64),
                            p.category,
                            p.grounding.as_str(),
                            p.created_ms,
                            p.modified_ms,
                            p.author.to_string(),
                            rev
                        ])
                    })
                    .map_err(|e| self.refers_to_gone(e, &[("image", p.image)]))?;
                self.insert_links(&mut links.iter().map(|r| (p.id, *r)))?;
                Known::At(("phrase", p.id), rev)
            }
            Edit::RemovePhrase { phrase, .. } => self.guarded(
                "phrase",
                phrase.id,
                "DELETE FROM phrases WHERE id = ?1 AND rev = ?2",
                &[&phrase.id],
            )?,
            Edit::UpdatePhrase { after: p, .. } => self.guarded(
                "phrase",
                p.id,
                "UPDATE phrases SET text = ?2, span_start = ?3, span_end = ?4, category = ?5, grounding = ?6, created_ms = ?7, modified_ms = ?8,
                 author = ?9, rev = ?10 WHERE id = ?1 AND rev = ?11",
                &[
                    &p.id,
                    &p.text,
                    &p.span.map(|s| s.0 as i64),
                    &p.span.map(|s| s.1 as i64),
                    &p.category,
                    &p.grounding.as_str(),
                    &p.created_ms,
                    &p.modified_ms,
                    &p.author.to_string(),
                    &rev,
                ],
            )?,
            Edit::Link { phrase, region } => {
                self.insert_links(&mut std::iter::once((*phrase, *region)))?;
                Known::Nothing
            }
            Edit::Unlink { phrase, region } => {
                self.tx
                    .execute(
                        "DELETE FROM links WHERE phrase_id = ?1 AND region_id = ?2",
                        params![phrase, region],
                    )
                    .map_err(|e| self.sql(e))?;
                Known::Nothing
            }
            Edit::PaintMask {
                region,
                bounds,
                before,
                after,
            } => self.paint(*region, *bounds, before, after)?,
        })
    }

    /// Applies a stroke's delta to the tiles the file holds now: voxels the stroke changed take
    /// its values, every other voxel keeps what is there (another writer's stroke included).
    fn paint(
        &self,
        region: RegionId,
        bounds: crate::core::VoxelBox,
        before: &[u8],
        after: &[u8],
    ) -> Result<Known> {
        let size: Option<[i64; 3]> = self
            .tx
            .query_row(
                "SELECT i.size_x, i.size_y, i.size_z FROM regions r JOIN images i ON i.id = r.image_id WHERE r.id = ?1 AND r.kind = 'mask'",
                [region],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some(size) = size else {
            return Err(
                conflict_or_missing(self.tx, self.path, "region", region, self.action)
                    .unwrap_or_else(|| StoreError::NotFound {
                        path: self.path.to_path_buf(),
                        what: format!("mask region {region}"),
                    }),
            );
        };
        let size = size.map(|s| s.max(0) as usize);
        let n = bounds.len();
        let (Some(was), Some(now)) = (rle_decode(before, n), rle_decode(after, n)) else {
            return Err(self.unsupported(&format!(
                "a stroke on region {region} whose voxel runs do not cover its box"
            )));
        };
        if !bounds.fits(size) {
            return Err(self.unsupported(&format!(
                "a stroke on region {region} outside its image grid"
            )));
        }
        let keys: Vec<TileKey> = MaskTiles::tiles_touched(bounds);
        let mut mask = MaskTiles::new(size);
        {
            let mut get = self
                .tx
                .prepare_cached(
                    "SELECT data FROM mask_tiles WHERE region_id = ?1 AND k = ?2 AND ty = ?3 AND tx = ?4",
                )
                .map_err(|e| self.sql(e))?;
            for key in &keys {
                let blob: Option<Vec<u8>> = get
                    .query_row(params![region, key.0, key.1, key.2], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.sql(e))?;
                if let Some(blob) = blob {
                    let tile = decompress_tile(&blob).ok_or_else(|| StoreError::Corrupt {
                        path: self.path.to_path_buf(),
                        why: format!("region {region}: mask tile {key:?} does not decompress"),
                    })?;
                    mask.set_tile(*key, tile);
                }
            }
        }
        let mut voxels = mask.read_box(bounds);
        for ((v, w), a) in voxels.iter_mut().zip(&was).zip(&now) {
            if w != a {
                *v = *a;
            }
        }
        mask.write_box(bounds, &voxels);
        let mut up = self
            .tx
            .prepare_cached("INSERT OR REPLACE INTO mask_tiles (region_id, k, ty, tx, data) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(|e| self.sql(e))?;
        let mut del = self
            .tx
            .prepare_cached(
                "DELETE FROM mask_tiles WHERE region_id = ?1 AND k = ?2 AND ty = ?3 AND tx = ?4",
            )
            .map_err(|e| self.sql(e))?;
        for key in keys {
            match mask.tile(key) {
                Some(t) => up.execute(params![region, key.0, key.1, key.2, compress_tile(t)]),
                None => del.execute(params![region, key.0, key.1, key.2]),
            }
            .map_err(|e| self.sql(e))?;
        }
        self.tx
            .execute(
                "UPDATE regions SET rev = ?1 WHERE id = ?2",
                params![self.rev, region],
            )
            .map_err(|e| self.sql(e))?;
        Ok(Known::At(("region", region), self.rev))
    }
}
