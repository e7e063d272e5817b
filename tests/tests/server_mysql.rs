//! Against the MariaDB server of this machine (127.0.0.1:3306, root with an empty password,
//! database `test`): reset on return really ends transactions and releases row locks, a session
//! killed on the server is detected, an outage fails checkouts clearly and the pool
//! recovers, and no session leaks.
//!
//! Under `CI=true` an unreachable server fails these tests; elsewhere they print why they
//! skipped. They create only tables named `tarn_my_<pid>_<n>` and drop them.
#![cfg(feature = "servers")]

use std::time::Duration;

use tarn_pool::managers::mysql::mysql::{self, prelude::Queryable, Conn as Client};
use tarn_pool::managers::mysql::MysqlConnection;
use tarn_pool::managers::MysqlManager;
use tarn_tests::live::{self, LiveServer, SqlServer};
use tarn_tests::server::{self, addr_of, mysql_url};
use tarn_tests::sessions::Tracked;
use tarn_tests::unique_name;
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

fn session_id(c: &mut MysqlConnection) -> Result<i64, mysql::Error> {
    c.query_drop(TIMEOUTS)?;
    let id: Option<i64> = c.query_first("SELECT CONNECTION_ID()")?;
    Ok(id.unwrap_or(-1))
}

fn manager(url: &str) -> Tracked<MysqlManager> {
    Tracked::new(MysqlManager::from_url(url).expect("valid URL"), session_id)
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

#[test]
fn rollback_on_return_releases_row_locks_and_discards_the_write() {
    live::rollback_on_return_releases_row_locks_and_discards_the_write::<Mariadb>(
        "rollback_on_return_releases_row_locks_and_discards_the_write",
    );
}

#[test]
fn commit_on_return_persists_the_write() {
    live::commit_on_return_persists_the_write::<Mariadb>("commit_on_return_persists_the_write");
}

#[test]
fn none_on_return_leaves_the_transaction_open() {
    live::none_on_return_leaves_the_transaction_open::<Mariadb>(
        "none_on_return_leaves_the_transaction_open",
    );
}

struct Mariadb;

impl LiveServer for Mariadb {
    const NAME: &'static str = "MariaDB";
    type Driver = MysqlManager;
    type Admin = Client;

    fn url() -> String {
        mysql_url()
    }
    fn url_through(port: u16) -> String {
        // `prefer_socket=false`: the driver would otherwise switch to the local Unix socket
        // and bypass the proxy.
        format!(
            "mysql://root@127.0.0.1:{port}/test?prefer_socket=false&tcp_connect_timeout_ms=2000"
        )
    }
    fn admin(test: &str) -> Option<Client> {
        admin(test)
    }
    fn manager(url: &str) -> Tracked<MysqlManager> {
        manager(url)
    }
    fn session_id(c: &mut MysqlConnection) -> Result<i64, mysql::Error> {
        session_id(c)
    }
    fn live_sessions(admin: &mut Client, ids: &[i64]) -> usize {
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
        n.unwrap_or(0) as usize
    }
    fn all_sessions(admin: &mut Client) -> usize {
        let n: Option<i64> = admin
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon'",
            )
            .expect("PROCESSLIST");
        n.unwrap_or(0) as usize
    }
    fn kill(admin: &mut Client, id: i64) {
        admin.query_drop(format!("KILL {id}")).expect("KILL");
    }
    fn probe(c: &mut MysqlConnection) -> Result<(), mysql::Error> {
        c.query_drop("SELECT 1")
    }
    fn echo(c: &mut MysqlConnection, i: i32) {
        let n: Option<i32> = c.exec_first("SELECT ?", (i,)).unwrap();
        assert_eq!(n, Some(i));
    }
}

impl SqlServer for Mariadb {
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
    fn exec(c: &mut MysqlConnection, sql: &str) {
        c.query_drop(sql).unwrap();
    }
    fn in_transaction(c: &mut MysqlConnection) -> bool {
        let in_tx: Option<i64> = c.query_first("SELECT @@in_transaction").unwrap();
        in_tx == Some(1)
    }
}

#[test]
fn a_killed_session_is_replaced_unseen_with_pre_ping() {
    live::killed_session_is_replaced_unseen_with_pre_ping::<Mariadb>(
        "a_killed_session_is_replaced_unseen_with_pre_ping",
    );
}

#[test]
fn a_killed_session_is_a_disconnect_without_pre_ping() {
    live::killed_session_is_a_disconnect_without_pre_ping::<Mariadb>(
        "a_killed_session_is_a_disconnect_without_pre_ping",
    );
}

#[test]
fn an_outage_fails_checkouts_clearly_and_the_same_pool_recovers() {
    live::outage_fails_checkouts_clearly_and_the_same_pool_recovers::<Mariadb>(
        "an_outage_fails_checkouts_clearly_and_the_same_pool_recovers",
    );
}

#[test]
fn server_sessions_match_the_pool_and_none_survive_dispose() {
    live::sessions_match_the_pool_and_none_survive_dispose::<Mariadb>(
        "server_sessions_match_the_pool_and_none_survive_dispose",
    );
}
