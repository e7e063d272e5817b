//! Connect and pre-ping failures are logged at WARN with the manager's error.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tarn_core::testing::ScriptedManager;
use tarn_pool::Pool;
use tracing_subscriber::fmt::MakeWriter;

/// Every line the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What `f` logs at WARN and above, as text.
fn warnings(f: impl FnOnce()) -> String {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(lines.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = lines.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_connect_failure_is_a_warning_with_its_cause() {
    let manager = ScriptedManager::new();
    manager.fail_connects(1);
    let pool = Pool::builder(manager)
        .logging_name("orders")
        .build()
        .unwrap();
    let logged = warnings(|| assert!(pool.get().is_err()));
    assert!(logged.contains("WARN"), "{logged}");
    assert!(logged.contains("Error on connect(): Connect"), "{logged}");
    assert!(logged.contains("orders"), "the pool is named: {logged}");
}

#[test]
fn a_ping_failure_is_a_warning_with_its_cause() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pre_ping(true)
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    manager.fail_pings(1);
    let logged = warnings(|| assert!(pool.get().is_err()));
    assert!(logged.contains("Error on pre-ping: Ping"), "{logged}");
}

#[test]
fn a_disconnect_ping_is_a_warning_with_its_cause() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone())
        .pre_ping(true)
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    manager.disconnect_pings(1);
    let logged = warnings(|| drop(pool.get().unwrap()));
    assert!(
        logged.contains("Pre-ping found a disconnect (Disconnect)"),
        "{logged}"
    );
}
