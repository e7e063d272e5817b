//! The checkout: the fast path, the core's failures as the caller sees them, and waiting in
//! line.
//!
//! Algorithm: if the wait queue is open to newcomers (nobody waits, or eventual fairness
//! lets this caller barge), try the core once; with no listener and no echo that try is
//! the whole path and the guard is built in the caller's `Result`. A core answer of
//! "would block" (or a queue closed to newcomers) sends the caller to the wait queue, which
//! retries whenever capacity comes back until the deadline. With unlimited overflow a full
//! core is answered by a connection opened outside it (`Extra`).
//!
//! Invariants: user code (listeners; the manager is wrapped in `Mgr`, which catches its
//! panics) runs inside `catch_unwind` whenever a listener is registered, so a panic becomes
//! [`Error::Panicked`]; a timeout is counted once and reported with the pool's sizes.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tarn_core::{CheckoutError, Hint, InvalidateReason, Manager, Pooled};

use super::guard::{Extra, Guard};
use super::inner::{Inner, InnerRef};
use crate::adapt::{panic_message, MgrError};
use crate::error::Error;
use crate::events::CheckoutEvent;
use crate::wait::{Attempt, WaitError};

thread_local! {
    /// The slot of this thread's last checkout: where its next one starts looking under
    /// the affinity order (the queue orders ignore it). One per thread for every pool: a
    /// hint from another pool only costs a longer scan (`tarn_core::Hint`).
    static HINT: Cell<Hint> = const { Cell::new(Hint::new()) };
}

impl<M: Manager> Inner<M> {
    /// The core's checkout, from this thread's hint. The hint is read and written for every
    /// order (the queue orders ignore it), so the fast path has no branch on the order.
    #[inline(always)]
    fn core_checkout<R>(r: &R) -> Result<Pooled<R::Core>, CheckoutError<MgrError<M::Error>>>
    where
        R: InnerRef<M>,
    {
        let mut hint = HINT.with(Cell::get);
        let res = tarn_core::Pool::try_checkout_in_hinted(r.core_ptr(), &mut hint);
        HINT.with(|cell| cell.set(hint));
        res
    }

