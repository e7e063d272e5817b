//! Every manager call is bounded, against the real servers of this machine behind a
//! loopback proxy that stalls or cuts their connections, and against a listener that
//! accepts and never answers: each call with a limit returns its error within the limit
//! plus [`SLACK`], each call without one within the manager's I/O timeout plus `SLACK`,
//! and `close` never waits. The errors are disconnects and name their target; so are those
//! of a connection the proxy cuts and of a session killed on the server.
//!
//! Each timed call prints `FAULT <server> <call>: limit .., took .., past the limit ..`
//! (run with `--nocapture` to see them). Under `CI=true` an unreachable server fails these
//! tests; elsewhere they print why they skipped.
#![cfg(feature = "servers")]

use std::fmt::Display;
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tarn_pool::managers::mysql::mysql::prelude::Queryable;
use tarn_pool::managers::mysql::MysqlConnection;
use tarn_pool::managers::redis::redis;
use tarn_pool::managers::{MysqlManager, RedisManager};
use tarn_pool::{Manager, ResetMode};
use tarn_tests::proxy::{Hung, Proxy};
use tarn_tests::server::{self, addr_of, mysql_url, postgres_url, redis_url};

/// The deadline each bounded call gets.
const LIMIT: Duration = Duration::from_millis(300);
/// How far past its limit a call may return.
const SLACK: Duration = Duration::from_millis(100);
/// The I/O timeout of the managers in the tests of calls without a deadline.
const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// The tests of this file run one at a time (each holds this while it runs), so that their
/// timings measure the managers, not the other tests' threads.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `call`, which must fail within `limit` + [`SLACK`]; prints the time it took and
/// returns the error.
fn fails_within<T, E: Display>(
    label: &str,
    limit: Duration,
    call: impl FnOnce() -> Result<T, E>,
) -> E {
    let start = Instant::now();
    let result = call();
    let took = start.elapsed();
    eprintln!(
        "FAULT {label}: limit {limit:?}, took {took:?}, past the limit {:?}",
        took.saturating_sub(limit)
    );
    let Err(err) = result else {
        panic!("{label}: the call succeeded against a server that does not answer");
    };
    assert!(
        took <= limit + SLACK,
        "{label}: took {took:?}, limit {limit:?}: {err}"
    );
    err
}

/// Runs `close`, which must return within [`SLACK`].
fn closes_at_once(label: &str, close: impl FnOnce()) {
    let start = Instant::now();
    close();
    let took = start.elapsed();
    eprintln!("FAULT {label}: close took {took:?}");
    assert!(took <= SLACK, "{label}: close took {took:?}");
}

fn mysql_up(test: &str) -> Option<()> {
    server::require(test, "MariaDB", addr_of(&mysql_url()), || {
        MysqlManager::from_url(&mysql_url())?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .map(drop)
    })
}

fn redis_up(test: &str) -> Option<()> {
    server::require(test, "Redis", addr_of(&redis_url()), || {
        RedisManager::from_url(&redis_url())?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .map(drop)
    })
}

/// A MariaDB manager for the server behind `port` (a proxy or a hung listener).
fn mysql_at(port: u16) -> MysqlManager {
    // `prefer_socket=false`: the driver would otherwise switch to the local Unix socket and
    // bypass the proxy.
    MysqlManager::from_url(&format!(
        "mysql://root@127.0.0.1:{port}/test?prefer_socket=false"
    ))
    .expect("valid URL")
}

fn redis_at(port: u16) -> RedisManager {
    RedisManager::from_url(&format!("redis://127.0.0.1:{port}/1")).expect("valid URL")
}

fn mysql_proxy() -> Proxy {
    Proxy::start(addr_of(&mysql_url())).expect("start the proxy")
}

fn redis_proxy() -> Proxy {
    Proxy::start(addr_of(&redis_url())).expect("start the proxy")
}

