//! The main job: a small banking service under load, through a tarn `QueuePool`.
//!
//! Worker threads run a mixed read/write workload (balance reads, recent-ledger reads, and
//! transfers that move money between two accounts in one transaction) against an SQLite file
//! database — or PostgreSQL, MariaDB/MySQL or Redis with `--database-url`. A live progress
//! bar shows throughput and the pool's state. Midway the pool is invalidated (a simulated
//! failover: every connection is replaced at its next checkout), and later a short burst of
//! extra threads with a short checkout timeout overloads the pool, so timeouts happen and are
//! handled. The run ends with a plain-text report on stdout: operations, throughput, checkout
//! wait p50/p99/max, connections opened/recycled/invalidated, timeouts, and a check that the
//! transfers kept the total balance.
//!
//! ```text
//! cargo run --release --example service
//! cargo run --release --features postgres --example service -- --database-url postgres://postgres@127.0.0.1/test
//! cargo run --release --example service -- --help
//! ```
//!
//! Exits non-zero if an operation failed unexpectedly or the total balance changed.
// Built without any database feature, the example only explains which feature to enable.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "redis"
    )),
    allow(dead_code)
)]

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tarn_pool::{Manager, Pool, PooledConnection};

/// A mixed read/write workload through a tarn connection pool, with a simulated failover and
/// an overload burst; ends with a report.
#[derive(Parser, Debug, Clone)]
#[command(name = "service", version)]
struct Args {
    /// Database to run against: sqlite:///path/to.db, postgres://user@host/db,
    /// mysql://user@host/db or redis://host:port/db. Default: a fresh SQLite file in a
    /// temporary directory, removed afterwards. Server URLs need the matching cargo
    /// feature (--features postgres | mysql | redis).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,

    /// Worker threads running the steady workload.
    #[arg(long, default_value_t = 8)]
    workers: usize,

    /// How long the workload runs, in seconds.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    duration: f64,

    /// Connections the pool keeps (pool_size).
    #[arg(long, default_value_t = 4)]
    pool_size: usize,

    /// Extra connections the pool may open under load (max_overflow).
    #[arg(long, default_value_t = 2)]
    max_overflow: usize,

    /// How long a worker waits for a connection before giving up, in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    timeout_ms: u64,

    /// Ping each idle connection before handing it out (true or false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pre_ping: bool,

    /// Percentage of operations that are transfers (write transactions); the rest are reads.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    write_percent: u8,

    /// Number of accounts.
    #[arg(long, default_value_t = 1000)]
    accounts: i64,

    /// When to invalidate the whole pool (simulated failover), as a fraction of the run;
    /// a negative value disables it.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    failover_at: f64,

    /// Extra threads in the overload burst (0 disables it).
    #[arg(long, default_value_t = 24)]
    burst_threads: usize,

    /// When the overload burst starts, as a fraction of the run.
    #[arg(long, default_value_t = 0.75)]
    burst_at: f64,

    /// How long the overload burst lasts, in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    burst_duration: f64,

    /// Checkout timeout of the burst threads, in milliseconds.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    burst_timeout_ms: u64,

    /// How long each burst thread holds its connection, in milliseconds.
    #[arg(long, default_value_t = 20, value_name = "MS")]
    burst_hold_ms: u64,

