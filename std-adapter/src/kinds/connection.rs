//! [`KindConnection`]: the guard of the simple kinds that lend a connection to one caller at
//! a time ([`NullPool`](crate::NullPool), [`AssertionPool`](crate::AssertionPool),
//! [`SingletonThreadPool`](crate::SingletonThreadPool)), and [`Place`], where a
//! SingletonThreadPool thread keeps its connection between checkouts.
//!
//! A NullPool or AssertionPool connection is the pool's [`Guard`]: returning it is the
//! core's checkin (NullPool's core keeps nothing idle, so it is then closed). A thread's
//! connection stays with its thread: its return is the core's in-place checkin (reset and
//! `checkin` event), which leaves a `CheckedIn` in the thread's place, unless the pool let
//! go of that place (then it is checked in and closed).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use tarn_core::{CheckedIn, Manager, Pooled};

use crate::adapt::panic_message;
use crate::pool::{Borrowed, Guard, Hold, Shared};
use crate::sync::lock_std;

/// The core pointer a thread's connection is held by (the thread-local list outlives any
/// borrow of the pool).
pub(crate) type SharedCore<M> = <Shared as Hold<M>>::Core;

/// Where a thread keeps its connection between checkouts, shared by the pool's list of
/// threads, the thread's own list, and the guard while the connection is out.
pub(crate) struct Place<M: Manager + 'static> {
    pub(crate) state: Mutex<PlaceState<M>>,
}

pub(crate) struct PlaceState<M: Manager + 'static> {
    /// The connection while it is in (checked in, kept for this thread).
    pub(crate) kept: Option<CheckedIn<SharedCore<M>>>,
    /// Checked out now.
    pub(crate) out: bool,
    /// The pool let go of this place (clean-up, dispose, thread exit): the connection is
    /// closed when it comes back.
    pub(crate) evicted: bool,
}

impl<M: Manager + 'static> Place<M> {
    pub(crate) fn out() -> Self {
        Place {
            state: Mutex::new(PlaceState {
                kept: None,
                out: true,
                evicted: false,
            }),
        }
    }

    /// Lets go of this place: its kept connection is closed now (outside the lock), one
    /// that is out when it comes back.
    pub(crate) fn evict(&self) {
        let kept = {
            let mut st = lock_std(&self.state);
            st.evicted = true;
            st.kept.take()
        };
        if let Some(kept) = kept {
            // Back to the core, which keeps nothing idle: closed, with the close events. A
            // listener's panic is logged (this runs at thread exit too, where unwinding
            // would abort).
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| drop(kept))) {
                tracing::error!(
                    "a listener panicked while a thread's connection closed: {}",
                    panic_message(&*e)
                );
            }
        }
    }
}

enum Held<'a, M: Manager + 'static> {
    /// Returned to the pool when dropped.
    Lent(Guard<M, Borrowed<'a>>),
    /// A thread's connection, and the thread's place.
    Thread(Pooled<SharedCore<M>>, Arc<Place<M>>),
}

/// A connection checked out of a [`NullPool`](crate::NullPool),
/// [`AssertionPool`](crate::AssertionPool) or
/// [`SingletonThreadPool`](crate::SingletonThreadPool). Derefs to the connection; dropping
/// it checks it in (reset on return, `checkin` event) and then closes it (NullPool) or keeps
/// it for the next checkout.
///
/// ```
/// use tarn_pool::{KindConnection, NullPool};
/// # use tarn_core::testing::ScriptedManager;
/// let manager = ScriptedManager::new();
/// let pool = NullPool::new(manager.clone());
/// let conn = pool.get()?;
/// KindConnection::invalidate(conn);
/// assert_eq!(pool.stats().invalidated, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct KindConnection<'a, M: Manager + 'static> {
    /// `None` only while the guard is being consumed.
    held: Option<Held<'a, M>>,
}

