//! No password anywhere a caller can reach: every manager built from a URL with a
//! distinctive password, and every `Debug`, `Display` and error string it, its pool and its
//! connections produce (connect errors against a closed port, a listener that never
//! answers, the real server refusing the password; a checked-out MariaDB connection of a
//! user that has that password), must not contain it, in plain or percent-encoded form.
//!
//! Under `CI=true` an unreachable server fails the parts that need it; elsewhere they
//! print why they skipped.
#![cfg(feature = "servers")]

use std::fmt::Debug;
use std::time::Duration;

use tarn_pool::managers::mysql::mysql::prelude::Queryable;
use tarn_pool::managers::{MysqlManager, PostgresManager, RedisManager, SqliteManager};
use tarn_pool::{Manager, Pool};
use tarn_tests::proxy::Hung;
use tarn_tests::server::{self, addr_of, mysql_url, redis_url};
use tarn_tests::unique_name;

/// The password every URL carries.
const SECRET: &str = "tarnSecret42pw";
/// The same with characters a URL must percent-encode: `tarn/Secret?42#pw`.
const SECRET_ENCODED: &str = "tarn%2FSecret%3F42%23pw";
const SECRET_DECODED: &str = "tarn/Secret?42#pw";

const LIMIT: Duration = Duration::from_millis(300);

/// Every string checked, with where it came from.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn debug(&mut self, what: &str, v: &impl Debug) {
        self.0.push((format!("{what} Debug"), format!("{v:?}")));
        self.0
            .push((format!("{what} Debug (alternate)"), format!("{v:#?}")));
    }

    fn error(&mut self, what: &str, e: &(dyn std::error::Error + 'static)) {
        self.0.push((format!("{what} Display"), e.to_string()));
        self.0.push((format!("{what} Debug"), format!("{e:?}")));
        self.0
            .push((format!("{what} with causes"), server::with_causes(e)));
    }

    fn text(&mut self, what: &str, s: &str) {
        self.0.push((what.to_owned(), s.to_owned()));
    }

    fn check(&self) {
        for (what, s) in &self.0 {
            for secret in [
                SECRET,
                SECRET_ENCODED,
                SECRET_DECODED,
                "Secret42",
                "Secret%3F42",
            ] {
                assert!(!s.contains(secret), "{what} shows the password: {s}");
            }
        }
        eprintln!(
            "SECRETS: {} strings checked, none shows the password",
            self.0.len()
        );
    }
}

fn host_port(url: &str) -> (String, u16) {
    let addr = addr_of(url);
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("a port"))
}

#[test]
fn no_manager_shows_a_password_in_any_string() {
    let mut seen = Seen::default();
    let hung = Hung::start().unwrap();
    mysql_strings(&mut seen, hung.port());
    redis_strings(&mut seen, hung.port());
    postgres_strings(&mut seen);
    sqlite_strings(&mut seen);
    seen.check();
}

fn mysql_strings(seen: &mut Seen, hung: u16) {
    for secret in [SECRET, SECRET_ENCODED] {
        let url = format!("mysql://app:{secret}@127.0.0.1:1/test?prefer_socket=false");
        let m = MysqlManager::from_url(&url).unwrap();
        seen.debug("MysqlManager", &m);
        seen.debug("MysqlManager::opts()", m.opts());
        if secret == SECRET {
            // What the wrappers are for: the driver's own options print the password.
            assert!(format!("{:?}", **m.opts()).contains(SECRET));
        }
        seen.text("MysqlManager::target()", m.target());
        let err = m.connect().unwrap_err();
        seen.error("MariaDB connect error (refused)", &err);
        let pool = Pool::builder(m).logging_name(url.as_str()).build().unwrap();
        seen.text("MariaDB pool logging_name", pool.logging_name());
        seen.debug("MariaDB pool", &pool);
        let Err(err) = pool.get_timeout(LIMIT) else {
            panic!("nothing listens on port 1");
        };
        seen.error("MariaDB pool checkout error", &err);

        let m = MysqlManager::from_url(&format!(
            "mysql://app:{secret}@127.0.0.1:{hung}/test?prefer_socket=false"
        ))
        .unwrap();
        let err = m.connect_within(Some(LIMIT)).unwrap_err();
        seen.error("MariaDB connect_within error (hung)", &err);
    }
    if let Some(()) = server::require(
        "no_manager_shows_a_password_in_any_string",
        "MariaDB",
        addr_of(&mysql_url()),
        || MysqlManager::from_url(&mysql_url())?.connect().map(drop),
    ) {
        mysql_server_strings(seen);
    }
}

