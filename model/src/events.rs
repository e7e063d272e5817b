//! The events the runners listen with: what they record of each connection.

use super::*;

/// A checkout hook that answers "disconnected" when told to, and counters of what the pool
/// reported. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct ScriptedEvents {
    pub(crate) inner: Arc<EventsInner>,
}

#[derive(Debug, Default)]
pub(crate) struct EventsInner {
    pub(crate) hook_disconnects: AtomicUsize,
    pub(crate) first_connects: AtomicUsize,
    /// `connect` events minus `close` and `detach` events.
    pub(crate) live: AtomicUsize,
    /// The largest value `live` reached.
    pub(crate) max_live: AtomicUsize,
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
    pub(crate) fn leave(&self) {
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
