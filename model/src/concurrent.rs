//! The concurrent runner: one pool from several threads, and what every interleaving keeps.

use super::*;

pub(crate) enum AnyTestPool {
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
    pub(crate) config: Config,
    pub(crate) capacity: usize,
    pub(crate) per_thread: Vec<Vec<Op>>,
    pub(crate) parts: Parts,
    pub(crate) pool: AnyTestPool,
    /// 1 while some thread holds the connection with that id.
    pub(crate) holders: Box<[AtomicU8]>,
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

    pub(crate) fn release(&self, id: usize) {
        if let Some(h) = self.holders.get(id) {
            h.store(0, Ordering::SeqCst);
        }
    }

    pub(crate) fn check_live(&self) {
        let max = self.parts.events.max_live();
        assert!(
            max <= self.capacity,
            "{max} connections were open at once, above pool_size + max_overflow = {}",
            self.capacity
        );
    }

    /// Takes the held connection the argument picks, if any, and marks it unheld.
    pub(crate) fn pick<'p, S: Storage<ScriptedConn, ()>>(
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

    pub(crate) fn drive<S: Storage<ScriptedConn, ()>>(&self, pool: &TestPool<S>, t: usize) {
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
