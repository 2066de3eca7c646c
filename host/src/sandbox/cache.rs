//! The on-disk cache of compiled engines, and the one `unsafe` call that
//! reads it back.
//!
//! A compiled component (a `.cwasm` artifact) is native code: wasmtime's
//! `Component::deserialize` runs whatever it is given. So an artifact is
//! loaded only after proving this server wrote it:
//! - the cache folder ([`ArtifactCache::open`]) must be a directory owned by
//!   the server's (effective) user and writable by nobody else, and every
//!   folder above it owned by root or that user and writable by nobody else
//!   unless it has the sticky bit (as `/tmp` has); otherwise the cache is
//!   not used at all (engines are compiled in memory at every start, and a
//!   warning says why once);
//! - each artifact file must be owned by that user and writable by nobody
//!   else, and start with an HMAC-SHA256 over its name and contents under
//!   the cache's key, a random 32-byte file (`key`, mode 0600) made in the
//!   folder on first use. A file that fails either check is compiled again
//!   and overwritten.
//!
//! The key is a host file, not derived from the barrier: dev mode's keyring
//! changes at every start, which would recompile every engine each time.
//!
//! What this does not cover: a process running as the server's own user (or
//! root) can write the folder and read the key, so it can plant artifacts;
//! it could equally replace the binary. Artifacts are not size-capped when
//! read back (only the server's user can have written them). Temporary
//! files of a crashed write are left behind. Off Unix the cache is never
//! used.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::Component;

/// The key file's name inside the cache folder.
const KEY_FILE: &str = "key";
/// Length of the key and of the MAC tag that starts each artifact file.
const KEY_BYTES: usize = 32;

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A cached artifact whose owner, mode and MAC checked out.
    Cache,
    /// Compiled now (and, with a cache, stored for next time).
    Compiled,
}

/// A cache folder proven to be this server's own, and its MAC key.
pub struct ArtifactCache {
    /// Canonical path of the folder.
    dir: PathBuf,
    /// HMAC-SHA256 keyed with the cache's key, cloned for each artifact.
    keyed: Hmac<Sha256>,
}

impl ArtifactCache {
    /// Checks `dir` (see the module doc) and reads its key, making one on
    /// first use. The error says why the folder is not trusted.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
        trust::folder(&dir)?;
        let key = trust::key(&dir.join(KEY_FILE))?;
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice())
            .map_err(|e| format!("cache key: {e}"))?;
        Ok(ArtifactCache { dir, keyed })
    }

    /// The artifact stored as `name`, if it is there, owned by this
    /// server's user, writable by nobody else, and its MAC is right.
    pub fn load(&self, name: &str) -> Option<Vec<u8>> {
        let path = self.dir.join(name);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!("engine cache: cannot open {}: {e}", path.display());
                return None;
            }
        };
        // Checked on the open file, so the file read is the file checked.
        let checked = file
            .metadata()
            .map_err(|e| e.to_string())
            .and_then(|meta| trust::artifact(&path, &meta));
        if let Err(why) = checked {
            tracing::warn!("engine cache: not loading an artifact: {why}");
            return None;
        }
        let mut bytes = Vec::new();
        if let Err(e) = file.read_to_end(&mut bytes) {
            tracing::warn!("engine cache: cannot read {}: {e}", path.display());
            return None;
        }
        let (tag, artifact) = bytes.split_at_checked(KEY_BYTES)?;
        if self
            .mac(name)
            .chain_update(artifact)
            .verify_slice(tag)
            .is_err()
        {
            tracing::warn!(
                "engine cache: {} fails its MAC check; compiling the engine again",
                path.display()
            );
            return None;
        }
        Some(artifact.to_vec())
    }

    /// Stores `artifact` as `name` (MAC first), replacing what was there.
    /// A failure is logged: the cache is an optimisation.
    pub fn store(&self, name: &str, artifact: &[u8]) {
        let tag = self
            .mac(name)
            .chain_update(artifact)
            .finalize()
            .into_bytes();
        let tmp = self.dir.join(format!(
            ".{name}.{}-{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = trust::create_private(&tmp).and_then(|mut f| {
            f.write_all(&tag)?;
            f.write_all(artifact)
        });
        let renamed = written.and_then(|()| std::fs::rename(&tmp, self.dir.join(name)));
        if let Err(e) = renamed {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(
                "engine cache: cannot store {name} in {}: {e}",
                self.dir.display()
            );
        }
    }

    /// The MAC state with the artifact's name absorbed (so an artifact
    /// cannot be moved to another name).
    fn mac(&self, name: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac
    }
}

