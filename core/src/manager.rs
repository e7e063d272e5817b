//! The [`Manager`] trait: how the pool opens, resets, checks and closes connections.
//!
//! It is the reference pool's `creator` plus its per-dialect reset and ping rules. The pool
//! calls it; it never calls the pool.
//!
//! # Deadlines
//!
//! A call that talks to a server can hang when the server stops answering. The `*_within`
//! methods carry the time the caller has left (`None`: no deadline); a manager for a real
//! server overrides them to set its driver's own timeouts from that limit, so that the
//! call returns, with an error, once the limit has passed. The defaults ignore the limit
//! and call the plain methods, which is right for managers that never block (in-memory
//! resources, embedded databases). tarn-core reads no time itself: the adapter that waits
//! computes each limit.

use core::time::Duration;

/// What to do with a connection when it is returned to the pool.
///
/// The reference pool's `reset_on_return`. The default is [`ResetMode::Rollback`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResetMode {
    /// Roll back whatever transaction the user left open (the safe default: locks are
    /// released and half-done work is discarded).
    #[default]
    Rollback,
    /// Commit whatever the user left open.
    Commit,
    /// Do nothing. Dangerous: a transaction left open, with its locks, travels to the next
    /// user of the connection. Only for connections that carry no session state.
    None,
}

/// Opens, resets, pings and closes connections for a pool.
///
/// Every method may be called from any thread that uses the pool, one connection at a time:
/// the pool never calls two methods on the same connection at once.
///
/// A manager reports failure through its [`Error`](Manager::Error) type and should not panic.
/// If it does panic, tarn-core unwinds with every count right and the connection it was
/// handling closed (or, for a panicking [`connect`](Manager::connect), never opened); the
/// `tarn` adapter additionally turns the panic into an error for the caller.
///
/// # Examples
///
/// ```
/// use tarn_core::{Manager, ResetMode};
///
/// /// "Connections" are counters; a real manager would open sockets.
/// struct Counters;
///
/// impl Manager for Counters {
///     type Connection = u64;
///     type Error = core::convert::Infallible;
///
///     fn connect(&self) -> Result<u64, Self::Error> { Ok(0) }
///     fn reset(&self, conn: &mut u64, _mode: ResetMode) -> Result<(), Self::Error> {
///         *conn = 0;
///         Ok(())
///     }
///     fn close(&self, _conn: u64) {}
/// }
/// ```
pub trait Manager {
    /// The connection type handed out by the pool.
    type Connection;
    /// The error returned by [`connect`](Manager::connect), [`reset`](Manager::reset) and
    /// [`ping`](Manager::ping). `Debug`, so that an adapter can log a failure with its
    /// cause; it must not show a password.
    type Error: core::fmt::Debug;

    /// Opens a new connection.
    ///
    /// # Errors
    ///
    /// Whatever stops the connection from opening; the pool gives the capacity back and
    /// reports the error to the caller of the checkout.
    fn connect(&self) -> Result<Self::Connection, Self::Error>;

    /// Returns a connection to a clean state when it is checked in, as `mode` says.
    ///
    /// Not called for [`ResetMode::None`].
    ///
    /// # Errors
    ///
    /// A failed reset makes the pool invalidate (close) the connection instead of keeping it.
    fn reset(&self, conn: &mut Self::Connection, mode: ResetMode) -> Result<(), Self::Error>;

    /// Closes a connection for good. Called exactly once for every connection the pool
    /// opened and did not hand out with `detach`.
    ///
    /// Closing cannot fail from the pool's point of view: a manager that sees an error here
    /// should log it and drop the connection.
    fn close(&self, conn: Self::Connection);

    /// Checks that a connection still works (pre-ping). Defaults to success.
    ///
    /// # Errors
    ///
    /// A failed ping makes the pool replace the connection; if
    /// [`is_disconnect`](Manager::is_disconnect) says the error means the server went away,
    /// every older connection in the pool is replaced too.
    fn ping(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        let _ = conn;
        Ok(())
    }

    /// Tells whether `error` means the connection (or the server) is gone, as opposed to an
    /// error in what was asked of it. Defaults to `false`.
    fn is_disconnect(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// Tells, without talking to the server, whether a returned connection is known to be
    /// broken (r2d2's `has_broken`: a socket the driver saw close, a session in an
    /// unrecoverable state). Asked on every return, in every [`ResetMode`], after the reset;
    /// a broken connection is invalidated ([`InvalidateReason::Broken`]) and closed instead of
    /// kept idle. Defaults to `false`. Must be cheap: it runs on every return.
    ///
    /// [`InvalidateReason::Broken`]: crate::InvalidateReason::Broken
    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// [`connect`](Manager::connect), returning within `limit` (the handshake included).
    /// Defaults to `connect`, ignoring the limit.
    ///
    /// # Errors
    ///
    /// As `connect`; a manager that honours the limit fails with its timeout error once
    /// the limit has passed.
    fn connect_within(&self, limit: Option<Duration>) -> Result<Self::Connection, Self::Error> {
        let _ = limit;
        self.connect()
    }

    /// [`reset`](Manager::reset), returning within `limit`. Defaults to `reset`, ignoring
    /// the limit.
    ///
    /// # Errors
    ///
    /// As `reset`; a reset that times out is a failed reset (the pool closes the
    /// connection).
    fn reset_within(
        &self,
        conn: &mut Self::Connection,
        mode: ResetMode,
        limit: Option<Duration>,
    ) -> Result<(), Self::Error> {
        let _ = limit;
        self.reset(conn, mode)
    }

    /// [`ping`](Manager::ping), returning within `limit`. Defaults to `ping`, ignoring the
    /// limit.
    ///
    /// # Errors
    ///
    /// As `ping`; a ping that times out is a failed ping.
    fn ping_within(
        &self,
        conn: &mut Self::Connection,
        limit: Option<Duration>,
    ) -> Result<(), Self::Error> {
        let _ = limit;
        self.ping(conn)
    }
}
