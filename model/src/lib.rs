//! tarn-model: a sequential model of the pool's semantics, the operation decoder shared by
//! the fuzz targets and the corpus replay test, and two runners. A `publish = false` crate of
//! the workspace: it is not part of what tarn ships.
//!
//! - [`run_ops`] drives a real pool and the model through the same operations, one at a
//!   time, and reports the first divergence: an outcome, which connection was handed out,
//!   which connections were closed, or a counter.
//! - [`Concurrent`] runs operations on one pool from several threads and checks what must
//!   hold whatever the interleaving: never more than `pool_size + max_overflow` connections
//!   open, no connection held twice, every opened connection closed exactly once after
//!   `dispose`.
//!
//! The model is written from the rules, not from the implementation:
//!
//! - a checkout takes an idle connection (FIFO: the one returned longest ago; LIFO: the one
//!   returned last; affinity: the one in the first slot at or after the slot handed out
//!   last, round the slots, where a new connection takes the empty slot freed last and the
//!   first empty slots go in index order); one from before `invalidate_all`/`dispose`, or older than the recycle
//!   age (`now - born > recycle`), is closed and replaced; with pre-ping, a failed ping
//!   closes it and fails the checkout (`CheckoutError::Ping`), and a ping that says
//!   "disconnected" replaces it and invalidates the whole pool (the generation rule);
//! - with nothing idle, a checkout opens a connection if fewer than
//!   `pool_size + max_overflow` are open, and otherwise would block;
//! - the checkout hook answering "disconnected" closes the connection and opens another; a
//!   second "disconnected" in the same checkout closes that one too and fails the checkout;
//! - a failed connect gives its capacity back;
//! - a checkin resets the connection (unless the reset mode is `None`); a failed reset closes
//!   it; a soft-invalidated or stale connection is closed; otherwise it is kept if fewer than
//!   `pool_size` are idle (`pool_size` 0: no limit), and closed if not;
//! - `dispose` closes the idle connections now and the checked-out ones when they come back;
//!   a pool that is dropped closes its idle connections.
//!
//! # Input format
//!
//! The first four bytes configure the pool ([`Config::decode`]); every further pair of bytes
//! is one [`Op`] (an opcode and an argument). Any byte string is a valid input.
//!
//! ```
//! use tarn_model::{decode, run_ops};
//!
//! // A heap pool, pool_size 1, max_overflow 1: check out twice, return both.
//! let input = [0b0000_1010, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0];
//! let (config, ops) = decode(&input);
//! assert_eq!(config.pool_size, 1);
//! let report = run_ops(&config, &ops).expect("the pool behaves as the model says");
//! assert_eq!(report.opened, 2);
//! assert_eq!(report.closed, 2); // one closed at checkin (overflow), one when the pool is dropped
//! ```
#![warn(missing_docs, missing_debug_implementations)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use tarn_core::testing::{ManualClock, ScriptedConn, ScriptedError, ScriptedManager};
use tarn_core::{
    ArrayStorage, BuildError, Builder, CheckoutError, CheckoutEvent, CloseReason, Disconnected,
    Events, HeapStorage, Hint, IdleOrder, Pooled, RawPool, ResetMode, Retain, Settings, Storage,
    UNBOUNDED_IDLE_CAP,
};

/// The number of slots of the [`FixedPool`](tarn_core::FixedPool) the runners use.
pub const FIXED_SLOTS: usize = 4;

/// The most operations [`decode`] reads from one input (the rest is ignored), which keeps
/// connection ids below what [`ScriptedManager`] tracks.
pub const MAX_OPS: usize = 256;

/// Connection ids the concurrent runner tracks holders for.
const MAX_IDS: usize = 4 * MAX_OPS + 8;

/// Which storage the pool under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// A heap [`Pool`](tarn_core::Pool) built by [`Builder`].
    Heap,
    /// A [`FixedPool`](tarn_core::FixedPool) of [`FIXED_SLOTS`] slots.
    Fixed,
}

/// How the pool under test is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Heap or fixed storage.
    pub storage: StorageKind,
    /// `pool_size` (0–3).
    pub pool_size: usize,
    /// `max_overflow` (0–3; a fixed pool ignores it and uses `FIXED_SLOTS - pool_size`).
    pub max_overflow: usize,
    /// Idle order (a fixed pool is always LIFO).
    pub order: IdleOrder,
    /// Pre-ping on checkout.
    pub pre_ping: bool,
    /// Recycle age in ticks of the manual clock.
    pub recycle: Option<u64>,
    /// Reset on return.
    pub reset: ResetMode,
    /// Threads of a [`Concurrent`] run (2 or 3).
    pub threads: usize,
    /// Unlimited overflow (`max_overflow` is then ignored; a fixed pool reads it as all of
    /// its slots).
    pub unlimited: bool,
    /// Keep nothing idle ([`Retain::Nothing`]).
    pub retain_nothing: bool,
}

