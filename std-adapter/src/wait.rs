//! Waiting for a connection: a queue of parked threads, strictly or eventually fair.
//!
//! # The protocol
//!
//! A thread that finds no connection registers at the back of the queue and sleeps until it
//! holds a *notification*, then retries the core. Notifications are handed out by
//! [`WaitQueue::released`], which tarn-core calls (the queue is the core pool's `Waiters`)
//! after every change that makes a checkout possible: a connection returned to the idle queue, a
//! connection closed or detached (its capacity came back), a failed connect that gave its
//! capacity back, the first-connect hook finished.
//!
//! Two policies ([`Fairness`]) share this queue:
//!
//! - **Strict** (the default): first come, first served. A newcomer does not try the core
//!   while anyone waits (the fast path checks a count of waiters), so it cannot barge past the
//!   queue, and every release notifies the first waiter that does not hold a notification
//!   yet: a returned connection goes to the longest waiter.
//! - **Eventual** (`Fairness::Eventual(turn)`): a running thread may take a returned
//!   connection even while others wait (barging), which avoids a thread switch per checkout
//!   when threads outnumber cores, but never for longer than `turn`: once the longest waiter
//!   has been passed over for `turn` (counted from when it registered or from the last
//!   hand-off, whichever is later), the next release *reserves* capacity for it. While any
//!   reservation is pending the fast path is closed (it checks a count of reservations), so the
//!   reserved waiter's retry finds the connection unless a newcomer had already passed the
//!   check; then the waiter keeps its reservation and its place and is served by the next
//!   release. Unreserved releases wake one waiter at a time (a waiter already holding an
//!   unused notification covers them), and a waiter that is served passes a notification on,
//!   so capacity released in a burst still reaches as many waiters as it can serve.
//!
//! In both, waiters stay in the queue until they leave, so a waiter whose retry fails keeps
//! its place, and a waiter that leaves (timeout) still holding a notification it did not use
//! passes it on. With strict fairness, `released` gives a notification to the *first* waiter
//! that does not hold one yet (a waiter about to retry anyway, on a "chain" note, absorbs it;
//! see `notify_locked`); if every waiter already holds one, the notification is kept as a
//! *spare* for the next thread that registers.
//!
//! # No lost wake-up
//!
//! tarn-core makes every capacity release a `SeqCst` write followed by `released`, and a
//! failing checkout reads what it found exhausted with `SeqCst`. A waiter increments
//! `waiters` (`SeqCst`) before its first retry, and `released` loads `waiters` (`SeqCst`)
//! after the release: in the single total order of `SeqCst` operations, either the
//! release's write comes before the waiter's retry (the retry sees the capacity) or the
//! waiter's increment comes before `released`'s load (`released` sees the waiter and
//! notifies the queue). The queue's mutex orders the rest: a waiter clears its notification
//! under the lock *before* it retries, so a release whose lock section comes after that
//! clearing sees no notification outstanding and hands out a new one.
//!
//! Capacity released while nobody waited (`released` saw `waiters == 0`) is not announced
//! to anyone. Only a thread that registers into an *empty* queue can have missed such
//! capacity, so that thread tries at once, and when it succeeds it passes a "chain"
//! notification to the next waiter, who does the same: the chain goes on until a retry
//! fails (then no unannounced capacity is left, and every later release is announced).
//!
//! # Spinning
//!
//! With strict fairness the longest waiter spins for a few microseconds before it parks
//! (yielding the CPU after the first microsecond), checking for its notification: every
//! returned connection goes to it, so a connection returned within a short hold reaches a
//! thread that is still running instead of waiting for a parked one to be scheduled. Only
//! the head of the queue spins, so waiters never crowd out the threads holding connections;
//! a waiter that becomes the head when the one before it is served is woken to take its turn
//! at spinning. With eventual fairness nobody spins: running threads keep the connections
//! busy, and a spinning waiter would only take CPU from them (measured: about 10% less
//! throughput with 16 threads on a pool of 4).
//!
//! # Cost
//!
//! `released` runs on every checkin: with nobody waiting it is one `SeqCst` load (a plain
//! load on x86). The queue's mutex is taken only when someone waits. Waiting allocates
//! nothing in steady state: waiter nodes belong to the queue and are reused by the next
//! thread that registers, so a pool allocates only as many as threads ever waited on it at
//! once (short-lived threads included).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::sync::{
    self, current, park, park_timeout, Arc, AtomicU8, AtomicUsize, Mutex, Ordering, Thread,
};