#[test]
fn mariadb_connect_to_a_hung_listener_fails_within_the_limit() {
    let _serial = one_at_a_time();
    let hung = Hung::start().unwrap();
    let m = mysql_at(hung.port());
    for _ in 0..3 {
        let err = fails_within("MariaDB connect_within hung listener", LIMIT, || {
            m.connect_within(Some(LIMIT))
        });
        assert!(m.is_disconnect(&err), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("127.0.0.1:{}/test", hung.port())),
            "{shown}"
        );
    }
    let m = m.io_timeout(IO_TIMEOUT);
    let err = fails_within(
        "MariaDB connect (no limit) hung listener",
        IO_TIMEOUT,
        || m.connect(),
    );
    assert!(m.is_disconnect(&err), "{err:?}");
}

#[test]
fn a_mariadb_url_at_the_redis_or_postgresql_port_fails_within_the_limit() {
    let _serial = one_at_a_time();
    for (name, url) in [("Redis", redis_url()), ("PostgreSQL", postgres_url())] {
        let addr = addr_of(&url).to_owned();
        let reachable = server::require(
            "a_mariadb_url_at_the_redis_or_postgresql_port_fails_within_the_limit",
            name,
            &addr,
            || {
                TcpStream::connect_timeout(
                    &addr.parse().expect("an address"),
                    Duration::from_secs(2),
                )
            },
        );
        if reachable.is_none() {
            continue;
        }
        let port: u16 = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let m = mysql_at(port);
        let label = format!("MariaDB connect_within at the {name} port");
        let err = fails_within(&label, LIMIT, || m.connect_within(Some(LIMIT)));
        assert!(m.is_disconnect(&err), "{err:?}");
    }
}

