//! The recovery journal: transactions a writer could not commit (the file stayed busy, the disk
//! was full, the file was read-only), kept beside the project as `<project>.recovery` so that
//! nothing a user did is lost and nothing unsaved is shown as saved.
//!
//! One JSON object per line, appended and fsynced; a line cut short by a crash is ignored.
//! [`recover`] re-applies the entries in order against the row revisions they were made against:
//! applied entries leave the journal, conflicts are reported (and kept unless discarded), and an
//! entry whose transaction the change log already holds is never applied twice.

use super::{Project, Result, StoreError};
use crate::core::{Id, Transaction};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One transaction that was not saved.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The transaction's identity (the change log records it when it is applied).
    pub txn: Id,
    /// When it failed, ms since the Unix epoch.
    pub at_ms: i64,
    /// Its author.
    pub who: String,
    /// Why it was not saved.
    pub reason: String,
    /// The revisions of the rows it updates or deletes, as its writer had read them
    /// ((entity, id), revision).
    pub expected: Vec<((String, Id), i64)>,
    /// The edits.
    pub transaction: Transaction,
}

/// The journal file of one project.
pub struct Journal {
    path: PathBuf,
}

/// What a journal holds.
#[derive(Debug, Default)]
pub struct Contents {
    /// Complete entries, oldest first.
    pub entries: Vec<Entry>,
    /// Lines that do not parse (a write cut short by a crash).
    pub unreadable: usize,
}

/// True for failures worth keeping to retry (not conflicts or edits the store refuses).
pub(super) fn worth_keeping(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::InUse { .. } | StoreError::Io { .. } | StoreError::Sql { .. }
    )
}

impl Journal {
    /// The journal of the project at `project`.
    pub fn beside(project: &Path) -> Self {
        let mut name = project.as_os_str().to_owned();
        name.push(".recovery");
        Self {
            path: PathBuf::from(name),
        }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, why: impl std::fmt::Display) -> StoreError {
        StoreError::Journal {
            path: self.path.clone(),
            why: why.to_string(),
        }
    }

    /// Appends `entry` and waits until it is on disk.
    pub fn append(&self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(|e| self.error(e))?;
        line.push(b'\n');
        let created = !self.path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.error(e))?;
        // One write of the whole line: appends of other processes do not interleave within it.
        f.write_all(&line).map_err(|e| self.error(e))?;
        f.sync_all().map_err(|e| self.error(e))?;
        if created {
            // The new file's name must be on disk too, or a crash could lose the journal.
            sync_dir(&self.path).map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// The entries (none when there is no journal).
    pub fn entries(&self) -> Result<Contents> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(self.error(e)),
        };
        let mut out = Contents::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Entry>(line) {
                Ok(e) => out.entries.push(e),
                Err(_) => out.unreadable += 1,
            }
        }
        Ok(out)
    }

    /// Drops entries holding exactly `t` (it was committed since by its own writer).
    pub fn forget(&self, t: &Transaction) -> Result<()> {
        let contents = self.entries()?;
        let keep: Vec<Entry> = contents
            .entries
            .iter()
            .filter(|e| e.transaction != *t)
            .cloned()
            .collect();
        if keep.len() < contents.entries.len() {
            self.rewrite(&keep)?;
        }
        Ok(())
    }

    /// Replaces the journal with `entries` (removes it when there are none), atomically.
    fn rewrite(&self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Ok(()) => sync_dir(&self.path).map_err(|e| self.error(e)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.error(e)),
            };
        }
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut buf = Vec::new();
        for e in entries {
            buf.extend(serde_json::to_vec(e).map_err(|e| self.error(e))?);
            buf.push(b'\n');
        }
        let mut f = std::fs::File::create(&tmp).map_err(|e| self.error(e))?;
        f.write_all(&buf).map_err(|e| self.error(e))?;
        f.sync_all().map_err(|e| self.error(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.error(e))?;
        sync_dir(&self.path).map_err(|e| self.error(e))
    }
}

fn sync_dir(file: &Path) -> std::io::Result<()> {
    match file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// What became of one journal entry in [`recover`].
#[derive(Debug)]
pub enum Outcome {
    /// Committed now.
    Applied,
    /// The change log held it already (it was saved before); dropped from the journal.
    AlreadyApplied,
    /// Another writer changed what it was made against; kept unless discarded.
    Conflict(String),
    /// It failed again for another reason; kept.
    Failed(String),
}

/// What [`recover`] did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// (transaction name, its id, what happened), in journal order.
    pub outcomes: Vec<(String, Id, Outcome)>,
    /// Lines that could not be read (dropped).
    pub unreadable: usize,
    /// Entries still in the journal afterwards.
    pub remaining: usize,
}

/// Re-applies the journal of `project` in order. Entries that were applied (now or before) leave
/// the journal; conflicts stay unless `discard_conflicts`; other failures stay.
pub fn recover(project: &mut Project, discard_conflicts: bool) -> Result<Recovery> {
    let journal = Journal::beside(project.path());
    let contents = journal.entries()?;
    let mut report = Recovery {
        unreadable: contents.unreadable,
        ..Recovery::default()
    };
    let mut keep = Vec::new();
    for entry in contents.entries {
        let expected = entry
            .expected
            .iter()
            .filter_map(|((entity, id), rev)| super::entity_name(entity).map(|e| ((e, *id), *rev)))
            .collect();
        let outcome = match project.commit_as(entry.txn, &entry.transaction, &entry.who, &expected)
        {
            Ok(r) if r.already_applied => Outcome::AlreadyApplied,
            Ok(_) => Outcome::Applied,
            Err(e @ (StoreError::Conflict { .. } | StoreError::NotFound { .. })) => {
                if !discard_conflicts {
                    keep.push(entry.clone());
                }
                Outcome::Conflict(e.to_string())
            }
            Err(e) => {
                keep.push(entry.clone());
                Outcome::Failed(e.to_string())
            }
        };
        report
            .outcomes
            .push((entry.transaction.name.clone(), entry.txn, outcome));
    }
    report.remaining = keep.len();
    journal.rewrite(&keep)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_torn_last_line_and_forget_drops_one() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::beside(&dir.path().join("p.voxmark"));
        assert_eq!(
            j.entries().unwrap().entries.len(),
            0,
            "no journal, no entries"
        );
        let entry = |name: &str| Entry {
            txn: Id::new(),
            at_ms: 1,
            who: "human:a".into(),
            reason: "locked".into(),
            expected: vec![(("region".into(), Id::new()), 7)],
            transaction: Transaction {
                name: name.into(),
                edits: vec![],
            },
        };
        let (a, b) = (entry("a"), entry("b"));
        j.append(&a).unwrap();
        j.append(&b).unwrap();
        // A crash in the middle of a third append.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap();
        f.write_all(b"{\"txn\":\"01").unwrap();
        let c = j.entries().unwrap();
        assert_eq!((c.entries, c.unreadable), (vec![a.clone(), b.clone()], 1));
        j.forget(&a.transaction).unwrap();
        assert_eq!(j.entries().unwrap().entries, vec![b]);
        j.rewrite(&[]).unwrap();
        assert!(!j.path().exists());
    }
}
