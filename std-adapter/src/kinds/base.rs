//! What the simple pool kinds ([`NullPool`](crate::NullPool),
//! [`StaticPool`](crate::StaticPool), [`AssertionPool`](crate::AssertionPool),
//! [`SingletonThreadPool`](crate::SingletonThreadPool)) share: opening with the
//! first-connect/connect events, the checkout hook's reconnect, reset on return, closing. Every step that runs user code catches panics; a connection whose
//! handling panicked is closed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tarn_core::{InvalidateReason, Manager, ResetMode};

use crate::adapt::{panic_message, Mgr, MgrError, Tracked};
use crate::config::Config;
use crate::error::Error;
use crate::events::{CheckoutEvent, Ev, ListenerList, Stats};
use crate::sync::lock_std;

pub(crate) struct Base<M: Manager> {
    pub(crate) mgr: Mgr<M>,
    pub(crate) ev: Ev<M::Connection>,
    pub(crate) cfg: Config,
    first: Mutex<bool>,
    first_done: AtomicBool,
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    format!("a listener panicked: {}", panic_message(payload))
}

fn map_err<E>(e: MgrError<E>) -> Error<E> {
    match e {
        MgrError::Manager(e) => Error::Connect(e),
        MgrError::Panicked(what) => Error::Panicked { what },
    }
}

/// Owns a connection on its way out: closes it when dropped.
pub(crate) struct Closer<'a, M: Manager> {
    base: &'a Base<M>,
    conn: Option<Tracked<M::Connection>>,
}

impl<M: Manager> Closer<'_, M> {
    fn get(&mut self) -> &mut Tracked<M::Connection> {
        self.conn
            .as_mut()
            .expect("a closer holds its connection until taken")
    }
    fn take(mut self) -> Tracked<M::Connection> {
        self.conn
            .take()
            .expect("a closer holds its connection until taken")
    }
}

impl<M: Manager> Drop for Closer<'_, M> {
    fn drop(&mut self) {
        if let Some(t) = self.conn.take() {
            self.base.close(t);
        }
    }
}

