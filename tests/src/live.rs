//! The scenarios every live server goes through, written once: a session killed on the
//! server (with and without pre-ping), an outage through a loopback proxy, and the leak check
//! against the server's own session list; and, for the SQL servers ([`SqlServer`]), what
//! each reset-on-return mode does to an open transaction and its row lock. Each
//! `tests/server_*.rs` implements the traits for its database and calls these.

use std::time::{Duration, Instant};

use tarn_pool::{Manager, ResetMode};

use crate::eventually;
use crate::pool::{self, get, handle_error, GetError, Options};
use crate::proxy::Proxy;
use crate::server::{addr_of, with_causes};
use crate::sessions::Tracked;

/// How long a scenario waits for a connection or for the server to catch up.
pub const WAIT: Duration = Duration::from_secs(10);

/// A connection of server `S`'s driver.
pub type Conn<S> = <<S as LiveServer>::Driver as Manager>::Connection;
/// The error of server `S`'s driver.
pub type Err<S> = <<S as LiveServer>::Driver as Manager>::Error;

/// What the shared scenarios need to know about one database server.
pub trait LiveServer {
    /// The server's name in messages ("PostgreSQL").
    const NAME: &'static str;
    /// The driver's manager.
    type Driver: Manager<Connection: Send + 'static, Error: std::error::Error + 'static>
        + Send
        + Sync
        + 'static;
    /// A separate session used to watch and kill the pool's sessions.
    type Admin;

    /// The server's URL.
    fn url() -> String;
    /// The URL of the same server reached through a proxy on `port`.
    fn url_through(port: u16) -> String;
    /// An admin session, or `None` (after saying why) when the test must skip.
    fn admin(test: &str) -> Option<Self::Admin>;
    /// The manager under test, recording each connection's server session id.
    fn manager(url: &str) -> Tracked<Self::Driver>;
    /// The server's id of the session behind `c`.
    fn session_id(c: &mut Conn<Self>) -> Result<i64, Err<Self>>;
    /// How many of `ids` the server still lists.
    fn live_sessions(admin: &mut Self::Admin, ids: &[i64]) -> usize;
    /// Every client session the server lists.
    fn all_sessions(admin: &mut Self::Admin) -> usize;
    /// Asks the server to end session `id` (the scenario waits until it is gone).
    fn kill(admin: &mut Self::Admin, id: i64);
    /// The cheapest command that needs a live session.
    fn probe(c: &mut Conn<Self>) -> Result<(), Err<Self>>;
    /// One round trip that returns `i`, asserting it does.
    fn echo(c: &mut Conn<Self>, i: i32);
}

fn kill_and_wait<S: LiveServer>(admin: &mut S::Admin, id: i64) {
    S::kill(admin, id);
    assert!(
        eventually(WAIT, || S::live_sessions(admin, &[id]) == 0),
        "{}: the server ended session {id}",
        S::NAME
    );
}

/// With pre-ping on, a session killed on the server is replaced without the caller seeing
/// an error.
pub fn killed_session_is_replaced_unseen_with_pre_ping<S: LiveServer>(test: &str) {
    let Some(mut admin) = S::admin(test) else {
        return;
    };
    let opts = Options {
        size: 1,
        pre_ping: true,
        ..Options::default()
    };
    let (pool, counts) = pool::build(S::manager(&S::url()), opts);
    let mut c = get(&pool, WAIT).unwrap();
    let old = S::session_id(&mut c).unwrap();
    drop(c);

    kill_and_wait::<S>(&mut admin, old);

    let mut c = get(&pool, WAIT).expect("pre-ping replaces the dead connection");
    let new = S::session_id(&mut c).expect("the replacement works");
    assert_ne!(new, old);
    assert_eq!(pool::Counts::get(&counts.ping_failed), 1);
}

