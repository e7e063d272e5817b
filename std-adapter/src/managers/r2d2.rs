//! A bridge that makes any [`r2d2::ManageConnection`] a tarn [`Manager`], unchanged: the
//! managers written for r2d2 (`r2d2_postgres`, `r2d2_sqlite`, `r2d2_mysql`, diesel's
//! `ConnectionManager`, redis' r2d2 support) plug into a tarn pool as they are.
//!
//! How the two models map:
//!
//! | tarn | r2d2 |
//! |---|---|
//! | `connect` | `connect` |
//! | `ping` (pre-ping) | `is_valid` (r2d2's `test_on_check_out`) |
//! | `reset` on return | `has_broken` first (a broken connection fails the reset, so it is not rolled back but closed), then the optional [`on_reset`](R2d2Manager::on_reset) hook |
//! | `has_broken`, asked on every return in every [`ResetMode`] ([`ResetMode::None`] included) | `has_broken` (a broken connection is closed instead of kept idle, as r2d2 does) |
//! | `close` | drop |
//! | `is_disconnect` | [`R2d2Error::Broken`] and [`R2d2Error::Invalid`] (r2d2 discards such a connection and tries another: so does tarn, without the caller seeing it), or the optional [`disconnect_if`](R2d2Manager::disconnect_if) rule |
//!
//! r2d2 managers know nothing of transactions, so by default a returned connection is only
//! checked, not rolled back: give [`on_reset`](R2d2Manager::on_reset) the `ROLLBACK` of your
//! database to get tarn's reset on return.
//!
//! # Examples
//!
//! Any r2d2 manager, here a minimal one:
//!
//! ```
//! use tarn_pool::managers::r2d2::r2d2::ManageConnection;
//! use tarn_pool::managers::R2d2Manager;
//! use tarn_pool::Pool;
//!
//! struct Sevens;
//!
//! impl ManageConnection for Sevens {
//!     type Connection = u32;
//!     type Error = std::io::Error;
//!     fn connect(&self) -> Result<u32, std::io::Error> { Ok(7) }
//!     fn is_valid(&self, _: &mut u32) -> Result<(), std::io::Error> { Ok(()) }
//!     fn has_broken(&self, _: &mut u32) -> bool { false }
//! }
//!
//! let pool = Pool::builder(R2d2Manager::new(Sevens)).pool_size(2).pre_ping(true).build()?;
//! assert_eq!(*pool.get()?, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `r2d2_sqlite`'s manager with tarn's rollback on return (the crate's integration tests run
//! this):
//!
//! ```ignore
//! use tarn_pool::managers::R2d2Manager;
//! use tarn_pool::{Pool, ResetMode};
//!
//! let manager = R2d2Manager::new(r2d2_sqlite::SqliteConnectionManager::file("app.db"))
//!     .on_reset(|conn, mode| match mode {
//!         ResetMode::Rollback if !conn.is_autocommit() => conn.execute_batch("ROLLBACK"),
//!         ResetMode::Commit if !conn.is_autocommit() => conn.execute_batch("COMMIT"),
//!         _ => Ok(()),
//!     });
//! let pool = Pool::builder(manager).pool_size(4).build()?;
//! ```

use std::fmt;
use std::sync::Arc;

pub use r2d2;
use r2d2::ManageConnection;
use tarn_core::{Manager, ResetMode};

type ResetFn<M> = dyn Fn(
        &mut <M as ManageConnection>::Connection,
        ResetMode,
    ) -> Result<(), <M as ManageConnection>::Error>
    + Send
    + Sync;
type DisconnectFn<M> = dyn Fn(&<M as ManageConnection>::Error) -> bool + Send + Sync;

/// Wraps an [`r2d2::ManageConnection`] as a tarn [`Manager`]. See the [module docs](self).
pub struct R2d2Manager<M: ManageConnection> {
    inner: M,
    reset: Option<Arc<ResetFn<M>>>,
    disconnect: Option<Arc<DisconnectFn<M>>>,
}

// Manual impl: r2d2 managers need not be `Debug` (and may hold secrets); hooks are closures.
impl<M: ManageConnection> fmt::Debug for R2d2Manager<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("R2d2Manager")
            .field("manager", &core::any::type_name::<M>())
            .field("on_reset", &self.reset.is_some())
            .field("disconnect_if", &self.disconnect.is_some())
            .finish_non_exhaustive()
    }
}

impl<M: ManageConnection + Clone> Clone for R2d2Manager<M> {
    fn clone(&self) -> Self {
        R2d2Manager {
            inner: self.inner.clone(),
            reset: self.reset.clone(),
            disconnect: self.disconnect.clone(),
        }
    }
}

/// The error of an [`R2d2Manager`]: the r2d2 manager's own error, or a connection its
/// `has_broken` reported as broken on return.
#[derive(Debug)]
#[non_exhaustive]
pub enum R2d2Error<E> {
    /// The r2d2 manager's error; also available through `source()`.
    Manager(E),
    /// `has_broken` said the returned connection is broken; it was closed.
    Broken,
    /// `is_valid` failed with this error (pre-ping): the connection is replaced, as r2d2's
    /// `test_on_check_out` replaces it.
    Invalid(E),
}

impl<E> fmt::Display for R2d2Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manager(_) => f.write_str("the r2d2 manager failed"),
            Self::Broken => f.write_str("the r2d2 manager reported the connection as broken"),
            Self::Invalid(_) => f.write_str("the r2d2 manager found the connection invalid"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for R2d2Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Manager(e) | Self::Invalid(e) => Some(e),
            Self::Broken => None,
        }
    }
}

