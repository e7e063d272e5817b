//! What the core models share: a manager and events built on loom's atomics (so every
//! access is part of the model), and a table that catches a connection held twice.
#![allow(dead_code)] // each model uses a different part

use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use tarn_core::{
    Builder, CheckoutEvent, Disconnected, Events, Hint, IdleOrder, Manager, Pool, RawPool,
    ResetMode, Storage,
};

/// Connection ids a model may use (ids start at 1).
pub const MAX_IDS: usize = 8;

/// A connection: its id, in order of opening.
#[derive(Debug, PartialEq, Eq)]
pub struct Conn(pub usize);

#[derive(Debug)]
struct Counts {
    next: AtomicUsize,
    closes: [AtomicUsize; MAX_IDS],
    /// Pings left to answer "the server went away".
    disconnect_pings: AtomicUsize,
    /// Connects left to fail (`None`: none ever fails, and connects cost no loom operation
    /// for it).
    fail_connects: Option<AtomicUsize>,
}

/// Takes one unit from a countdown, if any is left.
fn take_one(n: &AtomicUsize) -> bool {
    let mut cur = n.load(Ordering::SeqCst);
    while cur > 0 {
        match n.compare_exchange(cur, cur - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(seen) => cur = seen,
        }
    }
    false
}

/// A manager that numbers its connections and counts every close per id.
#[derive(Debug, Clone)]
pub struct Mgr(Arc<Counts>);

impl Mgr {
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A manager whose connects can be told to fail ([`fail_connects`](Self::fail_connects)).
    pub fn with_connect_failures() -> Self {
        Self::build(Some(AtomicUsize::new(0)))
    }

    /// The next `n` connects fail (they open nothing and use no id).
    #[track_caller]
    pub fn fail_connects(&self, n: usize) {
        let left = self.0.fail_connects.as_ref();
        left.expect("built with Mgr::with_connect_failures")
            .store(n, Ordering::SeqCst);
    }

    fn build(fail_connects: Option<AtomicUsize>) -> Self {
        Mgr(Arc::new(Counts {
            next: AtomicUsize::new(1),
            closes: core::array::from_fn(|_| AtomicUsize::new(0)),
            disconnect_pings: AtomicUsize::new(0),
            fail_connects,
        }))
    }

    /// The next `n` pings report that the server went away.
    pub fn disconnect_pings(&self, n: usize) {
        self.0.disconnect_pings.store(n, Ordering::SeqCst);
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.0.next.load(Ordering::SeqCst) - 1
    }

    /// How many times connection `id` was closed.
    pub fn closes(&self, id: usize) -> usize {
        self.0.closes[id].load(Ordering::SeqCst)
    }

    /// Connections opened and not closed (`detached` ones count as closed by their owner).
    pub fn open(&self) -> usize {
        (1..=self.opened())
            .filter(|&id| self.closes(id) == 0)
            .count()
    }

    /// Every connection opened was closed exactly once.
    #[track_caller]
    pub fn assert_all_closed_once(&self) {
        for id in 1..=self.opened() {
            assert_eq!(
                self.closes(id),
                1,
                "connection {id} closed {} times",
                self.closes(id)
            );
        }
    }
}

impl Manager for Mgr {
    type Connection = Conn;
    type Error = ();

    fn connect(&self) -> Result<Conn, ()> {
        if self.0.fail_connects.as_ref().is_some_and(take_one) {
            return Err(());
        }
        let id = self.0.next.fetch_add(1, Ordering::SeqCst);
        assert!(
            id < MAX_IDS,
            "the model opened more connections than it tracks"
        );
        Ok(Conn(id))
    }

    fn reset(&self, _conn: &mut Conn, _mode: ResetMode) -> Result<(), ()> {
        Ok(())
    }

    fn close(&self, conn: Conn) {
        self.0.closes[conn.0].fetch_add(1, Ordering::SeqCst);
    }

    fn ping(&self, _conn: &mut Conn) -> Result<(), ()> {
        if take_one(&self.0.disconnect_pings) {
            return Err(());
        }
        Ok(())
    }