/// How a pool shares its connections among the threads that wait for one.
///
/// Set with [`Builder::fairness`](crate::Builder::fairness), whose docs (and
/// `BENCHMARKS.md`) say what each policy costs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tarn_pool::{Fairness, Pool};
/// # use tarn_core::testing::ScriptedManager;
///
/// // Let a running thread re-take a returned connection while others wait, but never pass
/// // the longest waiter over for more than half a millisecond.
/// let pool = Pool::builder(ScriptedManager::new())
///     .fairness(Fairness::Eventual(Duration::from_micros(500)))
///     .build()?;
/// drop(pool.get()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fairness {
    /// First come, first served (the default): a returned connection goes to the thread
    /// that has waited longest, and a thread that asks while others wait queues behind
    /// them, even if a connection is idle at that instant. Each checkout under contention
    /// costs a thread switch when threads outnumber cores.
    #[default]
    Strict,
    /// Eventually fair: while threads wait, a running thread may still take a returned
    /// connection (no thread switch), but the longest waiter is never passed over for longer
    /// than this turn: then the next returned connection is reserved for it. Throughput of a
    /// barging pool; the spread between threads is bounded by the turn. `Duration::ZERO`
    /// reserves on every return, which is close to strict but lets a thread already past
    /// the entry check take a connection.
    Eventual(Duration),
}

/// No notification.
const NONE: u8 = 0;
/// Notified because capacity was released.
const RELEASE: u8 = 1;
/// Notified to look for capacity released while nobody waited, or passed on by a waiter
/// that was served (see the module docs).
const CHAIN: u8 = 2;

/// How long the head of the queue spins for its notification before it parks.
#[cfg_attr(tarn_loom, allow(dead_code))] // Unread under loom, where time decides nothing (module docs).
const SPIN: Duration = Duration::from_micros(20);
/// Within [`SPIN`], how long it busy-waits before it starts yielding the CPU.
#[cfg_attr(tarn_loom, allow(dead_code))] // Unread under loom, where time decides nothing (module docs).
const SPIN_BUSY: Duration = Duration::from_micros(1);

/// A waiter's notification cell. Nodes belong to the queue and are reused by whichever
/// thread registers next (see `Queue::free`), so waiting allocates only when more threads
/// wait at once than ever before on this pool.
struct Waiter {
    /// `NONE`, `RELEASE` or `CHAIN`. Set (from `NONE` only) under the queue's lock by
    /// whoever notifies; cleared by the waiter itself with a `swap`.
    note: AtomicU8,
}

/// A registered waiter, as the queue sees it (fields touched under the queue's lock only).
struct Entry {
    w: Arc<Waiter>,
    /// The waiting thread, to unpark.
    thread: Thread,
    /// When it registered.
    #[cfg_attr(tarn_loom, allow(dead_code))]
    // Unread under loom, where time decides nothing (module docs).
    since: Instant,
    /// Capacity is reserved for it (eventual fairness): counted in `WaitQueue::closed`.
    reserved: bool,
}