/// Against the real server: a refused password, then a user that has it.
fn mysql_server_strings(seen: &mut Seen) {
    let (host, port) = host_port(&mysql_url());
    let root = MysqlManager::from_url(&mysql_url()).unwrap();
    let mut admin = root.connect().unwrap();
    let user = unique_name("tarn_pw");
    let wrong = MysqlManager::from_url(&format!(
        "mysql://{user}:{SECRET}@{host}:{port}/test?prefer_socket=false"
    ))
    .unwrap();
    let err = wrong.connect().unwrap_err();
    seen.error("MariaDB connect error (access denied)", &err);

    admin
        .query_drop(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{SECRET_DECODED}'"
        ))
        .expect("create a user with a password");
    admin
        .query_drop(format!(
            "CREATE USER '{user}'@'localhost' IDENTIFIED BY '{SECRET_DECODED}'"
        ))
        .expect("create a user with a password");
    let url = format!("mysql://{user}:{SECRET_ENCODED}@{host}:{port}/?prefer_socket=false");
    let outcome = std::panic::catch_unwind(|| {
        let mut seen = Seen::default();
        let m = MysqlManager::from_url(&url).unwrap();
        let pool = Pool::builder(m).pool_size(1).build().unwrap();
        let mut conn = pool.get().expect("the user with the password connects");
        let one: Option<i64> = conn.query_first("SELECT 1").unwrap();
        assert_eq!(one, Some(1));
        seen.debug("a checked-out MariaDB connection", &conn);
        seen.debug("a MysqlConnection", &*conn);
        let raw = format!("{:?}", conn.get_ref().expect("open"));
        assert!(
            raw.contains(SECRET_DECODED),
            "the driver's Conn Debug prints the password: why MysqlConnection wraps it"
        );
        let err = conn.query_drop("SELEC 1").unwrap_err();
        seen.error("MariaDB query error", &err);
        seen.debug("MariaDB pool with a connection out", &pool);
        drop(conn);
        seen
    });
    for host in ["%", "localhost"] {
        let _ = admin.query_drop(format!("DROP USER IF EXISTS '{user}'@'{host}'"));
    }
    match outcome {
        Ok(inner) => seen.0.extend(inner.0),
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn redis_strings(seen: &mut Seen, hung: u16) {
    for secret in [SECRET, SECRET_ENCODED] {
        let url = format!("redis://app:{secret}@127.0.0.1:1/0");
        let m = RedisManager::from_url(&url).unwrap();
        seen.debug("RedisManager", &m);
        let Err(err) = m.connect() else {
            panic!("nothing listens on port 1");
        };
        seen.error("Redis connect error (refused)", &err);
        let pool = Pool::builder(m).logging_name(url.as_str()).build().unwrap();
        seen.text("Redis pool logging_name", pool.logging_name());
        seen.debug("Redis pool", &pool);

        let m =
            RedisManager::from_url(&format!("redis://app:{secret}@127.0.0.1:{hung}/0")).unwrap();
        let Err(err) = m.connect_within(Some(LIMIT)) else {
            panic!("the hung listener never answers");
        };
        seen.error("Redis connect_within error (hung)", &err);
    }
    let Err(err) = RedisManager::from_url(&format!("redis://app:{SECRET}@127.0.0.1:notaport/0"))
    else {
        panic!("a bad port");
    };
    seen.error("Redis URL error", &err);

    if let Some(()) = server::require(
        "no_manager_shows_a_password_in_any_string",
        "Redis",
        addr_of(&redis_url()),
        || RedisManager::from_url(&redis_url())?.connect().map(drop),
    ) {
        let (host, port) = host_port(&redis_url());
        let m = RedisManager::from_url(&format!("redis://app:{SECRET}@{host}:{port}/0")).unwrap();
        let Err(err) = m.connect() else {
            panic!("the server knows no user app");
        };
        seen.error("Redis connect error (AUTH refused)", &err);
    }
}

fn postgres_strings(seen: &mut Seen) {
    let m =
        PostgresManager::from_url(&format!("postgres://app:{SECRET}@127.0.0.1:1/test")).unwrap();
    seen.debug("PostgresManager", &m);
    let Err(err) = m.connect() else {
        panic!("nothing listens on port 1");
    };
    seen.error("PostgreSQL connect error (refused)", &err);
}

fn sqlite_strings(seen: &mut Seen) {
    let err = SqliteManager::from_url(&format!("postgres://app:{SECRET}@db/x")).unwrap_err();
    seen.error("SqliteUrlError", &err);
    let m = SqliteManager::from_url("sqlite::memory:").unwrap();
    seen.debug("SqliteManager", &m);
}