/// Compiles `wasm` (whose hex sha256 is `sha256`) for `engine`, or loads
/// the artifact `cache` holds for it; stores what it compiled.
pub fn compile(
    engine: &wasmtime::Engine,
    cache: Option<&ArtifactCache>,
    wasm: &[u8],
    sha256: &str,
) -> Result<(Component, Source), String> {
    let name = artifact_name(engine, sha256);
    if let Some(bytes) = cache.and_then(|c| c.load(&name)) {
        // SAFETY: `deserialize` trusts its input to be wasmtime's own
        // output. `ArtifactCache::load` returned these bytes only after
        // checking that the file is owned by this server's user in a folder
        // nobody else can write, and that its HMAC under the cache's key (a
        // 0600 file in that folder) is right for this name — which binds it
        // to the source's sha256 and this engine's settings — so this host
        // wrote them. The bytes checked are the bytes deserialized (read
        // once, into memory). wasmtime still checks its version and
        // settings header.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &bytes) };
        match loaded {
            Ok(component) => return Ok((component, Source::Cache)),
            Err(e) => tracing::warn!("engine cache: {name} does not load ({e}); compiling again"),
        }
    }
    let component =
        Component::new(engine, wasm).map_err(|e| format!("not a valid engine component: {e}"))?;
    if let Some(cache) = cache {
        match component.serialize() {
            Ok(bytes) => cache.store(&name, &bytes),
            Err(e) => tracing::warn!("engine cache: cannot serialize {name}: {e}"),
        }
    }
    Ok((component, Source::Compiled))
}

/// The file name of the artifact of a source with that sha256, for this
/// engine's settings (another wasmtime or other settings make another name).
/// `-mac` marks this layout (tag first), so binaries from before it, which
/// wrote bare artifacts, do not overwrite these and these not theirs.
fn artifact_name(engine: &wasmtime::Engine, sha256: &str) -> String {
    let mut h = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    let tag = std::hash::Hasher::finish(&h);
    format!("{sha256}-{tag:016x}-mac.cwasm")
}

/// The ownership and mode checks.
#[cfg(unix)]
mod trust {
    use std::fs::Metadata;
    use std::io::{Read, Write};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use zeroize::Zeroizing;

    use super::KEY_BYTES;

    /// Write permission for group or others.
    const WRITABLE_BY_OTHERS: u32 = 0o022;
    /// Any permission for group or others.
    const ANY_ACCESS_BY_OTHERS: u32 = 0o077;
    const STICKY: u32 = 0o1000;

    /// The server's effective user id.
    fn euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// `dir` (canonical) is a directory of this user that nobody else can
    /// write, below folders nobody else can rename it out of.
    pub fn folder(dir: &Path) -> Result<(), String> {
        let euid = euid();
        let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        owned_and_closed(dir, meta.uid(), meta.mode(), euid)?;
        for above in dir.ancestors().skip(1) {
            let meta = std::fs::metadata(above).map_err(|e| format!("{}: {e}", above.display()))?;
            ancestor(above, meta.uid(), meta.mode(), euid)?;
        }
        Ok(())
    }

    /// What is stored at `path` belongs to `euid` and is writable by nobody
    /// else.
    pub fn owned_and_closed(path: &Path, uid: u32, mode: u32, euid: u32) -> Result<(), String> {
        if uid != euid {
            return Err(format!(
                "{} is owned by uid {uid}, not by this server's uid {euid}",
                path.display()
            ));
        }
        if mode & WRITABLE_BY_OTHERS != 0 {
            return Err(format!(
                "{} is writable by group or others (mode {:o})",
                path.display(),
                mode & 0o7777
            ));
        }
        Ok(())
    }

    /// A folder above the cache: root's or ours, and writable by nobody else
    /// unless sticky (then nobody else can rename our entries).
    pub fn ancestor(path: &Path, uid: u32, mode: u32, euid: u32) -> Result<(), String> {
        if uid != 0 && uid != euid {
            return Err(format!(
                "{}, above the cache, is owned by uid {uid}, neither root nor this server's uid {euid}",
                path.display()
            ));
        }
        if mode & WRITABLE_BY_OTHERS != 0 && mode & STICKY == 0 {
            return Err(format!(
                "{}, above the cache, is writable by group or others without the sticky bit (mode {:o})",
                path.display(),
                mode & 0o7777
            ));
        }
        Ok(())
    }

    /// An artifact file, as opened.
    pub fn artifact(path: &Path, meta: &Metadata) -> Result<(), String> {
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        owned_and_closed(path, meta.uid(), meta.mode(), euid())
    }

