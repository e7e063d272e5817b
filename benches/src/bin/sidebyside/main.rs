//! tarn side by side with its peers, in one run.
//!
//! ```text
//! cargo run --release -p tarn-benches --bin sidebyside -- [--quick | --smoke]
//!     [--out FILE.md] [--chart FILE.png] [--hold-only [--only NAME] [--size N]]
//! cargo run --release -p tarn-benches --bin sidebyside -- --profile CONTENDER CYCLES
//! cargo run --release -p tarn-benches --bin sidebyside -- --help
//! ```
//!
//! - default: the full run (threads {1, 2, 4, 16} × pool size {1, 4, 16}, 5 repetitions of
//!   200 ms per contender and cell; the hold scenario, 5 repetitions of 1 s; the SQLite
//!   scenario); about five minutes.
//! - `--quick`: 3 repetitions of 50 ms, for iterating.
//! - `--smoke`: correctness only (for CI): every contender, a few cells, 20 ms each, with
//!   every connection flagged in use while held; exits non-zero if a connection was ever
//!   held by two threads at once or a contender made no progress. Never looks at timings.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use tarn_benches::contenders::{self, Kind};
use tarn_benches::stats::{cv, Spread};
use tarn_benches::{calibrate_spins, opened, run, run_fixed, violations, CountingAlloc, Mode};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

mod chart;
mod sqlite;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Full,
    Quick,
    Smoke,
}

#[derive(Debug)]
struct Config {
    level: Level,
    out: Option<String>,
    chart: Option<String>,
    /// `--profile NAME CYCLES`: run one contender on one thread, pool of 4, and exit.
    profile: Option<(String, u64)>,
    /// `--hold-only`: run the hold scenario alone (for iterating on waiting).
    hold_only: bool,
    /// `--only NAME`: with `--hold-only`, that contender alone.
    only: Option<String>,
    /// `--size N`: with `--hold-only`, that pool size alone (default 4, then 1).
    hold_sizes: Vec<usize>,
}

/// tarn side by side with its peers, in one run: a grid of threads × pool sizes, the hold
/// scenario and the SQLite scenario, printed as Markdown.
#[derive(Debug, Parser)]
#[command(name = "sidebyside")]
struct Cli {
    /// 3 repetitions of 50 ms, for iterating (the later of --quick and --smoke counts).
    #[arg(long, overrides_with = "smoke")]
    quick: bool,
    /// Correctness only (for CI): exits non-zero if a connection was held by two threads at
    /// once or a contender made no progress; never looks at timings.
    #[arg(long, overrides_with = "quick")]
    smoke: bool,
    /// Also write the Markdown report to this file.
    #[arg(long, value_name = "FILE.md")]
    out: Option<String>,
    /// Also draw the chart to this PNG file.
    #[arg(long, value_name = "FILE.png")]
    chart: Option<String>,
    /// Run the hold scenario alone (for iterating on waiting).
    #[arg(long)]
    hold_only: bool,
    /// With --hold-only: that contender alone.
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// With --hold-only: that pool size alone (default 4, then 1).
    #[arg(long, value_name = "N")]
    size: Option<usize>,
    /// Run one contender on one thread, pool of 4, for CYCLES cycles, and exit (for
    /// callgrind); every other option is then ignored.
    #[arg(long, num_args = 2, value_names = ["CONTENDER", "CYCLES"])]
    profile: Option<Vec<String>>,
}

/// Exits with clap's usage error (status 2).
fn usage_error(msg: &str) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, msg)
        .exit()
}

impl Config {
    /// The configuration from the command line; exits with clap's usage message (status 2)
    /// on a bad argument, and prints `--help`.
    fn parse() -> Config {
        let cli = Cli::parse();
        let profile = cli.profile.map(|v| match v.as_slice() {
            [name, cycles] => match cycles.parse() {
                Ok(n) => (name.clone(), n),
                Err(e) => usage_error(&format!("--profile's cycle count {cycles:?}: {e}")),
            },
            _ => usage_error("--profile needs a contender name and a cycle count"),
        });
        Config {
            level: if cli.smoke {
                Level::Smoke
            } else if cli.quick {
                Level::Quick
            } else {
                Level::Full
            },
            out: cli.out,
            chart: cli.chart,
            profile,
            hold_only: cli.hold_only,
            only: cli.only,
            hold_sizes: cli.size.map_or_else(|| vec![4, 1], |n| vec![n]),
        }
    }