impl Config {
    /// Reads a configuration from four bytes (missing bytes count as 0):
    ///
    /// - byte 0: bit 0 fixed storage, bits 1–2 `pool_size`, bits 3–4 `max_overflow`,
    ///   bit 5 LIFO, bit 6 pre-ping, bit 7 affinity (over bit 5; heap storage only);
    /// - byte 1: bit 0 set means a recycle age of `(byte >> 1) % 8` ticks;
    /// - byte 2: bits 0–1 reset mode (`% 3`: rollback, commit, none), bit 2 unlimited
    ///   overflow, bit 3 keep nothing idle;
    /// - byte 3: threads (`2 + byte % 2`).
    pub fn decode(bytes: &[u8]) -> Config {
        let b = |i: usize| bytes.get(i).copied().unwrap_or(0);
        let (b0, b1, b2, b3) = (b(0), b(1), b(2), b(3));
        Config {
            storage: if b0 & 1 == 1 {
                StorageKind::Fixed
            } else {
                StorageKind::Heap
            },
            pool_size: usize::from((b0 >> 1) & 3),
            max_overflow: usize::from((b0 >> 3) & 3),
            order: if b0 & 0x80 != 0 {
                IdleOrder::Affinity
            } else if b0 & 0x20 != 0 {
                IdleOrder::Lifo
            } else {
                IdleOrder::Fifo
            },
            pre_ping: b0 & 0x40 != 0,
            recycle: (b1 & 1 == 1).then_some(u64::from((b1 >> 1) % 8)),
            reset: match (b2 & 3) % 3 {
                0 => ResetMode::Rollback,
                1 => ResetMode::Commit,
                _ => ResetMode::None,
            },
            threads: 2 + usize::from(b3 % 2),
            unlimited: b2 & 4 != 0,
            retain_nothing: b2 & 8 != 0,
        }
    }

    /// Whether the pool under test has unlimited overflow (heap storage only: a fixed pool
    /// reads the setting as all of its slots).
    fn unlimited_heap(&self) -> bool {
        self.unlimited && self.storage == StorageKind::Heap
    }

    /// The settings the pool is built with.
    fn settings(&self) -> Settings {
        let mut s = Settings::new()
            .pool_size(self.pool_size)
            .max_overflow(self.max_overflow)
            .reset_on_return(self.reset)
            .pre_ping(self.pre_ping)
            .idle_order(self.order);
        if let Some(age) = self.recycle {
            s = s.recycle(age);
        }
        if self.unlimited {
            s = s.unlimited_overflow();
        }
        if self.retain_nothing {
            s = s.retain(Retain::Nothing);
        }
        s
    }

    /// `(pool_size, capacity, order)` as the rules say the pool will use them. Unlimited
    /// overflow: no capacity (`usize::MAX`), and idle connections are handed out oldest
    /// first whatever the order.
    fn effective(&self) -> (usize, usize, IdleOrder) {
        match self.storage {
            StorageKind::Heap if self.unlimited => (self.pool_size, usize::MAX, IdleOrder::Fifo),
            StorageKind::Heap => (
                self.pool_size,
                self.pool_size + self.max_overflow,
                self.order,
            ),
            // A fixed pool keeps at most N idle, may always open N, and is LIFO.
            StorageKind::Fixed => (
                self.pool_size.min(FIXED_SLOTS),
                FIXED_SLOTS,
                IdleOrder::Lifo,
            ),
        }
    }
}

/// One operation. Arguments that pick a held connection are taken modulo how many are held
/// (an operation on nothing does nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `try_checkout`.
    Checkout,
    /// Check in the n-th held connection (`Pooled::checkin`).
    Checkin(u8),
    /// Hard-invalidate the n-th held connection.
    Invalidate(u8),
    /// Soft-invalidate the n-th held connection.
    SoftInvalidate(u8),
    /// Detach the n-th held connection (the test keeps it until `CloseDetached`).
    Detach(u8),
    /// Close the n-th detached connection through `close_detached`.
    CloseDetached(u8),
    /// `invalidate_all`.
    InvalidateAll,
    /// `dispose`.
    Dispose,
    /// Replace the pool by a new one with the same settings; the old one lives until its
    /// last connection comes back, then is dropped.
    Recreate,
    /// Move the manual clock forward by `n % 8` ticks.
    Advance(u8),
    /// The next `n % 3` connects fail.
    FailConnects(u8),
    /// The next `n % 3` resets fail.
    FailResets(u8),
    /// The next `n % 3` pings fail (not a disconnect).
    FailPings(u8),
    /// The next `n % 3` pings report a disconnect.
    DisconnectPings(u8),
    /// The checkout hook answers "disconnected" the next `n % 3` times.
    HookDisconnects(u8),
}

impl Op {
    /// Decodes one operation from an opcode and an argument byte.
    pub fn decode(opcode: u8, arg: u8) -> Op {
        match opcode % 20 {
            // Checkout and checkin are the common case: give them more codes.
            0..=4 => Op::Checkout,
            5..=7 => Op::Checkin(arg),
            8 => Op::Invalidate(arg),
            9 => Op::SoftInvalidate(arg),
            10 => Op::Detach(arg),
            11 => Op::CloseDetached(arg),
            12 => Op::InvalidateAll,
            13 => Op::Dispose,
            14 => Op::Recreate,
            15 => Op::Advance(arg % 8),
            16 => Op::FailConnects(arg % 3),
            17 => match arg % 2 {
                0 => Op::FailResets((arg >> 1) % 3),
                _ => Op::FailPings((arg >> 1) % 3),
            },
            18 => Op::DisconnectPings(arg % 3),
            _ => Op::HookDisconnects(arg % 3),
        }
    }

    /// An opcode and argument that decode to this operation.
    pub fn encode(self) -> [u8; 2] {
        match self {
            Op::Checkout => [0, 0],
            Op::Checkin(n) => [5, n],
            Op::Invalidate(n) => [8, n],
            Op::SoftInvalidate(n) => [9, n],
            Op::Detach(n) => [10, n],
            Op::CloseDetached(n) => [11, n],
            Op::InvalidateAll => [12, 0],
            Op::Dispose => [13, 0],
            Op::Recreate => [14, 0],
            Op::Advance(n) => [15, n % 8],
            Op::FailConnects(n) => [16, n % 3],
            Op::FailResets(n) => [17, (n % 3) << 1],
            Op::FailPings(n) => [17, ((n % 3) << 1) | 1],
            Op::DisconnectPings(n) => [18, n % 3],
            Op::HookDisconnects(n) => [19, n % 3],
        }
    }
}

