//! MariaDB and MySQL through the [`mysql`] client (pure-Rust compression, no TLS).
//!
//! Reset on return sends `ROLLBACK` or `COMMIT`, pre-ping is `COM_PING`, and a disconnect is
//! an I/O or protocol error (a cut connection, a timeout), a failed connect, or a server
//! error that means the session is gone (2006 server has gone away, 2013 lost connection,
//! 1927 connection killed, 1053 server shutdown, 4031 disconnected for inactivity).
//!
//! # Deadlines
//!
//! Every connection's socket gets the manager's [I/O timeout](MysqlManager::io_timeout) as
//! its read and write timeout, and every connect the [connect
//! timeout](MysqlManager::connect_timeout) for the TCP connect. The driver fixes a
//! socket's timeouts when it connects and reads several handshake packets, each under the
//! full I/O timeout, so:
//!
//! - a connect runs on a short-lived helper thread; the caller waits at most the smaller
//!   of its limit and the connect timeout plus the I/O timeout;
//! - a ping or reset with a limit shorter than the I/O timeout runs on a helper thread the
//!   caller waits on for at most the limit; otherwise it runs inline, bounded by the I/O
//!   timeout (one write and one reply);
//! - a call that runs out of time returns an I/O `TimedOut` error naming the target, and
//!   the helper closes its connection once the socket timeout ends the driver's wait (the
//!   `MysqlConnection` left behind fails every call);
//! - `close` only writes (`COM_QUIT`) and never reads, so it does not wait on the server.
//!
//! An I/O timeout no longer than the pool's checkout timeout keeps pings and resets on the
//! caller's thread (the pool's limits are then never shorter than the I/O timeout, except
//! for a caller whose own time is nearly up).
//!
//! # Secrets
//!
//! The driver's `Conn` and `Opts` print the password in `Debug`. The manager therefore
//! hands out [`MysqlConnection`] (the `Conn` with a `Debug` that shows the session, not the
//! options) and exposes its options as [`MysqlOpts`] (whose `Debug` shows the target only).
//!
//! # Examples
//!
//! ```no_run
//! use tarn_pool::managers::MysqlManager;
//! use tarn_pool::managers::mysql::mysql::prelude::Queryable;
//! use tarn_pool::Pool;
//!
//! let manager = MysqlManager::from_url("mysql://root@127.0.0.1:3306/test")?;
//! let pool = Pool::builder(manager).pool_size(4).build()?;
//! let mut conn = pool.get()?;
//! let two: Option<i64> = conn.query_first("SELECT 1 + 1")?;
//! assert_eq!(two, Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

pub use mysql;
use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, Opts, OptsBuilder};
use tarn_core::{Manager, ResetMode};

mod connection;
use crate::managers::deadline::{on_helper, within, GaveUp};
use crate::managers::targeted::Targeted;
pub use connection::MysqlConnection;

/// The driver options of a [`MysqlManager`], with a `Debug` that never shows the password.
///
/// It dereferences to the driver's [`Opts`] for reading them (`opts.get_user()`, ...).
///
/// # Examples
///
/// ```
/// use tarn_pool::managers::MysqlManager;
///
/// let m = MysqlManager::from_url("mysql://app:s3cret@db.internal:3306/app")?;
/// assert_eq!(m.opts().get_user(), Some("app"));
/// assert!(!format!("{:?}", m.opts()).contains("s3cret"));
/// # Ok::<(), tarn_pool::managers::mysql::mysql::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlOpts(Opts);

impl Deref for MysqlOpts {
    type Target = Opts;
    fn deref(&self) -> &Opts {
        &self.0
    }
}

// Manual impl: the driver's `Opts` Debug prints the password.
impl fmt::Debug for MysqlOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlOpts")
            .field("host", &self.0.get_ip_or_hostname())
            .field("port", &self.0.get_tcp_port())
            .field("socket", &self.0.get_socket())
            .field("user", &self.0.get_user())
            .field("db", &self.0.get_db_name())
            .field("password", &self.0.get_pass().map(|_| "***"))
            .field("tcp_connect_timeout", &self.0.get_tcp_connect_timeout())
            .field("read_timeout", &self.0.get_read_timeout())
            .field("write_timeout", &self.0.get_write_timeout())
            .finish_non_exhaustive()
    }
}

