//! The project file: one SQLite database (`*.voxmark`) holding images (by path and content hash, with
//! their geometry cached), labels, regions, mask tiles, phrases, links, heatmaps and the change log.
//!
//! Many writers (ARCHITECTURE.md §4): every entity has an [`Id`] made where it is created (UUIDv7),
//! so writers never collide; every [`Transaction`](crate::core::Transaction) commits in its own SQLite transaction
//! (`BEGIN IMMEDIATE`, busy waited out and retried) and appends one change-log row per edit with an
//! increasing revision ([`Project::changes_since`]); updates and deletes carry the revision of the
//! row they were made against and are refused as a [`StoreError::Conflict`] when another writer
//! changed the row since; mask strokes are merged voxel by voxel. A commit that fails for any other
//! reason is kept in the recovery journal beside the file ([`journal`]) and re-applied by
//! `voxmark recover`. The WAL is checkpointed into the file when a project is closed
//! ([`Project::checkpoint`]); [`Project::copy_to`] makes a consistent copy with SQLite's online
//! backup while others write. May use `core` and rusqlite only (ARCHITECTURE.md §2).

mod commit;
mod images;
pub mod journal;
mod read;
pub mod salvage;
pub mod schema;
mod sync;
mod write;

pub use commit::{Change, Receipt};
pub use images::{Added, ImageKey, ImageRecord, image_key};
pub use sync::{Remote, Revisions};

use crate::core::Id;
use crate::core::annotation::Shape;
use crate::core::id::HandleError;
use crate::core::mask::TILE;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::cell::RefCell;
use std::collections::HashMap;
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
    /// Another writer changed or deleted a row this transaction was made against; nothing was
    /// written (the other writer's work stays as it is).
    #[error("conflict: {what} was {how} by {by} since this writer read it; nothing of \"{action}\" was saved: {}", path.display())]
    Conflict {
        /// The file.
        path: PathBuf,
        /// The row (`region 0c1d2e3f`).
        what: String,
        /// `changed` or `deleted`.
        how: &'static str,
        /// Who did it (an author, or "another writer" when the log does not say).
        by: String,
        /// The transaction that was refused.
        action: String,
    },
    /// An id typed by a person names no row, or several.
    #[error("{source}: {}", path.display())]
    Handle {
        /// The file.
        path: PathBuf,
        /// What did not match.
        source: HandleError,
    },
    /// The recovery journal cannot be read or written.
    #[error("recovery journal: {why}: {}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What went wrong.
        why: String,
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

/// How long one SQLite call waits for another process's lock (its busy handler).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a commit keeps retrying while other writers hold the file before
/// [`StoreError::InUse`] (each retry waits [`BUSY_TIMEOUT`] at most).
pub const COMMIT_PATIENCE: Duration = Duration::from_secs(60);

impl ToSql for Id {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self.as_bytes())))
    }
}

impl FromSql for Id {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(b) => Id::from_slice(b).ok_or(FromSqlError::InvalidBlobSize {
                expected_size: 16,
                blob_size: b.len(),
            }),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// Which table a typed id is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    /// `images`.
    Image,
    /// `labels`.
    Label,
    /// `regions`.
    Region,
    /// `phrases`.
    Phrase,
    /// `heatmaps`.
    Heatmap,
}

impl Entity {
    fn table(self) -> &'static str {
        match self {
            Entity::Image => "images",
            Entity::Label => "labels",
            Entity::Region => "regions",
            Entity::Phrase => "phrases",
            Entity::Heatmap => "heatmaps",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Entity::Image => "image",
            Entity::Label => "label",
            Entity::Region => "region",
            Entity::Phrase => "phrase",
            Entity::Heatmap => "heatmap",
        }
    }
}

/// What a WAL checkpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// Everything was copied into the file and the WAL emptied (no other connection was reading).
    Truncated,
    /// Frames were copied as far as other connections allowed; the WAL stays for them.
    Passive {
        /// Frames in the WAL.
        wal_frames: i64,
        /// Frames now in the file.
        copied: i64,
    },
}

/// A problem `check` found.
pub type Finding = String;

/// An open project.
pub struct Project {
    conn: Connection,
    path: PathBuf,
    /// The revision of every row this connection read or wrote: updates and deletes are made
    /// against it ([`StoreError::Conflict`] when the row moved on).
    known: RefCell<HashMap<write::Row, i64>>,
    /// How long a commit retries while the file is busy.
    patience: Duration,
}

