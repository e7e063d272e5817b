//! Managers for real databases, each behind a feature: SQLite (default), PostgreSQL,
//! MariaDB/MySQL, Redis, and a bridge for any `r2d2::ManageConnection`.
//!
//! Every manager implements [`tarn_core::Manager`]: it connects from a URL or the driver's
//! own config, resets a returned connection as the pool's [`ResetMode`](tarn_core::ResetMode)
//! says (`ROLLBACK`, `COMMIT`, or nothing), pings, and tells a disconnect error (the server
//! or the session is gone: the pool replaces connections) from any other error. Each
//! module re-exports its driver crate, so the connection type a pool hands out is always
//! the one the manager was built with.
//!
//! | feature | manager | connection | server-side session id |
//! |---|---|---|---|
//! | `sqlite` (default) | `SqliteManager` | `rusqlite::Connection` | — |
//! | `postgres` | `PostgresManager` | `PgConnection` (tokio-postgres, driven in place) | `pg_backend_pid()` |
//! | `mysql` | `MysqlManager` | `MysqlConnection` (a `mysql::Conn`) | `CONNECTION_ID()` |
//! | `redis` | `RedisManager` | `redis::Connection` | `CLIENT ID` |
//! | `r2d2` | `R2d2Manager` | the r2d2 manager's | — |
//!
//! Managers that hold a URL or a password never show it in `Debug`, `Display` or the errors
//! they make; those errors name the target (host, port, database) and keep the driver's
//! error as their cause.
//!
//! # Deadlines
//!
//! The managers for servers (MariaDB/MySQL, Redis; PostgreSQL in its module) implement the
//! `*_within` methods of [`Manager`](tarn_core::Manager): a connect, ping or reset given a
//! limit returns within it, with a time-out error (an I/O error of kind `TimedOut` naming
//! the target and the step) once it has passed. Each also has a connect timeout and an I/O
//! timeout, set by its builder, that bound the calls made without a limit. `close` never
//! waits for the server. SQLite's busy timeout is capped by the limit the same way.

#[cfg(any(feature = "mysql", feature = "redis"))]
mod deadline;
#[cfg(any(feature = "mysql", feature = "redis"))]
mod targeted;

#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteManager;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresManager;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "mysql")]
pub use self::mysql::MysqlManager;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisManager;

#[cfg(feature = "r2d2")]
pub mod r2d2;
#[cfg(feature = "r2d2")]
pub use self::r2d2::{R2d2Error, R2d2Manager};

#[cfg(feature = "diesel")]
pub mod diesel;
#[cfg(feature = "diesel")]
pub use self::diesel::{DieselError, DieselManager};
