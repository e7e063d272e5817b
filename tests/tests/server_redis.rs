//! Against the Redis server of this machine (127.0.0.1:6379): reset on return ends a `MULTI`
//! left open (discards it, runs it, or — `None` — leaves it), a client killed on the server is
//! detected, an outage fails checkouts clearly and the pool recovers, and no client leaks.
//!
//! Under `CI=true` an unreachable server fails these tests; elsewhere they print why they
//! skipped. They create only keys named `tarn_rd_<pid>_<n>` and delete them.
#![cfg(feature = "servers")]

use std::time::{Duration, Instant};

use tarn::managers::redis::redis::{self, Connection, RedisError, Value};
use tarn::managers::RedisManager;
use tarn::{Manager, ResetMode};
use tarn_tests::pool::{self, get, handle_error, GetError, Options};
use tarn_tests::proxy::Proxy;
use tarn_tests::server::{self, addr_of, redis_url, with_causes};
use tarn_tests::sessions::Tracked;
use tarn_tests::{eventually, unique_name};

const WAIT: Duration = Duration::from_secs(10);

fn admin(test: &str) -> Option<Connection> {
    server::require(test, "Redis", addr_of(&redis_url()), || {
        let c = redis::Client::open(redis_url())?
            .get_connection_with_timeout(Duration::from_secs(5))?;
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok::<_, RedisError>(c)
    })
}

fn session_id(c: &mut Connection) -> Result<i64, RedisError> {
    redis::cmd("CLIENT").arg("ID").query(c)
}

fn manager(url: &str) -> Tracked<RedisManager> {
    let m = RedisManager::from_url(url)
        .expect("valid URL")
        .connect_timeout(Duration::from_secs(2));
    Tracked::new(m, session_id)
}

/// The ids of every client the server lists.
fn client_ids(admin: &mut Connection) -> Vec<i64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(admin)
        .expect("CLIENT LIST");
    list.lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .filter_map(|id| id.parse().ok())
        .collect()
}

/// How many of `ids` the server still lists.
fn live_sessions(admin: &mut Connection, ids: &[i64]) -> usize {
    client_ids(admin)
        .iter()
        .filter(|id| ids.contains(id))
        .count()
}

fn kill(admin: &mut Connection, id: i64) {
    let n: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(admin)
        .expect("CLIENT KILL");
    assert_eq!(n, 1, "the client {id} existed");
    assert!(eventually(WAIT, || live_sessions(admin, &[id]) == 0));
}

/// A key deleted when the guard goes.
struct Key {
    admin: Connection,
    name: String,
}

impl Key {
    fn new(test: &str) -> Option<Key> {
        Some(Key {
            admin: admin(test)?,
            name: unique_name("tarn_rd"),
        })
    }

    fn value(&mut self) -> Option<String> {
        redis::cmd("GET")
            .arg(&self.name)
            .query(&mut self.admin)
            .unwrap()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        let _: Result<(), _> = redis::cmd("DEL").arg(&self.name).query(&mut self.admin);
    }
}

/// Leaves the connection inside a `MULTI` with a queued `SET key 1`.
fn leave_multi_open(c: &mut Connection, key: &str) {
    let _: () = redis::cmd("MULTI").query(c).unwrap();
    let queued: Value = redis::cmd("SET").arg(key).arg("1").query(c).unwrap();
    assert_eq!(queued, Value::SimpleString("QUEUED".into()));
}

/// What a plain `SET` answers: `OK`, or `QUEUED` inside a `MULTI`.
fn set_reply(c: &mut Connection, key: &str) -> Value {
    redis::cmd("SET").arg(key).arg("2").query(c).unwrap()
}

fn options(reset: ResetMode) -> Options {
    Options {
        size: 1,
        reset,
        ..Options::default()
    }
}

#[test]
fn rollback_on_return_discards_a_multi_left_open() {
    let Some(mut key) = Key::new("rollback_on_return_discards_a_multi_left_open") else {
        return;
    };
    let (pool, _) = pool::build(manager(&redis_url()), options(ResetMode::Rollback));
    let mut c = get(&pool, WAIT).unwrap();
    leave_multi_open(&mut c, &key.name);
    drop(c);
    assert_eq!(key.value(), None, "the queued write was discarded");
    let mut c = get(&pool, WAIT).unwrap();
    assert_eq!(
        set_reply(&mut c, &key.name),
        Value::Okay,
        "the next user runs commands"
    );
}

#[test]
fn commit_on_return_runs_a_multi_left_open() {
    let Some(mut key) = Key::new("commit_on_return_runs_a_multi_left_open") else {
        return;
    };
    let (pool, _) = pool::build(manager(&redis_url()), options(ResetMode::Commit));
    let mut c = get(&pool, WAIT).unwrap();
    leave_multi_open(&mut c, &key.name);
    drop(c);
    assert_eq!(key.value().as_deref(), Some("1"), "the queued write ran");
    let mut c = get(&pool, WAIT).unwrap();
    assert_eq!(set_reply(&mut c, &key.name), Value::Okay);
}