    /// One try at the core (and, with unlimited overflow, outside it).
    #[inline]
    fn attempt<R>(r: &R) -> Attempt<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        // Only listeners can unwind out of the core here (the manager is wrapped in `Mgr`,
        // which catches its panics): without listeners, skip the catch.
        let res = if r.ev().has_listeners() {
            catch_unwind(AssertUnwindSafe(|| Self::core_checkout(r)))
        } else {
            Ok(Self::core_checkout(r))
        };
        match res {
            Ok(Ok(p)) => {
                if r.cfg.echo {
                    tracing::debug!(pool = %r.ev().name, "Connection checked out from pool");
                }
                Attempt::Got(Guard::core(p))
            }
            Ok(Err(CheckoutError::WouldBlock)) if !r.unlimited() => Attempt::Busy,
            Ok(Err(e)) => Self::core_failed(r, e),
            Err(payload) => Attempt::Failed(Error::Panicked {
                what: format!("a listener panicked: {}", panic_message(&*payload)),
            }),
        }
    }

    /// A core checkout that failed, as the caller sees it: an error (logged as the reference
    /// logs it), a connection opened outside the core (unlimited overflow), or busy.
    #[cold]
    fn core_failed<R>(
        r: &R,
        e: CheckoutError<MgrError<M::Error>>,
    ) -> Attempt<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        match e {
            CheckoutError::WouldBlock if r.unlimited() => Self::attempt_extra(r),
            CheckoutError::Connect(MgrError::Manager(e)) => {
                tracing::debug!(pool = %r.ev().name, "Error on connect()");
                Attempt::Failed(Error::Connect(e))
            }
            CheckoutError::Connect(MgrError::Panicked(what)) => {
                Attempt::Failed(Error::Panicked { what })
            }
            CheckoutError::Disconnected => {
                tracing::info!(pool = %r.ev().name, "Reconnection attempts exhausted on checkout");
                Attempt::Failed(Error::Disconnected)
            }
            _ => Attempt::Busy,
        }
    }

    /// Unlimited overflow: opens a connection outside the core when the core is full.
    #[cold]
    fn attempt_extra<R>(r: &R) -> Attempt<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        if r.core.state().open < r.capacity {
            // Not full: the first connect is running (or a slot is being given back).
            return Attempt::Busy;
        }
        let res = catch_unwind(AssertUnwindSafe(
            || -> Result<Extra<M, R>, Error<M::Error>> {
                let mut attempt = 0u8;
                loop {
                    let conn = match r.core.manager().connect() {
                        Ok(c) => c,
                        Err(MgrError::Manager(e)) => return Err(Error::Connect(e)),
                        Err(MgrError::Panicked(what)) => return Err(Error::Panicked { what }),
                    };
                    r.extra.fetch_add(1, Ordering::Relaxed);
                    let mut extra = Extra {
                        pool: r.clone(),
                        conn: Some(conn),
                    };
                    let t = extra.conn.as_mut().expect("just set");
                    r.ev().on_connect(t);
                    let ev = CheckoutEvent {
                        fresh: true,
                        attempt,
                    };
                    match r.ev().on_checkout(t, &ev) {
                        Ok(()) => return Ok(extra),
                        Err(_) => {
                            r.ev().on_invalidate(t, InvalidateReason::Disconnected);
                            drop(extra);
                            if attempt >= 1 {
                                return Err(Error::Disconnected);
                            }
                            attempt += 1;
                        }
                    }
                }
            },
        ));
        match res {
            Ok(Ok(extra)) => Attempt::Got(Guard::from_extra(extra)),
            Ok(Err(e)) => Attempt::Failed(e),
            Err(payload) => Attempt::Failed(Error::Panicked {
                what: format!("a listener panicked: {}", panic_message(&*payload)),
            }),
        }
    }

    /// The whole checkout: fast path, then waiting in line. `timeout` is `None` for the
    /// configured one, read only once the fast path has failed: read up front, it was a load
    /// and a spill on every checkout.
    ///
    /// `wrap` makes the public guard: the fast path builds the caller's `Result` with it
    /// directly, so the two-word guard is written once, where the caller reads it (see
    /// `guard.rs` on why a guard must not be copied on the hot path).
    #[inline(always)]
    pub(super) fn checkout<R, T>(
        r: R,
        timeout: Option<Duration>,
        wrap: impl FnOnce(Guard<M, R>) -> T,
    ) -> Result<T, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        let ev = r.ev();
        if ev.wait.open_to_newcomers() {
            if ev.plain() {
                // The fast path: nothing to catch, nothing to log; the guard is built in place.
                match Self::core_checkout(&r) {
                    Ok(p) => return Ok(wrap(Guard::core(p))),
                    Err(CheckoutError::WouldBlock) if !r.unlimited() => {}
                    Err(e) => return Self::checkout_failed(&r, e, timeout).map(wrap),
                }
            } else {
                match Self::attempt(&r) {
                    Attempt::Got(g) => return Ok(wrap(g)),
                    Attempt::Failed(e) => return Err(e),
                    Attempt::Busy => {}
                }
            }
        }
        Self::wait_for(r, timeout).map(wrap)
    }

    /// The fast path's failures: an error, or (unlimited overflow) an extra connection.
    #[cold]
    fn checkout_failed<R>(
        r: &R,
        e: CheckoutError<MgrError<M::Error>>,
        timeout: Option<Duration>,
    ) -> Result<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        match Self::core_failed(r, e) {
            Attempt::Got(g) => Ok(g),
            Attempt::Failed(e) => Err(e),
            Attempt::Busy => Self::wait_for(r.clone(), timeout),
        }
    }

    #[cold]
    fn wait_for<R>(r: R, timeout: Option<Duration>) -> Result<Guard<M, R>, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        let timeout = timeout.unwrap_or(r.cfg.timeout);
        let deadline = Instant::now().checked_add(timeout);
        match r.ev().wait.wait(deadline, || Self::attempt(&r)) {
            Ok(g) => Ok(g),
            Err(WaitError::Failed(e)) => Err(e),
            Err(WaitError::TimedOut { waiters }) => {
                r.ev().counters.timeouts.fetch_add(1, Ordering::Relaxed);
                let state = r.state();
                let err = Error::Timeout {
                    waited: timeout,
                    pool_size: state.pool_size,
                    overflow: state.overflow,
                    max_overflow: state.max_overflow,
                    waiters,
                };
                tracing::debug!(pool = %r.ev().name, "{err}");
                Err(err)
            }
        }
    }

    #[inline]
    pub(super) fn try_checkout<R, T>(
        r: R,
        wrap: impl FnOnce(Guard<M, R>) -> T,
    ) -> Result<T, Error<M::Error>>
    where
        R: InnerRef<M>,
    {
        let ev = r.ev();
        if !ev.wait.open_to_newcomers() {
            return Err(Error::WouldBlock);
        }
        let attempt = if ev.plain() {
            // As `checkout`'s fast path: nothing to catch or log, the caller's `Result` built
            // in place, an exhausted pool answered inline.
            match Self::core_checkout(&r) {
                Ok(p) => return Ok(wrap(Guard::core(p))),
                Err(CheckoutError::WouldBlock) if !r.unlimited() => return Err(Error::WouldBlock),
                Err(e) => Self::core_failed(&r, e),
            }
        } else {
            Self::attempt(&r)
        };
        match attempt {
            Attempt::Got(g) => Ok(wrap(g)),
            Attempt::Failed(e) => Err(e),
            Attempt::Busy => Err(Error::WouldBlock),
        }
    }
}
