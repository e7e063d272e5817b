//! The checkout: the fast path, the core's failures as the caller sees them, and waiting in
//! line, each carrying the caller's deadline to the core.
//!
//! Algorithm: if the wait queue is open to newcomers (nobody waits, or eventual fairness
//! lets this caller barge), try the core once; with no listener and no echo that try is the
//! whole path and the guard is built in the caller's `Result`. A core answer of "would
//! block" (or a queue closed to newcomers) sends the caller to the wait queue, which retries
//! whenever the core reports capacity back (`Waiters::released`) until the deadline.
//!
//! Deadlines: every try passes a [`TimeLeft`] to the core, which asks it before each manager
//! call (`connect_within`, `ping_within`), so opening or pinging a connection gets the time
//! the caller has left. The clock is read only then (and when waiting), never on a plain
//! checkout of an idle connection.
//!
//! Invariants: user code (listeners; the manager is wrapped in `Mgr`, which catches its
//! panics) runs inside `catch_unwind` whenever a listener is registered, so a panic becomes
//! [`Error::Panicked`]; a timeout is counted once and reported with the pool's sizes.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tarn_core::{CheckoutError, Deadline, Hint, Manager, Pooled};

use super::inner::{CorePtr, Inner};
use crate::adapt::{panic_message, MgrError};
use crate::error::{Error, TimeoutCause};
use crate::wait::{Attempt, WaitError};

thread_local! {
    /// The slot of this thread's last checkout: where its next one starts looking under
    /// the affinity order (the queue orders ignore it). One per thread for every pool: a
    /// hint from another pool only costs a longer scan (`tarn_core::Hint`).
    static HINT: Cell<Hint> = const { Cell::new(Hint::new()) };
}

/// The time a checkout has left: `timeout` from the first time it is asked (on the fast
/// path: just before the core's first manager call) or from a deadline fixed when the
/// caller started waiting.
pub(crate) struct TimeLeft {
    timeout: Duration,
    by: Cell<Option<Instant>>,
}

impl TimeLeft {
    #[inline(always)]
    pub(crate) fn new(timeout: Duration) -> Self {
        TimeLeft {
            timeout,
            by: Cell::new(None),
        }
    }

    fn by(timeout: Duration, deadline: Option<Instant>) -> Self {
        TimeLeft {
            timeout,
            by: Cell::new(deadline),
        }
    }
}

impl Deadline for TimeLeft {
    fn remaining(&self) -> Option<Duration> {
        let now = Instant::now();
        let by = match self.by.get() {
            Some(by) => by,
            None => {
                // A timeout too large for an `Instant` is no limit.
                let by = now.checked_add(self.timeout)?;
                self.by.set(Some(by));
                by
            }
        };
        Some(by.saturating_duration_since(now))
    }
}

/// A core checkout that failed, as the caller sees it; `None` for "would block". A connect
/// or pre-ping failure is logged at WARN with the manager's error (through `Debug`, which
/// every manager's error has and which names no password).
#[cold]
pub(crate) fn core_failed<E: std::fmt::Debug>(
    name: &str,
    e: CheckoutError<MgrError<E>>,
) -> Option<Error<E>> {
    match e {
        CheckoutError::Connect(MgrError::Manager(e)) => {
            tracing::warn!(pool = %name, "Error on connect(): {e:?}");
            Some(Error::Connect(e))
        }
        CheckoutError::Connect(MgrError::Panicked(what)) => Some(Error::Panicked { what }),
        // A pre-ping error that is not a disconnect (the connection was invalidated).
        CheckoutError::Ping(MgrError::Manager(e)) => {
            tracing::warn!(pool = %name, "Error on pre-ping: {e:?}");
            Some(Error::Ping(e))
        }
        // A ping that panicked: that connection was closed and its capacity given back; the
        // checkout goes on as if it had found none (the retry opens a new one).
        CheckoutError::Ping(MgrError::Panicked(_)) => None,
        CheckoutError::Disconnected => {
            tracing::info!(pool = %name, "Reconnection attempts exhausted on checkout");
            Some(Error::Disconnected)
        }
        _ => None,
    }
}

impl<M: Manager> Inner<M> {
    /// The core's checkout, from this thread's hint. The hint is read and written for every
    /// order (the queue orders ignore it), so the fast path has no branch on the order.
    #[inline(always)]
    fn core_checkout<P: CorePtr<M>>(
        ptr: P,
        left: &TimeLeft,
    ) -> Result<Pooled<P>, CheckoutError<MgrError<M::Error>>> {
        let mut hint = HINT.with(Cell::get);
        let res = tarn_core::Pool::try_checkout_in_hinted_within(ptr, &mut hint, left);
        HINT.with(|cell| cell.set(hint));
        res
    }

    /// One try at the core, with panics in listeners caught and echo logged.
    fn attempt<P: CorePtr<M>>(
        &self,
        ptr: P,
        left: &TimeLeft,
    ) -> Attempt<Pooled<P>, Error<M::Error>> {
        self.caught(|| Self::core_checkout(ptr, left))
    }

