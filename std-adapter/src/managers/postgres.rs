//! PostgreSQL without TLS: [`PostgresManager`] opens [`PgConnection`]s, synchronous
//! connections on tokio-postgres whose every call, the pool's and the user's, has a
//! deadline.
//!
//! Reset on return sends `ROLLBACK` or `COMMIT` (outside a transaction PostgreSQL only
//! warns), pre-ping is an empty query, and a disconnect is what [`is_disconnect`] says: a
//! closed connection, an I/O error, a timeout, an SQLSTATE of class 08 (connection
//! exception) or 57P01–57P03 (the session was terminated: `pg_terminate_backend`,
//! shutdown, restart).
//!
//! # Deadlines
//!
//! The manager opens the TCP socket itself and runs the startup and authentication
//! handshake on it (tokio-postgres's `connect_raw`) under one timer, so `connect_within`
//! returns within its limit whether the peer refuses, accepts and never answers, or
//! answers something that is not PostgreSQL. Each later call drives the connection on the
//! calling thread until its reply, its error, or its limit (see [`PgConnection`]); `close`
//! writes `Terminate` only if the socket takes it at once and never waits for a reply. The
//! `postgres` crate's client cannot do this: its `connect_timeout` covers only the TCP
//! connect, it has no read timeout, and it cannot be built on a socket opened elsewhere.
//!
//! # PgBouncer
//!
//! Behind PgBouncer in transaction pooling mode, set
//! [`StatementMode::TransactionPooling`] with
//! [`statement_mode`](PostgresManager::statement_mode): consecutive transactions of one
//! connection may run on different server sessions there, so a statement prepared in one
//! is missing in the next ("prepared statement \"s1\" does not exist"). Caveats of that
//! mode (of PgBouncer's transaction pooling, really): session state does not last beyond a
//! transaction (`SET` without `LOCAL`, temporary tables, advisory locks, `LISTEN`); open
//! transactions with [`PgConnection::transaction`], not a bare `BEGIN`, so that learning a
//! statement's parameter types does not commit yours; each new SQL text costs one extra
//! round trip the first time a connection sees it; PgBouncer runs no reset query in
//! transaction mode, so clients that leave named statements behind (drivers in their
//! default mode) belong on another PgBouncer database name, or their statement names may
//! collide with the ones this mode prepares and closes (a describe that meets such a name
//! is retried with the next one, a few times); user-defined types (enums, composites) are
//! looked up with a named statement tokio-postgres keeps, so use built-in types in
//! parameters and results, casting where needed. In session pooling mode
//! [`StatementMode::Named`] is right.
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

mod connection;
mod error;
mod statement;
mod transaction;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use postgres;
use tarn_core::{Manager, ResetMode};
use tokio::net::TcpStream;
pub use tokio_postgres;
use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls};

pub use self::connection::PgConnection;
pub use self::error::{is_disconnect, is_driver_disconnect, PgError};
pub use self::statement::{PgQuery, PgStatement, StatementMode};
pub use self::transaction::PgTransaction;

