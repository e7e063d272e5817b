//! Against the PostgreSQL server of this machine (127.0.0.1:5432, trust auth, database
//! `test`): reset on return really ends transactions and releases row locks, a session
//! killed on the server is detected, an outage fails checkouts clearly and the pool
//! recovers, and no session leaks.
//!
//! Under `CI=true` an unreachable server fails these tests; elsewhere they print why they
//! skipped. They create only tables named `tarn_<test>_<pid>_<n>` and drop them.
#![cfg(feature = "servers")]

use std::time::Duration;

use tarn_pool::managers::postgres::postgres::{self, Client, NoTls};
use tarn_pool::managers::postgres::{PgConnection, PgError};
use tarn_pool::managers::PostgresManager;
use tarn_tests::live::{self, LiveServer, SqlServer};
use tarn_tests::server::{self, addr_of, postgres_url};
use tarn_tests::sessions::Tracked;
use tarn_tests::unique_name;
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

fn session_id(c: &mut PgConnection) -> Result<i64, PgError> {
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

#[test]
fn rollback_on_return_releases_row_locks_and_discards_the_write() {
    live::rollback_on_return_releases_row_locks_and_discards_the_write::<Postgres>(
        "rollback_on_return_releases_row_locks_and_discards_the_write",
    );
}

#[test]
fn commit_on_return_persists_the_write() {
    live::commit_on_return_persists_the_write::<Postgres>("commit_on_return_persists_the_write");
}

#[test]
fn none_on_return_leaves_the_transaction_open() {
    live::none_on_return_leaves_the_transaction_open::<Postgres>(
        "none_on_return_leaves_the_transaction_open",
    );
}

struct Postgres;

impl LiveServer for Postgres {
    const NAME: &'static str = "PostgreSQL";
    type Driver = PostgresManager;
    type Admin = Client;

    fn url() -> String {
        postgres_url()
    }
    fn url_through(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/test?connect_timeout=2")
    }
    fn admin(test: &str) -> Option<Client> {
        admin(test)
    }
    fn manager(url: &str) -> Tracked<PostgresManager> {
        manager(url)
    }
    fn session_id(c: &mut PgConnection) -> Result<i64, PgError> {
        session_id(c)
    }
    fn live_sessions(admin: &mut Client, ids: &[i64]) -> usize {
        let ids: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&ids],
            )
            .expect("pg_stat_activity")
            .get(0);
        n as usize
    }
    fn all_sessions(admin: &mut Client) -> usize {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
                &[],
            )
            .expect("pg_stat_activity")
            .get(0);
        n as usize
    }
    fn kill(admin: &mut Client, id: i64) {
        let killed: bool = admin
            .query_one("SELECT pg_terminate_backend($1)", &[&(id as i32)])
            .expect("pg_terminate_backend")
            .get(0);
        assert!(killed, "the session {id} exists");
    }
    fn probe(c: &mut PgConnection) -> Result<(), PgError> {
        c.batch_execute("SELECT 1")
    }
    fn echo(c: &mut PgConnection, i: i32) {
        let n: i32 = c.query_one("SELECT $1::int", &[&i]).unwrap().get(0);
        assert_eq!(n, i);
    }
}

impl SqlServer for Postgres {
    type Table = Table;

    fn table(test: &str) -> Option<Table> {
        Table::create(test)
    }
    fn table_name(t: &Table) -> &str {
        &t.name
    }
    fn lock_row_now(t: &mut Table) -> Result<i32, String> {
        t.lock_row_now().map_err(|e| e.to_string())
    }
    fn exec(c: &mut PgConnection, sql: &str) {
        c.batch_execute(sql).unwrap();
    }
    fn in_transaction(c: &mut PgConnection) -> bool {
        let xid: Option<i64> = c
            .query_one("SELECT txid_current_if_assigned()", &[])
            .unwrap()
            .get(0);
        xid.is_some()
    }
}