/// Splits an input into its configuration and at most [`MAX_OPS`] operations.
pub fn decode(data: &[u8]) -> (Config, Vec<Op>) {
    let config = Config::decode(data);
    let ops = data
        .get(4..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .take(MAX_OPS)
        .map(|pair| Op::decode(pair[0], pair[1]))
        .collect();
    (config, ops)
}

/// A checkout hook that answers "disconnected" when told to, and counters of what the pool
/// reported. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct ScriptedEvents {
    inner: Arc<EventsInner>,
}

#[derive(Debug, Default)]
struct EventsInner {
    hook_disconnects: AtomicUsize,
    first_connects: AtomicUsize,
    /// `connect` events minus `close` and `detach` events.
    live: AtomicUsize,
    /// The largest value `live` reached.
    max_live: AtomicUsize,
}

impl ScriptedEvents {
    /// Events whose hook accepts every connection.
    pub fn new() -> Self {
        Self::default()
    }
    /// The checkout hook answers "disconnected" the next `n` times.
    pub fn hook_disconnects(&self, n: usize) {
        self.inner.hook_disconnects.store(n, Ordering::SeqCst);
    }
    /// How many `first_connect` events fired.
    pub fn first_connects(&self) -> usize {
        self.inner.first_connects.load(Ordering::SeqCst)
    }
    /// Connections the events saw open and not yet closed or detached.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }
    /// The most connections the events ever saw live at once.
    pub fn max_live(&self) -> usize {
        self.inner.max_live.load(Ordering::SeqCst)
    }
    fn leave(&self) {
        self.inner.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Events<ScriptedConn> for ScriptedEvents {
    fn first_connect(&self, _conn: &mut ScriptedConn) {
        self.inner.first_connects.fetch_add(1, Ordering::SeqCst);
    }
    fn connect(&self, _conn: &mut ScriptedConn) {
        let live = self.inner.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.max_live.fetch_max(live, Ordering::SeqCst);
    }
    fn checkout(
        &self,
        _conn: &mut ScriptedConn,
        _event: &CheckoutEvent,
    ) -> Result<(), Disconnected> {
        let n = &self.inner.hook_disconnects;
        let mut cur = n.load(Ordering::SeqCst);
        while cur > 0 {
            match n.compare_exchange(cur, cur - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Err(Disconnected),
                Err(seen) => cur = seen,
            }
        }
        Ok(())
    }
    fn close(&self, _conn: &mut ScriptedConn, _reason: CloseReason) {
        self.leave();
    }
    fn detach(&self, _conn: &mut ScriptedConn) {
        self.leave();
    }
}

/// Where the real pool and the model first disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the operation (`ops.len()` for the final clean-up).
    pub step: usize,
    /// The operation, if any.
    pub op: Option<Op>,
    /// What differed.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Some(op) => write!(f, "step {} ({op:?}): {}", self.step, self.what),
            None => write!(f, "clean-up after step {}: {}", self.step, self.what),
        }
    }
}

/// What a run did, for tests that check their corpus exercises something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Connections opened.
    pub opened: usize,
    /// Connections closed (all of them, by the end of a run that did not diverge).
    pub closed: usize,
    /// Successful checkouts.
    pub checkouts: usize,
    /// Checkouts that would have blocked.
    pub would_block: usize,
    /// Checkouts that failed (connect error or "disconnected" twice).
    pub failed: usize,
    /// Pools built (1 + recreates), or 0 if the configuration is rejected.
    pub pools: usize,
}

// ---- the model ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct MConn {
    id: usize,
    /// The slot it lives in (what the affinity order hands out by).
    slot: usize,
    epoch: u64,
    born: u64,
    soft: bool,
    resets: usize,
}

#[derive(Debug, Default)]
struct MPool {
    idle: VecDeque<MConn>,
    /// Empty slots, the next one to use last: the heap storage's free stack. Only the
    /// affinity order's predictions read slots (a fixed pool hands out fresh slots first,
    /// which this does not model, and is always LIFO).
    free: Vec<usize>,
    /// Connections open (idle or out).
    open: usize,
    epoch: u64,
    /// Guards of this pool still held by the test.
    out: usize,
    first_done: bool,
    dropped: bool,
}

/// What a checkout gave, in the model and in the real pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Conn(usize),
    WouldBlock,
    Connect,
    Disconnected,
    Ping,
}

#[derive(Debug)]
struct Model {
    pool_size: usize,
    capacity: usize,
    /// Unlimited overflow (heap): no capacity, no slots.
    unlimited: bool,
    retain_nothing: bool,
    order: IdleOrder,
    pre_ping: bool,
    recycle: Option<u64>,
    reset: ResetMode,
    pools: Vec<MPool>,
    current: usize,
    held: Vec<(usize, MConn)>,
    detached: Vec<MConn>,
    now: u64,
    next_id: usize,
    opened: usize,
    resets: usize,
    pings: usize,
    first_connects: usize,
    fail_connects: usize,
    fail_resets: usize,
    fail_pings: usize,
    disconnect_pings: usize,
    hook_disconnects: usize,
    /// Close count per connection id.
    closes: Vec<u8>,
    /// Ids closed by the current operation.
    touched: Vec<usize>,
    /// The slot of the connection handed out last (the runner's `Hint`).
    hint: usize,
}

fn take(n: &mut usize) -> bool {
    if *n > 0 {
        *n -= 1;
        true
    } else {
        false
    }
}

impl MPool {
    fn new(capacity: usize) -> Self {
        MPool {
            free: (0..capacity).rev().collect(),
            ..MPool::default()
        }
    }