/// Opens [`PgConnection`]s without TLS, with bounded connect, ping, reset and close.
///
/// Defaults: connect 10 s (or the config's `connect_timeout`), pre-ping 5 s, reset 10 s
/// (the I/O timeout), user queries unbounded, [`StatementMode::Named`]. The pool passes the
/// caller's time left, and the shorter of it and these bounds applies.
///
/// Of the config, the hosts (TCP only; the first that accepts is used) and `hostaddr`s,
/// ports, user,
/// password, dbname, options, application name and `connect_timeout` are used;
/// `sslmode=require` fails (no TLS), keepalive and `tcp_user_timeout` settings are not
/// applied (the call deadlines are what bounds a silent peer).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::managers::postgres::StatementMode;
/// use tarn_pool::managers::PostgresManager;
///
/// let m = PostgresManager::from_url("postgres://app:s3cret@127.0.0.1:6432/app")?
///     .statement_mode(StatementMode::TransactionPooling)
///     .ping_timeout(Duration::from_secs(1));
/// assert!(!format!("{m:?}").contains("s3cret"));
/// # Ok::<(), tarn_pool::managers::postgres::PgError>(())
/// ```
#[derive(Clone)]
pub struct PostgresManager {
    config: Config,
    connect_timeout: Duration,
    ping_timeout: Duration,
    io_timeout: Duration,
    query_timeout: Option<Duration>,
    mode: StatementMode,
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
            .field("connect_timeout", &self.connect_timeout)
            .field("ping_timeout", &self.ping_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("statement_mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PostgresManager {
    /// The connect bound (TCP connect and handshake) when the config sets none.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The pre-ping bound.
    pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(5);
    /// The bound of the pool's other calls on a connection (reset on return).
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);
    /// PostgreSQL's port, when the config names none.
    pub const DEFAULT_PORT: u16 = 5432;

    /// A manager for `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::managers::postgres::tokio_postgres::Config;
    /// use tarn_pool::managers::PostgresManager;
    ///
    /// let mut config = Config::new();
    /// config.host("127.0.0.1").user("postgres").password("s3cret").dbname("test");
    /// let m = PostgresManager::new(config);
    /// assert!(!format!("{m:?}").contains("s3cret"));
    /// ```
    pub fn new(config: Config) -> Self {
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT);
        PostgresManager {
            config,
            connect_timeout,
            ping_timeout: Self::DEFAULT_PING_TIMEOUT,
            io_timeout: Self::DEFAULT_IO_TIMEOUT,
            query_timeout: None,
            mode: StatementMode::Named,
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
    /// # Ok::<(), tarn_pool::managers::postgres::PgError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, PgError> {
        Config::from_str(url)
            .map(Self::new)
            .map_err(PgError::Driver)
    }

    /// How long opening a connection (TCP connect, startup, authentication) may take.
    /// Defaults to the config's `connect_timeout`, else 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a pre-ping may take before the connection counts as broken. Defaults to
    /// 5 s.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// How long a reset on return may take before the connection is closed instead.
    /// Defaults to 10 s.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// The bound of each user call on a new connection ([`PgConnection::set_timeout`]).
    /// Defaults to none: a long query is the server's `statement_timeout`'s business.
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// How connections send parameterized statements. [`StatementMode::TransactionPooling`]
    /// is the one for PgBouncer in transaction or statement pooling mode. Defaults to
    /// [`StatementMode::Named`].
    pub fn statement_mode(mut self, mode: StatementMode) -> Self {
        self.mode = mode;
        self
    }

    /// The driver configuration connections are opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configured connect bound.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `host:port/dbname as user` for messages; never the password.
    fn target(&self) -> String {
        let hosts: Vec<String> = self
            .endpoints()
            .map(|eps| eps.iter().map(|(h, p)| format!("{h}:{p}")).collect())
            .unwrap_or_default();
        format!(
            "{}/{} as {}",
            hosts.join(","),
            self.config.get_dbname().unwrap_or(""),
            self.config.get_user().unwrap_or("")
        )
    }

    /// The TCP `(host, port)` pairs to try, in order.
    fn endpoints(&self) -> Result<Vec<(String, u16)>, PgError> {
        let ports = self.config.get_ports();
        let port = |i: usize| match ports {
            [] => Self::DEFAULT_PORT,
            [one] => *one,
            many => many.get(i).copied().unwrap_or(Self::DEFAULT_PORT),
        };
        // A `hostaddr` stands in for the host at the same position (no name lookup).
        let addrs = self.config.get_hostaddrs();
        let hosts = self.config.get_hosts();
        if hosts.is_empty() && addrs.is_empty() {
            return Ok(vec![("localhost".to_owned(), port(0))]);
        }
        (0..hosts.len().max(addrs.len()))
            .map(|i| match (addrs.get(i), hosts.get(i)) {
                (Some(addr), _) => Ok((addr.to_string(), port(i))),
                (None, Some(Host::Tcp(name))) => Ok((name.clone(), port(i))),
                _ => Err(PgError::Unsupported(
                    "Unix socket hosts (use a TCP host)".to_owned(),
                )),
            })
            .collect()
    }

    fn open(&self, limit: Option<Duration>) -> Result<PgConnection, PgError> {
        let bound = limit.map_or(self.connect_timeout, |l| l.min(self.connect_timeout));
        let connect_error = |source| PgError::Connect {
            target: self.target(),
            source: Box::new(source),
        };
        let endpoints = self.endpoints().map_err(connect_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| connect_error(PgError::Io(e)))?;
        let config = &self.config;
        let opened = runtime.block_on(async {
            let attempt = async {
                let mut last = None;
                for (host, port) in &endpoints {
                    match TcpStream::connect((host.as_str(), *port)).await {
                        Ok(socket) => {
                            let _ = socket.set_nodelay(true);
                            return config
                                .connect_raw(socket, NoTls)
                                .await
                                .map_err(PgError::Driver);
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(PgError::Io(last.unwrap_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no host to connect to")
                })))
            };
            tokio::time::timeout(bound, attempt)
                .await
                .unwrap_or(Err(PgError::TimedOut {
                    what: "connect",
                    after: bound,
                }))
        });
        match opened {
            Ok((client, task)) => Ok(PgConnection::new(
                runtime,
                client,
                task,
                self.mode,
                self.query_timeout,
                self.target(),
            )),
            Err(e) => {
                // A name lookup still running on the runtime's blocking thread finishes on
                // its own; the caller does not wait for it.
                runtime.shutdown_background();
                Err(connect_error(e))
            }
        }
    }
}

impl FromStr for PostgresManager {
    type Err = PgError;

    fn from_str(s: &str) -> Result<Self, PgError> {
        Self::from_url(s)
    }
}

impl Manager for PostgresManager {
    type Connection = PgConnection;
    type Error = PgError;

    fn connect(&self) -> Result<PgConnection, PgError> {
        self.open(None)
    }

    fn connect_within(&self, limit: Option<Duration>) -> Result<PgConnection, PgError> {
        self.open(limit)
    }

    fn reset(&self, conn: &mut PgConnection, mode: ResetMode) -> Result<(), PgError> {
        self.reset_within(conn, mode, None)
    }

    /// `ROLLBACK` or `COMMIT` under the shorter of `limit` and the I/O timeout. Behind
    /// PgBouncer in transaction pooling mode this is also the reset that fits: it ends the
    /// client's transaction, which returns the server session to PgBouncer; a session reset
    /// (`DISCARD ALL`) would reach whichever server session PgBouncer picks, so it is not
    /// sent in either mode.
    fn reset_within(
        &self,
        conn: &mut PgConnection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), PgError> {
        let bound = Some(limit.map_or(self.io_timeout, |l| l.min(self.io_timeout)));
        let sql = match mode {
            ResetMode::Rollback => "ROLLBACK",
            ResetMode::Commit => "COMMIT",
            ResetMode::None => return Ok(()),
        };
        conn.run_within(bound, "reset", |c| c.batch_execute(sql))
    }

    fn close(&self, conn: PgConnection) {
        conn.close_now();
    }

    fn ping(&self, conn: &mut PgConnection) -> Result<(), PgError> {
        self.ping_within(conn, None)
    }

    fn ping_within(&self, conn: &mut PgConnection, limit: Option<Duration>) -> Result<(), PgError> {
        let bound = Some(limit.map_or(self.ping_timeout, |l| l.min(self.ping_timeout)));
        conn.run_within(bound, "ping", |c| c.simple_query(""))
            .map(drop)
    }

    fn is_disconnect(&self, error: &PgError) -> bool {
        is_disconnect(error)
    }
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
            m.get_connect_timeout(),
            PostgresManager::DEFAULT_CONNECT_TIMEOUT
        );
        let m = PostgresManager::from_url("postgres://h/db?connect_timeout=2").unwrap();
        assert_eq!(m.get_connect_timeout(), Duration::from_secs(2));
    }

