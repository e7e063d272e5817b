//! Points 7 and 8: the registry, operations, and logging through `tracing`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_core::testing::ScriptedManager;
use tarn_pool::{
    AssertionPool, ConnectArgs, Events, NullPool, Pool, PooledConnection, Registry,
    SingletonThreadPool, StaticPool,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Records every event as "LEVEL message k=v ...".
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);
impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

thread_local! {
    /// Where the global subscriber puts this thread's events while a test captures them.
    static SINK: std::cell::RefCell<Option<Capture>> = const { std::cell::RefCell::new(None) };
}

/// The one global subscriber of this test binary: always interested, it hands each event to
/// the capture of the thread that emitted it, if any. A single global subscriber sidesteps
/// tracing's per-callsite interest cache, which scoped subscribers on parallel test threads
/// can leave stale.
struct Router;

impl Subscriber for Router {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        SINK.with(|sink| {
            if let Some(cap) = &*sink.borrow() {
                let mut line = Line(event.metadata().level().to_string());
                event.record(&mut line);
                cap.0.lock().unwrap().push(line.0);
            }
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn has(&self, level: Level, text: &str) -> bool {
        let level = level.to_string();
        self.lines()
            .iter()
            .any(|l| l.starts_with(&level) && l.contains(text))
    }
}

/// Runs `f`, capturing the events this thread emits meanwhile.
fn captured(f: impl FnOnce()) -> Capture {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        tracing::subscriber::set_global_default(Router).expect("the only global subscriber");
    });
    let cap = Capture::default();
    SINK.with(|sink| *sink.borrow_mut() = Some(cap.clone()));
    f();
    SINK.with(|sink| *sink.borrow_mut() = None);
    cap
}

#[test]
fn logs_the_references_messages() {
    let cap = captured(|| {
        let pool = Pool::builder(ScriptedManager::new())
            .pool_size(1)
            .logging_name("orders")
            .recycle(Duration::from_millis(1))
            .build()
            .unwrap();
        drop(pool.get().unwrap());
        std::thread::sleep(Duration::from_millis(5));
        drop(pool.get().unwrap()); // too old: recycled
        pool.invalidate_all();
        drop(pool.get().unwrap()); // stale: recycled
        let mut c = pool.get().unwrap();
        PooledConnection::soft_invalidate(&mut c);
        drop(c); // soft: closed
        PooledConnection::invalidate(pool.get().unwrap());
        pool.dispose();
        assert_eq!(pool.stats().recycled, 3);
    });
    assert!(cap.has(Level::DEBUG, "Created new connection"));
    assert!(cap.has(Level::INFO, "exceeded timeout; recycling"));
    assert!(cap.has(Level::INFO, "due to pool invalidation; recycling"));
    assert!(cap.has(Level::INFO, "due to local soft invalidation; recycling"));
    assert!(cap.has(
        Level::INFO,
        "Invalidate connection (reason: invalidated by the user)"
    ));
    assert!(cap.has(Level::INFO, "Pool disposed. Pool size: 1"));
    assert!(cap
        .lines()
        .iter()
        .all(|l| l.contains("pool=orders") || !l.contains("pool=")));
    assert!(!cap.has(Level::DEBUG, "checked out"), "echo is off");
}

#[test]
fn echo_logs_checkout_and_checkin_at_debug() {
    let cap = captured(|| {
        let pool = Pool::builder(ScriptedManager::new())
            .echo(true)
            .build()
            .unwrap();
        drop(pool.get().unwrap());
    });
    assert!(cap.has(Level::DEBUG, "Connection checked out from pool"));
    assert!(cap.has(Level::DEBUG, "Connection being returned to pool"));
    assert!(cap.has(Level::DEBUG, "rollback-on-return"));
}

#[test]
fn recreate_keeps_configuration_and_listeners_and_connects_nothing() {
    struct Count(AtomicUsize);
    impl<C> Events<C> for Count {
        fn connect(&self, _: &mut C) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let manager = ScriptedManager::new();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let pool = Pool::builder(manager.clone())
        .pool_size(3)
        .max_overflow(2)
        .timeout(Duration::from_millis(250))
        .logging_name("main")
        .listener(Arc::clone(&count))
        .build()
        .unwrap();
    drop(pool.get().unwrap());
    let fresh = pool.recreate();
    let st = fresh.state();
    assert_eq!((st.pool_size, st.max_overflow, st.open), (3, Some(2), 0));
    assert_eq!(fresh.timeout(), Duration::from_millis(250));
    assert_eq!(fresh.logging_name(), "main");
    assert_eq!(manager.opened(), 1, "recreate connects nothing");
    drop(fresh.get().unwrap());
    assert_eq!(count.0.load(Ordering::SeqCst), 2, "the listener came along");
    assert_eq!(pool.state().idle, 1, "the old pool is untouched");
}

#[test]
fn dispose_closes_idle_now_and_checked_out_on_return() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone()).build().unwrap();
    let out = pool.get().unwrap();
    drop(pool.get().unwrap());
    pool.dispose();
    assert_eq!(manager.closed(), 1);
    drop(out);
    assert_eq!(manager.closed(), 2);
    assert_eq!(pool.state().open, 0);
    assert!(pool.get().is_ok(), "usable after dispose");
}

