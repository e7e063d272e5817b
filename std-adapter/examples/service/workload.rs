//! What the job asks of a database, and its implementation for each supported one.

use std::error::Error as StdError;
use std::fmt::Write as _;

use tarn_pool::Manager;

/// What the workload needs from a database, on one connection.
pub(crate) trait Workload: Manager + Send + Sync + Sized + 'static
where
    Self::Connection: Send + 'static,
    Self::Error: StdError + Send + Sync + 'static,
{
    /// Creates the accounts (each with 1000) and the ledger.
    fn setup(c: &mut Self::Connection, t: &Names, accounts: i64) -> Result<(), Self::Error>;
    /// Reads one account's balance.
    fn read_balance(c: &mut Self::Connection, t: &Names, id: i64) -> Result<(), Self::Error>;
    /// Reads the last ten ledger entries of one account.
    fn read_ledger(c: &mut Self::Connection, t: &Names, id: i64) -> Result<(), Self::Error>;
    /// Moves `amount` from one account to another and records it, in one transaction.
    fn transfer(
        c: &mut Self::Connection,
        t: &Names,
        from: i64,
        to: i64,
        amount: i64,
    ) -> Result<(), Self::Error>;
    /// The sum of all balances.
    fn total(c: &mut Self::Connection, t: &Names) -> Result<i64, Self::Error>;
    /// Drops what `setup` created.
    fn teardown(c: &mut Self::Connection, t: &Names) -> Result<(), Self::Error>;
}

/// Table (or key) names, unique per process so runs never collide.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) accounts: String,
    pub(crate) ledger: String,
}

impl Names {
    pub(crate) fn new() -> Names {
        let pid = std::process::id();
        Names {
            accounts: format!("tarn_service_accounts_{pid}"),
            ledger: format!("tarn_service_ledger_{pid}"),
        }
    }
}

/// `INSERT INTO accounts VALUES (1, 1000), (2, 1000), ...` in chunks of 500 rows.
fn account_inserts(t: &Names, accounts: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 1;
    while start <= accounts {
        let end = (start + 499).min(accounts);
        let mut sql = format!("INSERT INTO {} (id, balance) VALUES ", t.accounts);
        for id in start..=end {
            let sep = if id == end { "" } else { "," };
            let _ = write!(sql, "({id}, 1000){sep}");
        }
        out.push(sql);
        start = end + 1;
    }
    out
}

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
