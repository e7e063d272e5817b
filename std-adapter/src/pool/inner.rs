//! [`Inner`]: what one [`Pool`](crate::Pool) is: a tarn-core pool (with the adapter's
//! manager wrapper, events and wait queue) and the configuration it was built from.
//!
//! The core implements every step of a connection's life (open, checkout, return, reset,
//! invalidation, detach, recycle, close) and the sizing as the reference means it
//! (`pool_size` 0: no idle limit; unlimited overflow); the adapter passes the user's
//! settings through unchanged and adds one: the reset on return is bounded by the pool's
//! timeout (`Settings::reset_limit`).

use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tarn_core::{BuildError, Manager, Settings};

use crate::adapt::{panic_message, Mgr, StdClock};
use crate::config::Config;
use crate::events::{Ev, ListenerList};
use crate::info::Info;
use crate::wait::WaitQueue;

/// One pool: the core pool and the configuration it was built from.
pub(crate) struct Inner<M: Manager> {
    /// In an `Arc` of its own, so that an owned guard holds the core pool itself (the core
    /// accepts only pointers that always lead to the same pool: `tarn_core::PoolPtr`).
    pub(crate) core: Arc<tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, Info, WaitQueue>>,
    pub(crate) cfg: Config,
}

impl<M: Manager> Inner<M> {
    /// Validates `cfg` and builds the core pool of a pool of kind `kind` (for its default
    /// logging name), with the core settings the kind derives from `cfg`. Opens no
    /// connection.
    pub(crate) fn new(
        manager: Arc<M>,
        cfg: Config,
        listeners: ListenerList<M::Connection>,
        kind: &str,
        settings: Settings,
    ) -> Result<Self, BuildError> {
        let events = Ev::new(listeners, cfg.echo, cfg.logging_name(kind));
        let core = tarn_core::Builder::new(Mgr { inner: manager })
            .info::<Info>()
            .settings(settings.reset_limit(Some(cfg.timeout)))
            .events(events)
            .clock(StdClock::new(cfg.clock.clone()))
            .waiters(WaitQueue::new(cfg.fairness))
            .build()?;
        Ok(Inner {
            core: Arc::new(core),
            cfg,
        })
    }

    /// The adapter's events: listeners, logging name, counters.
    #[inline]
    pub(crate) fn ev(&self) -> &Ev<M::Connection> {
        self.core.events()
    }

    /// Closes every idle connection now and every checked-out one when it is returned,
    /// catching a listener's panic (logged: there is no caller to tell).
    pub(crate) fn dispose(&self) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.core.dispose())) {
            tracing::error!(pool = %self.ev().name, "a listener panicked while disposing: {}", panic_message(&*p));
        }
    }

    /// Marks every connection open now to be replaced: idle ones at their next checkout,
    /// checked-out ones when returned.
    pub(crate) fn invalidate_all(&self) {
        self.core.invalidate_all();
        tracing::info!(pool = %self.ev().name, "Pool invalidated");
    }

    /// Closes a detached connection (reset first, `close_detached` event), catching a
    /// listener's panic (logged: there is no caller to tell).
    pub(crate) fn close_detached(&self, conn: M::Connection) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.core.close_detached(conn))) {
            tracing::error!(pool = %self.ev().name, "a listener panicked: {}", panic_message(&*p));
        }
    }

    /// What `recreate` builds a new pool from: this pool's manager (shared), this
    /// configuration under this pool's logging name, and its listeners.
    pub(crate) fn recreate_parts(&self) -> (Arc<M>, Config, ListenerList<M::Connection>) {
        tracing::info!(pool = %self.ev().name, "Pool recreating");
        let mut cfg = self.cfg.clone();
        cfg.name = Some(self.ev().name.to_string());
        let manager = Arc::clone(&self.core.manager().inner);
        (manager, cfg, self.ev().snapshot())
    }

    /// The wait queue.
    #[inline]
    pub(crate) fn wait(&self) -> &WaitQueue {
        self.core.waiters()
    }
}

/// A pointer to a pool's core that the core's guard can hold: `&'a` one (for
/// [`PooledConnection`](crate::PooledConnection)) or an `Arc` (for
/// [`OwnedPooledConnection`](crate::OwnedPooledConnection)).
pub(crate) trait CorePtr<M: Manager>:
    tarn_core::PoolPtr
    + Deref<Target = tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, Info, WaitQueue>>
{
}

impl<M: Manager, P> CorePtr<M> for P where
    P: tarn_core::PoolPtr
        + Deref<Target = tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, Info, WaitQueue>>
{
}

/// How a guard holds its pool's core (as the core's guard's pointer [`Hold::Core`]):
/// borrowed for `'a` ([`Borrowed`], for [`PooledConnection`](crate::PooledConnection)) or
/// shared ([`Shared`], for [`OwnedPooledConnection`](crate::OwnedPooledConnection)).
pub(crate) trait Hold<M: Manager> {
    /// The pointer the core's guard holds.
    type Core: CorePtr<M>;
}

/// A guard that borrows its pool for `'a`.
pub(crate) struct Borrowed<'a>(PhantomData<&'a ()>);

/// A guard that shares its pool through an `Arc`.
pub(crate) struct Shared;

impl<'a, M: Manager + 'a> Hold<M> for Borrowed<'a> {
    type Core = &'a tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, Info, WaitQueue>;
}

impl<M: Manager> Hold<M> for Shared {
    type Core = Arc<tarn_core::Pool<Mgr<M>, Ev<M::Connection>, StdClock, Info, WaitQueue>>;
}
