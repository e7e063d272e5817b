//! tarn and its peers behind one [`Contender`] trait.
//!
//! Each contender owns one pool of `size` benchmark connections (see [`new_conn`]), opened
//! before any measurement. A cycle checks a connection out, touches it
//! ([`Worker::use_conn`]) and returns it.
//!
//! Non-blocking pools (the floor, tarn-core's `try_checkout`, deadpool's unmanaged `try_get`,
//! object-pool's `try_pull`) retry with `std::thread::yield_now` when they find the pool
//! empty. The async pools (deadpool managed, bb8) run each thread's whole measuring loop inside
//! one `block_on` of a current-thread tokio runtime owned by that thread.

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::{drive, new_conn, thread_allocs, Worker, BATCH};

/// How a contender bounds and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The least a pool core can cost: a bare queue of slot indices.
    Floor,
    /// Bounded, and waits by blocking (or, for async pools, by awaiting).
    Blocking,
    /// Bounded, never waits: the benchmark retries with `yield_now`.
    Spinning,
    /// Opens a new object whenever it finds none idle: not bounded by `size`.
    Unbounded,
}

/// A pool under test.
pub trait Contender: Sync {
    /// The row label.
    fn name(&self) -> &'static str;
    /// How it bounds and waits.
    fn kind(&self) -> Kind;
    /// Prepares the calling thread, waits at `barrier`, then runs cycles until the worker is
    /// stopped. Returns (cycles, allocations in the loop).
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64);
}

/// Every contender, by name, in table order.
pub const ALL: &[&str] = &[
    "floor (ArrayQueue)",
    "tarn-core try_checkout",
    "tarn-core affinity",
    #[cfg(feature = "adapter")]
    "tarn",
    #[cfg(feature = "adapter")]
    "tarn (LIFO)",
    #[cfg(feature = "adapter")]
    "tarn (affinity)",
    #[cfg(feature = "adapter")]
    "tarn (eventual, 500 µs)",
    #[cfg(feature = "adapter")]
    "tarn (eventual, 500 µs, LIFO)",
    #[cfg(feature = "adapter")]
    "tarn (eventual, 500 µs, affinity)",
    "Mutex+Condvar",
    "parking_lot",
    "r2d2",
    "r2d2 (test on checkout)",
    "deadpool unmanaged",
    "deadpool managed (async)",
    "bb8 (async)",
    "object-pool",
    "opool",
    "lockfree-object-pool",
    "proto: per-thread affinity",
];

/// Variants for profiling (`--profile`) and for `--hold-only --only NAME`, not in the tables.
pub const VARIANTS: &[&str] = &[
    "tarn-core lifo",
    "tarn-core no reset",
    "proto: entry moved",
    "proto: entry in place",
    "proto: FIFO hand-off",
    #[cfg(feature = "adapter")]
    "tarn (eventual, 100 µs)",
    #[cfg(feature = "adapter")]
    "tarn (eventual, 2 ms)",
];

/// tarn-core's configurations the harness knows (tables and variants): name, and what each
/// sets on top of `pool_size(size).max_overflow(0)`.
const TARN_CORE: &[(&str, CoreSettings)] = &[
    ("tarn-core try_checkout", |b| b),
    ("tarn-core affinity", |b| {
        b.idle_order(tarn_core::IdleOrder::Affinity)
    }),
    ("tarn-core lifo", |b| {
        b.idle_order(tarn_core::IdleOrder::Lifo)
    }),
    ("tarn-core no reset", |b| {
        b.reset_on_return(tarn_core::ResetMode::None)
    }),
];

/// The std adapter's configurations the harness knows: name, waiting policy, idle order.
#[cfg(feature = "adapter")]
const TARN: &[(&str, tarn_pool::Fairness, tarn_pool::IdleOrder)] = {
    use tarn_pool::{Fairness::*, IdleOrder::*};
    const fn eventual(micros: u64) -> tarn_pool::Fairness {
        Eventual(Duration::from_micros(micros))
    }
    &[
        ("tarn", Strict, Fifo),
        ("tarn (LIFO)", Strict, Lifo),
        ("tarn (affinity)", Strict, Affinity),
        ("tarn (eventual, 100 µs)", eventual(100), Fifo),
        ("tarn (eventual, 500 µs)", eventual(500), Fifo),
        ("tarn (eventual, 500 µs, LIFO)", eventual(500), Lifo),
        ("tarn (eventual, 500 µs, affinity)", eventual(500), Affinity),
        ("tarn (eventual, 2 ms)", eventual(2_000), Fifo),
    ]
};

