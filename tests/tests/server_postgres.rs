//! Against the PostgreSQL server of this machine (127.0.0.1:5432, trust auth, database
//! `test`): reset on return really ends transactions and releases row locks, a session
//! killed on the server is detected, an outage fails checkouts clearly and the pool
//! recovers, and no session leaks.
//!
//! Under `CI=true` an unreachable server fails these tests; elsewhere they print why they
//! skipped. They create only tables named `tarn_<test>_<pid>_<n>` and drop them.
#![cfg(feature = "servers")]

use std::time::{Duration, Instant};

use tarn::managers::postgres::postgres::{self, Client, NoTls};
use tarn::managers::PostgresManager;
use tarn::{Manager, ResetMode};
use tarn_tests::pool::{self, get, handle_error, GetError, Options};
use tarn_tests::proxy::Proxy;
use tarn_tests::server::{self, addr_of, postgres_url, with_causes};
use tarn_tests::sessions::Tracked;
use tarn_tests::{eventually, unique_name};

const WAIT: Duration = Duration::from_secs(10);
/// Every session a test opens gives up on a lock after 5 s and on a statement after 10 s, so
/// a broken reset fails the test instead of hanging it.
const TIMEOUTS: &str = "SET lock_timeout = '5s'; SET statement_timeout = '10s'";

fn admin(test: &str) -> Option<Client> {
    server::require(test, "PostgreSQL", addr_of(&postgres_url()), || {
        let mut c = Client::connect(&format!("{}?connect_timeout=5", postgres_url()), NoTls)?;
        c.batch_execute(TIMEOUTS)?;
        Ok::<_, postgres::Error>(c)
    })
}

fn session_id(c: &mut Client) -> Result<i64, postgres::Error> {
    c.batch_execute(TIMEOUTS)?;
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[])?.get(0);
    Ok(i64::from(pid))
}

fn manager(url: &str) -> Tracked<PostgresManager> {
    let m = PostgresManager::from_url(url)
        .expect("valid URL")
        .ping_timeout(Duration::from_secs(5));
    Tracked::new(m, session_id)
}

/// How many of `ids` the server still lists as sessions.
fn live_sessions(admin: &mut Client, ids: &[i64]) -> i64 {
    let ids: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
            &[&ids],
        )
        .expect("pg_stat_activity")
        .get(0)
}

/// Every client session on the server.
fn all_sessions(admin: &mut Client) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            &[],
        )
        .expect("pg_stat_activity")
        .get(0)
}

fn kill(admin: &mut Client, id: i64) {
    let killed: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&(id as i32)])
        .expect("pg_terminate_backend")
        .get(0);
    assert!(killed, "the session {id} exists");
    assert!(
        eventually(WAIT, || live_sessions(admin, &[id]) == 0),
        "the server ended session {id}"
    );
}

/// A table with one row `(id 1, v 0)`, dropped when the guard goes.
struct Table {
    admin: Client,
    name: String,
}

impl Table {
    fn create(test: &str) -> Option<Table> {
        let mut admin = admin(test)?;
        let name = unique_name("tarn_pg");
        admin
            .batch_execute(&format!(
                "CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL); INSERT INTO {name} VALUES (1, 0)"
            ))
            .expect("create the test table");
        Some(Table { admin, name })
    }

    /// Locks row 1 from the admin session without waiting; returns its value.
    fn lock_row_now(&mut self) -> Result<i32, postgres::Error> {
        let mut tx = self.admin.transaction()?;
        let v: i32 = tx
            .query_one(
                &format!("SELECT v FROM {} WHERE id = 1 FOR UPDATE NOWAIT", self.name),
                &[],
            )?
            .get(0);
        tx.rollback()?;
        Ok(v)
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.name));
    }
}

fn options(reset: ResetMode) -> Options {
    Options {
        size: 1,
        reset,
        ..Options::default()
    }
}

