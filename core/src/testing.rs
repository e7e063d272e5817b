//! Test support: a [`ScriptedManager`] that records every call and fails on demand, and a
//! [`ManualClock`]. Used by tarn's own tests, loom models and fuzz targets; not part of the
//! stable API (feature `testing`).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;

use crate::clock::Clock;
use crate::manager::{Manager, ResetMode};
use crate::sync::{AtomicU8, AtomicUsize, Ordering};

/// How many distinct connection ids a [`ScriptedManager`] tracks close counts for.
const TRACKED: usize = 1 << 12;

/// A connection made by [`ScriptedManager`]: its id (1, 2, 3, … in order of opening).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ScriptedConn {
    /// Unique per manager, starting at 1.
    pub id: usize,
    /// How many times this connection was reset.
    pub resets: usize,
}

/// The error of a [`ScriptedManager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedError {
    /// A scripted connect failure.
    Connect,
    /// A scripted reset failure.
    Reset,
    /// A scripted ping failure that is not a disconnect.
    Ping,
    /// A scripted ping failure that means the server went away.
    Disconnect,
}

impl fmt::Display for ScriptedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "scripted connect failure",
            Self::Reset => "scripted reset failure",
            Self::Ping => "scripted ping failure",
            Self::Disconnect => "scripted disconnect",
        })
    }
}

impl core::error::Error for ScriptedError {}

struct Script {
    next_id: AtomicUsize,
    opened: AtomicUsize,
    closed: AtomicUsize,
    resets: AtomicUsize,
    pings: AtomicUsize,
    fail_connects: AtomicUsize,
    panic_connects: AtomicUsize,
    fail_resets: AtomicUsize,
    panic_resets: AtomicUsize,
    fail_pings: AtomicUsize,
    disconnect_pings: AtomicUsize,
    disconnect_resets: AtomicUsize,
    /// Close count per connection id (ids beyond `TRACKED` are counted in `untracked`).
    close_counts: Box<[AtomicU8]>,
    double_closes: AtomicUsize,
    connect_limit: AtomicUsize,
    reset_limit: AtomicUsize,
    ping_limit: AtomicUsize,
}

/// Encodes a limit a `*_within` call got: 0 = no call yet, 1 = `None`, `2 + n` = `n`
/// nanoseconds (saturating).
fn encode_limit(limit: Option<core::time::Duration>) -> usize {
    match limit {
        None => 1,
        Some(d) => usize::try_from(d.as_nanos())
            .unwrap_or(usize::MAX)
            .saturating_add(2),
    }
}

fn decode_limit(code: usize) -> Option<Option<core::time::Duration>> {
    match code {
        0 => None,
        1 => Some(None),
        n => Some(Some(core::time::Duration::from_nanos((n - 2) as u64))),
    }
}

/// A manager that records every call and fails when told to. Clones share one script.
///
/// # Examples
///
/// ```
/// use tarn_core::{Builder, CheckoutError, testing::{ScriptedManager, ScriptedError}};
///
/// let manager = ScriptedManager::new();
/// manager.fail_connects(1);
/// let pool = Builder::new(manager.clone()).build()?;
/// assert!(matches!(pool.try_checkout(), Err(CheckoutError::Connect(ScriptedError::Connect))));
/// assert_eq!(pool.state().open, 0, "a failed connect gives its capacity back");
/// assert!(pool.try_checkout().is_ok());
/// # Ok::<(), tarn_core::BuildError>(())
/// ```
#[derive(Clone)]
pub struct ScriptedManager {
    script: Arc<Script>,
}

impl fmt::Debug for ScriptedManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedManager")
            .field("opened", &self.opened())
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

impl Default for ScriptedManager {
    fn default() -> Self {
        Self::new()
    }
}

/// Takes one unit from a countdown, if any is left.
fn take_one(counter: &AtomicUsize) -> bool {
    let mut n = counter.load(Ordering::Relaxed);
    while n > 0 {
        match counter.compare_exchange(n, n - 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(seen) => n = seen,
        }
    }
    false
}

