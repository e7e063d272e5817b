//! SQLite's busy timeout is capped by the caller's time left: a connect whose pragmas wait
//! for another connection's lock, and a reset whose `COMMIT` waits for a reader, fail with
//! `database is locked` within the limit (plus [`SLACK`]), not after the 5 s busy timeout;
//! the connection keeps its configured busy timeout afterwards.

use std::time::{Duration, Instant};

use tarn_pool::managers::sqlite::rusqlite::{Connection, ErrorCode};
use tarn_pool::managers::SqliteManager;
use tarn_pool::{Manager, ResetMode};
use tarn_tests::TempDir;

const LIMIT: Duration = Duration::from_millis(200);
const SLACK: Duration = Duration::from_millis(100);

/// A rollback-journal database file with a table `t (x)`, and an outside connection.
fn db(dir: &TempDir) -> (std::path::PathBuf, Connection) {
    let path = dir.path().join("db.sqlite");
    let outside = Connection::open(&path).unwrap();
    outside
        .execute_batch("CREATE TABLE t (x INTEGER NOT NULL); INSERT INTO t VALUES (1)")
        .unwrap();
    (path, outside)
}

fn busy_timeout_ms(c: &Connection) -> i64 {
    c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap()
}

fn is_locked(e: &tarn_pool::managers::sqlite::rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

#[test]
fn a_commit_on_return_waits_for_a_reader_at_most_the_limit() {
    let dir = TempDir::new("tarn_sqlite_deadline");
    let (path, outside) = db(&dir);
    let m = SqliteManager::file(&path);
    let mut conn = m.connect().unwrap();
    assert_eq!(busy_timeout_ms(&conn), 5000);
    conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2)")
        .unwrap();
    // A reader holds its shared lock: the commit cannot take the exclusive one.
    outside
        .execute_batch("BEGIN; SELECT count(*) FROM t")
        .unwrap();
    let _: i64 = outside
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();

    let start = Instant::now();
    let err = m
        .reset_within(&mut conn, ResetMode::Commit, Some(LIMIT))
        .expect_err("the reader holds the lock");
    let took = start.elapsed();
    eprintln!("FAULT SQLite reset_within(Commit) locked: limit {LIMIT:?}, took {took:?}");
    assert!(is_locked(&err), "{err}");
    assert!(took <= LIMIT + SLACK, "took {took:?}");
    assert_eq!(busy_timeout_ms(&conn), 5000, "the busy timeout is put back");

    outside.execute_batch("COMMIT").unwrap();
    m.reset_within(&mut conn, ResetMode::Commit, Some(LIMIT))
        .expect("the lock is free: the commit goes through");
    let n: i64 = outside
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    m.close(conn);
}

#[test]
fn a_connect_whose_pragmas_wait_for_a_lock_fails_within_the_limit() {
    let dir = TempDir::new("tarn_sqlite_deadline");
    let (path, outside) = db(&dir);
    outside.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let m = SqliteManager::file(&path).wal(true);

    let start = Instant::now();
    let err = m
        .connect_within(Some(LIMIT))
        .expect_err("switching to WAL needs the lock");
    let took = start.elapsed();
    eprintln!("FAULT SQLite connect_within(wal) locked: limit {LIMIT:?}, took {took:?}");
    assert!(is_locked(&err), "{err}");
    assert!(took <= LIMIT + SLACK, "took {took:?}");

    outside.execute_batch("COMMIT").unwrap();
    let conn = m.connect_within(Some(LIMIT)).unwrap();
    assert_eq!(
        busy_timeout_ms(&conn),
        5000,
        "the configured busy timeout is set"
    );
    m.close(conn);
}