/// Without pre-ping, the error from a killed session is classified as a disconnect, and
/// the pool-wide invalidation replaces the older connections too.
pub fn killed_session_is_a_disconnect_without_pre_ping<S: LiveServer>(test: &str) {
    let Some(mut admin) = S::admin(test) else {
        return;
    };
    let (pool, counts) = pool::build(S::manager(&S::url()), Options::default());
    let mut a = get(&pool, WAIT).unwrap();
    let mut b = get(&pool, WAIT).unwrap();
    let old = S::session_id(&mut a).unwrap();
    let other = S::session_id(&mut b).unwrap();
    drop((a, b));

    kill_and_wait::<S>(&mut admin, old);

    // FIFO: the killed connection comes out first.
    let mut c = get(&pool, WAIT).unwrap();
    let err = S::probe(&mut c).expect_err("the killed session cannot answer");
    assert!(
        pool.manager().is_disconnect(&err),
        "classified as a disconnect: {err:?}"
    );
    assert!(handle_error(&pool, c, &err));
    assert_eq!(pool::Counts::get(&counts.invalidated), 1);

    for _ in 0..2 {
        let mut c = get(&pool, WAIT).unwrap();
        let id = S::session_id(&mut c).expect("a fresh, working connection");
        assert!(id != old && id != other, "{id} is a new session");
    }
}

/// Cutting a proxy between the pool and the server makes checkouts fail with a connect
/// error (never a hang); restoring it lets the same pool recover.
pub fn outage_fails_checkouts_clearly_and_the_same_pool_recovers<S: LiveServer>(test: &str) {
    let Some(_admin) = S::admin(test) else {
        return;
    };
    let proxy = Proxy::start(addr_of(&S::url())).expect("start the proxy");
    let opts = Options {
        size: 2,
        pre_ping: true,
        ..Options::default()
    };
    let (pool, _) = pool::build(S::manager(&S::url_through(proxy.port())), opts);
    {
        let mut a = get(&pool, WAIT).unwrap();
        let mut b = get(&pool, WAIT).unwrap();
        S::probe(&mut a).unwrap();
        S::probe(&mut b).unwrap();
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
            "{} outage: checkout failed after {:?}: {}",
            S::NAME,
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
    S::echo(&mut c, 2);
}

/// The server's own session list matches the pool's open connections during a run and
/// holds none of them after `dispose`.
pub fn sessions_match_the_pool_and_none_survive_dispose<S: LiveServer>(test: &str) {
    let Some(mut admin) = S::admin(test) else {
        return;
    };
    let before = S::all_sessions(&mut admin);
    let m = S::manager(&S::url());
    let sessions = m.sessions();
    let opts = Options {
        size: 3,
        overflow: 2,
        ..Options::default()
    };
    let (pool, _) = pool::build(m, opts);

    let held: Vec<_> = (0..5).map(|_| get(&pool, WAIT).unwrap()).collect();
    assert_eq!(pool.state().open, 5);
    let peak = S::live_sessions(&mut admin, &sessions.ids());
    assert_eq!(peak, 5, "one server session per open connection");
    let peak_all = S::all_sessions(&mut admin);
    drop(held);
    assert_eq!(
        pool.state().open,
        3,
        "overflow connections closed on return"
    );
    assert!(eventually(WAIT, || S::live_sessions(
        &mut admin,
        &sessions.ids()
    ) == 3));

    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..50 {
                    S::echo(&mut get(&pool, WAIT).unwrap(), i);
                }
            });
        }
    });
    let open = pool.state().open;
    assert!(eventually(WAIT, || S::live_sessions(
        &mut admin,
        &sessions.ids()
    ) == open));

    pool.dispose();
    assert_eq!(pool.state().open, 0);
    assert!(
        eventually(WAIT, || S::live_sessions(&mut admin, &sessions.ids()) == 0),
        "every session ends after dispose"
    );
    assert_eq!(
        sessions.opened(),
        sessions.closed(),
        "each closed exactly once"
    );
    let after = S::all_sessions(&mut admin);
    eprintln!(
        "LEAK CHECK {}: pool sessions on the server: peak {peak} (pool open 5), after the run \
         {open} (pool open {open}), after dispose 0; opened {} closed {}; all client \
         sessions: before {before}, at peak {peak_all}, after dispose {after}",
        S::NAME,
        sessions.opened(),
        sessions.closed()
    );
}

