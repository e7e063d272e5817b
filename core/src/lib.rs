//! tarn-core: the lock-free, allocation-bounded engine of the tarn connection pool.
//!
//! It carries the semantics of SQLAlchemy's pool (sizing with overflow, reset on return,
//! recycle, hard and soft invalidation, pool-wide invalidation, detach, the checkout hook's
//! reconnect, first-connect once, events) on a core that never blocks, never reads time by
//! itself, and never allocates after the pool is built. A checkout either succeeds or says
//! [`WouldBlock`](CheckoutError::WouldBlock); waiting is the job of an adapter such as the
//! `tarn-pool` crate.
//!
//! ```
//! use tarn_core::{Builder, CheckoutError, Pooled, testing::ScriptedManager};
//!
//! let manager = ScriptedManager::new();
//! let pool = Builder::new(manager.clone()).pool_size(2).max_overflow(1).build()?;
//!
//! let a = pool.try_checkout().expect("opens a connection");
//! let b = pool.try_checkout().expect("opens a second");
//! let c = pool.try_checkout().expect("overflow allows a third");
//! assert!(matches!(pool.try_checkout(), Err(CheckoutError::WouldBlock)));
//! assert_eq!(pool.state().overflow, 1);
//!
//! drop(a);
//! drop(b);
//! drop(c); // the pool keeps pool_size = 2 idle: this one is closed
//! assert_eq!(pool.state().idle, 2);
//! assert_eq!(manager.closed(), 1);
//! # Ok::<(), tarn_core::BuildError>(())
//! ```
//!
//! # Where things live
//!
//! - [`Manager`] opens, resets, pings and closes connections; [`Events`] hooks every step of
//!   a connection's life (a close says why: [`CloseReason`]); [`Clock`] tells time, only if
//!   a recycle age is set; [`Waiters`] is told when capacity comes back (an adapter's wait
//!   queue); a [`Deadline`] gives each manager call of a checkout the caller's time left.
//! - [`Builder`] makes a heap [`Pool`]; [`FixedPool`] is `const`-constructible in a `static`
//!   with no allocator at all. Both are [`RawPool`]s: same code, different storage.
//! - [`Pooled`] is the guard of a checked-out connection; [`CheckedIn`] one checked in but
//!   kept by its holder.
//! - [`Settings`] holds every setting and its default: sizing (`pool_size` 0 means no idle
//!   limit; [`Settings::unlimited_overflow`]), which returns are kept ([`Retain`]), reset,
//!   recycle, pre-ping, idle order.
//!
//! # Features
//!
//! - `alloc` (default): [`Pool`] and [`Builder`], FIFO order through crossbeam's
//!   `ArrayQueue`, and the affinity order ([`IdleOrder::Affinity`] with a [`Hint`]). Without
//!   it only [`FixedPool`] exists.
//! - `portable-atomic`: atomics through `portable-atomic`, for targets without
//!   compare-and-swap (thumbv6m, riscv32imc); there the idle order is LIFO.
//! - `testing`: [`testing::ScriptedManager`] and [`testing::ManualClock`], for tests.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(test)]
extern crate std;

#[cfg(feature = "alloc")]
mod builder;
mod clock;
mod deadline;
mod error;
mod events;
mod guard;
mod kept;
mod manager;
mod pool;
mod settings;
mod slot;
mod stack;
mod state;
mod storage;
mod sync;
mod waiters;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "alloc")]
pub use builder::{Builder, Pool};
pub use clock::{Clock, NoClock};
pub use deadline::{Deadline, NoDeadline};
pub use error::{BuildError, CheckoutError};
pub use events::{CheckoutEvent, CloseReason, Disconnected, Events, InvalidateReason, NopEvents};
pub use guard::{AnyPool, PoolPtr, Pooled};
pub use kept::CheckedIn;
pub use manager::{Manager, ResetMode};
pub use pool::{FixedPool, RawPool};
pub use settings::{Retain, Settings, UNBOUNDED_IDLE_CAP};
pub use slot::Storage;
#[doc(hidden)]
pub use slot::{Entry, Slot};
pub use stack::MAX_CAPACITY;
pub use state::State;
#[cfg(feature = "alloc")]
pub use storage::HeapStorage;
pub use storage::{ArrayStorage, Hint, IdleOrder};
pub use waiters::{NoWaiters, Waiters};
