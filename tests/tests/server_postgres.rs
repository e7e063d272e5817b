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
    fn session_id(c: &mut Client) -> Result<i64, postgres::Error> {
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
    fn probe(c: &mut Client) -> Result<(), postgres::Error> {
        c.batch_execute("SELECT 1")
    }
    fn echo(c: &mut Client, i: i32) {
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
    fn exec(c: &mut Client, sql: &str) {
        c.batch_execute(sql).unwrap();
    }
    fn in_transaction(c: &mut Client) -> bool {
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