    /// A core checkout `f` as the caller sees it: its failures mapped, a panic in a
    /// listener caught (only listeners can unwind out of the core: the manager is wrapped
    /// in `Mgr`, which catches its panics; without listeners the catch is skipped), echo
    /// logged.
    pub(crate) fn caught<T>(
        &self,
        f: impl FnOnce() -> Result<T, CheckoutError<MgrError<M::Error>>>,
    ) -> Attempt<T, Error<M::Error>> {
        let res = if self.ev().has_listeners() {
            catch_unwind(AssertUnwindSafe(f))
        } else {
            Ok(f())
        };
        match res {
            Ok(Ok(p)) => {
                if self.cfg.echo {
                    tracing::debug!(pool = %self.ev().name, "Connection checked out from pool");
                }
                Attempt::Got(p)
            }
            Ok(Err(e)) => match core_failed(&self.ev().name, e) {
                Some(e) => Attempt::Failed(e),
                None => Attempt::Busy,
            },
            Err(payload) => Attempt::Failed(Error::Panicked {
                what: format!("a listener panicked: {}", panic_message(&*payload)),
            }),
        }
    }

    /// The whole checkout: fast path, then waiting in line, for at most `timeout` (`None`:
    /// the configured one).
    ///
    /// `wrap` makes the public guard: the fast path builds the caller's `Result` with it
    /// directly, so the two-word guard is written once, where the caller reads it.
    #[inline(always)]
    pub(crate) fn checkout<P: CorePtr<M>, T>(
        &self,
        ptr: impl Fn() -> P,
        timeout: Option<Duration>,
        wrap: impl FnOnce(Pooled<P>) -> T,
    ) -> Result<T, Error<M::Error>> {
        if self.wait().open_to_newcomers() {
            let left = TimeLeft::new(timeout.unwrap_or(self.cfg.timeout));
            if self.ev().plain() {
                // The fast path: nothing to catch, nothing to log; the guard built in place.
                match Self::core_checkout(ptr(), &left) {
                    Ok(p) => return Ok(wrap(p)),
                    Err(CheckoutError::WouldBlock) => {}
                    Err(e) => {
                        if let Some(e) = core_failed(&self.ev().name, e) {
                            return Err(e);
                        }
                    }
                }
            } else {
                match self.attempt(ptr(), &left) {
                    Attempt::Got(p) => return Ok(wrap(p)),
                    Attempt::Failed(e) => return Err(e),
                    Attempt::Busy => {}
                }
            }
        }
        self.wait_for(ptr, timeout).map(wrap)
    }

    #[cold]
    fn wait_for<P: CorePtr<M>>(
        &self,
        ptr: impl Fn() -> P,
        timeout: Option<Duration>,
    ) -> Result<Pooled<P>, Error<M::Error>> {
        let timeout = timeout.unwrap_or(self.cfg.timeout);
        let deadline = Instant::now().checked_add(timeout);
        let left = TimeLeft::by(timeout, deadline);
        match self.wait().wait(deadline, || self.attempt(ptr(), &left)) {
            Ok(p) => Ok(p),
            Err(WaitError::Failed(e)) => Err(e),
            Err(WaitError::TimedOut { waiters }) => {
                self.ev().counters.timeouts.fetch_add(1, Ordering::Relaxed);
                let state = self.core.state();
                let err = Error::Timeout {
                    waited: timeout,
                    pool_size: state.pool_size,
                    overflow: state.overflow,
                    max_overflow: state.max_overflow.unwrap_or(usize::MAX),
                    waiters,
                    cause: self.timeout_cause(state.open),
                };
                // A timeout's message has no manager error in it: shown as any `E`'s is.
                if let Some(shown) = err.without_cause::<std::convert::Infallible>() {
                    tracing::debug!(pool = %self.ev().name, "{shown}");
                }
                Err(err)
            }
        }
    }

    /// Why a timeout found no connection. The core counts capacity taken (`open`: opened
    /// connections and reservations still connecting); the adapter's counters count
    /// connections opened and closed (read here, on the timeout path only), so the
    /// difference is what is still being opened. A detached connection is neither closed
    /// nor counted by the core, so after detaches this may under-count those pending.
    #[cold]
    fn timeout_cause(&self, taken: usize) -> TimeoutCause {
        let c = &self.ev().counters;
        let opened = c.opened.load(Ordering::Relaxed);
        let closed = c.closed.load(Ordering::Relaxed);
        let live = usize::try_from(opened.saturating_sub(closed)).unwrap_or(usize::MAX);
        let pending = taken.saturating_sub(live);
        if pending == 0 {
            TimeoutCause::Busy
        } else if opened == 0 {
            TimeoutCause::FirstConnectPending
        } else {
            TimeoutCause::Connecting { pending }
        }
    }

    /// One try, no waiting; the manager calls it makes get the pool's timeout.
    #[inline]
    pub(crate) fn try_checkout<P: CorePtr<M>, T>(
        &self,
        ptr: P,
        wrap: impl FnOnce(Pooled<P>) -> T,
    ) -> Result<T, Error<M::Error>> {
        if !self.wait().open_to_newcomers() {
            return Err(Error::WouldBlock);
        }
        let left = TimeLeft::new(self.cfg.timeout);
        let attempt = if self.ev().plain() {
            // As `checkout`'s fast path: nothing to catch or log, the caller's `Result` built
            // in place, an exhausted pool answered inline.
            match Self::core_checkout(ptr, &left) {
                Ok(p) => return Ok(wrap(p)),
                Err(e) => match core_failed(&self.ev().name, e) {
                    Some(e) => return Err(e),
                    None => return Err(Error::WouldBlock),
                },
            }
        } else {
            self.attempt(ptr, &left)
        };
        match attempt {
            Attempt::Got(p) => Ok(wrap(p)),
            Attempt::Failed(e) => Err(e),
            Attempt::Busy => Err(Error::WouldBlock),
        }
    }
}