#[test]
fn invalidate_all_replaces_connections_as_they_come_out() {
    let manager = ScriptedManager::new();
    let pool = Pool::builder(manager.clone()).build().unwrap();
    let out = pool.get().unwrap();
    drop(pool.get().unwrap());
    pool.invalidate_all();
    assert_eq!(pool.get().unwrap().id, 3);
    drop(out);
    assert_eq!(manager.closed(), 2, "the checked-out one closed on return");
}

#[test]
fn state_and_status_follow_the_reference() {
    let pool = Pool::builder(ScriptedManager::new())
        .pool_size(2)
        .max_overflow(1)
        .build()
        .unwrap();
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    let st = pool.state();
    assert_eq!(
        (st.open, st.checked_out, st.idle, st.overflow),
        (3, 3, 0, 1)
    );
    assert_eq!(
        pool.status(),
        "Pool size: 2  Connections in pool: 0 Current Overflow: 1 Current Checked out connections: 3"
    );
    drop(held);
    assert_eq!(
        pool.status(),
        "Pool size: 2  Connections in pool: 2 Current Overflow: 0 Current Checked out connections: 0"
    );
}

#[test]
fn registry_gets_or_creates_disposes_and_clears() {
    let built = Arc::new(AtomicUsize::new(0));
    let b2 = Arc::clone(&built);
    let registry = Registry::new(move |_: &ConnectArgs| {
        b2.fetch_add(1, Ordering::SeqCst);
        Pool::builder(ScriptedManager::new()).build()
    });
    let a = ConnectArgs::new().kw("host", "a");
    let b = ConnectArgs::new().kw("host", "b");
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| drop(registry.get(&a).unwrap()));
        }
    });
    assert_eq!(built.load(Ordering::SeqCst), 1, "one pool per key");
    drop(registry.get(&b).unwrap());
    assert_eq!(registry.len(), 2);
    registry.dispose(&a);
    assert!(!registry.contains(&a) && registry.contains(&b));
    registry.clear();
    assert!(registry.is_empty());
    drop(registry.get(&a).unwrap());
    assert_eq!(built.load(Ordering::SeqCst), 3);
}

#[test]
fn secrets_never_print() {
    let key = ConnectArgs::new()
        .arg("mysql://root:topsecret@127.0.0.1:3306/test")
        .kw("password", "topsecret")
        .kw("user", "root");
    let cap = captured(|| {
        let registry =
            Registry::new(|_: &ConnectArgs| Pool::builder(ScriptedManager::new()).build());
        let conn = registry.get(&key).unwrap();
        let pool = registry.get_pool(&key).unwrap();
        let shown = format!("{key} {key:?} {registry:?} {pool:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("root"), "the rest is still shown: {shown}");
        drop(conn);
        registry.clear();
    });
    assert!(cap.lines().iter().all(|l| !l.contains("topsecret")));
}

#[test]
fn connection_strings_and_logging_names_are_redacted() {
    let dsn = ConnectArgs::new()
        .arg("host=db user=app password=hunter2 sslmode=require")
        .arg("Server=db;Uid=app;Pwd=hunter2;")
        .arg("redis://:hunter2@127.0.0.1:6379/0?token=hunter2&db=1");
    let shown = format!("{dsn} {dsn:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("sslmode=require") && shown.contains("db=1"),
        "{shown}"
    );

    let cap = captured(|| {
        let pool = Pool::builder(ScriptedManager::new())
            .logging_name("postgres://app:hunter2@db/orders")
            .build()
            .unwrap();
        assert_eq!(pool.logging_name(), "postgres://app:***@db/orders");
        assert!(!format!("{pool:?}").contains("hunter2"));
        drop(pool.get().unwrap());
        pool.dispose();
    });
    assert!(!cap.lines().is_empty());
    assert!(cap.lines().iter().all(|l| !l.contains("hunter2")));
}

#[test]
fn builders_never_print_a_password_in_the_logging_name() {
    let name = "postgres://app:hunter2@db.example/orders";
    let shown = [
        format!(
            "{:?}",
            Pool::builder(ScriptedManager::new()).logging_name(name)
        ),
        format!(
            "{:?}",
            NullPool::builder(ScriptedManager::new()).logging_name(name)
        ),
        format!(
            "{:?}",
            StaticPool::builder(ScriptedManager::new()).logging_name(name)
        ),
        format!(
            "{:?}",
            AssertionPool::builder(ScriptedManager::new()).logging_name(name)
        ),
        format!(
            "{:?}",
            SingletonThreadPool::builder(ScriptedManager::new()).logging_name(name)
        ),
    ];
    for s in &shown {
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("postgres://app:***@db.example/orders"), "{s}");
    }
    let pool = NullPool::builder(ScriptedManager::new())
        .logging_name(name)
        .build();
    assert_eq!(pool.logging_name(), "postgres://app:***@db.example/orders");
    assert!(!format!("{pool:?}").contains("hunter2"));
}