impl<M: Manager> Base<M> {
    pub(crate) fn new(
        manager: M,
        cfg: Config,
        listeners: ListenerList<M::Connection>,
        kind: &str,
    ) -> Self {
        let start = Instant::now();
        let epoch = Arc::new(AtomicUsize::new(0));
        let name = cfg.logging_name(kind);
        Base {
            mgr: Mgr::new(manager, start, Arc::clone(&epoch)),
            ev: Ev::new(listeners, cfg.echo, name, None, epoch, start),
            cfg,
            first: Mutex::new(false),
            first_done: AtomicBool::new(false),
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.ev.counters.snapshot()
    }

    /// Opens a connection and runs first_connect (once; others wait for it) and connect.
    pub(crate) fn open(&self) -> Result<Tracked<M::Connection>, Error<M::Error>> {
        let t = self.mgr.connect().map_err(map_err)?;
        let mut holder = Closer {
            base: self,
            conn: Some(t),
        };
        let r = catch_unwind(AssertUnwindSafe(|| {
            if !self.first_done.load(Ordering::Acquire) {
                let mut done = lock_std(&self.first);
                if !*done {
                    *done = true; // before the hook: it runs once even if it panics
                    self.ev.on_first_connect(holder.get());
                }
                self.first_done.store(true, Ordering::Release);
            }
            self.ev.on_connect(holder.get());
        }));
        match r {
            Ok(()) => Ok(holder.take()),
            Err(p) => Err(Error::Panicked {
                what: panicked(&*p),
            }),
        }
    }

    /// Runs the checkout hook, replacing a connection it rejects (at most twice).
    pub(crate) fn hand_out(
        &self,
        t: Tracked<M::Connection>,
        fresh: bool,
    ) -> Result<Tracked<M::Connection>, Error<M::Error>> {
        let mut holder = Closer {
            base: self,
            conn: Some(t),
        };
        let mut fresh = fresh;
        let mut attempt = 0u8;
        loop {
            let event = CheckoutEvent { fresh, attempt };
            let r = catch_unwind(AssertUnwindSafe(|| {
                self.ev.on_checkout(holder.get(), &event)
            }));
            match r {
                Ok(Ok(())) => {
                    if self.cfg.echo {
                        tracing::debug!(pool = %self.ev.name, "Connection checked out from pool");
                    }
                    return Ok(holder.take());
                }
                Ok(Err(_)) => {
                    let t = holder.take();
                    self.invalidate(t, InvalidateReason::Disconnected);
                    if attempt >= 1 {
                        tracing::info!(pool = %self.ev.name, "Reconnection attempts exhausted on checkout");
                        return Err(Error::Disconnected);
                    }
                    holder = Closer {
                        base: self,
                        conn: Some(self.open()?),
                    };
                    fresh = true;
                    attempt += 1;
                }
                Err(p) => {
                    return Err(Error::Panicked {
                        what: panicked(&*p),
                    })
                }
            }
        }
    }

    /// Opens a connection and hands it out.
    pub(crate) fn open_and_hand_out(&self) -> Result<Tracked<M::Connection>, Error<M::Error>> {
        let t = self.open()?;
        self.hand_out(t, true)
    }

    /// Reset on return and the checkin event. On failure the connection is closed.
    pub(crate) fn checkin(
        &self,
        t: Tracked<M::Connection>,
    ) -> Result<Tracked<M::Connection>, Error<M::Error>> {
        if self.cfg.echo {
            tracing::debug!(pool = %self.ev.name, "Connection being returned to pool");
        }
        let mut holder = Closer {
            base: self,
            conn: Some(t),
        };
        let mode = self.cfg.core.reset;
        let r = catch_unwind(AssertUnwindSafe(|| {
            let t = holder.get();
            self.ev.on_reset(t, mode);
            if mode != ResetMode::None {
                if let Err(e) = self.mgr.reset(t, mode) {
                    self.ev.on_invalidate(t, InvalidateReason::ResetFailed);
                    return Err(e);
                }
            }
            self.ev.on_checkin(t);
            Ok(())
        }));
        match r {
            Ok(Ok(())) => Ok(holder.take()),
            Ok(Err(e)) => Err(map_err(e)),
            Err(p) => Err(Error::Panicked {
                what: panicked(&*p),
            }),
        }
    }

    /// Checks in, or (while the thread panics) invalidates; gives back what should be kept.
    pub(crate) fn release(&self, t: Tracked<M::Connection>) -> Option<Tracked<M::Connection>> {
        if std::thread::panicking() {
            self.invalidate(t, InvalidateReason::Panicked);
            return None;
        }
        self.checkin(t).ok()
    }

    pub(crate) fn invalidate(&self, mut t: Tracked<M::Connection>, reason: InvalidateReason) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.ev.on_invalidate(&mut t, reason)));
        self.close(t);
    }

    pub(crate) fn soft_invalidate(&self, t: &mut Tracked<M::Connection>) {
        if !t.soft {
            let _ = catch_unwind(AssertUnwindSafe(|| self.ev.on_soft_invalidate(t)));
            t.soft = true;
        }
    }

    pub(crate) fn detach(&self, mut t: Tracked<M::Connection>) -> M::Connection {
        let _ = catch_unwind(AssertUnwindSafe(|| self.ev.on_detach(&mut t)));
        t.conn
    }

    pub(crate) fn close(&self, mut t: Tracked<M::Connection>) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.ev.on_close(&mut t))) {
            tracing::error!(pool = %self.ev.name, "{}", panicked(&*p));
        }
        self.mgr.close(t);
    }

    pub(crate) fn recreate_parts(&self) -> (Config, ListenerList<M::Connection>) {
        let mut cfg = self.cfg.clone();
        cfg.name = Some(self.ev.name.to_string());
        tracing::info!(pool = %self.ev.name, "Pool recreating");
        (cfg, self.ev.snapshot())
    }
}
