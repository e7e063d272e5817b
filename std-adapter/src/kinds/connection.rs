//! [`KindConnection`]: the guard of the simple kinds that hand a connection to one caller
//! at a time ([`NullPool`](crate::NullPool), [`AssertionPool`](crate::AssertionPool),
//! [`SingletonThreadPool`](crate::SingletonThreadPool)).
//!
//! The guard owns its connection while it lives. When it is consumed (dropped, invalidated,
//! detached) its [`Return`] says where what is left goes: closed (NullPool), or back to the
//! place the kind keeps it in ([`Kept`]) for the next checkout, unless the kind let go of
//! that place or the connection was soft-invalidated (then it is closed).

use std::backtrace::Backtrace;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use tarn_core::{InvalidateReason, Manager};

use super::base::Base;
use crate::adapt::Tracked;
use crate::sync::lock_std;

/// A connection a kind keeps between checkouts (AssertionPool's one, a thread's in a
/// SingletonThreadPool), shared by the kind and the guard that has it out.
pub(crate) struct Kept<C> {
    /// The connection while it is in (not checked out).
    pub(crate) conn: Option<Tracked<C>>,
    /// Checked out now.
    pub(crate) out: bool,
    /// Where it was checked out (AssertionPool, with `store_backtrace`).
    pub(crate) backtrace: Option<Arc<Backtrace>>,
    /// The pool let go of this place (clean-up, dispose, thread exit): the connection is
    /// closed when it comes back.
    pub(crate) evicted: bool,
}

impl<C> Kept<C> {
    pub(crate) const fn new() -> Self {
        Kept {
            conn: None,
            out: false,
            backtrace: None,
            evicted: false,
        }
    }
}

/// Where a guard's connection goes when the guard is consumed.
pub(crate) enum Return<'a, C> {
    /// Closed (NullPool, or a SingletonThreadPool checkout at thread exit).
    Close,
    /// Back to a place the pool owns.
    To(&'a Mutex<Kept<C>>),
    /// Back to a place shared with the pool.
    ToShared(Arc<Mutex<Kept<C>>>),
}

/// A connection checked out of a [`NullPool`](crate::NullPool), [`AssertionPool`](crate::AssertionPool) or
/// [`SingletonThreadPool`](crate::SingletonThreadPool). Derefs to the connection; dropping it checks it in (reset on
/// return, `checkin` event) and then closes it (NullPool) or keeps it for the next checkout.
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
    pub(crate) base: &'a Base<M>,
    pub(crate) conn: Option<Tracked<M::Connection>>,
    pub(crate) home: Return<'a, M::Connection>,
}

impl<M: Manager + 'static> KindConnection<'_, M> {
    fn take(&mut self) -> Tracked<M::Connection> {
        self.conn
            .take()
            .expect("a guard holds its connection until consumed")
    }

    /// Puts a connection (or nothing, if it was closed) back where it lives.
    fn go_home(&mut self, kept: Option<Tracked<M::Connection>>) {
        let place = match &self.home {
            Return::Close => None,
            Return::To(place) => Some(*place),
            Return::ToShared(place) => Some(&**place),
        };
        let close = match place {
            None => kept,
            Some(place) => {
                let mut st = lock_std(place);
                st.out = false;
                st.backtrace = None;
                match kept {
                    Some(t) if !st.evicted && !t.soft => {
                        st.conn = Some(t);
                        None
                    }
                    other => other,
                }
            }
        };
        if let Some(t) = close {
            self.base.close(t);
        }
    }

    /// Closes the connection as broken.
    pub fn invalidate(mut this: Self) {
        let t = this.take();
        this.base.invalidate(t, InvalidateReason::User);
        this.go_home(None);
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
        if let Some(t) = this.conn.as_mut() {
            this.base.soft_invalidate(t);
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
        let t = this.take();
        let conn = this.base.detach(t);
        this.go_home(None);
        conn
    }
}

impl<M: Manager + 'static> Drop for KindConnection<'_, M> {
    fn drop(&mut self) {
        if let Some(t) = self.conn.take() {
            let kept = self.base.release(t);
            self.go_home(kept);
        }
    }
}

impl<M: Manager + 'static> Deref for KindConnection<'_, M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        &self
            .conn
            .as_ref()
            .expect("a guard holds its connection")
            .conn
    }
}

impl<M: Manager + 'static> DerefMut for KindConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self
            .conn
            .as_mut()
            .expect("a guard holds its connection")
            .conn
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
