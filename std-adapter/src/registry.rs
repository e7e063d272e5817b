//! [`ConnectArgs`], a [`Registry`](crate::Registry) key that never prints secrets, and the
//! redaction the pools' logging names go through.

use std::collections::BTreeMap;
use std::fmt;

mod redact;
pub(crate) use redact::{is_secret_name, redact};

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