    /// Puts the idle connections in the order the affinity order's scans find them when
    /// starting from slot 0 (`dispose`, dropping the pool).
    fn sort_idle(&mut self, order: IdleOrder) {
        if order == IdleOrder::Affinity {
            self.idle.make_contiguous().sort_by_key(|c| c.slot);
        }
    }
}

impl Model {
    /// How many slots the pool has (none with unlimited overflow).
    fn slots(&self) -> usize {
        if self.unlimited {
            0
        } else {
            self.capacity
        }
    }

    /// How many may be idle: `pool_size`, or for `pool_size` 0 (no limit) every slot
    /// ([`UNBOUNDED_IDLE_CAP`] with unlimited overflow); none for a pool that keeps nothing.
    fn idle_bound(&self) -> usize {
        if self.retain_nothing {
            0
        } else if self.pool_size > 0 {
            self.pool_size
        } else if self.unlimited {
            UNBOUNDED_IDLE_CAP
        } else {
            self.capacity
        }
    }

    fn new(config: &Config) -> Self {
        let (pool_size, capacity, order) = config.effective();
        let mut m = Model {
            pool_size,
            capacity,
            unlimited: config.unlimited_heap(),
            retain_nothing: config.retain_nothing,
            order,
            pre_ping: config.pre_ping,
            recycle: config.recycle,
            reset: config.reset,
            pools: Vec::new(),
            current: 0,
            held: Vec::new(),
            detached: Vec::new(),
            now: 0,
            next_id: 1,
            opened: 0,
            resets: 0,
            pings: 0,
            first_connects: 0,
            fail_connects: 0,
            fail_resets: 0,
            fail_pings: 0,
            disconnect_pings: 0,
            hook_disconnects: 0,
            closes: Vec::new(),
            touched: Vec::new(),
            hint: 0,
        };
        m.pools.push(MPool::new(m.slots()));
        m
    }

    fn close(&mut self, conn: MConn) {
        if self.closes.len() <= conn.id {
            self.closes.resize(conn.id + 1, 0);
        }
        self.closes[conn.id] += 1;
        self.touched.push(conn.id);
    }

    fn closed(&self) -> usize {
        self.closes.iter().map(|&c| usize::from(c)).sum()
    }