struct Queue {
    /// Registered waiters, oldest first. A waiter is in the list from registration until it
    /// leaves (served, failed or timed out).
    list: VecDeque<Entry>,
    /// Notifications that found every waiter already notified; taken by the next thread
    /// that registers. Reset when the queue empties (then nobody needs them: the next
    /// registrant tries anyway).
    spare: usize,
    /// When capacity was last reserved for a waiter (eventual fairness).
    #[cfg_attr(tarn_loom, allow(dead_code))]
    // Unread under loom, where time decides nothing (module docs).
    last_handoff: Option<Instant>,
    /// Waiters holding a notification they have not taken yet (notes are set and taken
    /// under the lock, so this is exact under it).
    outstanding: usize,
    /// Waiter nodes no waiter uses, for the next registrations.
    free: Vec<Arc<Waiter>>,
    /// Under loom, time decides nothing (a model must be deterministic): the first release
    /// with waiters reserves, the next does not, and so on.
    #[cfg(tarn_loom)]
    releases: u32,
}

/// What one attempt at the pool gave.
pub(crate) enum Attempt<T, E> {
    /// A connection.
    Got(T),
    /// Nothing free: wait.
    Busy,
    /// An error to give the caller.
    Failed(E),
}

/// Why [`WaitQueue::wait`] gave up.
pub(crate) enum WaitError<E> {
    /// The attempt failed with an error.
    Failed(E),
    /// The deadline passed; how many threads were waiting then (this one included).
    TimedOut {
        /// Waiting threads, this one included.
        waiters: usize,
    },
}

/// The wait queue of one pool. See the module docs.
pub(crate) struct WaitQueue {
    /// How many threads are registered. `SeqCst`: see "No lost wake-up".
    waiters: AtomicUsize,
    /// What closes the fast path to newcomers, so that it is one load whatever the policy:
    /// with strict fairness the number of registered waiters (the same as `waiters`, kept
    /// twice so that the fast path reads one counter whatever the policy, with no branch on
    /// it), with eventual fairness the number of waiters with capacity reserved for them.
    closed: AtomicUsize,
    /// `None`: strict; `Some(turn)`: eventual.
    turn: Option<Duration>,
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitQueue")
            .field("waiters", &self.waiting())
            .field("fairness", &self.fairness())
            .finish_non_exhaustive()
    }
}

impl tarn_core::Waiters for WaitQueue {
    #[inline]
    fn released(&self) {
        WaitQueue::released(self)
    }
    fn waiting(&self) -> usize {
        WaitQueue::waiting(self)
    }
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new(Fairness::Strict)
    }
}

impl WaitQueue {
    /// An empty queue with the given policy.
    pub(crate) fn new(fairness: Fairness) -> Self {
        WaitQueue {
            waiters: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            turn: match fairness {
                Fairness::Strict => None,
                Fairness::Eventual(turn) => Some(turn),
            },
            queue: Mutex::new(Queue {
                // Room for a typical crowd up front, so that the first contention does not
                // grow the list while threads wait.
                list: VecDeque::with_capacity(32),
                spare: 0,
                last_handoff: None,
                outstanding: 0,
                free: Vec::new(),
                #[cfg(tarn_loom)]
                releases: 0,
            }),
        }
    }

    /// The policy.
    pub(crate) fn fairness(&self) -> Fairness {
        match self.turn {
            None => Fairness::Strict,
            Some(turn) => Fairness::Eventual(turn),
        }
    }

    /// Whether a thread that has not queued may try the core now: with strict fairness when
    /// nobody waits, with eventual fairness when no capacity is reserved for a waiter.
    #[inline]
    pub(crate) fn open_to_newcomers(&self) -> bool {
        self.closed.load(Ordering::SeqCst) == 0
    }

    /// How many threads wait now.
    #[inline]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }

    /// Capacity came back: notify a waiter (see the module docs for which).
    #[inline]
    pub(crate) fn released(&self) {
        sync::loom_seqcst_fence();
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.released_slow();
    }

    #[cold]
    fn released_slow(&self) {
        let mut q = sync::lock(&self.queue);
        match self.turn {
            None => Self::notify_locked(&mut q, RELEASE),
            Some(turn) => self.release_eventual(&mut q, turn),
        }
    }

