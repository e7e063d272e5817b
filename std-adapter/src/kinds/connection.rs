//! [`KindConnection`]: the guard of the simple kinds that lend a connection to one caller at
//! a time ([`NullPool`](crate::NullPool), [`AssertionPool`](crate::AssertionPool)).
//!
//! It is the pool's [`Guard`]: returning it is the core's checkin (NullPool's core keeps
//! nothing idle, so it is then closed).

use std::fmt;
use std::ops::{Deref, DerefMut};

use tarn_core::Manager;

use crate::info::Info;
use crate::pool::{Borrowed, Guard};

/// A connection checked out of a [`NullPool`](crate::NullPool) or
/// [`AssertionPool`](crate::AssertionPool). Derefs to the connection; dropping it checks it
/// in (reset on return, `checkin` event) and then closes it (NullPool) or keeps it for the
/// next checkout.
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
    guard: Guard<M, Borrowed<'a>>,
}

impl<'a, M: Manager + 'static> KindConnection<'a, M> {
    pub(crate) fn lent(guard: Guard<M, Borrowed<'a>>) -> Self {
        KindConnection { guard }
    }

    /// Closes the connection as broken.
    pub fn invalidate(this: Self) {
        this.guard.invalidate();
    }

    /// Marks the connection to be closed when returned.
    ///
    /// ```
    /// # use tarn_pool::AssertionPool;
    /// # use tarn_core::testing::ScriptedManager;
    /// let manager = ScriptedManager::new();
    /// let pool = AssertionPool::new(manager.clone());
    /// let mut c = pool.get()?;
    /// tarn_pool::KindConnection::soft_invalidate(&mut c);
    /// drop(c);
    /// assert_eq!(manager.closed(), 1, "closed on return, not kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn soft_invalidate(this: &mut Self) {
        this.guard.soft_invalidate();
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
    pub fn detach(this: Self) -> M::Connection {
        this.guard.detach()
    }

    /// [`detach`](Self::detach), handing over the connection's [`Info`] with it.
    ///
    /// ```
    /// # use tarn_pool::{KindConnection, NullPool};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = NullPool::new(ScriptedManager::new());
    /// let mut conn = pool.get()?;
    /// KindConnection::info_mut(&mut conn).insert(3_u8);
    /// let (raw, info) = KindConnection::detach_with_info(conn);
    /// assert_eq!(info.get::<u8>(), Some(&3));
    /// pool.close_detached(raw);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn detach_with_info(this: Self) -> (M::Connection, Info) {
        this.guard.detach_with_info()
    }

    /// The connection's [`Info`]: kept across checkouts of this connection (AssertionPool
    /// keeps its connection; NullPool opens a new, empty-info one every checkout).
    pub fn info(this: &Self) -> &Info {
        this.guard.info()
    }

    /// Mutable access to the connection's [`Info`].
    ///
    /// ```
    /// # use tarn_pool::{AssertionPool, KindConnection};
    /// # use tarn_core::testing::ScriptedManager;
    /// let pool = AssertionPool::new(ScriptedManager::new());
    /// let mut conn = pool.get()?;
    /// KindConnection::info_mut(&mut conn).insert(3_u8);
    /// drop(conn);
    /// assert_eq!(KindConnection::info(&pool.get()?).get::<u8>(), Some(&3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn info_mut(this: &mut Self) -> &mut Info {
        this.guard.info_mut()
    }
}

impl<M: Manager + 'static> Deref for KindConnection<'_, M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        &self.guard
    }
}

impl<M: Manager + 'static> DerefMut for KindConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.guard
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