    /// The key at `path`: read it (ours, a regular file, no access for
    /// anyone else, 32 bytes), or make it if there is none.
    pub fn key(path: &Path) -> Result<Zeroizing<[u8; KEY_BYTES]>, String> {
        let fail = |e: std::io::Error| format!("cache key {}: {e}", path.display());
        if let Err(e) = std::fs::symlink_metadata(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(fail(e));
            }
            // Written whole under a temporary name, then linked into place:
            // a server starting at the same time reads a whole key, and
            // only one key is ever published.
            let key = Zeroizing::new(rand::random::<[u8; KEY_BYTES]>());
            let tmp = path.with_file_name(format!(
                ".key.{}-{:016x}.tmp",
                std::process::id(),
                rand::random::<u64>()
            ));
            let published = create_private(&tmp)
                .and_then(|mut f| {
                    f.write_all(key.as_slice())?;
                    f.sync_all()
                })
                .and_then(|()| std::fs::hard_link(&tmp, path));
            let _ = std::fs::remove_file(&tmp);
            match published {
                Ok(()) => return Ok(key),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(fail(e)),
            }
        }
        let mut file = std::fs::File::open(path).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        if !meta.is_file() {
            return Err(format!(
                "cache key {} is not a regular file",
                path.display()
            ));
        }
        owned_and_closed(path, meta.uid(), meta.mode(), euid())?;
        if meta.mode() & ANY_ACCESS_BY_OTHERS != 0 {
            return Err(format!(
                "cache key {} is readable by group or others (mode {:o}; want 0600)",
                path.display(),
                meta.mode() & 0o7777
            ));
        }
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        let mut extra = [0u8; 1];
        file.read_exact(key.as_mut_slice())
            .map_err(|e| format!("cache key {}: not {KEY_BYTES} bytes ({e})", path.display()))?;
        if file.read(&mut extra).map_err(fail)? != 0 {
            return Err(format!(
                "cache key {} is longer than {KEY_BYTES} bytes",
                path.display()
            ));
        }
        Ok(key)
    }

    /// A new file only this user can read and write; fails if `path`
    /// exists (a symlink included).
    pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    }
}

#[cfg(not(unix))]
mod trust {
    use std::fs::Metadata;
    use std::path::Path;

    use zeroize::Zeroizing;

    use super::KEY_BYTES;

    const NO: &str = "the engine cache needs Unix file ownership checks";

