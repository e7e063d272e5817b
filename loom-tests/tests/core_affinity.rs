//! The affinity idle order (`IdleOrder::Affinity`): idle connections stay parked in their
//! slots and are claimed by swapping the slot's flag, with no shared queue. No connection is
//! ever held by two threads, and with overflow the idle count keeps at most `pool_size`
//! parked (`common::checkouts` checks both). `dispose` and the waiter contract under this
//! order are in `core_dispose.rs` and `core_released.rs`.
#![cfg(tarn_loom)]

mod common;

use common::{checkouts, model};
use tarn_core::IdleOrder;

/// Two threads, two parked connections, each thread starting from a different slot.
#[test]
fn two_threads_two_parked_no_overflow() {
    model(|| checkouts(IdleOrder::Affinity, 2, 1, 2, 0, 2));
}

/// Two threads, one parked connection both want: one claims it, the other scans on and
/// finds nothing (no overflow).
#[test]
fn two_threads_one_parked_no_overflow() {
    model(|| checkouts(IdleOrder::Affinity, 2, 1, 1, 0, 1));
}

/// With overflow the idle count is kept: two connections out, both come back, only
/// `pool_size` = 1 may stay parked.
#[test]
fn two_threads_pool_size_1_overflow_1_counted() {
    model(|| checkouts(IdleOrder::Affinity, 2, 1, 1, 1, 0));
}

/// Two rounds each on two connections: a connection parked by one thread is claimed by the
/// other.
#[test]
fn two_threads_two_rounds() {
    model(|| checkouts(IdleOrder::Affinity, 2, 2, 2, 0, 0));
}
