//! Against the Redis server of this machine (127.0.0.1:6379): reset on return ends a `MULTI`
//! left open (discards it, runs it, or — `None` — leaves it), a client killed on the server is
//! detected, an outage fails checkouts clearly and the pool recovers, and no client leaks.
//!
//! Under `CI=true` an unreachable server fails these tests; elsewhere they print why they
//! skipped. They create only keys named `tarn_rd_<pid>_<n>` and delete them.
#![cfg(feature = "servers")]

use std::time::Duration;

use tarn_pool::managers::redis::redis::{self, Connection, RedisError, Value};
use tarn_pool::managers::RedisManager;
use tarn_pool::ResetMode;
use tarn_tests::live::{self, LiveServer, WAIT};
use tarn_tests::pool::{self, get, Options};
use tarn_tests::server::{self, addr_of, redis_url};
use tarn_tests::sessions::Tracked;
use tarn_tests::unique_name;

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

struct Redis;

impl LiveServer for Redis {
    const NAME: &'static str = "Redis";
    type Driver = RedisManager;
    type Admin = Connection;

    fn url() -> String {
        redis_url()
    }
    fn url_through(port: u16) -> String {
        format!("redis://127.0.0.1:{port}/0")
    }
    fn admin(test: &str) -> Option<Connection> {
        admin(test)
    }
    fn manager(url: &str) -> Tracked<RedisManager> {
        manager(url)
    }
    fn session_id(c: &mut Connection) -> Result<i64, RedisError> {
        session_id(c)
    }
    fn live_sessions(admin: &mut Connection, ids: &[i64]) -> usize {
        client_ids(admin)
            .iter()
            .filter(|id| ids.contains(id))
            .count()
    }
    fn all_sessions(admin: &mut Connection) -> usize {
        client_ids(admin).len()
    }
    fn kill(admin: &mut Connection, id: i64) {
        let n: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query(admin)
            .expect("CLIENT KILL");
        assert_eq!(n, 1, "the client {id} existed");
    }
    fn probe(c: &mut Connection) -> Result<(), RedisError> {
        redis::cmd("PING").query(c)
    }
    fn echo(c: &mut Connection, i: i32) {
        let s: String = redis::cmd("ECHO").arg(i).query(c).unwrap();
        assert_eq!(s, i.to_string());
    }
}

#[test]
fn a_killed_client_is_replaced_unseen_with_pre_ping() {
    live::killed_session_is_replaced_unseen_with_pre_ping::<Redis>(
        "a_killed_client_is_replaced_unseen_with_pre_ping",
    );
}

#[test]
fn a_killed_client_is_a_disconnect_without_pre_ping() {
    live::killed_session_is_a_disconnect_without_pre_ping::<Redis>(
        "a_killed_client_is_a_disconnect_without_pre_ping",
    );
}

#[test]
fn an_outage_fails_checkouts_clearly_and_the_same_pool_recovers() {
    live::outage_fails_checkouts_clearly_and_the_same_pool_recovers::<Redis>(
        "an_outage_fails_checkouts_clearly_and_the_same_pool_recovers",
    );
}

#[test]
fn server_clients_match_the_pool_and_none_survive_dispose() {
    live::sessions_match_the_pool_and_none_survive_dispose::<Redis>(
        "server_clients_match_the_pool_and_none_survive_dispose",
    );
}
