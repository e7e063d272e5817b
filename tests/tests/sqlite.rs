//! SQLite (bundled, always available): a file database through the `QueuePool`, with reset
//! on return releasing SQLite's write lock, a concurrent read/write workload that keeps its
//! invariant, an unopenable file reported as a clear connect error, and memory databases.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tarn_pool::managers::sqlite::rusqlite::{self, Connection, ErrorCode, TransactionBehavior};
use tarn_pool::managers::SqliteManager;
use tarn_pool::{Manager, Pool, ResetMode, SingletonThreadPool, StaticPool};
use tarn_tests::TempDir;

const WAIT: Duration = Duration::from_secs(10);

fn pool(manager: SqliteManager, size: usize, reset: ResetMode) -> Pool<SqliteManager> {
    Pool::builder(manager)
        .pool_size(size)
        .max_overflow(0)
        .reset_on_return(reset)
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// A database file with a table `t (x)` and an outside connection that never waits for a
/// lock (busy timeout 0), to observe the pool's connections from outside.
struct Db {
    dir: TempDir,
    outside: Connection,
}

impl Db {
    fn new() -> Db {
        let dir = TempDir::new("tarn_sqlite");
        let outside = Connection::open(dir.path().join("db.sqlite")).unwrap();
        outside
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER NOT NULL)")
            .unwrap();
        outside.busy_timeout(Duration::ZERO).unwrap();
        Db { dir, outside }
    }

    fn manager(&self) -> SqliteManager {
        SqliteManager::file(self.dir.path().join("db.sqlite")).wal(true)
    }

    /// Takes SQLite's write lock from outside without waiting, then gives it back.
    fn write_lock_now(&mut self) -> rusqlite::Result<()> {
        let tx = self
            .outside
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.rollback()
    }

    fn count(&self) -> i64 {
        self.outside
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }
}

#[test]
fn rollback_on_return_releases_the_write_lock_and_discards_the_write() {
    let mut db = Db::new();
    let pool = pool(db.manager(), 1, ResetMode::Rollback);
    let c = pool.get().unwrap();
    c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
        .unwrap();
    let busy = db
        .write_lock_now()
        .expect_err("precondition: the pooled connection writes");
    assert_eq!(busy.sqlite_error_code(), Some(ErrorCode::DatabaseBusy));
    drop(c);
    db.write_lock_now()
        .expect("the write lock is free as soon as the connection is returned");
    assert_eq!(db.count(), 0, "rolled back");
}

#[test]
fn commit_on_return_persists_the_write() {
    let mut db = Db::new();
    let pool = pool(db.manager(), 1, ResetMode::Commit);
    let c = pool.get().unwrap();
    c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
        .unwrap();
    drop(c);
    db.write_lock_now().expect("lock released");
    assert_eq!(db.count(), 1, "committed");
}

/// `ResetMode::None` is dangerous by design: the write lock stays with the idle connection.
#[test]
fn none_on_return_leaves_the_transaction_open() {
    let mut db = Db::new();
    let pool = pool(db.manager(), 1, ResetMode::None);
    let c = pool.get().unwrap();
    c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
        .unwrap();
    drop(c);
    assert!(
        db.write_lock_now().is_err(),
        "the idle connection still writes"
    );
    let c = pool.get().unwrap();
    assert!(
        !c.is_autocommit(),
        "the next user is inside the old transaction"
    );
    c.execute_batch("ROLLBACK").unwrap();
    drop(c);
    db.write_lock_now().expect("lock released");
    assert_eq!(db.count(), 0);
}