impl ScriptedManager {
    /// A manager whose every call succeeds.
    pub fn new() -> Self {
        ScriptedManager {
            script: Arc::new(Script {
                next_id: AtomicUsize::new(1),
                opened: AtomicUsize::new(0),
                closed: AtomicUsize::new(0),
                resets: AtomicUsize::new(0),
                pings: AtomicUsize::new(0),
                fail_connects: AtomicUsize::new(0),
                panic_connects: AtomicUsize::new(0),
                fail_resets: AtomicUsize::new(0),
                panic_resets: AtomicUsize::new(0),
                fail_pings: AtomicUsize::new(0),
                disconnect_pings: AtomicUsize::new(0),
                disconnect_resets: AtomicUsize::new(0),
                close_counts: (0..TRACKED).map(|_| AtomicU8::new(0)).collect(),
                double_closes: AtomicUsize::new(0),
                connect_limit: AtomicUsize::new(0),
                reset_limit: AtomicUsize::new(0),
                ping_limit: AtomicUsize::new(0),
            }),
        }
    }

    /// The next `n` connects fail with [`ScriptedError::Connect`].
    pub fn fail_connects(&self, n: usize) {
        self.script.fail_connects.store(n, Ordering::Relaxed);
    }
    /// The next `n` connects panic.
    pub fn panic_connects(&self, n: usize) {
        self.script.panic_connects.store(n, Ordering::Relaxed);
    }
    /// The next `n` resets fail with [`ScriptedError::Reset`].
    pub fn fail_resets(&self, n: usize) {
        self.script.fail_resets.store(n, Ordering::Relaxed);
    }
    /// The next `n` resets panic.
    pub fn panic_resets(&self, n: usize) {
        self.script.panic_resets.store(n, Ordering::Relaxed);
    }
    /// The next `n` pings fail with [`ScriptedError::Ping`].
    pub fn fail_pings(&self, n: usize) {
        self.script.fail_pings.store(n, Ordering::Relaxed);
    }
    /// The next `n` pings fail with [`ScriptedError::Disconnect`].
    pub fn disconnect_pings(&self, n: usize) {
        self.script.disconnect_pings.store(n, Ordering::Relaxed);
    }
    /// The next `n` resets fail with [`ScriptedError::Disconnect`].
    pub fn disconnect_resets(&self, n: usize) {
        self.script.disconnect_resets.store(n, Ordering::Relaxed);
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.script.opened.load(Ordering::SeqCst)
    }
    /// `close` calls so far.
    pub fn closed(&self) -> usize {
        self.script.closed.load(Ordering::SeqCst)
    }
    /// Connections open now (`opened - closed`).
    pub fn open(&self) -> usize {
        self.opened().saturating_sub(self.closed())
    }
    /// `reset` calls so far.
    pub fn resets(&self) -> usize {
        self.script.resets.load(Ordering::SeqCst)
    }
    /// `ping` calls so far.
    pub fn pings(&self) -> usize {
        self.script.pings.load(Ordering::SeqCst)
    }
    /// How many times connection `id` was closed (0 or 1 in a correct pool).
    pub fn close_count(&self, id: usize) -> u8 {
        self.script
            .close_counts
            .get(id)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
    /// The limit the last `connect_within` got (`None`: no connect yet; `Some(None)`: no
    /// limit).
    pub fn last_connect_limit(&self) -> Option<Option<core::time::Duration>> {
        decode_limit(self.script.connect_limit.load(Ordering::SeqCst))
    }
    /// The limit the last `reset_within` got, as [`last_connect_limit`](Self::last_connect_limit).
    pub fn last_reset_limit(&self) -> Option<Option<core::time::Duration>> {
        decode_limit(self.script.reset_limit.load(Ordering::SeqCst))
    }
    /// The limit the last `ping_within` got, as [`last_connect_limit`](Self::last_connect_limit).
    pub fn last_ping_limit(&self) -> Option<Option<core::time::Duration>> {
        decode_limit(self.script.ping_limit.load(Ordering::SeqCst))
    }
    /// Whether any connection was closed more than once.
    pub fn any_double_close(&self) -> bool {
        self.script.double_closes.load(Ordering::SeqCst) > 0
    }

    /// Checks that every connection opened so far was closed exactly once, except the
    /// `detached` ones the test holds or closed itself.
    ///
    /// # Panics
    ///
    /// With a message saying what is wrong, when it is (it is a test assertion).
    #[track_caller]
    pub fn assert_all_closed_once(&self, detached: usize) {
        assert!(!self.any_double_close(), "a connection was closed twice");
        let opened = self.opened();
        assert_eq!(
            self.closed() + detached,
            opened,
            "opened {opened}, closed {}, detached {detached}",
            self.closed()
        );
    }
}

impl Manager for ScriptedManager {
    type Connection = ScriptedConn;
    type Error = ScriptedError;