/// `ResetMode::None` is dangerous by design: the next user's commands are queued, not run.
#[test]
fn none_on_return_leaves_the_multi_open() {
    let Some(mut key) = Key::new("none_on_return_leaves_the_multi_open") else {
        return;
    };
    let (pool, _) = pool::build(manager(&redis_url()), options(ResetMode::None));
    let mut c = get(&pool, WAIT).unwrap();
    leave_multi_open(&mut c, &key.name);
    drop(c);
    let mut c = get(&pool, WAIT).unwrap();
    assert_eq!(
        set_reply(&mut c, &key.name),
        Value::SimpleString("QUEUED".into()),
        "the next user is inside the old MULTI"
    );
    let _: () = redis::cmd("DISCARD").query(&mut *c).unwrap();
    drop(c);
    assert_eq!(key.value(), None);
}

#[test]
fn a_killed_client_is_replaced_unseen_with_pre_ping() {
    let Some(mut admin) = admin("a_killed_client_is_replaced_unseen_with_pre_ping") else {
        return;
    };
    let opts = Options {
        size: 1,
        pre_ping: true,
        ..Options::default()
    };
    let (pool, counts) = pool::build(manager(&redis_url()), opts);
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
fn a_killed_client_is_a_disconnect_without_pre_ping() {
    let Some(mut admin) = admin("a_killed_client_is_a_disconnect_without_pre_ping") else {
        return;
    };
    let (pool, counts) = pool::build(manager(&redis_url()), Options::default());
    let mut a = get(&pool, WAIT).unwrap();
    let mut b = get(&pool, WAIT).unwrap();
    let old = session_id(&mut a).unwrap();
    let other = session_id(&mut b).unwrap();
    drop((a, b));

    kill(&mut admin, old);

    let mut c = get(&pool, WAIT).unwrap();
    let err = redis::cmd("PING")
        .query::<()>(&mut *c)
        .expect_err("the killed client cannot answer");
    assert!(
        pool.manager().is_disconnect(&err),
        "classified as a disconnect: {err:?}"
    );
    assert!(handle_error(&pool, c, &err));
    assert_eq!(pool::Counts::get(&counts.invalidated), 1);

    for _ in 0..2 {
        let mut c = get(&pool, WAIT).unwrap();
        let id = session_id(&mut c).expect("a fresh, working connection");
        assert!(id != old && id != other, "{id} is a new client");
    }
}

#[test]
fn an_outage_fails_checkouts_clearly_and_the_same_pool_recovers() {
    let Some(_admin) = admin("an_outage_fails_checkouts_clearly_and_the_same_pool_recovers") else {
        return;
    };
    let proxy = Proxy::start(addr_of(&redis_url())).expect("start the proxy");
    let url = format!("redis://127.0.0.1:{}/0", proxy.port());
    let opts = Options {
        size: 2,
        pre_ping: true,
        ..Options::default()
    };
    let (pool, _) = pool::build(manager(&url), opts);
    {
        let mut a = get(&pool, WAIT).unwrap();
        let mut b = get(&pool, WAIT).unwrap();
        redis::cmd("PING").query::<()>(&mut *a).unwrap();
        redis::cmd("PING").query::<()>(&mut *b).unwrap();
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
            "redis outage: checkout failed after {:?}: {}",
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
    redis::cmd("PING").query::<()>(&mut *c).unwrap();
}

#[test]
fn server_clients_match_the_pool_and_none_survive_dispose() {
    let Some(mut admin) = admin("server_clients_match_the_pool_and_none_survive_dispose") else {
        return;
    };
    let before = client_ids(&mut admin).len();
    let m = manager(&redis_url());
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
    assert_eq!(peak, 5, "one server client per open connection");
    let peak_all = client_ids(&mut admin).len();
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

    let key = unique_name("tarn_rd");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let mut c = get(&pool, WAIT).unwrap();
                    let _: i64 = redis::cmd("INCR").arg(&key).query(&mut *c).unwrap();
                }
            });
        }
    });
    let _: () = redis::cmd("DEL").arg(&key).query(&mut admin).unwrap();
    let open = pool.state().open;
    assert!(eventually(WAIT, || live_sessions(
        &mut admin,
        &sessions.ids()
    ) == open));

    pool.dispose();
    assert_eq!(pool.state().open, 0);
    assert!(
        eventually(WAIT, || live_sessions(&mut admin, &sessions.ids()) == 0),
        "every client ends after dispose"
    );
    assert_eq!(
        sessions.opened(),
        sessions.closed(),
        "each closed exactly once"
    );
    let after = client_ids(&mut admin).len();
    eprintln!(
        "LEAK CHECK redis: pool clients on the server: peak {peak} (pool open 5), after the \
         run {open} (pool open {open}), after dispose 0; opened {} closed {}; all clients: \
         before {before}, at peak {peak_all}, after dispose {after}",
        sessions.opened(),
        sessions.closed()
    );
}
