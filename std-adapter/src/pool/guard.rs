//! The guards of a [`Pool`](crate::Pool): [`PooledConnection`] (borrowing the pool) and
//! [`OwnedPooledConnection`] (owning a handle), both over one [`Guard`]: the core's guard
//! (`tarn_core::Pooled`), which holds the connection in its core slot and checks it in when
//! it is dropped.
//!
//! Dropping a guard with no listener and no echo, while the thread is not panicking, is the
//! core's checkin and nothing else. Every other return goes through `checkin_caught`, which
//! logs (echo), catches panics in user code and reports them as [`Error::Panicked`]. A guard
//! dropped while its thread panics invalidates its connection instead of resetting it (it
//! may be mid-transaction). The reset on return is bounded by the pool's timeout (the core's
//! `reset_limit`, set when the pool is built).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

use tarn_core::{Manager, Pooled};

use super::inner::{Borrowed, CorePtr, Hold, Shared};
use crate::adapt::{panic_message, MgrError};
use crate::error::Error;
use crate::info::Info;

/// The guard shared by [`PooledConnection`] and [`OwnedPooledConnection`]: the core's guard,
/// `None` only while it is being consumed (the `Option` costs no space: the core's guard
/// is two non-null pointers).
pub(crate) struct Guard<M: Manager, H: Hold<M>> {
    p: Option<Pooled<H::Core>>,
    _m: PhantomData<fn() -> M>,
}

impl<M: Manager, H: Hold<M>> Guard<M, H> {
    /// Holds for every guard type that is built: a guard is the core's guard, two words.
    const TWO_WORDS: () = assert!(
        std::mem::size_of::<Option<Pooled<H::Core>>>() == 2 * std::mem::size_of::<usize>(),
        "a guard must stay two words"
    );

    #[inline(always)]
    pub(crate) fn new(p: Pooled<H::Core>) -> Self {
        let () = Self::TWO_WORDS;
        Guard {
            p: Some(p),
            _m: PhantomData,
        }
    }

    /// The core's guard, leaving this one consumed.
    #[inline]
    fn take(&mut self) -> Pooled<H::Core> {
        match self.p.take() {
            Some(p) => p,
            None => consumed(),
        }
    }

    pub(crate) fn invalidate(mut self) {
        invalidate_caught(self.take());
    }

    pub(crate) fn soft_invalidate(&mut self) {
        if let Some(p) = &mut self.p {
            let name = Pooled::pool(p).events().name.clone();
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| Pooled::soft_invalidate(p))) {
                tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
            }
        }
    }

    pub(crate) fn is_soft_invalidated(&self) -> bool {
        self.p.as_ref().is_some_and(Pooled::is_soft_invalidated)
    }

    pub(crate) fn detach(mut self) -> M::Connection {
        Pooled::detach(self.take())
    }

    /// Detaches, taking the connection's info along (its slot's copy goes with the slot:
    /// the next connection there starts empty).
    pub(crate) fn detach_with_info(mut self) -> (M::Connection, Info) {
        let mut p = self.take();
        let info = std::mem::take(Pooled::info_mut(&mut p));
        (Pooled::detach(p), info)
    }

    #[inline]
    pub(crate) fn info(&self) -> &Info {
        match &self.p {
            Some(p) => Pooled::info(p),
            None => consumed(),
        }
    }

    #[inline]
    pub(crate) fn info_mut(&mut self) -> &mut Info {
        match &mut self.p {
            Some(p) => Pooled::info_mut(p),
            None => consumed(),
        }
    }

    pub(crate) fn checkin(mut self) -> Result<(), Error<M::Error>> {
        checkin_caught(self.take())
    }
}

impl<M: Manager, H: Hold<M>> Deref for Guard<M, H> {
    type Target = M::Connection;
    #[inline]
    fn deref(&self) -> &M::Connection {
        match &self.p {
            Some(p) => p,
            None => consumed(),
        }
    }
}

impl<M: Manager, H: Hold<M>> DerefMut for Guard<M, H> {
    #[inline]
    fn deref_mut(&mut self) -> &mut M::Connection {
        match &mut self.p {
            Some(p) => p,
            None => consumed(),
        }
    }
}

#[cold]
#[inline(never)]
fn consumed() -> ! {
    unreachable!("a guard holds its connection until it is consumed")
}

