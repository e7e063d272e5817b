//! The counters every thread shares, and the plain-text report printed at the end.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::HumanCount;

use crate::args::Args;
use crate::outage::Outage;

/// The longest checkout wait a histogram tells apart (longer ones saturate): one minute.
const WAIT_MAX_US: u64 = 60_000_000;

/// A histogram of checkout waits in microseconds, 3 significant digits: constant memory
/// however long the run.
pub(crate) fn wait_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy `new_with_bounds`' conditions (1 <= low,
    // 2 * low <= high, sigfig <= 5), so it cannot fail.
    Histogram::new_with_bounds(1, WAIT_MAX_US, 3).unwrap_or_else(|_| unreachable!())
}

/// Counters shared by every thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) stop: AtomicBool,
    pub(crate) balance_reads: AtomicU64,
    pub(crate) ledger_reads: AtomicU64,
    pub(crate) transfers: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) worker_timeouts: AtomicU64,
    pub(crate) burst_checkouts: AtomicU64,
    pub(crate) burst_timeouts: AtomicU64,
    pub(crate) first_error: Mutex<Option<String>>,
}

impl Counters {
    /// Operations completed.
    pub(crate) fn ops(&self) -> u64 {
        get(&self.balance_reads) + get(&self.ledger_reads) + get(&self.transfers)
    }

    /// Checkouts that timed out (handled, like a 503).
    pub(crate) fn timeouts(&self) -> u64 {
        get(&self.worker_timeouts) + get(&self.burst_timeouts)
    }

    /// Counts an unexpected error, keeping the first one's text.
    pub(crate) fn note_error(&self, e: &dyn fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }
}

pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Everything the final report prints.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) database: String,
    pub(crate) args: Args,
    pub(crate) elapsed: Duration,
    pub(crate) counters: Counters,
    pub(crate) waits_us: Histogram<u64>,
    pub(crate) stats: tarn_pool::Stats,
    pub(crate) open_after_dispose: usize,
    pub(crate) failover_at: Option<Duration>,
    pub(crate) burst_window: Option<(Duration, Duration)>,
    pub(crate) outages: Vec<Outage>,
    pub(crate) total_before: i64,
    pub(crate) total_after: i64,
}

impl Report {
    /// Whether the run failed: an unexpected error, a changed balance, a connection left
    /// open, or an outage the pool never recovered from.
    pub(crate) fn failed(&self) -> bool {
        get(&self.counters.errors) > 0
            || self.total_before != self.total_after
            || self.open_after_dispose != 0
            || self.outages.iter().any(|o| o.end.is_none())
    }
}

/// A wait in microseconds, shown by `Duration`'s own formatting (`523µs`, `1.2ms`).
fn wait(us: u64) -> String {
    let d = Duration::from_micros(us);
    if us < 1_000 {
        format!("{d:?}")
    } else {
        format!("{d:.2?}")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let a = &self.args;
        let ops = c.ops();
        let secs = self.elapsed.as_secs_f64();
        let w = &self.waits_us;
        writeln!(f, "tarn service report")?;
        writeln!(f, "  database         {}", self.database)?;
        writeln!(
            f,
            "  pool             QueuePool pool_size {}, max_overflow {}, timeout {} ms, pre_ping {}",
            a.pool_size,
            a.max_overflow,
            a.timeout_ms,
            if a.pre_ping { "on" } else { "off" }
        )?;
        writeln!(
            f,
            "  workload         {} workers for {secs:.1} s, {}% transfers, {} accounts",
            a.workers, a.write_percent, a.accounts
        )?;
        writeln!(
            f,
            "  operations       {} (balance reads {}, ledger reads {}, transfers {})",
            HumanCount(ops),
            HumanCount(get(&c.balance_reads)),
            HumanCount(get(&c.ledger_reads)),
            HumanCount(get(&c.transfers)),
        )?;
        writeln!(
            f,
            "  throughput       {} ops/s",
            HumanCount((ops as f64 / secs.max(1e-9)) as u64)
        )?;
        writeln!(
            f,
            "  checkout wait    p50 {}, p99 {}, max {} ({} checkouts)",
            wait(w.value_at_quantile(0.50)),
            wait(w.value_at_quantile(0.99)),
            wait(w.max()),
            HumanCount(w.len())
        )?;
        writeln!(
            f,
            "  connections      opened {}, closed {}, recycled {}, invalidated {}; open after dispose {}",
            self.stats.opened,
            self.stats.closed,
            self.stats.recycled,
            self.stats.invalidated,
            self.open_after_dispose
        )?;
        writeln!(
            f,
            "  timeouts         {} (workers {}, burst {} of {} checkouts; pool counted {}), all handled",
            HumanCount(c.timeouts()),
            HumanCount(get(&c.worker_timeouts)),
            HumanCount(get(&c.burst_timeouts)),
            HumanCount(get(&c.burst_checkouts) + get(&c.burst_timeouts)),
            self.stats.timeouts
        )?;
        match self.failover_at {
            Some(at) => writeln!(
                f,
                "  failover         invalidate_all() at {:.1} s; stale connections replaced at checkout",
                at.as_secs_f64()
            )?,
            None => writeln!(f, "  failover         off")?,
        }
        match self.burst_window {
            Some((from, to)) => writeln!(
                f,
                "  overload burst   {} threads, {:.1}-{:.1} s, checkout timeout {} ms, hold {} ms",
                a.burst_threads,
                from.as_secs_f64(),
                to.as_secs_f64(),
                a.burst_timeout_ms,
                a.burst_hold_ms
            )?,
            None => writeln!(f, "  overload burst   off")?,
        }
        if self.outages.is_empty() {
            writeln!(f, "  outages          none")?;
        }
        for (i, o) in self.outages.iter().enumerate() {
            writeln!(f, "  outage {:<9} {o}", i + 1)?;
        }
        writeln!(
            f,
            "  errors           {} unexpected, {} disconnects",
            get(&c.errors),
            get(&c.disconnects)
        )?;
        if let Some(e) = c
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
        {
            writeln!(f, "  first error      {e}")?;
        }
        let ok = if self.total_before == self.total_after {
            "kept"
        } else {
            "CHANGED"
        };
        write!(
            f,
            "  invariant        total balance {} before, {} after: {ok}",
            self.total_before, self.total_after
        )
    }
}
