//! [`CheckedIn`]: a connection checked in but kept by its holder, outside the idle set.

use core::fmt;
use core::mem::ManuallyDrop;

use crate::deadline::{Deadline, NoDeadline};
use crate::error::CheckoutError;
use crate::guard::{AnyPool, Error, PoolPtr, Pooled, SlotOf};

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
    /// Taken only by `checkout` (which forgets the value) or by `drop`.
    pool: ManuallyDrop<P>,
    /// The slot this value owns, as in [`Pooled`].
    slot: SlotOf<P::Target>,
}

impl<P> CheckedIn<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    /// Takes over the slot `slot` refers to, whose connection was just checked in in place.
    ///
    /// # Safety
    ///
    /// As for [`Pooled::new`]: the caller owns the slot, made into `slot` on `*pool`, and it
    /// holds its connection; the new value takes it over.
    pub(crate) unsafe fn new(pool: P, slot: SlotOf<P::Target>) -> Self {
        CheckedIn {
            pool: ManuallyDrop::new(pool),
            slot,
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
        this: Self,
        deadline: &D,
    ) -> Result<Pooled<P>, CheckoutError<Error<P::Target>>> {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never dropped, so `pool` is moved out exactly once, here.
        let pool = unsafe { ManuallyDrop::take(&mut this.pool) };
        // SAFETY: this value owned the slot and gives it up; on `Ok` the slot (perhaps with a
        // new connection in it) is this thread's again, as the returned `SlotRef` says.
        let slot = unsafe { pool.__checkout_kept(this.slot, deadline) }?;
        // SAFETY: `__checkout_kept` handed this thread the slot `slot` refers to, with its
        // connection ready to hand out.
        Ok(unsafe { Pooled::new(pool, slot) })
    }
}

impl<P> Drop for CheckedIn<P>
where
    P: PoolPtr,
    P::Target: AnyPool,
{
    fn drop(&mut self) {
        // SAFETY: this value owns the slot (`new`) and this is its end (`drop` runs at most
        // once, and not at all after `checkout`).
        unsafe { self.pool.__return_kept(self.slot) };
        // SAFETY: `drop` runs at most once, and `checkout` keeps it from running at all.
        unsafe { ManuallyDrop::drop(&mut self.pool) };
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
