//! The command line of the main job.

use clap::Parser;

/// A mixed read/write workload through a tarn connection pool, with a simulated failover and
/// an overload burst; ends with a report.
#[derive(Parser, Debug, Clone)]
#[command(name = "service", version)]
pub(crate) struct Args {
    /// Database to run against: sqlite:///path/to.db, postgres://user@host/db,
    /// mysql://user@host/db or redis://host:port/db. Default: a fresh SQLite file in a
    /// temporary directory, removed afterwards. Server URLs need the matching cargo
    /// feature (--features postgres | mysql | redis).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,

    /// Worker threads running the steady workload.
    #[arg(long, default_value_t = 8)]
    pub(crate) workers: usize,

    /// How long the workload runs, in seconds.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    pub(crate) duration: f64,

    /// Connections the pool keeps (pool_size).
    #[arg(long, default_value_t = 4)]
    pub(crate) pool_size: usize,

    /// Extra connections the pool may open under load (max_overflow).
    #[arg(long, default_value_t = 2)]
    pub(crate) max_overflow: usize,

    /// How long an operation may take to get a connection, in milliseconds: waiting for a
    /// free one, and retrying connect errors (a server restart) with backoff.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub(crate) timeout_ms: u64,

    /// Ping each idle connection before handing it out (true or false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(crate) pre_ping: bool,

    /// Percentage of operations that are transfers (write transactions); the rest are reads.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) write_percent: u8,

    /// Number of accounts.
    #[arg(long, default_value_t = 1000)]
    pub(crate) accounts: i64,

    /// When to invalidate the whole pool (simulated failover), as a fraction of the run;
    /// a negative value disables it.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub(crate) failover_at: f64,

    /// Extra threads in the overload burst (0 disables it).
    #[arg(long, default_value_t = 24)]
    pub(crate) burst_threads: usize,

    /// When the overload burst starts, as a fraction of the run.
    #[arg(long, default_value_t = 0.75)]
    pub(crate) burst_at: f64,

    /// How long the overload burst lasts, in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub(crate) burst_duration: f64,

    /// Checkout timeout of the burst threads, in milliseconds.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub(crate) burst_timeout_ms: u64,

    /// How long each burst thread holds its connection, in milliseconds.
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub(crate) burst_hold_ms: u64,

    /// Never draw the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,

    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}