    fn is_disconnect(&self, _error: &()) -> bool {
        true
    }
}

#[derive(Debug)]
struct Live {
    capacity: usize,
    live: AtomicUsize,
    hook_disconnects: AtomicUsize,
    first_connects: AtomicUsize,
    /// A waiter, as an adapter would keep it (`None`: `released` does nothing, so models
    /// that do not watch wake-ups pay no loom operations for it).
    waiter: Option<Waiter>,
}

/// One registered waiter and whether `released` saw it (the adapter's side of the wake-up
/// contract, pool.rs "Telling an adapter that capacity came back").
#[derive(Debug)]
struct Waiter {
    registered: AtomicUsize,
    woken: AtomicBool,
}

/// Events that check, at every open, that no more than `capacity` connections are live, and
/// whose checkout hook answers "disconnected" a set number of times.
#[derive(Debug, Clone)]
pub struct Hooks(Arc<Live>);

impl Hooks {
    pub fn new(capacity: usize, hook_disconnects: usize) -> Self {
        Self::build(capacity, hook_disconnects, None)
    }

    /// Events that also keep one waiter's registration, which `released` checks as an
    /// adapter does: `SeqCst` fence (loom models `SeqCst` accesses as `AcqRel`; the fence
    /// stands in for the total order, as in the std adapter), then a `SeqCst` load.
    pub fn watching_wakes(capacity: usize) -> Self {
        Self::build(
            capacity,
            0,
            Some(Waiter {
                registered: AtomicUsize::new(0),
                woken: AtomicBool::new(false),
            }),
        )
    }

    fn build(capacity: usize, hook_disconnects: usize, waiter: Option<Waiter>) -> Self {
        Hooks(Arc::new(Live {
            capacity,
            live: AtomicUsize::new(0),
            hook_disconnects: AtomicUsize::new(hook_disconnects),
            first_connects: AtomicUsize::new(0),
            waiter,
        }))
    }

    fn waiter(&self) -> &Waiter {
        self.0
            .waiter
            .as_ref()
            .expect("built with Hooks::watching_wakes")
    }

