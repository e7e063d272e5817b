//! [`Registry`]: pools keyed by connect arguments (the reference's `manage()` /
//! `_DBProxy`).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;

use tarn_core::{BuildError, Manager};

use crate::error::Error;
use crate::pool::{OwnedPooledConnection, Pool};
use crate::sync::lock_std;

/// Pools keyed by connect arguments: the first checkout for a key builds its pool (with the
/// registry's factory), later ones reuse it.
///
/// The registry never prints its keys (its `Debug` shows how many pools it holds), so keys
/// may hold passwords; [`ConnectArgs`](crate::ConnectArgs) is a key type whose own `Debug` and `Display` redact
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