    /// `Manager::connect` into pool `p` (whose capacity is already counted), in `slot`.
    fn connect(&mut self, p: usize, slot: usize) -> Option<MConn> {
        if take(&mut self.fail_connects) {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.opened += 1;
        if !self.pools[p].first_done {
            self.pools[p].first_done = true;
            self.first_connects += 1;
        }
        Some(MConn {
            id,
            slot,
            epoch: self.pools[p].epoch,
            born: if self.recycle.is_some() { self.now } else { 0 },
            soft: false,
            resets: 0,
        })
    }

    /// Pops an idle connection of pool `p`, the affinity order starting at slot `hint`.
    fn pop_idle(&mut self, p: usize, hint: usize) -> Option<MConn> {
        match self.order {
            IdleOrder::Fifo => self.pools[p].idle.pop_front(),
            IdleOrder::Lifo => self.pools[p].idle.pop_back(),
            IdleOrder::Affinity => {
                let n = self.capacity;
                let idle = &mut self.pools[p].idle;
                let first = (0..idle.len()).min_by_key(|&k| (idle[k].slot + n - hint) % n);
                first.and_then(|k| idle.remove(k))
            }
        }
    }

    fn checkout(&mut self) -> Outcome {
        let p = self.current;
        let hint = self.hint;
        if let Some(conn) = self.pop_idle(p, hint) {
            return self.lend_idle(p, conn);
        }
        if self.unlimited {
            // Every connection lives in an overflow entry of its own: no slot.
            self.pools[p].open += 1;
            return self.replace(p, usize::MAX);
        }
        if self.pools[p].open >= self.capacity {
            return Outcome::WouldBlock;
        }
        self.pools[p].open += 1;
        let slot = self.pools[p]
            .free
            .pop()
            .expect("a free slot for every unit of capacity");
        self.replace(p, slot)
    }

    /// Lends an idle connection: replaced if stale or too old; with pre-ping, pinged. A ping
    /// that fails (not a disconnect) closes it and fails the checkout; a disconnect bumps the
    /// epoch (the connection is current: the generation rule bumps) and replaces it.
    fn lend_idle(&mut self, p: usize, conn: MConn) -> Outcome {
        let too_old = self
            .recycle
            .is_some_and(|age| self.now.saturating_sub(conn.born) > age);
        if conn.epoch != self.pools[p].epoch || too_old {
            self.close(conn);
            return self.replace(p, conn.slot);
        }
        if self.pre_ping {
            self.pings += 1;
            let disconnect = take(&mut self.disconnect_pings);
            if disconnect || take(&mut self.fail_pings) {
                self.close(conn);
                if !disconnect {
                    self.free_slot(p, conn.slot);
                    return Outcome::Ping;
                }
                self.pools[p].epoch += 1;
                return self.replace(p, conn.slot);
            }
        }
        self.hand_out(p, conn)
    }

    /// Gives up a connection's slot and its capacity in pool `p` (after a close, a detach or
    /// a failed connect).
    fn free_slot(&mut self, p: usize, slot: usize) {
        self.pools[p].open -= 1;
        if !self.unlimited {
            self.pools[p].free.push(slot);
        }
    }

    /// Opens a connection in capacity already counted for pool `p`, in `slot`, and hands it
    /// out.
    fn replace(&mut self, p: usize, slot: usize) -> Outcome {
        match self.connect(p, slot) {
            Some(conn) => self.hand_out(p, conn),
            None => {
                self.free_slot(p, slot);
                Outcome::Connect
            }
        }
    }

    fn hand_out(&mut self, p: usize, mut conn: MConn) -> Outcome {
        let mut attempt = 0;
        loop {
            if !take(&mut self.hook_disconnects) {
                self.held.push((p, conn));
                self.pools[p].out += 1;
                self.hint = conn.slot;
                return Outcome::Conn(conn.id);
            }
            self.close(conn);
            if attempt == 1 {
                self.free_slot(p, conn.slot);
                return Outcome::Disconnected;
            }
            match self.connect(p, conn.slot) {
                Some(fresh) => conn = fresh,
                None => {
                    self.free_slot(p, conn.slot);
                    return Outcome::Connect;
                }
            }
            attempt += 1;
        }
    }

    /// Takes the held connection the argument picks, if any.
    fn pick(&mut self, n: u8) -> Option<(usize, MConn)> {
        if self.held.is_empty() {
            return None;
        }
        let k = usize::from(n) % self.held.len();
        let (p, conn) = self.held.remove(k);
        self.pools[p].out -= 1;
        Some((p, conn))
    }

    /// `close_detached`: the connection is reset first (per the reset mode; a failed reset
    /// changes nothing), then closed.
    fn close_detached(&mut self, conn: MConn) {
        if self.reset != ResetMode::None {
            self.resets += 1;
            take(&mut self.fail_resets);
        }
        self.close(conn);
    }

    /// Closes a connection that leaves pool `p`.
    fn close_out(&mut self, p: usize, conn: MConn) {
        self.close(conn);
        self.free_slot(p, conn.slot);
    }

    /// Returns `Err(())` where the reset failed.
    fn checkin(&mut self, p: usize, mut conn: MConn) -> Result<(), ()> {
        let mut result = Ok(());
        if self.reset != ResetMode::None {
            self.resets += 1;
            if take(&mut self.fail_resets) {
                self.close_out(p, conn);
                result = Err(());
            } else {
                conn.resets += 1;
            }
        }
        if result.is_ok() {
            if conn.soft || conn.epoch != self.pools[p].epoch {
                self.close_out(p, conn);
            } else if self.pools[p].idle.len() < self.idle_bound() {
                self.pools[p].idle.push_back(conn);
            } else {
                self.close_out(p, conn);
            }
        }
        self.maybe_drop(p);
        result
    }

    fn maybe_drop(&mut self, p: usize) {
        if p != self.current && self.pools[p].out == 0 && !self.pools[p].dropped {
            self.drop_pool(p);
        }
    }

    fn drop_pool(&mut self, p: usize) {
        self.pools[p].dropped = true;
        self.pools[p].sort_idle(self.order);
        while let Some(conn) = self.pools[p].idle.pop_front() {
            self.close_out(p, conn);
        }
    }

    fn dispose(&mut self) {
        let p = self.current;
        self.pools[p].epoch += 1;
        self.pools[p].sort_idle(self.order);
        while let Some(conn) = self.pools[p].idle.pop_front() {
            self.close_out(p, conn);
        }
    }

    fn recreate(&mut self) {
        let old = self.current;
        self.pools.push(MPool::new(self.slots()));
        self.current = self.pools.len() - 1;
        self.maybe_drop(old);
    }
}

// ---- the real pool -----------------------------------------------------------------------

type TestPool<S> = RawPool<ScriptedManager, ScriptedEvents, ManualClock, (), S>;
type HeapPool = TestPool<HeapStorage<ScriptedConn, ()>>;
type FixedTestPool = TestPool<ArrayStorage<ScriptedConn, (), FIXED_SLOTS>>;

/// The shared parts every pool of one run is built from.
#[derive(Debug, Clone, Default)]
struct Parts {
    manager: ScriptedManager,
    events: ScriptedEvents,
    clock: ManualClock,
}

fn build_heap(parts: &Parts, config: &Config) -> Result<HeapPool, BuildError> {
    Builder::new(parts.manager.clone())
        .events(parts.events.clone())
        .clock(parts.clock.clone())
        .settings(config.settings())
        .build()
}

fn build_fixed(parts: &Parts, config: &Config) -> FixedTestPool {
    RawPool::with_parts(
        parts.manager.clone(),
        parts.events.clone(),
        parts.clock.clone(),
        config.settings(),
    )
}

/// Runs `ops` on a real pool and on the model, and returns the first divergence.
///
/// At the end every held connection is returned, every detached one closed and every pool
/// dropped; then every connection ever opened must have been closed exactly once.
///
/// # Errors
///
/// The first [`Divergence`] between the pool and the model.
pub fn run_ops(config: &Config, ops: &[Op]) -> Result<Report, Divergence> {
    let parts = Parts::default();
    match config.storage {
        StorageKind::Heap => {
            let expected = if config.pool_size + config.max_overflow == 0 && !config.unlimited {
                Err(BuildError::ZeroCapacity)
            } else if (config.order == IdleOrder::Fifo || config.unlimited) && cfg!(tarn_loom) {
                Err(BuildError::FifoUnavailable)
            } else {
                Ok(())
            };
            let built = build_heap(&parts, config);
            match (built, expected) {
                (Ok(pool), Ok(())) => Runner::new(config, parts, pool).run(ops),
                (Err(got), Err(want)) if got == want => Ok(Report::default()),
                (got, want) => Err(Divergence {
                    step: 0,
                    op: None,
                    what: format!("build gave {:?}, the model says {want:?}", got.err()),
                }),
            }
        }
        StorageKind::Fixed => {
            let pool = build_fixed(&parts, config);
            Runner::new(config, parts, pool).run(ops)
        }
    }
}

struct Runner<S: Storage<ScriptedConn, ()>> {
    config: Config,
    parts: Parts,
    pool: Arc<TestPool<S>>,
    held: Vec<Pooled<Arc<TestPool<S>>>>,
    detached: Vec<ScriptedConn>,
    /// Kept across checkouts, as a thread would (the affinity order starts from it).
    hint: Hint,
    model: Model,
    report: Report,
}

impl<S: Storage<ScriptedConn, ()>> Runner<S> {
    fn new(config: &Config, parts: Parts, pool: TestPool<S>) -> Self {
        Runner {
            config: *config,
            parts,
            pool: Arc::new(pool),
            held: Vec::new(),
            detached: Vec::new(),
            hint: Hint::new(),
            model: Model::new(config),
            report: Report {
                pools: 1,
                ..Report::default()
            },
        }
    }

