//! SQLite through [`rusqlite`] with its bundled library: the embedded default, nothing to
//! install.
//!
//! # Which pool for which database
//!
//! As in the reference pool:
//!
//! - a **file** database is shared by every connection: use the default `QueuePool`
//!   (`tarn_pool::Pool`). Turn on [`wal`](SqliteManager::wal) for concurrent readers and one
//!   writer without `database is locked` errors, and keep the default
//!   [`busy_timeout`](SqliteManager::busy_timeout).
//! - a **memory** database (`:memory:`) exists once per connection: two connections see two
//!   different databases. Use [`SingletonThreadPool`](crate::SingletonThreadPool) (one
//!   connection, so one database, per thread) or [`StaticPool`](crate::StaticPool) (one
//!   connection shared by every caller; a `rusqlite::Connection` is not `Sync`, so within
//!   one thread), as the reference does. [`SqliteManager::is_memory`] tells which case a
//!   manager is.
//!
//! # Examples
//!
//! ```
//! use tarn_pool::managers::SqliteManager;
//! use tarn_pool::Pool;
//!
//! let dir = std::env::temp_dir().join(format!("tarn-doc-sqlite-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let manager = SqliteManager::file(dir.join("app.db")).wal(true);
//! let pool = Pool::builder(manager).pool_size(2).build()?;
//!
//! let conn = pool.get()?;
//! conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER); BEGIN; INSERT INTO t VALUES (1);")?;
//! drop(conn); // rolled back on return: the pool's default reset
//!
//! let conn = pool.get()?;
//! let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
//! assert_eq!(n, 0);
//! # drop(conn);
//! # drop(pool);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use rusqlite;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use tarn_core::{Manager, ResetMode};

/// A hook run on every new connection, after the manager's own pragmas.
type InitFn = dyn Fn(&mut Connection) -> rusqlite::Result<()> + Send + Sync;

/// Where the connections of a [`SqliteManager`] point.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `:memory:`: a new, private database per connection.
    Memory,
    /// A database file.
    File(PathBuf),
}

/// Opens SQLite connections ([`rusqlite::Connection`]) to one database.
///
/// Defaults: read-write, created if missing, a 5 s busy timeout, the journal mode the file
/// already has, no init hook. See the [module docs](self) for which pool to use.
#[derive(Clone)]
pub struct SqliteManager {
    target: Target,
    flags: OpenFlags,
    busy_timeout: Duration,
    wal: bool,
    init: Option<Arc<InitFn>>,
}

// Manual impl: the init hook is a closure.
impl fmt::Debug for SqliteManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteManager")
            .field("target", &self.target)
            .field("busy_timeout", &self.busy_timeout)
            .field("wal", &self.wal)
            .field("init", &self.init.is_some())
            .finish_non_exhaustive()
    }
}

/// A `sqlite:` URL that [`SqliteManager::from_url`] does not understand. Its `Debug` and
/// `Display` show the URL with any password redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SqliteUrlError {
    url: String,
}

// Manual impl: the URL may hold another database's password.
impl fmt::Debug for SqliteUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteUrlError")
            .field("url", &crate::registry::redact(&self.url))
            .finish()
    }
}

impl fmt::Display for SqliteUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may be another database's, with its password: show it redacted.
        write!(
            f,
            "not an SQLite URL: {:?} (expected sqlite::memory:, sqlite:///absolute/path or sqlite://relative/path)",
            crate::registry::redact(&self.url)
        )
    }
}

impl std::error::Error for SqliteUrlError {}

