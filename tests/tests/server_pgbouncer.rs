//! Against PgBouncer in transaction pooling mode on 127.0.0.1:6432 in front of the local
//! PostgreSQL (`.ci/pgbouncer.sh` starts it): with [`StatementMode::TransactionPooling`]
//! parameterized queries, statements prepared once and executed later, and transactions
//! all succeed through a pool used by several threads; with the default
//! [`StatementMode::Named`] the same workload fails ("prepared statement ... does not
//! exist"), which is why the mode exists.
//!
//! Under `CI=true` an unreachable PgBouncer fails these tests; elsewhere they print why they
//! skipped. `TARN_TEST_PGBOUNCER_URL` overrides the URL.
#![cfg(feature = "servers")]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tarn_pool::managers::postgres::{PgError, StatementMode};
use tarn_pool::managers::PostgresManager;
use tarn_pool::{Manager, Pool};
use tarn_tests::server::{self, addr_of};

/// PgBouncer of this machine's CI set-up.
const PGBOUNCER_URL: &str = "postgres://postgres@127.0.0.1:6432/test";
/// The same database under another PgBouncer name, with server sessions of its own: the
/// default-mode test leaves named statements behind on its sessions (PgBouncer runs no
/// reset query in transaction mode), and they must not meet the other test's.
const PGBOUNCER_NAMED_URL: &str = "postgres://postgres@127.0.0.1:6432/test_named";

/// Client threads; PgBouncer has 4 server sessions for them (`default_pool_size = 4`), so
/// consecutive transactions of one client often run on different server sessions.
const THREADS: usize = 8;
/// Parameterized queries per thread (1,200 in all).
const QUERIES: usize = 150;
/// Executions of one prepared statement per thread (1,200 in all).
const EXECUTIONS: usize = 150;

/// PgBouncer's URL for `mode`: `TARN_TEST_PGBOUNCER_URL` (or `..._NAMED_URL`), or the
/// CI set-up's.
fn url(mode: StatementMode) -> String {
    let (var, default) = match mode {
        StatementMode::Named => ("TARN_TEST_PGBOUNCER_NAMED_URL", PGBOUNCER_NAMED_URL),
        _ => ("TARN_TEST_PGBOUNCER_URL", PGBOUNCER_URL),
    };
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A manager for PgBouncer in `mode`, or `None` (after saying why) when it does not answer.
fn bouncer(test: &str, mode: StatementMode) -> Option<PostgresManager> {
    let url = url(mode);
    server::require(test, "PgBouncer", addr_of(&url), || {
        let m = PostgresManager::from_url(&url)?.statement_mode(mode);
        let mut c = m.connect_within(Some(Duration::from_secs(5)))?;
        c.batch_execute("SELECT 1")?;
        m.close(c);
        Ok::<_, PgError>(m)
    })
}

/// What a workload saw: how many operations failed, of how many, and the first errors.
#[derive(Debug, Default)]
struct Outcome {
    failed: AtomicUsize,
    total: AtomicUsize,
    first: Mutex<Vec<String>>,
}

impl Outcome {
    fn record<T>(&self, r: Result<T, String>) -> Option<T> {
        self.total.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first.lock().unwrap();
                if first.len() < 3 {
                    first.push(e);
                }
                None
            }
        }
    }

    fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

fn pool(m: PostgresManager) -> Pool<PostgresManager> {
    Pool::builder(m)
        .pool_size(THREADS)
        .pre_ping(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a valid pool")
}

/// Each of [`THREADS`] threads checks a connection out per query and runs
/// `SELECT $1::int + $2::int`, checking the answer.
fn parameterized(pool: &Pool<PostgresManager>) -> Outcome {
    let out = Outcome::default();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (pool, out) = (pool, &out);
            s.spawn(move || {
                for i in 0..QUERIES {
                    let (a, b) = (t as i32, i as i32);
                    let r = pool
                        .get()
                        .map_err(|e| e.to_string())
                        .and_then(|mut c| {
                            c.query_one("SELECT $1::int + $2::int", &[&a, &b])
                                .map_err(|e| e.to_string())
                        })
                        .map(|row| row.get::<_, i32>(0));
                    if let Some(sum) = out.record(r) {
                        assert_eq!(sum, a + b);
                    }
                }
            });
        }
    });
    out
}