/// Three live connections through a proxy, then the proxy stalls: ping, rollback and
/// commit each fail within the limit, the connections they gave up on are closed at once,
/// and a new connect fails within the limit too.
#[test]
fn mariadb_calls_on_a_stalled_server_fail_within_the_limit() {
    let _serial = one_at_a_time();
    let test = "mariadb_calls_on_a_stalled_server_fail_within_the_limit";
    if mysql_up(test).is_none() {
        return;
    }
    let proxy = mysql_proxy();
    let m = mysql_at(proxy.port());
    let mut conns: Vec<MysqlConnection> = (0..4)
        .map(|_| m.connect_within(Some(Duration::from_secs(5))).unwrap())
        .collect();
    for c in &mut conns {
        c.query_drop("BEGIN").unwrap();
    }
    proxy.stall();

    let mut ping = conns.pop().unwrap();
    let err = fails_within("MariaDB ping_within stalled", LIMIT, || {
        m.ping_within(&mut ping, Some(LIMIT))
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    assert!(
        err.to_string().contains("ping did not finish within"),
        "{err}"
    );
    assert!(ping.is_closed(), "the connection it gave up on is closed");
    assert!(
        ping.query_drop("SELECT 1").is_err(),
        "and fails every call, without a panic"
    );
    closes_at_once("MariaDB close after a timed-out ping", || m.close(ping));

    for mode in [ResetMode::Rollback, ResetMode::Commit] {
        let mut c = conns.pop().unwrap();
        let label = format!("MariaDB reset_within({mode:?}) stalled");
        let err = fails_within(&label, LIMIT, || m.reset_within(&mut c, mode, Some(LIMIT)));
        assert!(m.is_disconnect(&err), "{err:?}");
        closes_at_once("MariaDB close after a timed-out reset", || m.close(c));
    }

    let live = conns.pop().unwrap();
    closes_at_once("MariaDB close of a live connection, server stalled", || {
        m.close(live)
    });

    let err = fails_within("MariaDB connect_within stalled", LIMIT, || {
        m.connect_within(Some(LIMIT))
    });
    assert!(m.is_disconnect(&err), "{err:?}");
}

/// Without a deadline, the I/O timeout bounds each call on a stalled server.
#[test]
fn mariadb_calls_without_a_deadline_end_at_the_io_timeout() {
    let _serial = one_at_a_time();
    let test = "mariadb_calls_without_a_deadline_end_at_the_io_timeout";
    if mysql_up(test).is_none() {
        return;
    }
    let proxy = mysql_proxy();
    let m = mysql_at(proxy.port()).io_timeout(IO_TIMEOUT);
    let mut a = m.connect().unwrap();
    let mut b = m.connect().unwrap();
    proxy.stall();
    let err = fails_within("MariaDB ping (no limit) stalled", IO_TIMEOUT, || {
        m.ping(&mut a)
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    let err = fails_within("MariaDB reset (no limit) stalled", IO_TIMEOUT, || {
        m.reset(&mut b, ResetMode::Rollback)
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    let err = fails_within("MariaDB connect (no limit) stalled", IO_TIMEOUT, || {
        m.connect()
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    closes_at_once("MariaDB close after a timed-out ping", || m.close(a));
    closes_at_once("MariaDB close after a timed-out reset", || m.close(b));
}

/// A connection the proxy cuts fails with a disconnect, and a deadline longer than the
/// I/O timeout runs the call inline and still returns.
#[test]
fn a_cut_mariadb_connection_is_a_disconnect() {
    let _serial = one_at_a_time();
    let test = "a_cut_mariadb_connection_is_a_disconnect";
    if mysql_up(test).is_none() {
        return;
    }
    let proxy = mysql_proxy();
    let m = mysql_at(proxy.port());
    let mut a = m.connect().unwrap();
    let mut b = m.connect().unwrap();
    m.ping_within(&mut a, Some(LIMIT))
        .expect("a live connection answers within the limit");
    m.ping_within(&mut b, Some(Duration::from_secs(60)))
        .unwrap();
    proxy.cut();
    let err = m.ping_within(&mut a, Some(LIMIT)).unwrap_err();
    assert!(m.is_disconnect(&err), "a cut connection: {err:?}");
    let err = m
        .reset_within(&mut b, ResetMode::Rollback, Some(Duration::from_secs(60)))
        .unwrap_err();
    assert!(m.is_disconnect(&err), "a cut connection: {err:?}");
    m.close(a);
    m.close(b);
    let err = m.connect_within(Some(LIMIT)).unwrap_err();
    assert!(m.is_disconnect(&err), "a refused handshake: {err:?}");
}

#[test]
fn redis_connect_to_a_hung_listener_fails_within_the_limit() {
    let _serial = one_at_a_time();
    let hung = Hung::start().unwrap();
    let m = redis_at(hung.port());
    for _ in 0..3 {
        let err = fails_within("Redis connect_within hung listener", LIMIT, || {
            m.connect_within(Some(LIMIT))
        });
        assert!(m.is_disconnect(&err), "{err:?}");
    }
    let m = m.connect_timeout(IO_TIMEOUT);
    let err = fails_within("Redis connect (no limit) hung listener", IO_TIMEOUT, || {
        m.connect()
    });
    assert!(m.is_disconnect(&err), "{err:?}");
}

#[test]
fn redis_calls_on_a_stalled_server_fail_within_the_limit() {
    let _serial = one_at_a_time();
    let test = "redis_calls_on_a_stalled_server_fail_within_the_limit";
    if redis_up(test).is_none() {
        return;
    }
    let proxy = redis_proxy();
    let m = redis_at(proxy.port());
    let mut conns: Vec<redis::Connection> = (0..4)
        .map(|_| m.connect_within(Some(Duration::from_secs(5))).unwrap())
        .collect();
    proxy.stall();

    let mut ping = conns.pop().unwrap();
    let err = fails_within("Redis ping_within stalled", LIMIT, || {
        m.ping_within(&mut ping, Some(LIMIT))
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}/1", proxy.port())),
        "{err}"
    );
    closes_at_once("Redis close after a timed-out ping", || m.close(ping));

    for mode in [ResetMode::Rollback, ResetMode::Commit] {
        let mut c = conns.pop().unwrap();
        let label = format!("Redis reset_within({mode:?}) stalled");
        let err = fails_within(&label, LIMIT, || m.reset_within(&mut c, mode, Some(LIMIT)));
        assert!(m.is_disconnect(&err), "{err:?}");
        closes_at_once("Redis close after a timed-out reset", || m.close(c));
    }
    let live = conns.pop().unwrap();
    closes_at_once("Redis close of a live connection, server stalled", || {
        m.close(live)
    });

    let err = fails_within("Redis connect_within stalled", LIMIT, || {
        m.connect_within(Some(LIMIT))
    });
    assert!(m.is_disconnect(&err), "{err:?}");
}

/// Without a deadline, the I/O timeout bounds each call; a call with a deadline puts the
/// I/O timeout back afterwards.
#[test]
fn redis_calls_without_a_deadline_end_at_the_io_timeout() {
    let _serial = one_at_a_time();
    let test = "redis_calls_without_a_deadline_end_at_the_io_timeout";
    if redis_up(test).is_none() {
        return;
    }
    let proxy = redis_proxy();
    let m = redis_at(proxy.port())
        .io_timeout(IO_TIMEOUT)
        .connect_timeout(IO_TIMEOUT);
    let mut a = m.connect().unwrap();
    let mut b = m.connect().unwrap();
    m.ping_within(&mut a, Some(LIMIT)).unwrap();
    assert_eq!(
        redis::ConnectionLike::get_db(&a),
        1,
        "the connection still works on its database"
    );
    proxy.stall();
    let err = fails_within("Redis ping (no limit) stalled", IO_TIMEOUT, || {
        m.ping(&mut a)
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    let err = fails_within("Redis reset (no limit) stalled", IO_TIMEOUT, || {
        m.reset(&mut b, ResetMode::Rollback)
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    let err = fails_within("Redis connect (no limit) stalled", IO_TIMEOUT, || {
        m.connect()
    });
    assert!(m.is_disconnect(&err), "{err:?}");
    m.close(a);
    m.close(b);
}

#[test]
fn a_cut_redis_connection_is_a_disconnect() {
    let _serial = one_at_a_time();
    let test = "a_cut_redis_connection_is_a_disconnect";
    if redis_up(test).is_none() {
        return;
    }
    let proxy = redis_proxy();
    let m = redis_at(proxy.port());
    let mut a = m.connect().unwrap();
    let mut b = m.connect().unwrap();
    proxy.cut();
    let err = m.ping_within(&mut a, Some(LIMIT)).unwrap_err();
    assert!(m.is_disconnect(&err), "a cut connection: {err:?}");
    let err = m
        .reset_within(&mut b, ResetMode::Rollback, None)
        .unwrap_err();
    assert!(m.is_disconnect(&err), "a cut connection: {err:?}");
    m.close(a);
    m.close(b);
    let Err(err) = m.connect_within(Some(LIMIT)) else {
        panic!("no connect through a cut proxy");
    };
    assert!(m.is_disconnect(&err), "a refused handshake: {err:?}");
}

/// A session killed on the server fails the pool's calls with a disconnect, on the inline
/// path (no limit) and on the helper path (a limit shorter than the I/O timeout).
#[test]
fn a_killed_mariadb_session_is_a_disconnect() {
    let _serial = one_at_a_time();
    let test = "a_killed_mariadb_session_is_a_disconnect";
    if mysql_up(test).is_none() {
        return;
    }
    let m = MysqlManager::from_url(&mysql_url()).unwrap();
    let mut admin = m.connect().unwrap();
    let mut a = m.connect().unwrap();
    let mut b = m.connect().unwrap();
    for c in [&mut a, &mut b] {
        let id = c.get_mut().unwrap().connection_id();
        admin.query_drop(format!("KILL {id}")).unwrap();
    }
    let err = m.ping_within(&mut a, Some(LIMIT)).unwrap_err();
    assert!(m.is_disconnect(&err), "ping of a killed session: {err:?}");
    let err = m.reset(&mut b, ResetMode::Rollback).unwrap_err();
    assert!(m.is_disconnect(&err), "reset of a killed session: {err:?}");
    m.close(a);
    m.close(b);
}

#[test]
fn a_killed_redis_client_is_a_disconnect() {
    let _serial = one_at_a_time();
    let test = "a_killed_redis_client_is_a_disconnect";
    if redis_up(test).is_none() {
        return;
    }
    let m = RedisManager::from_url(&redis_url()).unwrap();
    let mut admin = m.connect().unwrap();
    let mut a = m.connect().unwrap();
    let mut b = m.connect().unwrap();
    for c in [&mut a, &mut b] {
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(c).unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query(&mut admin)
            .unwrap();
    }
    let err = m.ping_within(&mut a, Some(LIMIT)).unwrap_err();
    assert!(m.is_disconnect(&err), "ping of a killed client: {err:?}");
    let err = m.reset(&mut b, ResetMode::Rollback).unwrap_err();
    assert!(m.is_disconnect(&err), "reset of a killed client: {err:?}");
    m.close(a);
    m.close(b);
}
