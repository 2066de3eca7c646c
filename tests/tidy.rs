//! Checks that lints cannot make: the map of the code names every folder of
//! the host, and a released WIT package is never edited.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[test]
fn architecture_md_names_every_host_folder() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap_or_default();
    assert!(!map.is_empty(), "ARCHITECTURE.md is missing");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("host/src"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.path().is_dir() {
            let name = format!("host/src/{}/", entry.file_name().to_string_lossy());
            if !map.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not describe {missing:?}"
    );
}

/// Released WIT packages and the sha256 of their files (sorted by name,
/// each file's name and bytes hashed in turn). A release is frozen: a change
/// goes in a new version's folder.
const RELEASED: &[(&str, &str)] = &[
    (
        "coffer-engine@0.1.0",
        include_str!("../wit/coffer-engine@0.1.0.sha256"),
    ),
    (
        "coffer-engine@0.2.0",
        include_str!("../wit/coffer-engine@0.2.0.sha256"),
    ),
];

#[test]
fn released_wit_packages_are_unchanged() {
    for (folder, expected) in RELEASED {
        let dir = root().join("wit").join(folder);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wit"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no WIT files in {}", dir.display());
        let mut hasher = Sha256::new();
        for file in &files {
            hasher.update(
                file.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(std::fs::read(file).unwrap_or_default());
        }
        let actual = hex::encode(hasher.finalize());
        assert_eq!(
            actual,
            expected.trim(),
            "wit/{folder} changed after its release; put changes in a new version folder"
        );
    }
}