/// Opens [`MysqlConnection`]s (the driver's [`mysql::Conn`]) to MariaDB or MySQL.
///
/// Defaults: a 10 s connect timeout (the TCP connect) and a 10 s I/O timeout (each socket
/// read and write; a whole connect gets both), unless the options set their own (`tcp_connect_timeout`, `read_timeout`, `write_timeout`). Calls with a
/// deadline from the pool return within it (see the [module docs](self)).
///
/// `Debug`, [`opts`](Self::opts), the connections and the errors the manager makes name
/// the target (`host:port/db`, user), never the password.
#[derive(Clone)]
pub struct MysqlManager {
    opts: MysqlOpts,
    target: Arc<str>,
}

// Manual impl: the options hold the password; show where it connects, never the secret.
impl fmt::Debug for MysqlManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlManager")
            .field("host", &self.opts.get_ip_or_hostname())
            .field("port", &self.opts.get_tcp_port())
            .field("user", &self.opts.get_user())
            .field("db", &self.opts.get_db_name())
            .field("password", &self.opts.get_pass().map(|_| "***"))
            .field("connect_timeout", &self.get_connect_timeout())
            .field("io_timeout", &self.get_io_timeout())
            .finish_non_exhaustive()
    }
}

impl MysqlManager {
    /// The default TCP connect timeout, used when the options set none.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default socket read and write timeout, used when the options set none.
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

    /// A manager for the driver's options (an [`Opts`] or an [`OptsBuilder`]); the
    /// default timeouts fill in any the options leave unset.
    pub fn new(opts: impl Into<Opts>) -> Self {
        let opts: Opts = opts.into();
        let connect = opts.get_tcp_connect_timeout();
        let read = opts.get_read_timeout().copied();
        let write = opts.get_write_timeout().copied();
        let opts: Opts = OptsBuilder::from_opts(opts)
            .tcp_connect_timeout(Some(connect.unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT)))
            .read_timeout(Some(read.unwrap_or(Self::DEFAULT_IO_TIMEOUT)))
            .write_timeout(Some(write.unwrap_or(Self::DEFAULT_IO_TIMEOUT)))
            .into();
        let target = format!(
            "{}:{}/{} as {}",
            opts.get_ip_or_hostname(),
            opts.get_tcp_port(),
            opts.get_db_name().unwrap_or(""),
            opts.get_user().unwrap_or("")
        );
        MysqlManager {
            opts: MysqlOpts(opts),
            target: target.into(),
        }
    }

    /// A manager from a `mysql://user:password@host:port/db?...` URL.
    ///
    /// # Errors
    ///
    /// The driver's URL error if the URL is not valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::managers::MysqlManager;
    ///
    /// let m = MysqlManager::from_url("mysql://app:s3cret@db.internal:3306/app")?;
    /// assert!(!format!("{m:?}").contains("s3cret"));
    /// # Ok::<(), tarn_pool::managers::mysql::mysql::UrlError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, mysql::UrlError> {
        Opts::from_url(url).map(Self::new)
    }

    /// Sets the TCP connect timeout (the options' `tcp_connect_timeout`). Defaults to
    /// [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT) (10 s). A zero duration
    /// counts as the default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tarn_pool::managers::MysqlManager;
    ///
    /// let m = MysqlManager::from_url("mysql://app@db/app")?.connect_timeout(Duration::from_secs(2));
    /// assert_eq!(m.get_connect_timeout(), Duration::from_secs(2));
    /// # Ok::<(), tarn_pool::managers::mysql::mysql::UrlError>(())
    /// ```
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        let timeout = nonzero_or(timeout, Self::DEFAULT_CONNECT_TIMEOUT);
        Self::new(OptsBuilder::from_opts(self.opts.0).tcp_connect_timeout(Some(timeout)))
    }

    /// Sets the read and write timeout of every connection's socket (the options'
    /// `read_timeout` and `write_timeout`): what bounds the handshake, a user's query, and
    /// the pool's reset and ping without a deadline. Defaults to
    /// [`DEFAULT_IO_TIMEOUT`](Self::DEFAULT_IO_TIMEOUT) (10 s). A zero duration counts as
    /// the default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tarn_pool::managers::MysqlManager;
    ///
    /// let m = MysqlManager::from_url("mysql://app@db/app")?.io_timeout(Duration::from_secs(3));
    /// assert_eq!(m.get_io_timeout(), Duration::from_secs(3));
    /// # Ok::<(), tarn_pool::managers::mysql::mysql::UrlError>(())
    /// ```
    pub fn io_timeout(self, timeout: Duration) -> Self {
        let timeout = Some(nonzero_or(timeout, Self::DEFAULT_IO_TIMEOUT));
        Self::new(
            OptsBuilder::from_opts(self.opts.0)
                .read_timeout(timeout)
                .write_timeout(timeout),
        )
    }

    /// The TCP connect timeout.
    pub fn get_connect_timeout(&self) -> Duration {
        self.opts
            .get_tcp_connect_timeout()
            .unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT)
    }

    /// The socket read timeout (the I/O timeout).
    pub fn get_io_timeout(&self) -> Duration {
        self.opts
            .get_read_timeout()
            .copied()
            .unwrap_or(Self::DEFAULT_IO_TIMEOUT)
    }

    /// The driver options connections are opened with (its `Debug` hides the password).
    pub fn opts(&self) -> &MysqlOpts {
        &self.opts
    }

    /// Where this manager connects: `host:port/db as user`, never the password. Errors
    /// the manager makes start with it.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Adds the target to a connect error that says only what went wrong on the wire (an
    /// I/O error, the driver's could-not-connect and connect timeout): it becomes an I/O
    /// error of the same kind whose message starts with the target and whose source is
    /// the driver's error. Server errors (access denied, unknown database) stay as they are.
    fn connect_error(&self, error: mysql::Error) -> mysql::Error {
        let kind = match &error {
            mysql::Error::IoError(e) => e.kind(),
            mysql::Error::DriverError(DriverError::CouldNotConnect(Some((_, _, kind)))) => *kind,
            mysql::Error::DriverError(DriverError::CouldNotConnect(None)) => {
                std::io::ErrorKind::Other
            }
            mysql::Error::DriverError(DriverError::ConnectTimeout) => std::io::ErrorKind::TimedOut,
            _ => return error,
        };
        mysql::Error::IoError(Targeted::io(
            kind,
            format!("MariaDB/MySQL at {}", self.target),
            "connect",
            error,
        ))
    }

    fn timed_out(&self, step: &str, limit: Option<Duration>) -> mysql::Error {
        self.gave_up(GaveUp::TimedOut, step, limit.unwrap_or_default())
    }

    fn gave_up(&self, why: GaveUp, step: &str, limit: Duration) -> mysql::Error {
        mysql::Error::IoError(why.into_io_error(
            &format!("MariaDB/MySQL at {}", self.target),
            step,
            limit,
        ))
    }

    fn end_transaction(
        &self,
        conn: &mut MysqlConnection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), mysql::Error> {
        let call: fn(&mut Conn) -> Result<(), mysql::Error> = match mode {
            ResetMode::Rollback => |c| c.query_drop("ROLLBACK"),
            ResetMode::Commit => |c| c.query_drop("COMMIT"),
            ResetMode::None => return Ok(()),
        };
        self.run(conn, "reset", limit, call)
    }

    /// Runs `call` within `limit`: inline when the socket timeouts already end it in time,
    /// on a helper thread otherwise.
    fn run(
        &self,
        conn: &mut MysqlConnection,
        step: &'static str,
        limit: Option<Duration>,
        call: fn(&mut Conn) -> Result<(), mysql::Error>,
    ) -> Result<(), mysql::Error> {
        match limit {
            Some(l) if l.is_zero() => Err(self.timed_out(step, limit)),
            Some(l) if l < self.get_io_timeout() => conn.run(step, Some(l), call),
            _ => conn.run(step, None, call),
        }
    }
}

