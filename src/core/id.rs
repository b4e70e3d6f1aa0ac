//! Identities of project entities (ARCHITECTURE.md §3): images, labels, regions, phrases and heatmaps
//! get an [`Id`] when they are created, unique across processes and machines without asking anyone,
//! so that any number of writers can add to one project and two project files merge without
//! renumbering.
//!
//! An id is a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort in
//! creation order. Ids made by one process are strictly increasing. Labels are identified by their
//! name within a project: [`Id::for_label`] derives a name-based UUIDv5, so two writers creating
//! "Nodule" at once make the same label.
//!
//! People see a short [`Id::handle`]: the last 8 hex digits (the random part), accepted wherever an
//! id is typed (any unique hex suffix of four or more digits, or the whole id).

use std::fmt;
use std::sync::Mutex;
use uuid::Uuid;

/// Digits of a handle as shown.
pub const HANDLE_LEN: usize = 8;
/// The fewest digits a typed handle may have.
pub const MIN_HANDLE_LEN: usize = 4;

/// The namespace of Voxmark's name-based ids (a fixed random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x8c6f_3a2e_5b1d_4e07_9a44_d2f1_07c3_b6e5);

/// The identity of an image, label, region, phrase, heatmap or transaction.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Id(Uuid);

/// The last id this process made: new ids are strictly greater.
static LAST: Mutex<u128> = Mutex::new(0);

impl Id {
    /// The nil id (no entity has it).
    pub const NIL: Id = Id(Uuid::nil());
    /// The greatest id (for range bounds).
    pub const MAX: Id = Id(Uuid::max());

    /// A new UUIDv7 for now, greater than every id this process made before.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self::new_at(now_ms())
    }

    /// A new UUIDv7 at `unix_ms` (for migrating rows with their creation time), greater than every
    /// id this process made before (so its time is `unix_ms` only when that is later than theirs).
    pub fn new_at(unix_ms: i64) -> Self {
        let ms = unix_ms.clamp(0, (1 << 48) - 1) as u64;
        let ts =
            uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000);
        let candidate = Uuid::new_v7(ts).as_u128();
        // A poisoned lock only means another thread panicked while holding a plain integer.
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        // Within one millisecond (or a clock step back), count up in the random bits; 62 bits of
        // them cannot overflow into the version or variant fields in practice.
        let value = if candidate > *last {
            candidate
        } else {
            *last + 1
        };
        *last = value;
        Id(Uuid::from_u128(value))
    }

    /// The id of the label named `name` (UUIDv5 in Voxmark's namespace): the same in every process.
    pub fn for_label(name: &str) -> Self {
        Id(Uuid::new_v5(&NAMESPACE, format!("label:{name}").as_bytes()))
    }

    /// An id from its 128-bit value (tests and fixtures).
    pub const fn from_u128(v: u128) -> Self {
        Id(Uuid::from_u128(v))
    }

    /// The 128-bit value.
    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// The 16 bytes, big-endian (as stored).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// An id from 16 stored bytes; `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        Uuid::from_slice(b).ok().map(Id)
    }

    /// Parses a whole id: hyphenated (`0193…-…`), 32 hex digits, or braced/URN forms.
    pub fn parse_full(s: &str) -> Option<Self> {
        Uuid::parse_str(s.trim()).ok().map(Id)
    }

    /// The whole id, hyphenated (what JSON output and exports that name ids carry).
    pub fn full(&self) -> String {
        self.0.hyphenated().to_string()
    }

    /// The 32 hex digits, no hyphens.
    pub fn hex(&self) -> String {
        self.0.simple().to_string()
    }

    /// The short handle people see: the last [`HANDLE_LEN`] hex digits.
    pub fn handle(&self) -> String {
        let hex = self.hex();
        hex[hex.len() - HANDLE_LEN..].to_string()
    }

    /// True when `typed` (a handle, any hex suffix, or the whole id) names this id.
    pub fn matches(&self, typed: &str) -> bool {
        if let Some(full) = Self::parse_full(typed) {
            return full == *self;
        }
        let t = typed.trim().to_ascii_lowercase();
        t.len() >= MIN_HANDLE_LEN
            && t.chars().all(|c| c.is_ascii_hexdigit())
            && self.hex().ends_with(&t)
    }

    /// Milliseconds since the Unix epoch when a UUIDv7 was made (`None` for other versions).
    pub fn unix_ms(&self) -> Option<i64> {
        (self.0.get_version_num() == 7).then(|| {
            let b = self.as_bytes();
            b[..6]
                .iter()
                .fold(0i64, |acc, &x| (acc << 8) | i64::from(x))
        })
    }
}

