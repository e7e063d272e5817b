//! The one life cycle, for every capacity policy: unlimited overflow, `pool_size` 0, a pool
//! that keeps nothing, one connection kept by its holder (in-place checkin), close reasons,
//! the waiters parameter and deadlines. Each test checks, at the end, that every connection
//! opened was closed exactly once.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_core::testing::{ManualClock, ScriptedConn, ScriptedError, ScriptedManager};
use tarn_core::{
    Builder, CheckedIn, CheckoutError, CheckoutEvent, CloseReason, Deadline, Disconnected, Events,
    FixedPool, InvalidateReason, NoClock, NopEvents, Pooled, ResetMode, Retain, Settings, Waiters,
    UNBOUNDED_IDLE_CAP,
};

/// Records every event as `name:id`, every close reason, and answers "disconnected" on
/// demand.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<String>>,
    reasons: Mutex<Vec<CloseReason>>,
    disconnects: AtomicUsize,
}

impl Log {
    fn new() -> Arc<Self> {
        Arc::default()
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
    fn reasons(&self) -> Vec<CloseReason> {
        std::mem::take(&mut *self.reasons.lock().unwrap())
    }
    fn note(&self, what: &str, conn: &ScriptedConn) {
        self.events
            .lock()
            .unwrap()
            .push(format!("{what}:{}", conn.id));
    }
}

impl Events<ScriptedConn> for Log {
    fn first_connect(&self, conn: &mut ScriptedConn) {
        self.note("first_connect", conn)
    }
    fn connect(&self, conn: &mut ScriptedConn) {
        self.note("connect", conn)
    }
    fn checkout(&self, conn: &mut ScriptedConn, _: &CheckoutEvent) -> Result<(), Disconnected> {
        self.note("checkout", conn);
        if self.disconnects.load(Ordering::SeqCst) > 0 {
            self.disconnects.fetch_sub(1, Ordering::SeqCst);
            return Err(Disconnected);
        }
        Ok(())
    }
    fn reset(&self, conn: &mut ScriptedConn, _: ResetMode) {
        self.note("reset", conn)
    }
    fn checkin(&self, conn: &mut ScriptedConn) {
        self.note("checkin", conn)
    }
    fn invalidate(&self, conn: &mut ScriptedConn, _: InvalidateReason) {
        self.note("invalidate", conn)
    }
    fn close(&self, conn: &mut ScriptedConn, reason: CloseReason) {
        self.reasons.lock().unwrap().push(reason);
        self.note("close", conn)
    }
    fn detach(&self, conn: &mut ScriptedConn) {
        self.note("detach", conn)
    }
}

fn count(events: &[String], name: &str) -> usize {
    events
        .iter()
        .filter(|e| e.split(':').next() == Some(name))
        .count()
}

// ---- A1: unlimited overflow ----------------------------------------------------------------

#[test]
fn unlimited_overflow_never_blocks_and_closes_a_return_only_when_the_idle_set_is_full() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(2)
        .unlimited_overflow()
        .events(log.clone())
        .build()
        .unwrap();
    let mut out: Vec<_> = (0..5).map(|_| p.try_checkout().unwrap()).collect();
    let s = p.state();
    assert_eq!((s.open, s.overflow, s.max_overflow), (5, 3, None), "{s:?}");
    // The newest (an overflow connection) comes back first, while four are out: the idle
    // set is empty, so it is kept (`QueuePool._do_return_conn`).
    drop(out.pop());
    assert_eq!((p.state().idle, m.closed()), (1, 0));
    drop(out.pop());
    assert_eq!((p.state().idle, m.closed()), (2, 0));
    log.reasons();
    drop(out);
    assert_eq!((p.state().idle, p.state().open, m.closed()), (2, 2, 3));
    assert_eq!(log.reasons(), vec![CloseReason::IdleFull; 3]);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn unlimited_overflow_connections_go_through_the_whole_life_cycle() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .unlimited_overflow()
        .events(log.clone())
        .build()
        .unwrap();
    let a = p.try_checkout().unwrap();
    let mut b = p.try_checkout().unwrap();
    let c = p.try_checkout().unwrap();
    let d = p.try_checkout().unwrap();
    let ev = log.take();
    assert_eq!(count(&ev, "first_connect"), 1, "{ev:?}");
    assert_eq!((count(&ev, "connect"), count(&ev, "checkout")), (4, 4));
    // Hard invalidation closes now and gives the capacity back.
    Pooled::invalidate(a);
    assert_eq!(
        log.reasons(),
        vec![CloseReason::Invalidated(InvalidateReason::User)]
    );
    assert_eq!(p.state().open, 3);
    // Soft invalidation: closed on return although the idle set has room.
    Pooled::soft_invalidate(&mut b);
    drop(b);
    assert_eq!(log.reasons(), vec![CloseReason::SoftInvalidated]);
    assert_eq!((p.state().idle, p.state().open), (0, 2), "{:?}", p.state());
    // Detach leaves the pool for good.
    let raw = Pooled::detach(c);
    assert_eq!(p.state().open, 1);
    // Returned with a reset, kept idle; pool-wide invalidation replaces it at checkout.
    drop(d);
    assert_eq!(m.resets(), 2, "b's return and d's");
    assert_eq!(p.state().idle, 1);
    p.invalidate_all();
    let e = p.try_checkout().unwrap();
    assert_eq!(log.reasons(), vec![CloseReason::PoolInvalidated]);
    drop(e);
    p.dispose();
    assert_eq!(log.reasons(), vec![CloseReason::Disposed]);
    assert_eq!(p.state().open, 0);
    drop(p);
    assert!(raw.id > 0, "the detached connection is the caller's");
    m.assert_all_closed_once(1);
}