/// `timeout`, or `default` when it is zero.
fn nonzero_or(timeout: Duration, default: Duration) -> Duration {
    if timeout.is_zero() {
        default
    } else {
        timeout
    }
}

impl Manager for MysqlManager {
    type Connection = MysqlConnection;
    type Error = mysql::Error;

    fn connect(&self) -> Result<MysqlConnection, mysql::Error> {
        self.connect_within(None)
    }

    fn reset(&self, conn: &mut MysqlConnection, mode: ResetMode) -> Result<(), mysql::Error> {
        self.end_transaction(conn, mode, None)
    }

    fn close(&self, mut conn: MysqlConnection) {
        // Dropping the driver's `Conn` writes `COM_QUIT` (best effort, under the write
        // timeout) and closes the socket; it reads nothing, so it never waits for a reply.
        drop(conn.take());
    }

    fn ping(&self, conn: &mut MysqlConnection) -> Result<(), mysql::Error> {
        self.ping_within(conn, None)
    }

    fn is_disconnect(&self, error: &mysql::Error) -> bool {
        is_disconnect(error)
    }

    /// Connects within the smaller of `limit` and the connect timeout plus the I/O
    /// timeout, as a whole: the TCP connect gets at most the connect timeout, each
    /// handshake read the I/O timeout, and the connect runs on a helper thread the caller
    /// waits on for at most that long (the driver reads several handshake packets, each
    /// under the full I/O timeout).
    fn connect_within(&self, limit: Option<Duration>) -> Result<MysqlConnection, mysql::Error> {
        let whole = self.get_connect_timeout() + self.get_io_timeout();
        let Some(wait) = within(limit, whole) else {
            return Err(self.timed_out("connect", limit));
        };
        let opts: Opts = OptsBuilder::from_opts(self.opts.0.clone())
            .tcp_connect_timeout(Some(wait.min(self.get_connect_timeout())))
            .into();
        match on_helper(wait, move || Conn::new(opts)) {
            Ok(result) => result
                .map(|c| MysqlConnection::new(c, Arc::clone(&self.target)))
                .map_err(|e| self.connect_error(e)),
            Err(gave_up) => Err(self.gave_up(gave_up, "connect", wait)),
        }
    }

