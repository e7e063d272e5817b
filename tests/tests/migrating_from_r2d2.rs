//! The code of `docs/migrating-from-r2d2.md`, compiled and run on a real SQLite file with
//! diesel's SQLite backend. Every Rust block of the guide is copied verbatim from this file,
//! which `the_guide_shows_the_tested_code` checks.
#![cfg(feature = "diesel")]

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::ConnectionManager;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use r2d2_sqlite::SqliteConnectionManager;
use tarn_pool::managers::{DieselManager, R2d2Manager};
use tarn_pool::{OwnedPooledConnection, Pool, ResetMode};

use tarn_tests::TempDir; // the tests' temporary directories

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

type DbConn = OwnedPooledConnection<DieselManager<SqliteConnection>>;

fn add_user(conn: &mut SqliteConnection, name: &str) -> QueryResult<usize> {
    diesel::sql_query("INSERT INTO users (name) VALUES (?)")
        .bind::<Text, _>(name)
        .execute(conn)
}

fn count_users(conn: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::sql_query("SELECT count(*) AS n FROM users")
        .get_result::<Count>(conn)
        .map(|c| c.n)
}

fn diesel_pool(path: &str) -> Result<Pool<DieselManager<SqliteConnection>>, tarn_pool::BuildError> {
    Pool::builder(DieselManager::new(path))
        .pool_size(4)
        .max_overflow(0) // r2d2's max_size(4)
        .pre_ping(true) // r2d2's test_on_check_out(true)
        .build()
}

fn leave_open(conn: &mut SqliteConnection) -> QueryResult<()> {
    AnsiTransactionManager::begin_transaction(conn)
}

fn owned_guard_in_a_thread(pool: &Pool<DieselManager<SqliteConnection>>) -> QueryResult<i64> {
    let mut conn: DbConn = pool.get_owned().expect("a connection");
    std::thread::spawn(move || {
        add_user(&mut conn, "ada")?;
        count_users(&mut conn)
    })
    .join()
    .expect("the worker did not panic")
}

fn bridged_diesel_pool(
    path: &str,
) -> Result<Pool<R2d2Manager<ConnectionManager<SqliteConnection>>>, tarn_pool::BuildError> {
    let manager = R2d2Manager::new(ConnectionManager::<SqliteConnection>::new(path));
    Pool::builder(manager).pool_size(4).max_overflow(0).build()
}

fn bridged_rusqlite_pool(
    path: &str,
) -> Result<Pool<R2d2Manager<SqliteConnectionManager>>, tarn_pool::BuildError> {
    let manager =
        R2d2Manager::new(SqliteConnectionManager::file(path)).on_reset(|conn, mode| match mode {
            ResetMode::Rollback if !conn.is_autocommit() => conn.execute_batch("ROLLBACK"),
            ResetMode::Commit if !conn.is_autocommit() => conn.execute_batch("COMMIT"),
            _ => Ok(()),
        });
    Pool::builder(manager).pool_size(4).max_overflow(0).build()
}

/// The guide's walk-through: diesel calls on the guard, a transaction left open rolled back.
fn walk_through(path: &str) -> QueryResult<Pool<DieselManager<SqliteConnection>>> {
    let pool = diesel_pool(path).expect("valid settings");
    let mut conn = pool.get().expect("a connection");
    conn.batch_execute("CREATE TABLE users (name TEXT NOT NULL)")?;
    add_user(&mut conn, "grace")?;
    conn.transaction(|c| add_user(c, "lin").map(drop))?;
    // a transaction left open (a bug, or an early return past its end) ...
    leave_open(&mut conn)?;
    add_user(&mut conn, "never committed")?;
    drop(conn);
    // ... is rolled back before the next user gets the connection
    let mut conn = pool.get().expect("a connection");
    assert_eq!(count_users(&mut conn)?, 2);
    drop(conn);
    Ok(pool)
}

#[test]
fn the_guide_walk_through_runs_and_rolls_back_what_was_left_open() {
    let dir = TempDir::new("tarn_guide");
    let path = dir.path().join("app.db");
    let pool = walk_through(path.to_str().unwrap()).unwrap();
    assert_eq!(pool.stats().opened, 1, "one connection, reset and reused");
    assert_eq!(
        owned_guard_in_a_thread(&pool).unwrap(),
        3,
        "the owned guard worked on the spawned thread"
    );
    assert_eq!(
        pool.state().checked_out,
        0,
        "returned from the worker thread"
    );
    pool.dispose();
    let stats = pool.stats();
    assert_eq!(stats.opened, stats.closed);
}

#[test]
fn the_guides_bridged_diesel_pool_closes_what_was_left_in_a_transaction() {
    let dir = TempDir::new("tarn_guide");
    let path = dir.path().join("app.db");
    let pool = bridged_diesel_pool(path.to_str().unwrap()).unwrap();
    let mut conn = pool.get().unwrap();
    conn.batch_execute("CREATE TABLE users (name TEXT NOT NULL)")
        .unwrap();
    add_user(&mut conn, "grace").unwrap();
    leave_open(&mut conn).unwrap();
    add_user(&mut conn, "never committed").unwrap();
    drop(conn);
    assert_eq!(count_users(&mut pool.get().unwrap()).unwrap(), 1);
    assert_eq!(
        pool.stats().opened,
        2,
        "diesel's manager reported it broken: replaced"
    );
}

#[test]
fn the_guides_bridged_rusqlite_pool_rolls_back_a_raw_begin() {
    let dir = TempDir::new("tarn_guide");
    let path = dir.path().join("app.db");
    let pool = bridged_rusqlite_pool(path.to_str().unwrap()).unwrap();
    let conn = pool.get().unwrap();
    conn.execute_batch(
        "CREATE TABLE users (name TEXT NOT NULL); BEGIN; INSERT INTO users VALUES ('x')",
    )
    .unwrap();
    drop(conn);
    let conn = pool.get().unwrap();
    assert!(conn.is_autocommit(), "the hook rolled the BEGIN back");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(pool.stats().opened, 1, "kept, not replaced");
}

/// The Rust blocks of the guide, without their fences.
fn guide_blocks(guide: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```rust" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(body.join("\n"));
        }
    }
    blocks
}

#[test]
fn the_guide_shows_the_tested_code() {
    let guide = include_str!("../../docs/migrating-from-r2d2.md");
    let this = include_str!("migrating_from_r2d2.rs");
    let blocks = guide_blocks(guide);
    assert!(
        blocks.len() >= 6,
        "the guide has its examples: {}",
        blocks.len()
    );
    for block in &blocks {
        assert!(
            this.contains(block.as_str()),
            "a block of the guide is not the tested code:\n{block}"
        );
    }
}