    /// Registers the waiter, as an adapter's waiter does before its retry: `SeqCst`
    /// increment, then a `SeqCst` fence.
    pub fn register_waiter(&self) {
        self.waiter().registered.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The waiter leaves (its retry succeeded, or it gave up).
    pub fn unregister_waiter(&self) {
        self.waiter().registered.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether some `released` saw the waiter registered (and would have woken it).
    pub fn woken(&self) -> bool {
        self.waiter().woken.load(Ordering::SeqCst)
    }

    /// Connections opened and not yet closed or detached, as the events saw them.
    pub fn live(&self) -> usize {
        self.0.live.load(Ordering::SeqCst)
    }
}

impl Events<Conn> for Hooks {
    fn first_connect(&self, _conn: &mut Conn) {
        let n = self.0.first_connects.fetch_add(1, Ordering::SeqCst);
        assert_eq!(n, 0, "first_connect fired twice");
    }

    fn connect(&self, _conn: &mut Conn) {
        let live = self.0.live.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(
            live <= self.0.capacity,
            "{live} connections open, above pool_size + max_overflow = {}",
            self.0.capacity
        );
    }

    fn checkout(&self, _conn: &mut Conn, _event: &CheckoutEvent) -> Result<(), Disconnected> {
        if take_one(&self.0.hook_disconnects) {
            return Err(Disconnected);
        }
        Ok(())
    }

    fn close(&self, _conn: &mut Conn, _reason: tarn_core::CloseReason) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }

    fn detach(&self, _conn: &mut Conn) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The model's stand-in for an adapter's wait queue: `released` checks whether the waiter
/// is registered, as an adapter's `Waiters::released` does.
impl tarn_core::Waiters for Hooks {
    fn released(&self) {
        if let Some(w) = &self.0.waiter {
            fence(Ordering::SeqCst);
            if w.registered.load(Ordering::SeqCst) > 0 {
                w.woken.store(true, Ordering::SeqCst);
            }
        }
    }
}

impl Hooks {
    /// How many times `first_connect` fired.
    pub fn first_connects(&self) -> usize {
        self.0.first_connects.load(Ordering::SeqCst)
    }
}

/// Checks the counts of a pool nobody uses any more: nothing out, at most `pool_size` idle,
/// the manager, the events and the pool agree on how many are open, and `first_connect`
/// fired once if anything was opened.
#[track_caller]
pub fn assert_quiescent<K, S: Storage<Conn, ()>, W: tarn_core::Waiters>(
    pool: &RawPool<Mgr, Hooks, K, (), S, W>,
    mgr: &Mgr,
    hooks: &Hooks,
    detached: usize,
) {
    let state = pool.state();
    assert_eq!(state.checked_out, 0, "{state:?}");
    assert!(state.idle <= state.pool_size, "{state:?}");
    assert_eq!(mgr.open(), state.open + detached, "manager vs {state:?}");
    assert_eq!(hooks.live(), state.open, "events vs {state:?}");
    assert_eq!(hooks.first_connects(), usize::from(mgr.opened() > 0));
}

/// Which connections some thread holds right now.
#[derive(Debug)]
pub struct Holders([AtomicBool; MAX_IDS]);

impl Holders {
    pub fn new() -> Arc<Self> {
        Arc::new(Holders(core::array::from_fn(|_| AtomicBool::new(false))))
    }

    /// Records that the calling thread now holds `id`; panics if another thread does.
    #[track_caller]
    pub fn take(&self, id: usize) {
        assert!(
            !self.0[id].swap(true, Ordering::SeqCst),
            "connection {id} handed out while another thread holds it"
        );
    }

    /// Records that `id` is about to be given back.
    pub fn give(&self, id: usize) {
        self.0[id].store(false, Ordering::SeqCst);
    }
}

/// Runs `f` under loom with the bound from `LOOM_MAX_PREEMPTIONS` (default 2 here).
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// The heap pool the models build: the model's events, and the same value as its waiters.
pub type ModelPool = Pool<Mgr, Hooks, tarn_core::NoClock, (), Hooks>;

/// A heap pool in `order` (LIFO or affinity: the FIFO queue does not exist under loom) with
/// these counts, the model's manager and events.
pub fn pool(
    order: IdleOrder,
    size: usize,
    overflow: usize,
    hooks: &Hooks,
    mgr: &Mgr,
) -> Arc<ModelPool> {
    let pool = Builder::new(mgr.clone())
        .pool_size(size)
        .max_overflow(overflow)
        .idle_order(order)
        .events(hooks.clone())
        .waiters(hooks.clone())
        .build()
        .expect("a valid configuration");
    Arc::new(pool)
}

/// `threads` threads each check one connection out (if they can) and back in, `rounds`
/// times, each with a `Hint` of its own. `warm` connections are opened first, the k-th with
/// thread `k % threads`'s hint, so that under the affinity order each thread starts from
/// the slot it used last. Then: nobody held a connection twice, the counts add up, and
/// every connection is closed exactly once when the pool goes.
pub fn checkouts(
    order: IdleOrder,
    threads: usize,
    rounds: usize,
    size: usize,
    overflow: usize,
    warm: usize,
) {
    let mgr = Mgr::new();
    let hooks = Hooks::new(size + overflow, 0);
    let pool = pool(order, size, overflow, &hooks, &mgr);
    let mut hints = vec![Hint::new(); threads];
    let warmed: Vec<_> = (0..warm)
        .map(|k| pool.try_checkout_hinted(&mut hints[k % threads]).unwrap())
        .collect();
    drop(warmed);
    let holders = Holders::new();
    let handles: Vec<_> = hints
        .into_iter()
        .map(|mut hint| {
            let (pool, holders) = (pool.clone(), holders.clone());
            loom::thread::spawn(move || {
                for _ in 0..rounds {
                    if let Ok(conn) = pool.try_checkout_hinted(&mut hint) {
                        holders.take(conn.0);
                        holders.give(conn.0);
                        drop(conn);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_quiescent(&pool, &mgr, &hooks, 0);
    drop(pool);
    mgr.assert_all_closed_once();
}
