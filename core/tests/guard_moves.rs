//! Guards whose pool moves, and guards used in interleaved order: the cases the pointer a
//! guard keeps to its entry must get right (run them under Miri to check the aliasing).

use std::cell::Cell;
use std::ops::Deref;
use std::rc::Rc;

use tarn_core::{Builder, FixedPool, Manager, Pool, Pooled, ResetMode};

/// Connections are numbers from 1; counts the closes.
#[derive(Clone, Default)]
struct Numbers {
    opened: Rc<Cell<u64>>,
    closed: Rc<Cell<u64>>,
}

impl Manager for Numbers {
    type Connection = u64;
    type Error = ();
    fn connect(&self) -> Result<u64, ()> {
        self.opened.set(self.opened.get() + 1);
        Ok(self.opened.get())
    }
    fn reset(&self, _: &mut u64, _: ResetMode) -> Result<(), ()> {
        Ok(())
    }
    fn close(&self, _: u64) {
        self.closed.set(self.closed.get() + 1);
    }
}

/// A pointer that owns its pool: moving the guard moves the pool.
struct Own<T>(T);

impl<T> Deref for Own<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: `deref` always leads to the pool this pointer holds inline (which moves with
// it, as the trait allows) and which lives exactly as long as the pointer.
unsafe impl<T> tarn_core::PoolPtr for Own<T> {}

/// Checks out of a pool the guard owns, moves the guard (and the pool with it) around,
/// and uses it after every move.
fn moved_around<S>(
    pool: tarn_core::RawPool<Numbers, tarn_core::NopEvents, tarn_core::NoClock, u32, S>,
) where
    S: tarn_core::Storage<u64, u32>,
{
    let mut conn = tarn_core::RawPool::try_checkout_in(Own(pool)).unwrap();
    *conn += 100;
    *Pooled::info_mut(&mut conn) = 7;
    let mut boxed = Box::new(conn);
    assert_eq!(**boxed, 101);
    **boxed += 1;
    let mut v = Vec::new();
    v.push(*boxed);
    let mut conn = v.pop().unwrap();
    assert_eq!(*conn, 102);
    assert_eq!(*Pooled::info(&conn), 7);
    assert!(format!("{conn:?}").contains("slot: 0"));
    Pooled::soft_invalidate(&mut conn);
    assert!(Pooled::is_soft_invalidated(&conn));
    let moved = conn;
    assert_eq!(Pooled::pool(&moved).state().checked_out, 1);
    // Soft-invalidated: closed on return, and the pool (owned by the guard) goes with it.
    Pooled::checkin(moved).unwrap();
}

#[test]
fn a_guard_that_owns_a_heap_pool_can_move() {
    let m = Numbers::default();
    let pool: Pool<Numbers, _, _, u32> = Builder::new(m.clone()).info::<u32>().build().unwrap();
    moved_around(pool);
    assert_eq!((m.opened.get(), m.closed.get()), (1, 1));
}

#[test]
fn a_guard_that_owns_a_fixed_pool_can_move() {
    let m = Numbers::default();
    let pool: FixedPool<Numbers, 2, tarn_core::NopEvents, tarn_core::NoClock, u32> =
        FixedPool::with_parts(
            m.clone(),
            tarn_core::NopEvents,
            tarn_core::NoClock,
            tarn_core::Settings::new(),
        );
    moved_around(pool);
    assert_eq!((m.opened.get(), m.closed.get()), (1, 1));
}

/// Several guards of one pool used in interleaved order, a slot reused meanwhile.
#[test]
fn interleaved_guards_keep_their_own_connections() {
    let m = Numbers::default();
    let heap: Pool<Numbers> = Builder::new(m.clone()).pool_size(3).build().unwrap();
    let fixed: FixedPool<Numbers, 3> = FixedPool::new(m.clone(), 3);
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            let mut a = pool.try_checkout().unwrap();
            let mut b = pool.try_checkout().unwrap();
            assert!(format!("{b:?}").contains("slot: 1"));
            let (ra, rb) = (*a, *b);
            *a += 10;
            *b += 20;
            let c = pool.try_checkout().unwrap();
            let rc = *c;
            drop(b); // its slot goes idle
            assert_eq!(*a, ra + 10);
            let mut d = pool.try_checkout().unwrap(); // takes b's connection back
            assert_eq!(*d, rb + 20);
            *d += 1;
            assert_eq!(*a, ra + 10);
            assert_eq!(*c, rc);
            Pooled::soft_invalidate(&mut a);
            let detached = Pooled::detach(c);
            assert_eq!(detached, rc);
            pool.close_detached(detached);
            Pooled::invalidate(d);
            assert_eq!(*a, ra + 10);
            drop(a); // soft: closed
            assert_eq!(pool.state().open, 0);
        }};
    }
    run!(&heap);
    run!(&fixed);
    assert_eq!(m.opened.get(), m.closed.get());
}
