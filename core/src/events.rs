//! The [`Events`] trait: hooks the pool calls at each step of a connection's life.
//!
//! Every method has a no-op default, so an implementation names only the events it cares
//! about and [`NopEvents`] costs nothing. The order follows the reference pool:
//!
//! ```text
//! open:     Manager::connect → first_connect (once per pool) → connect
//! checkout: [recycle / invalidated → close → open] → [pre-ping] → checkout
//! checkin:  reset → Manager::reset → checkin → back to the idle queue (or close)
//! close:    close(reason) → Manager::close
//! ```
//!
//! Every close carries its [`CloseReason`], so a listener (or the adapter's log) can tell why
//! without keeping a mirror of the pool's bookkeeping. Telling an adapter that capacity came
//! back is not an event: it is the pool's [`Waiters`](crate::Waiters) parameter.

use crate::manager::ResetMode;

/// A checkout hook's answer that the connection is unusable.
///
/// The pool invalidates the connection and opens a new one, at most twice per checkout (as
/// the reference pool); after that the checkout fails with
/// [`CheckoutError::Disconnected`](crate::CheckoutError::Disconnected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disconnected;

impl core::fmt::Display for Disconnected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the connection is disconnected")
    }
}

impl core::error::Error for Disconnected {}

/// What the pool knows about a connection being checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckoutEvent {
    /// The connection was opened by this very checkout.
    pub fresh: bool,
    /// How many times this checkout already replaced a connection its checkout hook
    /// reported as disconnected (0 or 1).
    pub attempt: u8,
}

/// Why a connection was invalidated (closed as broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidateReason {
    /// The user called [`Pooled::invalidate`](crate::Pooled::invalidate).
    User,
    /// [`Manager::reset`](crate::Manager::reset) failed on checkin.
    ResetFailed,
    /// The checkout hook answered [`Disconnected`].
    Disconnected,
    /// [`Manager::ping`](crate::Manager::ping) failed on checkout (pre-ping).
    PingFailed,
    /// A hook or the manager panicked while the pool handled the connection.
    Panicked,
    /// [`Manager::has_broken`](crate::Manager::has_broken) said the returned connection is
    /// broken.
    Broken,
}

/// Why the pool closes a connection (the argument of [`Events::close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Older than the recycle age at checkout: replaced.
    Recycled,
    /// Opened before the last [`RawPool::invalidate_all`](crate::RawPool::invalidate_all)
    /// (or a disconnect found by pre-ping): replaced at checkout, or closed at checkin.
    PoolInvalidated,
    /// Soft-invalidated: replaced at checkout, or closed at checkin.
    SoftInvalidated,
    /// Invalidated (closed as broken); the [`invalidate`](Events::invalidate) event came
    /// first with the same reason.
    Invalidated(InvalidateReason),
    /// Returned while the idle set was full (`pool_size` idle already): overflow shrinks.
    IdleFull,
    /// Returned to a pool that keeps nothing idle ([`Retain::Nothing`](crate::Retain)).
    RetainNone,
    /// Closed while idle by [`RawPool::dispose`](crate::RawPool::dispose).
    Disposed,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Recycled => f.write_str("exceeded the recycle age"),
            Self::PoolInvalidated => f.write_str("the pool was invalidated"),
            Self::SoftInvalidated => f.write_str("soft-invalidated"),
            Self::Invalidated(r) => write!(f, "invalidated ({r})"),
            Self::IdleFull => f.write_str("returned while the pool was full"),
            Self::RetainNone => f.write_str("the pool keeps no idle connection"),
            Self::Disposed => f.write_str("the pool was disposed"),
        }
    }
}

impl core::fmt::Display for InvalidateReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::User => "invalidated by the user",
            Self::ResetFailed => "reset on return failed",
            Self::Disconnected => "checkout hook reported a disconnect",
            Self::PingFailed => "pre-ping failed",
            Self::Panicked => "a hook or the manager panicked",
            Self::Broken => "the manager found the returned connection broken",
        })
    }
}

