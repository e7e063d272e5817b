//! The real-database scenario: `SELECT 1` on an in-memory SQLite database, one thread, bare
//! and through each pool; the pool's overhead as a share of the whole.
//!
//! tarn-core runs with [`MemorySqlite`] (the same reset rule as `tarn`'s `SqliteManager`, which
//! the `tarn` row uses); r2d2 with `r2d2_sqlite`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use tarn_benches::stats::Spread;
use tarn_core::{Manager, ResetMode};

/// A tarn manager for in-memory SQLite: reset rolls back only if a transaction is open.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemorySqlite;

impl Manager for MemorySqlite {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        Connection::open_in_memory()
    }
    fn reset(&self, conn: &mut Connection, mode: ResetMode) -> Result<(), rusqlite::Error> {
        if conn.is_autocommit() {
            return Ok(());
        }
        match mode {
            ResetMode::Rollback => conn.execute_batch("ROLLBACK"),
            ResetMode::Commit => conn.execute_batch("COMMIT"),
            ResetMode::None => Ok(()),
        }
    }
    fn close(&self, conn: Connection) {
        let _ = conn.close();
    }
    fn ping(&self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        conn.execute_batch("")
    }
}

fn select_one(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT 1")?.query_row([], |r| r.get(0))
}

/// Runs `f` in batches for about `time`; returns ns per call, or the first error.
fn time_loop(
    time: Duration,
    mut f: impl FnMut() -> rusqlite::Result<i64>,
) -> rusqlite::Result<f64> {
    let start = Instant::now();
    let mut n = 0u64;
    let mut sum = 0;
    while start.elapsed() < time {
        for _ in 0..64 {
            sum += f()?;
        }
        n += 64;
    }
    if sum != n as i64 {
        return Err(rusqlite::Error::InvalidQuery);
    }
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// What the scenario found.
#[derive(Debug)]
pub struct Outcome {
    /// The table, in Markdown.
    pub markdown: String,
    /// Every query returned 1 and no pool failed.
    pub ok: bool,
}

/// Measures bare, tarn-core, (tarn,) r2d2 and r2d2 with its test on checkout.
pub fn run(reps: usize, time: Duration) -> Outcome {
    match measure(reps, time) {
        Ok(markdown) => Outcome { markdown, ok: true },
        Err(e) => Outcome {
            markdown: format!("(the SQLite scenario failed: {e})\n"),
            ok: false,
        },
    }
}

type Row = (&'static str, Vec<f64>);

fn measure(reps: usize, time: Duration) -> Result<String, Box<dyn std::error::Error>> {
    let bare = Connection::open_in_memory()?;
    let core = tarn_core::Builder::new(MemorySqlite)
        .pool_size(1)
        .max_overflow(0)
        .build()?;
    #[cfg(feature = "adapter")]
    let adapter = tarn_pool::Pool::builder(tarn_pool::managers::SqliteManager::memory())
        .pool_size(1)
        .max_overflow(0)
        .timeout(Duration::from_secs(30))
        .build()?;
    let r2d2 = r2d2::Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .build(SqliteConnectionManager::memory())?;
    let r2d2_test = r2d2::Pool::builder()
        .max_size(1)
        .build(SqliteConnectionManager::memory())?;

    let mut rows: Vec<Row> = vec![
        ("bare connection (no pool)", Vec::new()),
        ("tarn-core try_checkout", Vec::new()),
        #[cfg(feature = "adapter")]
        ("tarn (its SqliteManager)", Vec::new()),
        ("r2d2 + r2d2_sqlite", Vec::new()),
        ("r2d2 + r2d2_sqlite (test on checkout)", Vec::new()),
    ];
    for _ in 0..reps {
        let mut i = 0;
        let mut push = |v: f64| {
            rows[i].1.push(v);
            i += 1;
        };
        push(time_loop(time, || select_one(&bare))?);
        push(time_loop(time, || {
            let conn = core
                .try_checkout()
                .map_err(|_| rusqlite::Error::InvalidQuery)?;
            select_one(&conn)
        })?);
        #[cfg(feature = "adapter")]
        push(time_loop(time, || {
            let conn = adapter.get().map_err(|_| rusqlite::Error::InvalidQuery)?;
            select_one(&conn)
        })?);
        push(time_loop(time, || {
            let conn = r2d2.get().map_err(|_| rusqlite::Error::InvalidQuery)?;
            select_one(&conn)
        })?);
        push(time_loop(time, || {
            let conn = r2d2_test.get().map_err(|_| rusqlite::Error::InvalidQuery)?;
            select_one(&conn)
        })?);
    }

    let bare_ns = Spread::of(&rows[0].1).median;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| path | ns per query, median (min–max) | pool overhead | overhead share of the query |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for (name, v) in &rows {
        let s = Spread::of(v);
        let over = s.median - bare_ns;
        let _ = writeln!(
            md,
            "| {name} | {:.0} ({:.0}–{:.0}) | {} | {} |",
            s.median,
            s.min,
            s.max,
            if *name == rows[0].0 {
                "—".to_string()
            } else {
                format!("{over:.0} ns")
            },
            if *name == rows[0].0 {
                "—".to_string()
            } else {
                format!("{:.1}%", 100.0 * over / s.median)
            },
        );
    }
    Ok(md)
}
