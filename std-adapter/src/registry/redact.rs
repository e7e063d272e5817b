//! Redaction of secrets in free-form connection strings, for [`ConnectArgs`](super::ConnectArgs)
//! and logging names: what a URL, a DSN or a keyword list may hold, and where its secret ends.
//!
//! Two passes, each erring on the side of hiding too much:
//!
//! 1. the password of every user-info part (`user:password@`), in a URL (`scheme://`) and in
//!    a scheme-less DSN (`user:password@tcp(host)/db`). The password runs to the **last** `@`
//!    whose user part (before the first `:`) holds no `/ ? # @ = ( )`, so a `/`, `?`, `#`
//!    or `@` inside the password is covered;
//! 2. the value of every `name=value` pair whose name names a secret ([`is_secret_name`]),
//!    with spaces around the `=` or not; a quoted (`'...'`, `"..."`) or braced (`{...}`)
//!    value is hidden whole, and an unquoted secret value runs past a `,` unless what
//!    follows it is another `name=`.

/// Whether a keyword names a secret: anything containing `password`, `passwd`, `pwd`,
/// `pass`, `secret`, `token`, `api_key`, `apikey`, `credential`, and the keys `pw` and
/// `auth` (alone, or as a `_`/`-`/`.` separated part of the key: `redis_auth`, `db.pw`).
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    const CONTAINED: [&str; 9] = [
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
    ];
    CONTAINED.iter().any(|s| n.contains(s))
        || n.split(['_', '-', '.'])
            .any(|part| matches!(part, "pw" | "auth" | "authorization"))
}

/// Redacts the secrets of `s` (see the [module docs](self)).
pub(crate) fn redact(s: &str) -> String {
    redact_pairs(&redact_userinfo(s))
}

/// Pass 1: the password of every `user:password@` part of every whitespace-separated token.
fn redact_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let ws = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        out.push_str(&redact_token(token).unwrap_or_else(|| token.to_owned()));
        rest = &rest[end..];
    }
    out
}

/// The token with the password of its user info replaced by `***`, or `None` if it has
/// none.
fn redact_token(token: &str) -> Option<String> {
    let start = match token.find("://") {
        Some(p) => p + 3,
        // Scheme-less: after a leading `name=`, if any (`dsn=user:pw@tcp(host)/db`).
        None => match (token.find('='), token.find(':')) {
            (Some(eq), Some(colon)) if eq < colon => eq + 1,
            _ => 0,
        },
    };
    let body = &token[start..];
    let user_end = body.find(':')?;
    let user = &body[..user_end];
    if user.contains(['/', '?', '#', '@', '=', '(', ')', '&', ';', ',']) {
        return None;
    }
    let at = body.rfind('@').filter(|&at| at > user_end)?;
    if start == 0 && !token.contains("://") && user.is_empty() {
        // `:x@y` without a scheme is not a DSN.
        return None;
    }
    Some(format!("{}{user}:***{}", &token[..start], &body[at..]))
}

/// Pass 2: the value of every secret-named `name=value` pair.
fn redact_pairs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(rel) = s[search..].find('=') {
        let eq = search + rel;
        let spaced = s[..eq].ends_with(char::is_whitespace);
        let before = s[..eq].trim_end();
        let name_start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '?' | ',' | '(' | '{'))
            .map_or(0, |i| i + 1);
        let name = &before[name_start..];
        let mut value_start = eq + 1;
        if spaced {
            // `password = x`: the value is the next word.
            value_start = s[value_start..]
                .find(|c: char| !c.is_whitespace())
                .map_or(s.len(), |i| value_start + i);
        }
        let secret = is_secret_name(name);
        let value_end = value_start + value_len(&s[value_start..], secret);
        if secret && value_end > value_start {
            out.push_str(&s[copied..value_start]);
            out.push_str("***");
            copied = value_end;
        }
        search = value_end.max(eq + 1);
    }
    out.push_str(&s[copied..]);
    out
}

