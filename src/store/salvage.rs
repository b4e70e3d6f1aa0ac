//! Salvage: every row of a damaged project that can still be read, copied into a new, sound one.
//!
//! The damaged file is never modified: it (with its WAL) is copied aside and read there. Rows are read
//! one at a time by key (`rowid > last`, or the primary key for WITHOUT ROWID tables), so a damaged
//! page loses the rows on it and the scan goes on past it, as the `sqlite3` shell's `.recover` does at
//! page level. Each row is checked as `load_document` would decode it (identities, geometry,
//! authors, statuses, spans, compressed tiles and maps) and against the rows kept before it
//! (foreign keys, mask grids, same-image links); what fails is dropped and counted with its reason.
//! The result passes [`Project::check`].

use super::{Project, Result, StoreError, decode_shape, decompress_tile, parse_floats, schema};
use crate::core::Id;
use crate::core::annotation::{Author, Grounding, Status, span_fits};
use crate::core::mask::TILE;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What happened to one table's rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableOutcome {
    /// The table.
    pub table: &'static str,
    /// Rows copied.
    pub kept: usize,
    /// Rows that were read but dropped (bad values, or what they refer to was lost).
    pub dropped: usize,
    /// Places where reading failed (damaged pages; how many rows they held is unknown).
    pub unreadable: usize,
    /// Why rows were dropped, with counts (the first reasons, by kind).
    pub reasons: BTreeMap<String, usize>,
}

impl TableOutcome {
    fn drop_row(&mut self, why: impl Into<String>) {
        self.dropped += 1;
        *self.reasons.entry(why.into()).or_default() += 1;
    }
}

/// What [`salvage`] did, table by table.
#[derive(Clone, Debug, Default)]
pub struct SalvageReport {
    /// In the order they were copied.
    pub tables: Vec<TableOutcome>,
    /// Regions kept without their label (the label row was lost).
    pub regions_unlabelled: usize,
    /// Regions whose reported values (from an imported report) did not decode and were let go.
    pub reported_dropped: usize,
}

const COLUMNS: &[(&str, &str)] = &[
    (
        "images",
        "id, source, files, kind, volume_index, content_hash, series_uid, modality, size_x, size_y, size_z, spacing_mm, origin_lps_mm, direction, dtype, components, report, added_ms, rev",
    ),
    ("labels", "id, name, color, rev"),
    (
        "regions",
        "id, image_id, label_id, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms, rev, reported",
    ),
    (
        "phrases",
        "id, image_id, text, author, span_start, span_end, category, grounding, created_ms, modified_ms, rev",
    ),
    (
        "heatmaps",
        "id, image_id, phrase_id, author, slice, width, height, data, created_ms, prompt, rev",
    ),
    (
        "changes",
        "rev, txn, at_ms, who, action, entity, entity_id, related_id, detail",
    ),
];

fn columns(table: &str) -> &'static str {
    COLUMNS
        .iter()
        .find(|(t, _)| *t == table)
        .map_or("", |(_, c)| c)
}

