//! [`ThreadConnection`]: the guard of a [`SingletonThreadPool`](crate::SingletonThreadPool)
//! checkout, and [`Place`], where a thread keeps its connection between checkouts.
//!
//! A thread's connection stays with its thread. Every checkout the thread makes while the
//! connection is out gets a handle to the same checkout (the reference's nested checkout
//! returns the thread's connection): the handles share one [`Out`] through an `Rc`, so they
//! give shared access only and cannot leave the thread. When the last handle goes (the
//! outermost return), the connection is checked in where it is (the core's in-place checkin:
//! reset and `checkin` event) and kept in the thread's place, unless the pool let go of that
//! place, a handle invalidated or soft-invalidated it, or the thread is panicking (then it
//! goes back to the core, which keeps nothing idle and closes it).

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use tarn_core::{CheckedIn, Manager, Pooled};

use crate::adapt::panic_message;
use crate::info::Info;
use crate::pool::{Hold, Shared};
use crate::sync::lock_std;

/// The core pointer a thread's connection is held by (the thread-local list outlives any
/// borrow of the pool).
pub(crate) type SharedCore<M> = <Shared as Hold<M>>::Core;

/// Where a thread keeps its connection between checkouts, shared by the pool's list of
/// threads, the thread's own list, and the checkout while the connection is out.
pub(crate) struct Place<M: Manager + 'static> {
    pub(crate) state: Mutex<PlaceState<M>>,
}

pub(crate) struct PlaceState<M: Manager + 'static> {
    /// The connection while it is in (checked in, kept for this thread).
    pub(crate) kept: Option<CheckedIn<SharedCore<M>>>,
    /// The pool let go of this place (clean-up, dispose, thread exit): the connection is
    /// closed when it comes back.
    pub(crate) evicted: bool,
}

impl<M: Manager + 'static> Place<M> {
    /// A place whose connection is out.
    pub(crate) fn out() -> Self {
        Place {
            state: Mutex::new(PlaceState {
                kept: None,
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

/// One checkout of a thread's connection, shared by every handle the thread holds.
pub(crate) struct Out<M: Manager + 'static> {
    /// `None` only once detached or while dropping.
    conn: Option<Pooled<SharedCore<M>>>,
    place: Arc<Place<M>>,
    /// A handle invalidated the connection: closed as broken at the outermost return.
    invalidated: Cell<bool>,
    /// A handle soft-invalidated the connection: closed at the outermost return.
    soft: Cell<bool>,
    /// The connection's info while the thread's handles share it; taken from its slot at
    /// checkout and put back at the outermost return.
    info: RefCell<Info>,
}

impl<M: Manager + 'static> Out<M> {
    fn conn(&self) -> &Pooled<SharedCore<M>> {
        self.conn
            .as_ref()
            .expect("a checkout holds its connection until it is consumed")
    }
}

impl<M: Manager + 'static> Drop for Out<M> {
    fn drop(&mut self) {
        if let Some(mut p) = self.conn.take() {
            *Pooled::info_mut(&mut p) = self.info.take();
            return_to_thread(p, &self.place, self.invalidated.get(), self.soft.get());
        }
    }
}

/// A connection checked out of a [`SingletonThreadPool`](crate::SingletonThreadPool): this
/// thread's connection. Derefs to `&M::Connection` (shared access: a nested checkout on the
/// same thread gets another handle to the same connection); it is neither `Send` nor
/// `Sync`, so it never leaves its thread. Dropping the last handle the thread holds (the
/// outermost return) resets the connection and checks it in, kept for the thread's next
/// checkout.
///
/// ```
/// use tarn_pool::{SingletonThreadPool, ThreadConnection};
/// # use tarn_core::testing::ScriptedManager;
/// let manager = ScriptedManager::new();
/// let pool = SingletonThreadPool::new(manager.clone());
/// let outer = pool.get()?;
/// let inner = pool.get()?;
/// assert_eq!(inner.id, outer.id, "a nested checkout shares the thread's connection");
/// drop(inner);
/// assert_eq!(manager.resets(), 0, "only the outermost return resets");
/// drop(outer);
/// assert_eq!(manager.resets(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the last handle immediately returns the connection"]
pub struct ThreadConnection<M: Manager + 'static> {
    out: Rc<Out<M>>,
}

