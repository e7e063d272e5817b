//! Outages: checkouts that retry connect errors with backoff inside the operation's deadline,
//! and the record of each stretch of time the database could not be reached.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use tarn_pool::{Error, Manager, Pool, PooledConnection};

/// The first pause after a connect error.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest pause between two connect attempts.
const BACKOFF_CAP: Duration = Duration::from_millis(500);

/// Bounded exponential backoff with full jitter: each pause is uniform in `[0, ceiling]`, and
/// the ceiling doubles from [`BACKOFF_FIRST`] up to [`BACKOFF_CAP`]. Jitter keeps the workers
/// from reconnecting in lockstep when the server comes back.
#[derive(Debug)]
struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            ceiling: BACKOFF_FIRST,
        }
    }

    fn pause(&mut self, rng: &mut fastrand::Rng) -> Duration {
        let max_us = u64::try_from(self.ceiling.as_micros()).unwrap_or(u64::MAX);
        self.ceiling = (self.ceiling * 2).min(BACKOFF_CAP);
        Duration::from_micros(rng.u64(0..=max_us))
    }
}

/// Why a checkout brought no connection.
#[derive(Debug)]
pub(crate) enum CheckoutError<E> {
    /// The pool was at its limit for the whole deadline: load, handled like a 503.
    Busy,
    /// The deadline passed while connecting kept failing: part of an outage, recorded there.
    Unreachable,
    /// Anything else: a real failure.
    Failed(Error<E>),
}

/// Checks out a connection within `timeout`. Connect errors (the server is down or
/// restarting) are retried with [`Backoff`] until the deadline, and each one is recorded in
/// `outages`.
/// How soon after an outage ended a new connect error or dropped connection counts as the
/// same outage (see [`Outages::with_open`]).
const REJOIN: Duration = Duration::from_millis(250);

/// How close to its deadline a failed connect counts as cut short by that deadline.
const CUT_SHORT: Duration = Duration::from_millis(2);

pub(crate) fn checkout<'p, M: Manager>(
    pool: &'p Pool<M>,
    timeout: Duration,
    outages: &Outages,
    rng: &mut fastrand::Rng,
) -> Result<PooledConnection<'p, M>, CheckoutError<M::Error>> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match pool.get_timeout(left) {
            Ok(conn) => return Ok(conn),
            Err(e) if e.is_timeout() => return Err(CheckoutError::Busy),
            // The pool gives the manager's connect what is left of this operation's
            // deadline: a connect that failed only once that was spent was cut short by the
            // caller (a 50 ms burst checkout cannot finish a handshake under load), which is
            // load, not a server outage.
            Err(Error::Connect(_)) if Instant::now() + CUT_SHORT >= deadline => {
                return Err(CheckoutError::Busy)
            }
            Err(Error::Connect(_) | Error::Disconnected) => {
                outages.connect_failed();
                let left = deadline.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    thread::sleep(backoff.pause(rng).min(left));
                }
                if Instant::now() >= deadline {
                    outages.gave_up();
                    return Err(CheckoutError::Unreachable);
                }
            }
            Err(e) => return Err(CheckoutError::Failed(e)),
        }
    }
}

/// Every outage of a run. An outage starts at the first connect error or dropped connection
/// and ends at the next operation that succeeds.
#[derive(Debug)]
pub(crate) struct Outages {
    start: Instant,
    /// Whether the last entry of `log` is still open: the hot path reads only this.
    open: AtomicBool,
    log: Mutex<Vec<Outage>>,
}

/// One outage, in seconds since the run started.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outage {
    /// When the first connect error or dropped connection was seen.
    pub(crate) start: Duration,
    /// When an operation next succeeded (`None`: the run ended first).
    pub(crate) end: Option<Duration>,
    /// Connect attempts that failed meanwhile, all threads together.
    pub(crate) failed_connects: u64,
    /// Connections found dead during an operation (that operation was lost).
    pub(crate) dropped: u64,
    /// Operations whose deadline passed while every connect attempt failed.
    pub(crate) gave_up: u64,
}

impl Outages {
    /// An empty record; times are measured from `start`.
    pub(crate) fn new(start: Instant) -> Outages {
        Outages {
            start,
            open: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Applies `f` to the open outage, opening one if none is. An outage that ended less
    /// than [`REJOIN`] ago is reopened rather than a new one begun: an operation that was
    /// already under way when the server went away can still succeed just after the first
    /// connections drop, and that is the same outage.
    fn with_open(&self, f: impl FnOnce(&mut Outage)) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if !self.open.load(Ordering::Relaxed) {
            let now = self.start.elapsed();
            match log.last_mut() {
                Some(last) if last.end.is_some_and(|end| now.saturating_sub(end) < REJOIN) => {
                    last.end = None;
                }
                _ => log.push(Outage {
                    start: now,
                    ..Outage::default()
                }),
            }
            self.open.store(true, Ordering::Relaxed);
        }
        if let Some(last) = log.last_mut() {
            f(last);
        }
    }

    /// A connect attempt failed.
    pub(crate) fn connect_failed(&self) {
        self.with_open(|o| o.failed_connects += 1);
    }

    /// A connection died under an operation (the server went away).
    pub(crate) fn dropped(&self) {
        self.with_open(|o| o.dropped += 1);
    }

    /// An operation ran out of time while connecting kept failing.
    pub(crate) fn gave_up(&self) {
        self.with_open(|o| o.gave_up += 1);
    }

    /// An operation succeeded: ends the open outage, if any.
    #[inline]
    pub(crate) fn succeeded(&self) {
        if !self.open.load(Ordering::Relaxed) {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if self.open.swap(false, Ordering::Relaxed) {
            if let Some(last) = log.last_mut() {
                last.end = Some(self.start.elapsed());
            }
        }
    }

    /// Whether an outage is going on.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// The outages so far.
    pub(crate) fn list(&self) -> Vec<Outage> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "from {:.2} s ", self.start.as_secs_f64())?;
        match self.end {
            Some(end) => write!(
                f,
                "to {:.2} s, lasted {:.2} s",
                end.as_secs_f64(),
                end.saturating_sub(self.start).as_secs_f64()
            )?,
            None => f.write_str("to the end of the run, NOT recovered")?,
        }
        write!(
            f,
            "; {} failed connect attempts, {} connections dropped, {} operations gave up",
            self.failed_connects, self.dropped, self.gave_up
        )
    }
}
