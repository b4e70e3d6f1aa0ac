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

pub use crate::core::split::{KeySource, SplitSpec};
use std::path::Path;

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
