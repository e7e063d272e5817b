//! [`Tracked`]: a manager wrapper that asks every new connection for its server-side session
//! id (`pg_backend_pid()`, `CONNECTION_ID()`, `CLIENT ID`) and remembers it, so a test can
//! count how many of the pool's sessions the server still has, however many other clients
//! the server serves at the same time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_core::{Manager, ResetMode};

/// Asks a connection for its server-side session id.
pub type SessionId<C, E> = fn(&mut C) -> Result<i64, E>;

/// Wraps a manager; records the session id of each connection it opens and counts closes.
pub struct Tracked<M: Manager> {
    inner: M,
    session_id: SessionId<M::Connection, M::Error>,
    ids: Arc<Mutex<Vec<i64>>>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

// Manual impl: the inner manager's Debug already hides its secrets.
impl<M: Manager + std::fmt::Debug> std::fmt::Debug for Tracked<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("inner", &self.inner)
            .field("opened", &self.opened())
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

/// What a test keeps after handing the manager to a pool.
#[derive(Debug, Clone)]
pub struct Sessions {
    ids: Arc<Mutex<Vec<i64>>>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl<M: Manager> Tracked<M> {
    /// Wraps `inner`; `session_id` runs on every new connection.
    pub fn new(inner: M, session_id: SessionId<M::Connection, M::Error>) -> Self {
        Tracked {
            inner,
            session_id,
            ids: Arc::default(),
            opened: Arc::default(),
            closed: Arc::default(),
        }
    }

    /// A handle on the recorded sessions that outlives the manager's move into a pool.
    pub fn sessions(&self) -> Sessions {
        Sessions {
            ids: Arc::clone(&self.ids),
            opened: Arc::clone(&self.opened),
            closed: Arc::clone(&self.closed),
        }
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Connections closed so far.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// The wrapped manager.
    pub fn inner(&self) -> &M {
        &self.inner
    }
}

impl Sessions {
    /// Every session id the pool's connections have had, oldest first.
    pub fn ids(&self) -> Vec<i64> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Connections closed so far.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

impl<M: Manager> Manager for Tracked<M> {
    type Connection = M::Connection;
    type Error = M::Error;

    fn connect(&self) -> Result<M::Connection, M::Error> {
        self.connect_within(None)
    }

    fn connect_within(&self, limit: Option<Duration>) -> Result<M::Connection, M::Error> {
        let mut conn = self.inner.connect_within(limit)?;
        match (self.session_id)(&mut conn) {
            Ok(id) => {
                self.ids.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                self.opened.fetch_add(1, Ordering::SeqCst);
                Ok(conn)
            }
            Err(e) => {
                self.inner.close(conn);
                Err(e)
            }
        }
    }

    fn reset(&self, conn: &mut M::Connection, mode: ResetMode) -> Result<(), M::Error> {
        self.inner.reset(conn, mode)
    }

    fn reset_within(
        &self,
        conn: &mut M::Connection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), M::Error> {
        self.inner.reset_within(conn, mode, limit)
    }

    fn close(&self, conn: M::Connection) {
        self.closed.fetch_add(1, Ordering::SeqCst);
        self.inner.close(conn)
    }

    fn ping(&self, conn: &mut M::Connection) -> Result<(), M::Error> {
        self.inner.ping(conn)
    }

    fn ping_within(
        &self,
        conn: &mut M::Connection,
        limit: Option<Duration>,
    ) -> Result<(), M::Error> {
        self.inner.ping_within(conn, limit)
    }

    fn is_disconnect(&self, error: &M::Error) -> bool {
        self.inner.is_disconnect(error)
    }
}
