//! [`Pooled`]: the guard of a checked-out connection. Dropping it checks the connection in.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use crate::clock::Clock;
use crate::events::{Events, InvalidateReason};
use crate::manager::Manager;
use crate::pool::RawPool;
use crate::slot::Entry;
use crate::storage::Storage;

mod sealed {
    pub trait Sealed {}
}

/// What a guard needs from its pool. Implemented by [`RawPool`] only.
pub trait AnyPool: sealed::Sealed {
    /// The pool's manager.
    type Manager: Manager;
    /// The pool's typed per-connection info.
    type Info;

    #[doc(hidden)]
    fn __checkin(&self, idx: u32, entry: Entry<Conn<Self>, Self::Info>) -> Result<(), Error<Self>>;
    #[doc(hidden)]
    fn __invalidate(&self, idx: u32, entry: Entry<Conn<Self>, Self::Info>);
    #[doc(hidden)]
    fn __soft_invalidate(&self, entry: &mut Entry<Conn<Self>, Self::Info>);
    #[doc(hidden)]
    fn __detach(&self, idx: u32, entry: Entry<Conn<Self>, Self::Info>) -> Conn<Self>;
}

type Conn<P> = <<P as AnyPool>::Manager as Manager>::Connection;
type Error<P> = <<P as AnyPool>::Manager as Manager>::Error;

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>> sealed::Sealed for RawPool<M, E, K, I, S> {}

impl<M, E, K, I, S> AnyPool for RawPool<M, E, K, I, S>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
{
    type Manager = M;
    type Info = I;

    #[inline]
    fn __checkin(&self, idx: u32, entry: Entry<M::Connection, I>) -> Result<(), M::Error> {
        self.checkin(idx, entry)
    }
    fn __invalidate(&self, idx: u32, entry: Entry<M::Connection, I>) {
        self.invalidate_entry(idx, entry, InvalidateReason::User)
    }
    fn __soft_invalidate(&self, entry: &mut Entry<M::Connection, I>) {
        self.soft_invalidate_entry(entry)
    }
    fn __detach(&self, idx: u32, entry: Entry<M::Connection, I>) -> M::Connection {
        self.detach_entry(idx, entry)
    }
}

/// A checked-out connection. Derefs to the connection; dropping it checks the connection
/// back in (reset, checkin event, then the idle queue, or closed if the pool already keeps
/// `pool_size` idle connections or the connection was invalidated meanwhile).
///
/// `P` is how the guard reaches its pool: `&Pool`, `Arc<Pool>`, `&'static FixedPool`, …
/// Operations on the guard itself are associated functions (`Pooled::detach(conn)`), so they
/// never shadow the connection's own methods.
///
/// A guard is an affine value: it cannot be cloned, and the operations that end it take it by
/// value, so a connection can never be returned twice or used after it was detached:
///
/// ```compile_fail
/// # use tarn_core::{Builder, Pooled, testing::ScriptedManager};
/// let pool = Builder::new(ScriptedManager::new()).build().unwrap();
/// let conn = pool.try_checkout().unwrap();
/// let raw = Pooled::detach(conn);
/// drop(conn); // error: use of moved value
/// ```
#[must_use = "dropping the guard immediately returns the connection to the pool"]
pub struct Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    pool: P,
    idx: u32,
    entry: ManuallyDrop<Entry<Conn<P::Target>, <P::Target as AnyPool>::Info>>,
}

impl<P> Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    #[inline]
    pub(crate) fn new(
        pool: P,
        idx: u32,
        entry: Entry<Conn<P::Target>, <P::Target as AnyPool>::Info>,
    ) -> Self {
        Pooled {
            pool,
            idx,
            entry: ManuallyDrop::new(entry),
        }
    }

    /// Takes the guard apart without checking in.
    #[inline]
    fn into_parts(this: Self) -> (P, u32, Entry<Conn<P::Target>, <P::Target as AnyPool>::Info>) {
        let mut this = ManuallyDrop::new(this);
        let idx = this.idx;
        // SAFETY: `this` is never dropped, so `pool` and `entry` are each moved out exactly once,
        // here; nothing reads them afterwards.
        unsafe {
            (
                core::ptr::read(&this.pool),
                idx,
                ManuallyDrop::take(&mut this.entry),
            )
        }
    }

    /// The pool this connection belongs to.
    pub fn pool(this: &Self) -> &P::Target {
        &this.pool
    }

    /// The typed per-connection info. It survives check-in and starts from `I::default()`
    /// each time the pool opens a new connection (also when it replaces this one).
    pub fn info(this: &Self) -> &<P::Target as AnyPool>::Info {
        &this.entry.info
    }

    /// Mutable access to the typed per-connection info.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_core::{Builder, Pooled, testing::ScriptedManager};
    ///
    /// let pool = Builder::new(ScriptedManager::new()).pool_size(1).info::<u32>().build()?;
    /// let mut conn = pool.try_checkout().unwrap();
    /// *Pooled::info_mut(&mut conn) += 1;
    /// drop(conn);
    /// let conn = pool.try_checkout().unwrap();
    /// assert_eq!(*Pooled::info(&conn), 1, "info survives check-in");
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    pub fn info_mut(this: &mut Self) -> &mut <P::Target as AnyPool>::Info {
        &mut this.entry.info
    }

    /// Checks the connection in now, returning the reset error if the reset on return failed
    /// (the connection was then invalidated). Dropping the guard does the same, silently.
    ///
    /// # Errors
    ///
    /// The manager's reset error; the connection was closed and its capacity given back.
    pub fn checkin(this: Self) -> Result<(), Error<P::Target>> {
        let (pool, idx, entry) = Self::into_parts(this);
        pool.__checkin(idx, entry)
    }

    /// Closes the connection as broken (hard invalidation): the `invalidate` event, then it
    /// is closed and its capacity given back.
    pub fn invalidate(this: Self) {
        let (pool, idx, entry) = Self::into_parts(this);
        pool.__invalidate(idx, entry)
    }

    /// Soft invalidation: the connection keeps working for this holder, and is closed instead
    /// of kept when it is returned.
    pub fn soft_invalidate(this: &mut Self) {
        this.pool.__soft_invalidate(&mut this.entry)
    }

    /// Whether the connection was soft-invalidated.
    pub fn is_soft_invalidated(this: &Self) -> bool {
        this.entry.soft
    }

    /// Removes the connection from the pool for good and hands it to the caller, who now owns
    /// closing it (or may give it to [`RawPool::close_detached`]). The pool's capacity is
    /// given back, so it may open a replacement.
    pub fn detach(this: Self) -> Conn<P::Target> {
        let (pool, idx, entry) = Self::into_parts(this);
        pool.__detach(idx, entry)
    }
}

impl<P> Deref for Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    type Target = Conn<P::Target>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.entry.conn
    }
}

impl<P> DerefMut for Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.entry.conn
    }
}

impl<P> Drop for Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs at most once, and `into_parts` (the only other place that takes
        // the entry) keeps `drop` from running at all.
        let entry = unsafe { ManuallyDrop::take(&mut self.entry) };
        // A failed reset has invalidated the connection already; there is no one to tell.
        let _ = self.pool.__checkin(self.idx, entry);
    }
}

impl<P> fmt::Debug for Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
    Conn<P::Target>: fmt::Debug,
{
    // Manual impl: show the connection, not the pool (whose manager may hold secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("conn", &self.entry.conn)
            .field("slot", &self.idx)
            .finish_non_exhaustive()
    }
}
