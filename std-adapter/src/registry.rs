//! [`Registry`]: pools keyed by connect arguments (the reference's `manage()` /
//! `_DBProxy`), and [`ConnectArgs`], a key that never prints secrets.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;

use tarn_core::Manager;

use crate::base::lock_std;
use crate::{BuildError, Error, OwnedPooledConnection, Pool};

mod redact;
pub(crate) use redact::{is_secret_name, redact};

/// Pools keyed by connect arguments: the first checkout for a key builds its pool (with the
/// registry's factory), later ones reuse it.
///
/// The registry never prints its keys (its `Debug` shows how many pools it holds), so keys
/// may hold passwords; [`ConnectArgs`] is a key type whose own `Debug` and `Display` redact
/// them.
///
/// # Examples
///
/// ```
/// use tarn_pool::{ConnectArgs, Pool, Registry};
/// # use tarn_core::testing::ScriptedManager;
///
/// let registry = Registry::new(|_args: &ConnectArgs| {
///     // A real factory builds a manager from the arguments.
///     Pool::builder(ScriptedManager::new()).pool_size(2).build()
/// });
/// let key = ConnectArgs::new().kw("host", "db1").kw("password", "hunter2");
/// let a = registry.get_pool(&key)?;
/// let b = registry.get_pool(&key)?;
/// assert_eq!(a.logging_name(), b.logging_name(), "same key, same pool");
/// assert!(!format!("{key:?} {key}").contains("hunter2"));
///
/// let conn = registry.get(&key)?;
/// drop(conn);
/// registry.dispose(&key);
/// assert!(registry.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry<K, M: Manager> {
    make: Box<dyn Fn(&K) -> Result<Pool<M>, BuildError> + Send + Sync>,
    pools: Mutex<HashMap<K, Pool<M>>>,
}

// Manual impl: keys may hold secrets; show only how many pools there are.
impl<K, M: Manager> fmt::Debug for Registry<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("pools", &lock_std(&self.pools).len())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, M: Manager> Registry<K, M> {
    /// A registry whose pools are built by `make` from their key.
    pub fn new(make: impl Fn(&K) -> Result<Pool<M>, BuildError> + Send + Sync + 'static) -> Self {
        Registry {
            make: Box::new(make),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The pool for `key`, built now if there is none (one build per key, even when many
    /// threads ask at once).
    ///
    /// # Errors
    ///
    /// The factory's [`BuildError`]; nothing is registered then.
    ///
    /// ```
    /// # use tarn_pool::{ConnectArgs, Pool, Registry};
    /// # use tarn_core::testing::ScriptedManager;
    /// let registry = Registry::new(|_: &ConnectArgs| Pool::builder(ScriptedManager::new()).build());
    /// let key = ConnectArgs::new().kw("host", "db");
    /// let pool = registry.get_pool(&key)?;
    /// assert!(registry.contains(&key));
    /// assert_eq!(pool.state().open, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_pool(&self, key: &K) -> Result<Pool<M>, BuildError> {
        let mut pools = lock_std(&self.pools);
        if let Some(p) = pools.get(key) {
            return Ok(p.clone());
        }
        let pool = (self.make)(key)?;
        pools.insert(key.clone(), pool.clone());
        Ok(pool)
    }

    /// Checks out a connection from the pool for `key` (the reference's `connect`), waiting
    /// up to that pool's timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Build`] if the pool could not be built; otherwise as
    /// [`Pool::get`](crate::Pool::get).
    ///
    /// ```
    /// # use tarn_pool::{ConnectArgs, Pool, Registry};
    /// # use tarn_core::testing::ScriptedManager;
    /// let registry = Registry::new(|_: &ConnectArgs| Pool::builder(ScriptedManager::new()).build());
    /// let key = ConnectArgs::new().kw("host", "db");
    /// let conn = registry.get(&key)?;
    /// assert_eq!(conn.id, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: &K) -> Result<OwnedPooledConnection<M>, Error<M::Error>> {
        self.get_pool(key).map_err(Error::Build)?.get_owned()
    }

    /// Removes the pool for `key` and disposes it (connections out are closed when
    /// returned). Does nothing if there is none.
    ///
    /// ```
    /// # use tarn_pool::{ConnectArgs, Pool, Registry};
    /// # use tarn_core::testing::ScriptedManager;
    /// let registry = Registry::new(|_: &ConnectArgs| Pool::builder(ScriptedManager::new()).build());
    /// let key = ConnectArgs::new().kw("host", "db");
    /// drop(registry.get(&key)?);
    /// registry.dispose(&key);
    /// assert!(!registry.contains(&key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispose(&self, key: &K) {
        let pool = lock_std(&self.pools).remove(key);
        if let Some(p) = pool {
            p.dispose();
        }
    }