impl<'a, M: Manager + 'static> KindConnection<'a, M> {
    pub(crate) fn lent(g: Guard<M, Borrowed<'a>>) -> Self {
        KindConnection {
            held: Some(Held::Lent(g)),
        }
    }

    pub(crate) fn thread(p: Pooled<SharedCore<M>>, place: Arc<Place<M>>) -> Self {
        KindConnection {
            held: Some(Held::Thread(p, place)),
        }
    }

    fn take(&mut self) -> Held<'a, M> {
        self.held
            .take()
            .expect("a guard holds its connection until it is consumed")
    }

    /// Closes the connection as broken.
    pub fn invalidate(mut this: Self) {
        match this.take() {
            Held::Lent(g) => g.invalidate(),
            Held::Thread(p, place) => {
                lock_std(&place.state).out = false;
                let name = Pooled::pool(&p).events().name.clone();
                if let Err(e) = catch_unwind(AssertUnwindSafe(|| Pooled::invalidate(p))) {
                    tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
                }
            }
        }
    }

    /// Marks the connection to be closed when returned.
    ///
    /// ```
    /// # use tarn_pool::SingletonThreadPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// let mut c = pool.get()?;
    /// tarn_pool::KindConnection::soft_invalidate(&mut c);
    /// drop(c);
    /// assert_eq!(manager.closed(), 1, "closed on return, not kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn soft_invalidate(this: &mut Self) {
        match &mut this.held {
            Some(Held::Lent(g)) => g.soft_invalidate(),
            Some(Held::Thread(p, _)) => {
                let name = Pooled::pool(p).events().name.clone();
                if let Err(e) = catch_unwind(AssertUnwindSafe(|| Pooled::soft_invalidate(p))) {
                    tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
                }
            }
            None => {}
        }
    }

    /// Removes the connection from the pool for good.
    ///
    /// ```
    /// # use tarn_pool::NullPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = NullPool::new(manager.clone());
    /// let raw = tarn_pool::KindConnection::detach(pool.get()?);
    /// assert_eq!((raw.id, manager.closed()), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach(mut this: Self) -> M::Connection {
        match this.take() {
            Held::Lent(g) => g.detach(),
            Held::Thread(p, place) => {
                lock_std(&place.state).out = false;
                Pooled::detach(p)
            }
        }
    }
}

impl<M: Manager + 'static> Drop for KindConnection<'_, M> {
    fn drop(&mut self) {
        // `Lent`: the guard's own drop returns it.
        if let Some(Held::Thread(p, place)) = self.held.take() {
            return_to_thread(p, &place);
        }
    }
}

/// A thread's connection comes back: checked in where it is (reset, `checkin` event) and
/// kept in the thread's place; or, if the pool let go of the place or the connection was
/// soft-invalidated, checked in to the core, which keeps nothing idle and closes it; or, if
/// the thread panics, invalidated.
fn return_to_thread<M: Manager + 'static>(p: Pooled<SharedCore<M>>, place: &Place<M>) {
    let ev = Pooled::pool(&p).events();
    let name = ev.name.clone();
    if ev.echo {
        tracing::debug!(pool = %name, "Connection being returned to pool");
    }
    let mut st = lock_std(&place.state);
    st.out = false;
    if st.evicted || Pooled::is_soft_invalidated(&p) || std::thread::panicking() {
        drop(st);
        let panicking = std::thread::panicking();
        let r = catch_unwind(AssertUnwindSafe(|| {
            if panicking {
                Pooled::invalidate(p);
            } else {
                let _ = Pooled::checkin(p);
            }
        }));
        if let Err(e) = r {
            tracing::error!(pool = %name, "a listener panicked: {}", panic_message(&*e));
        }
        return;
    }
    let limit = Pooled::pool(&p).settings().reset_limit;
    match catch_unwind(AssertUnwindSafe(|| Pooled::checkin_in_place(p, limit))) {
        Ok(Ok(kept)) => st.kept = Some(kept),
        Ok(Err(_)) => {
            tracing::info!(pool = %name, "Exception during reset on return; connection invalidated");
        }
        Err(e) => {
            tracing::error!(pool = %name, "a listener panicked: {}; connection closed", panic_message(&*e));
        }
    }
}

impl<M: Manager + 'static> Deref for KindConnection<'_, M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        match &self.held {
            Some(Held::Lent(g)) => g,
            Some(Held::Thread(p, _)) => p,
            None => unreachable!("a guard holds its connection until it is consumed"),
        }
    }
}

impl<M: Manager + 'static> DerefMut for KindConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        match &mut self.held {
            Some(Held::Lent(g)) => g,
            Some(Held::Thread(p, _)) => p,
            None => unreachable!("a guard holds its connection until it is consumed"),
        }
    }
}

// Manual impl: show the connection, not the pool.
impl<M: Manager + 'static> fmt::Debug for KindConnection<'_, M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindConnection")
            .field("conn", &**self)
            .finish_non_exhaustive()
    }
}
