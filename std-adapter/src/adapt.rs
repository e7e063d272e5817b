//! The adapter's wrappers around the user's manager and connections: what the core pool
//! actually holds.
//!
//! - [`Tracked`] wraps each connection with what the adapter needs to log *why* it is
//!   closed (its age, the pool-invalidation epoch it was opened in, a soft-invalidation mark).
//! - [`Mgr`] wraps the user's [`Manager`] so that a panic in it becomes an error (a panicking
//!   `connect` fails the checkout; a panicking `reset` or `ping` invalidates the connection;
//!   a panicking `close` is logged and the connection dropped).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tarn_core::{Manager, ResetMode};

/// A connection and what the adapter knows about it.
#[derive(Debug)]
pub(crate) struct Tracked<C> {
    pub(crate) conn: C,
    /// Nanoseconds since the pool started, when the connection was opened.
    pub(crate) born: u64,
    /// The adapter's pool-invalidation epoch when the connection was opened.
    pub(crate) epoch: usize,
    /// Soft-invalidated (set by the `soft_invalidate` event).
    pub(crate) soft: bool,
}

/// The error of the wrapped manager: the user's, or a panic.
#[derive(Debug)]
pub(crate) enum MgrError<E> {
    Manager(E),
    Panicked(String),
}

/// Describes a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The user's manager, made panic-safe, plus the clock and epoch every connection is stamped
/// with.
pub(crate) struct Mgr<M> {
    pub(crate) inner: M,
    pub(crate) start: Instant,
    /// The adapter's mirror of the pool epoch: bumped by `invalidate_all`, `dispose`, and a
    /// pre-ping that fails with a disconnect. Only used to tell why a connection is replaced.
    pub(crate) epoch: Arc<AtomicUsize>,
}

impl<M> Mgr<M> {
    pub(crate) fn new(inner: M, start: Instant, epoch: Arc<AtomicUsize>) -> Self {
        Mgr {
            inner,
            start,
            epoch,
        }
    }

    pub(crate) fn now_nanos(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl<M: Manager> Manager for Mgr<M> {
    type Connection = Tracked<M::Connection>;
    type Error = MgrError<M::Error>;

    fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let born = self.now_nanos();
        match catch_unwind(AssertUnwindSafe(|| self.inner.connect())) {
            Ok(Ok(conn)) => Ok(Tracked {
                conn,
                born,
                epoch,
                soft: false,
            }),
            Ok(Err(e)) => Err(MgrError::Manager(e)),
            Err(p) => Err(MgrError::Panicked(format!(
                "the manager panicked in connect: {}",
                panic_message(&*p)
            ))),
        }
    }

    #[inline]
    fn reset(&self, conn: &mut Self::Connection, mode: ResetMode) -> Result<(), Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.reset(&mut conn.conn, mode))) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(MgrError::Panicked(format!(
                "the manager panicked in reset: {}",
                panic_message(&*p)
            ))),
        }
    }

    fn close(&self, conn: Self::Connection) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.inner.close(conn.conn))) {
            tracing::error!(
                "Exception closing connection: the manager panicked: {}",
                panic_message(&*p)
            );
        }
    }

    fn ping(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.ping(&mut conn.conn))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                if self.is_disconnect_inner(&e) {
                    // The core bumps its epoch for this too (every older connection is
                    // replaced as it comes out); mirror it for the log messages.
                    self.epoch.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("Pre-ping found a disconnect; the pool is invalidated");
                }
                Err(MgrError::Manager(e))
            }
            Err(p) => Err(MgrError::Panicked(format!(
                "the manager panicked in ping: {}",
                panic_message(&*p)
            ))),
        }
    }

    fn connect_within(
        &self,
        limit: Option<std::time::Duration>,
    ) -> Result<Self::Connection, Self::Error> {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let born = self.now_nanos();
        match catch_unwind(AssertUnwindSafe(|| self.inner.connect_within(limit))) {
            Ok(Ok(conn)) => Ok(Tracked {
                conn,
                born,
                epoch,
                soft: false,
            }),
            Ok(Err(e)) => Err(MgrError::Manager(e)),
            Err(p) => Err(MgrError::Panicked(format!(
                "the manager panicked in connect: {}",
                panic_message(&*p)
            ))),
        }
    }

    fn reset_within(
        &self,
        conn: &mut Self::Connection,
        mode: ResetMode,
        limit: Option<std::time::Duration>,
    ) -> Result<(), Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| {
            self.inner.reset_within(&mut conn.conn, mode, limit)
        })) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(MgrError::Panicked(format!(
                "the manager panicked in reset: {}",
                panic_message(&*p)
            ))),
        }
    }

    fn ping_within(
        &self,
        conn: &mut Self::Connection,
        limit: Option<std::time::Duration>,
    ) -> Result<(), Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| {
            self.inner.ping_within(&mut conn.conn, limit)
        })) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(MgrError::Panicked(format!(
                "the manager panicked in ping: {}",
                panic_message(&*p)
            ))),
        }
    }

    fn is_disconnect(&self, error: &Self::Error) -> bool {
        match error {
            MgrError::Manager(e) => self.is_disconnect_inner(e),
            MgrError::Panicked(_) => false,
        }
    }
}

impl<M: Manager> Mgr<M> {
    fn is_disconnect_inner(&self, e: &M::Error) -> bool {
        catch_unwind(AssertUnwindSafe(|| self.inner.is_disconnect(e))).unwrap_or(false)
    }
}