    /// Never draw the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,

    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// What the workload needs from a database, on one connection.
trait Workload: Manager + Send + Sync + Sized + 'static
where
    Self::Connection: Send + 'static,
    Self::Error: StdError + Send + Sync + 'static,
{
    /// Creates the accounts (each with 1000) and the ledger.
    fn setup(c: &mut Self::Connection, t: &Names, accounts: i64) -> Result<(), Self::Error>;
    /// Reads one account's balance.
    fn read_balance(c: &mut Self::Connection, t: &Names, id: i64) -> Result<(), Self::Error>;
    /// Reads the last ten ledger entries of one account.
    fn read_ledger(c: &mut Self::Connection, t: &Names, id: i64) -> Result<(), Self::Error>;
    /// Moves `amount` from one account to another and records it, in one transaction.
    fn transfer(
        c: &mut Self::Connection,
        t: &Names,
        from: i64,
        to: i64,
        amount: i64,
    ) -> Result<(), Self::Error>;
    /// The sum of all balances.
    fn total(c: &mut Self::Connection, t: &Names) -> Result<i64, Self::Error>;
    /// Drops what `setup` created.
    fn teardown(c: &mut Self::Connection, t: &Names) -> Result<(), Self::Error>;
}

/// Table (or key) names, unique per process so runs never collide.
#[derive(Debug, Clone)]
struct Names {
    accounts: String,
    ledger: String,
}

impl Names {
    fn new() -> Names {
        let pid = std::process::id();
        Names {
            accounts: format!("tarn_service_accounts_{pid}"),
            ledger: format!("tarn_service_ledger_{pid}"),
        }
    }
}

/// `INSERT INTO accounts VALUES (1, 1000), (2, 1000), ...` in chunks of 500 rows.
fn account_inserts(t: &Names, accounts: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 1;
    while start <= accounts {
        let end = (start + 499).min(accounts);
        let mut sql = format!("INSERT INTO {} (id, balance) VALUES ", t.accounts);
        for id in start..=end {
            let sep = if id == end { "" } else { "," };
            let _ = write!(sql, "({id}, 1000){sep}");
        }
        out.push(sql);
        start = end + 1;
    }
    out
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::{account_inserts, Names, Workload};
    use tarn_pool::managers::sqlite::rusqlite::{Connection, Error, TransactionBehavior};
    use tarn_pool::managers::SqliteManager;

    impl Workload for SqliteManager {
        fn setup(c: &mut Connection, t: &Names, accounts: i64) -> Result<(), Error> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(&format!(
                "CREATE TABLE {a} (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
                 CREATE TABLE {l} (id INTEGER PRIMARY KEY AUTOINCREMENT, src INTEGER NOT NULL,
                                   dst INTEGER NOT NULL, amount INTEGER NOT NULL);
                 CREATE INDEX {l}_src ON {l} (src);",
                a = t.accounts,
                l = t.ledger
            ))?;
            for sql in account_inserts(t, accounts) {
                tx.execute_batch(&sql)?;
            }
            tx.commit()
        }

        fn read_balance(c: &mut Connection, t: &Names, id: i64) -> Result<(), Error> {
            let sql = format!("SELECT balance FROM {} WHERE id = ?1", t.accounts);
            c.prepare_cached(&sql)?
                .query_row([id], |r| r.get::<_, i64>(0))
                .map(drop)
        }

        fn read_ledger(c: &mut Connection, t: &Names, id: i64) -> Result<(), Error> {
            let sql = format!(
                "SELECT count(*), coalesce(sum(amount), 0) FROM \
                 (SELECT amount FROM {} WHERE src = ?1 ORDER BY id DESC LIMIT 10)",
                t.ledger
            );
            c.prepare_cached(&sql)?
                .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .map(drop)
        }

        fn transfer(
            c: &mut Connection,
            t: &Names,
            from: i64,
            to: i64,
            amount: i64,
        ) -> Result<(), Error> {
            // IMMEDIATE: take the write lock up front, so two writers never deadlock on a
            // read-to-write upgrade (they queue on the busy timeout instead).
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let update = format!(
                "UPDATE {} SET balance = balance + ?2 WHERE id = ?1",
                t.accounts
            );
            tx.prepare_cached(&update)?.execute([from, -amount])?;
            tx.prepare_cached(&update)?.execute([to, amount])?;
            let insert = format!(
                "INSERT INTO {} (src, dst, amount) VALUES (?1, ?2, ?3)",
                t.ledger
            );
            tx.prepare_cached(&insert)?.execute([from, to, amount])?;
            tx.commit()
        }

        fn total(c: &mut Connection, t: &Names) -> Result<i64, Error> {
            c.query_row(
                &format!("SELECT sum(balance) FROM {}", t.accounts),
                [],
                |r| r.get(0),
            )
        }

        fn teardown(c: &mut Connection, t: &Names) -> Result<(), Error> {
            c.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
                t.ledger, t.accounts
            ))
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::{account_inserts, Names, Workload};
    use tarn_pool::managers::postgres::{PgConnection as Client, PgError as Error};
    use tarn_pool::managers::PostgresManager;

