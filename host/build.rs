//! Builds the engine components (the guest workspace in `engines/`, test
//! engines included) for wasm32-wasip2 in release, so that `cargo build`
//! alone yields a complete server. Built-in engines are embedded with
//! `include_bytes!`; tests find the others through `COFFER_WASM_DIR`.
//!
//! The inner cargo gets its own target directory (`<target>/wasm`): sharing
//! the outer one would deadlock on its build lock.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let root = manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.clone());
    let target_root = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    // COFFER_WASM_TARGET_DIR lets a second checkout build its own engines
    // without overwriting this one's (the rest of the target dir is shared).
    let wasm_target_dir = env::var_os("COFFER_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_root.join("wasm"));
    for dir in ["engines", "sdk", "wit", "tests/engines"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=COFFER_SKIP_ENGINE_BUILD");
    println!("cargo:rerun-if-env-changed=COFFER_WASM_TARGET_DIR");

    let out = wasm_target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=COFFER_WASM_DIR={}", out.display());
    // For iterating on the host alone: use the engines already built.
    if env::var_os("COFFER_SKIP_ENGINE_BUILD").is_some() {
        return;
    }

    ensure_wasm_target();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(root.join("engines/Cargo.toml"))
    .arg("--target-dir")
    .arg(&wasm_target_dir);
    // The outer build's settings are not the guests': drop flags, wrappers
    // (clippy's would change fingerprints and force rebuilds) and targets.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building the engines (engines/Cargo.toml) failed with {s}"
        )),
        Err(e) => fail(&format!("cannot run cargo to build the engines: {e}")),
    }
}

/// rustup does not add targets on its own here: add wasm32-wasip2 if missing.
fn ensure_wasm_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "wasm32-wasip2")
        })
        .unwrap_or(false);
    if installed {
        return;
    }
    match Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
    {
        Ok(s) if s.success() => {}
        _ => {
            fail("the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed")
        }
    }
}

fn fail(message: &str) -> ! {
    println!("cargo:warning={message}");
    eprintln!("error: {message}");
    std::process::exit(1);
}