/// A SQL server, whose transactions the reset on return must end (PostgreSQL, MariaDB).
pub trait SqlServer: LiveServer {
    /// A scratch table with one row `(id 1, v 0)` and a session of its own, dropped (table
    /// included) when the value is.
    type Table;

    /// Creates one, or `None` (after saying why) when the test must skip.
    fn table(test: &str) -> Option<Self::Table>;
    /// The table's name.
    fn table_name(t: &Self::Table) -> &str;
    /// Locks row 1 from the table's session without waiting; its value, or why not.
    fn lock_row_now(t: &mut Self::Table) -> Result<i32, String>;
    /// Runs `sql` (one or more statements) on `c`.
    fn exec(c: &mut Conn<Self>, sql: &str);
    /// Whether `c` is inside a transaction.
    fn in_transaction(c: &mut Conn<Self>) -> bool;
}

fn reset_options(reset: ResetMode) -> Options {
    Options {
        size: 1,
        reset,
        ..Options::default()
    }
}

/// `ResetMode::Rollback`: the returned connection's transaction ends at once, releasing its
/// row lock and discarding its write.
pub fn rollback_on_return_releases_row_locks_and_discards_the_write<S: SqlServer>(test: &str) {
    let Some(mut t) = S::table(test) else {
        return;
    };
    let (pool, _) = pool::build(S::manager(&S::url()), reset_options(ResetMode::Rollback));
    let mut c = get(&pool, WAIT).unwrap();
    let sql = format!("BEGIN; UPDATE {} SET v = 1 WHERE id = 1", S::table_name(&t));
    S::exec(&mut c, &sql);
    assert!(
        S::lock_row_now(&mut t).is_err(),
        "precondition: the open transaction holds the row lock"
    );
    drop(c);
    let v = S::lock_row_now(&mut t).expect("the row is free as soon as the connection is returned");
    assert_eq!(v, 0, "the write was rolled back");
}

/// `ResetMode::Commit`: the returned connection's write persists.
pub fn commit_on_return_persists_the_write<S: SqlServer>(test: &str) {
    let Some(mut t) = S::table(test) else {
        return;
    };
    let (pool, _) = pool::build(S::manager(&S::url()), reset_options(ResetMode::Commit));
    let mut c = get(&pool, WAIT).unwrap();
    let sql = format!("BEGIN; UPDATE {} SET v = 2 WHERE id = 1", S::table_name(&t));
    S::exec(&mut c, &sql);
    drop(c);
    assert_eq!(
        S::lock_row_now(&mut t).expect("lock released"),
        2,
        "committed"
    );
}

/// `ResetMode::None` is dangerous by design: the transaction and its locks travel with the
/// connection to its next user.
pub fn none_on_return_leaves_the_transaction_open<S: SqlServer>(test: &str) {
    let Some(mut t) = S::table(test) else {
        return;
    };
    let (pool, _) = pool::build(S::manager(&S::url()), reset_options(ResetMode::None));
    let mut c = get(&pool, WAIT).unwrap();
    let sql = format!("BEGIN; UPDATE {} SET v = 3 WHERE id = 1", S::table_name(&t));
    S::exec(&mut c, &sql);
    drop(c);
    assert!(
        S::lock_row_now(&mut t).is_err(),
        "the returned connection still holds the lock"
    );

    let mut c = get(&pool, WAIT).unwrap();
    assert!(
        S::in_transaction(&mut c),
        "the next user is inside the old transaction"
    );
    S::exec(&mut c, "ROLLBACK");
    drop(c);
    assert_eq!(S::lock_row_now(&mut t).expect("lock released"), 0);
}
