//! Against the MariaDB server of this machine (127.0.0.1:3306, root with an empty password,
//! database `test`): reset on return really ends transactions and releases row locks, a session
//! killed on the server is detected, an outage fails checkouts clearly and the pool
//! recovers, and no session leaks.
//!
//! Under `CI=true` an unreachable server fails these tests; elsewhere they print why they
//! skipped. They create only tables named `tarn_my_<pid>_<n>` and drop them.
#![cfg(feature = "servers")]

use std::time::{Duration, Instant};

use tarn::managers::mysql::mysql::{self, prelude::Queryable, Conn as Client};
use tarn::managers::MysqlManager;
use tarn::{Manager, ResetMode};
use tarn_tests::pool::{self, get, handle_error, GetError, Options};
use tarn_tests::proxy::Proxy;
use tarn_tests::server::{self, addr_of, mysql_url, with_causes};
use tarn_tests::sessions::Tracked;
use tarn_tests::{eventually, unique_name};

const WAIT: Duration = Duration::from_secs(10);
/// Every session a test opens gives up on a lock after 5 s and on a statement after 10 s, so
/// a broken reset fails the test instead of hanging it.
const TIMEOUTS: &str = "SET SESSION innodb_lock_wait_timeout = 5, SESSION max_statement_time = 10";

fn admin(test: &str) -> Option<Client> {
    server::require(test, "MariaDB", addr_of(&mysql_url()), || {
        let opts = mysql::OptsBuilder::from_opts(mysql::Opts::from_url(&mysql_url())?)
            .tcp_connect_timeout(Some(Duration::from_secs(5)));
        let mut c = Client::new(opts)?;
        c.query_drop(TIMEOUTS)?;
        Ok::<_, mysql::Error>(c)
    })
}

fn session_id(c: &mut Client) -> Result<i64, mysql::Error> {
    c.query_drop(TIMEOUTS)?;
    let id: Option<i64> = c.query_first("SELECT CONNECTION_ID()")?;
    Ok(id.unwrap_or(-1))
}

fn manager(url: &str) -> Tracked<MysqlManager> {
    Tracked::new(MysqlManager::from_url(url).expect("valid URL"), session_id)
}

/// How many of `ids` the server still lists as sessions.
fn live_sessions(admin: &mut Client, ids: &[i64]) -> i64 {
    if ids.is_empty() {
        return 0;
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let n: Option<i64> = admin
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({})",
            list.join(",")
        ))
        .expect("PROCESSLIST");
    n.unwrap_or(0)
}

/// Every client session on the server.
fn all_sessions(admin: &mut Client) -> i64 {
    let n: Option<i64> = admin
        .query_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon'",
        )
        .expect("PROCESSLIST");
    n.unwrap_or(0)
}

fn kill(admin: &mut Client, id: i64) {
    admin.query_drop(format!("KILL {id}")).expect("KILL");
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
        let name = unique_name("tarn_my");
        admin
            .query_drop(format!(
                "CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL) ENGINE=InnoDB"
            ))
            .expect("create the test table");
        admin
            .query_drop(format!("INSERT INTO {name} VALUES (1, 0)"))
            .expect("insert the row");
        Some(Table { admin, name })
    }

    /// Locks row 1 from the admin session without waiting; returns its value.
    fn lock_row_now(&mut self) -> Result<i32, mysql::Error> {
        let mut tx = self.admin.start_transaction(mysql::TxOpts::default())?;
        let v: Option<i32> = tx.query_first(format!(
            "SELECT v FROM {} WHERE id = 1 FOR UPDATE NOWAIT",
            self.name
        ))?;
        tx.rollback()?;
        Ok(v.unwrap_or(-1))
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = self
            .admin
            .query_drop(format!("DROP TABLE IF EXISTS {}", self.name));
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
    let (pool, _) = pool::build(manager(&mysql_url()), options(ResetMode::Rollback));
    let mut c = get(&pool, WAIT).unwrap();
    c.query_drop(format!("BEGIN; UPDATE {} SET v = 1 WHERE id = 1", t.name))
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
    let (pool, _) = pool::build(manager(&mysql_url()), options(ResetMode::Commit));
    let mut c = get(&pool, WAIT).unwrap();
    c.query_drop(format!("BEGIN; UPDATE {} SET v = 2 WHERE id = 1", t.name))
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
    let (pool, _) = pool::build(manager(&mysql_url()), options(ResetMode::None));
    let mut c = get(&pool, WAIT).unwrap();
    c.query_drop(format!("BEGIN; UPDATE {} SET v = 3 WHERE id = 1", t.name))
        .unwrap();
    drop(c);
    assert!(
        t.lock_row_now().is_err(),
        "the returned connection still holds the lock"
    );

    let mut c = get(&pool, WAIT).unwrap();
    let in_tx: Option<i64> = c.query_first("SELECT @@in_transaction").unwrap();
    assert_eq!(
        in_tx,
        Some(1),
        "the next user is inside the old transaction"
    );
    c.query_drop("ROLLBACK").unwrap();
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
    let (pool, counts) = pool::build(manager(&mysql_url()), opts);
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
    let (pool, counts) = pool::build(manager(&mysql_url()), Options::default());
    let mut a = get(&pool, WAIT).unwrap();
    let mut b = get(&pool, WAIT).unwrap();
    let old = session_id(&mut a).unwrap();
    let other = session_id(&mut b).unwrap();
    drop((a, b));

    kill(&mut admin, old);

    // FIFO: the killed connection comes out first.
    let mut c = get(&pool, WAIT).unwrap();
    let err = c
        .query_drop("SELECT 1")
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
    let proxy = Proxy::start(addr_of(&mysql_url())).expect("start the proxy");
    // `prefer_socket=false`: the driver would otherwise switch to the local Unix socket and
    // bypass the proxy.
    let url = format!(
        "mysql://root@127.0.0.1:{}/test?prefer_socket=false&tcp_connect_timeout_ms=2000",
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
        a.query_drop("SELECT 1").unwrap();
        b.query_drop("SELECT 1").unwrap();
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
            "mariadb outage: checkout failed after {:?}: {}",
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
    let two: Option<i32> = c.query_first("SELECT 1 + 1").unwrap();
    assert_eq!(two, Some(2));
}

#[test]
fn server_sessions_match_the_pool_and_none_survive_dispose() {
    let Some(mut admin) = admin("server_sessions_match_the_pool_and_none_survive_dispose") else {
        return;
    };
    let before = all_sessions(&mut admin);
    let m = manager(&mysql_url());
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
                    let n: Option<i32> = c.exec_first("SELECT ?", (i,)).unwrap();
                    assert_eq!(n, Some(i));
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
        "LEAK CHECK mariadb: pool sessions on the server: peak {peak} (pool open 5), after the \
         run {open} (pool open {open}), after dispose 0; opened {} closed {}; all client \
         sessions: before {before}, at peak {peak_all}, after dispose {after}",
        sessions.opened(),
        sessions.closed()
    );
}