    pub fn folder(_: &Path) -> Result<(), String> {
        Err(NO.into())
    }
    pub fn artifact(_: &Path, _: &Metadata) -> Result<(), String> {
        Err(NO.into())
    }
    pub fn key(_: &Path) -> Result<Zeroizing<[u8; KEY_BYTES]>, String> {
        Err(NO.into())
    }
    pub fn create_private(_: &Path) -> std::io::Result<std::fs::File> {
        Err(std::io::Error::other(NO))
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A private folder `cache` inside a private temporary folder.
    fn private_cache() -> (tempfile::TempDir, PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        (top, dir)
    }

    #[test]
    fn artifacts_round_trip_and_the_key_is_made_once_0600() {
        let (_top, dir) = private_cache();
        let cache = ArtifactCache::open(&dir).unwrap();
        let key = dir.join(KEY_FILE);
        let meta = std::fs::metadata(&key).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        cache.store("a.cwasm", b"artifact bytes");
        assert_eq!(cache.load("a.cwasm").unwrap(), b"artifact bytes");
        assert!(cache.load("missing.cwasm").is_none());
        // Reopened: the same key, so the artifact still checks.
        let again = ArtifactCache::open(&dir).unwrap();
        assert_eq!(again.load("a.cwasm").unwrap(), b"artifact bytes");
    }

    #[test]
    fn a_folder_others_can_write_is_not_used() {
        for mode in [0o770, 0o720, 0o707, 0o702, 0o777] {
            let (_top, dir) = private_cache();
            chmod(&dir, mode);
            let why = ArtifactCache::open(&dir).err().unwrap();
            assert!(
                why.contains("writable by group or others"),
                "{mode:o}: {why}"
            );
        }
        let (_top, dir) = private_cache();
        chmod(&dir, 0o755);
        assert!(ArtifactCache::open(&dir).is_ok(), "readable is fine");
    }

    #[test]
    fn a_parent_others_can_write_is_refused_unless_sticky() {
        let (top, dir) = private_cache();
        chmod(top.path(), 0o777);
        let why = ArtifactCache::open(&dir).err().unwrap();
        assert!(why.contains("above the cache"), "{why}");
        assert!(why.contains("sticky"), "{why}");
        chmod(top.path(), 0o1777);
        assert!(ArtifactCache::open(&dir).is_ok());
    }

    #[test]
    fn a_symlink_is_judged_by_what_it_points_to() {
        let (top, dir) = private_cache();
        let link = top.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(ArtifactCache::open(&link).is_ok());
        chmod(&dir, 0o777);
        assert!(ArtifactCache::open(&link).is_err());
    }

    #[test]
    fn ownership_rules() {
        let p = Path::new("/x");
        assert!(trust::owned_and_closed(p, 1000, 0o40700, 1000).is_ok());
        let e = trust::owned_and_closed(p, 1001, 0o40700, 1000).unwrap_err();
        assert!(e.contains("owned by uid 1001"), "{e}");
        assert!(trust::owned_and_closed(p, 1000, 0o40720, 1000).is_err());
        assert!(trust::ancestor(p, 0, 0o40755, 1000).is_ok());
        assert!(trust::ancestor(p, 1000, 0o40755, 1000).is_ok());
        assert!(trust::ancestor(p, 1001, 0o40755, 1000).is_err());
        assert!(trust::ancestor(p, 0, 0o41777, 1000).is_ok());
        assert!(trust::ancestor(p, 0, 0o40775, 1000).is_err());
    }

    #[test]
    fn a_key_others_can_read_or_of_the_wrong_size_is_refused() {
        let (_top, dir) = private_cache();
        drop(ArtifactCache::open(&dir).unwrap());
        let key = dir.join(KEY_FILE);
        chmod(&key, 0o640);
        let why = ArtifactCache::open(&dir).err().unwrap();
        assert!(why.contains("readable by group or others"), "{why}");
        chmod(&key, 0o600);
        std::fs::write(&key, [7u8; 31]).unwrap();
        assert!(ArtifactCache::open(&dir).is_err());
        std::fs::write(&key, [7u8; 33]).unwrap();
        assert!(ArtifactCache::open(&dir).is_err());
    }

    #[test]
    fn tampered_moved_or_open_artifacts_are_not_loaded() {
        let (_top, dir) = private_cache();
        let cache = ArtifactCache::open(&dir).unwrap();
        cache.store("a.cwasm", b"artifact bytes");
        let path = dir.join("a.cwasm");
        let good = std::fs::read(&path).unwrap();

        // One byte of the artifact changed.
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(cache.load("a.cwasm").is_none());

        // A valid file under another name.
        std::fs::write(dir.join("b.cwasm"), &good).unwrap();
        assert!(cache.load("b.cwasm").is_none());

        // Right bytes, but others may write the file.
        std::fs::write(&path, &good).unwrap();
        assert!(cache.load("a.cwasm").is_some());
        chmod(&path, 0o666);
        assert!(cache.load("a.cwasm").is_none());

        // Too short to hold a MAC.
        std::fs::write(dir.join("c.cwasm"), b"short").unwrap();
        assert!(cache.load("c.cwasm").is_none());
    }

    /// The whole path with a real component: compiled and stored once,
    /// then loaded from the cache; a tampered artifact — here a valid
    /// artifact of another engine planted under this one's name — is not
    /// loaded but compiled again and overwritten.
    #[test]
    fn a_tampered_artifact_is_recompiled_not_loaded() {
        let (_top, dir) = private_cache();
        let engine = wasmtime::Engine::default();
        let cache = ArtifactCache::open(&dir).unwrap();
        let kv = crate::engines::builtin("kv").unwrap().wasm;
        let sha = hex::encode(<Sha256 as sha2::Digest>::digest(kv));
        let name = artifact_name(&engine, &sha);

        let (_, source) = compile(&engine, Some(&cache), kv, &sha).unwrap();
        assert_eq!(source, Source::Compiled);
        let stored = std::fs::read(dir.join(&name)).unwrap();
        let (_, source) = compile(&engine, Some(&cache), kv, &sha).unwrap();
        assert_eq!(source, Source::Cache);

        // Plant a deserializable artifact without our MAC (a foreign tag).
        let mut planted = vec![0u8; KEY_BYTES];
        planted.extend_from_slice(stored.get(KEY_BYTES..).unwrap());
        std::fs::write(dir.join(&name), &planted).unwrap();
        let (_, source) = compile(&engine, Some(&cache), kv, &sha).unwrap();
        assert_eq!(source, Source::Compiled);
        assert!(cache.load(&name).is_some(), "overwritten with a good one");
        let (_, source) = compile(&engine, Some(&cache), kv, &sha).unwrap();
        assert_eq!(source, Source::Cache);

        // Without a cache, always compiled.
        let (_, source) = compile(&engine, None, kv, &sha).unwrap();
        assert_eq!(source, Source::Compiled);
    }
}
