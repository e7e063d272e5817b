//! [`Info`]: the per-connection info of every pool kind (the reference's
//! `_ConnectionRecord.info`), a small map from a value's type to one value of that type.
//!
//! It lives in the connection's core slot (the core's typed info `I`), so it is kept across
//! checkouts of the same connection and starts empty each time the pool opens a new one
//! (after an invalidation, a recycle or a pool-wide invalidation too). Empty, it holds no
//! allocation; values are boxed, one allocation each, when inserted.

use std::any::{Any, TypeId};
use std::fmt;

/// Per-connection info: at most one value of each type, kept with the connection across
/// checkouts and dropped with it. A new connection (also the one that replaces an
/// invalidated or recycled connection) starts with an empty `Info`.
///
/// Values are `Send + Sync` because the connection, and its info, move between threads
/// with the pool. Reach it through a guard: `PooledConnection::info(&conn)` /
/// `PooledConnection::info_mut(&mut conn)`, and the same on every kind's guard; a detached
/// connection takes its info along (`detach_with_info`).
///
/// # Examples
///
/// ```
/// use tarn_pool::{Info, Pool, PooledConnection};
/// # use tarn_core::testing::ScriptedManager;
///
/// #[derive(Debug, PartialEq)]
/// struct SearchPath(&'static str);
///
/// let pool = Pool::builder(ScriptedManager::new()).pool_size(1).build()?;
/// let mut conn = pool.get()?;
/// assert!(PooledConnection::info(&conn).is_empty(), "a new connection starts empty");
/// PooledConnection::info_mut(&mut conn).insert(SearchPath("app"));
/// drop(conn);
///
/// let conn = pool.get()?;
/// assert_eq!(PooledConnection::info(&conn).get::<SearchPath>(), Some(&SearchPath("app")));
///
/// let mut info = Info::new();
/// assert_eq!(info.insert(1_u32), None);
/// assert_eq!(info.insert(2_u32), Some(1), "one value per type");
/// *info.get_mut::<u32>().unwrap() += 1;
/// assert_eq!(info.remove::<u32>(), Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Info {
    /// One entry per type; few types per connection, so a linear search beats hashing.
    /// `None` while empty: one word in the connection's slot, and no allocation.
    entries: Option<Box<Entries>>,
}

type Entries = Vec<(TypeId, Box<dyn Any + Send + Sync>)>;

// Holds: an `Info` is one word, so the connection's slot grows by one word only.
const _: () = assert!(std::mem::size_of::<Info>() == std::mem::size_of::<usize>());

impl Info {
    /// An empty `Info` (no allocation).
    ///
    /// ```
    /// assert!(tarn_pool::Info::new().is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Info { entries: None }
    }

    /// Stores `value` as this connection's `T`, returning the `T` it replaces, if any.
    ///
    /// ```
    /// let mut info = tarn_pool::Info::new();
    /// assert_eq!(info.insert("tenant-7"), None);
    /// assert_eq!(info.insert("tenant-8"), Some("tenant-7"));
    /// ```
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> Option<T> {
        match self.get_mut::<T>() {
            Some(old) => Some(std::mem::replace(old, value)),
            None => {
                self.entries
                    .get_or_insert_with(Box::default)
                    .push((TypeId::of::<T>(), Box::new(value)));
                None
            }
        }
    }

    /// This connection's `T`, if one was stored.
    ///
    /// ```
    /// let mut info = tarn_pool::Info::new();
    /// info.insert(5_u8);
    /// assert_eq!(info.get::<u8>(), Some(&5));
    /// assert_eq!(info.get::<u16>(), None);
    /// ```
    #[must_use]
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .as_deref()?
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref::<T>())
    }

    /// Mutable access to this connection's `T`, if one was stored.
    ///
    /// ```
    /// let mut info = tarn_pool::Info::new();
    /// info.insert(vec!["SET search_path = app"]);
    /// info.get_mut::<Vec<&str>>().unwrap().push("SET TIME ZONE 'UTC'");
    /// assert_eq!(info.get::<Vec<&str>>().map(Vec::len), Some(2));
    /// ```
    pub fn get_mut<T: Any + Send + Sync>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries
            .as_deref_mut()?
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_mut::<T>())
    }

    /// Removes and returns this connection's `T`, if one was stored.
    ///
    /// ```
    /// let mut info = tarn_pool::Info::new();
    /// info.insert(1_i64);
    /// assert_eq!(info.remove::<i64>(), Some(1));
    /// assert!(info.is_empty());
    /// ```
    pub fn remove<T: Any + Send + Sync>(&mut self) -> Option<T> {
        let id = TypeId::of::<T>();
        let entries = self.entries.as_deref_mut()?;
        let at = entries.iter().position(|(t, _)| *t == id)?;
        let (_, value) = entries.swap_remove(at);
        value.downcast::<T>().ok().map(|b| *b)
    }

    /// How many values are stored (one per type).
    ///
    /// ```
    /// let mut info = tarn_pool::Info::new();
    /// info.insert(1_u8);
    /// info.insert(1_u16);
    /// assert_eq!(info.len(), 2);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.as_deref().map_or(0, Vec::len)
    }

    /// Whether nothing is stored.
    ///
    /// ```
    /// assert!(tarn_pool::Info::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every value.
    ///
    /// ```
    /// let mut info = tarn_pool::Info::new();
    /// info.insert(1_u8);
    /// info.clear();
    /// assert!(info.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.entries = None;
    }
}

// Manual impl: the values are the user's (they may hold secrets, and need not be `Debug`),
// so only their count is shown.
impl fmt::Debug for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Info")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
