//! [`Pooled`]: the guard of a checked-out connection. Dropping it checks the connection in.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

use crate::deadline::Deadline;
use crate::error::CheckoutError;
use crate::manager::Manager;
use crate::slot::{Entry, Owned};

/// Seals [`AnyPool`]: only `RawPool` implements it (in `pool/any.rs`).
pub(crate) mod sealed {
    pub trait Sealed {}
}

/// What a guard needs from its pool. Implemented by [`RawPool`](crate::RawPool) only.
///
/// Its hidden methods take the guard's slot token (by value when they end the guard, or
/// give it back), which is both the proof that the caller owns the slot and the only way to
/// its contents (`slot.rs`).
pub trait AnyPool: sealed::Sealed {
    /// The pool's manager.
    type Manager: Manager;
    /// The pool's typed per-connection info.
    type Info;

    #[doc(hidden)]
    fn __entry<'a>(&'a self, token: &'a TokenOf<Self>) -> &'a EntryOf<Self>;
    #[doc(hidden)]
    fn __entry_mut<'a>(&'a self, token: &'a mut TokenOf<Self>) -> &'a mut EntryOf<Self>;
    #[doc(hidden)]
    fn __index(&self, token: &TokenOf<Self>) -> u32;
    #[doc(hidden)]
    fn __reset_limit(&self) -> Option<Duration>;
    #[doc(hidden)]
    fn __checkin(&self, token: TokenOf<Self>, limit: Option<Duration>) -> Result<(), Error<Self>>;
    #[doc(hidden)]
    fn __checkin_in_place(
        &self,
        token: TokenOf<Self>,
        limit: Option<Duration>,
    ) -> Result<TokenOf<Self>, Error<Self>>;
    #[doc(hidden)]
    fn __return_kept(&self, token: TokenOf<Self>);
    #[doc(hidden)]
    fn __checkout_kept<D: Deadline>(
        &self,
        token: TokenOf<Self>,
        deadline: &D,
    ) -> Result<TokenOf<Self>, CheckoutError<Error<Self>>>;
    #[doc(hidden)]
    fn __invalidate(&self, token: TokenOf<Self>);
    #[doc(hidden)]
    fn __invalidate_pool(&self, token: TokenOf<Self>);
    #[doc(hidden)]
    fn __is_disconnect(&self, error: &Error<Self>) -> bool;
    #[doc(hidden)]
    fn __soft_invalidate(&self, token: &mut TokenOf<Self>);
    #[doc(hidden)]
    fn __detach(&self, token: TokenOf<Self>) -> Conn<Self>;
}

pub(crate) type Conn<P> = <<P as AnyPool>::Manager as Manager>::Connection;
pub(crate) type Error<P> = <<P as AnyPool>::Manager as Manager>::Error;
type EntryOf<P> = Entry<Conn<P>, <P as AnyPool>::Info>;
pub(crate) type TokenOf<P> = Owned<Conn<P>, <P as AnyPool>::Info>;

/// A pointer through which a guard reaches its pool: `&Pool`, `Arc<Pool>`, `Rc<Pool>`,
/// `Box<Pool>`, `&'static FixedPool`.
///
/// A guard keeps a pointer to its connection's slot, taken from the pool it was checked out
/// of, and gives the connection back to the pool its pointer leads to; a pointer that led
/// somewhere else later would let two threads own one slot. So only pointers that always
/// lead to the same pool can hold a guard's pool.
///
/// # Safety
///
/// For as long as a value of the implementing type exists (moves included), every
/// dereference of it yields the same pool — the same value, which may move together with the
/// pointer if the pointer holds it inline — and that pool is not dropped before the pointer
/// is. References and the standard smart pointers keep this; a `Deref` that chooses its
/// target at run time (interior mutability, global state) does not.
///
/// So a pointer type of one's own does not hold a guard's pool unless it promises this with
/// an `unsafe impl`:
///
/// ```compile_fail
/// use std::ops::Deref;
/// use tarn_core::{Builder, Pool, testing::ScriptedManager};
///
/// struct Mine(Pool<ScriptedManager>);
/// impl Deref for Mine {
///     type Target = Pool<ScriptedManager>;
///     fn deref(&self) -> &Self::Target {
///         &self.0
///     }
/// }
/// let pool = Mine(Builder::new(ScriptedManager::new()).build().unwrap());
/// let conn = Pool::try_checkout_in(pool); // error: `Mine` is not a `PoolPtr`
/// ```
pub unsafe trait PoolPtr: Deref {}