#[test]
fn a_killed_session_is_replaced_unseen_with_pre_ping() {
    live::killed_session_is_replaced_unseen_with_pre_ping::<Postgres>(
        "a_killed_session_is_replaced_unseen_with_pre_ping",
    );
}

#[test]
fn a_killed_session_is_a_disconnect_without_pre_ping() {
    live::killed_session_is_a_disconnect_without_pre_ping::<Postgres>(
        "a_killed_session_is_a_disconnect_without_pre_ping",
    );
}

#[test]
fn an_outage_fails_checkouts_clearly_and_the_same_pool_recovers() {
    live::outage_fails_checkouts_clearly_and_the_same_pool_recovers::<Postgres>(
        "an_outage_fails_checkouts_clearly_and_the_same_pool_recovers",
    );
}

#[test]
fn server_sessions_match_the_pool_and_none_survive_dispose() {
    live::sessions_match_the_pool_and_none_survive_dispose::<Postgres>(
        "server_sessions_match_the_pool_and_none_survive_dispose",
    );
}

// ---- Deadlines: a peer that stops answering never holds a call past its limit ----

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use tarn_pool::managers::postgres::PgError as Error;
use tarn_pool::{Manager, ResetMode};
use tarn_tests::server::{mysql_url, redis_url};

/// How far past its limit a call may return.
const SLACK: Duration = Duration::from_millis(100);

/// Runs `call`, asserts it took at most `limit + SLACK`, prints and returns how far past
/// `limit` it returned (zero when it returned before).
fn within<T>(what: &str, limit: Duration, call: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = call();
    let took = started.elapsed();
    let over = took.saturating_sub(limit);
    let _ = writeln!(
        io::stderr(),
        "deadline {what}: limit {limit:?}, took {took:?}, over by {over:?}"
    );
    assert!(
        took <= limit + SLACK,
        "{what}: took {took:?} with a limit of {limit:?}"
    );
    (out, over)
}

/// A loopback listener that accepts every connection and never writes a byte; it keeps
/// the sockets open until dropped.
struct Mute {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Mute {
    fn start() -> Mute {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let acceptor = thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Mute {
            addr,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres:mute-pw@127.0.0.1:{}/test",
            self.addr.port()
        )
    }
}

impl Drop for Mute {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// A loopback proxy in front of a real server that forwards until [`Stall::stall`], and
/// from then on holds every byte in both directions (the sockets stay open): a server
/// that stopped answering mid-session.
struct Stall {
    addr: SocketAddr,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Stall {
    fn start(target: SocketAddr) -> Stall {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("its address");
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(Vec::new()));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let (st, sp, lv, th) = (
            Arc::clone(&stalled),
            Arc::clone(&stop),
            Arc::clone(&live),
            Arc::clone(&threads),
        );
        let acceptor = thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
                    continue;
                };
                let _ = client.set_nonblocking(false);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let (st, sp) = (Arc::clone(&st), Arc::clone(&sp));
                    let pump = thread::spawn(move || pump(from, to, &st, &sp));
                    th.lock().unwrap().push(pump);
                }
                lv.lock().unwrap().extend([client, server]);
            }
        });
        Stall {
            addr,
            stalled,
            stop,
            live,
            threads,
            acceptor: Some(acceptor),
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test", self.addr.port())
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, stalled: &AtomicBool, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(10)));
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        if stalled.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Read before the stall began, or during the read: held as well.
                while stalled.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(5));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in self.threads.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

fn timed_out(r: &Result<impl Sized, Error>) -> bool {
    matches!(r, Err(e) if e.is_timeout())
}

