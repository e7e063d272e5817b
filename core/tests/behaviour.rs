//! tarn-core's behaviour, one fact per test, against a scripted manager that records every
//! call. Every test ends by checking that each connection opened was closed exactly once
//! (or is held, detached, by the test).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tarn_core::testing::{ManualClock, ScriptedConn, ScriptedError, ScriptedManager};
use tarn_core::{
    BuildError, Builder, CheckoutError, CheckoutEvent, CloseReason, Disconnected, Events,
    FixedPool, Hint, IdleOrder, InvalidateReason, Pool, Pooled, ResetMode, State, Waiters,
    MAX_CAPACITY,
};

/// Records every event as a short string, and misbehaves on demand.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
    /// The next this-many checkout hooks answer "disconnected".
    disconnects: AtomicUsize,
    /// Panic in the hook with this name (once).
    panic_in: Mutex<Option<&'static str>>,
    released: AtomicUsize,
    /// The reason of every close event, in order.
    reasons: Mutex<Vec<CloseReason>>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::default()
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
    fn note(&self, what: &'static str, conn: &ScriptedConn) {
        self.log.lock().unwrap().push(format!("{what}:{}", conn.id));
        let mut panic_in = self.panic_in.lock().unwrap();
        if *panic_in == Some(what) {
            *panic_in = None;
            drop(panic_in);
            panic!("listener panics in {what}");
        }
    }
    fn panic_in(&self, hook: &'static str) {
        *self.panic_in.lock().unwrap() = Some(hook);
    }
}

impl Events<ScriptedConn> for Recorder {
    fn first_connect(&self, conn: &mut ScriptedConn) {
        self.note("first_connect", conn)
    }
    fn connect(&self, conn: &mut ScriptedConn) {
        self.note("connect", conn)
    }
    fn checkout(&self, conn: &mut ScriptedConn, _: &CheckoutEvent) -> Result<(), Disconnected> {
        self.note("checkout", conn);
        let n = self.disconnects.load(Ordering::SeqCst);
        if n > 0 {
            self.disconnects.store(n - 1, Ordering::SeqCst);
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
    fn soft_invalidate(&self, conn: &mut ScriptedConn) {
        self.note("soft_invalidate", conn)
    }
    fn close(&self, conn: &mut ScriptedConn, reason: CloseReason) {
        self.reasons.lock().unwrap().push(reason);
        self.note("close", conn)
    }
    fn detach(&self, conn: &mut ScriptedConn) {
        self.note("detach", conn)
    }
    fn close_detached(&self, conn: &mut ScriptedConn) {
        self.note("close_detached", conn)
    }
}

impl Waiters for Recorder {
    fn released(&self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

impl Recorder {
    fn reasons(&self) -> Vec<CloseReason> {
        std::mem::take(&mut *self.reasons.lock().unwrap())
    }
}

#[test]
fn a_connection_closed_by_a_panicking_hook_says_so() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone()).events(rec.clone()).build().unwrap();
    rec.panic_in("checkin");
    let c = p.try_checkout().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(c))).is_err());
    assert_eq!(
        rec.reasons(),
        vec![CloseReason::Invalidated(InvalidateReason::Panicked)]
    );
    assert_eq!(p.state().open, 0);
    drop(p);
    m.assert_all_closed_once(0);
}

fn pool(m: &ScriptedManager, size: usize, overflow: usize) -> Pool<ScriptedManager> {
    pool_in(IdleOrder::Fifo, m, size, overflow)
}

fn pool_in(
    order: IdleOrder,
    m: &ScriptedManager,
    size: usize,
    overflow: usize,
) -> Pool<ScriptedManager> {
    Builder::new(m.clone())
        .pool_size(size)
        .max_overflow(overflow)
        .idle_order(order)
        .build()
        .unwrap()
}

/// (pool_size, idle, signed overflow, checked out), as the reference computes them.
fn counters(s: State) -> (usize, usize, isize, usize) {
    (s.pool_size, s.idle, s.signed_overflow(), s.checked_out)
}