impl<M: ManageConnection> R2d2Manager<M> {
    /// Wraps `manager`, with no reset hook and no disconnect rule.
    pub fn new(manager: M) -> Self {
        R2d2Manager {
            inner: manager,
            reset: None,
            disconnect: None,
        }
    }

    /// Runs `reset` on every returned connection that is not broken, with the pool's
    /// [`ResetMode`] (never called for [`ResetMode::None`]). An error closes the connection.
    pub fn on_reset<F>(mut self, reset: F) -> Self
    where
        F: Fn(&mut M::Connection, ResetMode) -> Result<(), M::Error> + Send + Sync + 'static,
    {
        self.reset = Some(Arc::new(reset));
        self
    }

    /// Tells which of the r2d2 manager's errors mean the server is gone (so the pool
    /// replaces every older connection). Without it only [`R2d2Error::Broken`] and
    /// [`R2d2Error::Invalid`] count.
    pub fn disconnect_if<F>(mut self, rule: F) -> Self
    where
        F: Fn(&M::Error) -> bool + Send + Sync + 'static,
    {
        self.disconnect = Some(Arc::new(rule));
        self
    }

    /// The wrapped r2d2 manager.
    pub fn get_ref(&self) -> &M {
        &self.inner
    }
}

impl<M: ManageConnection> Manager for R2d2Manager<M> {
    type Connection = M::Connection;
    type Error = R2d2Error<M::Error>;

    fn connect(&self) -> Result<M::Connection, Self::Error> {
        self.inner.connect().map_err(R2d2Error::Manager)
    }

    /// Asks `has_broken` first, whatever the mode ([`ResetMode::None`] included): a broken
    /// connection fails with [`R2d2Error::Broken`], so it is closed instead of kept. Then
    /// runs the [`on_reset`](R2d2Manager::on_reset) hook, if any, for `Rollback` and
    /// `Commit`.
    fn reset(&self, conn: &mut M::Connection, mode: ResetMode) -> Result<(), Self::Error> {
        if self.inner.has_broken(conn) {
            return Err(R2d2Error::Broken);
        }
        match &self.reset {
            Some(reset) if mode != ResetMode::None => reset(conn, mode).map_err(R2d2Error::Manager),
            _ => Ok(()),
        }
    }

    fn close(&self, conn: M::Connection) {
        drop(conn);
    }

    /// r2d2's `has_broken`: the pool asks it on every return, whatever the reset mode.
    fn has_broken(&self, conn: &mut M::Connection) -> bool {
        self.inner.has_broken(conn)
    }

    fn ping(&self, conn: &mut M::Connection) -> Result<(), Self::Error> {
        self.inner.is_valid(conn).map_err(R2d2Error::Invalid)
    }

    fn is_disconnect(&self, error: &Self::Error) -> bool {
        match error {
            R2d2Error::Broken | R2d2Error::Invalid(_) => true,
            R2d2Error::Manager(e) => self.disconnect.as_ref().is_some_and(|rule| rule(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Failed;
    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("failed")
        }
    }
    impl std::error::Error for Failed {}

    /// Connections are numbers; `broken` and `valid` are switches.
    #[derive(Default)]
    struct Numbers {
        next: AtomicUsize,
        broken: AtomicBool,
        invalid: AtomicBool,
    }

    impl ManageConnection for Numbers {
        type Connection = usize;
        type Error = Failed;
        fn connect(&self) -> Result<usize, Failed> {
            Ok(self.next.fetch_add(1, Ordering::Relaxed))
        }
        fn is_valid(&self, _: &mut usize) -> Result<(), Failed> {
            if self.invalid.load(Ordering::Relaxed) {
                Err(Failed)
            } else {
                Ok(())
            }
        }
        fn has_broken(&self, _: &mut usize) -> bool {
            self.broken.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn maps_each_call_to_its_r2d2_counterpart() {
        let m = R2d2Manager::new(Numbers::default())
            .on_reset(|conn, mode| {
                *conn += if mode == ResetMode::Commit { 100 } else { 10 };
                Ok(())
            })
            .disconnect_if(|_| true);
        let mut c = m.connect().unwrap();
        assert_eq!(c, 0);
        m.reset(&mut c, ResetMode::Rollback).unwrap();
        m.reset(&mut c, ResetMode::Commit).unwrap();
        m.reset(&mut c, ResetMode::None).unwrap();
        assert_eq!(
            c, 110,
            "the hook runs for rollback and commit, not for none"
        );
        m.ping(&mut c).unwrap();

        m.get_ref().invalid.store(true, Ordering::Relaxed);
        let err = m.ping(&mut c).unwrap_err();
        assert!(matches!(err, R2d2Error::Invalid(Failed)));
        assert!(m.is_disconnect(&err), "an invalid connection is replaced");
        assert!(
            m.is_disconnect(&R2d2Error::Manager(Failed)),
            "the rule decides the rest"
        );

        m.get_ref().broken.store(true, Ordering::Relaxed);
        for mode in [ResetMode::Rollback, ResetMode::Commit, ResetMode::None] {
            let err = m.reset(&mut c, mode).unwrap_err();
            assert!(matches!(err, R2d2Error::Broken), "{mode:?}");
            assert!(m.is_disconnect(&err));
        }
        assert_eq!(c, 110, "the hook does not run on a broken connection");
        m.close(c);
    }

    #[test]
    fn without_a_rule_manager_errors_are_not_disconnects() {
        let m = R2d2Manager::new(Numbers::default());
        assert!(!m.is_disconnect(&R2d2Error::Manager(Failed)));
        assert!(m.is_disconnect(&R2d2Error::Invalid(Failed)));
        assert!(format!("{m:?}").contains("Numbers"));
    }
}
