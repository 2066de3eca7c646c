//! Per-call cost of the sandbox: a KV read through `Sandbox::call` (snapshot,
//! warm instance, JSON in and out), without HTTP. Two designs are measured
//! in the same run: warm instances reused across calls (what the host does)
//! and a fresh instance per call (`max_reuse = 1`). Prints microseconds per
//! call; `bench/run.sh` records them in BENCHMARKS.md.
//!
//! Run with `cargo bench -p coffer-host --bench dispatch`.

use std::time::{Duration, Instant};

use coffer_host::api::{Method, Reply};
use coffer_host::auth::WriteRule;
use coffer_host::config::default_limits;
use coffer_host::engines;
use coffer_host::sandbox::{CallRequest, Sandbox};
use coffer_host::storage::barrier::Keyring;
use coffer_host::storage::{MountPrefix, Storage};

fn request(method: Method, data: &str) -> CallRequest {
    CallRequest {
        method,
        path: "app/db".into(),
        data: data.into(),
        query: Vec::new(),
        mount_path: "secret/".into(),
        mount_options: "{}".into(),
        write_rule: WriteRule::Any,
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let storage = Storage::open(&dir.path().join("bench.redb"))?;
        storage.set_keyring(Some(Keyring::generate(0)));
        let kv = engines::builtin("kv").ok_or_else(|| anyhow::anyhow!("no kv engine"))?;
        let only = std::env::var("DISPATCH_ONLY").ok();
        for (label, reuse) in [
            ("warm instance (reused)", 10_000u32),
            ("fresh instance per call", 1),
        ] {
            if only.as_deref().is_some_and(|o| !label.starts_with(o)) {
                continue;
            }
            let mut limits = default_limits();
            limits.max_reuse = reuse;
            let sandbox = Sandbox::new(storage.clone(), limits, None)?;
            let code = sandbox.load(kv.wasm).map_err(anyhow::Error::msg)?;
            let mount = sandbox.mount(code, MountPrefix::for_mount(label), "secret/");
            let written = sandbox
                .call(
                    &mount,
                    request(Method::Write, r#"{"password":"hunter2","user":"app"}"#),
                )
                .await;
            anyhow::ensure!(
                matches!(written, Ok(Reply::Empty { .. })),
                "write failed: {written:?}"
            );
            let n = 20_000u32;
            for _ in 0..1000 {
                sandbox
                    .call(&mount, request(Method::Read, "{}"))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
            let start = Instant::now();
            for _ in 0..n {
                sandbox
                    .call(&mount, request(Method::Read, "{}"))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
            let per_call: Duration = start.elapsed() / n;
            println!(
                "dispatch: {label}: {:.2} us per KV read",
                per_call.as_secs_f64() * 1e6
            );
        }
        transit_batch(&storage).await?;
        Ok(())
    })
}

/// A transit `encrypt` of 1000 64-byte plaintexts through `Sandbox::call`:
/// the engine's share of a batch request's server time.
async fn transit_batch(storage: &Storage) -> anyhow::Result<()> {
    let transit =
        engines::builtin("transit").ok_or_else(|| anyhow::anyhow!("no transit engine"))?;
    let sandbox = Sandbox::new(storage.clone(), default_limits(), None)?;
    let code = sandbox.load(transit.wasm).map_err(anyhow::Error::msg)?;
    let mount = sandbox.mount(code, MountPrefix::for_mount("transit-bench"), "transit/");
    let call = |path: &str, data: String| CallRequest {
        method: Method::Write,
        path: path.into(),
        data,
        query: Vec::new(),
        mount_path: "transit/".into(),
        mount_options: "{}".into(),
        write_rule: WriteRule::Any,
    };
    sandbox
        .call(&mount, call("keys/bench", "{}".into()))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let item = r#"{"plaintext":"eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA=="}"#;
    let batch = format!(r#"{{"batch_input":[{}]}}"#, vec![item; 1000].join(","));
    let single = item.to_string();
    for (label, body, n) in [
        ("transit encrypt, batch of 1000", &batch, 50u32),
        ("transit encrypt, single", &single, 5000),
    ] {
        for _ in 0..5 {
            sandbox
                .call(&mount, call("encrypt/bench", body.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let start = Instant::now();
        for _ in 0..n {
            sandbox
                .call(&mount, call("encrypt/bench", body.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let per_call = start.elapsed() / n;
        println!(
            "dispatch: {label}: {:.1} us per call",
            per_call.as_secs_f64() * 1e6
        );
    }
    Ok(())
}