#[test]
fn unlimited_overflow_with_pool_size_zero_keeps_every_return_up_to_the_cap() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .pool_size(0)
        .unlimited_overflow()
        .build()
        .unwrap();
    let out: Vec<_> = (0..4).map(|_| p.try_checkout().unwrap()).collect();
    drop(out);
    let s = p.state();
    assert_eq!((s.pool_size, s.idle, m.closed()), (0, 4, 0), "{s:?}");
    const { assert!(UNBOUNDED_IDLE_CAP >= 4) };
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_fixed_pool_reads_unlimited_overflow_as_all_of_its_slots() {
    let m = ScriptedManager::new();
    let p: FixedPool<ScriptedManager, 3> = FixedPool::with_parts(
        m.clone(),
        NopEvents,
        NoClock,
        Settings::new().pool_size(1).unlimited_overflow(),
    );
    assert_eq!(p.state().max_overflow, Some(2));
    let out: Vec<_> = (0..3).map(|_| p.try_checkout().unwrap()).collect();
    assert!(matches!(p.try_checkout(), Err(CheckoutError::WouldBlock)));
    drop(out);
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- A3: capacity policies and the in-place checkin ------------------------------------------

#[test]
fn a_pool_that_keeps_nothing_resets_checks_in_and_closes_every_return() {
    for unlimited in [false, true] {
        let m = ScriptedManager::new();
        let log = Log::new();
        let b = Builder::new(m.clone())
            .pool_size(0)
            .retain(Retain::Nothing)
            .events(log.clone());
        let b = if unlimited {
            b.unlimited_overflow()
        } else {
            b.max_overflow(2)
        };
        let p = b.build().unwrap();
        let c = p.try_checkout().unwrap();
        let id = c.id;
        log.take();
        drop(c);
        assert_eq!(
            log.take(),
            vec![
                format!("reset:{id}"),
                format!("checkin:{id}"),
                format!("close:{id}")
            ]
        );
        assert_eq!(log.reasons(), vec![CloseReason::RetainNone]);
        assert_eq!((p.state().idle, p.state().open), (0, 0));
        drop(p);
        m.assert_all_closed_once(0);
    }
}

#[test]
fn one_connection_is_pool_size_one_without_overflow() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    let id = c.id;
    assert!(matches!(p.try_checkout(), Err(CheckoutError::WouldBlock)));
    drop(c);
    assert_eq!(p.try_checkout().unwrap().id, id);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn an_in_place_checkin_resets_keeps_the_connection_and_balances_the_events() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .events(log.clone())
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    let id = c.id;
    log.take();
    let kept = Pooled::checkin_in_place(c, Some(Duration::from_millis(30))).unwrap();
    assert_eq!(
        log.take(),
        vec![format!("reset:{id}"), format!("checkin:{id}")]
    );
    assert_eq!(m.resets(), 1);
    assert_eq!(m.last_reset_limit(), Some(Some(Duration::from_millis(30))));
    assert!(
        matches!(p.try_checkout(), Err(CheckoutError::WouldBlock)),
        "nobody else can take a kept connection"
    );
    let again = CheckedIn::checkout(kept).unwrap();
    assert_eq!((again.id, again.resets), (id, 1));
    assert_eq!(log.take(), vec![format!("checkout:{id}")]);
    drop(again);
    let ev = log.take();
    assert_eq!(ev, vec![format!("reset:{id}"), format!("checkin:{id}")]);
    assert_eq!(p.state().idle, 1);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_failed_in_place_reset_invalidates_the_connection_and_ends_the_guard() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .events(log.clone())
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    m.fail_resets(1);
    let err = Pooled::checkin_in_place(c, None).unwrap_err();
    assert_eq!(err, ScriptedError::Reset);
    assert_eq!(
        log.reasons(),
        vec![CloseReason::Invalidated(InvalidateReason::ResetFailed)]
    );
    assert_eq!(p.state().open, 0);
    assert!(p.try_checkout().is_ok(), "its capacity came back");
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_kept_connection_is_replaced_at_its_next_checkout_when_stale() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .events(log.clone())
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    let id = c.id;
    let kept = Pooled::checkin_in_place(c, None).unwrap();
    p.invalidate_all();
    let fresh = CheckedIn::checkout(kept).unwrap();
    assert_ne!(fresh.id, id);
    assert_eq!(log.reasons(), vec![CloseReason::PoolInvalidated]);
    drop(fresh);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn dropping_a_kept_connection_returns_it_without_a_second_reset() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .retain(Retain::Nothing)
        .events(log.clone())
        .build()
        .unwrap();
    let kept = Pooled::checkin_in_place(p.try_checkout().unwrap(), None).unwrap();
    drop(kept);
    assert_eq!(m.resets(), 1);
    assert_eq!(log.reasons(), vec![CloseReason::RetainNone]);
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- A4: close reasons -------------------------------------------------------------------

#[test]
fn every_close_says_why() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let clock = ManualClock::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(1)
        .recycle(10)
        .clock(clock.clone())
        .pre_ping(true)
        .events(log.clone())
        .build()
        .unwrap();
    // The idle set is full: the second return is closed.
    drop((p.try_checkout().unwrap(), p.try_checkout().unwrap()));
    assert_eq!(log.reasons(), vec![CloseReason::IdleFull]);
    // Older than the recycle age: replaced at checkout.
    clock.advance(11);
    drop(p.try_checkout().unwrap());
    assert_eq!(log.reasons(), vec![CloseReason::Recycled]);
    // A pre-ping that finds a disconnect (replaced).
    m.disconnect_pings(1);
    drop(p.try_checkout().unwrap());
    assert_eq!(
        log.reasons(),
        vec![CloseReason::Invalidated(InvalidateReason::PingFailed)]
    );
    // Checked out while the pool is invalidated: closed at checkin.
    let c = p.try_checkout().unwrap();
    p.invalidate_all();
    drop(c);
    assert_eq!(log.reasons(), vec![CloseReason::PoolInvalidated]);
    // The checkout hook rejects one.
    log.disconnects.store(1, Ordering::SeqCst);
    let c = p.try_checkout().unwrap();
    assert_eq!(
        log.reasons(),
        vec![CloseReason::Invalidated(InvalidateReason::Disconnected)]
    );
    drop(c);
    p.dispose();
    assert_eq!(log.reasons(), vec![CloseReason::Disposed]);
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- A5: waiters ---------------------------------------------------------------------------

#[derive(Default)]
struct Queue {
    released: AtomicUsize,
}

impl Waiters for Queue {
    fn released(&self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
    fn waiting(&self) -> usize {
        7
    }
}

#[test]
fn waiters_hear_every_release_and_their_count_is_in_the_state() {
    let m = ScriptedManager::new();
    let q = Arc::new(Queue::default());
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(1)
        .waiters(Arc::clone(&q))
        .build()
        .unwrap();
    assert_eq!(p.state().waiting, 7);
    let heard = || q.released.swap(0, Ordering::SeqCst);
    let a = p.try_checkout().unwrap();
    assert_eq!(heard(), 1, "the first connect finished");
    let b = p.try_checkout().unwrap();
    drop(a);
    assert_eq!(heard(), 1, "an idle connection came back");
    drop(b);
    assert_eq!(heard(), 1, "a connection closed: capacity came back");
    let c = p.try_checkout().unwrap();
    m.fail_connects(1);
    assert!(matches!(p.try_checkout(), Err(CheckoutError::Connect(_))));
    assert_eq!(heard(), 1, "a failed connect gave its unit back");
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- A6: deadlines -------------------------------------------------------------------------

/// A deadline that loses a second each time it is asked, and counts the questions.
struct Shrinking {
    left: Cell<u64>,
    asked: Cell<usize>,
}

impl Shrinking {
    fn new(secs: u64) -> Self {
        Shrinking {
            left: Cell::new(secs),
            asked: Cell::new(0),
        }
    }
}

impl Deadline for Shrinking {
    fn remaining(&self) -> Option<Duration> {
        self.asked.set(self.asked.get() + 1);
        let left = self.left.get();
        self.left.set(left.saturating_sub(1));
        Some(Duration::from_secs(left))
    }
}

#[test]
fn a_deadline_is_asked_before_every_manager_call_of_a_checkout() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .pre_ping(true)
        .events(log.clone())
        .build()
        .unwrap();
    let d = Shrinking::new(10);
    drop(p.try_checkout_within(&d).unwrap());
    assert_eq!(m.last_connect_limit(), Some(Some(Duration::from_secs(10))));
    assert_eq!(d.asked.get(), 1);
    // An idle connection is pinged within the time left.
    drop(p.try_checkout_within(&d).unwrap());
    assert_eq!(m.last_ping_limit(), Some(Some(Duration::from_secs(9))));
    // A disconnect found by the ping and a hook rejection: each reconnect asks again.
    m.disconnect_pings(1);
    log.disconnects.store(1, Ordering::SeqCst);
    drop(p.try_checkout_within(&d).unwrap());
    assert_eq!(d.asked.get(), 5, "ping, connect, connect");
    assert_eq!(m.last_connect_limit(), Some(Some(Duration::from_secs(6))));
    // The plain checkout passes no limit.
    p.invalidate_all();
    drop(p.try_checkout().unwrap());
    assert_eq!(m.last_connect_limit(), Some(None));
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_return_passes_its_limit_to_the_reset() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .reset_limit(Some(Duration::from_millis(250)))
        .build()
        .unwrap();
    drop(p.try_checkout().unwrap());
    assert_eq!(m.last_reset_limit(), Some(Some(Duration::from_millis(250))));
    let c = p.try_checkout().unwrap();
    Pooled::checkin_within(c, Some(Duration::from_millis(5))).unwrap();
    assert_eq!(m.last_reset_limit(), Some(Some(Duration::from_millis(5))));
    let c = p.try_checkout().unwrap();
    Pooled::checkin(c).unwrap();
    assert_eq!(m.last_reset_limit(), Some(Some(Duration::from_millis(250))));
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- checkin on every return (reference `_finalize_fairy`) ----------------------------------

#[test]
fn every_return_fires_checkin_so_checkouts_and_checkins_balance() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(1)
        .events(log.clone())
        .build()
        .unwrap();
    let balanced = |what: &str| {
        let ev = log.take();
        assert_eq!(
            count(&ev, "checkout"),
            count(&ev, "checkin"),
            "{what}: {ev:?}"
        );
        ev
    };
    // A plain return, and one closed because the idle set is full.
    let (a, b) = (p.try_checkout().unwrap(), p.try_checkout().unwrap());
    drop((a, b));
    balanced("idle / idle full");
    // A failed reset, on drop and through `checkin`: invalidated, checked in, then closed.
    let c = p.try_checkout().unwrap();
    let id = c.id;
    log.take();
    m.fail_resets(1);
    assert_eq!(Pooled::checkin(c), Err(ScriptedError::Reset));
    assert_eq!(
        log.take(),
        vec![
            format!("reset:{id}"),
            format!("invalidate:{id}"),
            format!("checkin:{id}"),
            format!("close:{id}")
        ]
    );
    let c = p.try_checkout().unwrap();
    m.fail_resets(1);
    drop(c);
    balanced("failed reset on drop");
    // Invalidated by its holder: invalidate, checkin, close.
    let c = p.try_checkout().unwrap();
    let id = c.id;
    log.take();
    Pooled::invalidate(c);
    assert_eq!(
        log.take(),
        vec![
            format!("invalidate:{id}"),
            format!("checkin:{id}"),
            format!("close:{id}")
        ]
    );
    // Soft-invalidated, and stale (the pool invalidated while it was out).
    let mut c = p.try_checkout().unwrap();
    Pooled::soft_invalidate(&mut c);
    drop(c);
    balanced("soft");
    let c = p.try_checkout().unwrap();
    p.invalidate_all();
    drop(c);
    balanced("stale");
    // Disposed while out.
    let c = p.try_checkout().unwrap();
    p.dispose();
    drop(c);
    balanced("disposed");
    // A holder that panics: its guard is dropped while unwinding and checks in.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _c = p.try_checkout().unwrap();
        panic!("the holder fails");
    }));
    assert!(r.is_err());
    balanced("panicking holder");
    // In place: a failed in-place reset checks in too.
    let c = p.try_checkout().unwrap();
    m.fail_resets(1);
    assert!(Pooled::checkin_in_place(c, None).is_err());
    balanced("failed in-place reset");
    let kept = Pooled::checkin_in_place(p.try_checkout().unwrap(), None).unwrap();
    drop(CheckedIn::checkout(kept).unwrap());
    balanced("in place");
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn returns_balance_checkins_in_a_pool_that_keeps_nothing_and_with_unlimited_overflow() {
    for retain in [Retain::PoolSize, Retain::Nothing] {
        let m = ScriptedManager::new();
        let log = Log::new();
        let p = Builder::new(m.clone())
            .pool_size(1)
            .unlimited_overflow()
            .retain(retain)
            .events(log.clone())
            .build()
            .unwrap();
        let out: Vec<_> = (0..4).map(|_| p.try_checkout().unwrap()).collect();
        m.fail_resets(1);
        let mut out = out.into_iter();
        Pooled::invalidate(out.next().unwrap());
        drop(out);
        let ev = log.take();
        assert_eq!(count(&ev, "checkout"), 4, "{ev:?}");
        assert_eq!(count(&ev, "checkin"), 4, "{retain:?}: {ev:?}");
        drop(p);
        m.assert_all_closed_once(0);
    }
}