/// Builds the contender called `name` with a pool of `size` connections, all opened.
///
/// # Panics
///
/// If `name` is in neither [`ALL`] nor [`VARIANTS`], or a pool fails to build (benchmark managers cannot fail).
pub fn build(name: &str, size: usize) -> Box<dyn Contender> {
    if let Some(&(name, settings)) = TARN_CORE.iter().find(|c| c.0 == name) {
        return Box::new(TarnCore::new(size, name, settings));
    }
    #[cfg(feature = "adapter")]
    if let Some(&(name, fairness, order)) = TARN.iter().find(|c| c.0 == name) {
        return Box::new(Tarn::new(size, name, fairness, order));
    }
    match name {
        "floor (ArrayQueue)" => Box::new(Floor::new(size)),
        "proto: entry moved" => Box::new(crate::proto::Moved::new(size)),
        "proto: entry in place" => Box::new(crate::proto::InPlace::new(size)),
        "proto: FIFO hand-off" => Box::new(crate::proto::FifoHandoff::new(size)),
        "proto: per-thread affinity" => Box::new(crate::proto::Affinity::new(size)),
        "Mutex+Condvar" => Box::new(StdMutex::new(size)),
        "parking_lot" => Box::new(PlMutex::new(size)),
        "r2d2" => Box::new(R2d2::new(size, false)),
        "r2d2 (test on checkout)" => Box::new(R2d2::new(size, true)),
        "deadpool unmanaged" => Box::new(DeadpoolUnmanaged::new(size)),
        "deadpool managed (async)" => Box::new(DeadpoolManaged::new(size)),
        "bb8 (async)" => Box::new(Bb8::new(size)),
        "object-pool" => Box::new(ObjectPool::new(size)),
        "opool" => Box::new(OPool::new(size)),
        "lockfree-object-pool" => Box::new(LockfreeObjectPool::new(size)),
        other => panic!("unknown contender {other:?}"),
    }
}

fn retry_later() {
    std::thread::yield_now();
}

/// One cycle for a pool with a blocking `get` whose guard derefs to the connection.
macro_rules! blocking_cycle {
    ($w:ident, $get:expr) => {{
        let t = $w.before_checkout();
        let mut conn = $get;
        $w.after_checkout(t);
        *conn = $w.use_conn(*conn);
    }};
}

/// One cycle for a non-blocking `try` checkout returning `Option`/`Result`: retries.
macro_rules! spinning_cycle {
    ($w:ident, $try:expr) => {{
        let t = $w.before_checkout();
        let mut conn = loop {
            if let Some(c) = $try {
                break c;
            }
            retry_later();
        };
        $w.after_checkout(t);
        *conn = $w.use_conn(*conn);
    }};
}

/// A whole measuring loop inside one `block_on` of a per-thread current-thread runtime.
macro_rules! async_work {
    ($w:ident, $barrier:ident, $get:expr) => {{
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime");
        $barrier.wait();
        rt.block_on(async {
            let mut a0 = thread_allocs();
            let mut n = 0;
            while !$w.stopped(n) {
                for _ in 0..BATCH {
                    let t = $w.before_checkout();
                    let mut conn = $get.await.expect("async pool get");
                    $w.after_checkout(t);
                    *conn = $w.use_conn(*conn);
                }
                n += BATCH;
                if n == crate::WARM_UP_BATCHES * BATCH {
                    a0 = thread_allocs(); // see `drive`
                }
            }
            (n, thread_allocs() - a0)
        })
    }};
}

// ---------------------------------------------------------------------------------------------
// The floor

/// A bare `ArrayQueue<u32>` of slot indices over an array of connections: pop an index, touch
/// its slot, push it back.
pub struct Floor {
    queue: ArrayQueue<u32>,
    slots: Box<[AtomicU64]>,
}

impl Floor {
    /// A floor of `size` slots, all idle.
    pub fn new(size: usize) -> Self {
        let queue = ArrayQueue::new(size);
        for i in 0..size {
            queue.push(i as u32).expect("queue has room");
        }
        let slots = (0..size).map(|_| AtomicU64::new(new_conn())).collect();
        Floor { queue, slots }
    }
}

impl Contender for Floor {
    fn name(&self) -> &'static str {
        "floor (ArrayQueue)"
    }
    fn kind(&self) -> Kind {
        Kind::Floor
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| {
            let t = w.before_checkout();
            let i = loop {
                if let Some(i) = self.queue.pop() {
                    break i as usize;
                }
                retry_later();
            };
            w.after_checkout(t);
            // Relaxed is enough: the queue's pop/push order the slot's accesses.
            let slot = &self.slots[i];
            slot.store(w.use_conn(slot.load(Ordering::Relaxed)), Ordering::Relaxed);
            let _ = self.queue.push(i as u32);
        })
    }
}

