//! The reference's other pool kinds, one file each: [`NullPool`] (`null.rs`),
//! [`StaticPool`] (`static_pool.rs`), [`AssertionPool`] (`assertion.rs`) and
//! [`SingletonThreadPool`] (`singleton.rs`).
//!
//! Each kind is a caller policy (which connection a caller gets: a new one, the shared one,
//! the one and only, the thread's) over a tarn-core pool configured for it; the core runs
//! every step of the connections' lives, as it does for [`Pool`](crate::Pool).
//! `connection.rs` is the guard of the kinds that lend a connection to one caller at a
//! time; `thread_connection.rs` the guard of a thread's connection and the place the thread
//! keeps it in.
//!
//! The kinds do not wait for capacity (only NullPool, StaticPool and SingletonThreadPool
//! checkouts wait, and only while the pool's very first connect runs); the manager calls a
//! checkout makes get [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT) as their limit, and so
//! does the reset on return.

mod assertion;
mod connection;
mod null;
mod singleton;
mod static_pool;
mod thread_connection;

pub use assertion::AssertionPool;
pub use connection::KindConnection;
pub use null::NullPool;
pub use singleton::SingletonThreadPool;
pub use static_pool::{StaticConnection, StaticPool};
pub use thread_connection::ThreadConnection;