/// Ids typed by a person that name none, or more than one, entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Nothing has it.
    #[error("no {kind} has the id {typed:?}")]
    NotFound {
        /// What was looked for (`image`, `region`, ...).
        kind: &'static str,
        /// What was typed.
        typed: String,
    },
    /// More than one has it.
    #[error("{typed:?} names {count} {kind}s; type more digits of the id")]
    Ambiguous {
        /// What was looked for.
        kind: &'static str,
        /// What was typed.
        typed: String,
        /// How many matched.
        count: usize,
    },
}

/// The one id among `ids` that `typed` names (a handle, a longer hex suffix or the whole id).
pub fn resolve<'a>(
    kind: &'static str,
    typed: &str,
    ids: impl IntoIterator<Item = &'a Id>,
) -> Result<Id, HandleError> {
    let found: Vec<Id> = ids
        .into_iter()
        .filter(|id| id.matches(typed))
        .copied()
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(HandleError::NotFound {
            kind,
            typed: typed.to_string(),
        }),
        many => Err(HandleError::Ambiguous {
            kind,
            typed: typed.to_string(),
            count: many.len(),
        }),
    }
}

impl fmt::Display for Id {
    /// The handle; `{:#}` prints the whole id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str(&self.full())
        } else {
            f.write_str(&self.handle())
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.full())
    }
}

/// Milliseconds since the Unix epoch now (0 before 1970): the one clock every created and
/// modified time in projects comes from.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The UTC civil time of `secs` since the Unix epoch: (year, month, day, hour, minute, second),
/// by Howard Hinnant's days-from-civil inverse.
pub fn utc_from_unix(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM UTC`, for messages.
pub fn format_utc_ms(ms: i64) -> String {
    let (y, m, d, h, mi, _) = utc_from_unix(ms.div_euclid(1000));
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_times() {
        assert_eq!(utc_from_unix(0), (1970, 1, 1, 0, 0, 0));
        // 2024-02-29 23:59:59 (a leap day), and a day before the epoch.
        assert_eq!(utc_from_unix(1_709_251_199), (2024, 2, 29, 23, 59, 59));
        assert_eq!(utc_from_unix(-86_400), (1969, 12, 31, 0, 0, 0));
        assert_eq!(format_utc_ms(1_764_725_700_000), "2025-12-03 01:35 UTC");
    }

    #[test]
    fn ids_are_v7_increasing_and_unique_across_threads() {
        let ids: Vec<Id> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..5000).map(|_| Id::new()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let set: std::collections::BTreeSet<Id> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len());
        let one: Vec<Id> = (0..1000).map(|_| Id::new()).collect();
        assert!(one.windows(2).all(|w| w[0] < w[1]));
        for id in &one {
            assert_eq!(id.0.get_version_num(), 7);
            assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
        }
        let now = now_ms();
        assert!((one[0].unix_ms().unwrap() - now).abs() < 5_000);
        // An earlier time still gives a greater id than every id made before (old rows are
        // migrated in their order).
        let past = Id::new_at(1_700_000_000_123);
        assert!(past > one[999]);
        assert_eq!(past.0.get_version_num(), 7);
    }

    #[test]
    fn label_ids_depend_on_the_name_only() {
        assert_eq!(Id::for_label("Nodule"), Id::for_label("Nodule"));
        assert_ne!(Id::for_label("Nodule"), Id::for_label("nodule"));
        assert_eq!(Id::for_label("Nodule").0.get_version_num(), 5);
    }

    #[test]
    fn handles_parse_and_resolve() {
        let a = Id::from_u128(0x0193_0000_0000_7000_8000_0000_dead_beef);
        let b = Id::from_u128(0x0193_0000_0000_7000_8000_0001_0000_beef);
        assert_eq!(a.handle(), "deadbeef");
        assert_eq!(a.to_string(), "deadbeef");
        assert_eq!(format!("{a:#}"), a.full());
        assert_eq!(Id::parse_full(&a.full()), Some(a));
        assert_eq!(Id::parse_full(&a.hex()), Some(a));
        assert!(a.matches("DEADBEEF") && a.matches("beef") && !a.matches("bee"));
        assert_eq!(resolve("region", "deadbeef", [&a, &b]), Ok(a));
        assert_eq!(resolve("region", &b.full(), [&a, &b]), Ok(b));
        assert!(matches!(
            resolve("region", "beef", [&a, &b]),
            Err(HandleError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(
            resolve("region", "12345", [&a, &b]),
            Err(HandleError::NotFound { .. })
        ));
        assert!(!a.matches("xyzw"));
    }
}