impl SqliteManager {
    /// A manager for the database file at `path` (created if missing).
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self::with_target(Target::File(path.as_ref().to_path_buf()))
    }

    /// A manager for `:memory:` databases: each connection has its own. Pool it with
    /// `tarn_pool::SingletonThreadPool` or `tarn_pool::StaticPool` (see the [module docs](self)).
    pub fn memory() -> Self {
        Self::with_target(Target::Memory)
    }

    fn with_target(target: Target) -> Self {
        SqliteManager {
            target,
            flags: OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            busy_timeout: Duration::from_secs(5),
            wal: false,
            init: None,
        }
    }

    /// A manager from a URL: `sqlite::memory:` (or `sqlite://:memory:`) for memory
    /// databases, `sqlite:///absolute/path.db` or `sqlite://relative/path.db` (also
    /// `sqlite:path.db`) for files.
    ///
    /// # Errors
    ///
    /// [`SqliteUrlError`] if the URL does not start with `sqlite:` or names no database.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::managers::SqliteManager;
    ///
    /// assert!(SqliteManager::from_url("sqlite::memory:")?.is_memory());
    /// assert!(!SqliteManager::from_url("sqlite:///tmp/app.db")?.is_memory());
    /// assert!(SqliteManager::from_url("postgres://localhost/app").is_err());
    /// # Ok::<(), tarn_pool::managers::sqlite::SqliteUrlError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, SqliteUrlError> {
        let err = || SqliteUrlError {
            url: url.to_owned(),
        };
        let rest = url.strip_prefix("sqlite:").ok_or_else(err)?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        match rest {
            "" => Err(err()),
            ":memory:" => Ok(Self::memory()),
            path => Ok(Self::file(path)),
        }
    }

    /// Whether this manager opens `:memory:` databases (one per connection).
    pub fn is_memory(&self) -> bool {
        self.target == Target::Memory
    }

    /// The database file, or `None` for memory databases.
    pub fn path(&self) -> Option<&Path> {
        match &self.target {
            Target::File(p) => Some(p),
            Target::Memory => None,
        }
    }

    /// How long a statement waits for another connection's lock before failing with
    /// `database is locked`. Defaults to 5 s. The pool's connect and reset with a deadline
    /// wait at most the time the caller has left, if that is shorter.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The busy timeout for a call with `limit` left.
    fn busy_within(&self, limit: Option<Duration>) -> Duration {
        limit.map_or(self.busy_timeout, |l| l.min(self.busy_timeout))
    }

    /// Puts file databases in write-ahead-log mode on connect (readers never block the
    /// writer). Defaults to `false` (the file keeps its journal mode). Ignored for memory
    /// databases.
    pub fn wal(mut self, on: bool) -> Self {
        self.wal = on;
        self
    }

    /// The flags passed to `sqlite3_open_v2`. Defaults to read-write, create, URI filenames,
    /// no per-connection mutex (a pooled connection is used by one thread at a time).
    pub fn flags(mut self, flags: OpenFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Runs `init` on every new connection (pragmas, functions, attached databases). An
    /// error fails the connect.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_pool::managers::SqliteManager;
    /// use tarn_pool::Manager;
    ///
    /// let manager = SqliteManager::memory()
    ///     .on_connect(|conn| conn.execute_batch("PRAGMA foreign_keys = ON"));
    /// let conn = manager.connect()?;
    /// let on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    /// assert!(on);
    /// # Ok::<(), tarn_pool::managers::sqlite::rusqlite::Error>(())
    /// ```
    pub fn on_connect<F>(mut self, init: F) -> Self
    where
        F: Fn(&mut Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    {
        self.init = Some(Arc::new(init));
        self
    }
}

impl Manager for SqliteManager {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        self.connect_within(None)
    }

    fn reset(&self, conn: &mut Connection, mode: ResetMode) -> Result<(), rusqlite::Error> {
        self.reset_within(conn, mode, None)
    }

    /// Opens the connection with its busy timeout capped by `limit` while the manager's
    /// pragmas and init hook run (`PRAGMA journal_mode = WAL` waits for other
    /// connections' locks), then sets the configured busy timeout.
    fn connect_within(&self, limit: Option<Duration>) -> Result<Connection, rusqlite::Error> {
        let mut conn = match &self.target {
            Target::Memory => Connection::open_in_memory_with_flags(self.flags)?,
            Target::File(path) => Connection::open_with_flags(path, self.flags)?,
        };
        conn.busy_timeout(self.busy_within(limit))?;
        if self.wal && !self.is_memory() {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            // A read-only or special file may refuse WAL; keep what it has.
            let _ = mode;
            conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        }
        if let Some(init) = &self.init {
            init(&mut conn)?;
        }
        if limit.is_some() {
            conn.busy_timeout(self.busy_timeout)?;
        }
        Ok(conn)
    }

    /// Ends the open transaction, if any, with the busy timeout capped by `limit` (a
    /// `COMMIT` waits for readers of other connections to finish), then puts the
    /// configured busy timeout back.
    fn reset_within(
        &self,
        conn: &mut Connection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), rusqlite::Error> {
        if conn.is_autocommit() {
            return Ok(()); // no transaction open: nothing to end
        }
        let end = match mode {
            ResetMode::Rollback => "ROLLBACK",
            ResetMode::Commit => "COMMIT",
            ResetMode::None => return Ok(()),
        };
        let capped = limit.is_some_and(|l| l < self.busy_timeout);
        if capped {
            conn.busy_timeout(self.busy_within(limit))?;
        }
        let ended = conn.execute_batch(end);
        if capped {
            conn.busy_timeout(self.busy_timeout)?;
        }
        ended
    }

    fn close(&self, conn: Connection) {
        // A close that fails (unfinalized statements) hands the connection back; dropping it
        // then closes it for good.
        if let Err((conn, _)) = conn.close() {
            drop(conn);
        }
    }

    /// `SELECT 1`: it reads no table, so it takes no lock and never waits on the busy
    /// timeout; no limit applies.
    fn ping(&self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        conn.query_row("SELECT 1", [], |_| Ok(()))
    }

    /// SQLite has no server; a connection is "disconnected" when its file can no longer be
    /// read or opened (I/O error, file gone, not a database): a new connection may work.
    fn is_disconnect(&self, error: &rusqlite::Error) -> bool {
        matches!(
            error.sqlite_error_code(),
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen | ErrorCode::NotADatabase)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_url_accepts_the_documented_forms() {
        assert!(SqliteManager::from_url("sqlite::memory:")
            .unwrap()
            .is_memory());
        assert!(SqliteManager::from_url("sqlite://:memory:")
            .unwrap()
            .is_memory());
        assert_eq!(
            SqliteManager::from_url("sqlite:///tmp/a.db")
                .unwrap()
                .path(),
            Some(Path::new("/tmp/a.db"))
        );
        assert_eq!(
            SqliteManager::from_url("sqlite://rel/a.db").unwrap().path(),
            Some(Path::new("rel/a.db"))
        );
        assert_eq!(
            SqliteManager::from_url("sqlite:a.db").unwrap().path(),
            Some(Path::new("a.db"))
        );
        assert!(SqliteManager::from_url("sqlite:").is_err());
        assert!(SqliteManager::from_url("mysql://h/db").is_err());
    }

    #[test]
    fn reset_modes_end_an_open_transaction_as_asked() {
        let m = SqliteManager::memory();
        let mut conn = m.connect().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let count = |c: &Connection| -> i64 {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };

        conn.execute_batch("BEGIN; INSERT INTO t VALUES (1)")
            .unwrap();
        m.reset(&mut conn, ResetMode::Rollback).unwrap();
        assert!(conn.is_autocommit());
        assert_eq!(count(&conn), 0, "rollback discards the write");

        conn.execute_batch("BEGIN; INSERT INTO t VALUES (1)")
            .unwrap();
        m.reset(&mut conn, ResetMode::Commit).unwrap();
        assert!(conn.is_autocommit());
        assert_eq!(count(&conn), 1, "commit keeps the write");

        conn.execute_batch("BEGIN; INSERT INTO t VALUES (2)")
            .unwrap();
        m.reset(&mut conn, ResetMode::None).unwrap();
        assert!(!conn.is_autocommit(), "none leaves the transaction open");
        m.reset(&mut conn, ResetMode::Rollback).unwrap();
        m.close(conn);
    }

    #[test]
    fn reset_without_a_transaction_is_a_no_op() {
        let m = SqliteManager::memory();
        let mut conn = m.connect().unwrap();
        for mode in [ResetMode::Rollback, ResetMode::Commit, ResetMode::None] {
            m.reset(&mut conn, mode).unwrap();
        }
        m.ping(&mut conn).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_disconnect_and_a_syntax_error_is_not() {
        let m = SqliteManager::file("/nonexistent-tarn-dir/sub/x.db");
        let err = m.connect().unwrap_err();
        assert!(m.is_disconnect(&err), "{err}");

        let mem = SqliteManager::memory();
        let conn = mem.connect().unwrap();
        let err = conn.execute_batch("SELEC 1").unwrap_err();
        assert!(!mem.is_disconnect(&err), "{err}");
    }

    #[test]
    fn init_hook_errors_fail_the_connect() {
        let m = SqliteManager::memory().on_connect(|c| c.execute_batch("NOT SQL"));
        assert!(m.connect().is_err());
        assert!(format!("{m:?}").contains("init: true"));
    }
}