    fn rebuild(&self) -> TestPool<S>
    where
        S: Rebuild,
    {
        S::rebuild(&self.parts, &self.config)
    }

    fn run(mut self, ops: &[Op]) -> Result<Report, Divergence>
    where
        S: Rebuild,
    {
        for (step, &op) in ops.iter().enumerate() {
            let fail = |what: String| Divergence {
                step,
                op: Some(op),
                what,
            };
            self.model.touched.clear();
            self.step(op).map_err(fail)?;
            self.compare().map_err(fail)?;
        }
        let fail = |what: String| Divergence {
            step: ops.len(),
            op: None,
            what,
        };
        self.finish().map_err(fail)
    }

    fn step(&mut self, op: Op) -> Result<(), String>
    where
        S: Rebuild,
    {
        let m = &mut self.model;
        let parts = &self.parts;
        match op {
            Op::Checkout => {
                let want = m.checkout();
                let got =
                    match RawPool::try_checkout_in_hinted(Arc::clone(&self.pool), &mut self.hint) {
                        Ok(conn) => {
                            let id = conn.id;
                            let resets = conn.resets;
                            let soft = Pooled::is_soft_invalidated(&conn);
                            self.held.push(conn);
                            if let Outcome::Conn(_) = want {
                                let (_, mc) = m.held[m.held.len() - 1];
                                if resets != mc.resets || soft {
                                    return Err(format!(
                                    "connection {id} has {resets} resets (model {}), soft {soft}",
                                    mc.resets
                                ));
                                }
                            }
                            Outcome::Conn(id)
                        }
                        Err(CheckoutError::WouldBlock) => Outcome::WouldBlock,
                        Err(CheckoutError::Connect(ScriptedError::Connect)) => Outcome::Connect,
                        Err(CheckoutError::Disconnected) => Outcome::Disconnected,
                        Err(CheckoutError::Ping(ScriptedError::Ping)) => Outcome::Ping,
                        Err(e) => return Err(format!("unexpected checkout error {e:?}")),
                    };
                match got {
                    Outcome::Conn(_) => self.report.checkouts += 1,
                    Outcome::WouldBlock => self.report.would_block += 1,
                    _ => self.report.failed += 1,
                }
                if got != want {
                    return Err(format!("checkout gave {got:?}, the model says {want:?}"));
                }
            }
            Op::Checkin(n) => {
                if let Some((p, conn)) = m.pick(n) {
                    let want = m.checkin(p, conn);
                    let got = Pooled::checkin(self.held.remove(usize::from(n) % (self.held.len())));
                    let got = got.map_err(|_| ());
                    if got != want {
                        return Err(format!("checkin gave {got:?}, the model says {want:?}"));
                    }
                }
            }
            Op::Invalidate(n) => {
                if let Some((p, conn)) = m.pick(n) {
                    m.close_out(p, conn);
                    m.maybe_drop(p);
                    Pooled::invalidate(self.held.remove(usize::from(n) % self.held.len()));
                }
            }
            Op::SoftInvalidate(n) => {
                if !m.held.is_empty() {
                    let k = usize::from(n) % m.held.len();
                    m.held[k].1.soft = true;
                    Pooled::soft_invalidate(&mut self.held[k]);
                }
            }
            Op::Detach(n) => {
                if let Some((p, conn)) = m.pick(n) {
                    m.free_slot(p, conn.slot);
                    m.detached.push(conn);
                    m.maybe_drop(p);
                    let raw = Pooled::detach(self.held.remove(usize::from(n) % self.held.len()));
                    self.detached.push(raw);
                }
            }
            Op::CloseDetached(n) => {
                if !m.detached.is_empty() {
                    let k = usize::from(n) % m.detached.len();
                    let conn = m.detached.remove(k);
                    m.close_detached(conn);
                    self.pool.close_detached(self.detached.remove(k));
                }
            }
            Op::InvalidateAll => {
                let p = m.current;
                m.pools[p].epoch += 1;
                self.pool.invalidate_all();
            }
            Op::Dispose => {
                m.dispose();
                self.pool.dispose();
            }
            Op::Recreate => {
                m.recreate();
                self.report.pools += 1;
                self.pool = Arc::new(self.rebuild());
            }
            Op::Advance(t) => {
                m.now += u64::from(t);
                parts.clock.advance(usize::from(t));
            }
            Op::FailConnects(n) => {
                m.fail_connects = usize::from(n);
                parts.manager.fail_connects(usize::from(n));
            }
            Op::FailResets(n) => {
                m.fail_resets = usize::from(n);
                parts.manager.fail_resets(usize::from(n));
            }
            Op::FailPings(n) => {
                m.fail_pings = usize::from(n);
                parts.manager.fail_pings(usize::from(n));
            }
            Op::DisconnectPings(n) => {
                m.disconnect_pings = usize::from(n);
                parts.manager.disconnect_pings(usize::from(n));
            }
            Op::HookDisconnects(n) => {
                m.hook_disconnects = usize::from(n);
                parts.events.hook_disconnects(usize::from(n));
            }
        }
        Ok(())
    }