// SAFETY: a shared reference leads to one value for its whole life, which outlives it.
unsafe impl<T: ?Sized> PoolPtr for &T {}

// SAFETY: an `Arc` leads to its allocation for its whole life and keeps it alive.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
unsafe impl<T: ?Sized> PoolPtr for alloc::sync::Arc<T> {}

// SAFETY: as for `Arc`.
#[cfg(feature = "alloc")]
unsafe impl<T: ?Sized> PoolPtr for alloc::rc::Rc<T> {}

// SAFETY: a `Box` owns its allocation and leads to it for its whole life; moving the box
// does not move the allocation.
#[cfg(feature = "alloc")]
unsafe impl<T: ?Sized> PoolPtr for alloc::boxed::Box<T> {}

// SAFETY: as for `alloc::sync::Arc` (loom's models share pools through loom's `Arc`).
#[cfg(tarn_loom)]
unsafe impl<T: ?Sized> PoolPtr for loom::sync::Arc<T> {}

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
    P: PoolPtr,
    P::Target: AnyPool,
{
    /// Taken only by `into_parts` (which forgets the guard) or by `drop`.
    pool: ManuallyDrop<P>,
    /// The token of the slot this guard owns (`slot.rs`): its connection stays in the slot,
    /// in place. One word: in a heap pool, the address of the slot's entry, resolved once at
    /// checkout, so the guard reaches its connection with no lookup; in a fixed pool, whose
    /// inline slots move with the pool, the slot index. The guard is then two words, which
    /// move in two registers (an out-of-line drop takes them as two arguments, not through
    /// memory). Its `Send`/`Sync` are the entry's. Taken only by `into_parts` or `drop`.
    token: ManuallyDrop<TokenOf<P::Target>>,
}

