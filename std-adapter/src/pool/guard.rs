//! The guards of a [`Pool`](crate::Pool): [`PooledConnection`] (borrowing the pool) and
//! [`OwnedPooledConnection`] (owning a handle), both over one [`Guard`].
//!
//! A guard holds either the core's guard (`Pooled`: the connection stays in its core slot
//! and the core checks it in when it is dropped) or, with unlimited overflow, a connection
//! opened outside the core (`Extra`, closed when returned). Dropping a guard with no
//! listener and no echo, while the thread is not panicking, is the core's checkin and
//! nothing else; every other return goes through `checkin_held`, which catches panics in
//! user code and reports them as [`Error::Panicked`]. A guard dropped while its thread
//! panics invalidates its connection instead of resetting it.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tarn_core::{InvalidateReason, Manager, Pooled, ResetMode};

use super::inner::{Inner, InnerRef};
use crate::adapt::{panic_message, MgrError, Tracked};
use crate::error::Error;

/// A connection opened outside the core (unlimited overflow). Closed when dropped.
pub(crate) struct Extra<M: Manager, R: InnerRef<M>> {
    pub(super) pool: R,
    pub(super) conn: Option<Tracked<M::Connection>>,
}

impl<M: Manager, R: InnerRef<M>> Drop for Extra<M, R> {
    fn drop(&mut self) {
        if let Some(mut t) = self.conn.take() {
            let ev = self.pool.ev();
            let _ = catch_unwind(AssertUnwindSafe(|| ev.on_close(&mut t)));
            self.pool.core.manager().close(t);
            self.pool.extra.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a guard holds. Two words, the size of the core's guard: `Core` uses both (two
/// non-null pointers), and `Extra` fits in the word beside the one whose zero tells the
/// variants apart (a size assertion below keeps it so). The consumed state is `Extra(None)`,
/// not an `Option` around the enum, which would add a third word that every `deref` and
/// every drop tests.
///
/// A guard must not be moved between two places in memory on the hot path: with two
/// variants that carry data, the compiler copies this enum as one 16-byte value, and
/// reading it so right after it was written as two words stalls on store forwarding. The
/// checkout therefore builds the caller's guard in place (`Inner::checkout`'s `wrap`).
enum Held<M: Manager, R: InnerRef<M>> {
    Core(Pooled<R::Core>),
    /// A connection opened outside the core, boxed: rare (unlimited overflow only), and
    /// inline it would make every guard as large as a connection. `None` once the guard has
    /// been consumed (`invalidate`, `detach`, `checkin`, the slow drop).
    Extra(Option<Box<Extra<M, R>>>),
}

/// The guard shared by [`PooledConnection`] and [`OwnedPooledConnection`].
pub(crate) struct Guard<M: Manager, R: InnerRef<M>> {
    held: Held<M, R>,
}

impl<M: Manager, R: InnerRef<M>> Guard<M, R> {
    /// Holds for every guard type that is built: `Held` is two words (see there).
    const TWO_WORDS: () = assert!(
        std::mem::size_of::<Held<M, R>>() == 2 * std::mem::size_of::<usize>(),
        "a guard must stay two words"
    );

    /// A guard of the core's.
    #[inline(always)]
    pub(super) fn core(p: Pooled<R::Core>) -> Self {
        let () = Self::TWO_WORDS;
        Guard {
            held: Held::Core(p),
        }
    }

    /// A guard of a connection opened outside the core (unlimited overflow).
    #[cold]
    pub(super) fn from_extra(e: Extra<M, R>) -> Self {
        Guard {
            held: Held::Extra(Some(Box::new(e))),
        }
    }

    /// What the guard holds, leaving it consumed.
    #[inline]
    fn take(&mut self) -> Held<M, R> {
        std::mem::replace(&mut self.held, Held::Extra(None))
    }

    #[inline]
    fn tracked(&self) -> &Tracked<M::Connection> {
        match &self.held {
            Held::Core(p) => p,
            Held::Extra(e) => Self::extra(e.as_deref()),
        }
    }

    #[inline]
    fn tracked_mut(&mut self) -> &mut Tracked<M::Connection> {
        match &mut self.held {
            Held::Core(p) => p,
            Held::Extra(e) => Self::extra_mut(e.as_deref_mut()),
        }
    }

    // The connection of an extra guard, out of line so that `deref` inlines only the core
    // case. They take the box's contents, never a pointer into the guard: a pointer to the
    // guard passed to a call (even a cold one) keeps the whole guard in memory, and every
    // `deref` then reloads it.
    #[cold]
    #[inline(never)]
    fn extra(e: Option<&Extra<M, R>>) -> &Tracked<M::Connection> {
        e.and_then(|e| e.conn.as_ref())
            .expect("a guard holds its connection until it is consumed")
    }

    #[cold]
    #[inline(never)]
    fn extra_mut(e: Option<&mut Extra<M, R>>) -> &mut Tracked<M::Connection> {
        e.and_then(|e| e.conn.as_mut())
            .expect("a guard holds its connection until it is consumed")
    }

    fn invalidate(mut self) {
        match self.take() {
            Held::Core(p) => {
                let name = Pooled::pool(&p).events().name.clone();
                if let Err(e) = catch_unwind(AssertUnwindSafe(|| Pooled::invalidate(p))) {
                    tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
                }
            }
            Held::Extra(Some(mut e)) => {
                if let Some(t) = e.conn.as_mut() {
                    let ev = e.pool.ev();
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        ev.on_invalidate(t, InvalidateReason::User)
                    }));
                }
            }
            Held::Extra(None) => {}
        }
    }

