//! Where the job's output goes: the live progress bar, the conductor's messages, and the
//! pool's own log lines (a `tracing` subscriber filtered by `RUST_LOG`).

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset: the pool's own events (invalidations, disposal) and
/// everyone's warnings.
const DEFAULT_FILTER: &str = "warn,tarn_pool=info";

/// The progress bar (hidden when stderr is not a terminal or `--no-progress` is given).
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub(crate) bar: ProgressBar,
}

impl Out {
    /// A bar over `duration`, drawn on stderr ten times a second, unless `hidden`.
    pub(crate) fn new(duration: Duration, hidden: bool) -> Out {
        if hidden || !io::stderr().is_terminal() {
            return Out {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(
            Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Out { bar }
    }

    /// Prints a line of the run's story: above the bar, or on stdout.
    pub(crate) fn say(&self, msg: &str) {
        if self.bar.is_hidden() {
            println!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }

    /// Installs the log subscriber: `RUST_LOG` (else [`DEFAULT_FILTER`]), on stderr, with
    /// the bar hidden while a line is written so the two never interleave.
    pub(crate) fn init_logging(&self) {
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        // Fails only when a subscriber is already installed, which then keeps logging.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(self.clone())
            .with_ansi(io::stderr().is_terminal())
            .try_init();
    }
}

/// One log line's writer: stderr, with the bar suspended around it.
#[derive(Debug)]
pub(crate) struct LineWriter(ProgressBar);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.suspend(|| io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Out {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(self.bar.clone())
    }
}