#[test]
fn connect_to_a_mute_listener_returns_within_its_limit() {
    let mute = Mute::start();
    let m = PostgresManager::from_url(&mute.url()).unwrap();
    let limit = Duration::from_millis(500);
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        let (r, over) = within("connect_within (mute listener)", limit, || {
            m.connect_within(Some(limit))
        });
        assert!(timed_out(&r), "{:?}", r.map(drop));
        worst = worst.max(over);
    }
    // No limit from the caller: the manager's connect timeout bounds the handshake.
    let m = m.connect_timeout(Duration::from_millis(300));
    let (r, over) = within(
        "connect (mute, no limit)",
        Duration::from_millis(300),
        || m.connect(),
    );
    assert!(timed_out(&r), "{:?}", r.map(drop));
    worst = worst.max(over);
    let _ = writeln!(io::stderr(), "worst overshoot connect (mute): {worst:?}");
}

#[test]
fn a_postgres_url_at_the_redis_or_mariadb_port_fails_within_its_limit() {
    let limit = Duration::from_millis(500);
    for (name, url) in [("Redis", redis_url()), ("MariaDB", mysql_url())] {
        let addr = addr_of(&url).to_owned();
        let reachable = server::require(
            "a_postgres_url_at_the_redis_or_mariadb_port_fails_within_its_limit",
            name,
            &addr,
            || TcpStream::connect(&addr),
        );
        if reachable.is_none() {
            continue;
        }
        let m = PostgresManager::from_url(&format!("postgres://postgres@{addr}/test")).unwrap();
        let (r, _) = within(&format!("connect_within ({name} port)"), limit, || {
            m.connect_within(Some(limit))
        });
        let Err(e) = r else {
            panic!("{name} is not PostgreSQL");
        };
        assert!(e.to_string().contains(&addr), "{e}");
    }
}

/// A manager and a connection through a stalling proxy to the real server, or `None`
/// when the server is unreachable (after saying why).
fn through_stall(test: &str) -> Option<(Stall, PostgresManager, PgConnection)> {
    admin(test)?;
    let target: SocketAddr = addr_of(&postgres_url())
        .parse()
        .expect("a loopback address");
    let stall = Stall::start(target);
    let m = PostgresManager::from_url(&stall.url()).unwrap();
    let mut c = m
        .connect_within(Some(WAIT_CONNECT))
        .expect("connect through the proxy");
    let n: i32 = c.query_one("SELECT $1::int", &[&5_i32]).unwrap().get(0);
    assert_eq!(n, 5);
    Some((stall, m, c))
}

const WAIT_CONNECT: Duration = Duration::from_secs(5);

#[test]
fn ping_reset_query_and_close_return_within_their_limits_when_the_server_stalls() {
    let limit = Duration::from_millis(300);
    let mut worst = [Duration::ZERO; 5];
    for _ in 0..3 {
        let Some((stall, m, mut c)) = through_stall(
            "ping_reset_query_and_close_return_within_their_limits_when_the_server_stalls",
        ) else {
            return;
        };
        let mut tx = c.transaction().unwrap();
        tx.execute("SELECT 1", &[]).unwrap();
        drop(tx);
        stall.stall();

        let (r, over) = within("ping_within (stalled)", limit, || {
            m.ping_within(&mut c, Some(limit))
        });
        assert!(timed_out(&r), "{r:?}");
        assert!(m.is_disconnect(r.as_ref().unwrap_err()));
        worst[0] = worst[0].max(over);

        let (r, over) = within("reset_within (stalled)", limit, || {
            m.reset_within(&mut c, ResetMode::Rollback, Some(limit))
        });
        assert!(timed_out(&r), "{r:?}");
        worst[1] = worst[1].max(over);

        c.set_timeout(Some(limit));
        let (r, over) = within("query (stalled, connection timeout)", limit, || {
            c.query_one("SELECT 1", &[])
        });
        assert!(timed_out(&r), "{:?}", r.map(drop));
        worst[2] = worst[2].max(over);

        // Replies to three timed-out requests are still owed: close must not wait for them.
        let (_, over) = within("close (after timeouts)", Duration::ZERO, || m.close(c));
        worst[3] = worst[3].max(over);

        let (r, over) = within("connect_within (stalled)", limit, || {
            m.connect_within(Some(limit))
        });
        assert!(timed_out(&r), "{:?}", r.map(drop));
        worst[4] = worst[4].max(over);
    }
    let _ = writeln!(
        io::stderr(),
        "worst overshoot (stalled server): ping {:?}, reset {:?}, query {:?}, close {:?}, connect {:?}",
        worst[0],
        worst[1],
        worst[2],
        worst[3],
        worst[4]
    );
}