    fn soft_invalidate(&mut self) {
        match &mut self.held {
            Held::Core(p) => Pooled::soft_invalidate(p),
            Held::Extra(Some(e)) => {
                if let Some(t) = e.conn.as_mut() {
                    if !t.soft {
                        e.pool.ev().on_soft_invalidate(t);
                    }
                }
            }
            Held::Extra(None) => {}
        }
    }

    fn is_soft_invalidated(&self) -> bool {
        self.tracked().soft
    }

    fn detach(mut self) -> M::Connection {
        match self.take() {
            Held::Core(p) => Pooled::detach(p).conn,
            Held::Extra(Some(mut e)) => {
                let mut t = e.conn.take().expect("an extra guard holds its connection");
                e.pool.extra.fetch_sub(1, Ordering::Relaxed);
                e.pool.ev().on_detach(&mut t);
                t.conn
            }
            Held::Extra(None) => unreachable!("a guard is only empty while it is being consumed"),
        }
    }

    fn checkin(mut self) -> Result<(), Error<M::Error>> {
        Self::checkin_held(self.take())
    }

    #[inline]
    fn checkin_held(held: Held<M, R>) -> Result<(), Error<M::Error>> {
        match held {
            Held::Core(p) => {
                let ev = Pooled::pool(&p).events();
                if ev.echo {
                    tracing::debug!(pool = %ev.name, "Connection being returned to pool");
                }
                if std::thread::panicking() {
                    // The holder is unwinding: the connection may be mid-transaction in any
                    // state. Do not reset it; close it.
                    let name = ev.name.clone();
                    if catch_unwind(AssertUnwindSafe(|| Pooled::invalidate(p))).is_err() {
                        tracing::error!(pool = %name, "a listener panicked while invalidating");
                    }
                    return Ok(());
                }
                let res = if ev.has_listeners() {
                    catch_unwind(AssertUnwindSafe(|| Pooled::checkin(p)))
                } else {
                    Ok(Pooled::checkin(p))
                };
                match res {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(MgrError::Manager(e))) => {
                        tracing::info!("Exception during reset on return; connection invalidated");
                        Err(Error::Connect(e))
                    }
                    Ok(Err(MgrError::Panicked(what))) => {
                        tracing::error!("{what}; connection invalidated");
                        Err(Error::Panicked { what })
                    }
                    Err(payload) => {
                        let what = format!("a listener panicked: {}", panic_message(&*payload));
                        tracing::error!("{what}; connection closed");
                        Err(Error::Panicked { what })
                    }
                }
            }
            Held::Extra(None) => Ok(()),
            Held::Extra(Some(mut e)) => {
                let pool = &e.pool;
                let ev = pool.ev();
                let mut out = Ok(());
                if let Some(t) = e.conn.as_mut() {
                    if std::thread::panicking() {
                        return Ok(()); // `e` closes it
                    }
                    let reset = pool.cfg.core.reset;
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        ev.on_reset(t, reset);
                        if reset != ResetMode::None {
                            if let Err(err) = pool.core.manager().reset(t, reset) {
                                ev.on_invalidate(t, InvalidateReason::ResetFailed);
                                return Err(err);
                            }
                        }
                        ev.on_checkin(t);
                        Ok(())
                    }));
                    out = match r {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(MgrError::Manager(err))) => Err(Error::Connect(err)),
                        Ok(Err(MgrError::Panicked(what))) => Err(Error::Panicked { what }),
                        Err(payload) => Err(Error::Panicked {
                            what: format!("a listener panicked: {}", panic_message(&*payload)),
                        }),
                    };
                }
                drop(e); // overflow beyond the core is closed on return
                out
            }
        }
    }
}