    /// Compares everything observable after one operation.
    fn compare(&self) -> Result<(), String> {
        let m = &self.model;
        let manager = &self.parts.manager;
        let state = self.pool.state();
        let mp = &m.pools[m.current];
        let want = (mp.open, mp.idle.len(), mp.open - mp.idle.len());
        let got = (state.open, state.idle, state.checked_out);
        if got != want {
            return Err(format!(
                "state (open, idle, checked out) is {got:?}, the model says {want:?}"
            ));
        }
        let counters =
            |opened, closed, resets, pings, first| (opened, closed, resets, pings, first);
        let got = counters(
            manager.opened(),
            manager.closed(),
            manager.resets(),
            manager.pings(),
            self.parts.events.first_connects(),
        );
        let want = counters(m.opened, m.closed(), m.resets, m.pings, m.first_connects);
        if got != want {
            return Err(format!(
                "(opened, closed, resets, pings, first connects) is {got:?}, the model says {want:?}"
            ));
        }
        for &id in &m.touched {
            let (got, want) = (manager.close_count(id), m.closes[id]);
            if got != want {
                return Err(format!(
                    "connection {id} was closed {got} times, the model says {want}"
                ));
            }
        }
        let got: Vec<usize> = self.held.iter().map(|c| c.id).collect();
        let want: Vec<usize> = m.held.iter().map(|(_, c)| c.id).collect();
        if got != want {
            return Err(format!(
                "the held connections are {got:?}, the model says {want:?}"
            ));
        }
        Ok(())
    }

    /// Returns everything, drops every pool, and checks that every connection was closed
    /// exactly once.
    fn finish(mut self) -> Result<Report, String> {
        self.model.touched.clear();
        while !self.held.is_empty() {
            let (p, conn) = self.model.pick(0).expect("the model holds as many");
            let want = self.model.checkin(p, conn);
            let got = Pooled::checkin(self.held.remove(0)).map_err(|_| ());
            if got != want {
                return Err(format!("checkin gave {got:?}, the model says {want:?}"));
            }
        }
        while let Some(conn) = self.model.detached.pop() {
            self.model.close_detached(conn);
            let raw = self.detached.pop().expect("the model holds as many");
            self.pool.close_detached(raw);
        }
        self.compare()?;
        let current = self.model.current;
        self.model.drop_pool(current);
        drop(self.pool);
        let manager = &self.parts.manager;
        for id in 1..self.model.next_id {
            let (got, want) = (manager.close_count(id), self.model.closes.get(id).copied());
            if got != 1 || want != Some(1) {
                return Err(format!(
                    "connection {id} was closed {got} times (the model says {want:?}), not once"
                ));
            }
        }
        if manager.opened() != self.model.opened || manager.closed() != manager.opened() {
            return Err(format!(
                "opened {} (the model says {}), closed {}",
                manager.opened(),
                self.model.opened,
                manager.closed()
            ));
        }
        self.report.opened = manager.opened();
        self.report.closed = manager.closed();
        Ok(self.report)
    }
}

/// How a runner builds a new pool of the same kind (for [`Op::Recreate`]).
trait Rebuild: Storage<ScriptedConn, ()> + Sized {
    fn rebuild(parts: &Parts, config: &Config) -> TestPool<Self>;
}

impl Rebuild for HeapStorage<ScriptedConn, ()> {
    fn rebuild(parts: &Parts, config: &Config) -> HeapPool {
        // The first build of the same configuration succeeded.
        build_heap(parts, config).expect("a configuration that built once builds again")
    }
}

impl Rebuild for ArrayStorage<ScriptedConn, (), FIXED_SLOTS> {
    fn rebuild(parts: &Parts, config: &Config) -> FixedTestPool {
        build_fixed(parts, config)
    }
}

// ---- the concurrent runner ---------------------------------------------------------------

enum AnyTestPool {
    Heap(Box<HeapPool>),
    Fixed(Box<FixedTestPool>),
}

/// One pool driven from several threads, with the invariants every interleaving must keep.
///
/// The caller spawns the threads (tarn-core does not know about threads):
///
/// ```
/// use tarn_model::Concurrent;
///
/// let input = [0b0000_1010, 0, 0, 1, 0, 0, 0, 0, 5, 0, 0, 0, 5, 0, 8, 0];
/// if let Some(run) = Concurrent::new(&input) {
///     std::thread::scope(|s| {
///         for t in 0..run.threads() {
///             let run = &run;
///             s.spawn(move || run.run_thread(t));
///         }
///     });
///     run.finish();
/// }
/// ```
pub struct Concurrent {
    config: Config,
    capacity: usize,
    per_thread: Vec<Vec<Op>>,
    parts: Parts,
    pool: AnyTestPool,
    /// 1 while some thread holds the connection with that id.
    holders: Box<[AtomicU8]>,
}

impl fmt::Debug for Concurrent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Concurrent")
            .field("config", &self.config)
            .field("per_thread", &self.per_thread)
            .finish_non_exhaustive()
    }
}

