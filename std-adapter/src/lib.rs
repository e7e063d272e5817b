//! tarn-pool: a connection pool with SQLAlchemy's semantics, for threads.
//!
//! This crate is the std adapter over the lock-free `tarn-core`, which runs every step of a
//! connection's life. It adds waiting (first come, first served by default, or eventually
//! fair: see [`Fairness`]; with timeouts that bound every manager call a checkout makes),
//! the reference's five pool kinds as policies over a core pool, listeners for every event
//! (tarn-core's [`Events`] trait, re-exported), a registry of pools keyed by connect
//! arguments, `tracing` logs, and managers for real databases.
//!
//! ```
//! use std::time::Duration;
//! use tarn_pool::Pool;
//! # use tarn_core::testing::ScriptedManager;
//!
//! let pool = Pool::builder(ScriptedManager::new())
//!     .pool_size(4)
//!     .max_overflow(0)
//!     .timeout(Duration::from_secs(1))
//!     .build()?;
//!
//! std::thread::scope(|s| {
//!     for _ in 0..8 {
//!         s.spawn(|| {
//!             let conn = pool.get().expect("served within the timeout");
//!             assert!(conn.id >= 1);
//!         });
//!     }
//! });
//! assert!(pool.state().open <= 4);
//! assert_eq!(pool.state().checked_out, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Pool kinds
//!
//! | kind | what it does |
//! |---|---|
//! | [`Pool`] (the reference's `QueuePool`) | `pool_size` kept, `max_overflow` more under load, waiting with a timeout |
//! | [`NullPool`] | opens and closes a connection per checkout |
//! | [`StaticPool`] | one connection shared by every caller |
//! | [`AssertionPool`] | at most one connection out; a second checkout is an error |
//! | [`SingletonThreadPool`] | one connection per thread |
//!
//! # Panics in user code
//!
//! A panic in the manager or in a listener never corrupts a pool: the connection it was
//! handling is closed, every count stays right, and the caller gets [`Error::Panicked`].
#![forbid(unsafe_code)]

// Layers, one way: the kinds (`pool/`, `kinds/`) over `builder.rs` / `config.rs`, over the
// adapter's wrappers of the user's code (`adapt.rs`: the manager; `events.rs`: the
// listeners) and its waiting (`wait.rs`, through `sync.rs`), over tarn-core.
mod adapt;
mod builder;
mod config;
mod error;
mod events;
mod info;
mod keyed_pools;
mod kinds;
mod pool;
mod registry;
mod sync;
mod wait;

pub mod managers;

pub use builder::Builder;
pub use config::DEFAULT_TIMEOUT;
pub use error::{Error, TimeoutCause};
pub use events::Stats;
pub use info::Info;
pub use keyed_pools::Registry;
pub use kinds::{
    AssertionPool, KindConnection, NullPool, SingletonThreadPool, StaticConnection, StaticPool,
    ThreadConnection,
};
pub use pool::{OwnedPooledConnection, Pool, PooledConnection};
pub use registry::ConnectArgs;
pub use tarn_core::{
    BuildError, CheckoutEvent, Clock, CloseReason, Disconnected, Events, IdleOrder,
    InvalidateReason, Manager, ResetMode, State, UNBOUNDED_IDLE_CAP,
};
pub use wait::Fairness;