    impl Workload for PostgresManager {
        fn setup(c: &mut Client, t: &Names, accounts: i64) -> Result<(), Error> {
            let mut tx = c.transaction()?;
            tx.batch_execute(&format!(
                "CREATE TABLE {a} (id bigint PRIMARY KEY, balance bigint NOT NULL);
                 CREATE TABLE {l} (id bigserial PRIMARY KEY, src bigint NOT NULL,
                                   dst bigint NOT NULL, amount bigint NOT NULL);
                 CREATE INDEX ON {l} (src);",
                a = t.accounts,
                l = t.ledger
            ))?;
            for sql in account_inserts(t, accounts) {
                tx.batch_execute(&sql)?;
            }
            tx.commit()
        }

        fn read_balance(c: &mut Client, t: &Names, id: i64) -> Result<(), Error> {
            let sql = format!("SELECT balance FROM {} WHERE id = $1", t.accounts);
            c.query_one(&sql, &[&id]).map(drop)
        }

        fn read_ledger(c: &mut Client, t: &Names, id: i64) -> Result<(), Error> {
            let sql = format!(
                "SELECT count(*), coalesce(sum(amount), 0)::bigint FROM \
                 (SELECT amount FROM {} WHERE src = $1 ORDER BY id DESC LIMIT 10) recent",
                t.ledger
            );
            c.query_one(&sql, &[&id]).map(drop)
        }

        fn transfer(
            c: &mut Client,
            t: &Names,
            from: i64,
            to: i64,
            amount: i64,
        ) -> Result<(), Error> {
            let mut tx = c.transaction()?;
            // Lock the two rows in id order: concurrent transfers never deadlock.
            let update = format!(
                "UPDATE {} SET balance = balance + $2 WHERE id = $1",
                t.accounts
            );
            let (first, second) = if from < to {
                ((from, -amount), (to, amount))
            } else {
                ((to, amount), (from, -amount))
            };
            tx.execute(&update, &[&first.0, &first.1])?;
            tx.execute(&update, &[&second.0, &second.1])?;
            let insert = format!(
                "INSERT INTO {} (src, dst, amount) VALUES ($1, $2, $3)",
                t.ledger
            );
            tx.execute(&insert, &[&from, &to, &amount])?;
            tx.commit()
        }

        fn total(c: &mut Client, t: &Names) -> Result<i64, Error> {
            let sql = format!("SELECT sum(balance)::bigint FROM {}", t.accounts);
            Ok(c.query_one(&sql, &[])?.get(0))
        }

        fn teardown(c: &mut Client, t: &Names) -> Result<(), Error> {
            c.batch_execute(&format!(
                "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
                t.ledger, t.accounts
            ))
        }
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::{account_inserts, Names, Workload};
    use tarn_pool::managers::mysql::mysql::prelude::Queryable;
    use tarn_pool::managers::mysql::mysql::{Error, TxOpts};
    use tarn_pool::managers::mysql::MysqlConnection as Conn;
    use tarn_pool::managers::MysqlManager;

    impl Workload for MysqlManager {
        fn setup(c: &mut Conn, t: &Names, accounts: i64) -> Result<(), Error> {
            c.query_drop(format!(
                "CREATE TABLE {} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
                t.accounts
            ))?;
            c.query_drop(format!(
                "CREATE TABLE {} (id BIGINT AUTO_INCREMENT PRIMARY KEY, src BIGINT NOT NULL, \
                 dst BIGINT NOT NULL, amount BIGINT NOT NULL, KEY (src)) ENGINE=InnoDB",
                t.ledger
            ))?;
            let mut tx = c.start_transaction(TxOpts::default())?;
            for sql in account_inserts(t, accounts) {
                tx.query_drop(sql)?;
            }
            tx.commit()
        }

