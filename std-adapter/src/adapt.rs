//! The user's manager, made panic-safe, and the wall clock: what the core pool is given.
//!
//! [`Mgr`] wraps the user's [`Manager`] so that a panic in it becomes an error (a panicking
//! `connect` fails the checkout; a panicking `reset` or `ping` invalidates the connection;
//! a panicking `close` is logged and the connection dropped). The connections are the
//! user's own: the core keeps what it needs about each one (age, generation, soft mark) and
//! says why it closes one ([`tarn_core::CloseReason`]), so the adapter keeps no copy.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarn_core::{Manager, ResetMode};

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

/// The user's manager, made panic-safe. Shared (an `Arc`) so that `recreate` builds a new
/// pool over the same manager without asking for `M: Clone`.
pub(crate) struct Mgr<M> {
    pub(crate) inner: Arc<M>,
}

fn panicked<E>(step: &str, p: &(dyn Any + Send)) -> MgrError<E> {
    MgrError::Panicked(format!(
        "the manager panicked in {step}: {}",
        panic_message(p)
    ))
}

impl<M: Manager> Manager for Mgr<M> {
    type Connection = M::Connection;
    type Error = MgrError<M::Error>;

    fn connect(&self) -> Result<Self::Connection, Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.connect())) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(panicked("connect", &*p)),
        }
    }

    #[inline]
    fn reset(&self, conn: &mut Self::Connection, mode: ResetMode) -> Result<(), Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.reset(conn, mode))) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(panicked("reset", &*p)),
        }
    }

    fn close(&self, conn: Self::Connection) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.inner.close(conn))) {
            tracing::error!(
                "Exception closing connection: the manager panicked: {}",
                panic_message(&*p)
            );
        }
    }

    fn ping(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        let r = catch_unwind(AssertUnwindSafe(|| self.inner.ping(conn)));
        self.pinged(r)
    }

    fn connect_within(&self, limit: Option<Duration>) -> Result<Self::Connection, Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.connect_within(limit))) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(panicked("connect", &*p)),
        }
    }

    #[inline]
    fn reset_within(
        &self,
        conn: &mut Self::Connection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), Self::Error> {
        match catch_unwind(AssertUnwindSafe(|| {
            self.inner.reset_within(conn, mode, limit)
        })) {
            Ok(r) => r.map_err(MgrError::Manager),
            Err(p) => Err(panicked("reset", &*p)),
        }
    }

    fn ping_within(
        &self,
        conn: &mut Self::Connection,
        limit: Option<Duration>,
    ) -> Result<(), Self::Error> {
        let r = catch_unwind(AssertUnwindSafe(|| self.inner.ping_within(conn, limit)));
        self.pinged(r)
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        // A panic here says nothing good about the connection: treat it as broken.
        catch_unwind(AssertUnwindSafe(|| self.inner.has_broken(conn))).unwrap_or(true)
    }

    fn is_disconnect(&self, error: &Self::Error) -> bool {
        match error {
            MgrError::Manager(e) => self.is_disconnect_inner(e),
            MgrError::Panicked(_) => false,
        }
    }
}

impl<M: Manager> Mgr<M> {
    /// A ping's outcome: a disconnect is logged (the core invalidates the pool for it).
    fn pinged(
        &self,
        r: std::thread::Result<Result<(), M::Error>>,
    ) -> Result<(), MgrError<M::Error>> {
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                if self.is_disconnect_inner(&e) {
                    tracing::warn!("Pre-ping found a disconnect ({e:?}); the pool is invalidated");
                }
                Err(MgrError::Manager(e))
            }
            Err(p) => Err(panicked("ping", &*p)),
        }
    }

    fn is_disconnect_inner(&self, e: &M::Error) -> bool {
        catch_unwind(AssertUnwindSafe(|| self.inner.is_disconnect(e))).unwrap_or(false)
    }
}

/// A user's clock (`Builder::clock`), behind a pointer: `tarn_core::Clock` has an
/// associated constant, so it cannot be a trait object itself.
pub(crate) trait UserClock: Send + Sync {
    fn now(&self) -> u64;
}

impl<K: tarn_core::Clock + Send + Sync> UserClock for K {
    #[inline]
    fn now(&self) -> u64 {
        tarn_core::Clock::now(self)
    }
}

/// Time for the core's age checks (recycle): nanoseconds since the pool was built, or the
/// user's clock (ticks read as nanoseconds). Read by the core only when an age is set.
#[derive(Clone)]
pub(crate) struct StdClock {
    start: Instant,
    user: Option<Arc<dyn UserClock>>,
}

impl StdClock {
    pub(crate) fn new(user: Option<Arc<dyn UserClock>>) -> Self {
        StdClock {
            start: Instant::now(),
            user,
        }
    }
}

impl tarn_core::Clock for StdClock {
    #[inline]
    fn now(&self) -> u64 {
        match &self.user {
            Some(clock) => clock.now(),
            None => u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
}