impl<M: Manager + 'static> ThreadConnection<M> {
    /// The first handle of a new checkout.
    pub(crate) fn new(mut p: Pooled<SharedCore<M>>, place: Arc<Place<M>>) -> Self {
        let info = std::mem::take(Pooled::info_mut(&mut p));
        ThreadConnection {
            out: Rc::new(Out {
                conn: Some(p),
                info: RefCell::new(info),
                place,
                invalidated: Cell::new(false),
                soft: Cell::new(false),
            }),
        }
    }

    /// Another handle to the checkout `out` (a nested checkout).
    pub(crate) fn share(out: Rc<Out<M>>) -> Self {
        ThreadConnection { out }
    }

    /// The checkout, for the thread to find it again while it is out.
    pub(crate) fn downgrade(this: &Self) -> std::rc::Weak<Out<M>> {
        Rc::downgrade(&this.out)
    }

    /// How many handles to this checkout the thread holds (1 for the outermost alone).
    ///
    /// ```
    /// # use tarn_pool::{SingletonThreadPool, ThreadConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = SingletonThreadPool::new(ScriptedManager::new());
    /// let outer = pool.get()?;
    /// let inner = pool.get()?;
    /// assert_eq!(ThreadConnection::handles(&outer), 2);
    /// # drop(inner);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handles(this: &Self) -> usize {
        Rc::strong_count(&this.out)
    }

    /// Closes the connection as broken: now if this is the thread's only handle, otherwise
    /// at the outermost return (the other handles keep their access until then, as the
    /// reference's nested checkouts share one connection record).
    ///
    /// ```
    /// # use tarn_pool::{SingletonThreadPool, ThreadConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// ThreadConnection::invalidate(pool.get()?);
    /// assert_eq!((manager.closed(), pool.stats().invalidated), (1, 1));
    /// assert_eq!(pool.get()?.id, 2, "the thread gets a new connection");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate(this: Self) {
        this.out.invalidated.set(true);
    }

    /// Marks the connection to be closed at the outermost return instead of kept.
    ///
    /// ```
    /// # use tarn_pool::{SingletonThreadPool, ThreadConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// let c = pool.get()?;
    /// ThreadConnection::soft_invalidate(&c);
    /// drop(c);
    /// assert_eq!(manager.closed(), 1, "closed on return, not kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn soft_invalidate(this: &Self) {
        this.out.soft.set(true);
    }

    /// Removes the connection from the pool for good, if this is the thread's only handle
    /// to it.
    ///
    /// # Errors
    ///
    /// Gives the handle back when other handles to the connection are out (nested
    /// checkouts): the connection cannot leave while they use it.
    ///
    /// ```
    /// # use tarn_pool::{SingletonThreadPool, ThreadConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = SingletonThreadPool::new(manager.clone());
    /// let outer = pool.get()?;
    /// let inner = pool.get()?;
    /// let inner = ThreadConnection::detach(inner).expect_err("the outer handle is out");
    /// drop(inner);
    /// let raw = ThreadConnection::detach(outer).ok().expect("the only handle");
    /// assert_eq!((raw.id, manager.closed()), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach(this: Self) -> Result<M::Connection, Self> {
        match Rc::try_unwrap(this.out) {
            Ok(mut out) => {
                let p = out
                    .conn
                    .take()
                    .expect("a checkout holds its connection until it is consumed");
                Ok(Pooled::detach(p))
            }
            Err(out) => Err(ThreadConnection { out }),
        }
    }

    /// [`detach`](Self::detach), handing over the connection's [`Info`] with it.
    ///
    /// # Errors
    ///
    /// Gives the handle back when other handles are out, as `detach` does.
    ///
    /// ```
    /// # use tarn_pool::{SingletonThreadPool, ThreadConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = SingletonThreadPool::new(ScriptedManager::new());
    /// let c = pool.get()?;
    /// ThreadConnection::info(&c).expect("not borrowed").insert(1_u8);
    /// let (raw, info) = ThreadConnection::detach_with_info(c).ok().expect("the only handle");
    /// assert_eq!(info.get::<u8>(), Some(&1));
    /// pool.close_detached(raw);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach_with_info(this: Self) -> Result<(M::Connection, Info), Self> {
        match Rc::try_unwrap(this.out) {
            Ok(mut out) => {
                let p = out
                    .conn
                    .take()
                    .expect("a checkout holds its connection until it is consumed");
                let info = out.info.take();
                Ok((Pooled::detach(p), info))
            }
            Err(out) => Err(ThreadConnection { out }),
        }
    }

    /// The connection's [`Info`], shared by the thread's handles: kept across checkouts of
    /// this connection, empty for a new one. `None` while another borrow of it (through
    /// any of the thread's handles) is alive.
    ///
    /// ```
    /// # use tarn_pool::{SingletonThreadPool, ThreadConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = SingletonThreadPool::new(ScriptedManager::new());
    /// let outer = pool.get()?;
    /// let inner = pool.get()?;
    /// let mut info = ThreadConnection::info(&outer).expect("not borrowed");
    /// info.insert(1_u8);
    /// assert!(ThreadConnection::info(&inner).is_none(), "borrowed through outer");
    /// drop(info);
    /// drop((inner, outer));
    /// let c = pool.get()?;
    /// assert_eq!(ThreadConnection::info(&c).unwrap().get::<u8>(), Some(&1), "kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn info(this: &Self) -> Option<RefMut<'_, Info>> {
        this.out.info.try_borrow_mut().ok()
    }
}

/// A thread's connection comes back (the outermost return): checked in where it is (reset,
/// `checkin` event) and kept in the thread's place; or, if the pool let go of the place or
/// the connection was soft-invalidated, checked in to the core, which keeps nothing idle and
/// closes it; or, if it was invalidated or the thread panics, invalidated.
fn return_to_thread<M: Manager + 'static>(
    mut p: Pooled<SharedCore<M>>,
    place: &Place<M>,
    invalidated: bool,
    soft: bool,
) {
    let ev = Pooled::pool(&p).events();
    let name = ev.name.clone();
    if ev.echo {
        tracing::debug!(pool = %name, "Connection being returned to pool");
    }
    let panicking = std::thread::panicking();
    let mut st = lock_std(&place.state);
    if st.evicted || soft || invalidated || panicking || Pooled::is_soft_invalidated(&p) {
        drop(st);
        let r = catch_unwind(AssertUnwindSafe(|| {
            if invalidated || panicking {
                Pooled::invalidate(p);
            } else {
                if soft {
                    Pooled::soft_invalidate(&mut p);
                }
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

impl<M: Manager + 'static> Deref for ThreadConnection<M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        self.out.conn()
    }
}

// Manual impl: show the connection, not the pool.
impl<M: Manager + 'static> fmt::Debug for ThreadConnection<M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadConnection")
            .field("conn", &**self)
            .field("handles", &Rc::strong_count(&self.out))
            .finish_non_exhaustive()
    }
}