/// Invalidates, catching a listener's panic (logged: there is no caller to tell).
fn invalidate_caught<M: Manager, P: CorePtr<M>>(p: Pooled<P>) {
    let name = Pooled::pool(&p).events().name.clone();
    if let Err(e) = catch_unwind(AssertUnwindSafe(|| Pooled::invalidate(p))) {
        tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
    }
}

/// Every return but the fast path's: logs, catches panics, reports what the drop would keep
/// silent. While the thread panics the connection is invalidated, not reset.
fn checkin_caught<M: Manager, P: CorePtr<M>>(p: Pooled<P>) -> Result<(), Error<M::Error>> {
    let ev = Pooled::pool(&p).events();
    if ev.echo {
        tracing::debug!(pool = %ev.name, "Connection being returned to pool");
    }
    if std::thread::panicking() {
        invalidate_caught(p);
        return Ok(());
    }
    let name = ev.name.clone();
    let res = if ev.has_listeners() {
        catch_unwind(AssertUnwindSafe(|| Pooled::checkin(p)))
    } else {
        Ok(Pooled::checkin(p))
    };
    match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err(MgrError::Manager(e))) => {
            tracing::info!(pool = %name, "Exception during reset on return; connection invalidated");
            Err(Error::Reset(e))
        }
        Ok(Err(MgrError::Panicked(what))) => {
            tracing::error!(pool = %name, "{what}; connection invalidated");
            Err(Error::Panicked { what })
        }
        Err(payload) => {
            let what = format!("a listener panicked: {}", panic_message(&*payload));
            tracing::error!(pool = %name, "{what}; connection closed");
            Err(Error::Panicked { what })
        }
    }
}

impl<M: Manager, H: Hold<M>> Drop for Guard<M, H> {
    #[inline]
    fn drop(&mut self) {
        if let Some(p) = &self.p {
            if Pooled::pool(p).events().plain() && !std::thread::panicking() {
                // The fast path: the field's drop (the core's guard) checks the connection
                // in where it lies (a failed reset has invalidated it; there is no one to
                // tell).
                return;
            }
        }
        if let Some(p) = self.p.take() {
            drop_slow(p);
        }
    }
}

/// Everything but the fast path of a drop, out of line so that the fast path inlines into
/// the caller without this path's stack frame.
#[cold]
#[inline(never)]
fn drop_slow<M: Manager, P: CorePtr<M>>(p: Pooled<P>) {
    let _ = checkin_caught(p);
}