// ---------------------------------------------------------------------------------------------
// tarn

/// The benchmark manager for tarn: connections are ids, reset does nothing, nothing fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitManager;

impl tarn_core::Manager for UnitManager {
    type Connection = u64;
    type Error = Infallible;

    fn connect(&self) -> Result<u64, Infallible> {
        Ok(new_conn())
    }
    fn reset(&self, _conn: &mut u64, _mode: tarn_core::ResetMode) -> Result<(), Infallible> {
        Ok(())
    }
    fn close(&self, _conn: u64) {}
}

/// tarn-core's non-blocking `Pool::try_checkout`, retried with `yield_now` when exhausted.
/// Each worker thread keeps a [`tarn_core::Hint`] and checks out with it
/// (`try_checkout_hinted`), as a caller of the affinity order does; the queue orders ignore
/// it.
pub struct TarnCore {
    pool: tarn_core::Pool<UnitManager>,
    name: &'static str,
}

/// What a tarn-core configuration sets on its builder.
pub type CoreSettings = fn(tarn_core::Builder<UnitManager>) -> tarn_core::Builder<UnitManager>;

impl TarnCore {
    /// A pool of `size` (no overflow) with `settings`, all opened, called `name`.
    pub fn new(size: usize, name: &'static str, settings: CoreSettings) -> Self {
        let pool = settings(tarn_core::Builder::new(UnitManager))
            .pool_size(size)
            .max_overflow(0)
            .build()
            .expect("valid settings");
        let held: Vec<_> = (0..size)
            .map(|_| pool.try_checkout().expect("capacity"))
            .collect();
        drop(held);
        TarnCore { pool, name }
    }
}

impl Contender for TarnCore {
    fn name(&self) -> &'static str {
        self.name
    }
    fn kind(&self) -> Kind {
        Kind::Spinning
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        let mut hint = tarn_core::Hint::new();
        barrier.wait();
        drive(w, |w| {
            spinning_cycle!(w, self.pool.try_checkout_hinted(&mut hint).ok())
        })
    }
}

/// The std adapter's blocking `tarn_pool::Pool::get`.
#[cfg(feature = "adapter")]
pub struct Tarn {
    pool: tarn_pool::Pool<UnitManager>,
    name: &'static str,
}

#[cfg(feature = "adapter")]
impl Tarn {
    /// A pool of `size` (no overflow, 30 s timeout) with this waiting policy and idle order,
    /// all opened, called `name`.
    pub fn new(
        size: usize,
        name: &'static str,
        fairness: tarn_pool::Fairness,
        order: tarn_pool::IdleOrder,
    ) -> Self {
        let pool = tarn_pool::Pool::builder(UnitManager)
            .pool_size(size)
            .max_overflow(0)
            .timeout(Duration::from_secs(30))
            .fairness(fairness)
            .idle_order(order)
            .build()
            .expect("valid settings");
        let held: Vec<_> = (0..size).map(|_| pool.get().expect("capacity")).collect();
        drop(held);
        Tarn { pool, name }
    }
}

#[cfg(feature = "adapter")]
impl Contender for Tarn {
    fn name(&self) -> &'static str {
        self.name
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| {
            blocking_cycle!(w, self.pool.get().expect("tarn get"))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-written pools

/// The pool everyone writes first: a `std::sync::Mutex` around the idle connections and a
/// count of waiters, and a `Condvar`, notified only when someone waits (std's `notify_one`
/// makes a system call even when no thread waits).
pub struct StdMutex {
    inner: std::sync::Mutex<MutexInner>,
    available: std::sync::Condvar,
}

struct MutexInner {
    idle: Vec<u64>,
    waiting: usize,
}

impl StdMutex {
    /// A pool of `size`, all idle.
    pub fn new(size: usize) -> Self {
        StdMutex {
            inner: std::sync::Mutex::new(MutexInner {
                idle: (0..size).map(|_| new_conn()).collect(),
                waiting: 0,
            }),
            available: std::sync::Condvar::new(),
        }
    }

    fn get(&self) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = inner.idle.pop() {
                return c;
            }
            inner.waiting += 1;
            inner = self
                .available
                .wait(inner)
                .unwrap_or_else(|e| e.into_inner());
            inner.waiting -= 1;
        }
    }

    fn put(&self, conn: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.idle.push(conn);
        let notify = inner.waiting > 0;
        drop(inner);
        if notify {
            self.available.notify_one();
        }
    }
}

