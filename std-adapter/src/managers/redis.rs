//! Redis through the [`redis`] client's synchronous connection.
//!
//! Redis has no transactions to roll back in the SQL sense, but a returned connection can
//! still carry state into its next user: a `MULTI` with queued commands, `WATCH`ed keys, a
//! `SELECT`ed database. Reset on return sends, in one round trip:
//!
//! - [`ResetMode::Rollback`]: `DISCARD` (drops queued commands; its "without MULTI" error is
//!   expected and ignored), `UNWATCH`, `SELECT <configured db>`;
//! - [`ResetMode::Commit`]: `EXEC` (runs queued commands; "without MULTI" ignored),
//!   `UNWATCH`, `SELECT <configured db>`;
//! - [`ResetMode::None`]: nothing: a `MULTI` left open stays open and the next user's
//!   commands are queued instead of run (dangerous).
//!
//! Pub/sub mode is left by the driver itself before the next command. Pre-ping is `PING`;
//! a disconnect is an I/O error or a dropped connection (`CLIENT KILL`, server restart).
//!
//! # Examples
//!
//! ```no_run
//! use tarn_pool::managers::RedisManager;
//! use tarn_pool::managers::redis::redis::Commands;
//! use tarn_pool::Pool;
//!
//! let pool = Pool::builder(RedisManager::from_url("redis://127.0.0.1:6379/0")?)
//!     .pool_size(4)
//!     .build()?;
//! let mut conn = pool.get()?;
//! let _: () = conn.set("greeting", "hello")?;
//! let got: String = conn.get("greeting")?;
//! assert_eq!(got, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

pub use redis;
use redis::{Client, Connection, ConnectionLike, IntoConnectionInfo, RedisError, Value};
use tarn_core::{Manager, ResetMode};

use crate::managers::deadline::{on_helper, within};
use crate::managers::targeted::Targeted;

/// Opens [`redis::Connection`]s.
///
/// Defaults: a 10 s connect timeout (the TCP connect and the handshake: `HELLO`/`AUTH`,
/// `SELECT`, as a whole) and a 10 s I/O timeout (each read and write of a user's command;
/// the pool's ping and reset, as a whole, when the pool gives no limit of its own). Within a pool's deadline the
/// `*_within` calls use the smaller of that deadline and these timeouts, then put the I/O
/// timeout back, so a Redis that stops answering fails a call instead of hanging it.
///
/// `Debug` and every error it returns name the address and database, never the password.
#[derive(Clone)]
pub struct RedisManager {
    client: Client,
    connect_timeout: Duration,
    io_timeout: Duration,
}