#[test]
fn counters_follow_the_reference_through_six_checkouts_and_six_returns() {
    let m = ScriptedManager::new();
    let p = pool(&m, 3, 3);
    assert_eq!(counters(p.state()), (3, 0, -3, 0));
    let mut out = Vec::new();
    for i in 1..=6 {
        out.push(p.try_checkout().unwrap());
        assert_eq!(
            counters(p.state()),
            (3, 0, i as isize - 3, i),
            "after checkout {i}"
        );
    }
    assert!(matches!(p.try_checkout(), Err(CheckoutError::WouldBlock)));
    let expected = [
        (3, 1, 3, 5),
        (3, 2, 3, 4),
        (3, 3, 3, 3),
        (3, 3, 2, 2),
        (3, 3, 1, 1),
        (3, 3, 0, 0),
    ];
    for (j, want) in expected.into_iter().enumerate() {
        drop(out.remove(0));
        assert_eq!(counters(p.state()), want, "after return {}", j + 1);
    }
    assert_eq!(
        m.closed(),
        3,
        "the three returns beyond pool_size were closed"
    );
    drop(out);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn overflow_connections_are_closed_on_return_not_kept() {
    let m = ScriptedManager::new();
    let p = pool(&m, 1, 2);
    let a = p.try_checkout().unwrap();
    let b = p.try_checkout().unwrap();
    let c = p.try_checkout().unwrap();
    let (ida, idb, idc) = (a.id, b.id, c.id);
    drop(a);
    drop(b);
    drop(c);
    assert_eq!(
        (m.close_count(ida), m.close_count(idb), m.close_count(idc)),
        (0, 1, 1)
    );
    assert_eq!(p.state().open, 1);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_failed_connect_gives_its_overflow_back() {
    let m = ScriptedManager::new();
    let p = pool(&m, 1, 0);
    m.fail_connects(1);
    assert_eq!(
        p.try_checkout().unwrap_err(),
        CheckoutError::Connect(ScriptedError::Connect)
    );
    assert_eq!(counters(p.state()), (1, 0, -1, 0));
    let c = p.try_checkout().expect("capacity came back");
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_failing_reset_invalidates_the_connection() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .pool_size(2)
        .events(rec.clone())
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    let id = c.id;
    m.fail_resets(1);
    assert_eq!(Pooled::checkin(c), Err(ScriptedError::Reset));
    assert_eq!(m.close_count(id), 1);
    assert_eq!(p.state().open, 0);
    let log = rec.take();
    assert!(
        log.ends_with(&[
            format!("reset:{id}"),
            format!("invalidate:{id}"),
            format!("checkin:{id}"),
            format!("close:{id}")
        ]),
        "{log:?}"
    );
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn reset_mode_none_skips_the_manager_but_still_fires_the_reset_event() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .reset_on_return(ResetMode::None)
        .events(rec.clone())
        .build()
        .unwrap();
    drop(p.try_checkout().unwrap());
    assert_eq!(m.resets(), 0);
    assert_eq!(
        rec.take(),
        [
            "first_connect:1",
            "connect:1",
            "checkout:1",
            "reset:1",
            "checkin:1"
        ]
    );
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn events_follow_the_reference_order_and_first_connect_runs_once() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .pool_size(2)
        .events(rec.clone())
        .build()
        .unwrap();
    let a = p.try_checkout().unwrap();
    let b = p.try_checkout().unwrap();
    drop(a);
    drop(b);
    assert_eq!(
        rec.take(),
        [
            "first_connect:1",
            "connect:1",
            "checkout:1",
            "connect:2",
            "checkout:2",
            "reset:1",
            "checkin:1",
            "reset:2",
            "checkin:2",
        ]
    );
    drop(p);
    assert_eq!(
        rec.take(),
        Vec::<String>::new(),
        "closing on drop bypasses hooks"
    );
    m.assert_all_closed_once(0);
}

#[test]
fn first_connect_runs_once_under_concurrent_first_checkouts() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .pool_size(8)
        .max_overflow(0)
        .events(rec.clone())
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                match p.try_checkout() {
                    Ok(c) => break drop(c),
                    Err(CheckoutError::WouldBlock) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            });
        }
    });
    let log = rec.take();
    assert_eq!(
        log.iter()
            .filter(|e| e.starts_with("first_connect"))
            .count(),
        1,
        "{log:?}"
    );
    let first = log
        .iter()
        .position(|e| e.starts_with("first_connect"))
        .unwrap();
    let first_connect = log.iter().position(|e| e.starts_with("connect")).unwrap();
    assert!(
        first < first_connect,
        "first_connect comes before any connect: {log:?}"
    );
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn recycle_replaces_a_connection_older_than_the_age() {
    let m = ScriptedManager::new();
    let clock = ManualClock::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .clock(clock.clone())
        .recycle(10)
        .build()
        .unwrap();
    let id = p.try_checkout().unwrap().id;
    clock.advance(10);
    assert_eq!(
        p.try_checkout().unwrap().id,
        id,
        "not older than the age yet"
    );
    clock.advance(1);
    let c = p.try_checkout().unwrap();
    assert_ne!(c.id, id, "recycled");
    assert_eq!(m.close_count(id), 1);
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn recycle_without_a_clock_is_refused() {
    let r = Builder::new(ScriptedManager::new()).recycle(5).build();
    assert_eq!(r.unwrap_err(), BuildError::RecycleWithoutClock);
}

#[test]
fn hard_invalidation_closes_now_and_frees_capacity() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .events(rec.clone())
        .waiters(rec.clone())
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    let id = c.id;
    Pooled::invalidate(c);
    assert_eq!(m.close_count(id), 1);
    assert_eq!(p.state().open, 0);
    assert!(
        rec.released.load(Ordering::SeqCst) >= 1,
        "an adapter is told capacity came back"
    );
    let c = p.try_checkout().unwrap();
    assert_ne!(c.id, id);
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn soft_invalidation_keeps_working_then_closes_on_return() {
    let m = ScriptedManager::new();
    let p = pool(&m, 1, 0);
    let mut c = p.try_checkout().unwrap();
    let id = c.id;
    Pooled::soft_invalidate(&mut c);
    assert!(Pooled::is_soft_invalidated(&c));
    assert_eq!(m.close_count(id), 0, "still usable while out");
    c.resets += 0;
    drop(c);
    assert_eq!(m.close_count(id), 1, "closed when returned");
    let c = p.try_checkout().unwrap();
    assert_ne!(c.id, id);
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn invalidate_all_replaces_idle_at_checkout_and_closes_out_ones_at_return() {
    let m = ScriptedManager::new();
    let p = pool(&m, 3, 0);
    let a = p.try_checkout().unwrap();
    let b = p.try_checkout().unwrap();
    let out = p.try_checkout().unwrap();
    let (ida, idb, idout) = (a.id, b.id, out.id);
    drop(a);
    drop(b);
    p.invalidate_all();
    assert_eq!(p.state().idle, 2, "O(1): nothing is closed yet");
    let fresh = p.try_checkout().unwrap();
    assert!(![ida, idb].contains(&fresh.id));
    assert_eq!(
        m.close_count(ida) + m.close_count(idb),
        1,
        "the idle one taken was replaced"
    );
    drop(out);
    assert_eq!(
        m.close_count(idout),
        1,
        "a connection out during invalidation is closed on return"
    );
    let fresh2 = p.try_checkout().unwrap();
    assert!(![ida, idb, idout].contains(&fresh2.id));
    drop((fresh, fresh2));
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn detach_frees_the_slot_and_hands_over_the_connection() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .events(rec.clone())
        .build()
        .unwrap();
    let c = p.try_checkout().unwrap();
    let raw = Pooled::detach(c);
    assert_eq!(p.state().open, 0);
    let c2 = p.try_checkout().expect("the slot is free again");
    assert_ne!(c2.id, raw.id);
    drop(c2);
    assert_eq!(
        m.closed(),
        0,
        "a detached connection is the holder's to close"
    );
    let id = raw.id;
    let resets = m.resets();
    rec.take();
    p.close_detached(raw);
    // Reference `_finalize_fairy`: a detached connection is reset, then closed.
    assert_eq!(
        rec.take(),
        [format!("reset:{id}"), format!("close_detached:{id}")]
    );
    assert_eq!(m.resets(), resets + 1, "rolled back before closing");
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn fifo_hands_out_the_oldest_returned_and_lifo_the_newest() {
    for (order, want_first) in [(IdleOrder::Fifo, 0), (IdleOrder::Lifo, 2)] {
        let m = ScriptedManager::new();
        let p = pool_in(order, &m, 3, 0);
        let conns: Vec<_> = (0..3).map(|_| p.try_checkout().unwrap()).collect();
        let ids: Vec<usize> = conns.iter().map(|c| c.id).collect();
        drop(conns); // returned in order 0, 1, 2
        let c = p.try_checkout().unwrap();
        assert_eq!(c.id, ids[want_first], "{order:?}");
        drop(c);
        drop(p);
        m.assert_all_closed_once(0);
    }
}

fn affinity_pool(m: &ScriptedManager, size: usize, overflow: usize) -> Pool<ScriptedManager> {
    pool_in(IdleOrder::Affinity, m, size, overflow)
}

#[test]
fn affinity_hands_each_hint_the_connection_it_had() {
    let m = ScriptedManager::new();
    let p = affinity_pool(&m, 3, 0);
    let mut hints = [Hint::new(); 3];
    let conns: Vec<_> = hints
        .iter_mut()
        .map(|h| p.try_checkout_hinted(h).unwrap())
        .collect();
    let ids: Vec<usize> = conns.iter().map(|c| c.id).collect();
    drop(conns);
    // Each "thread" gets its own connection back, whatever order they come in.
    for k in [2, 0, 1, 1, 2, 0] {
        let c = p.try_checkout_hinted(&mut hints[k]).unwrap();
        assert_eq!(c.id, ids[k], "hint {k}");
    }
    // A hint whose slot is taken moves on to the next idle slot, and follows it.
    let held = p.try_checkout_hinted(&mut hints[0]).unwrap();
    let mut h = hints[0];
    let other = p.try_checkout_hinted(&mut h).unwrap();
    assert_eq!(other.id, ids[1]);
    assert_eq!(h, hints[1]);
    drop((held, other));
    // A hint from a larger pool is only a starting point.
    let mut far = Hint::new();
    let big = affinity_pool(&m, 40, 0);
    let conns: Vec<_> = (0..40)
        .map(|_| big.try_checkout_hinted(&mut far).unwrap())
        .collect();
    drop(conns);
    assert!(p.try_checkout_hinted(&mut far).is_ok());
    assert_eq!(p.state().idle, 3);
    drop((p, big));
    m.assert_all_closed_once(0);
}

#[test]
fn affinity_keeps_at_most_pool_size_idle() {
    let m = ScriptedManager::new();
    let p = affinity_pool(&m, 2, 2);
    let conns: Vec<_> = (0..4).map(|_| p.try_checkout().unwrap()).collect();
    assert!(matches!(p.try_checkout(), Err(CheckoutError::WouldBlock)));
    drop(conns);
    let s = p.state();
    assert_eq!((s.open, s.idle, s.checked_out), (2, 2, 0), "{s:?}");
    assert_eq!(m.closed(), 2, "the overflow is closed on return");
    // The two idle ones are found from any hint, then capacity opens two more.
    let conns: Vec<_> = (0..4).map(|_| p.try_checkout().unwrap()).collect();
    assert_eq!(m.opened(), 6);
    drop(conns);
    // pool_size 0 sets no idle limit: every slot may be idle.
    let zero = affinity_pool(&m, 0, 2);
    let both = (zero.try_checkout().unwrap(), zero.try_checkout().unwrap());
    drop(both);
    assert_eq!((zero.state().open, zero.state().idle), (2, 2));
    drop((p, zero));
    m.assert_all_closed_once(0);
}

#[test]
fn affinity_dispose_and_invalidate_all_reach_every_parked_slot() {
    let m = ScriptedManager::new();
    let p = affinity_pool(&m, 4, 0);
    let conns: Vec<_> = (0..4).map(|_| p.try_checkout().unwrap()).collect();
    let ids: Vec<usize> = conns.iter().map(|c| c.id).collect();
    drop(conns);
    p.invalidate_all();
    let mut hint = Hint::new();
    let fresh = p.try_checkout_hinted(&mut hint).unwrap();
    assert!(
        !ids.contains(&fresh.id),
        "a stale idle connection is replaced"
    );
    drop(fresh);
    p.dispose();
    assert_eq!(m.closed(), 4 + 1, "dispose closed every parked connection");
    assert_eq!(p.state().open, 0);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn dispose_closes_idle_now_and_out_connections_when_they_return() {
    let m = ScriptedManager::new();
    let p = pool(&m, 3, 0);
    let a = p.try_checkout().unwrap();
    let b = p.try_checkout().unwrap();
    let mut out = p.try_checkout().unwrap();
    drop(a);
    drop(b);
    p.dispose();
    assert_eq!(m.closed(), 2);
    assert_eq!(counters(p.state()), (3, 0, -2, 1));
    out.resets += 1; // still usable by its holder
    let id = out.id;
    drop(out);
    assert_eq!(m.close_count(id), 1);
    assert_eq!(p.state().open, 0);
    let again = p.try_checkout().expect("the pool is usable after dispose");
    drop(again);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_checkout_hook_disconnect_reconnects_once_then_fails() {
    let m = ScriptedManager::new();
    let rec = Recorder::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .max_overflow(0)
        .events(rec.clone())
        .build()
        .unwrap();
    drop(p.try_checkout().unwrap());
    rec.take();
    rec.disconnects.store(1, Ordering::SeqCst);
    let c = p
        .try_checkout()
        .expect("one disconnect is healed by a reconnect");
    assert_eq!(c.id, 2);
    drop(c);
    rec.disconnects.store(2, Ordering::SeqCst);
    assert_eq!(p.try_checkout().unwrap_err(), CheckoutError::Disconnected);
    assert_eq!(p.state().open, 0, "both rejected connections were closed");
    assert_eq!(m.opened(), 3);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn pre_ping_invalidates_a_connection_whose_ping_fails_and_tells_the_caller() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .pool_size(2)
        .pre_ping(true)
        .build()
        .unwrap();
    let id = p.try_checkout().unwrap().id;
    assert_eq!(m.pings(), 0, "a fresh connection is not pinged");
    m.fail_pings(1);
    // Not a disconnect: the reference's `do_ping` re-raises it.
    assert_eq!(
        p.try_checkout().err(),
        Some(CheckoutError::Ping(ScriptedError::Ping))
    );
    assert_eq!(m.close_count(id), 1);
    assert_eq!(p.state().open, 0, "its capacity came back");
    let c = p.try_checkout().unwrap();
    assert_ne!(c.id, id);
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_ping_that_reports_a_disconnect_invalidates_every_older_connection() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .pool_size(3)
        .pre_ping(true)
        .idle_order(IdleOrder::Fifo)
        .build()
        .unwrap();
    let a = p.try_checkout().unwrap();
    let b = p.try_checkout().unwrap();
    let (ida, idb) = (a.id, b.id);
    drop(a);
    drop(b);
    m.disconnect_pings(1);
    let c = p.try_checkout().unwrap(); // pings a: disconnect → pool-wide invalidation
    let d = p.try_checkout().unwrap(); // b is stale now: replaced without a ping
    assert!(![ida, idb].contains(&c.id) && ![ida, idb].contains(&d.id));
    assert_eq!(m.pings(), 1);
    drop((c, d));
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn info_survives_checkin_and_starts_fresh_for_a_new_connection() {
    let m = ScriptedManager::new();
    let p = Builder::new(m.clone())
        .pool_size(1)
        .info::<Vec<&'static str>>()
        .build()
        .unwrap();
    let mut c = p.try_checkout().unwrap();
    Pooled::info_mut(&mut c).push("prepared");
    drop(c);
    let c = p.try_checkout().unwrap();
    assert_eq!(Pooled::info(&c), &["prepared"]);
    Pooled::invalidate(c);
    let c = p.try_checkout().unwrap();
    assert!(Pooled::info(&c).is_empty());
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn sizes_that_cannot_work_are_typed_errors() {
    let b = || Builder::new(ScriptedManager::new());
    assert_eq!(
        b().pool_size(0).max_overflow(0).build().unwrap_err(),
        BuildError::ZeroCapacity
    );
    assert_eq!(
        b().pool_size(MAX_CAPACITY)
            .max_overflow(1)
            .build()
            .unwrap_err(),
        BuildError::TooLarge {
            requested: MAX_CAPACITY + 1,
            max: MAX_CAPACITY
        }
    );
    assert!(matches!(
        b().pool_size(usize::MAX).max_overflow(usize::MAX).build(),
        Err(BuildError::TooLarge { .. })
    ));
    assert!(
        b().pool_size(0).max_overflow(1).build().is_ok(),
        "pool_size 0 sets no idle limit"
    );
    let msg = BuildError::ZeroCapacity.to_string();
    assert!(msg.contains("pool_size") && !msg.ends_with('.'), "{msg}");
}

#[test]
fn pool_size_zero_sets_no_idle_limit_in_every_order_and_storage() {
    // The reference's `Queue(maxsize=0)` is unbounded: nothing returned is closed for
    // lack of room.
    for order in [IdleOrder::Fifo, IdleOrder::Lifo, IdleOrder::Affinity] {
        let m = ScriptedManager::new();
        let p = pool_in(order, &m, 0, 3);
        let out: Vec<_> = (0..3).map(|_| p.try_checkout().unwrap()).collect();
        assert!(matches!(p.try_checkout(), Err(CheckoutError::WouldBlock)));
        drop(out);
        assert_eq!((p.state().idle, m.closed()), (3, 0), "{order:?}");
        drop(p);
        m.assert_all_closed_once(0);
    }
    let m = ScriptedManager::new();
    let fixed: FixedPool<ScriptedManager, 3> = FixedPool::new(m.clone(), 0);
    let out: Vec<_> = (0..3).map(|_| fixed.try_checkout().unwrap()).collect();
    drop(out);
    assert_eq!((fixed.state().idle, m.closed()), (3, 0));
    drop(fixed);
    m.assert_all_closed_once(0);
}

#[test]
fn status_reads_like_the_reference() {
    let m = ScriptedManager::new();
    let p = pool(&m, 3, 3);
    let c = p.try_checkout().unwrap();
    assert_eq!(
        p.state().to_string(),
        "Pool size: 3  Connections in pool: 0 Current Overflow: -2 Current Checked out connections: 1"
    );
    drop(c);
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- panic safety ------------------------------------------------------------------------

#[test]
fn a_panicking_connect_leaves_the_counts_right() {
    let m = ScriptedManager::new();
    let p = pool(&m, 1, 0);
    m.panic_connects(1);
    assert!(catch_unwind(AssertUnwindSafe(|| p.try_checkout().map(drop))).is_err());
    assert_eq!(counters(p.state()), (1, 0, -1, 0));
    drop(p.try_checkout().expect("capacity was given back"));
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_panicking_hook_closes_the_connection_it_was_handling() {
    for hook in [
        "first_connect",
        "connect",
        "checkout",
        "reset",
        "checkin",
        "close",
    ] {
        let m = ScriptedManager::new();
        let rec = Recorder::new();
        let p = Builder::new(m.clone())
            .pool_size(1)
            .max_overflow(1)
            .events(rec.clone())
            .build()
            .unwrap();
        rec.panic_in(hook);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let c = p.try_checkout().unwrap();
            drop(c);
            // A `close` hook only runs when something is closed: make that happen.
            let a = p.try_checkout().unwrap();
            let b = p.try_checkout().unwrap();
            drop((a, b));
        }));
        assert!(r.is_err(), "{hook} panicked");
        let s = p.state();
        assert_eq!(s.checked_out, 0, "{hook}: {s:?}");
        assert_eq!(
            s.open,
            m.open(),
            "{hook}: the pool's count matches the manager's"
        );
        // The pool still works.
        drop(p.try_checkout().unwrap());
        drop(p);
        m.assert_all_closed_once(0);
    }
}

#[test]
fn a_panicking_reset_closes_the_connection() {
    let m = ScriptedManager::new();
    let p = pool(&m, 1, 0);
    let c = p.try_checkout().unwrap();
    m.panic_resets(1);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(c))).is_err());
    assert_eq!(p.state().open, 0);
    assert_eq!(m.closed(), 1);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_guard_dropped_while_unwinding_checks_in() {
    let m = ScriptedManager::new();
    let p = pool(&m, 1, 0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _c = p.try_checkout().unwrap();
        panic!("the user's code fails while holding a connection");
    }));
    assert!(r.is_err());
    assert_eq!(counters(p.state()), (1, 1, 0, 0));
    drop(p);
    m.assert_all_closed_once(0);
}

// ---- threads -----------------------------------------------------------------------------

#[test]
fn threads_never_share_a_connection_nor_exceed_capacity() {
    threads_share_nothing(IdleOrder::Lifo, 2, 1);
    threads_share_nothing(IdleOrder::Fifo, 2, 1);
    threads_share_nothing(IdleOrder::Affinity, 2, 1);
    threads_share_nothing(IdleOrder::Affinity, 3, 0);
}

fn threads_share_nothing(order: IdleOrder, size: usize, overflow: usize) {
    const THREADS: usize = 4;
    let rounds = if cfg!(miri) { 20 } else { 20_000 };
    let m = ScriptedManager::new();
    let p = pool_in(order, &m, size, overflow);
    // Indexed by connection id: room for every connection the run may open (overflow,
    // invalidation and soft invalidation make the pool open new ones as it goes).
    // (Under Miri, 20 rounds open a few dozen; a million entries would take minutes to
    // interpret.)
    let ids = if cfg!(miri) { 4096 } else { 1 << 20 };
    let in_use: Vec<AtomicBool> = (0..ids).map(|_| AtomicBool::new(false)).collect();
    let peak = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (p, m, in_use, peak) = (&p, &m, &in_use, &peak);
            s.spawn(move || {
                let mut hint = Hint::new();
                for i in 0..rounds {
                    match p.try_checkout_hinted(&mut hint) {
                        Ok(mut c) => {
                            assert!(
                                !in_use[c.id].swap(true, Ordering::SeqCst),
                                "connection {} held twice",
                                c.id
                            );
                            peak.fetch_max(m.open(), Ordering::SeqCst);
                            if (i + t) % 97 == 0 {
                                Pooled::soft_invalidate(&mut c);
                            }
                            in_use[c.id].store(false, Ordering::SeqCst);
                            if (i + t) % 89 == 0 {
                                Pooled::invalidate(c);
                            } else {
                                drop(c);
                            }
                        }
                        Err(CheckoutError::WouldBlock) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                    if i % 1000 == 999 && t == 0 {
                        p.invalidate_all();
                    }
                }
            });
        }
    });
    assert!(
        peak.load(Ordering::SeqCst) <= size + overflow,
        "{order:?}: never more than pool_size + max_overflow open"
    );
    assert!(p.state().idle <= size, "{order:?}: at most pool_size idle");
    eprintln!(
        "{order:?} pool {size}+{overflow}: {} connections opened",
        m.opened()
    );
    let s = p.state();
    assert_eq!((s.checked_out, s.open), (0, m.open()));
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn a_guard_can_cross_threads_with_an_arc_pool() {
    let m = ScriptedManager::new();
    let p = Arc::new(pool(&m, 1, 0));
    let c = Pool::try_checkout_in(Arc::clone(&p)).unwrap();
    std::thread::spawn(move || drop(c)).join().unwrap();
    assert_eq!(p.state().idle, 1);
    drop(p);
    m.assert_all_closed_once(0);
}

#[test]
fn pools_and_guards_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Pool<ScriptedManager>>();
    send_sync::<FixedPool<ScriptedManager, 4>>();
    send::<Pooled<Arc<Pool<ScriptedManager>>>>();
    send::<Pooled<&'static FixedPool<ScriptedManager, 4>>>();
}

// ---- the allocation-free pool ------------------------------------------------------------

#[test]
fn a_fixed_pool_serves_threads() {
    // ScriptedManager is not const-constructible; a `static` of a const manager is shown in
    // the crate docs (`FixedPool::new`). Here scoped threads share a borrowed pool.
    let m = ScriptedManager::new();
    let pool: FixedPool<ScriptedManager, 3> = FixedPool::new(m.clone(), 2);
    let p = &pool;
    let rounds = if cfg!(miri) { 10 } else { 5_000 };
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..rounds {
                    match p.try_checkout() {
                        Ok(c) => drop(c),
                        Err(CheckoutError::WouldBlock) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    let s = p.state();
    assert!(s.open <= 3 && s.idle <= 2 && s.checked_out == 0, "{s:?}");
    p.dispose();
    assert_eq!(p.state().open, 0);
    m.assert_all_closed_once(0);
}
