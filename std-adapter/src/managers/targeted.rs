//! [`Targeted`]: a driver error with the server and step it came from, for the errors whose
//! own text says only what went wrong on the wire ("Connection refused").

use std::error::Error;
use std::fmt;
use std::io;

/// `"<server>: <step> failed: <cause>"`, with the driver's error as its source. The server
/// is a description such as `MariaDB/MySQL at host:port/db as app`: never a password.
#[derive(Debug)]
pub(crate) struct Targeted {
    server: String,
    step: &'static str,
    cause: Box<dyn Error + Send + Sync>,
}

impl Targeted {
    /// An I/O error of `kind` (so the drivers' I/O classification still holds) carrying
    /// the target and, as its source, `cause`.
    pub(crate) fn io(
        kind: io::ErrorKind,
        server: String,
        step: &'static str,
        cause: impl Error + Send + Sync + 'static,
    ) -> io::Error {
        io::Error::new(
            kind,
            Targeted {
                server,
                step,
                cause: Box::new(cause),
            },
        )
    }
}

impl fmt::Display for Targeted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} failed: {}", self.server, self.step, self.cause)
    }
}

impl Error for Targeted {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}