// Manual impl: the connection info may hold a password; show the address and database only.
impl fmt::Debug for RedisManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("RedisManager")
            .field("addr", &info.addr().to_string())
            .field("db", &info.redis_settings().db())
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisManager {
    /// The default connect timeout (TCP connect and handshake).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default I/O timeout (each read or write when no deadline is given).
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

    /// A manager from anything the driver takes as connection info: a
    /// `redis://[user:password@]host:port/db` URL, a `ConnectionInfo`, `(host, port)`.
    ///
    /// # Errors
    ///
    /// The driver's error if the info is invalid (a bad URL, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::managers::RedisManager;
    ///
    /// let m = RedisManager::from_url("redis://:s3cret@cache.internal:6380/2")?;
    /// let shown = format!("{m:?}");
    /// assert!(!shown.contains("s3cret") && shown.contains("6380"));
    /// # Ok::<(), tarn_pool::managers::redis::redis::RedisError>(())
    /// ```
    pub fn new(info: impl IntoConnectionInfo) -> Result<Self, RedisError> {
        Ok(RedisManager {
            client: Client::open(info)?,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            io_timeout: Self::DEFAULT_IO_TIMEOUT,
        })
    }

    /// A manager from a `redis://` URL; the same as [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_url(url: &str) -> Result<Self, RedisError> {
        Self::new(url)
    }

    /// How long a connect (TCP connect and handshake) may take when the pool gives no
    /// shorter limit. Defaults to [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT)
    /// (10 s). A zero duration counts as the default (the driver refuses zero timeouts).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tarn_pool::managers::RedisManager;
    ///
    /// let m = RedisManager::from_url("redis://127.0.0.1/0")?.connect_timeout(Duration::from_secs(2));
    /// assert!(format!("{m:?}").contains("connect_timeout: 2s"));
    /// # Ok::<(), tarn_pool::managers::redis::redis::RedisError>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = nonzero_or(timeout, Self::DEFAULT_CONNECT_TIMEOUT);
        self
    }

    /// The read and write timeout of every connection when the pool gives no shorter limit:
    /// what bounds a user's command, and the pool's reset and ping without a deadline.
    /// Defaults to [`DEFAULT_IO_TIMEOUT`](Self::DEFAULT_IO_TIMEOUT) (10 s). A zero duration
    /// counts as the default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tarn_pool::managers::RedisManager;
    ///
    /// let m = RedisManager::from_url("redis://127.0.0.1/0")?.io_timeout(Duration::from_secs(3));
    /// assert!(format!("{m:?}").contains("io_timeout: 3s"));
    /// # Ok::<(), tarn_pool::managers::redis::redis::RedisError>(())
    /// ```
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = nonzero_or(timeout, Self::DEFAULT_IO_TIMEOUT);
        self
    }

    /// The connect timeout (see [`connect_timeout`](Self::connect_timeout)).
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The I/O timeout (see [`io_timeout`](Self::io_timeout)).
    pub fn get_io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// The driver client connections are opened from.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn db(&self) -> i64 {
        self.client.get_connection_info().redis_settings().db()
    }

    /// Where this manager connects, for error messages: `host:port/db`, never the password.
    fn target(&self) -> String {
        format!("{}/{}", self.client.get_connection_info().addr(), self.db())
    }

    /// Sets both socket timeouts of `conn`.
    fn set_timeouts(conn: &Connection, timeout: Duration) -> Result<(), RedisError> {
        conn.set_read_timeout(Some(timeout))?;
        conn.set_write_timeout(Some(timeout))
    }

    /// Runs `call`, which reads `replies` replies, with the connection's timeouts set so
    /// that all of them fit in `limit` (capped by the I/O timeout): the driver reads every
    /// reply of a pipeline, each under the full timeout, even after one has timed out.
    /// Then puts the I/O timeout back. A call that runs out of time fails with an I/O
    /// `TimedOut` error that names the target and the step.
    fn bounded<T>(
        &self,
        conn: &mut Connection,
        step: &str,
        limit: Option<Duration>,
        replies: u32,
        call: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, RedisError> {
        let budget = within(limit, self.io_timeout).ok_or_else(|| self.timed_out(step, limit))?;
        let timeout = (budget / replies.max(1)).max(Duration::from_millis(1));
        let shortened = timeout < self.io_timeout;
        if shortened {
            Self::set_timeouts(conn, timeout)?;
        }
        let result = call(conn).map_err(|e| {
            if e.is_timeout() {
                self.timed_out(step, Some(budget))
            } else {
                e
            }
        });
        if shortened {
            // A connection whose timeouts cannot be put back fails the call: its next user
            // would otherwise inherit the shorter limit.
            Self::set_timeouts(conn, self.io_timeout)?;
        }
        result
    }

    /// Adds the target to an I/O error of a connect (refused, reset, unreachable): it
    /// becomes an I/O error of the same kind whose message starts with the target and whose
    /// source is the driver's error. Other errors (a server's `AUTH` refusal) stay as they
    /// are.
    fn connect_error(&self, error: RedisError) -> RedisError {
        // The driver's source is the `Arc` it keeps the I/O error in.
        type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
        let kind = std::error::Error::source(&error)
            .and_then(|s| s.downcast_ref::<Shared>())
            .and_then(|e| e.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        match kind {
            Some(kind) => Targeted::io(
                kind,
                format!("Redis at {}", self.target()),
                "connect",
                error,
            )
            .into(),
            None => error,
        }
    }

    fn timed_out(&self, step: &str, limit: Option<Duration>) -> RedisError {
        let limit = limit.unwrap_or_default();
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "Redis at {}: {step} did not finish within {limit:?}",
                self.target()
            ),
        )
        .into()
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

impl Manager for RedisManager {
    type Connection = Connection;
    type Error = RedisError;

    fn connect(&self) -> Result<Connection, RedisError> {
        self.connect_within(None)
    }

    fn reset(&self, conn: &mut Connection, mode: ResetMode) -> Result<(), RedisError> {
        self.reset_within(conn, mode, None)
    }

    fn close(&self, conn: Connection) {
        // Dropping closes the socket; the driver sends nothing, so nothing waits.
        drop(conn);
    }

    fn ping(&self, conn: &mut Connection) -> Result<(), RedisError> {
        self.ping_within(conn, None)
    }

    fn is_disconnect(&self, error: &RedisError) -> bool {
        is_disconnect(error)
    }

    /// Connects within the smaller of `limit` and the connect timeout, the handshake
    /// (`HELLO`/`AUTH`, `SELECT`, `CLIENT SETINFO`) included. The driver applies its timeout
    /// to the TCP connect and to each handshake reply in turn, so the connect runs on a
    /// helper thread while the caller waits at most that long (see the deadline notes in
    /// the [managers docs](crate::managers)); the new connection then gets the I/O timeout.
    fn connect_within(&self, limit: Option<Duration>) -> Result<Connection, RedisError> {
        let timeout =
            within(limit, self.connect_timeout).ok_or_else(|| self.timed_out("connect", limit))?;
        let client = self.client.clone();
        let io_timeout = self.io_timeout;
        let opened = on_helper(timeout, move || {
            let conn = client.get_connection_with_timeout(timeout)?;
            Self::set_timeouts(&conn, io_timeout)?;
            Ok::<_, RedisError>(conn)
        });
        match opened {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) if e.is_timeout() => Err(self.timed_out("connect", Some(timeout))),
            Ok(Err(e)) => Err(self.connect_error(e)),
            Err(gave_up) => Err(gave_up
                .into_io_error(&format!("Redis at {}", self.target()), "connect", timeout)
                .into()),
        }
    }

    fn reset_within(
        &self,
        conn: &mut Connection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), RedisError> {
        let end = match mode {
            ResetMode::Rollback => "DISCARD",
            ResetMode::Commit => "EXEC",
            ResetMode::None => return Ok(()),
        };
        let mut pipe = redis::pipe();
        pipe.cmd(end).cmd("UNWATCH").cmd("SELECT").arg(self.db());
        let packed = pipe.get_packed_pipeline();
        self.bounded(conn, "reset", limit, 3, |conn| {
            // Replies come back as values, server errors included: the first one's "without
            // MULTI" error is the normal case; the last two must succeed.
            let replies = conn.req_packed_commands(&packed, 0, 3)?;
            for reply in replies.into_iter().skip(1) {
                if let Value::ServerError(e) = reply {
                    return Err(e.into());
                }
            }
            Ok(())
        })
    }

    fn ping_within(
        &self,
        conn: &mut Connection,
        limit: Option<Duration>,
    ) -> Result<(), RedisError> {
        self.bounded(conn, "ping", limit, 1, |conn| {
            redis::cmd("PING").query::<()>(conn)
        })
    }
}

