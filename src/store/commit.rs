//! Committing transactions with other writers about: one SQLite transaction per [`Transaction`]
//! (`BEGIN IMMEDIATE`, busy waited out and retried), one change-log row per edit, updates and
//! deletes made against the row revision this writer read (a conflict otherwise), mask strokes
//! merged voxel by voxel into whatever the file holds now.

use super::{
    Project, Result, StoreError, classify, compress_tile, decompress_tile, encode_shape, journal,
    now_ms, pack_color,
};
use crate::core::mask::{MaskTiles, TileKey, rle_decode};
use crate::core::{Edit, Id, RegionId, Transaction};
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the store acknowledged for one committed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction's identity in the change log.
    pub txn: Id,
    /// The change-log revision of its last edit (the project's revision after it).
    pub revision: i64,
    /// True when the change log already held this transaction (a recovery applied twice): nothing
    /// was written again.
    pub already_applied: bool,
}

/// One row of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Its revision (increasing).
    pub revision: i64,
    /// The transaction it belongs to.
    pub txn: Id,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// Who wrote it (`human:<name>`, `model:<name>@<version>`).
    pub who: String,
    /// What was done (`add_region`, `update_phrase`, `paint_mask`, `link`, ...).
    pub action: String,
    /// The kind of row (`image`, `label`, `region`, `phrase`, `link`, `heatmap`, `project`).
    pub entity: String,
    /// The row (a link's phrase).
    pub entity_id: Option<Id>,
    /// A link's region.
    pub related_id: Option<Id>,
    /// The transaction's name.
    pub detail: Option<String>,
}

/// Appends one change-log row and returns its revision.
#[allow(clippy::too_many_arguments)]
pub(super) fn log_change(
    tx: &rusqlite::Transaction<'_>,
    txn: Id,
    at_ms: i64,
    who: &str,
    action: &str,
    entity: &str,
    entity_id: Option<Id>,
    related_id: Option<Id>,
    detail: &str,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO changes (txn, at_ms, who, action, entity, entity_id, related_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![txn, at_ms, who, action, entity, entity_id, related_id, detail])?;
    Ok(tx.last_insert_rowid())
}

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

/// The static name of an entity kind read back from the journal.
pub(super) fn entity_name(entity: &str) -> Option<&'static str> {
    ["image", "label", "region", "phrase", "heatmap"]
        .into_iter()
        .find(|e| *e == entity)
}

fn table_of(entity: &str) -> Option<&'static str> {
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
enum Known {
    /// The row is at this revision now.
    At(Row, i64),
    /// The row is gone.
    Gone(Row),
    /// Nothing to record.
    Nothing,
}

impl Project {
    /// Runs `attempt` until it succeeds, fails for a reason other than a busy file, or
    /// [`Self::set_busy_timeout`]'s patience runs out (each attempt's SQLite calls wait too).
    pub(super) fn with_retries<T>(
        &mut self,
        mut attempt: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match attempt(self) {
                Err(StoreError::InUse { .. }) if started.elapsed() < self.patience => {
                    // Jitter, so that writers that collided do not collide again in step.
                    let jitter = Duration::from_micros(u64::from(Id::new().as_bytes()[15]) * 40);
                    std::thread::sleep(pause + jitter);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(StoreError::InUse { path, .. }) => {
                    return Err(StoreError::InUse {
                        path,
                        seconds: started.elapsed().as_secs().max(1),
                    });
                }
                other => return other,
            }
        }
    }