    fn reset_within(
        &self,
        conn: &mut MysqlConnection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), mysql::Error> {
        self.end_transaction(conn, mode, limit)
    }

    fn ping_within(
        &self,
        conn: &mut MysqlConnection,
        limit: Option<Duration>,
    ) -> Result<(), mysql::Error> {
        self.run(conn, "ping", limit, Conn::ping)
    }
}

/// The classification behind [`MysqlManager`]'s `is_disconnect`, for code that handles
/// errors from a bare connection: any I/O or protocol error (a cut connection, a timeout:
/// a connection that timed out mid-reply is out of step with the server), a failed
/// connect, and the server errors that mean the session is gone.
pub fn is_disconnect(error: &mysql::Error) -> bool {
    match error {
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => true,
        mysql::Error::DriverError(e) => matches!(
            e,
            DriverError::ConnectTimeout
                | DriverError::CouldNotConnect(_)
                | DriverError::PacketOutOfSync
                | DriverError::Timeout
        ),
        mysql::Error::MySqlError(e) => {
            matches!(e.code, 1053 | 1152 | 1927 | 2006 | 2013 | 2055 | 4031)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let m = MysqlManager::from_url("mysql://app:hunter2@db.internal:3307/app").unwrap();
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("db.internal") && shown.contains("3307"),
            "{shown}"
        );
    }

    #[test]
    fn a_connect_timeout_is_set_unless_given() {
        let m = MysqlManager::from_url("mysql://h/db").unwrap();
        assert_eq!(
            m.opts().get_tcp_connect_timeout(),
            Some(MysqlManager::DEFAULT_CONNECT_TIMEOUT)
        );
        assert_eq!(
            m.opts().get_read_timeout(),
            Some(&MysqlManager::DEFAULT_IO_TIMEOUT)
        );
        let given = MysqlManager::from_url("mysql://h/db?tcp_connect_timeout_ms=1500").unwrap();
        assert_eq!(given.get_connect_timeout(), Duration::from_millis(1500));
        assert_eq!(given.get_io_timeout(), MysqlManager::DEFAULT_IO_TIMEOUT);
        let set = given.io_timeout(Duration::from_secs(2));
        assert_eq!(
            set.opts().get_write_timeout(),
            Some(&Duration::from_secs(2))
        );
        assert_eq!(set.get_connect_timeout(), Duration::from_millis(1500));
    }

    #[test]
    fn server_errors_are_told_apart() {
        let err = |code| {
            mysql::Error::MySqlError(mysql::MySqlError {
                state: "HY000".into(),
                message: String::new(),
                code,
            })
        };
        assert!(is_disconnect(&err(2006)));
        assert!(is_disconnect(&err(1927)));
        assert!(
            !is_disconnect(&err(1064)),
            "a syntax error is not a disconnect"
        );
        assert!(
            !is_disconnect(&err(1205)),
            "a lock wait timeout is not a disconnect"
        );
    }

    #[test]
    fn a_refused_connection_is_a_disconnect() {
        let m = MysqlManager::from_url("mysql://u@127.0.0.1:1/db").unwrap();
        let err = m.connect().unwrap_err();
        assert!(m.is_disconnect(&err), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("127.0.0.1:1/db"), "the target: {shown}");
        // The driver implements only the old `cause`, so the chain starts at the I/O error.
        let mysql::Error::IoError(io) = &err else {
            panic!("a connect error becomes an I/O error: {err:?}");
        };
        let cause = io.get_ref().and_then(std::error::Error::source);
        assert!(
            cause.is_some_and(|c| c.to_string().contains("Connection refused")),
            "the driver's error is the source: {err:?}"
        );
    }

    #[test]
    fn opts_debug_never_shows_the_password() {
        let m = MysqlManager::from_url("mysql://app:hunter2@db.internal:3307/app").unwrap();
        let shown = format!("{:?}", m.opts());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }
}