#[test]
fn without_a_limit_ping_and_reset_use_the_managers_timeouts() {
    let Some((stall, m, mut c)) =
        through_stall("without_a_limit_ping_and_reset_use_the_managers_timeouts")
    else {
        return;
    };
    let m = m
        .ping_timeout(Duration::from_millis(200))
        .io_timeout(Duration::from_millis(250));
    stall.stall();
    let (r, _) = within("ping (no limit)", Duration::from_millis(200), || {
        m.ping(&mut c)
    });
    assert!(timed_out(&r), "{r:?}");
    let (r, _) = within("reset (no limit)", Duration::from_millis(250), || {
        m.reset(&mut c, ResetMode::Rollback)
    });
    assert!(timed_out(&r), "{r:?}");
    // A caller's limit shorter than the manager's own bound wins.
    let short = Duration::from_millis(50);
    let (r, _) = within("ping_within (shorter limit)", short, || {
        m.ping_within(&mut c, Some(short))
    });
    assert!(timed_out(&r), "{r:?}");
    m.close(c);
}

#[test]
fn a_timed_out_query_leaves_the_connection_usable_once_the_server_answers() {
    let Some((stall, _m, mut c)) =
        through_stall("a_timed_out_query_leaves_the_connection_usable_once_the_server_answers")
    else {
        return;
    };
    c.set_timeout(Some(Duration::from_millis(200)));
    stall.stall();
    assert!(timed_out(&c.query_one("SELECT 1", &[])));
    stall.stalled.store(false, Ordering::SeqCst);
    c.set_timeout(Some(Duration::from_secs(5)));
    // The late reply to the first query is read and dropped; this one gets its own.
    let n: i32 = c.query_one("SELECT $1::int", &[&9_i32]).unwrap().get(0);
    assert_eq!(n, 9);
}

// ---- Secrets ----

const SECRET: &str = "Tarn-Secret-9f3e7a";

#[test]
fn the_password_never_shows_in_debug_errors_or_a_checked_out_connection() {
    use tarn_pool::managers::postgres::tokio_postgres::Config;

    // In the URL, against a peer that never answers (a timeout error) and a closed port (an
    // I/O error).
    let mute = Mute::start();
    let url = format!(
        "postgres://postgres:{SECRET}@127.0.0.1:{}/test",
        mute.addr.port()
    );
    let m = PostgresManager::from_url(&url).unwrap();
    let mut shown = vec![format!("{m:?}")];
    let err = m
        .connect_within(Some(Duration::from_millis(100)))
        .unwrap_err();
    shown.push(format!("{err} | {err:?}"));
    let m = PostgresManager::from_url(&format!("postgres://postgres:{SECRET}@127.0.0.1:1/test"))
        .unwrap();
    let err = m.connect().unwrap_err();
    shown.push(format!("{err} | {err:?}"));
    // A malformed URL with the password in it.
    let err = PostgresManager::from_url(&format!("postgres://u:{SECRET}@h:port/db")).unwrap_err();
    shown.push(format!("{err} | {err:?}"));

    // In a `Config`.
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(1)
        .user("postgres")
        .password(SECRET)
        .dbname("test");
    let m = PostgresManager::new(config);
    shown.push(format!("{m:?}"));
    let err = m.connect().unwrap_err();
    shown.push(format!("{err} | {err:?}"));

    // A checked-out connection (trust auth accepts the password without using it).
    if admin("the_password_never_shows_in_debug_errors_or_a_checked_out_connection").is_some() {
        let addr = addr_of(&postgres_url()).to_owned();
        let m = PostgresManager::from_url(&format!("postgres://postgres:{SECRET}@{addr}/test"))
            .unwrap();
        let pool = tarn_pool::Pool::builder(m).pool_size(1).build().unwrap();
        let conn = pool.get().unwrap();
        shown.push(format!("{conn:?} | {:?} | {pool:?}", &*conn));
    }
    for s in &shown {
        assert!(!s.contains(SECRET), "the password leaked: {s}");
    }
    assert!(shown.len() >= 6);
}