/// Eight threads share four connections: transfers between accounts (write transactions)
/// and balance reads. Nothing fails with "database is locked", the total never changes, and
/// every connection opened is closed after `dispose`.
#[test]
fn a_mixed_workload_keeps_its_invariant_and_leaks_nothing() {
    let db = Db::new();
    db.outside
        .execute_batch(
            "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16)
             INSERT INTO acct SELECT i, 100 FROM n;",
        )
        .unwrap();
    let pool = Pool::builder(db.manager())
        .pool_size(4)
        .max_overflow(0)
        .pre_ping(true)
        .timeout(WAIT)
        .build()
        .unwrap();
    let reads = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..8i64 {
            let (pool, reads) = (&pool, &reads);
            s.spawn(move || {
                for i in 0..100i64 {
                    let mut c = pool.get().unwrap();
                    let (from, to) = ((t * 7 + i) % 16 + 1, (t * 3 + i * 5) % 16 + 1);
                    if i % 3 == 0 {
                        let tx = c
                            .transaction_with_behavior(TransactionBehavior::Immediate)
                            .unwrap();
                        tx.execute("UPDATE acct SET bal = bal - 1 WHERE id = ?1", [from])
                            .unwrap();
                        tx.execute("UPDATE acct SET bal = bal + 1 WHERE id = ?1", [to])
                            .unwrap();
                        tx.commit().unwrap();
                    } else {
                        let _: i64 = c
                            .query_row("SELECT bal FROM acct WHERE id = ?1", [from], |r| r.get(0))
                            .unwrap();
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let total: i64 = db
        .outside
        .query_row("SELECT sum(bal) FROM acct", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 16 * 100, "transfers keep the total");
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert!(pool.state().open <= 4);
    pool.dispose();
    let stats = pool.stats();
    assert_eq!(pool.state().open, 0);
    assert_eq!(
        stats.opened, stats.closed,
        "every connection closed exactly once"
    );
}

#[test]
fn an_unopenable_file_fails_the_checkout_with_the_cause() {
    let dir = TempDir::new("tarn_sqlite");
    let manager = SqliteManager::file(dir.path().join("missing-dir/db.sqlite"));
    let pool = pool(manager, 1, ResetMode::Rollback);
    let Err(err) = pool.get() else {
        panic!("the file cannot be opened");
    };
    let tarn_pool::Error::Connect(cause) = &err else {
        panic!("a connect error, not {err}");
    };
    assert!(pool.manager().is_disconnect(cause), "{cause}");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source.is_some_and(|s| s.contains("unable to open")),
        "{err:?}"
    );
}

#[test]
fn each_memory_connection_is_its_own_database() {
    let manager = SqliteManager::memory();
    let a = manager.connect().unwrap();
    let b = manager.connect().unwrap();
    a.execute_batch("CREATE TABLE only_in_a (x)").unwrap();
    assert!(b.execute_batch("SELECT * FROM only_in_a").is_err());
    manager.close(a);
    manager.close(b);
}

/// `StaticPool`: one memory database for every caller, as long as the pool lives.
#[test]
fn a_static_pool_shares_one_memory_database() {
    let pool = StaticPool::new(SqliteManager::memory());
    pool.get()
        .unwrap()
        .execute_batch("CREATE TABLE kept (x); INSERT INTO kept VALUES (7)")
        .unwrap();
    let other = pool.get().unwrap();
    let x: i64 = other
        .query_row("SELECT x FROM kept", [], |r| r.get(0))
        .unwrap();
    assert_eq!(x, 7, "a later checkout sees the same database");
    drop(other);
    pool.dispose();
    let stats = pool.stats();
    assert_eq!((stats.opened, stats.closed), (1, 1));
}

/// `SingletonThreadPool`: one memory database per thread, kept across that thread's
/// checkouts and never seen by another thread.
#[test]
fn a_singleton_thread_pool_keeps_one_memory_database_per_thread() {
    let pool = SingletonThreadPool::new(SqliteManager::memory());
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT count(*) FROM mine", [], |r| r.get(0))
            .unwrap()
    };
    std::thread::scope(|s| {
        for t in 1..=3i64 {
            let pool = &pool;
            s.spawn(move || {
                pool.get()
                    .unwrap()
                    .execute_batch("CREATE TABLE mine (x)")
                    .expect("each thread starts from an empty database");
                for _ in 0..t {
                    pool.get()
                        .unwrap()
                        .execute("INSERT INTO mine VALUES (1)", [])
                        .unwrap();
                }
                assert_eq!(count(&pool.get().unwrap()), t, "this thread's rows only");
            });
        }
    });
    pool.dispose();
    let stats = pool.stats();
    assert_eq!(stats.opened, 3, "one connection per thread");
    assert_eq!(stats.opened, stats.closed);
}
