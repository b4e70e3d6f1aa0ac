//! The built-in demo project (`assets/demo/README.md` has the files' provenance and licences): the
//! images are compiled into the binary, written to the user's data folder on first use, and a project
//! holding them is made there (then reopened on later uses).

use std::path::{Path, PathBuf};

const FILES: [(&str, &[u8]); 3] = [
    (
        "chest_cr.dcm",
        include_bytes!("../../assets/demo/chest_cr.dcm"),
    ),
    (
        "head_ct_slice.dcm",
        include_bytes!("../../assets/demo/head_ct_slice.dcm"),
    ),
    (
        "mni152_t1.nii.gz",
        include_bytes!("../../assets/demo/mni152_t1.nii.gz"),
    ),
];

/// `demo` in the data folder ([`super::paths::data_dir`]).
pub fn folder() -> Option<PathBuf> {
    super::paths::data_dir().map(|d| d.join("demo"))
}

/// What to open: the demo project when it exists, else the image files (written now) and the path
/// the project should be created at.
pub enum Demo {
    /// Open this project.
    Project(PathBuf),
    /// Load these files, then make a project of them at `project`.
    Files {
        /// The images.
        files: Vec<PathBuf>,
        /// Where the project goes.
        project: PathBuf,
    },
}

/// Prepares the demo in `folder`.
///
/// # Errors
/// When the folder or a file cannot be written (the message names it).
pub fn prepare(folder: &Path) -> Result<Demo, String> {
    let project = folder.join("demo.voxmark");
    if project.is_file() {
        return Ok(Demo::Project(project));
    }
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let mut files = Vec::new();
    for (name, bytes) in FILES {
        let path = folder.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(bytes) {
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        files.push(path);
    }
    Ok(Demo::Files { files, project })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_images_then_finds_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let Ok(Demo::Files { files, project }) = prepare(dir.path()) else {
            panic!("first use writes the files");
        };
        assert_eq!(files.len(), 3);
        assert!(files.iter().all(|f| f.is_file()));
        std::fs::write(&project, b"").unwrap();
        assert!(matches!(prepare(dir.path()), Ok(Demo::Project(p)) if p == project));
    }
}