fn blob_id(v: &Value) -> Option<Id> {
    match v {
        Value::Blob(b) => Id::from_slice(b),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        _ => None,
    }
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

fn opt_text(v: &Value) -> Option<Option<&str>> {
    match v {
        Value::Null => Some(None),
        Value::Text(t) => Some(Some(t)),
        _ => None,
    }
}

/// Reads every readable row of a rowid table, one seek per row, stepping past damaged places.
fn read_rowid_table(conn: &Connection, table: &str, out: &mut TableOutcome) -> Vec<Vec<Value>> {
    let cols = columns(table);
    let n = cols.split(',').count();
    // Columns a later schema added (nullable) are read as NULL from a file that lacks them.
    let present: Vec<String> = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(1))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default();
    let select = cols
        .split(',')
        .map(str::trim)
        .map(|c| {
            if present.is_empty() || present.iter().any(|p| p == c) {
                c.to_owned()
            } else {
                "NULL".to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql =
        format!("SELECT rowid, {select} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT 1");
    let probe = format!("SELECT rowid FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT 1");
    let mut rows = Vec::new();
    let mut after = i64::MIN;
    let mut step: i64 = 1;
    loop {
        let row = conn.query_row(&sql, [after], |r| {
            let rowid: i64 = r.get(0)?;
            let values: rusqlite::Result<Vec<Value>> = (1..=n).map(|i| r.get(i)).collect();
            Ok((rowid, values))
        });
        match row.optional() {
            Ok(None) => break,
            // A damaged page can hand back a key at or before the last one: step past it (further
            // each time) instead of reading the same rows forever.
            Ok(Some((rowid, _))) if rowid <= after => {
                out.unreadable += 1;
                if step >= 1 << 40 {
                    break;
                }
                after = after.saturating_add(step);
                step = step.saturating_mul(2);
            }
            Ok(Some((rowid, Ok(values)))) => {
                rows.push(values);
                after = rowid;
                step = 1;
            }
            Ok(Some((rowid, Err(_)))) => {
                out.unreadable += 1;
                after = rowid;
            }
            Err(_) => {
                // A damaged page: find the next key that can be reached, further each time.
                out.unreadable += 1;
                let mut next = None;
                while step < (1 << 40) {
                    let from = after.saturating_add(step);
                    step = step.saturating_mul(2);
                    if let Ok(found) = conn
                        .query_row(&probe, [from], |r| r.get::<_, i64>(0))
                        .optional()
                    {
                        next = Some(found);
                        after = from;
                        break;
                    }
                }
                match next {
                    Some(Some(_)) => {}
                    _ => break,
                }
            }
        }
        if after == i64::MAX {
            break;
        }
    }
    rows
}

/// Copies aside what a damaged project holds and salvages it into `target` (a new file).
pub fn salvage(damaged: &Path, target: &Path) -> Result<SalvageReport> {
    if target.exists() {
        return Err(StoreError::Exists {
            path: target.to_path_buf(),
        });
    }
    super::check_magic(damaged)?;
    let scratch = tempdir_beside(target)?;
    let copy = scratch.join("damaged.voxmark");
    let io = |path: &Path, e: std::io::Error| StoreError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    std::fs::copy(damaged, &copy).map_err(|e| io(damaged, e))?;
    let wal = PathBuf::from(format!("{}-wal", damaged.display()));
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", copy.display())).map_err(|e| io(&wal, e))?;
    }
    let result = salvage_copy(&copy, damaged, target);
    // Best effort: a scratch folder left in the temporary directory holds only a copy.
    std::fs::remove_dir_all(&scratch).ok();
    result
}

fn tempdir_beside(target: &Path) -> Result<PathBuf> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(format!(".voxmark-salvage-{}", Id::new().handle()));
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
        path: dir.clone(),
        source: e,
    })?;
    Ok(dir)
}

fn salvage_copy(copy: &Path, damaged: &Path, target: &Path) -> Result<SalvageReport> {
    let corrupt = |why: String| StoreError::Corrupt {
        path: damaged.to_path_buf(),
        why,
    };
    // Older schemas are migrated first (on the copy); a file that does not migrate cannot be read
    // table by table with today's columns.
    let version: i32 = {
        let c = Connection::open(copy).map_err(|e| super::classify(damaged, e))?;
        // A truncated file is shorter than its header says: with `writable_schema` SQLite reads the
        // pages that are there instead of refusing the whole file (nothing is written to it).
        c.execute_batch("PRAGMA writable_schema = ON").ok();
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| super::classify(damaged, e))?
    };
    if version > schema::SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: damaged.to_path_buf(),
            found: version,
            supported: schema::SCHEMA_VERSION,
        });
    }
    // A file with today's columns is read as it is: migrating would rebuild tables, which fails on
    // the very pages salvage exists to step past.
    if version < schema::SAME_COLUMNS_SINCE {
        drop(Project::open(copy).map_err(|e| {
            corrupt(format!(
                "a schema-{version} file that cannot be migrated to salvage it ({e})"
            ))
        })?);
    }
    let src = Connection::open(copy).map_err(|e| super::classify(damaged, e))?;
    // Without them reading goes on, refusing what SQLite refuses.
    src.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA writable_schema = ON")
        .ok();
    let mut out = Project::create(target)?;
    let mut report = SalvageReport::default();
    let result = copy_tables(&src, &mut out, &mut report);
    drop(src);
    if let Err(e) = result {
        drop(out);
        for p in ["", "-wal", "-shm"] {
            // A partial result may not exist yet; the error returned says what failed.
            std::fs::remove_file(format!("{}{p}", target.display())).ok();
        }
        return Err(e);
    }
    let findings = out.check()?;
    if !findings.is_empty() {
        return Err(StoreError::Unsupported {
            path: target.to_path_buf(),
            what: format!(
                "a salvaged project that still fails its check: {}",
                findings.join("; ")
            ),
        });
    }
    Ok(report)
}

