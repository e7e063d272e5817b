//! MariaDB and MySQL through the [`mysql`] client (pure-Rust compression, no TLS).
//!
//! Reset on return sends `ROLLBACK` or `COMMIT`, pre-ping is `COM_PING`, and a disconnect is
//! an I/O or protocol error, a failed connect, or a server error that means the session is
//! gone (2006 server has gone away, 2013 lost connection, 1927 connection killed, 1053
//! server shutdown, 4031 disconnected for inactivity).
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
use std::time::Duration;

pub use mysql;
use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, Opts, OptsBuilder};
use tarn_core::{Manager, ResetMode};

/// Opens [`mysql::Conn`] connections to MariaDB or MySQL.
///
/// Defaults: a 10 s TCP connect timeout when the options set none, so an unreachable
/// server fails a checkout instead of hanging it.
#[derive(Clone)]
pub struct MysqlManager {
    opts: Opts,
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
            .finish_non_exhaustive()
    }
}

impl MysqlManager {
    /// The default TCP connect timeout, used when the options set none.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A manager for the driver's options (an [`Opts`] or an [`OptsBuilder`]).
    pub fn new(opts: impl Into<Opts>) -> Self {
        let opts: Opts = opts.into();
        let opts = if opts.get_tcp_connect_timeout().is_none() {
            OptsBuilder::from_opts(opts)
                .tcp_connect_timeout(Some(Self::DEFAULT_CONNECT_TIMEOUT))
                .into()
        } else {
            opts
        };
        MysqlManager { opts }
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

    /// The driver options connections are opened with.
    pub fn opts(&self) -> &Opts {
        &self.opts
    }
}

impl Manager for MysqlManager {
    type Connection = Conn;
    type Error = mysql::Error;

    fn connect(&self) -> Result<Conn, mysql::Error> {
        Conn::new(self.opts.clone())
    }

    fn reset(&self, conn: &mut Conn, mode: ResetMode) -> Result<(), mysql::Error> {
        match mode {
            ResetMode::Rollback => conn.query_drop("ROLLBACK"),
            ResetMode::Commit => conn.query_drop("COMMIT"),
            ResetMode::None => Ok(()),
        }
    }

    fn close(&self, conn: Conn) {
        // Dropping sends COM_QUIT (best effort) and closes the socket.
        drop(conn);
    }

    fn ping(&self, conn: &mut Conn) -> Result<(), mysql::Error> {
        conn.ping()
    }

    fn is_disconnect(&self, error: &mysql::Error) -> bool {
        is_disconnect(error)
    }
}

/// The classification behind [`MysqlManager`]'s `is_disconnect`, for code that handles
/// errors from a bare connection.
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
    }
}
