//! Deadlines for driver calls: the timeout one call gets from the caller's time left, and
//! a helper thread for calls whose driver cannot be given that timeout.
//!
//! A driver that fixes its socket timeouts when it connects (mysql), or that reads several
//! replies each under the full timeout (redis's handshake), cannot end a call at an exact
//! deadline. Such a call runs on a short-lived helper thread that owns what the call needs
//! while the caller waits at most its limit. When the limit passes first, the caller gets
//! a time-out error and the helper keeps what it owns until the driver's own timeouts end
//! its wait, then drops it there: a connection it opened or held is closed once, on the
//! helper.

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The timeout for one call: the smaller of the caller's `limit` and the manager's `cap`;
/// `None` when the limit has already run out.
pub(crate) fn within(limit: Option<Duration>, cap: Duration) -> Option<Duration> {
    match limit {
        None => Some(cap),
        Some(l) if l.is_zero() => None,
        Some(l) => Some(l.min(cap)),
    }
}

/// Why [`on_helper`] returned without the work's result.
#[derive(Debug)]
pub(crate) enum GaveUp {
    /// The limit passed first; the work goes on on its thread and drops its result.
    TimedOut,
    /// No helper thread could be started (the work, and what it owned, was dropped).
    Spawn(io::Error),
    /// The work panicked on its thread (what it owned was dropped there).
    Panicked,
}

impl GaveUp {
    /// The I/O error a caller gets: `"<server>: <step> did not finish within <limit>"`
    /// (or why no helper ran), of kind `TimedOut` for a time-out.
    pub(crate) fn into_io_error(self, server: &str, step: &str, limit: Duration) -> io::Error {
        let (kind, what) = match self {
            GaveUp::TimedOut => (
                io::ErrorKind::TimedOut,
                format!("did not finish within {limit:?}"),
            ),
            GaveUp::Spawn(e) => (e.kind(), format!("could not start a helper thread: {e}")),
            GaveUp::Panicked => (
                io::ErrorKind::Other,
                "the driver panicked on the helper thread".to_owned(),
            ),
        };
        io::Error::new(kind, format!("{server}: {step} {what}"))
    }
}

/// Runs `work` on a new thread and waits at most `limit` for its result. When the limit
/// passes first, the thread runs on and drops the result (closing whatever connection it
/// holds) when `work` returns.
pub(crate) fn on_helper<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, GaveUp> {
    // Capacity 1: the helper never blocks on sending, whether or not anyone still waits.
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("tarn-manager-call".into())
        .spawn(move || {
            // A send fails only when the caller gave up; the result (with its connection)
            // is then dropped here, on the helper.
            let _ = tx.send(work());
        })
        .map_err(GaveUp::Spawn)?;
    match rx.recv_timeout(limit) {
        Ok(v) => Ok(v),
        Err(mpsc::RecvTimeoutError::Timeout) => rx.try_recv().map_err(|_| GaveUp::TimedOut),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(GaveUp::Panicked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_call_gets_the_smaller_of_the_limit_and_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(within(None, s(10)), Some(s(10)));
        assert_eq!(within(Some(s(2)), s(10)), Some(s(2)));
        assert_eq!(within(Some(s(20)), s(10)), Some(s(10)));
        assert_eq!(within(Some(Duration::ZERO), s(10)), None);
    }

    #[test]
    fn the_helper_returns_its_result_or_gives_up_at_the_limit() {
        assert_eq!(on_helper(Duration::from_secs(5), || 7).unwrap(), 7);

        let start = Instant::now();
        let r = on_helper(Duration::from_millis(50), || {
            thread::sleep(Duration::from_millis(500));
        });
        assert!(matches!(r, Err(GaveUp::TimedOut)));
        assert!(start.elapsed() < Duration::from_millis(400));

        let r = on_helper(Duration::from_secs(5), || -> u8 { panic!("in the driver") });
        assert!(matches!(r, Err(GaveUp::Panicked)));
    }
}
