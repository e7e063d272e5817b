//! The r2d2 bridge: `r2d2_sqlite`'s manager, unchanged, in a `tarn_pool::Pool`.
#![cfg(feature = "r2d2")]

use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
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
