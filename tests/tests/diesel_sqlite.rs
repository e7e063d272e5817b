//! diesel through tarn: `DieselManager<SqliteConnection>`, and diesel's own r2d2
//! `ConnectionManager` through the r2d2 bridge, on a real SQLite file.
#![cfg(feature = "diesel")]

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::ConnectionManager;
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use tarn_pool::managers::{DieselManager, R2d2Manager};
use tarn_pool::{OwnedPooledConnection, Pool, ResetMode};
use tarn_tests::TempDir;

/// The r2d2-style alias: no lifetime, as with r2d2's owned `PooledConnection`.
type DbConn = OwnedPooledConnection<DieselManager<SqliteConnection>>;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A diesel function as applications write them: it takes the connection, and generic
/// diesel calls (`execute`, `get_result`) run on it.
fn rows(conn: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::sql_query("SELECT count(*) AS n FROM t")
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

fn insert(conn: &mut SqliteConnection, x: i64) -> QueryResult<usize> {
    diesel::sql_query("INSERT INTO t (x) VALUES (?)")
        .bind::<BigInt, _>(x)
        .execute(conn)
}

fn depth(conn: &mut SqliteConnection) -> Option<std::num::NonZeroU32> {
    <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(conn)
        .transaction_depth()
        .unwrap()
}

fn begin(conn: &mut SqliteConnection) {
    <AnsiTransactionManager as TransactionManager<SqliteConnection>>::begin_transaction(conn)
        .unwrap();
}

/// The write lock of the file is free: an outside connection can take it at once.
fn assert_write_lock_free(file: &std::path::Path) {
    let mut outside = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    outside
        .batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK")
        .expect("the returned connection's transaction was rolled back: the lock is free");
    assert_eq!(
        rows(&mut outside).unwrap(),
        0,
        "the left-open insert is gone"
    );
}

fn diesel_pool(file: &std::path::Path) -> Pool<DieselManager<SqliteConnection>> {
    Pool::builder(DieselManager::new(file.to_str().unwrap()))
        .pool_size(1)
        .max_overflow(0)
        .pre_ping(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn a_diesel_transaction_left_open_is_rolled_back_before_the_next_user() {
    let dir = TempDir::new("tarn_diesel");
    let file = dir.path().join("db.sqlite");
    let pool = diesel_pool(&file);

    let mut conn = pool.get().unwrap();
    conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
    begin(&mut conn);
    insert(&mut conn, 1).unwrap();
    assert_eq!(rows(&mut conn).unwrap(), 1);
    assert!(depth(&mut conn).is_some());
    drop(conn); // left open

    assert_write_lock_free(&file);
    let mut next = pool.get().unwrap();
    assert_eq!(pool.stats().opened, 1, "the same connection, reset");
    assert_eq!(
        depth(&mut next),
        None,
        "diesel's transaction manager is back at depth 0"
    );
    assert_eq!(rows(&mut next).unwrap(), 0);
    drop(next);

    pool.dispose();
    let stats = pool.stats();
    assert_eq!(stats.opened, stats.closed);
    assert_eq!(stats.invalidated, 0, "no ping or reset failed");
}

#[test]
fn nested_diesel_transactions_are_unwound_and_commit_mode_commits() {
    let dir = TempDir::new("tarn_diesel");
    let file = dir.path().join("db.sqlite");
    let pool = Pool::builder(DieselManager::<SqliteConnection>::new(
        file.to_str().unwrap(),
    ))
    .pool_size(1)
    .max_overflow(0)
    .reset_on_return(ResetMode::Commit)
    .build()
    .unwrap();
    let mut conn = pool.get().unwrap();
    conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
    begin(&mut conn);
    insert(&mut conn, 1).unwrap();
    begin(&mut conn); // a savepoint
    insert(&mut conn, 2).unwrap();
    assert_eq!(depth(&mut conn).map(|d| d.get()), Some(2));
    drop(conn);

    let mut outside = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    outside
        .batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK")
        .expect("both levels were ended: the lock is free");
    assert_eq!(rows(&mut outside).unwrap(), 2, "commit mode kept both rows");
    let mut again = pool.get().unwrap();
    assert_eq!(depth(&mut again), None);
}

#[test]
fn an_owned_diesel_guard_moves_into_a_spawned_thread() {
    let dir = TempDir::new("tarn_diesel");
    let file = dir.path().join("db.sqlite");
    let pool = diesel_pool(&file);
    pool.get()
        .unwrap()
        .batch_execute("CREATE TABLE t (x INTEGER)")
        .unwrap();

    let mut conn: DbConn = pool.get_owned().unwrap();
    let worker = std::thread::spawn(move || {
        insert(&mut conn, 7).unwrap();
        begin(&mut conn);
        insert(&mut conn, 8).unwrap();
        rows(&mut conn).unwrap()
        // `conn` is returned here, on the worker thread, with its transaction open
    });
    assert_eq!(worker.join().unwrap(), 2);
    assert_eq!(pool.state().checked_out, 0);
    assert_eq!(
        rows(&mut pool.get().unwrap()).unwrap(),
        1,
        "the worker's open transaction was rolled back, its autocommit insert kept"
    );
}

/// diesel's own r2d2 `ConnectionManager` reports a connection whose diesel transaction is
/// still open as broken (`is_broken_transaction_manager`), so the bridge closes it on return
/// (as r2d2 does) instead of handing it on; no reset hook is involved.
#[test]
fn through_the_r2d2_bridge_diesels_manager_closes_a_connection_left_in_a_transaction() {
    let dir = TempDir::new("tarn_diesel");
    let file = dir.path().join("db.sqlite");
    let manager = R2d2Manager::new(ConnectionManager::<SqliteConnection>::new(
        file.to_str().unwrap(),
    ));
    let pool = Pool::builder(manager)
        .pool_size(1)
        .max_overflow(0)
        .pre_ping(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut conn = pool.get().unwrap();
    conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
    insert(&mut conn, 1).unwrap();
    drop(conn);
    assert_eq!(pool.state().idle, 1, "a connection in autocommit is kept");

    let mut conn = pool.get().unwrap();
    begin(&mut conn);
    insert(&mut conn, 2).unwrap();
    drop(conn);
    assert_eq!(
        pool.state().idle,
        0,
        "the one left in a transaction is not kept"
    );
    assert_eq!(pool.stats().closed, 1);

    let mut next = pool.get().unwrap();
    assert_eq!(
        pool.stats().opened,
        2,
        "the next user gets a new connection"
    );
    assert_eq!(depth(&mut next), None);
    assert_eq!(rows(&mut next).unwrap(), 1, "the left-open insert is gone");
    drop(next);
    pool.dispose();
    let stats = pool.stats();
    assert_eq!(stats.opened, stats.closed);
}

#[test]
fn a_connect_error_keeps_diesels_cause_and_debug_hides_the_url() {
    use tarn_pool::managers::DieselError;
    let dir = TempDir::new("tarn_diesel");
    let missing = dir.path().join("missing-dir/db.sqlite");
    let manager = DieselManager::<SqliteConnection>::new(missing.to_str().unwrap());
    assert!(
        !format!("{manager:?}").contains("missing-dir"),
        "{manager:?}"
    );
    let secret = DieselManager::<SqliteConnection>::new("postgres://app:hunter2@db/app");
    assert!(!format!("{secret:?}").contains("hunter2"), "{secret:?}");

    let pool = Pool::builder(manager).pool_size(1).build().unwrap();
    let Err(err) = pool.get() else {
        panic!("the directory does not exist");
    };
    let tarn_pool::Error::Connect(DieselError::Connect(cause)) = &err else {
        panic!("{err:?}");
    };
    assert!(
        cause.to_string().contains("unable to open"),
        "diesel's message is kept: {cause}"
    );
    assert!(std::error::Error::source(&DieselError::Connect(
        diesel::ConnectionError::BadConnection("x".into())
    ))
    .is_some());
}

#[test]
fn only_a_closed_connection_is_a_disconnect() {
    use diesel::result::{DatabaseErrorKind, Error as QueryError};
    use tarn_pool::managers::DieselError;
    use tarn_pool::Manager;
    let manager = DieselManager::<SqliteConnection>::new(":memory:");
    let closed = DieselError::Query(QueryError::DatabaseError(
        DatabaseErrorKind::ClosedConnection,
        Box::new(String::from("server closed the connection")),
    ));
    assert!(manager.is_disconnect(&closed));
    let unique = DieselError::Query(QueryError::DatabaseError(
        DatabaseErrorKind::UniqueViolation,
        Box::new(String::from("duplicate")),
    ));
    assert!(!manager.is_disconnect(&unique));
    assert!(!manager.is_disconnect(&DieselError::Query(QueryError::NotFound)));
}
