//! `sdk/wit/` is a copy of the repository's `wit/` (a copy, not a symlink,
//! so that `cargo package` puts the files themselves in the crate): every
//! contract folder the SDK binds must be byte for byte the one the host
//! binds. Outside the repository (a packaged crate) there is nothing to
//! compare with, and the test says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

#[test]
fn the_sdk_binds_the_repositorys_wit() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    if !repo.is_dir() {
        eprintln!("no repository wit/ beside the SDK: nothing to compare");
        return;
    }
    let mut compared = 0;
    for version in ["coffer-engine@0.1.0", "coffer-engine@0.2.0"] {
        let ours = sdk.join(version);
        let theirs = repo.join(version);
        let mut names: Vec<_> = fs::read_dir(&theirs)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut our_names: Vec<_> = fs::read_dir(&ours)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        our_names.sort();
        assert_eq!(
            our_names, names,
            "sdk/wit/{version} lists other files than wit/{version}"
        );
        for name in names {
            let a = fs::read(ours.join(&name)).unwrap();
            let b = fs::read(theirs.join(&name)).unwrap();
            assert!(
                a == b,
                "sdk/wit/{version}/{} differs from wit/{version}/{0}: copy it again",
                name.to_string_lossy()
            );
            compared += 1;
        }
    }
    assert!(compared >= 11, "compared only {compared} files");
}