/// The classification behind [`RedisManager`]'s `is_disconnect`, for code that handles
/// errors from a bare connection: an I/O error (a cut connection, a timeout: a connection
/// that timed out mid-reply is out of step with the server), a connection the server
/// dropped (`CLIENT KILL`, a restart), or an error the driver cannot recover from.
pub fn is_disconnect(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let m = RedisManager::from_url("redis://user:hunter2@cache.internal:6380/3").unwrap();
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("cache.internal") && shown.contains("db: 3"),
            "{shown}"
        );
    }

    #[test]
    fn a_refused_connection_is_a_disconnect() {
        let m = RedisManager::from_url("redis://127.0.0.1:1/0")
            .unwrap()
            .connect_timeout(Duration::from_secs(2));
        let Err(err) = m.connect() else {
            panic!("nothing listens on port 1");
        };
        assert!(m.is_disconnect(&err), "{err:?}");
        assert!(err.is_connection_refusal(), "the kind is kept: {err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("Redis at 127.0.0.1:1/0"),
            "the target: {shown}"
        );
        let cause = std::error::Error::source(&err).and_then(std::error::Error::source);
        assert!(
            cause.is_some(),
            "the driver's error is kept as the cause: {err:?}"
        );
    }

    #[test]
    fn bad_urls_are_errors() {
        assert!(RedisManager::from_url("http://127.0.0.1/").is_err());
    }
}