    fn connect(&self) -> Result<ScriptedConn, ScriptedError> {
        if take_one(&self.script.panic_connects) {
            panic!("scripted connect panic");
        }
        if take_one(&self.script.fail_connects) {
            return Err(ScriptedError::Connect);
        }
        let id = self.script.next_id.fetch_add(1, Ordering::SeqCst);
        self.script.opened.fetch_add(1, Ordering::SeqCst);
        Ok(ScriptedConn { id, resets: 0 })
    }

    fn reset(&self, conn: &mut ScriptedConn, _mode: ResetMode) -> Result<(), ScriptedError> {
        self.script.resets.fetch_add(1, Ordering::SeqCst);
        if take_one(&self.script.panic_resets) {
            panic!("scripted reset panic");
        }
        if take_one(&self.script.fail_resets) {
            return Err(ScriptedError::Reset);
        }
        if take_one(&self.script.disconnect_resets) {
            return Err(ScriptedError::Disconnect);
        }
        conn.resets += 1;
        Ok(())
    }

    fn close(&self, conn: ScriptedConn) {
        self.script.closed.fetch_add(1, Ordering::SeqCst);
        if let Some(count) = self.script.close_counts.get(conn.id) {
            if count.fetch_add(1, Ordering::SeqCst) >= 1 {
                self.script.double_closes.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn ping(&self, _conn: &mut ScriptedConn) -> Result<(), ScriptedError> {
        self.script.pings.fetch_add(1, Ordering::SeqCst);
        if take_one(&self.script.disconnect_pings) {
            return Err(ScriptedError::Disconnect);
        }
        if take_one(&self.script.fail_pings) {
            return Err(ScriptedError::Ping);
        }
        Ok(())
    }

    fn is_disconnect(&self, error: &ScriptedError) -> bool {
        *error == ScriptedError::Disconnect
    }

    fn connect_within(
        &self,
        limit: Option<core::time::Duration>,
    ) -> Result<ScriptedConn, ScriptedError> {
        let code = encode_limit(limit);
        self.script.connect_limit.store(code, Ordering::SeqCst);
        self.connect()
    }

    fn reset_within(
        &self,
        conn: &mut ScriptedConn,
        mode: ResetMode,
        limit: Option<core::time::Duration>,
    ) -> Result<(), ScriptedError> {
        let code = encode_limit(limit);
        self.script.reset_limit.store(code, Ordering::SeqCst);
        self.reset(conn, mode)
    }

    fn ping_within(
        &self,
        conn: &mut ScriptedConn,
        limit: Option<core::time::Duration>,
    ) -> Result<(), ScriptedError> {
        let code = encode_limit(limit);
        self.script.ping_limit.store(code, Ordering::SeqCst);
        self.ping(conn)
    }
}

/// A clock that moves only when told to. Clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicUsize>,
}

impl ManualClock {
    /// A clock at tick 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// Moves the clock forward.
    pub fn advance(&self, ticks: usize) {
        self.now.fetch_add(ticks, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst) as u64
    }
}
