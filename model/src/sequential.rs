//! The sequential model: the pool's rules, written from the rules, not from the code.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(crate) struct MConn {
    pub(crate) id: usize,
    /// The slot it lives in (what the affinity order hands out by).
    pub(crate) slot: usize,
    pub(crate) epoch: u64,
    pub(crate) born: u64,
    pub(crate) soft: bool,
    pub(crate) resets: usize,
}

#[derive(Debug, Default)]
pub(crate) struct MPool {
    pub(crate) idle: VecDeque<MConn>,
    /// Empty slots, the next one to use last: the heap storage's free stack. Only the
    /// affinity order's predictions read slots (a fixed pool hands out fresh slots first,
    /// which this does not model, and is always LIFO).
    pub(crate) free: Vec<usize>,
    /// Connections open (idle or out).
    pub(crate) open: usize,
    pub(crate) epoch: u64,
    /// Guards of this pool still held by the test.
    pub(crate) out: usize,
    pub(crate) first_done: bool,
    pub(crate) dropped: bool,
}

/// What a checkout gave, in the model and in the real pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Conn(usize),
    WouldBlock,
    Connect,
    Disconnected,
    Ping,
}

#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) pool_size: usize,
    pub(crate) capacity: usize,
    /// Unlimited overflow (heap): no capacity, no slots.
    pub(crate) unlimited: bool,
    pub(crate) retain_nothing: bool,
    pub(crate) order: IdleOrder,
    pub(crate) pre_ping: bool,
    pub(crate) recycle: Option<u64>,
    pub(crate) reset: ResetMode,
    pub(crate) pools: Vec<MPool>,
    pub(crate) current: usize,
    pub(crate) held: Vec<(usize, MConn)>,
    pub(crate) detached: Vec<MConn>,
    pub(crate) now: u64,
    pub(crate) next_id: usize,
    pub(crate) opened: usize,
    pub(crate) resets: usize,
    pub(crate) pings: usize,
    pub(crate) first_connects: usize,
    pub(crate) fail_connects: usize,
    pub(crate) fail_resets: usize,
    pub(crate) fail_pings: usize,
    pub(crate) disconnect_pings: usize,
    pub(crate) hook_disconnects: usize,
    /// Close count per connection id.
    pub(crate) closes: Vec<u8>,
    /// Ids closed by the current operation.
    pub(crate) touched: Vec<usize>,
    /// The slot of the connection handed out last (the runner's `Hint`).
    pub(crate) hint: usize,
}

pub(crate) fn take(n: &mut usize) -> bool {
    if *n > 0 {
        *n -= 1;
        true
    } else {
        false
    }
}

impl MPool {
    pub(crate) fn new(capacity: usize) -> Self {
        MPool {
            free: (0..capacity).rev().collect(),
            ..MPool::default()
        }
    }

    /// Puts the idle connections in the order the affinity order's scans find them when
    /// starting from slot 0 (`dispose`, dropping the pool).
    pub(crate) fn sort_idle(&mut self, order: IdleOrder) {
        if order == IdleOrder::Affinity {
            self.idle.make_contiguous().sort_by_key(|c| c.slot);
        }
    }
}

impl Model {
    /// How many slots the pool has (none with unlimited overflow).
    pub(crate) fn slots(&self) -> usize {
        if self.unlimited {
            0
        } else {
            self.capacity
        }
    }

    /// How many may be idle: `pool_size`, or for `pool_size` 0 (no limit) every slot
    /// ([`UNBOUNDED_IDLE_CAP`] with unlimited overflow); none for a pool that keeps nothing.
    pub(crate) fn idle_bound(&self) -> usize {
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

    pub(crate) fn new(config: &Config) -> Self {
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

    pub(crate) fn close(&mut self, conn: MConn) {
        if self.closes.len() <= conn.id {
            self.closes.resize(conn.id + 1, 0);
        }
        self.closes[conn.id] += 1;
        self.touched.push(conn.id);
    }

    pub(crate) fn closed(&self) -> usize {
        self.closes.iter().map(|&c| usize::from(c)).sum()
    }

    /// `Manager::connect` into pool `p` (whose capacity is already counted), in `slot`.
    pub(crate) fn connect(&mut self, p: usize, slot: usize) -> Option<MConn> {
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
    pub(crate) fn pop_idle(&mut self, p: usize, hint: usize) -> Option<MConn> {
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

    pub(crate) fn checkout(&mut self) -> Outcome {
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
    pub(crate) fn lend_idle(&mut self, p: usize, conn: MConn) -> Outcome {
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
    pub(crate) fn free_slot(&mut self, p: usize, slot: usize) {
        self.pools[p].open -= 1;
        if !self.unlimited {
            self.pools[p].free.push(slot);
        }
    }

    /// Opens a connection in capacity already counted for pool `p`, in `slot`, and hands it
    /// out.
    pub(crate) fn replace(&mut self, p: usize, slot: usize) -> Outcome {
        match self.connect(p, slot) {
            Some(conn) => self.hand_out(p, conn),
            None => {
                self.free_slot(p, slot);
                Outcome::Connect
            }
        }
    }

    pub(crate) fn hand_out(&mut self, p: usize, mut conn: MConn) -> Outcome {
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
    pub(crate) fn pick(&mut self, n: u8) -> Option<(usize, MConn)> {
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
    pub(crate) fn close_detached(&mut self, conn: MConn) {
        if self.reset != ResetMode::None {
            self.resets += 1;
            take(&mut self.fail_resets);
        }
        self.close(conn);
    }

    /// Closes a connection that leaves pool `p`.
    pub(crate) fn close_out(&mut self, p: usize, conn: MConn) {
        self.close(conn);
        self.free_slot(p, conn.slot);
    }

    /// Returns `Err(())` where the reset failed.
    pub(crate) fn checkin(&mut self, p: usize, mut conn: MConn) -> Result<(), ()> {
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

    pub(crate) fn maybe_drop(&mut self, p: usize) {
        if p != self.current && self.pools[p].out == 0 && !self.pools[p].dropped {
            self.drop_pool(p);
        }
    }

    pub(crate) fn drop_pool(&mut self, p: usize) {
        self.pools[p].dropped = true;
        self.pools[p].sort_idle(self.order);
        while let Some(conn) = self.pools[p].idle.pop_front() {
            self.close_out(p, conn);
        }
    }

    pub(crate) fn dispose(&mut self) {
        let p = self.current;
        self.pools[p].epoch += 1;
        self.pools[p].sort_idle(self.order);
        while let Some(conn) = self.pools[p].idle.pop_front() {
            self.close_out(p, conn);
        }
    }

    pub(crate) fn recreate(&mut self) {
        let old = self.current;
        self.pools.push(MPool::new(self.slots()));
        self.current = self.pools.len() - 1;
        self.maybe_drop(old);
    }
}

// ---- the real pool -----------------------------------------------------------------------

pub(crate) type TestPool<S> = RawPool<ScriptedManager, ScriptedEvents, ManualClock, (), S>;
pub(crate) type HeapPool = TestPool<HeapStorage<ScriptedConn, ()>>;
pub(crate) type FixedTestPool = TestPool<ArrayStorage<ScriptedConn, (), FIXED_SLOTS>>;
