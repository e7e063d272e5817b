//! One run of the job: setup, the workers and the conductor (progress, failover, overload
//! burst), then the balance check.

use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::HumanCount;
use tarn_pool::{Pool, PooledConnection};

use crate::args::Args;
use crate::outage::{checkout, CheckoutError, Outages};
use crate::progress::Out;
use crate::report::{get, wait_histogram, Counters, Report};
use crate::workload::{Names, Workload};

/// How long setup and the final balance check may take to get a connection (they ride out
/// an outage too).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What an operation did, for its counter.
#[derive(Debug, Clone, Copy)]
enum Op {
    Transfer,
    BalanceRead,
    LedgerRead,
}

/// What every thread of a run shares.
struct Ctx<'a, M: Workload>
where
    M::Connection: Send + 'static,
    M::Error: StdError + Send + Sync + 'static,
{
    pool: &'a Pool<M>,
    names: &'a Names,
    counters: &'a Counters,
    outages: &'a Outages,
    accounts: i64,
}

impl<M: Workload> Ctx<'_, M>
where
    M::Connection: Send + 'static,
    M::Error: StdError + Send + Sync + 'static,
{
    /// Gets a connection within `timeout` and runs `op` on it. Returns the time the
    /// checkout took, or `None` when there was no connection (a timeout or an outage: both
    /// counted where they belong).
    fn operate(
        &self,
        timeout: Duration,
        rng: &mut fastrand::Rng,
        busy: &AtomicU64,
        op: impl FnOnce(&mut M::Connection, &mut fastrand::Rng) -> Result<Op, M::Error>,
    ) -> Option<Duration> {
        let t0 = Instant::now();
        let mut conn = match checkout(self.pool, timeout, self.outages, rng) {
            Ok(conn) => conn,
            Err(CheckoutError::Busy) => {
                busy.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Err(CheckoutError::Unreachable) => return None,
            Err(CheckoutError::Failed(e)) => {
                self.counters.note_error(&e);
                thread::sleep(Duration::from_millis(10));
                return None;
            }
        };
        let waited = t0.elapsed();
        match op(&mut conn, rng) {
            Ok(op) => {
                let counter = match op {
                    Op::Transfer => &self.counters.transfers,
                    Op::BalanceRead => &self.counters.balance_reads,
                    Op::LedgerRead => &self.counters.ledger_reads,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.outages.succeeded();
            }
            Err(e) if self.pool.manager().is_disconnect(&e) => {
                // The server or this session went away: drop this connection and every
                // older one; the next checkout opens fresh ones.
                self.counters.disconnects.fetch_add(1, Ordering::Relaxed);
                self.outages.dropped();
                self.pool.invalidate_all();
                PooledConnection::invalidate(conn);
            }
            Err(e) => self.counters.note_error(&e),
        }
        Some(waited)
    }

    /// An account id, uniform over all accounts.
    fn account(&self, rng: &mut fastrand::Rng) -> i64 {
        rng.i64(1..=self.accounts)
    }

    /// One steady-workload operation: a transfer (`write_percent` of the time) or a read.
    fn mixed(
        &self,
        c: &mut M::Connection,
        rng: &mut fastrand::Rng,
        write_percent: u8,
    ) -> Result<Op, M::Error> {
        let a = self.account(rng);
        let roll = rng.u8(0..100);
        if roll < write_percent {
            let mut b = self.account(rng);
            if b == a {
                b = a % self.accounts + 1;
            }
            let amount = rng.i64(1..=50);
            M::transfer(c, self.names, a, b, amount).map(|()| Op::Transfer)
        } else if roll.is_multiple_of(2) {
            M::read_balance(c, self.names, a).map(|()| Op::BalanceRead)
        } else {
            M::read_ledger(c, self.names, a).map(|()| Op::LedgerRead)
        }
    }

    /// Runs `f` on a connection got by [`checkout`] within [`ADMIN_TIMEOUT`].
    fn admin<T>(
        &self,
        f: impl FnOnce(&mut M::Connection) -> Result<T, M::Error>,
    ) -> Result<T, Box<dyn StdError>> {
        let mut rng = fastrand::Rng::new();
        let mut conn = match checkout(self.pool, ADMIN_TIMEOUT, self.outages, &mut rng) {
            Ok(conn) => conn,
            Err(CheckoutError::Failed(e)) => return Err(e.into()),
            Err(_) => {
                return Err(format!("no connection within {ADMIN_TIMEOUT:?}").into());
            }
        };
        let value = f(&mut conn)?;
        self.outages.succeeded();
        Ok(value)
    }
}

/// Runs the job on `manager`; `database` is what the report calls it.
pub(crate) fn run<M>(
    manager: M,
    database: String,
    args: &Args,
    out: &Out,
) -> Result<Report, Box<dyn StdError>>
where
    M: Workload,
    M::Connection: Send + 'static,
    M::Error: StdError + Send + Sync + 'static,
{
    let pool = Pool::builder(manager)
        .pool_size(args.pool_size)
        .max_overflow(args.max_overflow)
        .timeout(Duration::from_millis(args.timeout_ms))
        .pre_ping(args.pre_ping)
        .logging_name("service")
        .build()?;
    let names = Names::new();
    let counters = Counters::default();
    let outages = Outages::new(Instant::now());
    let ctx = Ctx {
        pool: &pool,
        names: &names,
        counters: &counters,
        outages: &outages,
        accounts: args.accounts.max(2),
    };
    let total_before = ctx.admin(|c| {
        M::setup(c, &names, ctx.accounts)?;
        M::total(c, &names)
    })?;

    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let failover_at =
        (args.failover_at >= 0.0).then(|| duration.mul_f64(args.failover_at.min(1.0)));
    let burst_window = (args.burst_threads > 0).then(|| {
        let from = duration.mul_f64(args.burst_at.clamp(0.0, 1.0));
        let to = from + Duration::from_secs_f64(args.burst_duration.max(0.0));
        (from, to.min(duration))
    });
    out.say(&format!(
        "service: {} workers on {database} for {:.0} s (pool_size {}, max_overflow {})",
        args.workers,
        duration.as_secs_f64(),
        args.pool_size,
        args.max_overflow
    ));

    let start = Instant::now();
    let burst_stop = AtomicBool::new(false);
    let worker_timeout = Duration::from_millis(args.timeout_ms);
    let waits_us = thread::scope(|s| {
        let ctx = &ctx;
        let mut handles = Vec::new();
        for w in 0..args.workers {
            let mut rng = fastrand::Rng::with_seed(args.seed ^ (w as u64 + 1));
            handles.push(s.spawn(move || {
                let mut waits = wait_histogram();
                while !ctx.counters.stop.load(Ordering::Relaxed) {
                    let waited = ctx.operate(
                        worker_timeout,
                        &mut rng,
                        &ctx.counters.worker_timeouts,
                        |c, rng| ctx.mixed(c, rng, args.write_percent),
                    );
                    if let Some(waited) = waited {
                        waits.saturating_record(waited.as_micros() as u64);
                    }
                }
                waits
            }));
        }

        // The conductor: progress, the failover, the burst, the end.
        let mut failover_done = failover_at.is_none();
        let mut burst: Vec<thread::ScopedJoinHandle<'_, Histogram<u64>>> = Vec::new();
        let burst_stop = &burst_stop;
        let mut last_line = Instant::now();
        loop {
            let now = start.elapsed();
            if now >= duration {
                break;
            }
            if !failover_done && failover_at.is_some_and(|at| now >= at) {
                failover_done = true;
                pool.invalidate_all();
                out.say(&format!(
                    "[{:>5.1} s] failover: pool invalidated; every connection is replaced at its next checkout",
                    now.as_secs_f64()
                ));
            }
            if let Some((from, to)) = burst_window {
                if burst.is_empty() && now >= from && now < to {
                    out.say(&format!(
                        "[{:>5.1} s] overload: {} extra threads with a {} ms checkout timeout",
                        now.as_secs_f64(),
                        args.burst_threads,
                        args.burst_timeout_ms
                    ));
                    let timeout = Duration::from_millis(args.burst_timeout_ms);
                    let hold = Duration::from_millis(args.burst_hold_ms);
                    for b in 0..args.burst_threads {
                        let mut rng = fastrand::Rng::with_seed(args.seed ^ (0xB0B0 + b as u64));
                        burst.push(s.spawn(move || {
                            let mut waits = wait_histogram();
                            while !burst_stop.load(Ordering::Relaxed) {
                                let waited = ctx.operate(
                                    timeout,
                                    &mut rng,
                                    &ctx.counters.burst_timeouts,
                                    |c, rng| {
                                        let a = ctx.account(rng);
                                        let read = M::read_ledger(c, ctx.names, a);
                                        // A slow request: holds its connection.
                                        thread::sleep(hold);
                                        read.map(|()| Op::LedgerRead)
                                    },
                                );
                                if let Some(waited) = waited {
                                    ctx.counters.burst_checkouts.fetch_add(1, Ordering::Relaxed);
                                    waits.saturating_record(waited.as_micros() as u64);
                                }
                            }
                            waits
                        }));
                    }
                }
                if now >= to && !burst_stop.load(Ordering::Relaxed) && !burst.is_empty() {
                    burst_stop.store(true, Ordering::Relaxed);
                    out.say(&format!(
                        "[{:>5.1} s] overload over: {} burst timeouts so far",
                        now.as_secs_f64(),
                        get(&counters.burst_timeouts)
                    ));
                }
            }
            let st = pool.state();
            let ops = counters.ops();
            let rate = ops as f64 / now.as_secs_f64().max(1e-3);
            let msg = format!(
                "{} ops, {} ops/s | open {} idle {} out {} overflow {} waiting {} | timeouts {}{}",
                HumanCount(ops),
                HumanCount(rate as u64),
                st.open,
                st.idle,
                st.checked_out,
                st.overflow,
                st.waiting,
                HumanCount(counters.timeouts()),
                if outages.is_open() { " | OUTAGE" } else { "" }
            );
            if out.bar.is_hidden() {
                if last_line.elapsed() >= Duration::from_secs(5) {
                    last_line = Instant::now();
                    eprintln!("[{:>5.1} s] {msg}", now.as_secs_f64());
                }
            } else {
                out.bar.set_position(now.as_millis() as u64);
                out.bar.set_message(msg);
            }
            thread::sleep(Duration::from_millis(100));
        }
        counters.stop.store(true, Ordering::Relaxed);
        burst_stop.store(true, Ordering::Relaxed);
        let mut all = wait_histogram();
        for h in handles.into_iter().chain(burst) {
            match h.join() {
                // Same bounds on both sides: adding never fails.
                Ok(w) => all.add(&w).unwrap_or(()),
                Err(_) => counters.note_error(&"a worker thread panicked"),
            }
        }
        all
    });
    let elapsed = start.elapsed();
    out.bar.finish_and_clear();

    let total_after = ctx.admin(|c| {
        let total = M::total(c, &names)?;
        M::teardown(c, &names)?;
        Ok(total)
    })?;
    pool.dispose();
    let stats = pool.stats();
    Ok(Report {
        database,
        args: args.clone(),
        elapsed,
        counters,
        waits_us,
        stats,
        open_after_dispose: pool.state().open,
        failover_at,
        burst_window,
        outages: outages.list(),
        total_before,
        total_after,
    })
}