    /// Removes and disposes every pool.
    ///
    /// ```
    /// # use tarn_pool::{ConnectArgs, Pool, Registry};
    /// # use tarn_core::testing::ScriptedManager;
    /// let registry = Registry::new(|_: &ConnectArgs| Pool::builder(ScriptedManager::new()).build());
    /// let key = ConnectArgs::new().kw("host", "db");
    /// drop(registry.get(&key)?);
    /// registry.clear();
    /// assert!(registry.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear(&self) {
        let pools: Vec<_> = lock_std(&self.pools).drain().map(|(_, p)| p).collect();
        for p in pools {
            p.dispose();
        }
    }

    /// How many pools are registered.
    ///
    /// ```
    /// # use tarn_pool::{ConnectArgs, Pool, Registry};
    /// # use tarn_core::testing::ScriptedManager;
    /// let registry = Registry::new(|_: &ConnectArgs| Pool::builder(ScriptedManager::new()).build());
    /// let key = ConnectArgs::new().kw("host", "db");
    /// registry.get_pool(&key)?;
    /// assert_eq!(registry.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        lock_std(&self.pools).len()
    }

    /// Whether no pool is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a pool is registered for `key`.
    pub fn contains(&self, key: &K) -> bool {
        lock_std(&self.pools).contains_key(key)
    }
}

/// Connect arguments as a registry key: positional arguments and sorted keyword arguments,
/// as the reference's `_serialize(*args, **kw)`, with its `sa_pool_key` override
/// ([`ConnectArgs::pool_key`]).
///
/// `Debug` and `Display` never show secrets: the value of a keyword that names one
/// (`password`, `passwd`, `pwd`, `pw`, `auth`, `secret`, `token`, `api_key`, ...) prints
/// as `***`, and so do the password of a URL or DSN (`scheme://user:password@host`,
/// `user:password@tcp(host)/db`, whatever characters the password holds) and the value of
/// secret-named `name=value` pairs inside a connection string (`password = x`,
/// `password='a b'`, `Pwd={...}`, `password=a,b`).
///
/// # Examples
///
/// ```
/// use tarn_pool::ConnectArgs;
///
/// let args = ConnectArgs::new()
///     .arg("postgres://app:s3cret@db.example/orders")
///     .kw("password", "s3cret")
///     .kw("user", "app");
/// assert_eq!(
///     args.to_string(),
///     "postgres://app:***@db.example/orders, password=***, user=app"
/// );
/// assert_eq!(args.get("password"), Some("s3cret"), "the value itself is kept");
///
/// let dsn = ConnectArgs::new().arg("host=db user=app password=s3cret sslmode=require");
/// assert_eq!(dsn.to_string(), "host=db user=app password=*** sslmode=require");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectArgs {
    key: Option<String>,
    args: Vec<String>,
    kwargs: BTreeMap<String, String>,
}

impl ConnectArgs {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a positional argument.
    pub fn arg(mut self, value: impl Into<String>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Adds (or replaces) a keyword argument.
    pub fn kw(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.kwargs.insert(name.into(), value.into());
        self
    }

    /// Keys the pool by `key` alone, ignoring the arguments (the reference's
    /// `sa_pool_key`).
    ///
    /// ```
    /// # use tarn_pool::ConnectArgs;
    /// let a = ConnectArgs::new().kw("host", "a").pool_key("main");
    /// let b = ConnectArgs::new().kw("host", "b").pool_key("main");
    /// assert_eq!(a, b);
    /// ```
    pub fn pool_key(self, key: impl Into<String>) -> Self {
        ConnectArgs {
            key: Some(key.into()),
            args: Vec::new(),
            kwargs: BTreeMap::new(),
        }
    }

    /// The positional arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// A keyword argument's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.kwargs.get(name).map(String::as_str)
    }
}

impl fmt::Display for ConnectArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = &self.key {
            return write!(f, "pool_key={}", redact(k));
        }
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if first {
                first = false;
                Ok(())
            } else {
                f.write_str(", ")
            }
        };
        for a in &self.args {
            sep(f)?;
            f.write_str(&redact(a))?;
        }
        for (k, v) in &self.kwargs {
            sep(f)?;
            if is_secret_name(k) {
                write!(f, "{k}=***")?;
            } else {
                write!(f, "{k}={}", redact(v))?;
            }
        }
        Ok(())
    }
}

// Manual impl: redacts secrets like `Display`.
impl fmt::Debug for ConnectArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectArgs({self})")
    }
}
