//! Dataset splits by patient: every image of one patient lands in the same split, so no patient is
//! in both the training and the test set (never split by image or slice).
//!
//! The patient of an image is, in order: the DICOM PatientID of its first file, else its
//! StudyInstanceUID (anonymised files often keep only that), else the dataset's own convention in
//! the path: MIMIC-CXR's `p<8 digits>` folder (`files/p10/p10000032/s50414267/…`, MS-CXR's layout),
//! CheXpert's `patient<5 digits>` folder (`train/patient00001/study1/view1_frontal.jpg`), NIH
//! ChestX-ray14's file name (`00000001_000.png`: patient 00000001, image 000); else the image
//! alone.
//! Patients are ordered by a seeded hash of their key and cut into the splits by the requested
//! fractions, so the assignment is deterministic and independent of the images' order. Keys stay in
//! memory: exports carry split names only, never a patient identifier.

use std::collections::BTreeMap;
use std::path::Path;

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

/// The patient key of an image whose voxels are in `files` (`image_id` names it when nothing else
/// does).
pub fn patient_key(files: &[impl AsRef<Path>], image_id: crate::core::Id) -> (String, KeySource) {
    if let Some(first) = files.first().map(AsRef::as_ref) {
        if super::dicom::looks_like_dicom(first)
            && let Some((key, source)) = super::dicom::patient_of(first)
        {
            return (key, source);
        }
        if let Some(subject) = mimic_subject(first) {
            return (subject, KeySource::MimicPath);
        }
        if let Some(patient) = chexpert_patient(first) {
            return (patient, KeySource::ChexpertPath);
        }
        if let Some(patient) = nih_patient(first) {
            return (patient, KeySource::NihFileName);
        }
    }
    (format!("image:{image_id:#}"), KeySource::Image)
}

/// `p10000032` from `…/files/p10/p10000032/s50414267/x.jpg`: the last folder that is `p` and eight
/// digits.
fn mimic_subject(path: &Path) -> Option<String> {
    path.parent()?
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .rfind(|c| c.len() == 9 && c.starts_with('p') && c[1..].bytes().all(|b| b.is_ascii_digit()))
        .map(|c| format!("mimic:{c}"))
}

/// `patient00001` from `…/train/patient00001/study1/view1_frontal.jpg`: the last folder that is
/// `patient` and five digits.
fn chexpert_patient(path: &Path) -> Option<String> {
    path.parent()?
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .rfind(|c| {
            c.len() == 12 && c.starts_with("patient") && c[7..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(|c| format!("chexpert:{c}"))
}

/// `00000001` from `00000001_000.png` (NIH ChestX-ray14: patient, `_`, follow-up number).
fn nih_patient(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let (patient, image) = stem.split_once('_')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(patient, 8) && digits(image, 3)).then(|| format!("nih:{patient}"))
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

/// `out.json` → `out.train.json` (the split's name before the extension).
pub fn split_path(out: &Path, split: &str) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "export".to_owned(), |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(ext) => format!("{stem}.{split}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{split}"),
    };
    out.with_file_name(name)
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

    #[test]
    fn mimic_paths_name_the_subject_and_split_paths_keep_the_extension() {
        let p = Path::new("data/files/p10/p10000032/s50414267/02aa804e.jpg");
        assert_eq!(mimic_subject(p).as_deref(), Some("mimic:p10000032"));
        assert_eq!(mimic_subject(Path::new("xray/p1/a.png")), None);
        // CheXpert folders and NIH ChestX-ray14 file names name their patient: two follow-ups of
        // one NIH patient are one patient.
        let c = Path::new("CheXpert-v1.0/train/patient00001/study1/view1_frontal.jpg");
        assert_eq!(
            patient_key(&[c], crate::core::Id::from_u128(4)),
            ("chexpert:patient00001".to_owned(), KeySource::ChexpertPath)
        );
        for f in ["images/00000001_000.png", "other/00000001_002.png"] {
            assert_eq!(
                patient_key(&[Path::new(f)], crate::core::Id::from_u128(4)),
                ("nih:00000001".to_owned(), KeySource::NihFileName)
            );
        }
        assert_eq!(nih_patient(Path::new("0000001_000.png")), None);
        assert_eq!(nih_patient(Path::new("00000001_00.png")), None);
        let (key, source) = patient_key(&[p], crate::core::Id::from_u128(4));
        assert_eq!(
            (key.as_str(), source),
            ("mimic:p10000032", KeySource::MimicPath)
        );
        let (key, source) = patient_key(&[Path::new("a/b.png")], crate::core::Id::from_u128(4));
        assert_eq!(
            (key, source),
            (
                format!("image:{}", crate::core::Id::from_u128(4).full()),
                KeySource::Image
            )
        );
        assert_eq!(
            split_path(Path::new("out/set.json"), "val"),
            Path::new("out/set.val.json")
        );
        assert_eq!(split_path(Path::new("set"), "test"), Path::new("set.test"));
    }
}
