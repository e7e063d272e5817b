//! tarn-model: a sequential model of the pool's semantics, the operation decoder shared by
//! the fuzz targets and the corpus replay test, and two runners. A `publish = false` crate of
//! the workspace: it is not part of what tarn ships.
//!
//! - [`run_ops`] drives a real pool and the model through the same operations, one at a
//!   time, and reports the first divergence: an outcome, which connection was handed out,
//!   which connections were closed, or a counter.
//! - [`Concurrent`] runs operations on one pool from several threads and checks what must
//!   hold whatever the interleaving: never more than `pool_size + max_overflow` connections
//!   open, no connection held twice, every opened connection closed exactly once after
//!   `dispose`.
//!
//! The model is written from the rules, not from the implementation:
//!
//! - a checkout takes an idle connection (FIFO: the one returned longest ago; LIFO: the one
//!   returned last; affinity: the one in the first slot at or after the slot handed out
//!   last, round the slots, where a new connection takes the empty slot freed last and the
//!   first empty slots go in index order); one from before `invalidate_all`/`dispose`, or older than the recycle
//!   age (`now - born > recycle`), is closed and replaced; with pre-ping, a failed ping
//!   closes it and fails the checkout (`CheckoutError::Ping`), and a ping that says
//!   "disconnected" replaces it and invalidates the whole pool (the generation rule);
//! - with nothing idle, a checkout opens a connection if fewer than
//!   `pool_size + max_overflow` are open, and otherwise would block;
//! - the checkout hook answering "disconnected" closes the connection and opens another; a
//!   second "disconnected" in the same checkout closes that one too and fails the checkout;
//! - a failed connect gives its capacity back;
//! - a checkin resets the connection (unless the reset mode is `None`); a failed reset closes
//!   it; a soft-invalidated or stale connection is closed; otherwise it is kept if fewer than
//!   `pool_size` are idle (`pool_size` 0: no limit), and closed if not;
//! - `dispose` closes the idle connections now and the checked-out ones when they come back;
//!   a pool that is dropped closes its idle connections.
//!
//! # Input format
//!
//! The first four bytes configure the pool ([`Config::decode`]); every further pair of bytes
//! is one [`Op`] (an opcode and an argument). Any byte string is a valid input.
//!
//! ```
//! use tarn_model::{decode, run_ops};
//!
//! // A heap pool, pool_size 1, max_overflow 1: check out twice, return both.
//! let input = [0b0000_1010, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0];
//! let (config, ops) = decode(&input);
//! assert_eq!(config.pool_size, 1);
//! let report = run_ops(&config, &ops).expect("the pool behaves as the model says");
//! assert_eq!(report.opened, 2);
//! assert_eq!(report.closed, 2); // one closed at checkin (overflow), one when the pool is dropped
//! ```
#![warn(missing_docs, missing_debug_implementations)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use tarn_core::testing::{ManualClock, ScriptedConn, ScriptedError, ScriptedManager};
use tarn_core::{
    ArrayStorage, BuildError, Builder, CheckoutError, CheckoutEvent, CloseReason, Disconnected,
    Events, HeapStorage, Hint, IdleOrder, Pooled, RawPool, ResetMode, Retain, Settings, Storage,
    UNBOUNDED_IDLE_CAP,
};

/// The number of slots of the [`FixedPool`](tarn_core::FixedPool) the runners use.
pub const FIXED_SLOTS: usize = 4;

/// The most operations [`decode`] reads from one input (the rest is ignored), which keeps
/// connection ids below what [`ScriptedManager`] tracks.
pub const MAX_OPS: usize = 256;

/// Connection ids the concurrent runner tracks holders for.
const MAX_IDS: usize = 4 * MAX_OPS + 8;

mod concurrent;
mod events;
mod input;
mod report;
mod runner;
mod sequential;

pub use concurrent::*;
pub use events::*;
pub use input::*;
pub use report::*;
pub use runner::*;
use sequential::*;