/// How long the value at the start of `v` is: a quoted or braced value up to its closing
/// mark; otherwise up to whitespace, `;`, `&` or `)`, and up to a `,` (for a secret only
/// a `,` followed by another `name=`, or by nothing).
fn value_len(v: &str, secret: bool) -> usize {
    let bytes = v.as_bytes();
    match bytes.first() {
        Some(&q @ (b'\'' | b'"')) => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    c if c == q && bytes.get(i + 1) == Some(&q) => i += 2,
                    c if c == q => return i + 1,
                    _ => i += 1,
                }
            }
            v.len()
        }
        Some(b'{') => v.find('}').map_or(v.len(), |i| i + 1),
        _ => {
            for (i, c) in v.char_indices() {
                match c {
                    ';' | '&' | ')' => return i,
                    c if c.is_whitespace() => return i,
                    ',' if !secret || next_is_pair(&v[i + 1..]) => return i,
                    _ => {}
                }
            }
            v.len()
        }
    }
}

/// Whether `s` starts (after spaces) with `name=` or is empty.
fn next_is_pair(s: &str) -> bool {
    let s = s.trim_start();
    if s.is_empty() {
        return true;
    }
    let name_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .unwrap_or(s.len());
    name_len > 0 && s[name_len..].trim_start().starts_with('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        redact(s)
    }

    #[test]
    fn url_passwords_with_slash_question_mark_hash_or_at_are_hidden() {
        for pw in ["p/ss", "p?ss", "p#ss", "p@ss", "a/b?c#d@e"] {
            let url = format!("postgres://app:{pw}@db.example:5432/orders?sslmode=require");
            let out = shown(&url);
            assert_eq!(
                out, "postgres://app:***@db.example:5432/orders?sslmode=require",
                "{url}"
            );
        }
        assert_eq!(
            shown("redis://:s3cret@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            shown("postgres://app@db/orders?email=a@b"),
            "postgres://app@db/orders?email=a@b",
            "no password: nothing to hide"
        );
    }

    #[test]
    fn a_scheme_less_dsn_password_is_hidden() {
        assert_eq!(
            shown("app:s3cret@tcp(db:3306)/orders"),
            "app:***@tcp(db:3306)/orders"
        );
        assert_eq!(
            shown("dsn=app:s3/c@ret@tcp(db:3306)/orders"),
            "dsn=app:***@tcp(db:3306)/orders"
        );
        assert_eq!(shown("db:5432"), "db:5432");
    }

    #[test]
    fn spaced_quoted_and_comma_holding_values_are_hidden_whole() {
        assert_eq!(
            shown("host=db password = s3cret user=app"),
            "host=db password = *** user=app"
        );
        assert_eq!(
            shown("host=db password='s3 cr et' user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(
            shown(r#"host=db password="it's \"s3 cret\"" user=app"#),
            "host=db password=*** user=app"
        );
        assert_eq!(shown("password='it''s here' x=1"), "password=*** x=1");
        assert_eq!(
            shown("Server=db;Pwd={a;b c};Uid=app"),
            "Server=db;Pwd=***;Uid=app"
        );
        assert_eq!(
            shown("host=db, password=s3,cr,et, user=app"),
            "host=db, password=***, user=app"
        );
        assert_eq!(shown("password=s3,cret"), "password=***");
        assert_eq!(shown("host=a,b, user=app"), "host=a,b, user=app");
    }

    #[test]
    fn pw_and_auth_are_secret_names() {
        for name in [
            "pw",
            "PW",
            "auth",
            "redis_auth",
            "db.pw",
            "Authorization",
            "password",
        ] {
            assert!(is_secret_name(name), "{name}");
            assert_eq!(shown(&format!("{name}=s3cret")), format!("{name}=***"));
        }
        for name in ["host", "user", "author", "pwrite", "sslmode"] {
            assert!(!is_secret_name(name), "{name}");
        }
        assert_eq!(
            shown("redis://db?auth=s3cret&db=2"),
            "redis://db?auth=***&db=2"
        );
    }
}