    fn reps(&self) -> usize {
        match self.level {
            Level::Full => 5,
            Level::Quick => 3,
            Level::Smoke => 1,
        }
    }

    fn run_time(&self) -> Duration {
        Duration::from_millis(match self.level {
            Level::Full => 200,
            Level::Quick => 50,
            Level::Smoke => 20,
        })
    }

    fn threads(&self) -> &'static [usize] {
        match self.level {
            Level::Smoke => &[1, 4, 16],
            _ => &[1, 2, 4, 16],
        }
    }

    fn sizes(&self) -> &'static [usize] {
        match self.level {
            Level::Smoke => &[1, 4],
            _ => &[1, 4, 16],
        }
    }

    fn mode(&self) -> Mode {
        Mode {
            check: self.level == Level::Smoke,
            ..Mode::default()
        }
    }
}

/// One contender in one cell: every repetition.
#[derive(Debug, Clone, Default)]
struct Cell {
    ns: Vec<f64>,
    allocs: Vec<f64>,
    cycles: Vec<u64>,
    /// Connections opened while the runs went on (a bounded pool, filled before, opens none).
    opened: u64,
}

impl Cell {
    fn ns(&self) -> Spread {
        Spread::of(&self.ns)
    }
    fn allocs(&self) -> f64 {
        self.allocs.iter().copied().fold(0.0, f64::max)
    }
}

/// Results of the grid: `cells[size_idx][threads_idx][contender_idx]`.
#[derive(Debug)]
struct Grid {
    names: Vec<&'static str>,
    kinds: Vec<Kind>,
    sizes: Vec<usize>,
    threads: Vec<usize>,
    cells: Vec<Vec<Vec<Cell>>>,
}

impl Grid {
    fn idx(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }
    fn median(&self, s: usize, t: usize, name: &str) -> Option<f64> {
        self.idx(name).map(|c| self.cells[s][t][c].ns().median)
    }
}