    /// Eventual fairness: reserve for the longest waiter once its turn has come, and make
    /// sure some waiter will retry after this release.
    fn release_eventual(&self, q: &mut Queue, turn: Duration) {
        if q.list.is_empty() {
            q.spare = 0;
            return;
        }
        if !q.list[0].reserved && Self::turn_over(q, turn) {
            q.list[0].reserved = true;
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
        let head = &q.list[0];
        if head.reserved {
            if head
                .w
                .note
                .compare_exchange(NONE, RELEASE, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                q.outstanding += 1;
                head.thread.unpark();
            }
            return;
        }
        // Barging allowed: one notified waiter at a time is enough, as it retries after
        // this release; a served waiter passes a notification on.
        if q.outstanding > 0 {
            return;
        }
        Self::notify_locked(q, RELEASE);
    }

    /// Whether the longest waiter has been passed over for `turn`; if so, starts a new turn.
    #[cfg(not(tarn_loom))]
    fn turn_over(q: &mut Queue, turn: Duration) -> bool {
        let now = Instant::now();
        let since = match q.last_handoff {
            Some(t) if t > q.list[0].since => t,
            _ => q.list[0].since,
        };
        if now.saturating_duration_since(since) >= turn {
            q.last_handoff = Some(now);
            true
        } else {
            false
        }
    }

    /// Under loom: every other release with waiters (deterministic; see `Queue::releases`).
    #[cfg(tarn_loom)]
    fn turn_over(q: &mut Queue, _turn: Duration) -> bool {
        q.releases = q.releases.wrapping_add(1);
        q.releases % 2 == 1
    }

    /// Gives a notification of `kind` to the longest waiter that can use it, or keeps it
    /// spare.
    ///
    /// Waiters are looked at oldest first. One without a note gets this one. One holding a
    /// `CHAIN` note absorbs it: it is about to retry anyway, and if it succeeds it passes a
    /// chain note on, so the next waiter retries too (giving the note to a younger waiter
    /// instead would let it race the older one for the same connection). One holding a
    /// `RELEASE` note is skipped: that note already stands for a connection.
    fn notify_locked(q: &mut Queue, kind: u8) {
        if q.list.is_empty() {
            q.spare = 0;
            return;
        }
        for e in q.list.iter() {
            match e
                .w
                .note
                .compare_exchange(NONE, kind, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    q.outstanding += 1;
                    e.thread.unpark();
                    return;
                }
                Err(CHAIN) => return,
                Err(_) => {}
            }
        }
        q.spare += 1;
    }

