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

/// Opens [`redis::Connection`]s.
///
/// Defaults: a 10 s connect timeout.
#[derive(Clone)]
pub struct RedisManager {
    client: Client,
    connect_timeout: Duration,
}

// Manual impl: the connection info may hold a password; show the address and database only.
impl fmt::Debug for RedisManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("RedisManager")
            .field("addr", &info.addr().to_string())
            .field("db", &info.redis_settings().db())
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisManager {
    /// The default connect timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

    /// How long a connect may take. Defaults to 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The driver client connections are opened from.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn db(&self) -> i64 {
        self.client.get_connection_info().redis_settings().db()
    }
}

impl Manager for RedisManager {
    type Connection = Connection;
    type Error = RedisError;

    fn connect(&self) -> Result<Connection, RedisError> {
        self.client
            .get_connection_with_timeout(self.connect_timeout)
    }

    fn reset(&self, conn: &mut Connection, mode: ResetMode) -> Result<(), RedisError> {
        let end = match mode {
            ResetMode::Rollback => "DISCARD",
            ResetMode::Commit => "EXEC",
            ResetMode::None => return Ok(()),
        };
        let mut pipe = redis::pipe();
        pipe.cmd(end).cmd("UNWATCH").cmd("SELECT").arg(self.db());
        // Replies come back as values, server errors included: the first one's "without
        // MULTI" error is the normal case; the last two must succeed.
        let replies = conn.req_packed_commands(&pipe.get_packed_pipeline(), 0, 3)?;
        for reply in replies.into_iter().skip(1) {
            if let Value::ServerError(e) = reply {
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn close(&self, conn: Connection) {
        drop(conn);
    }

    fn ping(&self, conn: &mut Connection) -> Result<(), RedisError> {
        redis::cmd("PING").query::<()>(conn)
    }

    fn is_disconnect(&self, error: &RedisError) -> bool {
        is_disconnect(error)
    }
}

/// The classification behind [`RedisManager`]'s `is_disconnect`, for code that handles
/// errors from a bare connection.
pub fn is_disconnect(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error()
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
    }

    #[test]
    fn bad_urls_are_errors() {
        assert!(RedisManager::from_url("http://127.0.0.1/").is_err());
    }
}
