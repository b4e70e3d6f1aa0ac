//! Schema of the project file and its forward migrations.
//!
//! `PRAGMA user_version` is the schema version; `PRAGMA application_id` marks the file as Voxmark's.
//! `MIGRATIONS[v]` takes a file from version `v` to `v + 1` (version 0 is a new, empty file).

/// `PRAGMA application_id` of Voxmark projects ("VOXM").
pub const APPLICATION_ID: i32 = 0x564F_584D;

/// Migrations, in order; the schema version of this build is their count.
pub const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
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
    // 1 → 2: model heatmaps per phrase.
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
    // 2 → 3: what a model was given to make a heatmap (manifest hash, phrase, settings), as for regions.
    r#"
    ALTER TABLE heatmaps ADD COLUMN prompt TEXT;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;
