//! Per-call cost of the sandbox: a KV read through `Sandbox::call` (snapshot,
//! warm instance, JSON in and out), without HTTP. Two designs are measured
//! in the same run: warm instances reused across calls (what the host does)
//! and a fresh instance per call (`max_reuse = 1`). Then transit's encrypt
//! and decrypt, single and batches of 1000 (see [`transit`]; set
//! `DISPATCH_BASELINE` to compare with another build of the engine). Prints
//! microseconds per call; BENCHMARKS.md records them.
//!
//! Run with `cargo bench -p coffer-host --bench dispatch`;
//! `DISPATCH_ONLY=<prefix>` runs only the scenarios whose label starts with
//! it (`warm`, `fresh`, `transit`, `transit encrypt, batch`, ...);
//! `DISPATCH_SCALE=<n>` runs the transit scenarios n times longer (for a
//! profiler).

use std::time::{Duration, Instant};

use coffer_host::api::{Method, Reply};
use coffer_host::auth::WriteRule;
use coffer_host::config::default_limits;
use coffer_host::engines;
use coffer_host::sandbox::{CallRequest, Described, Sandbox};
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
        allowed_managed_keys: Vec::new(),
        raw: None,
        caller: None,
        id: uuid::Uuid::nil(),
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let storage = Storage::open(&dir.path().join("bench.redb"))?;
        let gate = coffer_host::seal::Gate::default();
        gate.open(Keyring::generate(0), async |_| Ok(()))
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let unsealed = gate.enter().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let unsealed = &unsealed;
        let only = std::env::var("DISPATCH_ONLY").ok();
        let kv = engines::builtin("kv").ok_or_else(|| anyhow::anyhow!("no kv engine"))?;
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
            let mount = sandbox.mount(
                code,
                Described::default(),
                MountPrefix::for_mount(label),
                "secret/",
            );
            let written = sandbox
                .call(
                    unsealed,
                    &mount,
                    request(Method::Write, r#"{"password":"hunter2","user":"app"}"#),
                    None,
                )
                .await;
            anyhow::ensure!(
                matches!(written, Ok(Reply::Empty { .. })),
                "write failed: {written:?}"
            );
            let n = 20_000u32;
            for _ in 0..1000 {
                sandbox
                    .call(unsealed, &mount, request(Method::Read, "{}"), None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
            let start = Instant::now();
            for _ in 0..n {
                sandbox
                    .call(unsealed, &mount, request(Method::Read, "{}"), None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
            let per_call: Duration = start.elapsed() / n;
            println!(
                "dispatch: {label}: {:.2} us per KV read",
                per_call.as_secs_f64() * 1e6
            );
        }
        transit(&storage, unsealed, only.as_deref()).await?;
        Ok(())
    })
}

/// Transit's encrypt and decrypt, single and as a `batch_input` of 1000
/// 64-byte plaintexts, through `Sandbox::call`: the engine's share of a
/// request's server time. With `DISPATCH_BASELINE=<transit .wasm>` the same
/// scenarios also run on that build (say, one built from the parent commit),
/// alternating rounds with the current engine so that both see the same
/// load, and the ratio current / baseline is printed. Each line gives the
/// median of the rounds' mean times.
async fn transit(
    storage: &Storage,
    unsealed: &coffer_host::seal::Unsealed,
    only: Option<&str>,
) -> anyhow::Result<()> {
    let current =
        engines::builtin("transit").ok_or_else(|| anyhow::anyhow!("no transit engine"))?;
    let mut builds: Vec<(&str, Vec<u8>)> = Vec::new();
    if let Some(path) = std::env::var_os("DISPATCH_BASELINE") {
        let wasm = std::fs::read(&path)
            .map_err(|e| anyhow::anyhow!("DISPATCH_BASELINE {}: {e}", path.to_string_lossy()))?;
        builds.push(("baseline", wasm));
    }
    builds.push(("current", current.wasm.to_vec()));

    let sandbox = Sandbox::new(storage.clone(), default_limits(), None)?;
    let plaintext =
        r#""eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==""#;
    let encrypt_item = format!(r#"{{"plaintext":{plaintext}}}"#);
    let encrypt_batch = batch_of(&vec![encrypt_item.as_str(); 1000]);
    let mut mounts = Vec::new();
    for (label, wasm) in &builds {
        let code = sandbox.load(wasm).map_err(anyhow::Error::msg)?;
        let mount = sandbox.mount(
            code,
            Described::default(),
            MountPrefix::for_mount(&format!("transit-{label}")),
            "transit/",
        );
        call_ok(unsealed, &sandbox, &mount, "keys/bench", "{}".into()).await?;
        // Ciphertexts this build made, for its decrypt scenarios.
        let made = call_ok(
            unsealed,
            &sandbox,
            &mount,
            "encrypt/bench",
            encrypt_batch.clone(),
        )
        .await?;
        let made: serde_json::Value = serde_json::from_str(&made)?;
        let items: Vec<String> = made["batch_results"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("no batch_results: {made}"))?
            .iter()
            .map(|r| format!(r#"{{"ciphertext":{}}}"#, r["ciphertext"]))
            .collect();
        let decrypt_single = items.first().cloned().unwrap_or_default();
        let decrypt_batch = batch_of(&items.iter().map(String::as_str).collect::<Vec<_>>());
        mounts.push((*label, mount, decrypt_single, decrypt_batch));
    }

    let scenarios: [(&str, &str, u32); 4] = [
        ("transit encrypt, batch of 1000", "encrypt/bench", 40),
        ("transit decrypt, batch of 1000", "decrypt/bench", 40),
        ("transit encrypt, single", "encrypt/bench", 4000),
        ("transit decrypt, single", "decrypt/bench", 4000),
    ];
    const ROUNDS: usize = 8;
    let scale: u32 = std::env::var("DISPATCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for (label, path, n) in scenarios {
        if only.is_some_and(|o| !label.starts_with(o)) {
            continue;
        }
        let per_round = (n * scale / ROUNDS as u32).max(1);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); mounts.len()];
        for round in 0..=ROUNDS {
            // Alternate which build goes first, so that neither always runs
            // right after the other.
            let mut order: Vec<usize> = (0..mounts.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let Some((_, mount, decrypt_single, decrypt_batch)) = mounts.get(i) else {
                    continue;
                };
                let body = match label {
                    l if l.starts_with("transit encrypt, batch") => &encrypt_batch,
                    l if l.starts_with("transit encrypt") => &encrypt_item,
                    l if l.contains("batch") => decrypt_batch,
                    _ => decrypt_single,
                };
                let start = Instant::now();
                for _ in 0..per_round {
                    call_ok(unsealed, &sandbox, mount, path, body.clone()).await?;
                }
                // Round 0 warms up.
                if let Some(times) = times.get_mut(i).filter(|_| round > 0) {
                    times.push(start.elapsed().as_secs_f64() * 1e6 / f64::from(per_round));
                }
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        for ((build, ..), us) in mounts.iter().zip(&medians) {
            let ratio = match (medians.first(), mounts.len()) {
                (Some(base), 2) if *build == "current" => format!(" ({:.2}x baseline)", us / base),
                _ => String::new(),
            };
            let tag = if mounts.len() > 1 {
                format!(" [{build}]")
            } else {
                String::new()
            };
            println!("dispatch: {label}{tag}: {us:.1} us per call{ratio}");
        }
    }
    Ok(())
}

fn batch_of(items: &[&str]) -> String {
    format!(r#"{{"batch_input":[{}]}}"#, items.join(","))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One `write` on a transit mount that must answer 200; returns its `data`.
async fn call_ok(
    unsealed: &coffer_host::seal::Unsealed,
    sandbox: &Sandbox,
    mount: &std::sync::Arc<coffer_host::sandbox::MountRuntime>,
    path: &str,
    data: String,
) -> anyhow::Result<String> {
    let request = CallRequest {
        method: Method::Write,
        path: path.into(),
        data,
        query: Vec::new(),
        mount_path: "transit/".into(),
        mount_options: "{}".into(),
        write_rule: WriteRule::Any,
        allowed_managed_keys: Vec::new(),
        raw: None,
        caller: None,
        id: uuid::Uuid::nil(),
    };
    match sandbox.call(unsealed, mount, request, None).await {
        Ok(Reply::EngineData {
            status: 200, data, ..
        }) => Ok(data.get().to_owned()),
        other => Err(anyhow::anyhow!("{path}: {other:?}")),
    }
}
