//! [`ConnectArgs`], a [`Registry`](crate::Registry) key that never prints secrets, and the
//! redaction the pools' logging names go through.

use std::collections::BTreeMap;
use std::fmt;

/// Connect arguments as a registry key: positional arguments and sorted keyword arguments,
/// as the reference's `_serialize(*args, **kw)`, with its `sa_pool_key` override
/// ([`ConnectArgs::pool_key`]).
///
/// `Debug` and `Display` never show secrets: the value of a keyword that names one
/// (`password`, `passwd`, `pwd`, `secret`, `token`, `api_key`, ...) prints as `***`, and so
/// do the password in a URL (`scheme://user:password@host`) and secret-named
/// `name=value` pairs inside a connection string (`host=db password=...`).
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

/// Whether a keyword names a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Redacts secrets in a free-form connection string: the password of a URL's user info
/// (`scheme://user:password@host`) and the value of every `name=value` pair whose name
/// names a secret (libpq-style `password=...`, URL query `?token=...`, ODBC `Pwd=...;`).
pub(crate) fn redact(s: &str) -> String {
    redact_pairs(&redact_url(s))
}

/// Replaces the password of a URL's user info with `***`.
fn redact_url(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return s.to_owned();
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return s.to_owned();
    };
    let userinfo = &authority[..at];
    let user = match userinfo.find(':') {
        Some(colon) => &userinfo[..colon],
        None => return s.to_owned(),
    };
    format!("{}://{}:***{}", &s[..scheme_end], user, &rest[at..])
}

/// Replaces the value of every secret-named `name=value` pair with `***`.
fn redact_pairs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let name_start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '?' | ',' | '('))
            .map_or(0, |i| i + 1);
        let name = &before[name_start..];
        out.push_str(before);
        out.push('=');
        let value = &after[1..];
        let value_end = value
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | ',' | ')'))
            .unwrap_or(value.len());
        if is_secret_name(name) && value_end > 0 {
            out.push_str("***");
        } else {
            out.push_str(&value[..value_end]);
        }
        rest = &value[value_end..];
    }
    out.push_str(rest);
    out
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