/// Each thread keeps one connection, prepares a statement once, and executes it
/// [`EXECUTIONS`] times, every execution its own transaction on the server side, while
/// the other threads do the same.
fn prepared_once(pool: &Pool<PostgresManager>) -> Outcome {
    let out = Outcome::default();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (pool, out) = (pool, &out);
            s.spawn(move || {
                let mut c = pool.get().expect("a connection");
                let Some(st) = out.record(
                    c.prepare("SELECT $1::int * 2, $2::text")
                        .map_err(|e| e.to_string()),
                ) else {
                    return;
                };
                for i in 0..EXECUTIONS {
                    let n = (t * EXECUTIONS + i) as i32;
                    let label = format!("t{t}");
                    let r = c
                        .query_one(&st, &[&n, &label])
                        .map_err(|e| e.to_string())
                        .map(|row| (row.get::<_, i32>(0), row.get::<_, String>(1)));
                    if let Some((twice, l)) = out.record(r) {
                        assert_eq!((twice, l), (n * 2, label));
                    }
                    std::thread::yield_now();
                }
            });
        }
    });
    out
}

/// Each thread runs transactions that prepare, write and read back in a temporary table
/// and execute a statement prepared in an earlier transaction.
fn transactions(pool: &Pool<PostgresManager>) -> Outcome {
    let out = Outcome::default();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (pool, out) = (pool, &out);
            s.spawn(move || {
                let mut c = pool.get().expect("a connection");
                let Some(echo) =
                    out.record(c.prepare("SELECT $1::bigint").map_err(|e| e.to_string()))
                else {
                    return;
                };
                for i in 0..20_i64 {
                    let r = (|| {
                        let mut tx = c.transaction()?;
                        tx.batch_execute("CREATE TEMP TABLE t (v bigint) ON COMMIT DROP")?;
                        let insert = tx.prepare("INSERT INTO t VALUES ($1)")?;
                        tx.execute(&insert, &[&i])?;
                        tx.execute("INSERT INTO t VALUES ($1)", &[&(i + 1)])?;
                        let sum: i64 = tx.query_one("SELECT sum(v)::bigint FROM t", &[])?.get(0);
                        let back: i64 = tx.query_one(&echo, &[&sum])?.get(0);
                        tx.commit()?;
                        Ok::<_, PgError>(back)
                    })()
                    .map_err(|e| format!("thread {t}: {e}"));
                    if let Some(back) = out.record(r) {
                        assert_eq!(back, 2 * i + 1);
                    }
                }
            });
        }
    });
    out
}

fn report(what: &str, mode: StatementMode, o: &Outcome) {
    let _ = writeln!(
        std::io::stderr(),
        "PgBouncer {what} ({mode:?}): {} of {} failed; first errors: {:?}",
        o.failed(),
        o.total(),
        o.first.lock().unwrap()
    );
}

#[test]
fn transaction_pooling_mode_runs_every_query_behind_pgbouncer() {
    let mode = StatementMode::TransactionPooling;
    let Some(m) = bouncer(
        "transaction_pooling_mode_runs_every_query_behind_pgbouncer",
        mode,
    ) else {
        return;
    };
    let pool = pool(m);
    let p = parameterized(&pool);
    report("parameterized queries", mode, &p);
    let q = prepared_once(&pool);
    report("prepared once, executed later", mode, &q);
    let t = transactions(&pool);
    report("transactions", mode, &t);
    assert_eq!(p.total(), THREADS * QUERIES);
    assert_eq!(q.total(), THREADS * (EXECUTIONS + 1));
    assert_eq!(
        (p.failed(), q.failed(), t.failed()),
        (0, 0, 0),
        "{p:?} {q:?} {t:?}"
    );
}

#[test]
fn named_statements_fail_behind_pgbouncer_in_the_default_mode() {
    let mode = StatementMode::Named;
    let Some(m) = bouncer(
        "named_statements_fail_behind_pgbouncer_in_the_default_mode",
        mode,
    ) else {
        return;
    };
    let pool = pool(m);
    let p = parameterized(&pool);
    report("parameterized queries", mode, &p);
    let q = prepared_once(&pool);
    report("prepared once, executed later", mode, &q);
    // What the mode is for: without it, named statements meet server sessions that never
    // saw them.
    assert!(p.failed() + q.failed() > 0, "{p:?} {q:?}");
    let first = q.first.lock().unwrap();
    let firsts = first
        .iter()
        .chain(p.first.lock().unwrap().iter())
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        firsts
            .iter()
            .any(|e| e.contains("does not exist") || e.contains("already exists")),
        "{firsts:?}"
    );
}