impl Concurrent {
    /// Decodes an input (as [`decode`]); operation `i` goes to thread `i % threads`.
    /// `None` if the configuration cannot be built (zero capacity).
    pub fn new(data: &[u8]) -> Option<Self> {
        let (config, ops) = decode(data);
        let parts = Parts::default();
        let pool = match config.storage {
            StorageKind::Heap => AnyTestPool::Heap(Box::new(build_heap(&parts, &config).ok()?)),
            StorageKind::Fixed => AnyTestPool::Fixed(Box::new(build_fixed(&parts, &config))),
        };
        let mut per_thread = vec![Vec::new(); config.threads];
        for (i, op) in ops.into_iter().enumerate() {
            per_thread[i % config.threads].push(op);
        }
        Some(Concurrent {
            capacity: config.effective().1,
            config,
            per_thread,
            parts,
            pool,
            holders: (0..MAX_IDS).map(|_| AtomicU8::new(0)).collect(),
        })
    }

    /// How many threads to run ([`run_thread`](Self::run_thread) `0..threads()`).
    pub fn threads(&self) -> usize {
        self.config.threads
    }

    /// Runs thread `t`'s operations, and at the end returns what it still holds.
    ///
    /// # Panics
    ///
    /// When an invariant breaks (a connection handed out twice, too many open).
    pub fn run_thread(&self, t: usize) {
        match &self.pool {
            AnyTestPool::Heap(pool) => self.drive(pool, t),
            AnyTestPool::Fixed(pool) => self.drive(pool, t),
        }
    }

    fn release(&self, id: usize) {
        if let Some(h) = self.holders.get(id) {
            h.store(0, Ordering::SeqCst);
        }
    }

    fn check_live(&self) {
        let max = self.parts.events.max_live();
        assert!(
            max <= self.capacity,
            "{max} connections were open at once, above pool_size + max_overflow = {}",
            self.capacity
        );
    }

    /// Takes the held connection the argument picks, if any, and marks it unheld.
    fn pick<'p, S: Storage<ScriptedConn, ()>>(
        &self,
        held: &mut Vec<Pooled<&'p TestPool<S>>>,
        n: u8,
    ) -> Option<Pooled<&'p TestPool<S>>> {
        if held.is_empty() {
            return None;
        }
        let conn = held.remove(usize::from(n) % held.len());
        self.release(conn.id);
        Some(conn)
    }

    fn drive<S: Storage<ScriptedConn, ()>>(&self, pool: &TestPool<S>, t: usize) {
        let parts = &self.parts;
        let mut held: Vec<Pooled<&TestPool<S>>> = Vec::new();
        let mut hint = Hint::new();
        for &op in &self.per_thread[t] {
            match op {
                Op::Checkout => {
                    if let Ok(conn) = pool.try_checkout_hinted(&mut hint) {
                        let id = conn.id;
                        let holder = self.holders.get(id).expect("ids stay below MAX_IDS");
                        assert_eq!(
                            holder.swap(1, Ordering::SeqCst),
                            0,
                            "connection {id} was handed out while another thread held it"
                        );
                        held.push(conn);
                    }
                }
                Op::Checkin(n) => {
                    if let Some(conn) = self.pick(&mut held, n) {
                        let _ = Pooled::checkin(conn);
                    }
                }
                Op::Invalidate(n) => {
                    if let Some(conn) = self.pick(&mut held, n) {
                        Pooled::invalidate(conn);
                    }
                }
                Op::SoftInvalidate(n) => {
                    if !held.is_empty() {
                        let k = usize::from(n) % held.len();
                        Pooled::soft_invalidate(&mut held[k]);
                    }
                }
                Op::Detach(n) | Op::CloseDetached(n) => {
                    if let Some(conn) = self.pick(&mut held, n) {
                        pool.close_detached(Pooled::detach(conn));
                    }
                }
                Op::InvalidateAll => pool.invalidate_all(),
                Op::Dispose | Op::Recreate => pool.dispose(),
                Op::Advance(n) => parts.clock.advance(usize::from(n)),
                Op::FailConnects(n) => parts.manager.fail_connects(usize::from(n)),
                Op::FailResets(n) => parts.manager.fail_resets(usize::from(n)),
                Op::FailPings(n) => parts.manager.fail_pings(usize::from(n)),
                Op::DisconnectPings(n) => parts.manager.disconnect_pings(usize::from(n)),
                Op::HookDisconnects(n) => parts.events.hook_disconnects(usize::from(n)),
            }
            self.check_live();
        }
        for conn in held.drain(..) {
            self.release(conn.id);
            drop(conn);
        }
        self.check_live();
    }

    /// After every thread finished: checks the counts at quiescence, disposes the pool, and
    /// checks that every connection opened was closed exactly once.
    ///
    /// # Panics
    ///
    /// When an invariant breaks.
    pub fn finish(self) {
        let (state, config) = match &self.pool {
            AnyTestPool::Heap(pool) => (pool.state(), pool.settings().pool_size),
            AnyTestPool::Fixed(pool) => (pool.state(), pool.settings().pool_size),
        };
        // `pool_size` 0: no idle limit beyond the slots.
        let config = if config == 0 { usize::MAX } else { config };
        let manager = &self.parts.manager;
        assert_eq!(
            state.checked_out, 0,
            "nothing is out at quiescence: {state:?}"
        );
        assert!(state.idle <= config, "more idle than pool_size: {state:?}");
        assert_eq!(
            manager.open(),
            state.open,
            "the manager's open connections vs {state:?}"
        );
        assert_eq!(
            self.parts.events.live(),
            state.open,
            "live connections vs {state:?}"
        );
        match &self.pool {
            AnyTestPool::Heap(pool) => pool.dispose(),
            AnyTestPool::Fixed(pool) => pool.dispose(),
        }
        let state = match &self.pool {
            AnyTestPool::Heap(pool) => pool.state(),
            AnyTestPool::Fixed(pool) => pool.state(),
        };
        assert_eq!(
            state.open, 0,
            "dispose with nothing out closes everything: {state:?}"
        );
        drop(self.pool);
        manager.assert_all_closed_once(0);
    }
}
