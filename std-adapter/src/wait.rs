//! Waiting for a connection: a first-come-first-served queue of parked threads.
//!
//! # The protocol
//!
//! A thread that finds no connection registers at the back of the queue and sleeps until it
//! holds a *notification*, then retries the core. Notifications are handed out by
//! [`WaitQueue::released`], which tarn-core calls (through `Events::released`) after every
//! change that makes a checkout possible: a connection returned to the idle queue, a
//! connection closed or detached (its capacity came back), a failed connect that gave its
//! capacity back, the first-connect hook finished.
//!
//! - `released` gives the notification to the *first* waiter that does not hold one yet, so
//!   a returned connection goes to the longest waiter (a waiter about to retry anyway, on a
//!   "chain" note, absorbs it; see `notify_locked`). If every waiter already holds one, the
//!   notification is kept as a *spare* for the next thread that registers.
//! - Waiters stay in the queue until they leave, so a waiter whose retry fails (a thread that
//!   never waited took the connection first) keeps its place: it just sleeps again.
//! - A newcomer does not try the core while anyone waits (the fast path checks
//!   `waiters == 0` first), so it cannot barge past the queue.
//! - A waiter that leaves (timeout) still holding a notification it did not use passes it on.
//!
//! # No lost wake-up
//!
//! tarn-core makes every capacity release a `SeqCst` write followed by `released`, and a
//! failing checkout reads what it found exhausted with `SeqCst`. A waiter increments
//! `waiters` (`SeqCst`) before its first retry, and `released` loads `waiters` (`SeqCst`)
//! after the release: in the single total order of `SeqCst` operations, either the
//! release's write comes before the waiter's retry (the retry sees the capacity) or the
//! waiter's increment comes before `released`'s load (`released` sees the waiter and
//! notifies the queue). The queue's mutex orders the rest.
//!
//! Capacity released while nobody waited (`released` saw `waiters == 0`) is not announced
//! to anyone. Only a thread that registers into an *empty* queue can have missed such
//! capacity, so that thread tries at once, and when it succeeds it passes a "chain"
//! notification to the next waiter, who does the same: the chain goes on until a retry
//! fails (then no unannounced capacity is left, and every later release is announced).
//!
//! # Cost
//!
//! `released` runs on every checkin: with nobody waiting it is one `SeqCst` load (a plain
//! load on x86). The queue's mutex is taken only when someone waits.

use std::collections::VecDeque;
use std::time::Instant;

use crate::sync::{
    self, current, park, park_timeout, Arc, AtomicU8, AtomicUsize, Mutex, Ordering, Thread,
};

/// No notification.
const NONE: u8 = 0;
/// Notified because capacity was released.
const RELEASE: u8 = 1;
/// Notified to look for capacity released while nobody waited (see the module docs).
const CHAIN: u8 = 2;

struct Waiter {
    thread: Thread,
    /// `NONE`, `RELEASE` or `CHAIN`. Set (from `NONE` only) under the queue's lock by
    /// whoever notifies; cleared by the waiter itself with a `swap`.
    note: AtomicU8,
}

struct Queue {
    /// Registered waiters, oldest first. A waiter is in the list from registration until it
    /// leaves (served, failed or timed out).
    list: VecDeque<Arc<Waiter>>,
    /// Notifications that found every waiter already notified; taken by the next thread
    /// that registers. Reset when the queue empties (then nobody needs them: the next
    /// registrant tries anyway).
    spare: usize,
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
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitQueue")
            .field("waiters", &self.waiting())
            .finish_non_exhaustive()
    }
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        WaitQueue {
            waiters: AtomicUsize::new(0),
            queue: Mutex::new(Queue {
                list: VecDeque::new(),
                spare: 0,
            }),
        }
    }

    /// Whether anyone waits. The fast path of a checkout tries the core only when nobody does.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::SeqCst) != 0
    }

    /// How many threads wait now.
    #[inline]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.load(Ordering::SeqCst)
    }

    /// Capacity came back: wake the longest waiter that holds no notification yet.
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
        Self::notify_locked(&mut q, RELEASE);
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
        for w in q.list.iter() {
            match w
                .note
                .compare_exchange(NONE, kind, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    w.thread.unpark();
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
        let me = Arc::new(Waiter {
            thread: current(),
            note: AtomicU8::new(NONE),
        });
        {
            let mut q = sync::lock(&self.queue);
            if q.list.is_empty() {
                q.spare = 0;
                me.note.store(CHAIN, Ordering::SeqCst);
            } else if q.spare > 0 {
                q.spare -= 1;
                me.note.store(CHAIN, Ordering::SeqCst);
            }
            q.list.push_back(Arc::clone(&me));
            self.waiters.fetch_add(1, Ordering::SeqCst);
        }
        sync::loom_seqcst_fence();
        loop {
            // Taken under the queue's lock: a notifier that found this waiter still holding
            // an unused note (and so kept its notification as a spare) released the lock
            // after its capacity release, so the retry below sees that capacity.
            let note = {
                let _q = sync::lock(&self.queue);
                me.note.swap(NONE, Ordering::SeqCst)
            };
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if note != NONE {
                match attempt() {
                    Attempt::Got(t) => {
                        self.leave(&me, note == CHAIN);
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

    /// Leaves the queue; passes on an unused notification, and a chain one if `chain`.
    /// Returns how many were waiting just before this thread left.
    fn leave(&self, me: &Arc<Waiter>, chain: bool) -> usize {
        let mut q = sync::lock(&self.queue);
        let waiting = q.list.len();
        if let Some(pos) = q.list.iter().position(|w| Arc::ptr_eq(w, me)) {
            q.list.remove(pos);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        let unused = me.note.swap(NONE, Ordering::SeqCst);
        if unused != NONE {
            Self::notify_locked(&mut q, unused);
        }
        if chain {
            Self::notify_locked(&mut q, CHAIN);
        }
        if q.list.is_empty() {
            q.spare = 0;
        }
        waiting
    }
}
