//! The "server required" rule: under `CI=true` a server the tests cannot reach is a test
//! failure; anywhere else the test says plainly that it skipped, and why.

use std::error::Error;
use std::io::Write;

/// PostgreSQL on this machine: trust auth, database `test`.
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// MariaDB on this machine: root with an empty password, database `test`.
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// Redis on this machine.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// The PostgreSQL URL of the tests: `TARN_TEST_POSTGRES_URL`, or [`POSTGRES_URL`].
pub fn postgres_url() -> String {
    std::env::var("TARN_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.to_owned())
}

/// The MariaDB/MySQL URL of the tests: `TARN_TEST_MYSQL_URL`, or [`MYSQL_URL`].
pub fn mysql_url() -> String {
    std::env::var("TARN_TEST_MYSQL_URL").unwrap_or_else(|_| MYSQL_URL.to_owned())
}

/// The Redis URL of the tests: `TARN_TEST_REDIS_URL`, or [`REDIS_URL`].
pub fn redis_url() -> String {
    std::env::var("TARN_TEST_REDIS_URL").unwrap_or_else(|_| REDIS_URL.to_owned())
}

/// Whether the tests run in CI (`CI=true`), where a missing server fails the run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Runs `connect`; on success returns what it opened. On failure: under CI it panics (the
/// test fails) with the reason; elsewhere it prints
/// `SKIPPED <test>: <server> not reachable at <addr>: <error>` to stderr and returns `None`,
/// and the test should return.
///
/// # Panics
///
/// Under `CI=true`, when `connect` fails.
pub fn require<T, E: Error>(
    test: &str,
    server: &str,
    addr: &str,
    connect: impl FnOnce() -> Result<T, E>,
) -> Option<T> {
    match connect() {
        Ok(v) => Some(v),
        Err(e) if in_ci() => panic!(
            "{test}: {server} not reachable at {addr}: {} (CI=true: the server tests must run)",
            with_causes(&e)
        ),
        Err(e) => {
            // Written to the process's stderr directly, not through `eprintln!`, so the test
            // harness does not capture it: a skip is always visible.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {server} not reachable at {addr}: {}",
                with_causes(&e)
            );
            None
        }
    }
}

/// An error's message followed by each of its causes.
pub fn with_causes(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The address part of a URL (`host:port`), for messages; never the credentials.
pub fn addr_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_of_drops_credentials_and_path() {
        assert_eq!(addr_of(POSTGRES_URL), "127.0.0.1:5432");
        assert_eq!(addr_of("redis://:pw@127.0.0.1:6379/0"), "127.0.0.1:6379");
    }
}