fn run_grid(cfg: &Config) -> Grid {
    let names: Vec<&'static str> = contenders::ALL.to_vec();
    let mut grid = Grid {
        kinds: Vec::new(),
        names: names.clone(),
        sizes: cfg.sizes().to_vec(),
        threads: cfg.threads().to_vec(),
        cells: Vec::new(),
    };
    for &size in cfg.sizes() {
        let pools: Vec<_> = names.iter().map(|n| contenders::build(n, size)).collect();
        if grid.kinds.is_empty() {
            grid.kinds = pools.iter().map(|p| p.kind()).collect();
        }
        let mut by_threads = Vec::new();
        for &threads in cfg.threads() {
            let mut cells = vec![Cell::default(); pools.len()];
            // One unrecorded warm-up run per contender: one-time set-up (a waiter node, a
            // list grown to the crowd, a runtime's first timer) is not a cost per cycle.
            for (pool, cell) in pools.iter().zip(&mut cells) {
                let before = opened();
                let _ = run(pool.as_ref(), threads, cfg.run_time() / 4, cfg.mode());
                cell.opened += opened() - before;
            }
            // Repetition-major order: a burst of noise hits every contender alike.
            for _ in 0..cfg.reps() {
                for (pool, cell) in pools.iter().zip(&mut cells) {
                    let before = opened();
                    let r = run(pool.as_ref(), threads, cfg.run_time(), cfg.mode());
                    cell.opened += opened() - before;
                    cell.ns.push(r.ns_per_cycle());
                    cell.allocs.push(r.allocs_per_cycle());
                    cell.cycles.push(r.cycles());
                }
            }
            eprintln!(
                "size {size:>2} threads {threads:>2}: {}",
                names
                    .iter()
                    .zip(&cells)
                    .map(|(n, c)| match c.opened {
                        0 => format!("{n} {:.1}", c.ns().median),
                        k => format!("{n} {:.1} (opened {k})", c.ns().median),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            by_threads.push(cells);
        }
        grid.cells.push(by_threads);
    }
    grid
}

/// One contender in the hold scenario, over repetitions.
#[derive(Debug, Clone, Default)]
struct Hold {
    name: &'static str,
    kind: Option<Kind>,
    throughput: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    max: u64,
    cv: Vec<f64>,
    allocs: f64,
}

const HOLD_THREADS: usize = 16;

fn run_hold(cfg: &Config, size: usize, spins: u32) -> Vec<Hold> {
    // The FIFO prototype (not a peer) shows what strict first-come-first-served costs.
    let names: Vec<&'static str> = match cfg.only.as_deref() {
        Some(only) => contenders::ALL
            .iter()
            .chain(contenders::VARIANTS)
            .copied()
            .filter(|n| *n == only)
            .take(1)
            .collect(),
        None => contenders::ALL
            .iter()
            .copied()
            .filter(|n| !n.starts_with("floor"))
            .chain(["proto: FIFO hand-off"])
            .collect(),
    };
    let pools: Vec<_> = names.iter().map(|n| contenders::build(n, size)).collect();
    let mut out: Vec<Hold> = names
        .iter()
        .zip(&pools)
        .map(|(n, p)| Hold {
            name: n,
            kind: Some(p.kind()),
            ..Hold::default()
        })
        .collect();
    let mode = Mode {
        check: cfg.level == Level::Smoke,
        hold_spins: spins,
        record_waits: true,
    };
    let time = match cfg.level {
        // Long enough for the OS scheduler's share of the spread to average out.
        Level::Full => Duration::from_millis(1000),
        Level::Quick => Duration::from_millis(150),
        Level::Smoke => Duration::from_millis(30),
    };
    // An unrecorded warm-up run per contender, as in the grid.
    for pool in &pools {
        let _ = run(pool.as_ref(), HOLD_THREADS, time / 5, mode);
    }
    for _ in 0..cfg.reps() {
        for (pool, h) in pools.iter().zip(&mut out) {
            let r = run(pool.as_ref(), HOLD_THREADS, time, mode);
            h.throughput
                .push(r.cycles() as f64 / r.elapsed.as_secs_f64());
            h.p50.push(r.waits.value_at_quantile(0.50) as f64);
            h.p99.push(r.waits.value_at_quantile(0.99) as f64);
            h.max = h.max.max(r.waits.max());
            h.cv.push(cv(&r.per_thread));
            h.allocs = h.allocs.max(r.allocs_per_cycle());
        }
    }
    for h in &out {
        eprintln!(
            "hold size {size}: {} {:.0}/s cv {:.3}",
            h.name,
            Spread::of(&h.throughput).median,
            Spread::of(&h.cv).median
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Report

fn fmt_ns(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn grid_tables(g: &Grid, md: &mut String) {
    for (s, &size) in g.sizes.iter().enumerate() {
        let _ = writeln!(
            md,
            "\n#### Pool size {size}: ns per cycle, median (min–max) of the repetitions\n"
        );
        let _ = write!(md, "| contender | kind |");
        for t in &g.threads {
            let _ = write!(md, " {t} thread{} |", if *t == 1 { "" } else { "s" });
        }
        let _ = writeln!(md, " allocs/cycle |");
        let _ = writeln!(md, "|---|---|{}---:|", "---:|".repeat(g.threads.len()));
        for (c, name) in g.names.iter().enumerate() {
            let _ = write!(md, "| {name} | {} |", kind_label(g.kinds[c]));
            let mut allocs: f64 = 0.0;
            for t in 0..g.threads.len() {
                let cell = &g.cells[s][t][c];
                let sp = cell.ns();
                allocs = allocs.max(cell.allocs());
                let _ = write!(
                    md,
                    " {} ({}–{}) |",
                    fmt_ns(sp.median),
                    fmt_ns(sp.min),
                    fmt_ns(sp.max)
                );
            }
            let _ = writeln!(md, " {} |", fmt_allocs(allocs));
        }
        // A bounded pool filled before the runs opens nothing during them; if one did, its
        // figures include connection churn, and the table says so rather than hide it.
        let churn: Vec<String> = g
            .names
            .iter()
            .enumerate()
            .filter(|(c, _)| g.kinds[*c] != Kind::Unbounded)
            .flat_map(|(c, name)| {
                g.threads
                    .iter()
                    .enumerate()
                    .filter_map(move |(t, threads)| {
                        let opened = g.cells[s][t][c].opened;
                        (opened > 0).then(|| format!("{name} ({threads} threads): {opened}"))
                    })
            })
            .collect();
        if churn.is_empty() {
            let _ = writeln!(
                md,
                "\nNo bounded pool opened a connection during these runs."
            );
        } else {
            let _ = writeln!(
                md,
                "\n**Connections opened during the runs** (churn, included in the figures): {}.",
                churn.join("; ")
            );
        }
        let _ = writeln!(
            md,
            "\n#### Pool size {size}: ratio to the floor / to Mutex+Condvar (same run)\n"
        );
        let _ = write!(md, "| contender |");
        for t in &g.threads {
            let _ = write!(md, " {t} thread{} |", if *t == 1 { "" } else { "s" });
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "|---|{}", "---:|".repeat(g.threads.len()));
        for (c, name) in g.names.iter().enumerate() {
            let _ = write!(md, "| {name} |");
            for t in 0..g.threads.len() {
                let me = g.cells[s][t][c].ns().median;
                let floor = g.median(s, t, "floor (ArrayQueue)").unwrap_or(f64::NAN);
                let mutex = g.median(s, t, "Mutex+Condvar").unwrap_or(f64::NAN);
                let _ = write!(md, " {:.2}× / {:.2}× |", me / floor, me / mutex);
            }
            let _ = writeln!(md);
        }
    }
}

fn fmt_allocs(a: f64) -> String {
    if a == 0.0 {
        "0".into()
    } else {
        format!("{a:.3}")
    }
}

fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::Floor => "floor",
        Kind::Blocking => "blocking",
        Kind::Spinning => "try + yield",
        Kind::Unbounded => "unbounded",
    }
}

fn hold_table(size: usize, hs: &[Hold], md: &mut String) {
    let _ = writeln!(
        md,
        "\n#### Hold: {HOLD_THREADS} threads, pool of {size}, each holding its connection ~2 µs\n"
    );
    let _ = writeln!(
        md,
        "| contender | kind | cycles/s, median (min–max) | wait p50 µs | wait p99 µs | wait max µs | fairness CV | allocs/cycle |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
    for h in hs {
        let tp = Spread::of(&h.throughput);
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} ({:.0}–{:.0}) | {:.1} | {:.1} | {:.0} | {:.1}% | {} |",
            h.name,
            h.kind.map(kind_label).unwrap_or(""),
            tp.median,
            tp.min,
            tp.max,
            Spread::of(&h.p50).median / 1e3,
            Spread::of(&h.p99).median / 1e3,
            h.max as f64 / 1e3,
            Spread::of(&h.cv).median * 100.0,
            fmt_allocs(h.allocs),
        );
    }
}

/// The contender that stands for tarn: the std adapter when built in, else the core.
fn tarn_name(g: &Grid) -> &'static str {
    if g.idx("tarn").is_some() {
        "tarn"
    } else {
        "tarn-core try_checkout"
    }
}

/// tarn-core's configurations in the tables.
fn core_names(g: &Grid) -> Vec<&'static str> {
    g.names
        .iter()
        .copied()
        .filter(|n| n.starts_with("tarn-core"))
        .collect()
}

/// The std adapter's configurations in the tables (none when it is not built in).
fn adapter_names(g: &Grid) -> Vec<&'static str> {
    g.names
        .iter()
        .copied()
        .filter(|n| n.starts_with("tarn") && !n.starts_with("tarn-core"))
        .collect()
}