// ---- The transaction-pooling mode against the server itself ----

use tarn_pool::managers::postgres::postgres::SimpleQueryMessage;
use tarn_pool::managers::postgres::StatementMode;

#[test]
fn transaction_pooling_mode_steps_over_statement_names_left_on_the_session() {
    let test = "transaction_pooling_mode_steps_over_statement_names_left_on_the_session";
    if admin(test).is_none() {
        return;
    }
    let m = PostgresManager::from_url(&postgres_url())
        .unwrap()
        .statement_mode(StatementMode::TransactionPooling);
    let mut c = m.connect().unwrap();
    // tokio-postgres names statements s0, s1, ... from one counter per process: take the
    // next two names on the session first, as a client in the default mode would leave
    // them on a server session behind PgBouncer.
    let st = c.with_client(|c| c.prepare("SELECT 1")).unwrap();
    let name = c
        .simple_query("SELECT name FROM pg_prepared_statements")
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("the statement just prepared");
    let n: usize = name[1..].parse().expect("statement names are s<number>");
    drop(st);
    c.batch_execute(&format!(
        "PREPARE s{} AS SELECT 1; PREPARE s{} AS SELECT 2",
        n + 1,
        n + 2
    ))
    .unwrap();
    let v: i32 = c.query_one("SELECT $1::int", &[&4_i32]).unwrap().get(0);
    assert_eq!(v, 4);
    // Nothing the mode prepared is left on the session: only the two taken above.
    let left: i64 = c
        .query_one("SELECT count(*) FROM pg_prepared_statements", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 2);
    m.close(c);
}

#[test]
fn transaction_pooling_mode_leaves_no_statement_on_the_session() {
    let test = "transaction_pooling_mode_leaves_no_statement_on_the_session";
    if admin(test).is_none() {
        return;
    }
    let m = PostgresManager::from_url(&postgres_url())
        .unwrap()
        .statement_mode(StatementMode::TransactionPooling);
    let mut c = m.connect().unwrap();
    let st = c.prepare("SELECT $1::int + 1").unwrap();
    let mut tx = c.transaction().unwrap();
    let inner = tx.prepare("SELECT $1::text").unwrap();
    let s: String = tx.query_one(&inner, &[&"x"]).unwrap().get(0);
    tx.commit().unwrap();
    let n: i32 = c.query_one(&st, &[&1_i32]).unwrap().get(0);
    assert_eq!((n, s.as_str()), (2, "x"));
    assert_eq!(c.execute("SELECT $1::int", &[&1_i32]).unwrap(), 1);
    let left: i64 = c
        .query_one("SELECT count(*) FROM pg_prepared_statements", &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "named statements outlived their transaction");
    // The default mode keeps a prepared statement on the session: the check has teeth.
    let named = PostgresManager::from_url(&postgres_url()).unwrap();
    let mut d = named.connect().unwrap();
    let _kept = d.prepare("SELECT $1::int + 1").unwrap();
    let kept = d
        .simple_query("SELECT count(*) FROM pg_prepared_statements")
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        });
    assert_eq!(kept.as_deref(), Some("1"));
    m.close(c);
    named.close(d);
}