    /// Waits in line until `attempt` gives a connection or an error, or `deadline` passes
    /// (`None`: no deadline). `attempt` is called only when this thread holds a
    /// notification (a woken waiter always tries before it reports a timeout).
    pub(crate) fn wait<T, E>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Attempt<T, E>,
    ) -> Result<T, WaitError<E>> {
        let me = {
            let mut q = sync::lock(&self.queue);
            // A node no one uses: it was put back by a waiter that left, after its last
            // use (its note was cleared then, and no entry refers to it).
            let me = match q.free.pop() {
                Some(n) => n,
                None => Arc::new(Waiter {
                    note: AtomicU8::new(NONE),
                }),
            };
            if q.list.is_empty() {
                q.spare = 0;
                me.note.store(CHAIN, Ordering::SeqCst);
                q.outstanding += 1;
            } else if q.spare > 0 {
                q.spare -= 1;
                me.note.store(CHAIN, Ordering::SeqCst);
                q.outstanding += 1;
            }
            q.list.push_back(Entry {
                w: Arc::clone(&me),
                thread: current(),
                since: Instant::now(),
                reserved: false,
            });
            self.waiters.fetch_add(1, Ordering::SeqCst);
            if self.turn.is_none() {
                self.closed.fetch_add(1, Ordering::SeqCst);
            }
            me
        };
        sync::loom_seqcst_fence();
        loop {
            // Taken under the queue's lock: a notifier that found this waiter still holding
            // an unused note (and so kept its notification as a spare, or relied on this
            // waiter's retry) released the lock after its capacity release, so the retry
            // below sees that capacity.
            let (note, head) = {
                let mut q = sync::lock(&self.queue);
                let head = q.list.front().is_some_and(|e| Arc::ptr_eq(&e.w, &me));
                let note = me.note.swap(NONE, Ordering::SeqCst);
                if note != NONE {
                    q.outstanding -= 1;
                }
                (note, head)
            };
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if note != NONE {
                match attempt() {
                    Attempt::Got(t) => {
                        self.leave(&me, note == CHAIN || self.turn.is_some());
                        return Ok(t);
                    }
                    Attempt::Failed(e) => {
                        self.leave(&me, note == CHAIN);
                        return Err(WaitError::Failed(e));
                    }
                    Attempt::Busy => {}
                }
            }
            if expired {
                // Without a notification there is nothing to try: trying anyway would take
                // a connection announced to a waiter ahead of this one.
                let waiters = self.leave(&me, false);
                return Err(WaitError::TimedOut { waiters });
            }
            if me.note.load(Ordering::SeqCst) != NONE {
                continue; // notified meanwhile: retry before sleeping
            }
            if head && self.turn.is_none() && spin_for_note(&me, deadline) {
                continue;
            }
            match deadline {
                None => park(),
                Some(d) => {
                    let now = Instant::now();
                    if now < d {
                        park_timeout(d - now);
                    }
                }
            }
        }
    }

    /// Leaves the queue; passes on an unused notification (and a reservation's claim), and a
    /// chain one if `chain`. With strict fairness a served head wakes the next waiter so it
    /// takes over the spinning. Returns how many were waiting just before this thread left.
    fn leave(&self, me: &Arc<Waiter>, chain: bool) -> usize {
        let mut q = sync::lock(&self.queue);
        let waiting = q.list.len();
        let mut was_reserved = false;
        let mut was_head = false;
        if let Some(pos) = q.list.iter().position(|e| Arc::ptr_eq(&e.w, me)) {
            was_head = pos == 0;
            if let Some(e) = q.list.remove(pos) {
                was_reserved = e.reserved;
            }
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        if was_reserved || self.turn.is_none() {
            self.closed.fetch_sub(1, Ordering::SeqCst);
        }
        let unused = me.note.swap(NONE, Ordering::SeqCst);
        if unused != NONE {
            q.outstanding -= 1;
            Self::notify_locked(&mut q, unused);
        } else if was_reserved && !chain {
            // Reserved but leaving unserved: what was reserved may be idle now, open to all.
            Self::notify_locked(&mut q, RELEASE);
        }
        if chain {
            Self::notify_locked(&mut q, CHAIN);
        } else if was_head && self.turn.is_none() {
            if let Some(next) = q.list.front() {
                if next.w.note.load(Ordering::SeqCst) == NONE {
                    next.thread.unpark(); // not a notification: a turn at spinning
                }
            }
        }
        if q.list.is_empty() {
            q.spare = 0;
            debug_assert_eq!(q.outstanding, 0, "a note outlived its waiter");
        }
        // The node is done with: its note is clear and no entry refers to it; the caller
        // drops its own handle without touching it again.
        q.free.push(Arc::clone(me));
        waiting
    }
}

/// The head of the queue waits a little, running, for its notification. Returns whether it
/// came. Nothing under loom (a model explores every load of a spin loop).
#[cfg(not(tarn_loom))]
fn spin_for_note(me: &Waiter, deadline: Option<Instant>) -> bool {
    let start = Instant::now();
    let until = match deadline {
        Some(d) if d < start + SPIN => d,
        _ => start + SPIN,
    };
    loop {
        for _ in 0..64 {
            if me.note.load(Ordering::Acquire) != NONE {
                return true;
            }
            std::hint::spin_loop();
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        if now - start >= SPIN_BUSY {
            std::thread::yield_now();
        }
    }
}

#[cfg(tarn_loom)]
fn spin_for_note(_me: &Waiter, _deadline: Option<Instant>) -> bool {
    false
}