impl<M: Manager, R: InnerRef<M>> Drop for Guard<M, R> {
    #[inline]
    fn drop(&mut self) {
        if let Held::Core(p) = &self.held {
            let ev = Pooled::pool(p).events();
            if ev.plain() && !std::thread::panicking() {
                // The fast path: return, and the field's drop (the core's guard) checks the
                // connection in where it lies (a failed reset has invalidated it; there is
                // no one to tell).
                return;
            }
        }
        Self::drop_slow(self.take());
    }
}

impl<M: Manager, R: InnerRef<M>> Guard<M, R> {
    /// Everything but the fast path of a drop, out of line so that the fast path inlines
    /// into the caller without this path's stack frame. It takes what the guard holds by value (two
    /// registers), not `&mut self`: a pointer to the guard would make the caller keep the
    /// guard in memory and reload it at every `deref`.
    #[cold]
    #[inline(never)]
    fn drop_slow(held: Held<M, R>) {
        let _ = Self::checkin_held(held);
    }
}

macro_rules! guard_api {
    ($name:ident $(<$lt:lifetime>)?, $example_get:literal) => {
        impl<$($lt,)? M: Manager> Deref for $name<$($lt,)? M> {
            type Target = M::Connection;
            #[inline]
            fn deref(&self) -> &M::Connection {
                &self.g.tracked().conn
            }
        }

        impl<$($lt,)? M: Manager> DerefMut for $name<$($lt,)? M> {
            #[inline]
            fn deref_mut(&mut self) -> &mut M::Connection {
                &mut self.g.tracked_mut().conn
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

            /// Checks the connection in now, reporting what dropping the guard would keep
            /// silent.
            ///
            /// # Errors
            ///
            /// [`Error::Connect`] with the manager's error if the reset on return failed (the
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
pub struct PooledConnection<'a, M: Manager> {
    pub(super) g: Guard<M, &'a Inner<M>>,
}

guard_api!(PooledConnection<'a>, "let conn = pool.get()?;");

/// A checked-out connection that owns a handle to its pool: `'static`, so it can move to
/// another thread or live in a struct. Otherwise like [`PooledConnection`].
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct OwnedPooledConnection<M: Manager> {
    pub(super) g: Guard<M, Arc<Inner<M>>>,
}

guard_api!(OwnedPooledConnection, "let conn = pool.get_owned()?;");