impl Drop for Project {
    fn drop(&mut self) {
        // The file must be complete on its own when this process is done with it. A drop cannot
        // report a failure: the WAL then stays beside the file, which SQLite reads with it.
        self.checkpoint().ok();
    }
}

/// The static name of an entity kind read back from the journal or the change log.
fn entity_name(entity: &str) -> Option<&'static str> {
    ["image", "label", "region", "phrase", "heatmap"]
        .into_iter()
        .find(|e| *e == entity)
}

use crate::core::now_ms;

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
        Shape::Line { a, b } => a.iter().chain(b).copied().collect(),
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
        ("line", 6) => Shape::Line {
            a: [v[0], v[1], v[2]],
            b: [v[3], v[4], v[5]],
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
    compress_checked(t, 1)
}

/// zstd with the frame's content checksum, so that a damaged blob fails to decompress instead of
/// decoding to other voxels or values (SQLite keeps no checksums of its own). A failure to compress
/// stores the bytes as they are, which never decompress and so read as damaged, not as data.
fn compress_checked(raw: &[u8], level: i32) -> Vec<u8> {
    zstd::bulk::Compressor::new(level)
        .and_then(|mut c| {
            c.set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(true))?;
            c.compress(raw)
        })
        .unwrap_or_else(|_| raw.to_vec())
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
        let mut p = Project::wrap(conn, path);
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
        let mut p = Project::wrap(conn, path);
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

    /// Starts a write transaction (`BEGIN IMMEDIATE`: the write lock is taken now, waited for through
    /// the busy handler, so a commit never fails halfway on another writer's lock).
    fn begin_write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        let path = &self.path;
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| classify(path, e))
    }

    fn wrap(conn: Connection, path: &Path) -> Self {
        Project {
            conn,
            path: path.to_path_buf(),
            known: RefCell::new(HashMap::new()),
            patience: COMMIT_PATIENCE,
        }
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
        // Tables are rebuilt with new identities: foreign keys are checked once at the end.
        self.conn
            .execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(|e| classify(&path, e))?;
        let migrated = (|| {
            let tx = self.begin_write()?;
            // Another process may have migrated the file while this one waited for the lock.
            let now: i32 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| classify(&path, e))?;
            for (v, step) in schema::MIGRATIONS
                .iter()
                .enumerate()
                .skip(now.max(from) as usize)
            {
                match step {
                    schema::Migration::Sql(sql) => tx.execute_batch(sql),
                    schema::Migration::Rust(f) => f(&tx),
                }
                .map_err(|e| match classify(&path, e) {
                    // Rows the old schema held that the new one refuses: the file is damaged
                    // (the transaction rolls back; the file stays as it was).
                    StoreError::Sql { source, .. } => StoreError::Corrupt {
                        path: path.clone(),
                        why: format!("its rows cannot be migrated to schema {} ({source})", v + 1),
                    },
                    other => other,
                })?;
                tx.execute_batch(&format!("PRAGMA user_version = {}", v + 1))
                    .map_err(|e| classify(&path, e))?;
            }
            tx.execute_batch(&format!(
                "PRAGMA application_id = {}",
                schema::APPLICATION_ID
            ))
            .map_err(|e| classify(&path, e))?;
            tx.commit().map_err(|e| classify(&path, e))
        })();
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON")
            .map_err(|e| classify(&path, e))?;
        migrated
    }

    /// Changes how long a write waits for other writers before [`StoreError::InUse`] (the busy
    /// handler of each SQLite call and the commit's retries together).
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.patience = timeout;
        self.conn
            .busy_timeout(timeout.min(BUSY_TIMEOUT))
            .map_err(|e| classify(&self.path, e))
    }

    /// Copies what the WAL holds into the file: `TRUNCATE` (the WAL emptied) when no other
    /// connection is reading, `PASSIVE` (as far as the others allow) otherwise. A copy of the
    /// `.voxmark` file alone then holds every commit.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let e = |e| classify(&self.path, e);
        // TRUNCATE waits for readers through the busy handler: keep that wait short.
        self.conn
            .busy_timeout(Duration::from_millis(200))
            .map_err(e)?;
        let truncated: rusqlite::Result<(i64, i64, i64)> =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                });
        let outcome = match truncated {
            Ok((0, _, _)) => Ok(Checkpoint::Truncated),
            _ => self
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok(Checkpoint::Passive {
                        wal_frames: r.get(1)?,
                        copied: r.get(2)?,
                    })
                })
                .map_err(e),
        };
        self.conn
            .busy_timeout(self.patience.min(BUSY_TIMEOUT))
            .map_err(e)?;
        outcome
    }

    /// Writes a consistent copy of the project to `target` with SQLite's online backup (one read
    /// snapshot, so other writers may go on), checkpointed so that the file stands on its own;
    /// `target` must not exist. The copy is written beside `target` and renamed into place.
    pub fn copy_to(&self, target: &Path) -> Result<()> {
        if target.exists() {
            return Err(StoreError::Exists {
                path: target.to_path_buf(),
            });
        }
        let partial = target.with_extension("voxmark-partial");
        let result = (|| {
            let mut out = Connection::open(&partial).map_err(|e| classify(&partial, e))?;
            {
                let backup = rusqlite::backup::Backup::new(&self.conn, &mut out)
                    .map_err(|e| classify(&self.path, e))?;
                // All pages in one step: one snapshot of the source, never a mix of two states.
                loop {
                    use rusqlite::backup::StepResult;
                    match backup.step(-1).map_err(|e| classify(&self.path, e))? {
                        StepResult::Done => break,
                        StepResult::More => {}
                        _ => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }
            out.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| classify(&partial, e))?;
            out.close().map_err(|(_, e)| classify(&partial, e))?;
            let file = std::fs::File::open(&partial).map_err(|e| StoreError::Io {
                path: partial.clone(),
                source: e,
            })?;
            file.sync_all().map_err(|e| StoreError::Io {
                path: partial.clone(),
                source: e,
            })?;
            std::fs::rename(&partial, target).map_err(|e| StoreError::Io {
                path: target.to_path_buf(),
                source: e,
            })
        })();
        if result.is_err() {
            for p in [
                partial.clone(),
                PathBuf::from(format!("{}-wal", partial.display())),
                PathBuf::from(format!("{}-shm", partial.display())),
            ] {
                // A partial copy may not exist yet; the error returned says what failed.
                std::fs::remove_file(p).ok();
            }
        }
        result
    }

    /// The newest revision of the change log (0 for an empty log).
    pub fn revision(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(rev), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .map_err(self.sql_err())
    }

    /// SQLite's `PRAGMA data_version`: it changes when another connection commits, so a reader can
    /// ask "has anyone written since" without reading a table.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(self.sql_err())
    }

    /// The one row of `entity` that `typed` names: a handle (the last hex digits of its id, at
    /// least four), or the whole id.
    pub fn resolve(&self, entity: Entity, typed: &str) -> Result<Id> {
        let ids = self.ids_of(entity)?;
        crate::core::id::resolve(entity.noun(), typed, &ids).map_err(|source| StoreError::Handle {
            path: self.path.clone(),
            source,
        })
    }

    /// Every id of `entity`'s table.
    fn ids_of(&self, entity: Entity) -> Result<Vec<Id>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT id FROM {}", entity.table()))
            .map_err(self.sql_err())?;
        st.query_map([], |r| r.get(0))
            .map_err(self.sql_err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.sql_err())
    }

    /// The shortest handle length (at least [`crate::core::id::HANDLE_LEN`]) that tells every id
    /// of the project apart; what listings print.
    pub fn handle_len(&self) -> Result<usize> {
        let mut hexes: Vec<String> = Vec::new();
        for entity in [
            Entity::Image,
            Entity::Label,
            Entity::Region,
            Entity::Phrase,
            Entity::Heatmap,
        ] {
            let ids = self.ids_of(entity)?;
            hexes.extend(ids.iter().map(|i| i.hex().chars().rev().collect()));
        }
        hexes.sort();
        let mut len = crate::core::id::HANDLE_LEN;
        for w in hexes.windows(2) {
            let common = w[0]
                .chars()
                .zip(w[1].chars())
                .take_while(|(a, b)| a == b)
                .count();
            len = len.max(common + 1);
        }
        Ok(len.min(32))
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i32> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.sql_err())
    }

    /// Rows of the change log (for tests and `ls`).
    pub fn audit_len(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
            .map_err(self.sql_err())
    }
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
    // A statement that names a missing table or column (SQLite's message then quotes the SQL).
    let text = e.to_string();
    if let Some(what) = ["no such table", "no such column"]
        .iter()
        .find_map(|p| text.find(p).map(|at| &text[at..]))
    {
        let what = what.split(" in ").next().unwrap_or(what).trim();
        return StoreError::Corrupt {
            path: path.to_path_buf(),
            why: format!("its tables do not match its schema version ({what})"),
        };
    }
    if let rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) =
        &e
    {
        return StoreError::Corrupt {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
    }
    StoreError::Sql {
        path: path.to_path_buf(),
        source: e,
    }
}
