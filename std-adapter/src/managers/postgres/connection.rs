//! [`PgConnection`]: a synchronous PostgreSQL connection whose every call has a deadline.
//!
//! It is a [`tokio_postgres::Client`] and its connection task, driven on the calling thread
//! by a current-thread tokio runtime of its own (as the `postgres` crate does), over a TCP
//! socket the manager opened. Each call polls the request, the connection and a tokio timer
//! together; when the timer fires first the call returns [`PgError::TimedOut`] and nothing
//! is left running: the request's reply, if it ever comes, is read and dropped by the next
//! call, because tokio-postgres matches replies to requests in order and discards those
//! whose caller went away. That is why a timeout here is sound where a blocking socket read
//! without one is not.

use std::collections::HashMap;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{AsyncMessage, Client, Row, SimpleQueryMessage};

use super::error::PgError;
use super::statement::{PgQuery, PgStatement, StatementMode};
use super::transaction::PgTransaction;

/// The raw connection task tokio-postgres hands back with a client.
type Task = tokio_postgres::Connection<TcpStream, NoTlsStream>;

/// The most SQL texts whose parameter types a connection remembers in
/// [`StatementMode::TransactionPooling`]; the memo is cleared when it is full.
const TYPE_MEMO_LIMIT: usize = 256;

/// A synchronous PostgreSQL connection, handed out by
/// [`PostgresManager`](super::PostgresManager).
///
/// Its methods mirror the `postgres` crate's `Client`. Each one returns within the
/// connection's [`timeout`](PgConnection::set_timeout) (none unless the manager's
/// `query_timeout` set one): a server or proxy that stops answering makes it fail with
/// [`PgError::TimedOut`] instead of blocking the thread. For anything not mirrored here,
/// [`with_client`](PgConnection::with_client) runs a tokio-postgres future under the same
/// deadline. Notifications (`LISTEN`) and `COPY` are not offered.
///
/// Like the `postgres` crate's client, it runs its own tokio runtime on the calling
/// thread, so it must not be used from inside another tokio runtime's task (tokio panics:
/// "Cannot start a runtime from within a runtime"; the pool turns a panic in its own calls
/// into `Error::Panicked`). From async code, use it inside `spawn_blocking`.
///
/// # Examples
///
/// ```no_run
/// use tarn_pool::managers::PostgresManager;
/// use tarn_pool::Pool;
///
/// let pool = Pool::builder(PostgresManager::from_url("postgres://postgres@127.0.0.1/test")?)
///     .build()?;
/// let mut conn = pool.get()?;
/// let mut tx = conn.transaction()?;
/// tx.execute("CREATE TEMP TABLE t (v int)", &[])?;
/// tx.execute("INSERT INTO t VALUES ($1)", &[&7_i32])?;
/// let v: i32 = tx.query_one("SELECT v FROM t", &[])?.get(0);
/// tx.commit()?;
/// assert_eq!(v, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PgConnection {
    runtime: Runtime,
    client: Client,
    task: Task,
    mode: StatementMode,
    timeout: Option<Duration>,
    /// Inside [`PgConnection::transaction`]: describing a statement needs no transaction
    /// of its own.
    pub(super) in_transaction: bool,
    /// Parameter types per SQL text ([`StatementMode::TransactionPooling`] only).
    types: HashMap<String, Vec<Type>>,
    /// `host:port/dbname as user`, for messages; never the password.
    target: String,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("target", &self.target)
            .field("mode", &self.mode)
            .field("timeout", &self.timeout)
            .field("closed", &self.client.is_closed())
            .finish_non_exhaustive()
    }
}

impl PgConnection {
    pub(super) fn new(
        runtime: Runtime,
        client: Client,
        task: Task,
        mode: StatementMode,
        timeout: Option<Duration>,
        target: String,
    ) -> Self {
        PgConnection {
            runtime,
            client,
            task,
            mode,
            timeout,
            in_transaction: false,
            types: HashMap::new(),
            target,
        }
    }

    /// The statement mode the connection was opened with.
    pub fn statement_mode(&self) -> StatementMode {
        self.mode
    }