impl<P> Pooled<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    /// A guard for the slot whose token is `token`, which came from `*pool`.
    #[inline(always)]
    pub(crate) fn new(pool: P, token: TokenOf<P::Target>) -> Self {
        Pooled {
            pool: ManuallyDrop::new(pool),
            token: ManuallyDrop::new(token),
        }
    }

    /// The entry in this guard's slot.
    #[inline(always)]
    fn entry(&self) -> &EntryOf<P::Target> {
        self.pool.__entry(&self.token)
    }

    /// Mutable access to the entry in this guard's slot.
    #[inline(always)]
    fn entry_mut(&mut self) -> &mut EntryOf<P::Target> {
        self.pool.__entry_mut(&mut self.token)
    }

    /// Takes the guard apart without checking in.
    #[inline]
    pub(crate) fn into_parts(this: Self) -> (P, TokenOf<P::Target>) {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never dropped, so `pool` and `token` are moved out exactly once,
        // here.
        unsafe {
            (
                ManuallyDrop::take(&mut this.pool),
                ManuallyDrop::take(&mut this.token),
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
    /// The reset gets the pool's [`Settings::reset_limit`](crate::Settings::reset_limit).
    ///
    /// # Errors
    ///
    /// The manager's reset error; the connection was closed and its capacity given back.
    #[inline]
    pub fn checkin(this: Self) -> Result<(), Error<P::Target>> {
        let limit = this.pool.__reset_limit();
        Self::checkin_within(this, limit)
    }

    /// [`checkin`](Self::checkin), passing `limit` to
    /// [`Manager::reset_within`](crate::Manager::reset_within).
    ///
    /// # Errors
    ///
    /// As [`checkin`](Self::checkin).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use tarn_core::{Builder, Pooled, testing::ScriptedManager};
    ///
    /// let manager = ScriptedManager::new();
    /// let pool = Builder::new(manager.clone()).build()?;
    /// let conn = pool.try_checkout().unwrap();
    /// Pooled::checkin_within(conn, Some(Duration::from_millis(50))).unwrap();
    /// assert_eq!(manager.last_reset_limit(), Some(Some(Duration::from_millis(50))));
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    #[inline]
    pub fn checkin_within(this: Self, limit: Option<Duration>) -> Result<(), Error<P::Target>> {
        let (pool, token) = Self::into_parts(this);
        pool.__checkin(token, limit)
    }

    /// Closes the connection as broken (hard invalidation): the `invalidate` event, the
    /// `checkin` event (this checkout ends), then it is closed and its capacity given back.
    pub fn invalidate(this: Self) {
        let (pool, token) = Self::into_parts(this);
        pool.__invalidate(token)
    }

    /// Invalidates the pool through this connection (the reference's `Pool._invalidate`,
    /// the generation rule): if the connection is not older than the pool's last
    /// invalidation, every connection opened so far is invalidated, as by
    /// [`RawPool::invalidate_all`](crate::RawPool::invalidate_all) (idle ones are replaced
    /// at their next checkout, checked-out ones closed when returned); a connection opened
    /// before the last invalidation leaves the others alone. Then this connection is
    /// invalidated, as by [`invalidate`](Self::invalidate).
    ///
    /// ```
    /// # use tarn_core::{Builder, Pooled, testing::ScriptedManager};
    /// let pool = Builder::new(ScriptedManager::new()).build()?;
    /// let (a, b) = (pool.try_checkout().unwrap(), pool.try_checkout().unwrap());
    /// let b_id = b.id;
    /// drop(b); // idle
    /// Pooled::invalidate_pool(a); // a was current: b's generation is invalidated too
    /// assert_ne!(pool.try_checkout().unwrap().id, b_id); // b was replaced
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    pub fn invalidate_pool(this: Self) {
        let (pool, token) = Self::into_parts(this);
        pool.__invalidate_pool(token)
    }

    /// Tells the pool about an error the caller got while using this connection: if the
    /// manager classifies it as a disconnect
    /// ([`Manager::is_disconnect`](crate::Manager::is_disconnect)), the pool is invalidated
    /// through this connection ([`invalidate_pool`](Self::invalidate_pool), the generation
    /// rule) and `None` comes back; otherwise the guard comes back unchanged.
    ///
    /// ```
    /// # use tarn_core::{Builder, Pooled, testing::{ScriptedError, ScriptedManager}};
    /// let pool = Builder::new(ScriptedManager::new()).build()?;
    /// let conn = pool.try_checkout().unwrap();
    /// let conn = Pooled::report_error(conn, &ScriptedError::Ping).expect("not a disconnect");
    /// assert!(Pooled::report_error(conn, &ScriptedError::Disconnect).is_none());
    /// assert_eq!(pool.state().open, 0);
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    pub fn report_error(this: Self, error: &Error<P::Target>) -> Option<Self> {
        if this.pool.__is_disconnect(error) {
            Self::invalidate_pool(this);
            None
        } else {
            Some(this)
        }
    }

    /// Soft invalidation: the connection keeps working for this holder, and is closed instead
    /// of kept when it is returned.
    pub fn soft_invalidate(this: &mut Self) {
        this.pool.__soft_invalidate(&mut this.token)
    }

    /// Whether the connection was soft-invalidated.
    pub fn is_soft_invalidated(this: &Self) -> bool {
        this.entry().soft
    }

    /// Removes the connection from the pool for good and hands it to the caller, who now owns
    /// closing it (or may give it to [`RawPool::close_detached`](crate::RawPool::close_detached)). The pool's capacity is
    /// given back, so it may open a replacement.
    pub fn detach(this: Self) -> Conn<P::Target> {
        let (pool, token) = Self::into_parts(this);
        pool.__detach(token)
    }
}

impl<P> Deref for Pooled<P>
where
    P: PoolPtr,
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
    P: PoolPtr,
    P::Target: AnyPool,
{
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.entry_mut().conn
    }
}

impl<P> Drop for Pooled<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    #[inline(always)]
    fn drop(&mut self) {
        // A failed reset has invalidated the connection already; there is no one to tell.
        let limit = self.pool.__reset_limit();
        // SAFETY: `drop` runs at most once, and `into_parts` (the only other place that takes
        // the token) keeps `drop` from running at all: the token is moved out once, here.
        let token = unsafe { ManuallyDrop::take(&mut self.token) };
        let _ = self.pool.__checkin(token, limit);
        // SAFETY: `drop` runs at most once, and `into_parts` (the only other place that takes
        // the pointer) keeps `drop` from running at all.
        unsafe { ManuallyDrop::drop(&mut self.pool) };
    }
}

impl<P> fmt::Debug for Pooled<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
    Conn<P::Target>: fmt::Debug,
{
    // Manual impl: show the connection, not the pool (whose manager may hold secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("conn", &self.entry().conn)
            .field("slot", &self.pool.__index(&self.token))
            .finish_non_exhaustive()
    }
}
