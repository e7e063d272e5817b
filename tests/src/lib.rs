//! Shared support for tarn's integration tests: the "server required" rule, a loopback TCP
//! proxy that can cut a server off, a manager wrapper that records the server-side session
//! of every connection it opens, and a small pool set-up used by every test.
//!
//! The tests themselves live in `tests/`.

pub mod live;
pub mod pool;
pub mod proxy;
pub mod server;
pub mod sessions;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A name no other test (in this process or another) uses: `prefix_<pid>_<n>`. Use it for
/// tables and keys, and drop them at the end.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `check` every 20 ms until it returns true or `within` has passed; returns the
/// last answer. For what a server does asynchronously (a killed session leaving its list).
pub fn eventually(within: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A fresh directory under the system's temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>_<pid>_<n>`.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created.
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
