//! [`PgTransaction`]: a transaction on a [`PgConnection`] that rolls back unless committed.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connection::PgConnection;
use super::error::PgError;
use super::statement::{PgQuery, PgStatement};

/// A transaction on a [`PgConnection`]; rolls back on drop unless committed.
///
/// # Examples
///
/// ```no_run
/// # use tarn_pool::managers::PostgresManager;
/// # use tarn_pool::Pool;
/// # let pool = Pool::builder(PostgresManager::from_url("postgres://postgres@127.0.0.1/test")?).build()?;
/// let mut conn = pool.get()?;
/// let mut tx = conn.transaction()?;
/// tx.batch_execute("CREATE TEMP TABLE t (v int)")?;
/// tx.rollback()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PgTransaction<'a> {
    conn: &'a mut PgConnection,
    done: bool,
}

impl<'a> PgTransaction<'a> {
    /// Wraps `conn`, on which `BEGIN` has just succeeded.
    pub(super) fn new(conn: &'a mut PgConnection) -> Self {
        PgTransaction { conn, done: false }
    }

    /// As [`PgConnection::batch_execute`].
    ///
    /// # Errors
    ///
    /// As [`PgConnection::batch_execute`].
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        self.conn.batch_execute(sql)
    }

    /// As [`PgConnection::prepare`]: the statement is usable for the life of the
    /// connection, in this transaction and later ones.
    ///
    /// # Errors
    ///
    /// As [`PgConnection::prepare`].
    pub fn prepare(&mut self, sql: &str) -> Result<PgStatement, PgError> {
        self.conn.prepare(sql)
    }

    /// As [`PgConnection::query`].
    ///
    /// # Errors
    ///
    /// As [`PgConnection::query`].
    pub fn query<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        self.conn.query(query, params)
    }

    /// As [`PgConnection::query_one`].
    ///
    /// # Errors
    ///
    /// As [`PgConnection::query_one`].
    pub fn query_one<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, PgError> {
        self.conn.query_one(query, params)
    }

    /// As [`PgConnection::query_opt`].
    ///
    /// # Errors
    ///
    /// As [`PgConnection::query_opt`].
    pub fn query_opt<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        self.conn.query_opt(query, params)
    }

    /// As [`PgConnection::execute`].
    ///
    /// # Errors
    ///
    /// As [`PgConnection::execute`].
    pub fn execute<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError> {
        self.conn.execute(query, params)
    }

    /// Commits the transaction.
    ///
    /// # Errors
    ///
    /// The server's or driver's error, or [`PgError::TimedOut`]; the transaction is over
    /// either way (the reset on return rolls back whatever is left).
    pub fn commit(mut self) -> Result<(), PgError> {
        self.finish("COMMIT")
    }

    /// Rolls the transaction back.
    ///
    /// # Errors
    ///
    /// As [`commit`](PgTransaction::commit).
    pub fn rollback(mut self) -> Result<(), PgError> {
        self.finish("ROLLBACK")
    }

    fn finish(&mut self, sql: &str) -> Result<(), PgError> {
        self.done = true;
        self.conn.in_transaction = false;
        self.conn.batch_execute(sql)
    }
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Bounded by the connection's timeout, else the manager's I/O timeout (a drop
            // never hangs); a failure leaves the transaction to the pool's reset on return
            // (or to the server, when the connection is gone).
            self.done = true;
            self.conn.in_transaction = false;
            let limit = self
                .conn
                .timeout()
                .or(Some(super::PostgresManager::DEFAULT_IO_TIMEOUT));
            let _ = self
                .conn
                .run_within(limit, "query", |c| c.batch_execute("ROLLBACK"));
        }
    }
}
