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
    fn __slot(&self, idx: u32) -> *mut Option<Entry<Conn<Self>, Self::Info>>;
    #[doc(hidden)]
    fn __checkin(&self, idx: u32) -> Result<(), Error<Self>>;
    #[doc(hidden)]
    fn __invalidate(&self, idx: u32);
    #[doc(hidden)]
    fn __soft_invalidate(&self, idx: u32);
    #[doc(hidden)]
    fn __detach(&self, idx: u32) -> Conn<Self>;
}

type Conn<P> = <<P as AnyPool>::Manager as Manager>::Connection;
type Error<P> = <<P as AnyPool>::Manager as Manager>::Error;
type EntryOf<P> = Entry<Conn<P>, <P as AnyPool>::Info>;

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
    fn __slot(&self, idx: u32) -> *mut Option<Entry<M::Connection, I>> {
        self.slot_ptr(idx)
    }
    #[inline]
    fn __checkin(&self, idx: u32) -> Result<(), M::Error> {
        self.checkin(idx)
    }
    fn __invalidate(&self, idx: u32) {
        self.invalidate_slot(idx, InvalidateReason::User)
    }
    fn __soft_invalidate(&self, idx: u32) {
        self.soft_invalidate_slot(idx)
    }
    fn __detach(&self, idx: u32) -> M::Connection {
        self.detach_slot(idx)
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
    /// Taken only by `into_parts` (which forgets the guard) or by `drop`.
    pool: ManuallyDrop<P>,
    /// The slot this guard owns (slot protocol): its connection stays in it, in place.
    /// A full word, not `u32`: the guard is then two words that move as two plain loads and
    /// stores (a 4-byte store read back by an 8-byte load stalls on store forwarding).
    idx: usize,
}

impl<P> Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    /// A guard for slot `idx`, which the caller owns and which holds a connection.
    #[inline]
    pub(crate) fn new(pool: P, idx: u32) -> Self {
        Pooled {
            pool: ManuallyDrop::new(pool),
            idx: idx as usize,
        }
    }

    /// The entry in this guard's slot.
    #[inline]
    fn entry(&self) -> &EntryOf<P::Target> {
        // SAFETY: this guard owns slot `idx` (it was handed the index by a checkout and no
        // queue holds it), so only this guard reaches the slot's contents, and the slot holds
        // an entry for as long as the guard lives. `&self` rules out a `&mut` through the
        // guard for the borrow's lifetime.
        match unsafe { &*self.pool.__slot(self.idx as u32) } {
            Some(entry) => entry,
            None => unreachable!("a guard's slot holds its connection"),
        }
    }

    /// Mutable access to the entry in this guard's slot.
    #[inline]
    fn entry_mut(&mut self) -> &mut EntryOf<P::Target> {
        // SAFETY: as in `entry`; `&mut self` makes this the only reference.
        match unsafe { &mut *self.pool.__slot(self.idx as u32) } {
            Some(entry) => entry,
            None => unreachable!("a guard's slot holds its connection"),
        }
    }

    /// Takes the guard apart without checking in.
    #[inline]
    fn into_parts(this: Self) -> (P, u32) {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never dropped, so `pool` is moved out exactly once, here.
        let pool = unsafe { ManuallyDrop::take(&mut this.pool) };
        (pool, this.idx as u32)
    }

    /// The pool this connection belongs to.
    pub fn pool(this: &Self) -> &P::Target {
        &this.pool
    }

    /// The typed per-connection info. It survives check-in and starts from `I::default()`
    /// each time the pool opens a new connection (also when it replaces this one).
    pub fn info(this: &Self) -> &<P::Target as AnyPool>::Info {
        &this.entry().info
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
        &mut this.entry_mut().info
    }

    /// Checks the connection in now, returning the reset error if the reset on return failed
    /// (the connection was then invalidated). Dropping the guard does the same, silently.
    ///
    /// # Errors
    ///
    /// The manager's reset error; the connection was closed and its capacity given back.
    pub fn checkin(this: Self) -> Result<(), Error<P::Target>> {
        let (pool, idx) = Self::into_parts(this);
        pool.__checkin(idx)
    }

    /// Closes the connection as broken (hard invalidation): the `invalidate` event, then it
    /// is closed and its capacity given back.
    pub fn invalidate(this: Self) {
        let (pool, idx) = Self::into_parts(this);
        pool.__invalidate(idx)
    }

    /// Soft invalidation: the connection keeps working for this holder, and is closed instead
    /// of kept when it is returned.
    pub fn soft_invalidate(this: &mut Self) {
        this.pool.__soft_invalidate(this.idx as u32)
    }

    /// Whether the connection was soft-invalidated.
    pub fn is_soft_invalidated(this: &Self) -> bool {
        this.entry().soft
    }

    /// Removes the connection from the pool for good and hands it to the caller, who now owns
    /// closing it (or may give it to [`RawPool::close_detached`]). The pool's capacity is
    /// given back, so it may open a replacement.
    pub fn detach(this: Self) -> Conn<P::Target> {
        let (pool, idx) = Self::into_parts(this);
        pool.__detach(idx)
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
        &self.entry().conn
    }
}

impl<P> DerefMut for Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.entry_mut().conn
    }
}

impl<P> Drop for Pooled<P>
where
    P: Deref,
    P::Target: AnyPool,
{
    #[inline]
    fn drop(&mut self) {
        // A failed reset has invalidated the connection already; there is no one to tell.
        let _ = self.pool.__checkin(self.idx as u32);
        // SAFETY: `drop` runs at most once, and `into_parts` (the only other place that takes
        // the pointer) keeps `drop` from running at all.
        unsafe { ManuallyDrop::drop(&mut self.pool) };
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
            .field("conn", &self.entry().conn)
            .field("slot", &self.idx)
            .finish_non_exhaustive()
    }
}
