//! The reference's other pool kinds, one file each: [`NullPool`] (`null.rs`),
//! [`StaticPool`] (`static_pool.rs`), [`AssertionPool`] (`assertion.rs`) and
//! [`SingletonThreadPool`] (`singleton.rs`).
//!
//! Each kind is its caller policy (which connection a caller gets: a new one, the shared
//! one, the one and only, the thread's) over `base.rs`, which opens, hands out, checks in
//! and closes a connection with the reference's events; `connection.rs` is the guard of
//! the kinds that lend a connection to one caller at a time.

mod assertion;
mod base;
mod connection;
mod null;
mod singleton;
mod static_pool;

pub use assertion::AssertionPool;
pub use connection::KindConnection;
pub use null::NullPool;
pub use singleton::SingletonThreadPool;
pub use static_pool::{StaticConnection, StaticPool};
