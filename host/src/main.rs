//! The `coffer` binary: parse the command line, start logging, run.

use clap::Parser;

use coffer_host::config::{Cli, Command, Config};

/// mimalloc, not the system's malloc: glibc's returns a large freed buffer
/// to the kernel and maps the next one afresh, which cost a 5.5 MB batch
/// request about 4,000 page faults (ARCHITECTURE.md, "Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let level = std::env::var("COFFER_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let Command::Server(args) = cli.command;
    let result = Config::from_args(&args).and_then(|config| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let result = runtime.block_on(coffer_host::run(config, shutdown_signal()));
        // `run` has already waited graceful_shutdown_timeout for requests in
        // flight; whatever is still running is abandoned, not waited for.
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        result
    });
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