impl Contender for StdMutex {
    fn name(&self) -> &'static str {
        "Mutex+Condvar"
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| {
            let t = w.before_checkout();
            let conn = self.get();
            w.after_checkout(t);
            self.put(w.use_conn(conn));
        })
    }
}

/// The same pool with `parking_lot::Mutex` and `parking_lot::Condvar`.
pub struct PlMutex {
    idle: parking_lot::Mutex<Vec<u64>>,
    available: parking_lot::Condvar,
}

impl PlMutex {
    /// A pool of `size`, all idle.
    pub fn new(size: usize) -> Self {
        PlMutex {
            idle: parking_lot::Mutex::new((0..size).map(|_| new_conn()).collect()),
            available: parking_lot::Condvar::new(),
        }
    }
}

impl Contender for PlMutex {
    fn name(&self) -> &'static str {
        "parking_lot"
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| {
            let t = w.before_checkout();
            let conn = {
                let mut idle = self.idle.lock();
                loop {
                    if let Some(c) = idle.pop() {
                        break c;
                    }
                    self.available.wait(&mut idle);
                }
            };
            w.after_checkout(t);
            let conn = w.use_conn(conn);
            self.idle.lock().push(conn);
            self.available.notify_one();
        })
    }
}

// ---------------------------------------------------------------------------------------------
// r2d2

/// The error of the benchmark managers that cannot fail.
#[derive(Debug)]
pub struct NeverFails;

impl fmt::Display for NeverFails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("benchmark manager error")
    }
}

impl std::error::Error for NeverFails {}

/// The benchmark manager for r2d2, deadpool and bb8.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerManager;

impl r2d2::ManageConnection for PeerManager {
    type Connection = u64;
    type Error = NeverFails;
    fn connect(&self) -> Result<u64, NeverFails> {
        Ok(new_conn())
    }
    fn is_valid(&self, _conn: &mut u64) -> Result<(), NeverFails> {
        Ok(())
    }
    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

/// r2d2, with or without its (default-on) test on checkout.
pub struct R2d2 {
    pool: r2d2::Pool<PeerManager>,
    test: bool,
}

impl R2d2 {
    /// A pool of `size`, all opened (r2d2's `min_idle` defaults to `max_size`).
    pub fn new(size: usize, test_on_check_out: bool) -> Self {
        let pool = r2d2::Pool::builder()
            .max_size(size as u32)
            .test_on_check_out(test_on_check_out)
            .connection_timeout(Duration::from_secs(30))
            .build(PeerManager)
            .expect("r2d2 pool");
        R2d2 {
            pool,
            test: test_on_check_out,
        }
    }
}

impl Contender for R2d2 {
    fn name(&self) -> &'static str {
        if self.test {
            "r2d2 (test on checkout)"
        } else {
            "r2d2"
        }
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| {
            blocking_cycle!(w, self.pool.get().expect("r2d2 get"))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// deadpool

/// deadpool's unmanaged pool through its synchronous `try_get`, retried with `yield_now`.
pub struct DeadpoolUnmanaged {
    pool: deadpool::unmanaged::Pool<u64>,
}

impl DeadpoolUnmanaged {
    /// A pool of `size`, all added.
    pub fn new(size: usize) -> Self {
        DeadpoolUnmanaged {
            pool: deadpool::unmanaged::Pool::from(
                (0..size).map(|_| new_conn()).collect::<Vec<_>>(),
            ),
        }
    }
}

impl Contender for DeadpoolUnmanaged {
    fn name(&self) -> &'static str {
        "deadpool unmanaged"
    }
    fn kind(&self) -> Kind {
        Kind::Spinning
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| spinning_cycle!(w, self.pool.try_get().ok()))
    }
}

impl deadpool::managed::Manager for PeerManager {
    type Type = u64;
    type Error = NeverFails;
    async fn create(&self) -> Result<u64, NeverFails> {
        Ok(new_conn())
    }
    async fn recycle(
        &self,
        _conn: &mut u64,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<NeverFails> {
        Ok(())
    }
}

fn setup_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// deadpool's managed pool, awaited.
pub struct DeadpoolManaged {
    pool: deadpool::managed::Pool<PeerManager>,
}

impl DeadpoolManaged {
    /// A pool of `size`, all opened.
    pub fn new(size: usize) -> Self {
        let pool = deadpool::managed::Pool::builder(PeerManager)
            .max_size(size)
            .build()
            .expect("deadpool pool");
        setup_runtime().block_on(async {
            let mut held = Vec::new();
            for _ in 0..size {
                held.push(pool.get().await.expect("capacity"));
            }
        });
        DeadpoolManaged { pool }
    }
}

impl Contender for DeadpoolManaged {
    fn name(&self) -> &'static str {
        "deadpool managed (async)"
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        async_work!(w, barrier, self.pool.get())
    }
}

// ---------------------------------------------------------------------------------------------
// bb8

impl bb8::ManageConnection for PeerManager {
    type Connection = u64;
    type Error = NeverFails;
    async fn connect(&self) -> Result<u64, NeverFails> {
        Ok(new_conn())
    }
    async fn is_valid(&self, _conn: &mut u64) -> Result<(), NeverFails> {
        Ok(())
    }
    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

/// bb8, awaited, without its test on checkout (a trivial `is_valid` here).
pub struct Bb8 {
    pool: bb8::Pool<PeerManager>,
    // bb8 spawns its reaper on the runtime it is built in; keep that runtime alive (idle).
    _rt: tokio::runtime::Runtime,
}

impl Bb8 {
    /// A pool of `size`, all opened.
    pub fn new(size: usize) -> Self {
        let rt = setup_runtime();
        let pool = rt.block_on(async {
            let pool = bb8::Pool::builder()
                .max_size(size as u32)
                .test_on_check_out(false)
                .connection_timeout(Duration::from_secs(30))
                .build(PeerManager)
                .await
                .expect("bb8 pool");
            let mut held = Vec::new();
            for _ in 0..size {
                held.push(pool.get().await.expect("capacity"));
            }
            drop(held);
            pool
        });
        Bb8 { pool, _rt: rt }
    }
}

impl Contender for Bb8 {
    fn name(&self) -> &'static str {
        "bb8 (async)"
    }
    fn kind(&self) -> Kind {
        Kind::Blocking
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        async_work!(w, barrier, self.pool.get())
    }
}

// ---------------------------------------------------------------------------------------------
// Object pools

/// object-pool's bounded `try_pull`, retried with `yield_now`.
pub struct ObjectPool {
    pool: object_pool::Pool<u64>,
}

impl ObjectPool {
    /// A pool of `size`, all created.
    pub fn new(size: usize) -> Self {
        ObjectPool {
            pool: object_pool::Pool::new(size, new_conn),
        }
    }
}

impl Contender for ObjectPool {
    fn name(&self) -> &'static str {
        "object-pool"
    }
    fn kind(&self) -> Kind {
        Kind::Spinning
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| spinning_cycle!(w, self.pool.try_pull()))
    }
}