fn copy_tables(src: &Connection, out: &mut Project, report: &mut SalvageReport) -> Result<()> {
    let path = out.path().to_path_buf();
    let e = |e| super::classify(&path, e);
    let tx = out.begin_write()?;
    let insert = |table: &str, values: &[Value]| -> rusqlite::Result<usize> {
        let cols = columns(table);
        let marks = (1..=values.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        tx.prepare_cached(&format!("INSERT INTO {table} ({cols}) VALUES ({marks})"))?
            .execute(params_from_iter(values.iter()))
    };

    // Images.
    let mut images: HashMap<Id, ([usize; 3], Option<String>)> = HashMap::new();
    let mut t = TableOutcome {
        table: "images",
        ..Default::default()
    };
    for row in read_rowid_table(src, "images", &mut t) {
        let Some(id) = blob_id(&row[0]) else {
            t.drop_row("its id is not a 16-byte identity");
            continue;
        };
        let size = [8, 9, 10].map(|i| int(&row[i]).unwrap_or(0));
        let geometry_ok = [11, 12]
            .iter()
            .all(|&i| text(&row[i]).and_then(parse_floats::<3>).is_some())
            && text(&row[13]).and_then(parse_floats::<9>).is_some();
        let files_ok =
            text(&row[2]).is_some_and(|f| serde_json::from_str::<Vec<String>>(f).is_ok());
        let texts_ok = [1, 3, 5, 14].iter().all(|&i| text(&row[i]).is_some())
            && [6, 7, 16].iter().all(|&i| opt_text(&row[i]).is_some())
            && [4, 15, 17].iter().all(|&i| int(&row[i]).is_some());
        let report_text = opt_text(&row[16]).flatten().map(str::to_string);
        if size.iter().any(|s| *s <= 0) || !geometry_ok || !files_ok || !texts_ok {
            t.drop_row("a size, geometry, file list or text that does not decode");
            continue;
        }
        match insert("images", &row) {
            Ok(_) => {
                t.kept += 1;
                images.insert(id, (size.map(|s| s as usize), report_text));
            }
            Err(err) => t.drop_row(format!("refused ({err})")),
        }
    }
    report.tables.push(t);

    // Labels.
    let mut labels: BTreeSet<Id> = BTreeSet::new();
    let mut t = TableOutcome {
        table: "labels",
        ..Default::default()
    };
    for row in read_rowid_table(src, "labels", &mut t) {
        let (Some(id), Some(_), Some(_)) = (blob_id(&row[0]), text(&row[1]), int(&row[2])) else {
            t.drop_row("an id, name or colour that does not decode");
            continue;
        };
        match insert("labels", &row) {
            Ok(_) => {
                t.kept += 1;
                labels.insert(id);
            }
            Err(err) => t.drop_row(format!("refused ({err})")),
        }
    }
    report.tables.push(t);

    // Regions.
    let mut regions: HashMap<Id, (Id, bool)> = HashMap::new();
    let mut t = TableOutcome {
        table: "regions",
        ..Default::default()
    };
    for mut row in read_rowid_table(src, "regions", &mut t) {
        let (Some(id), Some(image)) = (blob_id(&row[0]), blob_id(&row[1])) else {
            t.drop_row("an id that is not a 16-byte identity");
            continue;
        };
        if !images.contains_key(&image) {
            t.drop_row("its image was lost");
            continue;
        }
        let kind = text(&row[3]).unwrap_or("").to_string();
        let shape_ok = matches!(&row[4], Value::Blob(b) if decode_shape(&kind, b).is_some());
        let author_ok = text(&row[5]).is_some_and(|a| a.parse::<Author>().is_ok());
        let status_ok = text(&row[7]).and_then(Status::parse).is_some();
        let rest_ok = opt_text(&row[6]).is_some()
            && matches!(row[8], Value::Null | Value::Real(_) | Value::Integer(_))
            && [9, 10].iter().all(|&i| int(&row[i]).is_some());
        if !shape_ok || !author_ok || !status_ok || !rest_ok {
            t.drop_row("geometry, author, status or times that do not decode");
            continue;
        }
        match &row[2] {
            Value::Null => {}
            v => match blob_id(v) {
                Some(l) if labels.contains(&l) => {}
                _ => {
                    row[2] = Value::Null;
                    report.regions_unlabelled += 1;
                }
            },
        }
        // Reported values that no longer decode are let go; the region is kept.
        let reported_ok = match &row[12] {
            Value::Null => true,
            Value::Text(j) => serde_json::from_str::<crate::core::Reported>(j).is_ok(),
            _ => false,
        };
        if !reported_ok {
            row[12] = Value::Null;
            report.reported_dropped += 1;
        }
        match insert("regions", &row) {
            Ok(_) => {
                t.kept += 1;
                regions.insert(id, (image, kind == "mask"));
            }
            Err(err) => t.drop_row(format!("refused ({err})")),
        }
    }
    report.tables.push(t);

    // Mask tiles, region by region (their key starts with the region).
    let mut t = TableOutcome {
        table: "mask_tiles",
        ..Default::default()
    };
    let sql = "SELECT k, ty, tx, data FROM mask_tiles WHERE region_id = ?1 AND (k, ty, tx) > (?2, ?3, ?4) ORDER BY k, ty, tx LIMIT 1";
    let mut masks: Vec<(&Id, &(Id, bool))> = regions.iter().filter(|(_, (_, m))| *m).collect();
    masks.sort();
    for (region, (image, _)) in masks {
        let size = images.get(image).map_or([0; 3], |i| i.0);
        let mut key: (i64, i64, i64) = (i64::MIN, i64::MIN, i64::MIN);
        loop {
            let row = src
                .query_row(sql, rusqlite::params![region, key.0, key.1, key.2], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Value>(3)?,
                    ))
                })
                .optional();
            let Ok(Some((k, ty, tx_, data))) = row else {
                if row.is_err() {
                    t.unreadable += 1;
                }
                break;
            };
            key = (k, ty, tx_);
            let inside = k >= 0
                && ty >= 0
                && tx_ >= 0
                && (k as usize) < size[2]
                && (ty as usize) * TILE < size[1]
                && (tx_ as usize) * TILE < size[0];
            let decodes = matches!(&data, Value::Blob(b) if decompress_tile(b).is_some());
            if !inside || !decodes {
                t.drop_row("a tile outside the image grid or that does not decompress");
                continue;
            }
            match tx.execute(
                "INSERT INTO mask_tiles (region_id, k, ty, tx, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![region, k, ty, tx_, data],
            ) {
                Ok(_) => t.kept += 1,
                Err(err) => t.drop_row(format!("refused ({err})")),
            }
        }
    }
    report.tables.push(t);

    // Phrases.
    let mut phrases: HashMap<Id, Id> = HashMap::new();
    let mut t = TableOutcome {
        table: "phrases",
        ..Default::default()
    };
    for row in read_rowid_table(src, "phrases", &mut t) {
        let (Some(id), Some(image)) = (blob_id(&row[0]), blob_id(&row[1])) else {
            t.drop_row("an id that is not a 16-byte identity");
            continue;
        };
        let Some((_, report_text)) = images.get(&image) else {
            t.drop_row("its image was lost");
            continue;
        };
        let span_ok = match (&row[4], &row[5]) {
            (Value::Null, Value::Null) => true,
            (Value::Integer(a), Value::Integer(b)) if *a >= 0 && *b >= 0 => {
                span_fits(report_text.as_deref(), (*a as usize, *b as usize))
            }
            _ => false,
        };
        let ok = text(&row[2]).is_some()
            && text(&row[3]).is_some_and(|a| a.parse::<Author>().is_ok())
            && opt_text(&row[6]).is_some()
            && text(&row[7]).and_then(Grounding::parse).is_some()
            && [8, 9].iter().all(|&i| int(&row[i]).is_some());
        if !ok || !span_ok {
            t.drop_row("text, author, span or grounding that does not decode or fit its report");
            continue;
        }
        match insert("phrases", &row) {
            Ok(_) => {
                t.kept += 1;
                phrases.insert(id, image);
            }
            Err(err) => t.drop_row(format!("refused ({err})")),
        }
    }
    report.tables.push(t);

    // Links, phrase by phrase.
    let mut t = TableOutcome {
        table: "links",
        ..Default::default()
    };
    let mut kept_phrases: Vec<(&Id, &Id)> = phrases.iter().collect();
    kept_phrases.sort();
    for (phrase, image) in kept_phrases {
        let mut after = Id::NIL;
        let mut first = true;
        loop {
            let row = src
                .query_row(
                    "SELECT region_id FROM links WHERE phrase_id = ?1 AND (region_id > ?2 OR ?3) ORDER BY region_id LIMIT 1",
                    rusqlite::params![phrase, after, first],
                    |r| r.get::<_, Value>(0),
                )
                .optional();
            first = false;
            let Ok(Some(value)) = row else {
                if row.is_err() {
                    t.unreadable += 1;
                }
                break;
            };
            let Some(region) = blob_id(&value) else {
                t.drop_row("a region id that is not a 16-byte identity");
                break;
            };
            after = region;
            match regions.get(&region) {
                Some((region_image, _)) if region_image == image => {}
                Some(_) => {
                    t.drop_row("it joins different images");
                    continue;
                }
                None => {
                    t.drop_row("its region was lost");
                    continue;
                }
            }
            match tx.execute(
                "INSERT INTO links (phrase_id, region_id) VALUES (?1, ?2)",
                rusqlite::params![phrase, region],
            ) {
                Ok(_) => t.kept += 1,
                Err(err) => t.drop_row(format!("refused ({err})")),
            }
        }
    }
    report.tables.push(t);

    // Heatmaps.
    let mut t = TableOutcome {
        table: "heatmaps",
        ..Default::default()
    };
    for mut row in read_rowid_table(src, "heatmaps", &mut t) {
        let (Some(_), Some(image)) = (blob_id(&row[0]), blob_id(&row[1])) else {
            t.drop_row("an id that is not a 16-byte identity");
            continue;
        };
        if !images.contains_key(&image) {
            t.drop_row("its image was lost");
            continue;
        }
        let (w, h) = (int(&row[5]).unwrap_or(0), int(&row[6]).unwrap_or(0));
        let n = (w.max(0) * h.max(0)) as usize;
        let decodes = matches!(&row[7], Value::Blob(b) if zstd::bulk::decompress(b, 4 * n).is_ok_and(|v| n > 0 && v.len() == 4 * n));
        let ok = decodes
            && text(&row[3]).is_some_and(|a| a.parse::<Author>().is_ok())
            && int(&row[4]).is_some_and(|s| s >= 0)
            && int(&row[8]).is_some()
            && opt_text(&row[9]).is_some();
        if !ok {
            t.drop_row("values, author or size that do not decode");
            continue;
        }
        if !matches!(blob_id(&row[2]), Some(p) if phrases.contains_key(&p)) {
            row[2] = Value::Null;
        }
        match insert("heatmaps", &row) {
            Ok(_) => t.kept += 1,
            Err(err) => t.drop_row(format!("refused ({err})")),
        }
    }
    report.tables.push(t);

    // The change log (history only: nothing refers to it).
    let mut t = TableOutcome {
        table: "changes",
        ..Default::default()
    };
    for row in read_rowid_table(src, "changes", &mut t) {
        let ok = int(&row[0]).is_some()
            && matches!(row[1], Value::Blob(_))
            && int(&row[2]).is_some()
            && [3, 4, 5].iter().all(|&i| text(&row[i]).is_some());
        if !ok {
            t.drop_row("a revision, time or name that does not decode");
            continue;
        }
        match insert("changes", &row) {
            Ok(_) => t.kept += 1,
            Err(err) => t.drop_row(format!("refused ({err})")),
        }
    }
    report.tables.push(t);
    super::commit::log_change(
        &tx,
        Id::new(),
        super::now_ms(),
        "voxmark",
        "salvage",
        "project",
        None,
        None,
        "rows salvaged from a damaged project",
    )
    .map_err(e)?;
    tx.commit().map_err(e)
}
