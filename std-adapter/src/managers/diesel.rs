//! diesel connections in a tarn pool: [`DieselManager`] opens any [`diesel::Connection`]
//! (SQLite, PostgreSQL, MySQL: whichever backend feature the application enables on diesel)
//! and resets it on return with diesel's own transaction manager.
//!
//! | tarn | `DieselManager` |
//! |---|---|
//! | `connect` | `C::establish(url)` |
//! | `ping` (pre-ping) | `SELECT 1` through `batch_execute` |
//! | `reset` on return | if diesel's transaction manager says a transaction is open, rolls it back (or commits, under [`ResetMode::Commit`]) to depth 0; a broken transaction manager fails the reset, so the connection is closed |
//! | `close` | drop |
//! | `is_disconnect` | diesel's `ClosedConnection` error kind |
//!
//! Diesel's query methods (`execute`, `load`, `get_result`, ...) are generic over the
//! connection, so they take `&mut C`, not the pool's guard. The diesel idiom, a function that
//! takes `&mut SqliteConnection` (or `&mut PgConnection`), is called with `&mut guard`: the
//! guard derefs to the connection and the compiler coerces, so no call site writes
//! `&mut *conn` (see `docs/migrating-from-r2d2.md`).
//!
//! A transaction opened with raw SQL (`sql_query("BEGIN")`) is invisible to diesel's
//! transaction manager, so this reset cannot see it: open transactions with
//! `conn.transaction(..)` or diesel's `TransactionManager`.
//!
//! # Examples
//!
//! ```ignore
//! use diesel::prelude::*;
//! use diesel::sqlite::SqliteConnection;
//! use tarn_pool::managers::DieselManager;
//! use tarn_pool::Pool;
//!
//! fn count(conn: &mut SqliteConnection) -> QueryResult<usize> {
//!     diesel::sql_query("SELECT 1").execute(conn)
//! }
//!
//! let pool = Pool::builder(DieselManager::<SqliteConnection>::new("app.db")).build()?;
//! let mut conn = pool.get()?;
//! count(&mut conn)?;
//! ```

use std::fmt;
use std::marker::PhantomData;

pub use diesel;
use diesel::connection::{Connection, TransactionManager};
use diesel::result::{ConnectionError, DatabaseErrorKind, Error as QueryError};
use tarn_core::{Manager, ResetMode};

/// Opens `C` connections from a database URL and resets them with diesel's transaction
/// manager. See the [module docs](self).
pub struct DieselManager<C> {
    url: String,
    _c: PhantomData<fn() -> C>,
}

// Manual impl: the URL may hold a password.
impl<C> fmt::Debug for DieselManager<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselManager")
            .field("connection", &core::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

impl<C> Clone for DieselManager<C> {
    fn clone(&self) -> Self {
        DieselManager {
            url: self.url.clone(),
            _c: PhantomData,
        }
    }
}

impl<C: Connection> DieselManager<C> {
    /// A manager whose connections are `C::establish(url)`.
    pub fn new(url: impl Into<String>) -> Self {
        DieselManager {
            url: url.into(),
            _c: PhantomData,
        }
    }
}

/// The error of a [`DieselManager`]: diesel's, kept as the cause.
#[derive(Debug)]
#[non_exhaustive]
pub enum DieselError {
    /// `establish` failed.
    Connect(ConnectionError),
    /// A ping or a reset failed.
    Query(QueryError),
}

impl fmt::Display for DieselError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(_) => f.write_str("diesel could not open a connection"),
            Self::Query(_) => f.write_str("a diesel ping or reset failed"),
        }
    }
}

impl std::error::Error for DieselError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) => Some(e),
            Self::Query(e) => Some(e),
        }
    }
}

impl<C: Connection + 'static> Manager for DieselManager<C> {
    type Connection = C;
    type Error = DieselError;

    fn connect(&self) -> Result<C, DieselError> {
        C::establish(&self.url).map_err(DieselError::Connect)
    }

    /// Ends a transaction diesel's transaction manager reports open: rolls back (or, under
    /// [`ResetMode::Commit`], commits) one level at a time down to depth 0. A transaction
    /// manager in error fails the reset, so the pool closes the connection.
    fn reset(&self, conn: &mut C, mode: ResetMode) -> Result<(), DieselError> {
        loop {
            let status = C::TransactionManager::transaction_manager_status_mut(conn);
            if status
                .transaction_depth()
                .map_err(DieselError::Query)?
                .is_none()
            {
                return Ok(());
            }
            match mode {
                ResetMode::None => return Ok(()),
                ResetMode::Commit => C::TransactionManager::commit_transaction(conn),
                _ => C::TransactionManager::rollback_transaction(conn),
            }
            .map_err(DieselError::Query)?;
        }
    }

    fn close(&self, conn: C) {
        drop(conn);
    }

    fn ping(&self, conn: &mut C) -> Result<(), DieselError> {
        conn.batch_execute("SELECT 1").map_err(DieselError::Query)
    }

    fn is_disconnect(&self, error: &DieselError) -> bool {
        matches!(
            error,
            DieselError::Query(QueryError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                _
            ))
        )
    }
}