macro_rules! guard_api {
    ($name:ident $(<$lt:lifetime>)?, $example_get:literal) => {
        impl<$($lt,)? M: Manager> Deref for $name<$($lt,)? M> {
            type Target = M::Connection;
            #[inline]
            fn deref(&self) -> &M::Connection {
                &self.g
            }
        }

        impl<$($lt,)? M: Manager> DerefMut for $name<$($lt,)? M> {
            #[inline]
            fn deref_mut(&mut self) -> &mut M::Connection {
                &mut self.g
            }
        }

        // Manual impl: show the connection, not the pool (whose manager may hold secrets).
        impl<$($lt,)? M: Manager> fmt::Debug for $name<$($lt,)? M>
        where
            M::Connection: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("conn", &**self)
                    .finish_non_exhaustive()
            }
        }

        impl<$($lt,)? M: Manager> $name<$($lt,)? M> {
            /// Closes the connection as broken (the reference's `invalidate()`): the
            /// `invalidate` event, then it is closed and its capacity given back (a waiter
            /// is woken).
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let manager = ScriptedManager::new();
            /// let pool = Pool::builder(manager.clone()).build()?;
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" ", stringify!($name), "::invalidate(conn);")]
            /// assert_eq!(manager.closed(), 1);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn invalidate(this: Self) {
                this.g.invalidate()
            }

            /// Soft invalidation: the connection keeps working for this holder and is closed
            /// instead of kept when returned.
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let manager = ScriptedManager::new();
            /// let pool = Pool::builder(manager.clone()).build()?;
            #[doc = concat!(" ", $example_get)]
            /// let mut conn = conn;
            #[doc = concat!(" ", stringify!($name), "::soft_invalidate(&mut conn);")]
            #[doc = concat!(" assert!(", stringify!($name), "::is_soft_invalidated(&conn));")]
            /// drop(conn);
            /// assert_eq!(manager.closed(), 1);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn soft_invalidate(this: &mut Self) {
                this.g.soft_invalidate()
            }

            /// Whether the connection was soft-invalidated.
            pub fn is_soft_invalidated(this: &Self) -> bool {
                this.g.is_soft_invalidated()
            }

            /// Removes the connection from the pool for good and hands it over; the pool's
            /// capacity is given back (a waiter is woken). Close it yourself, or with
            /// [`Pool::close_detached`](crate::Pool::close_detached).
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let pool = Pool::builder(ScriptedManager::new()).build()?;
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" let raw = ", stringify!($name), "::detach(conn);")]
            /// assert_eq!(pool.state().open, 0);
            /// # pool.close_detached(raw);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn detach(this: Self) -> M::Connection {
                this.g.detach()
            }

            /// [`detach`](Self::detach), handing over the connection's [`Info`] with it
            /// (the reference's detached fairy keeps a copy of the record's info).
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let pool = Pool::builder(ScriptedManager::new()).build()?;
            #[doc = concat!(" ", $example_get)]
            /// let mut conn = conn;
            #[doc = concat!(" ", stringify!($name), "::info_mut(&mut conn).insert(7_u32);")]
            #[doc = concat!(" let (raw, info) = ", stringify!($name), "::detach_with_info(conn);")]
            /// assert_eq!(info.get::<u32>(), Some(&7));
            /// # pool.close_detached(raw);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn detach_with_info(this: Self) -> (M::Connection, Info) {
                this.g.detach_with_info()
            }

            /// The connection's [`Info`]: kept across checkouts of this connection, empty
            /// for a new one.
            pub fn info(this: &Self) -> &Info {
                this.g.info()
            }

            /// Mutable access to the connection's [`Info`].
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).build()?;
            #[doc = concat!(" ", $example_get)]
            /// let mut conn = conn;
            #[doc = concat!(" ", stringify!($name), "::info_mut(&mut conn).insert(\"prepared\");")]
            /// drop(conn);
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" assert_eq!(", stringify!($name), "::info(&conn).get::<&str>(), Some(&\"prepared\"));")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn info_mut(this: &mut Self) -> &mut Info {
                this.g.info_mut()
            }

            /// Checks the connection in now, reporting what dropping the guard would keep
            /// silent.
            ///
            /// # Errors
            ///
            /// [`Error::Reset`] with the manager's error if the reset on return failed (the
            /// connection was invalidated); [`Error::Panicked`] if a listener or the manager
            /// panicked (the connection was closed).
            ///
            /// ```
            /// # use tarn_pool::*;
            /// # use tarn_core::testing::ScriptedManager;
            /// let pool = Pool::builder(ScriptedManager::new()).build()?;
            #[doc = concat!(" ", $example_get)]
            #[doc = concat!(" ", stringify!($name), "::checkin(conn)?;")]
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn checkin(this: Self) -> Result<(), Error<M::Error>> {
                this.g.checkin()
            }
        }
    };
}

/// A checked-out connection, borrowing its pool. Derefs to the connection; dropping it
/// checks the connection in (reset, `checkin` event, back to the pool or closed).
///
/// Operations on the guard itself are associated functions
/// (`PooledConnection::invalidate(conn)`), so they never shadow the connection's methods.
/// If the guard is dropped while its thread panics, the connection is invalidated instead
/// of reset.
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct PooledConnection<'a, M: Manager + 'a> {
    pub(super) g: Guard<M, Borrowed<'a>>,
}

guard_api!(PooledConnection<'a>, "let conn = pool.get()?;");

/// A checked-out connection that owns a handle to its pool: `'static`, so it can move to
/// another thread or live in a struct. Otherwise like [`PooledConnection`].
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct OwnedPooledConnection<M: Manager> {
    pub(super) g: Guard<M, Shared>,
}

guard_api!(OwnedPooledConnection, "let conn = pool.get_owned()?;");

impl<M: Manager> OwnedPooledConnection<M> {
    /// The owned guard of a checkout (every kind that lends one connection to one caller).
    pub(crate) fn new(p: Pooled<<Shared as Hold<M>>::Core>) -> Self {
        OwnedPooledConnection { g: Guard::new(p) }
    }
}
