//! The policy of dataset splits by patient: where a patient key came from, split names with their
//! fractions, and the seeded, order-independent assignment of patients to splits. Which patient an
//! image belongs to (DICOM attributes, dataset path conventions) is read in `io::split`.

use std::collections::BTreeMap;

/// Where an image's patient key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeySource {
    /// DICOM PatientID.
    PatientId,
    /// DICOM StudyInstanceUID (no PatientID).
    Study,
    /// A `p<8 digits>` folder of a MIMIC-CXR style path.
    MimicPath,
    /// A `patient<5 digits>` folder of a CheXpert path.
    ChexpertPath,
    /// An NIH ChestX-ray14 file name, `<8 digits>_<3 digits>.png`.
    NihFileName,
    /// Nothing known: the image counts as its own patient.
    Image,
}

impl KeySource {
    /// How reports name it.
    pub fn describe(self) -> &'static str {
        match self {
            KeySource::PatientId => "DICOM PatientID",
            KeySource::Study => "DICOM StudyInstanceUID (no PatientID)",
            KeySource::MimicPath => "MIMIC-CXR path (p<subject>)",
            KeySource::ChexpertPath => "CheXpert path (patient<NNNNN>)",
            KeySource::NihFileName => "NIH ChestX-ray14 file name (<patient>_<image>.png)",
            KeySource::Image => "none: the image is its own patient",
        }
    }
}

/// Split names and fractions, `train=0.8,val=0.1,test=0.1` (fractions are normalised to sum 1).
#[derive(Clone, Debug, PartialEq)]
pub struct SplitSpec {
    /// Names with their fraction, in the order given.
    pub parts: Vec<(String, f64)>,
}

impl std::str::FromStr for SplitSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts: Vec<(String, f64)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, fraction)) = item.split_once('=') else {
                return Err(format!(
                    "split part {item:?}: expected NAME=FRACTION, e.g. train=0.8"
                ));
            };
            let name = name.trim();
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return Err(format!(
                    "split part {item:?}: the name must be letters, digits, - or _"
                ));
            }
            let fraction: f64 = fraction
                .trim()
                .parse()
                .ok()
                .filter(|f: &f64| f.is_finite() && *f >= 0.0)
                .ok_or_else(|| format!("split part {item:?}: the fraction must be a number ≥ 0"))?;
            if parts.iter().any(|(n, _)| n == name) {
                return Err(format!("split {name:?} is named twice"));
            }
            parts.push((name.to_owned(), fraction));
        }
        let total: f64 = parts.iter().map(|(_, f)| f).sum();
        if parts.is_empty() || total <= 0.0 {
            return Err(format!(
                "split {text:?}: give at least one NAME=FRACTION with a fraction above 0"
            ));
        }
        for (_, f) in &mut parts {
            *f /= total;
        }
        Ok(SplitSpec { parts })
    }
}

impl SplitSpec {
    /// The split of each patient key: patients ordered by the seeded hash of their key, then cut at
    /// the cumulative fractions (patient `n` of `N` goes where `(n + ½) / N` falls).
    pub fn assign<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
        seed: u64,
    ) -> BTreeMap<String, String> {
        let mut patients: Vec<(blake3::Hash, &str)> = keys
            .into_iter()
            .map(|k| {
                let mut h = blake3::Hasher::new();
                h.update(&seed.to_le_bytes());
                h.update(k.as_bytes());
                (h.finalize(), k)
            })
            .collect();
        patients.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(b.1)));
        patients.dedup_by(|a, b| a.1 == b.1);
        let n = patients.len();
        let mut out = BTreeMap::new();
        for (i, (_, key)) in patients.into_iter().enumerate() {
            let at = (i as f64 + 0.5) / n as f64;
            let mut cumulative = 0.0;
            let mut name = &self.parts[self.parts.len() - 1].0;
            for (part, fraction) in &self.parts {
                cumulative += fraction;
                if at < cumulative {
                    name = part;
                    break;
                }
            }
            out.insert(key.to_owned(), name.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_normalise_and_name_their_faults() {
        let s: SplitSpec = "train=8, val=1,test=1".parse().unwrap();
        assert_eq!(s.parts[0], ("train".to_owned(), 0.8));
        assert!((s.parts[2].1 - 0.1).abs() < 1e-12);
        for (bad, says) in [
            ("train", "NAME=FRACTION"),
            ("train=x", "fraction"),
            ("train=-1", "fraction"),
            ("a b=1", "name"),
            ("train=1,train=2", "twice"),
            ("train=0", "above 0"),
            ("", "above 0"),
        ] {
            let e = bad.parse::<SplitSpec>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn patients_are_cut_by_fraction_and_the_seed_reorders_them() {
        let keys: Vec<String> = (0..100).map(|i| format!("patient-{i}")).collect();
        let spec: SplitSpec = "train=0.7,val=0.1,test=0.2".parse().unwrap();
        let a = spec.assign(keys.iter().map(String::as_str), 0);
        let count = |m: &BTreeMap<String, String>, s: &str| m.values().filter(|v| *v == s).count();
        assert_eq!(
            (count(&a, "train"), count(&a, "val"), count(&a, "test")),
            (70, 10, 20)
        );
        // The same keys in another order: the same assignment.
        let b = spec.assign(keys.iter().rev().map(String::as_str), 0);
        assert_eq!(a, b);
        // Another seed: the same counts, other patients.
        let c = spec.assign(keys.iter().map(String::as_str), 1);
        assert_eq!(count(&c, "test"), 20);
        assert_ne!(a, c);
        // Duplicated keys count once.
        let d = spec.assign(["x", "x", "y"], 0);
        assert_eq!(d.len(), 2);
    }
}
