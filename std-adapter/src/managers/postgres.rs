//! PostgreSQL through the synchronous [`postgres`] client (no TLS).
//!
//! Reset on return sends `ROLLBACK` or `COMMIT` (outside a transaction PostgreSQL only warns),
//! pre-ping is the client's `is_valid` (an empty query with a timeout), and a disconnect is a
//! closed connection, an I/O error, an SQLSTATE of class 08 (connection exception) or
//! 57P01–57P03 (the session was terminated: `pg_terminate_backend`, shutdown, restart).
//!
//! # Examples
//!
//! ```no_run
//! use tarn_pool::managers::PostgresManager;
//! use tarn_pool::Pool;
//!
//! let manager = PostgresManager::from_url("postgres://postgres@127.0.0.1:5432/test")?;
//! let pool = Pool::builder(manager).pool_size(4).pre_ping(true).build()?;
//! let mut conn = pool.get()?;
//! let row = conn.query_one("SELECT 1 + 1", &[])?;
//! assert_eq!(row.get::<_, i32>(0), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use postgres;
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use tarn_core::{Manager, ResetMode};

/// Opens [`postgres::Client`] connections without TLS.
///
/// Defaults: a 10 s connect timeout when the config sets none (so an unreachable server
/// fails a checkout instead of hanging it), a 5 s pre-ping timeout.
///
/// The driver applies the connect timeout to the TCP connect only: a peer that accepts the
/// connection and then never answers the startup handshake (a wedged proxy, say) still
/// blocks `connect`. A server that is down, refuses, or resets connections fails at once.
#[derive(Clone)]
pub struct PostgresManager {
    config: Config,
    ping_timeout: Duration,
}

// Manual impl: the config holds the password; show where it connects, never the secret.
impl fmt::Debug for PostgresManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresManager")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("password", &self.config.get_password().map(|_| "***"))
            .field("ping_timeout", &self.ping_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresManager {
    /// The default connect timeout, used when the config sets none.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A manager for `config`.
    pub fn new(mut config: Config) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Self::DEFAULT_CONNECT_TIMEOUT);
        }
        PostgresManager {
            config,
            ping_timeout: Duration::from_secs(5),
        }
    }

    /// A manager from a `postgres://user:password@host:port/dbname?...` URL or a
    /// `host=... user=...` string.
    ///
    /// # Errors
    ///
    /// The driver's parse error if the string is not a valid configuration. Its message
    /// never contains the password.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::managers::PostgresManager;
    ///
    /// let m = PostgresManager::from_url("postgres://app:s3cret@db.internal/app")?;
    /// assert!(!format!("{m:?}").contains("s3cret"));
    /// # Ok::<(), tarn_pool::managers::postgres::postgres::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, postgres::Error> {
        Config::from_str(url).map(Self::new)
    }

    /// How long a pre-ping may take before the connection counts as broken. Defaults to
    /// 5 s.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// The driver configuration connections are opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Manager for PostgresManager {
    type Connection = Client;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Client, postgres::Error> {
        self.config.connect(NoTls)
    }

    fn reset(&self, conn: &mut Client, mode: ResetMode) -> Result<(), postgres::Error> {
        match mode {
            ResetMode::Rollback => conn.batch_execute("ROLLBACK"),
            ResetMode::Commit => conn.batch_execute("COMMIT"),
            ResetMode::None => Ok(()),
        }
    }

    fn close(&self, conn: Client) {
        // Sends Terminate and waits for the server to hang up; an error means the socket is
        // already gone, which is what closing wants.
        let _ = conn.close();
    }

    fn ping(&self, conn: &mut Client) -> Result<(), postgres::Error> {
        conn.is_valid(self.ping_timeout)
    }

    fn is_disconnect(&self, error: &postgres::Error) -> bool {
        is_disconnect(error)
    }
}

/// The classification behind [`PostgresManager`]'s `is_disconnect`, for code that handles
/// errors from a bare client.
pub fn is_disconnect(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW;
    }
    // An I/O error anywhere in the chain (reset, broken pipe, EOF, refused, timed out).
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let m = PostgresManager::from_url("postgres://app:hunter2@db.internal:6432/app").unwrap();
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("db.internal") && shown.contains("6432"),
            "{shown}"
        );
        let m = PostgresManager::from_url("host=h user=u password=hunter2").unwrap();
        assert!(!format!("{m:?}").contains("hunter2"));
    }

    #[test]
    fn a_connect_timeout_is_set_unless_given() {
        let m = PostgresManager::from_url("postgres://h/db").unwrap();
        assert_eq!(
            m.config().get_connect_timeout(),
            Some(&PostgresManager::DEFAULT_CONNECT_TIMEOUT)
        );
        let m = PostgresManager::from_url("postgres://h/db?connect_timeout=2").unwrap();
        assert_eq!(
            m.config().get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_urls_are_errors() {
        assert!(PostgresManager::from_url("postgres://h:notaport/db").is_err());
    }

    #[test]
    fn a_refused_connection_is_a_disconnect() {
        // Port 1 on loopback: nothing listens there.
        let m = PostgresManager::from_url("postgres://u@127.0.0.1:1/db?connect_timeout=2").unwrap();
        let Err(err) = m.connect() else {
            panic!("nothing listens on port 1");
        };
        assert!(m.is_disconnect(&err), "{err:?}");
    }
}
