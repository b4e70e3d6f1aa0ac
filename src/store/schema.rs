//! Schema of the project file and its forward migrations.
//!
//! `PRAGMA user_version` is the schema version; `PRAGMA application_id` marks the file as Voxmark's.
//! `MIGRATIONS[v]` takes a file from version `v` to `v + 1` (version 0 is a new, empty file).
//!
//! Since version 4 every entity is identified by a 16-byte [`Id`] (UUIDv7; labels UUIDv5 of their
//! name), every row carries `rev`, the change-log revision that last wrote it, and `changes` is the
//! append-only change log (one row per edit, `rev` increasing, `txn` naming the transaction).

use crate::core::Id;

/// `PRAGMA application_id` of Voxmark projects ("VOXM").
pub const APPLICATION_ID: i32 = 0x564F_584D;

/// One step of the schema: SQL, or Rust where rows must be rewritten (new identities).
pub enum Migration {
    /// A batch of SQL.
    Sql(&'static str),
    /// Code run inside the migration's transaction (foreign keys are off while it runs).
    Rust(fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>),
}

/// Migrations, in order; the schema version of this build is their count.
pub const MIGRATIONS: &[Migration] = &[
    // 0 → 1: the first schema.
    Migration::Sql(
        r#"
    CREATE TABLE images (
        id            INTEGER PRIMARY KEY,
        source        TEXT NOT NULL,           -- the file or folder the image was added from
        files         TEXT NOT NULL,           -- JSON array of the files holding its voxels
        kind          TEXT NOT NULL,           -- dicom-series, dicom-multiframe, nifti, image2d
        volume_index  INTEGER NOT NULL DEFAULT 0,
        content_hash  TEXT NOT NULL,           -- blake3 of the files' bytes, in order
        series_uid    TEXT,
        modality      TEXT,
        size_x        INTEGER NOT NULL CHECK (size_x > 0),
        size_y        INTEGER NOT NULL CHECK (size_y > 0),
        size_z        INTEGER NOT NULL CHECK (size_z > 0),
        spacing_mm    TEXT NOT NULL,           -- JSON [3]
        origin_lps_mm TEXT NOT NULL,           -- JSON [3]
        direction     TEXT NOT NULL,           -- JSON [9], row-major, columns = voxel axes in LPS
        dtype         TEXT NOT NULL,
        components    INTEGER NOT NULL,
        report        TEXT,
        added_ms      INTEGER NOT NULL
    );
    CREATE TABLE labels (
        id    INTEGER PRIMARY KEY,
        name  TEXT NOT NULL UNIQUE,
        color INTEGER NOT NULL               -- RGBA packed big-endian
    );
    CREATE TABLE regions (
        id          INTEGER PRIMARY KEY,
        image_id    INTEGER NOT NULL REFERENCES images(id),
        label_id    INTEGER REFERENCES labels(id),
        kind        TEXT NOT NULL CHECK (kind IN ('box2d', 'box3d', 'mask', 'polygon', 'point')),
        geometry    BLOB NOT NULL,           -- little-endian f64s, layout by kind
        author      TEXT NOT NULL,           -- human:<name> or model:<name>@<version>
        prompt      TEXT,
        status      TEXT NOT NULL CHECK (status IN ('accepted', 'proposed', 'rejected')),
        confidence  REAL,
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL
    );
    CREATE INDEX regions_image ON regions(image_id);
    CREATE TABLE mask_tiles (
        region_id INTEGER NOT NULL REFERENCES regions(id) ON DELETE CASCADE,
        k         INTEGER NOT NULL,
        ty        INTEGER NOT NULL,
        tx        INTEGER NOT NULL,
        data      BLOB NOT NULL,             -- zstd of 64×64 label bytes
        PRIMARY KEY (region_id, k, ty, tx)
    ) WITHOUT ROWID;
    CREATE TABLE phrases (
        id          INTEGER PRIMARY KEY,
        image_id    INTEGER NOT NULL REFERENCES images(id),
        text        TEXT NOT NULL,
        author      TEXT NOT NULL,           -- who wrote the phrase (human for report text, model for generated reports)
        span_start  INTEGER,                 -- [start, end) in characters of the image's report
        span_end    INTEGER,
        category    TEXT,
        grounding   TEXT NOT NULL CHECK (grounding IN ('pending', 'annotated', 'none-visible')),
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL,
        CHECK ((span_start IS NULL) = (span_end IS NULL))
    );
    CREATE INDEX phrases_image ON phrases(image_id);
    CREATE TABLE links (
        phrase_id INTEGER NOT NULL REFERENCES phrases(id) ON DELETE CASCADE,
        region_id INTEGER NOT NULL REFERENCES regions(id) ON DELETE CASCADE,
        PRIMARY KEY (phrase_id, region_id)
    ) WITHOUT ROWID;
    CREATE INDEX links_region ON links(region_id);
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at_ms   INTEGER NOT NULL,
        who     TEXT NOT NULL,
        action  TEXT NOT NULL,               -- add_region, paint_mask, link, ...
        entity  TEXT NOT NULL,               -- region, phrase, image, label, link
        ref_id  INTEGER,
        detail  TEXT
    );
    "#,
    ),
    // 1 → 2: model heatmaps per phrase.
    Migration::Sql(
        r#"
    CREATE TABLE heatmaps (
        id         INTEGER PRIMARY KEY,
        image_id   INTEGER NOT NULL REFERENCES images(id),
        phrase_id  INTEGER REFERENCES phrases(id),
        author     TEXT NOT NULL,
        slice      INTEGER NOT NULL CHECK (slice >= 0),
        width      INTEGER NOT NULL CHECK (width > 0),
        height     INTEGER NOT NULL CHECK (height > 0),
        data       BLOB NOT NULL,            -- zstd of width × height little-endian f32, row by row
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX heatmaps_phrase ON heatmaps(phrase_id);
    "#,
    ),
    // 2 → 3: what a model was given to make a heatmap (manifest hash, phrase, settings), as for regions.
    Migration::Sql(
        r#"
    ALTER TABLE heatmaps ADD COLUMN prompt TEXT;
    "#,
    ),
    // 3 → 4: identities that never collide (UUIDv7 blobs; labels by name), row versions for
    // optimistic concurrency, and the audit table grown into an append-only change log.
    Migration::Rust(to_uuid_identities),
    // 4 → 5: regions may be lines (rulers). SQLite cannot change a CHECK in place: the table is
    // rebuilt with the same columns and rows (foreign keys are off while migrations run, so the
    // mask tiles and links that reference it are kept as they are).
    Migration::Sql(
        r#"
    CREATE TABLE regions_v5 (
        id          BLOB PRIMARY KEY NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
        image_id    BLOB NOT NULL REFERENCES images(id),
        label_id    BLOB REFERENCES labels(id),
        kind        TEXT NOT NULL CHECK (kind IN ('box2d', 'box3d', 'mask', 'polygon', 'point', 'line')),
        geometry    BLOB NOT NULL,
        author      TEXT NOT NULL,
        prompt      TEXT,
        status      TEXT NOT NULL CHECK (status IN ('accepted', 'proposed', 'rejected')),
        confidence  REAL,
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL,
        rev         INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO regions_v5 SELECT id, image_id, label_id, kind, geometry, author, prompt, status,
        confidence, created_ms, modified_ms, rev FROM regions;
    DROP TABLE regions;
    ALTER TABLE regions_v5 RENAME TO regions;
    CREATE INDEX regions_image ON regions(image_id);
    "#,
    ),
    // 5 → 6: values another tool reported for a region (an imported SR's measurements), as JSON
    // with the digest of the geometry they were measured on.
    Migration::Sql(
        r#"
    ALTER TABLE regions ADD COLUMN reported TEXT;
    "#,
    ),
];

/// The first schema whose tables have today's columns (later ones changed constraints or added
/// nullable columns, which salvage reads as NULL where a file lacks them): salvage reads such a
/// file table by table as it is, without migrating it first.
pub const SAME_COLUMNS_SINCE: i32 = 4;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The tables of schema 4 (identities as 16-byte blobs, `rev` on every row, the change log).
const SCHEMA_4: &str = r#"
    CREATE TABLE images (
        id            BLOB PRIMARY KEY NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
        source        TEXT NOT NULL,
        files         TEXT NOT NULL,
        kind          TEXT NOT NULL,
        volume_index  INTEGER NOT NULL DEFAULT 0,
        content_hash  TEXT NOT NULL,
        series_uid    TEXT,
        modality      TEXT,
        size_x        INTEGER NOT NULL CHECK (size_x > 0),
        size_y        INTEGER NOT NULL CHECK (size_y > 0),
        size_z        INTEGER NOT NULL CHECK (size_z > 0),
        spacing_mm    TEXT NOT NULL,
        origin_lps_mm TEXT NOT NULL,
        direction     TEXT NOT NULL,
        dtype         TEXT NOT NULL,
        components    INTEGER NOT NULL,
        report        TEXT,
        added_ms      INTEGER NOT NULL,
        rev           INTEGER NOT NULL DEFAULT 0   -- change-log revision that last wrote the row
    );
    CREATE TABLE labels (
        id    BLOB PRIMARY KEY NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
        name  TEXT NOT NULL UNIQUE,
        color INTEGER NOT NULL,
        rev   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE regions (
        id          BLOB PRIMARY KEY NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
        image_id    BLOB NOT NULL REFERENCES images(id),
        label_id    BLOB REFERENCES labels(id),
        kind        TEXT NOT NULL CHECK (kind IN ('box2d', 'box3d', 'mask', 'polygon', 'point')),
        geometry    BLOB NOT NULL,
        author      TEXT NOT NULL,
        prompt      TEXT,
        status      TEXT NOT NULL CHECK (status IN ('accepted', 'proposed', 'rejected')),
        confidence  REAL,
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL,
        rev         INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE mask_tiles (
        region_id BLOB NOT NULL REFERENCES regions(id) ON DELETE CASCADE,
        k         INTEGER NOT NULL,
        ty        INTEGER NOT NULL,
        tx        INTEGER NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (region_id, k, ty, tx)
    ) WITHOUT ROWID;
    CREATE TABLE phrases (
        id          BLOB PRIMARY KEY NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
        image_id    BLOB NOT NULL REFERENCES images(id),
        text        TEXT NOT NULL,
        author      TEXT NOT NULL,
        span_start  INTEGER,
        span_end    INTEGER,
        category    TEXT,
        grounding   TEXT NOT NULL CHECK (grounding IN ('pending', 'annotated', 'none-visible')),
        created_ms  INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL,
        rev         INTEGER NOT NULL DEFAULT 0,
        CHECK ((span_start IS NULL) = (span_end IS NULL))
    );
    CREATE TABLE links (
        phrase_id BLOB NOT NULL REFERENCES phrases(id) ON DELETE CASCADE,
        region_id BLOB NOT NULL REFERENCES regions(id) ON DELETE CASCADE,
        PRIMARY KEY (phrase_id, region_id)
    ) WITHOUT ROWID;
    CREATE TABLE heatmaps (
        id         BLOB PRIMARY KEY NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
        image_id   BLOB NOT NULL REFERENCES images(id),
        phrase_id  BLOB REFERENCES phrases(id),
        author     TEXT NOT NULL,
        slice      INTEGER NOT NULL CHECK (slice >= 0),
        width      INTEGER NOT NULL CHECK (width > 0),
        height     INTEGER NOT NULL CHECK (height > 0),
        data       BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        prompt     TEXT,
        rev        INTEGER NOT NULL DEFAULT 0
    );
    -- The change log: one row per edit, appended in the edit's transaction; `rev` only grows.
    CREATE TABLE changes (
        rev        INTEGER PRIMARY KEY AUTOINCREMENT,
        txn        BLOB NOT NULL,                -- the transaction (recovery never applies one twice)
        at_ms      INTEGER NOT NULL,
        who        TEXT NOT NULL,
        action     TEXT NOT NULL,                -- add_region, update_region, paint_mask, link, ...
        entity     TEXT NOT NULL,                -- image, label, region, phrase, link, heatmap, project
        entity_id  BLOB,
        related_id BLOB,                         -- a link's region
        detail     TEXT                          -- the transaction's name
    );
"#;

/// Indexes and triggers of schema 4 (created after the rows are copied).
const SCHEMA_4_INDEXES: &str = r#"
    CREATE INDEX regions_image ON regions(image_id);
    CREATE INDEX phrases_image ON phrases(image_id);
    CREATE INDEX links_region ON links(region_id);
    CREATE INDEX heatmaps_phrase ON heatmaps(phrase_id);
    CREATE INDEX changes_txn ON changes(txn);
    CREATE INDEX changes_entity ON changes(entity_id);
    CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
        BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
    CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
        BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
"#;

/// 3 → 4: every row gets a new identity (images, regions, phrases and heatmaps a UUIDv7 made from
/// their creation time, in their old order; labels the UUIDv5 of their name); relations, mask
/// tiles and the audit log (as the change log's first revisions) follow through a mapping table.
fn to_uuid_identities(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    const OLD: [&str; 8] = [
        "images",
        "labels",
        "regions",
        "mask_tiles",
        "phrases",
        "links",
        "heatmaps",
        "audit",
    ];
    for t in OLD {
        tx.execute_batch(&format!("ALTER TABLE {t} RENAME TO old_{t}"))?;
    }
    tx.execute_batch(SCHEMA_4)?;
    tx.execute_batch(
        "CREATE TEMP TABLE id_map (entity TEXT NOT NULL, old INTEGER NOT NULL, new BLOB NOT NULL, PRIMARY KEY (entity, old))",
    )?;
    {
        let mut put = tx.prepare("INSERT INTO temp.id_map VALUES (?1, ?2, ?3)")?;
        for (entity, sql) in [
            ("image", "SELECT id, added_ms FROM old_images ORDER BY id"),
            (
                "region",
                "SELECT id, created_ms FROM old_regions ORDER BY id",
            ),
            (
                "phrase",
                "SELECT id, created_ms FROM old_phrases ORDER BY id",
            ),
            (
                "heatmap",
                "SELECT id, created_ms FROM old_heatmaps ORDER BY id",
            ),
        ] {
            let rows: Vec<(i64, i64)> = tx
                .prepare(sql)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (old, at_ms) in rows {
                put.execute(rusqlite::params![
                    entity,
                    old,
                    Id::new_at(at_ms).as_bytes().to_vec()
                ])?;
            }
        }
        let labels: Vec<(i64, String)> = tx
            .prepare("SELECT id, name FROM old_labels ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (old, name) in labels {
            put.execute(rusqlite::params![
                "label",
                old,
                Id::for_label(&name).as_bytes().to_vec()
            ])?;
        }
    }
    let m = |entity: &str, col: &str| {
        format!("(SELECT new FROM temp.id_map WHERE entity = '{entity}' AND old = {col})")
    };
    tx.execute_batch(&format!(
        "INSERT INTO images SELECT {}, source, files, kind, volume_index, content_hash, series_uid, modality, size_x, size_y,
             size_z, spacing_mm, origin_lps_mm, direction, dtype, components, report, added_ms, 0 FROM old_images;
         INSERT INTO labels SELECT {}, name, color, 0 FROM old_labels;
         INSERT INTO regions SELECT {}, {}, {}, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms, 0
             FROM old_regions;
         INSERT INTO mask_tiles SELECT {}, k, ty, tx, data FROM old_mask_tiles;
         INSERT INTO phrases SELECT {}, {}, text, author, span_start, span_end, category, grounding, created_ms, modified_ms, 0
             FROM old_phrases;
         INSERT INTO links SELECT {}, {} FROM old_links;
         INSERT INTO heatmaps SELECT {}, {}, {}, author, slice, width, height, data, created_ms, prompt, 0 FROM old_heatmaps;
         INSERT INTO changes (rev, txn, at_ms, who, action, entity, entity_id, related_id, detail)
             SELECT id, randomblob(16), at_ms, who, action, entity,
                    CASE entity WHEN 'link' THEN {} ELSE (SELECT new FROM temp.id_map m WHERE m.entity = old_audit.entity AND m.old = ref_id) END,
                    NULL, detail
             FROM old_audit ORDER BY id;",
        m("image", "old_images.id"),
        m("label", "old_labels.id"),
        m("region", "old_regions.id"),
        m("image", "old_regions.image_id"),
        m("label", "old_regions.label_id"),
        m("region", "old_mask_tiles.region_id"),
        m("phrase", "old_phrases.id"),
        m("image", "old_phrases.image_id"),
        m("phrase", "old_links.phrase_id"),
        m("region", "old_links.region_id"),
        m("heatmap", "old_heatmaps.id"),
        m("image", "old_heatmaps.image_id"),
        m("phrase", "old_heatmaps.phrase_id"),
        m("phrase", "old_audit.ref_id"),
    ))?;
    for t in OLD.iter().rev() {
        tx.execute_batch(&format!("DROP TABLE old_{t}"))?;
    }
    tx.execute_batch("DROP TABLE temp.id_map")?;
    tx.execute_batch(SCHEMA_4_INDEXES)?;
    // The migration is itself a change (of a file that held anything); every row is at its revision.
    let held: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM images) + (SELECT count(*) FROM labels) + (SELECT count(*) FROM changes)",
        [],
        |r| r.get(0),
    )?;
    if held == 0 {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO changes (txn, at_ms, who, action, entity, detail) VALUES (?1, ?2, 'voxmark', 'migrate', 'project', 'schema 3 → 4: UUID identities, row versions, change log')",
        rusqlite::params![Id::new().as_bytes().to_vec(), now_ms()],
    )?;
    let rev = tx.last_insert_rowid();
    for t in ["images", "labels", "regions", "phrases", "heatmaps"] {
        tx.execute(&format!("UPDATE {t} SET rev = ?1"), [rev])?;
    }
    Ok(())
}

use crate::core::now_ms;
