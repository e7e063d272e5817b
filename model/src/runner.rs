//! The sequential runner: a real pool and the model through the same operations.

use super::*;

/// The shared parts every pool of one run is built from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parts {
    pub(crate) manager: ScriptedManager,
    pub(crate) events: ScriptedEvents,
    pub(crate) clock: ManualClock,
}

pub(crate) fn build_heap(parts: &Parts, config: &Config) -> Result<HeapPool, BuildError> {
    Builder::new(parts.manager.clone())
        .events(parts.events.clone())
        .clock(parts.clock.clone())
        .settings(config.settings())
        .build()
}

pub(crate) fn build_fixed(parts: &Parts, config: &Config) -> FixedTestPool {
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

pub(crate) struct Runner<S: Storage<ScriptedConn, ()>> {
    pub(crate) config: Config,
    pub(crate) parts: Parts,
    pub(crate) pool: Arc<TestPool<S>>,
    pub(crate) held: Vec<Pooled<Arc<TestPool<S>>>>,
    pub(crate) detached: Vec<ScriptedConn>,
    /// Kept across checkouts, as a thread would (the affinity order starts from it).
    pub(crate) hint: Hint,
    pub(crate) model: Model,
    pub(crate) report: Report,
}

impl<S: Storage<ScriptedConn, ()>> Runner<S> {
    pub(crate) fn new(config: &Config, parts: Parts, pool: TestPool<S>) -> Self {
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

    pub(crate) fn rebuild(&self) -> TestPool<S>
    where
        S: Rebuild,
    {
        S::rebuild(&self.parts, &self.config)
    }

    pub(crate) fn run(mut self, ops: &[Op]) -> Result<Report, Divergence>
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

    pub(crate) fn step(&mut self, op: Op) -> Result<(), String>
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
    pub(crate) fn compare(&self) -> Result<(), String> {
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
    pub(crate) fn finish(mut self) -> Result<Report, String> {
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
pub(crate) trait Rebuild: Storage<ScriptedConn, ()> + Sized {
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