fn is_bounded_peer(name: &str, kind: Kind) -> bool {
    matches!(kind, Kind::Blocking | Kind::Spinning)
        && !name.starts_with("tarn")
        && !name.starts_with("proto")
}

fn targets(g: &Grid, holds: &[(usize, Vec<Hold>)], md: &mut String) -> bool {
    let mut all = true;
    let mut line = |md: &mut String, ok: bool, what: String| {
        all &= ok;
        let _ = writeln!(md, "| {} | {what} |", if ok { "met" } else { "**missed**" });
    };
    let _ = writeln!(md, "\n| | target, measured in this run |");
    let _ = writeln!(md, "|---|---|");
    for me in core_names(g).into_iter().chain(adapter_names(g)) {
        let Some(c) = g.idx(me) else { continue };
        let t1 = 0; // threads = 1 is first
        for (s, &size) in g.sizes.iter().enumerate() {
            let v = g.cells[s][t1][c].ns().median;
            let floor = g.median(s, t1, "floor (ArrayQueue)").unwrap_or(f64::NAN);
            let r2d2 = g.median(s, t1, "r2d2").unwrap_or(f64::NAN);
            let r2d2t = g
                .median(s, t1, "r2d2 (test on checkout)")
                .unwrap_or(f64::NAN);
            line(
                md,
                v <= 1.5 * floor,
                format!(
                    "{me}, 1 thread, pool {size}: {} ns = {:.2}× the floor ({} ns); ≤ 1.5×",
                    fmt_ns(v),
                    v / floor,
                    fmt_ns(floor)
                ),
            );
            line(
                md,
                r2d2 >= 10.0 * v,
                format!(
                    "{me}, 1 thread, pool {size}: {:.1}× faster than r2d2 ({} ns; {:.1}× than r2d2 with its default test on checkout); ≥ 10×",
                    r2d2 / v,
                    fmt_ns(r2d2),
                    r2d2t / v
                ),
            );
        }
    }
    let adapters = adapter_names(g);
    // Without the adapter built in, tarn-core stands for tarn.
    let pools = if adapters.is_empty() {
        vec![tarn_name(g)]
    } else {
        adapters
    };
    for me in pools {
        let c = g.idx(me).expect("listed");
        for (s, &size) in g.sizes.iter().enumerate() {
            for (t, &threads) in g.threads.iter().enumerate() {
                if size < threads {
                    continue;
                }
                let v = g.cells[s][t][c].ns().median;
                let (best, bn) = g
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(i, n)| is_bounded_peer(n, g.kinds[*i]))
                    .map(|(i, n)| (g.cells[s][t][i].ns().median, *n))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .expect("peers");
                line(
                    md,
                    v <= best,
                    format!(
                        "{me}, {threads} thread(s), pool {size}: {} ns vs best bounded peer {bn} {} ns ({:.2}×); ≤ 1×",
                        fmt_ns(v),
                        fmt_ns(best),
                        v / best
                    ),
                );
            }
        }
        for (size, hs) in holds {
            let Some(h) = hs.iter().find(|h| h.name == me) else {
                continue;
            };
            let tp = Spread::of(&h.throughput).median;
            let (best, bn) = hs
                .iter()
                .filter(|p| {
                    p.kind == Some(Kind::Blocking)
                        && !p.name.starts_with("tarn")
                        && !p.name.starts_with("proto")
                })
                .map(|p| (Spread::of(&p.throughput).median, p.name))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .expect("blocking peers");
            line(
                md,
                tp >= 0.9 * best,
                format!(
                    "hold, pool {size}: {me} {tp:.0} cycles/s = {:.2}× the best blocking peer ({bn}, {best:.0}); ≥ 0.9×",
                    tp / best
                ),
            );
            let cvm = Spread::of(&h.cv).median;
            line(
                md,
                cvm <= 0.10,
                format!(
                    "hold, pool {size}: {me} fairness CV {:.1}%; ≤ 10%",
                    cvm * 100.0
                ),
            );
        }
    }
    for me in core_names(g).into_iter().chain(adapter_names(g)) {
        let Some(c) = g.idx(me) else { continue };
        let mut worst: f64 = 0.0;
        for s in 0..g.sizes.len() {
            for t in 0..g.threads.len() {
                worst = worst.max(g.cells[s][t][c].allocs());
            }
        }
        for (_, hs) in holds {
            if let Some(h) = hs.iter().find(|h| h.name == me) {
                worst = worst.max(h.allocs);
            }
        }
        line(
            md,
            worst == 0.0,
            format!(
                "{me}: allocations per cycle, worst cell: {}; = 0",
                fmt_allocs(worst)
            ),
        );
    }
    all
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cpu}, {cores} logical CPUs; load average at the end of the run: {load}")
}