    #[test]
    fn bad_urls_are_errors() {
        assert!(PostgresManager::from_url("postgres://h:notaport/db").is_err());
    }

    #[test]
    fn a_refused_connection_is_a_disconnect_that_names_its_target() {
        // Port 1 on loopback: nothing listens there.
        let m = PostgresManager::from_url("postgres://u:hunter2@127.0.0.1:1/db").unwrap();
        let Err(err) = m.connect_within(Some(Duration::from_secs(2))) else {
            panic!("nothing listens on port 1");
        };
        assert!(m.is_disconnect(&err), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("127.0.0.1:1/db as u"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_hostaddr_stands_in_for_its_host() {
        let m =
            PostgresManager::from_url("host=db.internal hostaddr=127.0.0.1 port=1 user=u").unwrap();
        let Err(err) = m.connect_within(Some(Duration::from_secs(2))) else {
            panic!("nothing listens on port 1");
        };
        // Refused at 127.0.0.1, not a failed lookup of db.internal.
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        assert!(m.is_disconnect(&err), "{err}");
    }

    #[test]
    fn unix_socket_hosts_are_refused_clearly() {
        let m = PostgresManager::from_url("host=/run/postgresql user=u").unwrap();
        let Err(err) = m.connect() else {
            panic!("Unix sockets are not supported");
        };
        assert!(err.to_string().contains("Unix socket"), "{err}");
    }
}