        fn read_balance(c: &mut Conn, t: &Names, id: i64) -> Result<(), Error> {
            let sql = format!("SELECT balance FROM {} WHERE id = ?", t.accounts);
            c.exec_first::<i64, _, _>(sql, (id,)).map(drop)
        }

        fn read_ledger(c: &mut Conn, t: &Names, id: i64) -> Result<(), Error> {
            let sql = format!(
                "SELECT count(*), CAST(coalesce(sum(amount), 0) AS SIGNED) FROM \
                 (SELECT amount FROM {} WHERE src = ? ORDER BY id DESC LIMIT 10) recent",
                t.ledger
            );
            c.exec_first::<(i64, i64), _, _>(sql, (id,)).map(drop)
        }

        fn transfer(c: &mut Conn, t: &Names, from: i64, to: i64, amount: i64) -> Result<(), Error> {
            let mut tx = c.start_transaction(TxOpts::default())?;
            let update = format!(
                "UPDATE {} SET balance = balance + ? WHERE id = ?",
                t.accounts
            );
            let (first, second) = if from < to {
                ((-amount, from), (amount, to))
            } else {
                ((amount, to), (-amount, from))
            };
            tx.exec_drop(&update, first)?;
            tx.exec_drop(&update, second)?;
            let insert = format!(
                "INSERT INTO {} (src, dst, amount) VALUES (?, ?, ?)",
                t.ledger
            );
            tx.exec_drop(insert, (from, to, amount))?;
            tx.commit()
        }

        fn total(c: &mut Conn, t: &Names) -> Result<i64, Error> {
            let sql = format!("SELECT CAST(sum(balance) AS SIGNED) FROM {}", t.accounts);
            Ok(c.query_first::<i64, _>(sql)?.unwrap_or(0))
        }

        fn teardown(c: &mut Conn, t: &Names) -> Result<(), Error> {
            c.query_drop(format!("DROP TABLE IF EXISTS {}, {}", t.ledger, t.accounts))
        }
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::{Names, Workload};
    use tarn_pool::managers::redis::redis::{self, Connection, RedisError};
    use tarn_pool::managers::RedisManager;

    impl Workload for RedisManager {
        fn setup(c: &mut Connection, t: &Names, accounts: i64) -> Result<(), RedisError> {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for id in 1..=accounts {
                pipe.hset(&t.accounts, id, 1000).ignore();
            }
            pipe.query::<()>(c)
        }

        fn read_balance(c: &mut Connection, t: &Names, id: i64) -> Result<(), RedisError> {
            redis::cmd("HGET")
                .arg(&t.accounts)
                .arg(id)
                .query::<Option<i64>>(c)
                .map(drop)
        }

        fn read_ledger(c: &mut Connection, t: &Names, id: i64) -> Result<(), RedisError> {
            redis::cmd("LRANGE")
                .arg(format!("{}:{id}", t.ledger))
                .arg(0)
                .arg(9)
                .query::<Vec<i64>>(c)
                .map(drop)
        }

        fn transfer(
            c: &mut Connection,
            t: &Names,
            from: i64,
            to: i64,
            amount: i64,
        ) -> Result<(), RedisError> {
            let key = format!("{}:{from}", t.ledger);
            redis::pipe()
                .atomic()
                .hincr(&t.accounts, from, -amount)
                .ignore()
                .hincr(&t.accounts, to, amount)
                .ignore()
                .lpush(&key, amount)
                .ignore()
                .ltrim(&key, 0, 99)
                .ignore()
                .query::<()>(c)
        }

        fn total(c: &mut Connection, t: &Names) -> Result<i64, RedisError> {
            let values: Vec<i64> = redis::cmd("HVALS").arg(&t.accounts).query(c)?;
            Ok(values.iter().sum())
        }