struct ConnAllocator;

impl opool::PoolAllocator<u64> for ConnAllocator {
    fn allocate(&self) -> u64 {
        new_conn()
    }
}

/// opool's `get`: creates a new object when none is idle.
pub struct OPool {
    pool: opool::Pool<ConnAllocator, u64>,
}

impl OPool {
    /// A pool keeping up to `size`, prefilled.
    pub fn new(size: usize) -> Self {
        OPool {
            pool: opool::Pool::new_prefilled(size, ConnAllocator),
        }
    }
}

impl Contender for OPool {
    fn name(&self) -> &'static str {
        "opool"
    }
    fn kind(&self) -> Kind {
        Kind::Unbounded
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| blocking_cycle!(w, self.pool.get()))
    }
}

/// lockfree-object-pool's `LinearObjectPool::pull`: creates a new object when none is idle.
pub struct LockfreeObjectPool {
    pool: lockfree_object_pool::LinearObjectPool<u64>,
}

impl LockfreeObjectPool {
    /// A pool warmed with `size` objects.
    pub fn new(size: usize) -> Self {
        let pool = lockfree_object_pool::LinearObjectPool::new(new_conn, |_| {});
        let held: Vec<_> = (0..size).map(|_| pool.pull()).collect();
        drop(held);
        LockfreeObjectPool { pool }
    }
}

impl Contender for LockfreeObjectPool {
    fn name(&self) -> &'static str {
        "lockfree-object-pool"
    }
    fn kind(&self) -> Kind {
        Kind::Unbounded
    }
    fn work(&self, w: &mut Worker<'_>, barrier: &Barrier) -> (u64, u64) {
        barrier.wait();
        drive(w, |w| blocking_cycle!(w, self.pool.pull()))
    }
}

// Manual impls: most peer pools do not implement `Debug`; the name is what matters here.
macro_rules! name_only_debug {
    ($($t:ty),* $(,)?) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}

name_only_debug!(
    Floor,
    TarnCore,
    StdMutex,
    PlMutex,
    R2d2,
    DeadpoolUnmanaged,
    DeadpoolManaged,
    Bb8,
    ObjectPool,
    OPool,
    LockfreeObjectPool,
);
#[cfg(feature = "adapter")]
name_only_debug!(Tarn);