fn main() {
    let cfg = Config::parse();
    if let Some((name, cycles)) = &cfg.profile {
        if !contenders::ALL.contains(&name.as_str())
            && !contenders::VARIANTS.contains(&name.as_str())
        {
            eprintln!(
                "unknown contender {name:?}; one of {:?} or {:?}",
                contenders::ALL,
                contenders::VARIANTS
            );
            std::process::exit(2);
        }
        let pool = contenders::build(name, 4);
        let opened = tarn_benches::opened();
        let r = run_fixed(pool.as_ref(), *cycles);
        // A bounded pool filled before the run opens nothing during it: a figure taken
        // while it did would measure connection churn, not the cycle.
        eprintln!(
            "{name}: {} cycles, {:.1} ns each, {} connections opened during the run",
            r.cycles(),
            r.ns_per_cycle(),
            tarn_benches::opened() - opened
        );
        return;
    }
    let started = Instant::now();
    let spins = calibrate_spins(Duration::from_micros(2));
    if cfg.hold_only {
        for &size in &cfg.hold_sizes {
            let mut md = String::new();
            hold_table(size, &run_hold(&cfg, size, spins), &mut md);
            println!("{md}");
        }
        return;
    }
    let grid = run_grid(&cfg);
    let holds: Vec<(usize, Vec<Hold>)> = [4, 1]
        .into_iter()
        .map(|size| (size, run_hold(&cfg, size, spins)))
        .collect();
    let db = sqlite::run(cfg.reps(), cfg.run_time());

    let mut md = String::new();
    let _ = writeln!(md, "### Targets\n");
    let met = targets(&grid, &holds, &mut md);
    let _ = writeln!(md, "\n### Cycle: check out, touch, return");
    grid_tables(&grid, &mut md);
    let _ = writeln!(md, "\n### Hold scenario");
    for (size, hs) in &holds {
        hold_table(*size, hs, &mut md);
    }
    let _ = writeln!(md, "\n### SQLite `SELECT 1`\n");
    md.push_str(&db.markdown);
    let _ = writeln!(
        md,
        "\n_Machine: {}. Hold: {spins} spin iterations ≈ 2 µs. Total harness time {:.0} s._",
        machine(),
        started.elapsed().as_secs_f64()
    );
    println!("{md}");

    if let Some(path) = &cfg.out {
        if let Err(e) = std::fs::write(path, &md) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
    if let Some(path) = &cfg.chart {
        if let Err(e) = chart::draw(path, &grid.names, &grid.sizes, &grid.threads, |s, t, c| {
            grid.cells[s][t][c].ns().median
        }) {
            eprintln!("cannot draw {path}: {e}");
            std::process::exit(1);
        }
    }

    if cfg.level == Level::Smoke {
        let mut ok = true;
        if violations() > 0 {
            eprintln!(
                "FAIL: a connection was held by two threads at once ({} times)",
                violations()
            );
            ok = false;
        }
        for (s, size) in grid.sizes.iter().enumerate() {
            for (t, threads) in grid.threads.iter().enumerate() {
                for (c, name) in grid.names.iter().enumerate() {
                    let cell = &grid.cells[s][t][c];
                    if cell.cycles.contains(&0) {
                        eprintln!("FAIL: {name} made no progress (pool {size}, {threads} threads)");
                        ok = false;
                    }
                    if grid.kinds[c] != Kind::Unbounded && cell.opened > 0 {
                        eprintln!(
                            "FAIL: {name} opened {} connections beyond its pool of {size} \
                             ({threads} threads)",
                            cell.opened
                        );
                        ok = false;
                    }
                }
            }
        }
        for (size, hs) in &holds {
            for h in hs {
                if h.throughput.iter().any(|&t| t <= 0.0) {
                    eprintln!(
                        "FAIL: {} made no progress in the hold scenario (pool {size})",
                        h.name
                    );
                    ok = false;
                }
            }
        }
        if !db.ok {
            eprintln!("FAIL: the SQLite scenario");
            ok = false;
        }
        if !ok {
            std::process::exit(1);
        }
        eprintln!(
            "smoke: every contender made progress; no connection was held twice; \
             no bounded pool opened a connection beyond its size"
        );
    } else {
        eprintln!(
            "targets {}",
            if met {
                "all met"
            } else {
                "NOT all met (see the table)"
            }
        );
    }
}