/// Hooks the pool calls as connections are opened, lent, returned and closed.
///
/// All methods default to doing nothing. They run on the thread that triggered the event,
/// while that thread has exclusive use of `conn`. A hook should not panic; if one does, the
/// pool closes the connection it was handling, keeps every count right, and lets the panic
/// continue (the `tarn-pool` adapter turns it into an error).
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{AtomicUsize, Ordering};
/// use tarn_core::{Events, CheckoutEvent, Disconnected};
///
/// #[derive(Default)]
/// struct CountCheckouts(AtomicUsize);
///
/// impl<C> Events<C> for CountCheckouts {
///     fn checkout(&self, _conn: &mut C, _event: &CheckoutEvent) -> Result<(), Disconnected> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Events<C> {
    /// Right after the first connection of the pool opened, exactly once per pool, before
    /// [`connect`](Events::connect) for that connection.
    fn first_connect(&self, conn: &mut C) {}

    /// Right after any connection opened.
    fn connect(&self, conn: &mut C) {}

    /// When a connection is about to be handed out. Answering [`Disconnected`] makes the
    /// pool replace the connection (at most twice per checkout).
    fn checkout(&self, conn: &mut C, event: &CheckoutEvent) -> Result<(), Disconnected> {
        Ok(())
    }

    /// When a returned connection is about to be reset, before
    /// [`Manager::reset`](crate::Manager::reset); also called for [`ResetMode::None`].
    fn reset(&self, conn: &mut C, mode: ResetMode) {}

    /// When a checked-out connection comes back: on EVERY return, as the reference's
    /// `_finalize_fairy` checks the record in whether or not the connection was invalidated,
    /// so checkouts and checkins balance. After the reset of a normal return (the connection
    /// then goes to the idle set, or is closed); after the `invalidate` event, and before the
    /// close, when the reset failed or the holder invalidated it
    /// ([`Pooled::invalidate`](crate::Pooled::invalidate)). A detached connection
    /// ([`Pooled::detach`](crate::Pooled::detach)) is not checked in (it left the pool, as
    /// in the reference), and a hook that panics ends the return without it.
    fn checkin(&self, conn: &mut C) {}

    /// When a connection is invalidated: it is closed right after.
    fn invalidate(&self, conn: &mut C, reason: InvalidateReason) {}

    /// When a connection is soft-invalidated: it keeps working until it is returned, then it
    /// is closed instead of being kept.
    fn soft_invalidate(&self, conn: &mut C) {}

    /// Right before [`Manager::close`](crate::Manager::close), for every connection the pool
    /// closes while it is in use, with the reason. Dropping the pool closes its idle
    /// connections without events (the events may be gone by then); call `dispose` first to
    /// see them.
    fn close(&self, conn: &mut C, reason: CloseReason) {}

    /// When a connection leaves the pool for good through
    /// [`Pooled::detach`](crate::Pooled::detach).
    fn detach(&self, conn: &mut C) {}

    /// When a detached connection is closed through
    /// [`RawPool::close_detached`](crate::RawPool::close_detached).
    fn close_detached(&self, conn: &mut C) {}
}

/// The events of a pool that listens to nothing. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NopEvents;

impl<C> Events<C> for NopEvents {}

macro_rules! forward_events {
    ($($ptr:ty),*) => {$(
        impl<C, T: Events<C> + ?Sized> Events<C> for $ptr {
            fn first_connect(&self, conn: &mut C) { (**self).first_connect(conn) }
            fn connect(&self, conn: &mut C) { (**self).connect(conn) }
            fn checkout(&self, conn: &mut C, event: &CheckoutEvent) -> Result<(), Disconnected> {
                (**self).checkout(conn, event)
            }
            fn reset(&self, conn: &mut C, mode: ResetMode) { (**self).reset(conn, mode) }
            fn checkin(&self, conn: &mut C) { (**self).checkin(conn) }
            fn invalidate(&self, conn: &mut C, reason: InvalidateReason) { (**self).invalidate(conn, reason) }
            fn soft_invalidate(&self, conn: &mut C) { (**self).soft_invalidate(conn) }
            fn close(&self, conn: &mut C, reason: CloseReason) { (**self).close(conn, reason) }
            fn detach(&self, conn: &mut C) { (**self).detach(conn) }
            fn close_detached(&self, conn: &mut C) { (**self).close_detached(conn) }
        }
    )*};
}

forward_events!(&T);
#[cfg(feature = "alloc")]
forward_events!(alloc::boxed::Box<T>);
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
forward_events!(alloc::sync::Arc<T>);