// ---- the generation rule (reference `Pool._invalidate`) -------------------------------------

#[test]
fn invalidating_the_pool_through_a_connection_follows_the_generation_rule() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(3)
        .max_overflow(0)
        .events(log.clone())
        .build()
        .unwrap();
    let (a, b) = (p.try_checkout().unwrap(), p.try_checkout().unwrap());
    let b_id = b.id;
    // `a` is current: its generation (and so `b`, out now) is invalidated, then `a` closed.
    Pooled::invalidate_pool(a);
    log.reasons();
    drop(b);
    assert_eq!(log.reasons(), vec![CloseReason::PoolInvalidated]);
    assert_eq!(m.close_count(b_id), 1);
    // An old connection (opened before the last invalidation) leaves newer ones alone.
    let old = p.try_checkout().unwrap();
    p.invalidate_all();
    let newer = p.try_checkout().unwrap();
    let newer_id = newer.id;
    drop(newer); // idle, current
    Pooled::invalidate_pool(old);
    assert_eq!(
        log.reasons(),
        vec![CloseReason::Invalidated(InvalidateReason::User)]
    );
    let again = p.try_checkout().unwrap();
    assert_eq!(again.id, newer_id, "the newer connection was kept");
    drop(again);
    assert_eq!(log.reasons(), vec![]);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_disconnect_on_reset_or_reported_by_the_caller_replaces_older_connections() {
    let m = ScriptedManager::new();
    let log = Log::new();
    let p = Builder::new(m.clone())
        .pool_size(3)
        .max_overflow(0)
        .events(log.clone())
        .build()
        .unwrap();
    // A reset that fails as a disconnect: the idle connection of its generation is replaced
    // at its next checkout.
    let (a, b) = (p.try_checkout().unwrap(), p.try_checkout().unwrap());
    let b_id = b.id;
    drop(b);
    m.disconnect_resets(1);
    assert_eq!(Pooled::checkin(a), Err(ScriptedError::Disconnect));
    log.reasons();
    let c = p.try_checkout().unwrap();
    assert_ne!(c.id, b_id);
    assert_eq!(log.reasons(), vec![CloseReason::PoolInvalidated]);
    // A reset that fails otherwise invalidates only its own connection.
    let d = p.try_checkout().unwrap();
    let c_id = c.id;
    drop(c);
    m.fail_resets(1);
    assert!(Pooled::checkin(d).is_err());
    assert_eq!(p.try_checkout().unwrap().id, c_id);
    // A caller-reported error: a disconnect invalidates the generation, another does not.
    let e = p.try_checkout().unwrap();
    let f = p.try_checkout().unwrap();
    let f_id = f.id;
    drop(f);
    let e = Pooled::report_error(e, &ScriptedError::Ping).expect("not a disconnect");
    assert_eq!(p.state().open, 2);
    assert!(Pooled::report_error(e, &ScriptedError::Disconnect).is_none());
    log.reasons();
    assert_ne!(p.try_checkout().unwrap().id, f_id);
    assert_eq!(log.reasons(), vec![CloseReason::PoolInvalidated]);
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- pre-ping: errors reach the caller, disconnects move on -------------------------------

#[test]
fn a_disconnect_found_by_pre_ping_is_replaced_within_the_deadline() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .pool_size(2)
        .max_overflow(0)
        .pre_ping(true)
        .build()
        .unwrap();
    let id = p.try_checkout().unwrap().id;
    m.disconnect_pings(1);
    let limit = Some(Duration::from_millis(40));
    let c = p.try_checkout_within(&limit).expect("replaced silently");
    assert_ne!(c.id, id);
    assert_eq!(m.last_ping_limit(), Some(limit));
    assert_eq!(m.last_connect_limit(), Some(limit));
    assert_eq!(p.state().open, 1);
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

/// A manager's `has_broken` is asked on every return, in every reset mode: a broken
/// connection is invalidated (`InvalidateReason::Broken`), checked in and closed, never kept.
#[test]
fn a_connection_the_manager_calls_broken_is_closed_on_return_in_every_reset_mode() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tarn_core::{Builder, InvalidateReason, Manager, ResetMode};

    #[derive(Clone, Default)]
    struct Flaky {
        broken: Arc<AtomicBool>,
        opened: Arc<std::sync::atomic::AtomicUsize>,
        closed: Arc<std::sync::atomic::AtomicUsize>,
    }
    impl Manager for Flaky {
        type Connection = u32;
        type Error = ();
        fn connect(&self) -> Result<u32, ()> {
            Ok(self.opened.fetch_add(1, Ordering::SeqCst) as u32 + 1)
        }
        fn reset(&self, _: &mut u32, _: ResetMode) -> Result<(), ()> {
            Ok(())
        }
        fn close(&self, _: u32) {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
        fn has_broken(&self, _: &mut u32) -> bool {
            self.broken.load(Ordering::SeqCst)
        }
    }

    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);
    impl tarn_core::Events<u32> for Seen {
        fn invalidate(&self, _: &mut u32, reason: InvalidateReason) {
            self.0
                .lock()
                .unwrap()
                .push(format!("invalidate {reason:?}"));
        }
        fn checkin(&self, _: &mut u32) {
            self.0.lock().unwrap().push("checkin".into());
        }
        fn close(&self, _: &mut u32, reason: tarn_core::CloseReason) {
            self.0.lock().unwrap().push(format!("close {reason:?}"));
        }
    }

    for mode in [ResetMode::Rollback, ResetMode::Commit, ResetMode::None] {
        let manager = Flaky::default();
        let seen = Arc::new(Seen::default());
        let pool = Builder::new(manager.clone())
            .pool_size(2)
            .reset_on_return(mode)
            .events(Arc::clone(&seen))
            .build()
            .unwrap();
        drop(pool.try_checkout().unwrap());
        assert_eq!(pool.state().idle, 1, "{mode:?}: a sound connection is kept");
        let conn = pool.try_checkout().unwrap();
        manager.broken.store(true, Ordering::SeqCst);
        seen.0.lock().unwrap().clear();
        drop(conn);
        assert_eq!(pool.state().idle, 0, "{mode:?}: the broken one is not kept");
        assert_eq!(pool.state().open, 0, "{mode:?}");
        assert_eq!(manager.closed.load(Ordering::SeqCst), 1, "{mode:?}");
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["checkin", "invalidate Broken", "close Invalidated(Broken)"],
            "{mode:?}"
        );
    }
}
