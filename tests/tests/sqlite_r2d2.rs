//! The r2d2 bridge: `r2d2_sqlite`'s manager, unchanged, in a `tarn_pool::Pool`.
#![cfg(feature = "r2d2")]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use tarn_pool::managers::r2d2::r2d2::ManageConnection;
use tarn_pool::managers::sqlite::rusqlite::{Connection, TransactionBehavior};
use tarn_pool::managers::{R2d2Error, R2d2Manager};
use tarn_pool::{Pool, ResetMode};
use tarn_tests::TempDir;

fn rollback(conn: &mut Connection, mode: ResetMode) -> Result<(), r2d2_sqlite::rusqlite::Error> {
    match mode {
        ResetMode::Rollback if !conn.is_autocommit() => conn.execute_batch("ROLLBACK"),
        ResetMode::Commit if !conn.is_autocommit() => conn.execute_batch("COMMIT"),
        _ => Ok(()),
    }
}

#[test]
fn an_r2d2_manager_works_unchanged_with_tarn_reset_and_pre_ping() {
    let dir = TempDir::new("tarn_r2d2");
    let file = dir.path().join("db.sqlite");
    let r2d2_manager = SqliteConnectionManager::file(&file)
        .with_init(|c| c.execute_batch("PRAGMA journal_mode = WAL"));
    let manager = R2d2Manager::new(r2d2_manager).on_reset(rollback);
    let pool = Pool::builder(manager)
        .pool_size(2)
        .max_overflow(0)
        .pre_ping(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    pool.get()
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    let c = pool.get().unwrap();
    c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
        .unwrap();
    drop(c);

    let mut outside = Connection::open(&file).unwrap();
    outside.busy_timeout(Duration::ZERO).unwrap();
    outside
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("the returned connection was rolled back: the write lock is free")
        .rollback()
        .unwrap();
    let n: i64 = outside
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);

    // Pre-ping goes through r2d2's `is_valid` (a `SELECT 1` for r2d2_sqlite) on every
    // checkout of an idle connection.
    for _ in 0..3 {
        let n: i64 = pool
            .get()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
    pool.dispose();
    let stats = pool.stats();
    assert_eq!(stats.opened, stats.closed);
    assert_eq!(stats.invalidated, 0, "no ping or reset failed");
}

#[test]
fn an_r2d2_connect_error_reaches_the_caller_with_its_cause() {
    let dir = TempDir::new("tarn_r2d2");
    let manager = R2d2Manager::new(SqliteConnectionManager::file(
        dir.path().join("missing-dir/db.sqlite"),
    ));
    let pool = Pool::builder(manager).pool_size(1).build().unwrap();
    let Err(err) = pool.get() else {
        panic!("cannot open");
    };
    assert!(
        matches!(err, tarn_pool::Error::Connect(R2d2Error::Manager(_))),
        "{err:?}"
    );
}

/// `r2d2_sqlite`'s manager, with a switch that makes `has_broken` report every connection
/// as broken and one that makes `is_valid` fail, and counters of both calls.
#[derive(Debug)]
struct Switched {
    inner: SqliteConnectionManager,
    broken: AtomicBool,
    invalid: AtomicBool,
    has_broken_calls: AtomicUsize,
    is_valid_calls: AtomicUsize,
}

impl Switched {
    fn new(dir: &TempDir) -> Arc<Switched> {
        Arc::new(Switched {
            inner: SqliteConnectionManager::file(dir.path().join("db.sqlite")),
            broken: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            has_broken_calls: AtomicUsize::new(0),
            is_valid_calls: AtomicUsize::new(0),
        })
    }
}

/// The r2d2 manager the pool sees: the shared [`Switched`].
#[derive(Debug)]
struct Shared(Arc<Switched>);

impl ManageConnection for Shared {
    type Connection = Connection;
    type Error = r2d2_sqlite::rusqlite::Error;

    fn connect(&self) -> Result<Connection, Self::Error> {
        self.0.inner.connect()
    }
    fn is_valid(&self, conn: &mut Connection) -> Result<(), Self::Error> {
        self.0.is_valid_calls.fetch_add(1, Ordering::SeqCst);
        if self.0.invalid.load(Ordering::SeqCst) {
            // What a dead connection answers: any error from the r2d2 manager.
            return Err(r2d2_sqlite::rusqlite::Error::InvalidQuery);
        }
        self.0.inner.is_valid(conn)
    }
    fn has_broken(&self, conn: &mut Connection) -> bool {
        self.0.has_broken_calls.fetch_add(1, Ordering::SeqCst);
        self.0.broken.load(Ordering::SeqCst) || self.0.inner.has_broken(conn)
    }
}

fn pool_of(
    switched: &Arc<Switched>,
    reset: ResetMode,
    pre_ping: bool,
) -> Pool<R2d2Manager<Shared>> {
    Pool::builder(R2d2Manager::new(Shared(Arc::clone(switched))).on_reset(rollback))
        .pool_size(1)
        .max_overflow(0)
        .reset_on_return(reset)
        .pre_ping(pre_ping)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn a_connection_r2d2_reports_broken_is_closed_on_return_not_kept() {
    let dir = TempDir::new("tarn_r2d2");
    let switched = Switched::new(&dir);
    let pool = pool_of(&switched, ResetMode::Rollback, false);

    drop(pool.get().unwrap());
    // Asked twice per return: by the bridge's reset (a broken connection is not rolled
    // back) and by the pool before it keeps the connection.
    assert_eq!(switched.has_broken_calls.load(Ordering::SeqCst), 2);
    assert_eq!(pool.stats().opened, 1);
    assert_eq!(pool.state().idle, 1, "a healthy connection goes back idle");

    switched.broken.store(true, Ordering::SeqCst);
    drop(pool.get().unwrap());
    // The reset asks and fails: the pool closes it without asking again.
    assert_eq!(switched.has_broken_calls.load(Ordering::SeqCst), 3);
    assert_eq!(pool.state().idle, 0, "the broken one is not kept");
    assert_eq!(pool.stats().closed, 1);

    switched.broken.store(false, Ordering::SeqCst);
    let n: i64 = pool
        .get()
        .unwrap()
        .query_row("SELECT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "a new connection replaces it");
    assert_eq!(pool.stats().opened, 2);
    pool.dispose();
    assert_eq!(pool.stats().opened, pool.stats().closed);
}

#[test]
fn a_broken_connection_is_not_kept_without_reset_on_return() {
    let dir = TempDir::new("tarn_r2d2");
    let switched = Switched::new(&dir);
    let pool = pool_of(&switched, ResetMode::None, false);
    drop(pool.get().unwrap());
    switched.broken.store(true, Ordering::SeqCst);
    drop(pool.get().unwrap());
    assert!(switched.has_broken_calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(pool.state().idle, 0, "the broken one is not kept");
}

#[test]
fn pre_ping_asks_is_valid_and_replaces_an_invalid_connection() {
    let dir = TempDir::new("tarn_r2d2");
    let switched = Switched::new(&dir);
    let pool = pool_of(&switched, ResetMode::Rollback, true);

    drop(pool.get().unwrap());
    drop(pool.get().unwrap());
    let calls = switched.is_valid_calls.load(Ordering::SeqCst);
    assert_eq!(
        calls, 1,
        "the idle connection was checked once on its way out"
    );

    switched.invalid.store(true, Ordering::SeqCst);
    let conn = pool
        .get()
        .expect("an invalid idle connection is replaced, not reported");
    assert_eq!(switched.is_valid_calls.load(Ordering::SeqCst), 2);
    drop(conn);
    assert_eq!(
        pool.stats().opened,
        2,
        "a new connection replaced the invalid one"
    );
    assert_eq!(pool.stats().invalidated, 1);
    pool.dispose();
    assert_eq!(pool.stats().opened, pool.stats().closed);
}
