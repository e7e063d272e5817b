//! The main job: a small banking service under load, through a tarn `QueuePool`.
//!
//! Worker threads run a mixed read/write workload (balance reads, recent-ledger reads, and
//! transfers that move money between two accounts in one transaction) against an SQLite file
//! database — or PostgreSQL, MariaDB/MySQL or Redis with `--database-url`. A live progress
//! bar shows throughput and the pool's state. Midway the pool is invalidated (a simulated
//! failover: every connection is replaced at its next checkout), and later a short burst of
//! extra threads with a short checkout timeout overloads the pool, so timeouts happen and are
//! handled. A real outage (the server restarts, or the network drops) is ridden out:
//! connect errors are retried with jittered exponential backoff inside each operation's
//! deadline, and reported as an outage (when it started and ended, how long it lasted, how
//! many connect attempts failed), not as failures. The run ends with a plain-text report on
//! stdout: operations, throughput, checkout wait p50/p99/max, connections
//! opened/recycled/invalidated, timeouts, outages, and a check that the transfers kept the
//! total balance. The pool's own log lines go to stderr (`RUST_LOG` filters them; the
//! default is `warn,tarn_pool=info`).
//!
//! ```text
//! cargo run --release --example service
//! cargo run --release --features postgres --example service -- --database-url postgres://postgres@127.0.0.1/test
//! cargo run --release --example service -- --help
//! ```
//!
//! Exits non-zero if an operation failed unexpectedly, the total balance changed, a
//! connection was left open, or an outage had not ended by the final balance check.
// Built without any database feature, the example only explains which feature to enable.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "redis"
    )),
    allow(dead_code)
)]

mod args;
mod outage;
mod progress;
mod report;
mod run;
mod workload;

use std::error::Error as StdError;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use url::Url;

use args::Args;
use progress::Out;
use report::Report;

/// Runs against the database the URL names, if this build supports it.
fn dispatch(args: &Args, out: &Out) -> Result<Report, Box<dyn StdError>> {
    let Some(text) = args.database_url.as_deref() else {
        return default_database(args, out);
    };
    let url = Url::parse(text).map_err(|e| format!("--database-url is not a URL: {e}"))?;
    match url.scheme() {
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let manager = tarn_pool::managers::SqliteManager::from_url(text)?;
            if manager.is_memory() {
                return Err("an in-memory SQLite database is private to one connection: use a file URL (sqlite:///path.db) for a shared pool".into());
            }
            let shown = format!(
                "SQLite file {}",
                manager
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            run::run(manager.wal(true), shown, args, out)
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let manager = tarn_pool::managers::PostgresManager::from_url(text)?;
            let shown = format!("PostgreSQL {manager:?}");
            run::run(manager, shown, args, out)
        }
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => {
            let mut url = url.clone();
            url.set_scheme("mysql")
                .map_err(|()| "cannot read this URL as a mysql:// URL")?;
            let manager = tarn_pool::managers::MysqlManager::from_url(url.as_str())?;
            let shown = format!("MariaDB/MySQL {manager:?}");
            run::run(manager, shown, args, out)
        }
        #[cfg(feature = "redis")]
        "redis" => {
            let manager = tarn_pool::managers::RedisManager::from_url(text)?;
            let shown = format!("Redis {manager:?}");
            run::run(manager, shown, args, out)
        }
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err("this build has no SQLite support: build with --features sqlite".into()),
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => {
            Err("this build has no PostgreSQL support: run with --features postgres".into())
        }
        #[cfg(not(feature = "mysql"))]
        "mysql" | "mariadb" => {
            Err("this build has no MariaDB/MySQL support: run with --features mysql".into())
        }
        #[cfg(not(feature = "redis"))]
        "redis" => Err("this build has no Redis support: run with --features redis".into()),
        other => Err(format!(
            "unknown database URL scheme {other:?}: expected sqlite, postgres, mysql or redis"
        )
        .into()),
    }
}

/// Without `--database-url`: a fresh SQLite file in a temporary directory, removed after.
#[cfg(feature = "sqlite")]
fn default_database(args: &Args, out: &Out) -> Result<Report, Box<dyn StdError>> {
    let dir = std::env::temp_dir().join(format!("tarn-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("service.db");
    let manager = tarn_pool::managers::SqliteManager::file(&path).wal(true);
    let shown = format!("SQLite file {} (WAL, temporary)", path.display());
    let result = run::run(manager, shown, args, out);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(not(feature = "sqlite"))]
fn default_database(_: &Args, _: &Out) -> Result<Report, Box<dyn StdError>> {
    Err(
        "this build has no SQLite support: build with --features sqlite, or pass --database-url"
            .into(),
    )
}

fn main() -> ExitCode {
    let args = Args::parse();
    let out = Out::new(
        Duration::from_secs_f64(args.duration.max(0.1)),
        args.no_progress,
    );
    out.init_logging();
    match dispatch(&args, &out) {
        Ok(report) => {
            println!("{report}");
            if report.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("service: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