    /// Bounds every later call on this connection by `timeout` (`None`: unbounded). The
    /// pool's own calls (pre-ping, reset on return) use their own limits.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The bound of each call, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether the connection to the server has closed; a closed connection only fails.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs `f`'s tokio-postgres future under the connection's timeout, for the parts of
    /// tokio-postgres's API not mirrored here. In [`StatementMode::TransactionPooling`] the
    /// future must not use named statements across transactions.
    ///
    /// # Errors
    ///
    /// The future's error, or [`PgError::TimedOut`].
    pub fn with_client<'c, F, T>(
        &'c mut self,
        f: impl FnOnce(&'c Client) -> F,
    ) -> Result<T, PgError>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let limit = self.timeout;
        let fut = f(&self.client);
        drive(&self.runtime, &mut self.task, limit, "query", fut)
    }

    /// Sends `sql` (one or more statements separated by `;`) with the simple query protocol.
    ///
    /// # Errors
    ///
    /// The server's or driver's error, or [`PgError::TimedOut`].
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        self.run_within(self.timeout, "query", |c| c.batch_execute(sql))
    }

    /// Sends `sql` with the simple query protocol and returns its messages (rows as text).
    ///
    /// # Errors
    ///
    /// The server's or driver's error, or [`PgError::TimedOut`].
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, PgError> {
        self.run_within(self.timeout, "query", |c| c.simple_query(sql))
    }

    /// Prepares `sql`. In [`StatementMode::Named`] the statement lives on the server
    /// session until the returned value (and its clones) are dropped; in
    /// [`StatementMode::TransactionPooling`] nothing stays on the server.
    ///
    /// # Errors
    ///
    /// The server's or driver's error (a syntax error, say), or [`PgError::TimedOut`].
    pub fn prepare(&mut self, sql: &str) -> Result<PgStatement, PgError> {
        match self.mode {
            StatementMode::Named => {
                let st = self.run_within(self.timeout, "prepare", |c| c.prepare(sql))?;
                Ok(PgStatement {
                    sql: sql.to_owned(),
                    params: st.params().to_vec(),
                    columns: columns_of(&st),
                    named: Some(st),
                })
            }
            StatementMode::TransactionPooling => {
                let (params, columns) = self.describe(sql)?;
                self.remember(sql, &params);
                Ok(PgStatement {
                    sql: sql.to_owned(),
                    params,
                    columns,
                    named: None,
                })
            }
        }
    }

    /// Runs a statement and returns its rows.
    ///
    /// # Errors
    ///
    /// The server's or driver's error (a wrong parameter count or type included), or
    /// [`PgError::TimedOut`].
    pub fn query<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        let limit = self.timeout;
        if let Some(st) = query.statement().and_then(|s| s.named.clone()) {
            return self.run_within(
                limit,
                "query",
                |c| async move { c.query(&st, params).await },
            );
        }
        if self.mode == StatementMode::Named {
            let sql = query.sql();
            return self.run_within(limit, "query", |c| c.query(sql, params));
        }
        let typed = self.typed(query, params)?;
        let sql = query.sql();
        self.run_within(limit, "query", |c| async move {
            c.query_typed(sql, &typed).await
        })
    }

    /// Runs a statement that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As [`query`](PgConnection::query), and [`PgError::RowCount`] when the statement
    /// returned no row or more than one.
    pub fn query_one<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, PgError> {
        let mut rows = self.query(query, params)?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(PgError::RowCount {
                expected: "one",
                got: n,
            }),
        }
    }

    /// Runs a statement that returns at most one row.
    ///
    /// # Errors
    ///
    /// As [`query`](PgConnection::query), and [`PgError::RowCount`] for more than one row.
    pub fn query_opt<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        let mut rows = self.query(query, params)?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows.remove(0))),
            n => Err(PgError::RowCount {
                expected: "at most one",
                got: n,
            }),
        }
    }

    /// Runs a statement with explicitly typed parameters, as one unnamed round trip in
    /// either mode.
    ///
    /// # Errors
    ///
    /// The server's or driver's error, or [`PgError::TimedOut`].
    pub fn query_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, PgError> {
        self.run_within(self.timeout, "query", |c| c.query_typed(sql, params))
    }

    /// Runs a statement and returns how many rows it changed.
    ///
    /// # Errors
    ///
    /// As [`query`](PgConnection::query).
    pub fn execute<Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError> {
        let limit = self.timeout;
        if let Some(st) = query.statement().and_then(|s| s.named.clone()) {
            return self.run_within(
                limit,
                "query",
                |c| async move { c.execute(&st, params).await },
            );
        }
        if self.mode == StatementMode::Named {
            let sql = query.sql();
            return self.run_within(limit, "query", |c| c.execute(sql, params));
        }
        let typed = self.typed(query, params)?;
        let sql = query.sql();
        self.run_within(limit, "query", |c| async move {
            c.execute_typed(sql, &typed).await
        })
    }

    /// Begins a transaction; it rolls back when dropped unless committed.
    ///
    /// # Errors
    ///
    /// The server's or driver's error, or [`PgError::TimedOut`].
    pub fn transaction(&mut self) -> Result<PgTransaction<'_>, PgError> {
        self.batch_execute("BEGIN")?;
        self.in_transaction = true;
        Ok(PgTransaction::new(self))
    }

    /// Runs `f`'s request under `limit`, the pool's calls and the user's alike.
    pub(super) fn run_within<'c, F, T>(
        &'c mut self,
        limit: Option<Duration>,
        what: &'static str,
        f: impl FnOnce(&'c Client) -> F,
    ) -> Result<T, PgError>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let fut = f(&self.client);
        drive(&self.runtime, &mut self.task, limit, what, fut)
    }

    /// `params` paired with the types of `query`'s parameters
    /// ([`StatementMode::TransactionPooling`]).
    fn typed<'p, Q: PgQuery + ?Sized>(
        &mut self,
        query: &Q,
        params: &[&'p (dyn ToSql + Sync)],
    ) -> Result<Vec<(&'p (dyn ToSql + Sync), Type)>, PgError> {
        let types = match query.statement() {
            Some(st) => st.params.clone(),
            // Nothing to type: the server reports a missing parameter itself.
            None if params.is_empty() => Vec::new(),
            None => self.param_types(query.sql())?,
        };
        if types.len() != params.len() {
            return Err(PgError::Parameters {
                expected: types.len(),
                given: params.len(),
            });
        }
        Ok(params.iter().copied().zip(types).collect())
    }

    /// Parameter types of `sql`, learned once ([`StatementMode::TransactionPooling`]).
    fn param_types(&mut self, sql: &str) -> Result<Vec<Type>, PgError> {
        if let Some(t) = self.types.get(sql) {
            return Ok(t.clone());
        }
        let (params, _) = self.describe(sql)?;
        self.remember(sql, &params);
        Ok(params)
    }

    fn remember(&mut self, sql: &str, params: &[Type]) {
        if self.types.len() >= TYPE_MEMO_LIMIT {
            self.types.clear();
        }
        self.types.insert(sql.to_owned(), params.to_vec());
    }

    /// Prepares `sql` and closes it again within one transaction, so that behind
    /// transaction pooling the Parse, the Describe and the Close reach the same server
    /// session. tokio-postgres sends the Close when the statement is dropped, before any
    /// later request, so dropping it before `COMMIT` keeps it inside.
    ///
    /// A server session PgBouncer hands out may still hold a statement another client left
    /// behind under the same name (`42P05`); in a transaction of its own the describe is
    /// then retried, with the next name, a few times.
    fn describe(&mut self, sql: &str) -> Result<(Vec<Type>, Vec<(String, Type)>), PgError> {
        const ATTEMPTS: usize = 4;
        let limit = self.timeout;
        let own = !self.in_transaction;
        self.run_within(limit, "prepare", |c| async move {
            let mut attempt = 0;
            loop {
                attempt += 1;
                if own {
                    c.batch_execute("BEGIN").await?;
                }
                let described = c
                    .prepare(sql)
                    .await
                    .map(|st| (st.params().to_vec(), columns_of(&st)));
                if own {
                    match &described {
                        Ok(_) => c.batch_execute("COMMIT").await?,
                        Err(_) => c.batch_execute("ROLLBACK").await?,
                    }
                }
                match described {
                    Err(e)
                        if own
                            && attempt < ATTEMPTS
                            && e.code() == Some(&SqlState::DUPLICATE_PSTATEMENT) => {}
                    other => return other,
                }
            }
        })
    }

    /// Closes the connection without waiting on the server: one poll that writes
    /// `Terminate` if the socket takes it at once, then the socket is closed.
    pub(super) fn close_now(self) {
        let PgConnection {
            runtime,
            client,
            mut task,
            ..
        } = self;
        drop(client);
        {
            let _entered = runtime.enter();
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..4 {
                match task.poll_message(&mut cx) {
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(_)) | None) | Poll::Pending => break,
                }
            }
        }
        drop(task);
        // The runtime holds no task: dropping it does not wait on anything.
        drop(runtime);
    }
}

/// Polls `fut` and the connection `task` until `fut` completes, the connection fails, or
/// `limit` passes.
pub(super) fn drive<F, T>(
    runtime: &Runtime,
    task: &mut Task,
    limit: Option<Duration>,
    what: &'static str,
    fut: F,
) -> Result<T, PgError>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    runtime.block_on(async {
        let mut fut = pin!(fut);
        let mut timer = pin!(limit.map(tokio::time::sleep));
        poll_fn(|cx| {
            loop {
                match task.poll_message(cx) {
                    Poll::Ready(Some(Ok(AsyncMessage::Notice(n)))) => {
                        tracing::debug!("PostgreSQL {}: {}", n.severity(), n.message());
                    }
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(PgError::Driver(e))),
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }
            if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(PgError::Driver));
            }
            if let Some(t) = timer.as_mut().as_pin_mut() {
                if t.poll(cx).is_ready() {
                    return Poll::Ready(Err(PgError::TimedOut {
                        what,
                        after: limit.unwrap_or_default(),
                    }));
                }
            }
            Poll::Pending
        })
        .await
    })
}

fn columns_of(st: &tokio_postgres::Statement) -> Vec<(String, Type)> {
    st.columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.type_().clone()))
        .collect()
}
