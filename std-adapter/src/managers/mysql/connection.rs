//! [`MysqlConnection`]: the connection a [`MysqlManager`](super::MysqlManager) hands out, and
//! how a driver call on it is bounded by the caller's deadline.
//!
//! The driver sets a socket's read and write timeouts once, when it connects, and offers no
//! way to change them afterwards (and this crate reaches no socket through `unsafe`). A call
//! that must end sooner than those timeouts therefore runs on a short-lived helper thread
//! that owns the connection while the caller waits at most its limit. When the limit passes
//! first, the caller gets a timeout error and the connection stays with the helper, which
//! closes it (once) as soon as the driver gives up, at most one socket timeout later; the
//! `MysqlConnection` left behind is closed for good and fails every call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mysql::prelude::{AsStatement, Queryable};
use mysql::{Binary, Conn, Params, QueryResult, Statement, Text, Transaction, TxOpts};

use crate::managers::deadline::on_helper;

/// A MariaDB/MySQL connection from a [`MysqlManager`](super::MysqlManager): the driver's
/// [`Conn`] with a `Debug` that shows the session, never the password.
///
/// It implements the driver's [`Queryable`], so queries run on it directly; anything else
/// of the driver's `Conn` is one [`get_mut`](Self::get_mut) away.
///
/// Why a wrapper: the driver's own `Conn` prints its options, password included, in
/// `Debug`, and a pooled connection's `Debug` shows the connection. This type shows the
/// server's connection id, the server version and the target (`host:port/db as user`).
///
/// A connection the manager gave up on (a ping or reset that ran out of time:
/// see the [module docs](super)) is closed: every call on it returns an error.
///
/// # Examples
///
/// ```no_run
/// use tarn_pool::managers::MysqlManager;
/// use tarn_pool::managers::mysql::mysql::prelude::Queryable;
/// use tarn_pool::Pool;
///
/// let pool = Pool::builder(MysqlManager::from_url("mysql://app:s3cret@127.0.0.1:3306/test")?).build()?;
/// let mut conn = pool.get()?;
/// let one: Option<i64> = conn.query_first("SELECT 1")?;
/// assert_eq!(one, Some(1));
/// assert!(!format!("{:?}", *conn).contains("s3cret"));
/// println!("session {}", conn.get_mut()?.connection_id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MysqlConnection {
    conn: Option<Conn>,
    target: Arc<str>,
}

// Manual impl: the driver's `Conn` Debug prints its options, password included.
impl fmt::Debug for MysqlConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MysqlConnection");
        d.field("target", &&*self.target);
        match &self.conn {
            Some(c) => d
                .field("connection_id", &c.connection_id())
                .field("server_version", &c.server_version()),
            None => d.field("closed", &true),
        };
        d.finish_non_exhaustive()
    }
}

impl MysqlConnection {
    pub(super) fn new(conn: Conn, target: Arc<str>) -> Self {
        MysqlConnection {
            conn: Some(conn),
            target,
        }
    }

    /// The driver's connection.
    ///
    /// # Errors
    ///
    /// An I/O error of kind `NotConnected` if the manager gave up on this connection (a
    /// call on it ran out of time) and closed it.
    pub fn get_mut(&mut self) -> Result<&mut Conn, mysql::Error> {
        match &mut self.conn {
            Some(c) => Ok(c),
            None => Err(closed(&self.target)),
        }
    }

    /// The driver's connection, or `None` if the manager gave up on it and closed it.
    pub fn get_ref(&self) -> Option<&Conn> {
        self.conn.as_ref()
    }

    /// Starts a transaction (the driver's [`Conn::start_transaction`]).
    ///
    /// # Errors
    ///
    /// As [`get_mut`](Self::get_mut), then the driver's error.
    pub fn start_transaction(&mut self, opts: TxOpts) -> Result<Transaction<'_>, mysql::Error> {
        self.get_mut()?.start_transaction(opts)
    }

    /// Whether the manager gave up on this connection and closed it.
    pub fn is_closed(&self) -> bool {
        self.conn.is_none()
    }

    /// Where the connection points: `host:port/db as user`, never the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Takes the driver's connection out (to close it).
    pub(super) fn take(&mut self) -> Option<Conn> {
        self.conn.take()
    }

    /// Runs `call` on the connection, returning within `limit`: inline when `limit` is
    /// `None` (the socket timeouts bound it), otherwise on a helper thread (see the
    /// [module docs](self)). A call that runs out of time leaves this connection closed.
    pub(super) fn run<T: Send + 'static>(
        &mut self,
        step: &'static str,
        limit: Option<Duration>,
        call: fn(&mut Conn) -> Result<T, mysql::Error>,
    ) -> Result<T, mysql::Error> {
        let Some(limit) = limit else {
            return call(self.get_mut()?);
        };
        let Some(mut conn) = self.conn.take() else {
            return Err(closed(&self.target));
        };
        let outcome = on_helper(limit, move || {
            let result = call(&mut conn);
            (conn, result)
        });
        match outcome {
            Ok((conn, result)) => {
                self.conn = Some(conn);
                result
            }
            Err(gave_up) => Err(mysql::Error::IoError(gave_up.into_io_error(
                &format!("MariaDB/MySQL at {}", self.target),
                step,
                limit,
            ))),
        }
    }
}

impl Queryable for MysqlConnection {
    fn query_iter<Q: AsRef<str>>(
        &mut self,
        query: Q,
    ) -> Result<QueryResult<'_, '_, '_, Text>, mysql::Error> {
        self.get_mut()?.query_iter(query)
    }

    fn prep<Q: AsRef<str>>(&mut self, query: Q) -> Result<Statement, mysql::Error> {
        self.get_mut()?.prep(query)
    }

    fn close(&mut self, stmt: Statement) -> Result<(), mysql::Error> {
        self.get_mut()?.close(stmt)
    }

    fn exec_iter<S, P>(
        &mut self,
        stmt: S,
        params: P,
    ) -> Result<QueryResult<'_, '_, '_, Binary>, mysql::Error>
    where
        S: AsStatement,
        P: Into<Params>,
    {
        self.get_mut()?.exec_iter(stmt, params)
    }

    fn exec_batch<S, P, I>(&mut self, stmt: S, params: I) -> Result<(), mysql::Error>
    where
        Self: Sized,
        S: AsStatement,
        P: Into<Params>,
        I: IntoIterator<Item = P>,
    {
        self.get_mut()?.exec_batch(stmt, params)
    }
}

/// The error for a call on a connection the manager closed.
fn closed(target: &str) -> mysql::Error {
    mysql::Error::IoError(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!("MariaDB/MySQL at {target}: this connection was closed after a call on it ran out of time"),
    ))
}
