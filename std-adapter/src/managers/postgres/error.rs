//! [`PgError`]: what a [`PgConnection`](super::PgConnection) or
//! [`PostgresManager`](super::PostgresManager) call reports, and which of those errors mean
//! the connection is gone.

use std::error::Error as StdError;

use std::fmt;
use std::time::Duration;

use tokio_postgres::error::SqlState;

/// An error of the PostgreSQL manager or of a connection it opened. No variant carries a
/// password: targets are `host:port/dbname as user`, and the driver's messages never
/// include the configuration. `Display` gives the whole cause.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgError {
    /// The driver's or the server's error.
    Driver(tokio_postgres::Error),
    /// Opening a connection to `target` failed; `source` says how.
    Connect {
        /// `host:port/dbname as user`.
        target: String,
        /// The TCP, handshake or authentication error, or [`PgError::TimedOut`].
        source: Box<PgError>,
    },
    /// The TCP connect failed (refused, unreachable, no address for the host).
    Io(std::io::Error),
    /// The server did not answer `what` within `after`.
    TimedOut {
        /// What was waited for: `connect`, `ping`, `reset`, `query`, `prepare`.
        what: &'static str,
        /// The limit that passed.
        after: Duration,
    },
    /// A statement was given the wrong number of parameters.
    Parameters {
        /// How many the statement has.
        expected: usize,
        /// How many were given.
        given: usize,
    },
    /// `query_one` / `query_opt` got the wrong number of rows.
    RowCount {
        /// "one" or "at most one".
        expected: &'static str,
        /// How many came back.
        got: usize,
    },
    /// The configuration asks for something this manager does not do (a Unix socket
    /// host, TLS).
    Unsupported(String),
}

impl PgError {
    /// The SQLSTATE of a server error, if this is one.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            PgError::Driver(e) => e.code(),
            PgError::Connect { source, .. } => source.code(),
            _ => None,
        }
    }

    /// Whether this error was a timeout (of the connect included).
    pub fn is_timeout(&self) -> bool {
        match self {
            PgError::TimedOut { .. } => true,
            PgError::Connect { source, .. } => source.is_timeout(),
            _ => false,
        }
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Driver(e) => {
                write!(f, "{e}")?;
                // The driver's message ("db error", "error communicating with the server")
                // leaves the reason to its source: show it, and the source's own causes.
                let mut cause = e.source();
                while let Some(c) = cause {
                    write!(f, ": {c}")?;
                    cause = c.source();
                }
                Ok(())
            }
            PgError::Connect { target, source } => write!(f, "connecting to {target}: {source}"),
            PgError::Io(e) => write!(f, "{e}"),
            PgError::TimedOut { what, after } => {
                write!(f, "PostgreSQL {what} timed out after {after:?}")
            }
            PgError::Parameters { expected, given } => write!(
                f,
                "the statement has {expected} parameters but {given} were given"
            ),
            PgError::RowCount { expected, got } => {
                write!(f, "expected {expected} row, the query returned {got}")
            }
            PgError::Unsupported(what) => write!(f, "not supported: {what}"),
        }
    }
}

/// `Display` already carries the whole cause (a driver error's message is followed by its
/// causes, and [`PgError::Connect`]'s by its source's), so `source` is `None` and a caller that prints
/// the chain prints each cause once; the typed causes are in the variants.
impl StdError for PgError {}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Driver(e)
    }
}

/// Whether `error` means the connection (or the server) is gone: a closed connection, an
/// I/O error, a timeout (the server stopped answering), an SQLSTATE of class 08
/// (connection exception) or 57P01–57P03 (the session was terminated:
/// `pg_terminate_backend`, shutdown, restart).
pub fn is_disconnect(error: &PgError) -> bool {
    match error {
        PgError::Driver(e) => is_driver_disconnect(e),
        PgError::Connect { source, .. } => is_disconnect(source),
        PgError::Io(_) | PgError::TimedOut { .. } => true,
        PgError::Parameters { .. } | PgError::RowCount { .. } | PgError::Unsupported(_) => false,
    }
}

/// The same classification for a bare driver error (from the `postgres` crate's client,
/// say).
pub fn is_driver_disconnect(error: &tokio_postgres::Error) -> bool {
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
    let mut source = StdError::source(error);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}
