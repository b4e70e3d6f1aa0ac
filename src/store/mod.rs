//! The project file: one SQLite database (`*.voxmark`) holding images (by path and content hash, with
//! their geometry cached), labels, regions, mask tiles, phrases, links and an audit log.
//!
//! WAL journal, foreign keys, a busy timeout; every [`Transaction`] commits in its own SQLite
//! transaction as it happens, so a crash loses at most the action in progress. May use `core` and
//! rusqlite only (ARCHITECTURE.md §2).

pub mod schema;

use crate::core::annotation::{Author, Grounding, ImageInfo, Label, Phrase, Region, Shape, Status};
use crate::core::mask::{MaskTiles, TILE, TileKey};
use crate::core::{Document, Edit, ImageId, RegionId, Transaction};
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can go wrong with a project file. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a Voxmark project (not SQLite, or another application's database).
    #[error("not a Voxmark project ({why}): {}", path.display())]
    NotAProject {
        /// The file.
        path: PathBuf,
        /// What was found.
        why: String,
    },
    /// The file is damaged.
    #[error("the project file is damaged ({why}): {}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's words.
        why: String,
    },
    /// Written by a newer Voxmark; left untouched.
    #[error("the project was written by a newer Voxmark (schema {found}, this build reads up to {supported}); it was not modified: {}", path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i32,
        /// Ours.
        supported: i32,
    },
    /// Another process holds the project.
    #[error("the project is in use by another process (it stayed locked for {seconds} s): {}", path.display())]
    InUse {
        /// The file.
        path: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
    /// `create` on an existing file.
    #[error("a file exists already: {}", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file or folder cannot be opened.
    #[error("cannot open the project ({source}): {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An edit that cannot be stored (the transaction was rolled back; nothing changed).
    #[error("cannot store {what}: {}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What.
        what: String,
    },
    /// A row the request names does not exist.
    #[error("{what} not found in {}", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
        /// What.
        what: String,
    },
    /// Any other SQLite failure.
    #[error("database error ({source}): {}", path.display())]
    Sql {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How long a write waits for another process's lock before [`StoreError::InUse`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An image as the project stores it: where its voxels are and the geometry `io` found.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    /// Row id (0 before insertion).
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
    /// `dicom-series`); `id` is 0 until the project inserts it.
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
            id: 0,
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

/// A problem `check` found.
pub type Finding = String;

/// An open project.
pub struct Project {
    conn: Connection,
    path: PathBuf,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Geometry of a shape as little-endian f64s.
fn encode_shape(s: &Shape) -> Vec<u8> {
    let v: Vec<f64> = match s {
        Shape::Box2d { slice, min, max } => vec![*slice as f64, min[0], min[1], max[0], max[1]],
        Shape::Box3d { min, max } => vec![min[0], min[1], min[2], max[0], max[1], max[2]],
        Shape::Mask => Vec::new(),
        Shape::Polygon { slice, points } => std::iter::once(*slice as f64)
            .chain(points.iter().flat_map(|p| [p[0], p[1]]))
            .collect(),
        Shape::Point { at } => at.to_vec(),
    };
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode_shape(kind: &str, blob: &[u8]) -> Option<Shape> {
    if !blob.len().is_multiple_of(8) {
        return None;
    }
    let v: Vec<f64> = blob
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Some(match (kind, v.len()) {
        ("box2d", 5) => Shape::Box2d {
            slice: v[0] as u32,
            min: [v[1], v[2]],
            max: [v[3], v[4]],
        },
        ("box3d", 6) => Shape::Box3d {
            min: [v[0], v[1], v[2]],
            max: [v[3], v[4], v[5]],
        },
        ("mask", 0) => Shape::Mask,
        ("point", 3) => Shape::Point {
            at: [v[0], v[1], v[2]],
        },
        ("polygon", n) if n >= 7 && n % 2 == 1 => Shape::Polygon {
            slice: v[0] as u32,
            points: v[1..].chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
        },
        _ => return None,
    })
}

fn pack_color(c: [u8; 4]) -> i64 {
    u32::from_be_bytes(c) as i64
}

fn unpack_color(v: i64) -> [u8; 4] {
    (v as u32).to_be_bytes()
}

fn compress_tile(t: &[u8]) -> Vec<u8> {
    // Level 1: a brush stroke must commit in milliseconds; label tiles compress well anyway.
    zstd::bulk::compress(t, 1).unwrap_or_else(|_| t.to_vec())
}

fn decompress_tile(b: &[u8]) -> Option<Vec<u8>> {
    zstd::bulk::decompress(b, TILE * TILE)
        .ok()
        .filter(|v| v.len() == TILE * TILE)
}

fn json_floats(v: &[f64]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn parse_floats<const N: usize>(s: &str) -> Option<[f64; N]> {
    let v: Vec<f64> = s
        .trim()
        .strip_prefix('[')?
        .strip_suffix(']')?
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

fn json_strings(v: &[PathBuf]) -> String {
    serde_json::to_string(
        &v.iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".into())
}

impl Project {
    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| classify(&self.path, e)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a new project file; fails if the file exists.
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Err(StoreError::Exists {
                path: path.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        let mut p = Project {
            conn,
            path: path.to_path_buf(),
        };
        p.configure()?;
        p.migrate(0)?;
        Ok(p)
    }

    /// Opens an existing project, migrating an older schema forward; refuses, unmodified, files that
    /// are not Voxmark projects, are damaged, or come from a newer Voxmark.
    pub fn open(path: &Path) -> Result<Self> {
        check_magic(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(path, e))?;
        let mut p = Project {
            conn,
            path: path.to_path_buf(),
        };
        // Read before writing anything, so that a refused file stays byte-for-byte as it was.
        let app: i32 = p
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(p.sql_err())?;
        let version: i32 = p
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(p.sql_err())?;
        if app != schema::APPLICATION_ID {
            return Err(StoreError::NotAProject {
                path: path.to_path_buf(),
                why: format!("SQLite database with application id {app:#x}, not Voxmark's"),
            });
        }
        if version > schema::SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: schema::SCHEMA_VERSION,
            });
        }
        p.configure()?;
        p.migrate(version)?;
        Ok(p)
    }

    fn configure(&mut self) -> Result<()> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(&self.path, e))?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unsupported {
                path: self.path.clone(),
                what: format!("journal mode {mode} (WAL needed)"),
            });
        }
        // FULL: a commit that returned survives a power cut, not only a crash of this process.
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
            .map_err(|e| classify(&self.path, e))
    }

    fn migrate(&mut self, from: i32) -> Result<()> {
        if from >= schema::SCHEMA_VERSION {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        for (v, sql) in schema::MIGRATIONS.iter().enumerate().skip(from as usize) {
            tx.execute_batch(sql).map_err(|e| classify(&path, e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", v + 1))
                .map_err(|e| classify(&path, e))?;
        }
        tx.execute_batch(&format!(
            "PRAGMA application_id = {}",
            schema::APPLICATION_ID
        ))
        .map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))
    }

    /// Changes how long a write waits for another process before [`StoreError::InUse`].
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.conn
            .busy_timeout(timeout)
            .map_err(|e| classify(&self.path, e))
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i32> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.sql_err())
    }

    /// Adds images in one transaction (one audit row each) and returns their ids.
    pub fn add_images(&mut self, records: &[ImageRecord], who: &str) -> Result<Vec<ImageId>> {
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        let mut ids = Vec::new();
        let at = now_ms();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO images (source, files, kind, volume_index, content_hash, series_uid, modality, size_x, size_y, size_z,
                     spacing_mm, origin_lps_mm, direction, dtype, components, report, added_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )
                .map_err(e)?;
            for r in records {
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
                        at
                    ])
                    .map_err(e)?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO audit (at_ms, who, action, entity, ref_id, detail) VALUES (?1, ?2, 'add_image', 'image', ?3, ?4)",
                    params![at, who, id, r.kind],
                )
                .map_err(e)?;
                ids.push(id);
            }
        }
        tx.commit().map_err(e)?;
        Ok(ids)
    }

    /// Every image record.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, source, files, kind, volume_index, content_hash, series_uid, modality, size_x, size_y, size_z,
                 spacing_mm, origin_lps_mm, direction, dtype, components, report FROM images ORDER BY id",
            )
            .map_err(self.sql_err())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
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
                ))
            })
            .map_err(self.sql_err())?;
        let mut out = Vec::new();
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
            ) = row.map_err(self.sql_err())?;
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
        Ok(out)
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
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        let n = tx
            .execute(
                "UPDATE images SET source = ?1, files = ?2, content_hash = ?3 WHERE id = ?4",
                params![
                    source.to_string_lossy(),
                    json_strings(files),
                    content_hash,
                    image
                ],
            )
            .map_err(e)?;
        if n == 0 {
            return Err(StoreError::NotFound {
                path: path.clone(),
                what: format!("image {image}"),
            });
        }
        tx.execute(
            "INSERT INTO audit (at_ms, who, action, entity, ref_id, detail) VALUES (?1, ?2, 'relink', 'image', ?3, ?4)",
            params![now_ms(), who, image, source.to_string_lossy()],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Reads the whole annotation document (no pixels are read).
    pub fn load_document(&self) -> Result<Document> {
        let mut doc = Document::default();
        let err = self.sql_err();
        let corrupt = |what: String| StoreError::Corrupt {
            path: self.path.clone(),
            why: what,
        };
        {
            let mut st = self
                .conn
                .prepare("SELECT id, size_x, size_y, size_z, report FROM images")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: i64 = r.get(0).map_err(&err)?;
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
                .prepare("SELECT id, name, color FROM labels")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: i64 = r.get(0).map_err(&err)?;
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
                .prepare("SELECT id, image_id, label_id, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms FROM regions")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: i64 = r.get(0).map_err(&err)?;
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
                .prepare("SELECT region_id, k, ty, tx, data FROM mask_tiles")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: i64 = r.get(0).map_err(&err)?;
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
                .prepare("SELECT id, image_id, text, span_start, span_end, category, grounding, created_ms, modified_ms, author FROM phrases")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: i64 = r.get(0).map_err(&err)?;
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
                .prepare("SELECT phrase_id, region_id FROM links")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                doc.links
                    .insert((r.get(0).map_err(&err)?, r.get(1).map_err(&err)?));
            }
        }
        {
            let mut st = self
                .conn
                .prepare("SELECT id, image_id, phrase_id, author, slice, width, height, data, created_ms, prompt FROM heatmaps")
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let id: i64 = r.get(0).map_err(&err)?;
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
        Ok(doc)
    }

    /// Persists one committed transaction in one SQLite transaction, with an audit row per edit.
    /// `doc` is the document after the transaction (mask tiles are written from it).
    /// On error nothing is written.
    pub fn commit(&mut self, doc: &Document, t: &Transaction, who: &str) -> Result<()> {
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let at = now_ms();
        for edit in &t.edits {
            let (action, entity, ref_id) = write_edit(&tx, doc, edit, &path)?;
            tx.prepare_cached("INSERT INTO audit (at_ms, who, action, entity, ref_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .and_then(|mut s| s.execute(params![at, who, action, entity, ref_id, t.name]))
                .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// `PRAGMA integrity_check` plus Voxmark's invariants; an empty list means the project is sound.
    pub fn check(&self) -> Result<Vec<Finding>> {
        let err = self.sql_err();
        let mut findings = Vec::new();
        let mut st = self.conn.prepare("PRAGMA integrity_check").map_err(&err)?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        findings.extend(
            rows.into_iter()
                .filter(|r| r != "ok")
                .map(|r| format!("integrity: {r}")),
        );
        let mut st = self
            .conn
            .prepare("PRAGMA foreign_key_check")
            .map_err(&err)?;
        let fk: Vec<(String, i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&err)?
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        findings.extend(
            fk.into_iter()
                .map(|(t, row, parent)| format!("{t} row {row} points at a missing {parent} row")),
        );
        let mut query = |sql: &str,
                         describe: &dyn Fn(&rusqlite::Row<'_>) -> rusqlite::Result<String>|
         -> Result<()> {
            let mut st = self.conn.prepare(sql).map_err(&err)?;
            let rows: Vec<String> = st
                .query_map([], |r| describe(r))
                .map_err(&err)?
                .collect::<Result<_, _>>()
                .map_err(&err)?;
            findings.extend(rows);
            Ok(())
        };
        // Spans count characters; SQLite's length() of TEXT does too.
        query(
            "SELECT p.id, p.span_start, p.span_end, coalesce(length(i.report), 0) FROM phrases p JOIN images i ON i.id = p.image_id
             WHERE p.span_start IS NOT NULL AND (p.span_start < 0 OR p.span_start >= p.span_end OR p.span_end > coalesce(length(i.report), 0))",
            &|r| {
                Ok(format!(
                    "phrase {}: span [{}, {}) lies outside its report ({} characters)",
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?
                ))
            },
        )?;
        query(
            "SELECT l.phrase_id, l.region_id FROM links l JOIN phrases p ON p.id = l.phrase_id JOIN regions r ON r.id = l.region_id
             WHERE p.image_id != r.image_id",
            &|r| Ok(format!("link phrase {} → region {} joins different images", r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        query(
            &format!(
                "SELECT t.region_id, t.k, t.ty, t.tx, r.kind FROM mask_tiles t JOIN regions r ON r.id = t.region_id JOIN images i ON i.id = r.image_id
                 WHERE r.kind != 'mask' OR t.k < 0 OR t.ty < 0 OR t.tx < 0 OR t.k >= i.size_z OR t.ty * {TILE} >= i.size_y OR t.tx * {TILE} >= i.size_x"
            ),
            &|r| {
                Ok(format!(
                    "region {}: mask tile ({}, {}, {}) does not match the image grid or a mask region ({})",
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?
                ))
            },
        )?;
        // Everything else that must decode: geometry, authors, statuses, tiles.
        if let Err(e) = self.load_document() {
            findings.push(e.to_string());
        }
        Ok(findings)
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

    /// Counts of audit rows (for tests and `ls`).
    pub fn audit_len(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .map_err(self.sql_err())
    }

    /// The id a new row of `table` would get (max + 1), for building edits before committing them.
    pub fn next_id(&self, table: &str) -> Result<i64> {
        let table = match table {
            "regions" | "phrases" | "labels" | "images" | "heatmaps" => table,
            other => {
                return Err(StoreError::Unsupported {
                    path: self.path.clone(),
                    what: format!("table {other}"),
                });
            }
        };
        self.conn
            .query_row(
                &format!("SELECT coalesce(max(id), 0) + 1 FROM {table}"),
                [],
                |r| r.get(0),
            )
            .map_err(self.sql_err())
    }
}

/// The part of `doc` that [`Project::commit`] reads for `t`: the tiles its mask edits touched.
/// A writer thread commits `t` with this instead of a copy of the whole document.
pub fn commit_snapshot(doc: &Document, t: &Transaction) -> Document {
    let mut out = Document::default();
    for edit in &t.edits {
        let Edit::PaintMask { region, bounds, .. } = edit else {
            continue;
        };
        let Some(mask) = doc.masks.get(region) else {
            continue;
        };
        let copy = out
            .masks
            .entry(*region)
            .or_insert_with(|| MaskTiles::new(mask.size()));
        for key in MaskTiles::tiles_touched(*bounds) {
            if let Some(tile) = mask.tile(key) {
                copy.set_tile(key, tile.to_vec());
            }
        }
    }
    out
}

fn write_edit(
    tx: &rusqlite::Transaction<'_>,
    doc: &Document,
    edit: &Edit,
    path: &Path,
) -> Result<(&'static str, &'static str, Option<i64>)> {
    let e = |e| classify(path, e);
    let unsupported = |what: &str| StoreError::Unsupported {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let insert_links = |pairs: &mut dyn Iterator<Item = (i64, i64)>| -> Result<()> {
        let mut st = tx
            .prepare_cached("INSERT INTO links (phrase_id, region_id) VALUES (?1, ?2)")
            .map_err(e)?;
        for (p, r) in pairs {
            st.execute(params![p, r]).map_err(e)?;
        }
        Ok(())
    };
    let write_tiles = |region: RegionId, keys: &mut dyn Iterator<Item = TileKey>| -> Result<()> {
        let mask = doc.masks.get(&region);
        let mut up = tx
            .prepare_cached("INSERT OR REPLACE INTO mask_tiles (region_id, k, ty, tx, data) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(e)?;
        let mut del = tx
            .prepare_cached(
                "DELETE FROM mask_tiles WHERE region_id = ?1 AND k = ?2 AND ty = ?3 AND tx = ?4",
            )
            .map_err(e)?;
        for key in keys {
            match mask.and_then(|m| m.tile(key)) {
                Some(t) => up
                    .execute(params![region, key.0, key.1, key.2, compress_tile(t)])
                    .map_err(e)?,
                None => del
                    .execute(params![region, key.0, key.1, key.2])
                    .map_err(e)?,
            };
        }
        Ok(())
    };
    Ok(match edit {
        Edit::AddHeatmap(h) => {
            let raw: Vec<u8> = h.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let data = zstd::bulk::compress(&raw, 3).unwrap_or(raw);
            tx.execute(
                "INSERT INTO heatmaps (id, image_id, phrase_id, author, slice, width, height, data, created_ms, prompt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![h.id, h.image, h.phrase, h.author.to_string(), h.slice, h.width as i64, h.height as i64, data, h.created_ms, h.prompt],
            )
            .map_err(e)?;
            ("add_heatmap", "heatmap", Some(h.id))
        }
        Edit::RemoveHeatmap(h) => {
            tx.execute("DELETE FROM heatmaps WHERE id = ?1", params![h.id])
                .map_err(e)?;
            ("remove_heatmap", "heatmap", Some(h.id))
        }
        Edit::AddImage(_) | Edit::RemoveImage(_) => {
            return Err(unsupported(
                "image rows as edits (images are added with `voxmark add`)",
            ));
        }
        Edit::SetReport { image, after, .. } => {
            tx.execute(
                "UPDATE images SET report = ?1 WHERE id = ?2",
                params![after, image],
            )
            .map_err(e)?;
            ("set_report", "image", Some(*image))
        }
        Edit::AddLabel(l) => {
            tx.execute(
                "INSERT INTO labels (id, name, color) VALUES (?1, ?2, ?3)",
                params![l.id, l.name, pack_color(l.color)],
            )
            .map_err(e)?;
            ("add_label", "label", Some(l.id))
        }
        Edit::RemoveLabel(l) => {
            tx.execute("DELETE FROM labels WHERE id = ?1", params![l.id])
                .map_err(e)?;
            ("remove_label", "label", Some(l.id))
        }
        Edit::UpdateLabel { after, .. } => {
            tx.execute(
                "UPDATE labels SET name = ?1, color = ?2 WHERE id = ?3",
                params![after.name, pack_color(after.color), after.id],
            )
            .map_err(e)?;
            ("update_label", "label", Some(after.id))
        }
        Edit::AddRegion {
            region: r,
            mask,
            links,
        } => {
            tx.prepare_cached(
                "INSERT INTO regions (id, image_id, label_id, kind, geometry, author, prompt, status, confidence, created_ms, modified_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
                    r.modified_ms
                ])
            })
            .map_err(e)?;
            if let Some(m) = mask {
                let mut up = tx
                    .prepare_cached("INSERT INTO mask_tiles (region_id, k, ty, tx, data) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .map_err(e)?;
                for (key, t) in m.tiles() {
                    up.execute(params![r.id, key.0, key.1, key.2, compress_tile(t)])
                        .map_err(e)?;
                }
            }
            insert_links(&mut links.iter().map(|p| (*p, r.id)))?;
            ("add_region", "region", Some(r.id))
        }
        Edit::RemoveRegion { region, .. } => {
            tx.execute("DELETE FROM regions WHERE id = ?1", params![region.id])
                .map_err(e)?;
            ("remove_region", "region", Some(region.id))
        }
        Edit::UpdateRegion { after: r, .. } => {
            tx.prepare_cached(
                "UPDATE regions SET label_id = ?2, kind = ?3, geometry = ?4, author = ?5, prompt = ?6, status = ?7, confidence = ?8,
                 created_ms = ?9, modified_ms = ?10 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.id,
                    r.label,
                    r.shape.kind(),
                    encode_shape(&r.shape),
                    r.author.to_string(),
                    r.prompt,
                    r.status.as_str(),
                    r.confidence,
                    r.created_ms,
                    r.modified_ms
                ])
            })
            .map_err(e)?;
            ("update_region", "region", Some(r.id))
        }
        Edit::AddPhrase { phrase: p, links } => {
            tx.prepare_cached(
                "INSERT INTO phrases (id, image_id, text, span_start, span_end, category, grounding, created_ms, modified_ms, author)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
                    p.author.to_string()
                ])
            })
            .map_err(e)?;
            insert_links(&mut links.iter().map(|r| (p.id, *r)))?;
            ("add_phrase", "phrase", Some(p.id))
        }
        Edit::RemovePhrase { phrase, .. } => {
            tx.execute("DELETE FROM phrases WHERE id = ?1", params![phrase.id])
                .map_err(e)?;
            ("remove_phrase", "phrase", Some(phrase.id))
        }
        Edit::UpdatePhrase { after: p, .. } => {
            tx.execute(
                "UPDATE phrases SET text = ?2, span_start = ?3, span_end = ?4, category = ?5, grounding = ?6, created_ms = ?7, modified_ms = ?8,
                 author = ?9 WHERE id = ?1",
                params![
                    p.id,
                    p.text,
                    p.span.map(|s| s.0 as i64),
                    p.span.map(|s| s.1 as i64),
                    p.category,
                    p.grounding.as_str(),
                    p.created_ms,
                    p.modified_ms,
                    p.author.to_string()
                ],
            )
            .map_err(e)?;
            ("update_phrase", "phrase", Some(p.id))
        }
        Edit::Link { phrase, region } => {
            insert_links(&mut std::iter::once((*phrase, *region)))?;
            ("link", "link", Some(*phrase))
        }
        Edit::Unlink { phrase, region } => {
            tx.execute(
                "DELETE FROM links WHERE phrase_id = ?1 AND region_id = ?2",
                params![phrase, region],
            )
            .map_err(e)?;
            ("unlink", "link", Some(*phrase))
        }
        Edit::PaintMask { region, bounds, .. } => {
            write_tiles(*region, &mut MaskTiles::tiles_touched(*bounds).into_iter())?;
            ("paint_mask", "region", Some(*region))
        }
    })
}

/// Checks the first bytes: SQLite's magic, so that other files get a clear error, not SQLite's.
fn check_magic(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut head = [0u8; 100];
    let n = f.read(&mut head).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    if n == 0 {
        return Err(StoreError::NotAProject {
            path: path.to_path_buf(),
            why: "the file is empty".into(),
        });
    }
    if n < 16 || &head[..16] != b"SQLite format 3\0" {
        return Err(StoreError::NotAProject {
            path: path.to_path_buf(),
            why: "no SQLite header".into(),
        });
    }
    if n < 100 {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            why: format!("the file is {n} bytes, shorter than its header"),
        });
    }
    Ok(())
}

/// Maps SQLite errors to what a user can act on.
fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::InUse {
                    path: path.to_path_buf(),
                    seconds: BUSY_TIMEOUT.as_secs(),
                };
            }
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                return StoreError::Corrupt {
                    path: path.to_path_buf(),
                    why: msg.clone().unwrap_or_else(|| f.to_string()),
                };
            }
            _ => {}
        }
    }
    StoreError::Sql {
        path: path.to_path_buf(),
        source: e,
    }
}