#[test]
fn rollback_on_return_releases_row_locks_and_discards_the_write() {
    let Some(mut t) = Table::create("rollback_on_return_releases_row_locks_and_discards_the_write")
    else {
        return;
    };
    let (pool, _) = pool::build(manager(&postgres_url()), options(ResetMode::Rollback));
    let mut c = get(&pool, WAIT).unwrap();
    c.batch_execute(&format!("BEGIN; UPDATE {} SET v = 1 WHERE id = 1", t.name))
        .unwrap();
    assert!(
        t.lock_row_now().is_err(),
        "precondition: the open transaction holds the row lock"
    );
    drop(c);
    let v = t
        .lock_row_now()
        .expect("the row is free as soon as the connection is returned");
    assert_eq!(v, 0, "the write was rolled back");
}

#[test]
fn commit_on_return_persists_the_write() {
    let Some(mut t) = Table::create("commit_on_return_persists_the_write") else {
        return;
    };
    let (pool, _) = pool::build(manager(&postgres_url()), options(ResetMode::Commit));
    let mut c = get(&pool, WAIT).unwrap();
    c.batch_execute(&format!("BEGIN; UPDATE {} SET v = 2 WHERE id = 1", t.name))
        .unwrap();
    drop(c);
    assert_eq!(t.lock_row_now().expect("lock released"), 2, "committed");
}

/// `ResetMode::None` is dangerous by design: the transaction and its locks travel with the
/// connection to its next user.
#[test]
fn none_on_return_leaves_the_transaction_open() {
    let Some(mut t) = Table::create("none_on_return_leaves_the_transaction_open") else {
        return;
    };
    let (pool, _) = pool::build(manager(&postgres_url()), options(ResetMode::None));
    let mut c = get(&pool, WAIT).unwrap();
    c.batch_execute(&format!("BEGIN; UPDATE {} SET v = 3 WHERE id = 1", t.name))
        .unwrap();
    drop(c);
    assert!(
        t.lock_row_now().is_err(),
        "the returned connection still holds the lock"
    );

    let mut c = get(&pool, WAIT).unwrap();
    let in_tx: Option<i64> = c
        .query_one("SELECT txid_current_if_assigned()", &[])
        .unwrap()
        .get(0);
    assert!(
        in_tx.is_some(),
        "the next user is inside the old transaction"
    );
    c.batch_execute("ROLLBACK").unwrap();
    drop(c);
    assert_eq!(t.lock_row_now().expect("lock released"), 0);
}

#[test]
fn a_killed_session_is_replaced_unseen_with_pre_ping() {
    let Some(mut admin) = admin("a_killed_session_is_replaced_unseen_with_pre_ping") else {
        return;
    };
    let opts = Options {
        size: 1,
        pre_ping: true,
        ..Options::default()
    };
    let (pool, counts) = pool::build(manager(&postgres_url()), opts);
    let mut c = get(&pool, WAIT).unwrap();
    let old = session_id(&mut c).unwrap();
    drop(c);

    kill(&mut admin, old);

    let mut c = get(&pool, WAIT).expect("pre-ping replaces the dead connection");
    let new = session_id(&mut c).expect("the replacement works");
    assert_ne!(new, old);
    assert_eq!(pool::Counts::get(&counts.ping_failed), 1);
}

#[test]
fn a_killed_session_is_a_disconnect_without_pre_ping() {
    let Some(mut admin) = admin("a_killed_session_is_a_disconnect_without_pre_ping") else {
        return;
    };
    let (pool, counts) = pool::build(manager(&postgres_url()), Options::default());
    let mut a = get(&pool, WAIT).unwrap();
    let mut b = get(&pool, WAIT).unwrap();
    let old = session_id(&mut a).unwrap();
    let other = session_id(&mut b).unwrap();
    drop((a, b));

    kill(&mut admin, old);

    // FIFO: the killed connection comes out first.
    let mut c = get(&pool, WAIT).unwrap();
    let err = c
        .batch_execute("SELECT 1")
        .expect_err("the killed session cannot answer");
    assert!(
        pool.manager().is_disconnect(&err),
        "classified as a disconnect: {err:?}"
    );
    assert!(handle_error(&pool, c, &err));
    assert_eq!(pool::Counts::get(&counts.invalidated), 1);

    // The pool-wide invalidation replaces the surviving older connection too.
    for _ in 0..2 {
        let mut c = get(&pool, WAIT).unwrap();
        let id = session_id(&mut c).expect("a fresh, working connection");
        assert!(id != old && id != other, "{id} is a new session");
    }
}

