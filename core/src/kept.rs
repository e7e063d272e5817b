//! [`CheckedIn`]: a connection checked in but kept by its holder, outside the idle set.

use core::fmt;
use core::time::Duration;

use crate::deadline::{Deadline, NoDeadline};
use crate::error::CheckoutError;
use crate::guard::{AnyPool, Error, PoolPtr, Pooled, TokenOf};

impl<P> Pooled<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    /// Checks the connection in without giving it back: the reset event, the manager's reset
    /// (within `limit`) and the checkin event run as on return, and the caller keeps the
    /// connection, checked in, as a [`CheckedIn`] (no other caller can take it). What a kind
    /// whose connection stays with its holder between uses does on each return (the
    /// reference's `StaticPool`, and `SingletonThreadPool`'s outermost return); every
    /// checkout and checkin event stays balanced.
    ///
    /// # Errors
    ///
    /// The manager's reset error: the connection was invalidated
    /// ([`InvalidateReason::ResetFailed`](crate::InvalidateReason::ResetFailed)) and closed, its capacity given back, and the guard
    /// is gone; check a new one out.
    ///
    /// # Examples
    ///
    /// ```
    /// use tarn_core::{Builder, CheckedIn, Pooled, testing::ScriptedManager};
    ///
    /// let manager = ScriptedManager::new();
    /// let pool = Builder::new(manager.clone()).pool_size(1).max_overflow(0).build()?;
    /// let conn = pool.try_checkout().unwrap();
    /// let kept = Pooled::checkin_in_place(conn, None).unwrap();
    /// assert_eq!(manager.resets(), 1);
    /// assert!(pool.try_checkout().is_err(), "the holder keeps it");
    /// let again = CheckedIn::checkout(kept).unwrap();
    /// assert_eq!(again.resets, 1);
    /// # Ok::<(), tarn_core::BuildError>(())
    /// ```
    pub fn checkin_in_place(
        this: Self,
        limit: Option<Duration>,
    ) -> Result<CheckedIn<P>, Error<P::Target>> {
        let (pool, token) = Self::into_parts(this);
        let token = pool.__checkin_in_place(token, limit)?;
        Ok(CheckedIn::new(pool, token))
    }
}

/// A connection that was reset and checked in ([`Pooled::checkin_in_place`]) but stays with
/// its holder: no other caller can take it. It gives no access to the connection (it is
/// checked in); [`checkout`](Self::checkout) lends it again, with the checkout event.
///
/// Dropping it gives the connection back to the pool, as a return does but with no second
/// reset: to the idle set, or closed if the pool does not keep it (stale, the idle set
/// full, a pool that keeps nothing; with the matching
/// [`CloseReason`](crate::CloseReason)).
///
/// # Examples
///
/// ```
/// use tarn_core::{Builder, CheckedIn, Pooled, testing::ScriptedManager};
///
/// let manager = ScriptedManager::new();
/// let pool = Builder::new(manager.clone()).pool_size(1).build()?;
/// let kept = Pooled::checkin_in_place(pool.try_checkout().unwrap(), None).unwrap();
/// drop(kept); // back to the idle set, not reset again
/// assert_eq!((pool.state().idle, manager.resets()), (1, 1));
/// # Ok::<(), tarn_core::BuildError>(())
/// ```
#[must_use = "dropping it immediately returns the connection to the pool"]
pub struct CheckedIn<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    /// `None` only once `checkout` took it (`drop` then has nothing to do).
    pool: Option<P>,
    /// The token of the slot this value owns, as in [`Pooled`].
    token: Option<TokenOf<P::Target>>,
}

impl<P> CheckedIn<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    /// Takes over the slot whose token is `token` (from `*pool`), whose connection was just
    /// checked in in place.
    pub(crate) fn new(pool: P, token: TokenOf<P::Target>) -> Self {
        CheckedIn {
            pool: Some(pool),
            token: Some(token),
        }
    }

    /// Lends the connection again: as for an idle connection, it is replaced first if it is
    /// stale, soft-invalidated or older than the recycle age, pinged if pre-ping is on, and
    /// the checkout hook runs. Manager calls get no limit
    /// ([`checkout_within`](Self::checkout_within) passes one).
    ///
    /// # Errors
    ///
    /// As [`RawPool::try_checkout`](crate::RawPool::try_checkout), but never
    /// [`WouldBlock`](CheckoutError::WouldBlock): the connection was closed and its capacity
    /// given back.
    pub fn checkout(this: Self) -> Result<Pooled<P>, CheckoutError<Error<P::Target>>> {
        Self::checkout_within(this, &NoDeadline)
    }

    /// [`checkout`](Self::checkout), passing the time `deadline` has left to each manager
    /// call.
    ///
    /// # Errors
    ///
    /// As [`checkout`](Self::checkout).
    pub fn checkout_within<D: Deadline>(
        mut this: Self,
        deadline: &D,
    ) -> Result<Pooled<P>, CheckoutError<Error<P::Target>>> {
        let (Some(pool), Some(token)) = (this.pool.take(), this.token.take()) else {
            unreachable!("a live `CheckedIn` holds its pool and token")
        };
        let token = pool.__checkout_kept(token, deadline)?;
        Ok(Pooled::new(pool, token))
    }
}

impl<P> Drop for CheckedIn<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    fn drop(&mut self) {
        if let (Some(pool), Some(token)) = (self.pool.take(), self.token.take()) {
            pool.__return_kept(token);
        }
    }
}

impl<P> fmt::Debug for CheckedIn<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedIn").finish_non_exhaustive()
    }
}