        fn teardown(c: &mut Connection, t: &Names) -> Result<(), RedisError> {
            let mut keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", t.ledger)).query(c)?;
            keys.push(t.accounts.clone());
            redis::cmd("DEL").arg(keys).query::<()>(c)
        }
    }
}

/// A small xorshift generator: the workload's choices, reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Counters shared by every thread.
#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    balance_reads: AtomicU64,
    ledger_reads: AtomicU64,
    transfers: AtomicU64,
    errors: AtomicU64,
    disconnects: AtomicU64,
    worker_timeouts: AtomicU64,
    burst_checkouts: AtomicU64,
    burst_timeouts: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn ops(&self) -> u64 {
        self.balance_reads.load(Ordering::Relaxed)
            + self.ledger_reads.load(Ordering::Relaxed)
            + self.transfers.load(Ordering::Relaxed)
    }

    fn note_error(&self, e: &dyn fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }
}

/// Where the run's messages go: above the progress bar, or plain lines.
struct Out {
    bar: ProgressBar,
}

impl Out {
    fn say(&self, msg: &str) {
        if self.bar.is_hidden() {
            println!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }
}

/// Everything the final report prints.
struct Report {
    database: String,
    args: Args,
    elapsed: Duration,
    counters: Counters,
    waits_us: Vec<u32>,
    stats: tarn_pool::Stats,
    open_after_dispose: usize,
    failover_at: Option<Duration>,
    burst_window: Option<(Duration, Duration)>,
    total_before: i64,
    total_after: i64,
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn fmt_us(us: u32) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", f64::from(us) / 1e3),
        _ => format!("{:.2} s", f64::from(us) / 1e6),
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let a = &self.args;
        let ops = c.ops();
        let secs = self.elapsed.as_secs_f64();
        let mut waits = self.waits_us.clone();
        waits.sort_unstable();
        let timeouts =
            c.worker_timeouts.load(Ordering::Relaxed) + c.burst_timeouts.load(Ordering::Relaxed);
        writeln!(f, "tarn service report")?;
        writeln!(f, "  database         {}", self.database)?;
        writeln!(
            f,
            "  pool             QueuePool pool_size {}, max_overflow {}, timeout {} ms, pre_ping {}",
            a.pool_size, a.max_overflow, a.timeout_ms, if a.pre_ping { "on" } else { "off" }
        )?;
        writeln!(
            f,
            "  workload         {} workers for {:.1} s, {}% transfers, {} accounts",
            a.workers, secs, a.write_percent, a.accounts
        )?;
        writeln!(
            f,
            "  operations       {} (balance reads {}, ledger reads {}, transfers {})",
            thousands(ops),
            thousands(c.balance_reads.load(Ordering::Relaxed)),
            thousands(c.ledger_reads.load(Ordering::Relaxed)),
            thousands(c.transfers.load(Ordering::Relaxed)),
        )?;
        writeln!(
            f,
            "  throughput       {} ops/s",
            thousands((ops as f64 / secs) as u64)
        )?;
        writeln!(
            f,
            "  checkout wait    p50 {}, p99 {}, max {} ({} checkouts)",
            fmt_us(percentile(&waits, 0.50)),
            fmt_us(percentile(&waits, 0.99)),
            fmt_us(waits.last().copied().unwrap_or(0)),
            thousands(waits.len() as u64)
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
            thousands(timeouts),
            thousands(c.worker_timeouts.load(Ordering::Relaxed)),
            thousands(c.burst_timeouts.load(Ordering::Relaxed)),
            thousands(c.burst_checkouts.load(Ordering::Relaxed) + c.burst_timeouts.load(Ordering::Relaxed)),
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
        writeln!(
            f,
            "  errors           {} unexpected, {} disconnects",
            c.errors.load(Ordering::Relaxed),
            c.disconnects.load(Ordering::Relaxed)
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

fn run<M>(manager: M, database: String, args: &Args) -> Result<Report, Box<dyn StdError>>
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
    let accounts = args.accounts.max(2);
    let total_before = {
        let mut c = pool.get()?;
        M::setup(&mut c, &names, accounts)?;
        M::total(&mut c, &names)?
    };

    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let failover_at =
        (args.failover_at >= 0.0).then(|| duration.mul_f64(args.failover_at.min(1.0)));
    let burst_window = (args.burst_threads > 0).then(|| {
        let from = duration.mul_f64(args.burst_at.clamp(0.0, 1.0));
        (
            from,
            (from + Duration::from_secs_f64(args.burst_duration.max(0.0))).min(duration),
        )
    });

    let bar = if args.no_progress || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(
            Some(duration.as_millis() as u64),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    };
    let out = Out { bar };
    out.say(&format!(
        "service: {} workers on {database} for {:.0} s (pool_size {}, max_overflow {})",
        args.workers,
        duration.as_secs_f64(),
        args.pool_size,
        args.max_overflow
    ));

    let counters = Counters::default();
    let start = Instant::now();
    let write_percent = u64::from(args.write_percent);
    let burst_stop = AtomicBool::new(false);
    let waits_us: Vec<u32> = thread::scope(|s| {
        let mut handles = Vec::new();
        for w in 0..args.workers {
            let (pool, counters, names) = (&pool, &counters, &names);
            let seed = args.seed ^ (w as u64 + 1);
            handles.push(s.spawn(move || {
                let mut rng = Rng::new(seed);
                let mut waits = Vec::with_capacity(1 << 16);
                while !counters.stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let mut conn = match pool.get() {
                        Ok(c) => c,
                        Err(e) if e.is_timeout() => {
                            counters.worker_timeouts.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => {
                            counters.note_error(&e);
                            thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    };
                    waits.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    let a = 1 + rng.below(accounts as u64) as i64;
                    let roll = rng.below(100);
                    let result = if roll < write_percent {
                        let mut b = 1 + rng.below(accounts as u64) as i64;
                        if b == a {
                            b = a % accounts + 1;
                        }
                        let amount = 1 + rng.below(50) as i64;
                        M::transfer(&mut conn, names, a, b, amount).map(|()| &counters.transfers)
                    } else if roll.is_multiple_of(2) {
                        M::read_balance(&mut conn, names, a).map(|()| &counters.balance_reads)
                    } else {
                        M::read_ledger(&mut conn, names, a).map(|()| &counters.ledger_reads)
                    };
                    match result {
                        Ok(counter) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if pool.manager().is_disconnect(&e) => {
                            // The server or this session went away: drop this connection
                            // and every older one; the next checkout opens fresh ones.
                            counters.disconnects.fetch_add(1, Ordering::Relaxed);
                            pool.invalidate_all();
                            PooledConnection::invalidate(conn);
                        }
                        Err(e) => counters.note_error(&e),
                    }
                }
                waits
            }));
        }

        // The conductor: progress, the failover, the burst, the end.
        let mut failover_done = failover_at.is_none();
        let mut burst: Vec<thread::ScopedJoinHandle<'_, Vec<u32>>> = Vec::new();
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
                    for b in 0..args.burst_threads {
                        let (pool, counters, names) = (&pool, &counters, &names);
                        let (timeout, hold) = (
                            Duration::from_millis(args.burst_timeout_ms),
                            Duration::from_millis(args.burst_hold_ms),
                        );
                        let seed = args.seed ^ (0xB0B0 + b as u64);
                        burst.push(s.spawn(move || {
                            let mut rng = Rng::new(seed);
                            let mut waits = Vec::new();
                            while !burst_stop.load(Ordering::Relaxed) {
                                let t0 = Instant::now();
                                match pool.get_timeout(timeout) {
                                    Ok(mut conn) => {
                                        waits.push(t0.elapsed().as_micros() as u32);
                                        counters.burst_checkouts.fetch_add(1, Ordering::Relaxed);
                                        let a = 1 + rng.below(accounts as u64) as i64;
                                        match M::read_ledger(&mut conn, names, a) {
                                            Ok(()) => {
                                                counters
                                                    .ledger_reads
                                                    .fetch_add(1, Ordering::Relaxed);
                                            }
                                            Err(e) if pool.manager().is_disconnect(&e) => {
                                                counters
                                                    .disconnects
                                                    .fetch_add(1, Ordering::Relaxed);
                                                pool.invalidate_all();
                                                PooledConnection::invalidate(conn);
                                                continue;
                                            }
                                            Err(e) => counters.note_error(&e),
                                        }
                                        // A slow request: holds its connection.
                                        thread::sleep(hold);
                                    }
                                    Err(e) if e.is_timeout() => {
                                        // Handled: a real service would answer 503 here.
                                        counters.burst_timeouts.fetch_add(1, Ordering::Relaxed);
                                    }
                                    Err(e) => {
                                        counters.note_error(&e);
                                        thread::sleep(Duration::from_millis(10));
                                    }
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
                        counters.burst_timeouts.load(Ordering::Relaxed)
                    ));
                }
            }
            let st = pool.state();
            let ops = counters.ops();
            let rate = ops as f64 / now.as_secs_f64().max(1e-3);
            let timeouts = counters.worker_timeouts.load(Ordering::Relaxed)
                + counters.burst_timeouts.load(Ordering::Relaxed);
            let msg = format!(
                "{} ops, {} ops/s | open {} idle {} out {} overflow {} waiting {} | timeouts {}",
                thousands(ops),
                thousands(rate as u64),
                st.open,
                st.idle,
                st.checked_out,
                st.overflow,
                st.waiting,
                timeouts
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
        let mut all = Vec::new();
        for h in handles.into_iter().chain(burst) {
            match h.join() {
                Ok(w) => all.extend(w),
                Err(_) => counters.note_error(&"a worker thread panicked"),
            }
        }
        all
    });
    let elapsed = start.elapsed();
    out.bar.finish_and_clear();

    let total_after = {
        let mut c = pool.get()?;
        let total = M::total(&mut c, &names)?;
        M::teardown(&mut c, &names)?;
        total
    };
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
        total_before,
        total_after,
    })
}

/// Runs against the database the URL names, if this build supports it.
fn dispatch(args: &Args) -> Result<Report, Box<dyn StdError>> {
    let url = args.database_url.clone().unwrap_or_default();
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        #[cfg(feature = "sqlite")]
        "" => {
            let dir = std::env::temp_dir().join(format!("tarn-service-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("service.db");
            let manager = tarn_pool::managers::SqliteManager::file(&path).wal(true);
            let result = run(
                manager,
                format!("SQLite file {} (WAL, temporary)", path.display()),
                args,
            );
            let _ = std::fs::remove_dir_all(&dir);
            result
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let manager = tarn_pool::managers::SqliteManager::from_url(&url)?;
            if manager.is_memory() {
                return Err("an in-memory SQLite database is private to one connection: use a file URL (sqlite:///path.db) for a shared pool".into());
            }
            let shown = format!(
                "SQLite file {}",
                manager
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            run(manager.wal(true), shown, args)
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let manager = tarn_pool::managers::PostgresManager::from_url(&url)?;
            let shown = format!("PostgreSQL {manager:?}");
            run(manager, shown, args)
        }
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let manager = tarn_pool::managers::MysqlManager::from_url(&url)?;
            let shown = format!("MariaDB/MySQL {manager:?}");
            run(manager, shown, args)
        }
        #[cfg(feature = "redis")]
        "redis" => {
            let manager = tarn_pool::managers::RedisManager::from_url(&url)?;
            let shown = format!("Redis {manager:?}");
            run(manager, shown, args)
        }
        #[cfg(not(feature = "sqlite"))]
        "" | "sqlite" => {
            Err("this build has no SQLite support: build with --features sqlite".into())
        }
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => {
            Err("this build has no PostgreSQL support: run with --features postgres".into())
        }
        #[cfg(not(feature = "mysql"))]
        "mysql" | "mariadb" => {
            Err("this build has no MariaDB/MySQL support: run with --features mysql".into())
        }
        #[cfg(not(feature = "redis"))]
        "redis" => Err("this build has no Redis support: run with --features redis".into()),
        other => Err(format!(
            "unknown database URL scheme {other:?}: expected sqlite, postgres, mysql or redis"
        )
        .into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match dispatch(&args) {
        Ok(report) => {
            println!("{report}");
            let failed = report.counters.errors.load(Ordering::Relaxed) > 0
                || report.total_before != report.total_after
                || report.open_after_dispose != 0;
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("service: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