    /// Persists one transaction (already applied to the caller's document) in one SQLite
    /// transaction with a change-log row per edit, and returns what was acknowledged. Updates and
    /// deletes must be of rows this project read or wrote; when another writer changed or deleted
    /// such a row since, nothing is written and [`StoreError::Conflict`] says what and by whom.
    /// A busy file is waited out. Any other failure leaves the transaction in the recovery
    /// journal beside the file (`voxmark recover` re-applies it), and the error says so.
    pub fn commit(&mut self, t: &Transaction, who: &str) -> Result<Receipt> {
        let txn = Id::new();
        let expected = self.expected_revisions(t);
        match self.commit_as(txn, t, who, &expected) {
            Ok(r) => {
                // A caller that retried by itself and succeeded: its journal entry is done. The
                // commit stands either way (`recover` would find it applied and drop the entry).
                let journal = journal::Journal::beside(&self.path);
                if journal.path().exists() {
                    let _ = journal.forget(t);
                }
                Ok(r)
            }
            Err(e) if journal::worth_keeping(&e) => {
                let entry = journal::Entry {
                    txn,
                    at_ms: now_ms(),
                    who: who.to_string(),
                    reason: e.to_string(),
                    expected: expected
                        .into_iter()
                        .map(|((entity, id), rev)| ((entity.to_string(), id), rev))
                        .collect(),
                    transaction: t.clone(),
                };
                match journal::Journal::beside(&self.path).append(&entry) {
                    Ok(()) => Err(e),
                    Err(j) => Err(StoreError::Journal {
                        path: journal::Journal::beside(&self.path).path().to_path_buf(),
                        why: format!("{e}; keeping it in the journal failed too ({j})"),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The revisions the rows `t` updates or deletes had when this project read them.
    pub(super) fn expected_revisions(&self, t: &Transaction) -> HashMap<Row, i64> {
        let known = self.known.borrow();
        t.edits
            .iter()
            .filter_map(target_of_change)
            .filter_map(|id| known.get(&id).map(|rev| (id, *rev)))
            .collect()
    }

    /// Commits `t` as transaction `txn` against the row revisions `expected` (what the writer had
    /// read); a `txn` the change log holds already is not applied again.
    pub(super) fn commit_as(
        &mut self,
        txn: Id,
        t: &Transaction,
        who: &str,
        expected: &HashMap<Row, i64>,
    ) -> Result<Receipt> {
        let (receipt, known) = self.with_retries(|p| p.try_commit(txn, t, who, expected))?;
        let mut k = self.known.borrow_mut();
        for change in known {
            match change {
                Known::At(id, rev) => {
                    k.insert(id, rev);
                }
                Known::Gone(id) => {
                    k.remove(&id);
                }
                Known::Nothing => {}
            }
        }
        Ok(receipt)
    }

    fn try_commit(
        &mut self,
        txn: Id,
        t: &Transaction,
        who: &str,
        expected: &HashMap<Row, i64>,
    ) -> Result<(Receipt, Vec<Known>)> {
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let done: Option<i64> = tx
            .query_row("SELECT max(rev) FROM changes WHERE txn = ?1", [txn], |r| {
                r.get(0)
            })
            .map_err(e)?;
        if let Some(revision) = done {
            return Ok((
                Receipt {
                    txn,
                    revision,
                    already_applied: true,
                },
                Vec::new(),
            ));
        }
        let at = now_ms();
        let mut known = Vec::new();
        let mut revision = 0;
        // Later edits of the transaction are made against what its earlier edits wrote.
        let mut expected = expected.clone();
        for edit in &t.edits {
            let (action, entity, entity_id, related_id) = describe(edit);
            revision = log_change(
                &tx, txn, at, who, action, entity, entity_id, related_id, &t.name,
            )
            .map_err(e)?;
            let write = Writer {
                tx: &tx,
                path: &path,
                rev: revision,
                expected: &expected,
                action: &t.name,
            };
            let k = write.edit(edit)?;
            match &k {
                Known::At(id, rev) => {
                    expected.insert(*id, *rev);
                }
                Known::Gone(id) => {
                    expected.remove(id);
                }
                Known::Nothing => {}
            }
            known.push(k);
        }
        tx.commit().map_err(e)?;
        Ok((
            Receipt {
                txn,
                revision,
                already_applied: false,
            },
            known,
        ))
    }

    /// The change log after revision `since`, oldest first (what other writers did, for a reader
    /// catching up).
    pub fn changes_since(&self, since: i64) -> Result<Vec<Change>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT rev, txn, at_ms, who, action, entity, entity_id, related_id, detail FROM changes WHERE rev > ?1 ORDER BY rev",
            )
            .map_err(self.sql_err())?;
        st.query_map([since], |r| {
            Ok(Change {
                revision: r.get(0)?,
                txn: r.get(1)?,
                at_ms: r.get(2)?,
                who: r.get(3)?,
                action: r.get(4)?,
                entity: r.get(5)?,
                entity_id: r.get(6)?,
                related_id: r.get(7)?,
                detail: r.get(8)?,
            })
        })
        .map_err(self.sql_err())?
        .collect::<rusqlite::Result<_>>()
        .map_err(self.sql_err())
    }

    /// True when the change log holds transaction `txn`.
    pub fn has_transaction(&self, txn: Id) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM changes WHERE txn = ?1 LIMIT 1",
                [txn],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(self.sql_err())
    }
}

/// The row an edit updates or deletes (whose revision it is made against).
fn target_of_change(edit: &Edit) -> Option<Row> {
    Some(match edit {
        Edit::SetReport { image, .. } => ("image", *image),
        Edit::RemoveLabel(l) => ("label", l.id),
        Edit::UpdateLabel { after, .. } => ("label", after.id),
        Edit::RemoveRegion { region, .. } => ("region", region.id),
        Edit::UpdateRegion { after, .. } => ("region", after.id),
        Edit::RemovePhrase { phrase, .. } => ("phrase", phrase.id),
        Edit::UpdatePhrase { after, .. } => ("phrase", after.id),
        Edit::RemoveHeatmap(h) => ("heatmap", h.id),
        _ => return None,
    })
}

/// (action, entity, entity id, related id) of an edit's change-log row.
fn describe(edit: &Edit) -> (&'static str, &'static str, Option<Id>, Option<Id>) {
    match edit {
        Edit::AddImage(i) => ("add_image", "image", Some(i.id), None),
        Edit::RemoveImage(i) => ("remove_image", "image", Some(i.id), None),
        Edit::SetReport { image, .. } => ("set_report", "image", Some(*image), None),
        Edit::AddLabel(l) => ("add_label", "label", Some(l.id), None),
        Edit::RemoveLabel(l) => ("remove_label", "label", Some(l.id), None),
        Edit::UpdateLabel { after, .. } => ("update_label", "label", Some(after.id), None),
        Edit::AddRegion { region, .. } => ("add_region", "region", Some(region.id), None),
        Edit::RemoveRegion { region, .. } => ("remove_region", "region", Some(region.id), None),
        Edit::UpdateRegion { after, .. } => ("update_region", "region", Some(after.id), None),
        Edit::AddPhrase { phrase, .. } => ("add_phrase", "phrase", Some(phrase.id), None),
        Edit::RemovePhrase { phrase, .. } => ("remove_phrase", "phrase", Some(phrase.id), None),
        Edit::UpdatePhrase { after, .. } => ("update_phrase", "phrase", Some(after.id), None),
        Edit::Link { phrase, region } => ("link", "link", Some(*phrase), Some(*region)),
        Edit::Unlink { phrase, region } => ("unlink", "link", Some(*phrase), Some(*region)),
        Edit::AddHeatmap(h) => ("add_heatmap", "heatmap", Some(h.id), None),
        Edit::RemoveHeatmap(h) => ("remove_heatmap", "heatmap", Some(h.id), None),
        Edit::PaintMask { region, .. } => ("paint_mask", "region", Some(*region), None),
    }
}

/// Writes edits inside one SQLite transaction at one change-log revision.
struct Writer<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
    rev: i64,
    expected: &'a HashMap<Row, i64>,
    action: &'a str,
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

    fn edit(&self, edit: &Edit) -> Result<Known> {
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
                self.tx
                    .prepare_cached(
                        "INSERT INTO regions (id, image_id, label_id, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms, rev)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                            rev
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
                let known = self.guarded(
                    "region",
                    r.id,
                    "UPDATE regions SET label_id = ?2, kind = ?3, geometry = ?4, author = ?5, prompt = ?6, status = ?7, confidence = ?8,
                     created_ms = ?9, modified_ms = ?10, rev = ?11 WHERE id = ?1 AND rev = ?12",
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