#[test]
fn an_outage_fails_checkouts_clearly_and_the_same_pool_recovers() {
    let Some(_admin) = admin("an_outage_fails_checkouts_clearly_and_the_same_pool_recovers") else {
        return;
    };
    let proxy = Proxy::start(addr_of(&postgres_url())).expect("start the proxy");
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/test?connect_timeout=2",
        proxy.port()
    );
    let opts = Options {
        size: 2,
        pre_ping: true,
        ..Options::default()
    };
    let (pool, _) = pool::build(manager(&url), opts);
    {
        let mut a = get(&pool, WAIT).unwrap();
        let mut b = get(&pool, WAIT).unwrap();
        a.batch_execute("SELECT 1").unwrap();
        b.batch_execute("SELECT 1").unwrap();
    }

    proxy.cut();
    let start = Instant::now();
    for _ in 0..3 {
        let Err(err) = get(&pool, Duration::from_secs(3)) else {
            panic!("no connection while the server is cut off");
        };
        assert!(
            matches!(err, GetError::Connect(_)),
            "a connect error, not a timeout: {err}"
        );
        eprintln!(
            "postgres outage: checkout failed after {:?}: {}",
            start.elapsed(),
            with_causes(&err)
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "checkouts fail instead of hanging"
    );

    proxy.restore();
    let mut c = get(&pool, WAIT).expect("the same pool recovers");
    let two: i32 = c.query_one("SELECT 1 + 1", &[]).unwrap().get(0);
    assert_eq!(two, 2);
}

#[test]
fn server_sessions_match_the_pool_and_none_survive_dispose() {
    let Some(mut admin) = admin("server_sessions_match_the_pool_and_none_survive_dispose") else {
        return;
    };
    let before = all_sessions(&mut admin);
    let m = manager(&postgres_url());
    let sessions = m.sessions();
    let opts = Options {
        size: 3,
        overflow: 2,
        ..Options::default()
    };
    let (pool, _) = pool::build(m, opts);

    let held: Vec<_> = (0..5).map(|_| get(&pool, WAIT).unwrap()).collect();
    assert_eq!(pool.state().open, 5);
    let peak = live_sessions(&mut admin, &sessions.ids());
    assert_eq!(peak, 5, "one server session per open connection");
    let peak_all = all_sessions(&mut admin);
    drop(held);
    assert_eq!(
        pool.state().open,
        3,
        "overflow connections closed on return"
    );
    assert!(eventually(WAIT, || live_sessions(
        &mut admin,
        &sessions.ids()
    ) == 3));

    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..50 {
                    let mut c = get(&pool, WAIT).unwrap();
                    let n: i32 = c.query_one("SELECT $1::int", &[&i]).unwrap().get(0);
                    assert_eq!(n, i);
                }
            });
        }
    });
    let open = pool.state().open as i64;
    assert!(eventually(WAIT, || live_sessions(
        &mut admin,
        &sessions.ids()
    ) == open));

    pool.dispose();
    assert_eq!(pool.state().open, 0);
    assert!(
        eventually(WAIT, || live_sessions(&mut admin, &sessions.ids()) == 0),
        "every session ends after dispose"
    );
    assert_eq!(
        sessions.opened(),
        sessions.closed(),
        "each closed exactly once"
    );
    let after = all_sessions(&mut admin);
    eprintln!(
        "LEAK CHECK postgres: pool sessions on the server: peak {peak} (pool open 5), after the \
         run {open} (pool open {open}), after dispose 0; opened {} closed {}; all client \
         sessions: before {before}, at peak {peak_all}, after dispose {after}",
        sessions.opened(),
        sessions.closed()
    );
}
