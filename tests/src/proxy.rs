//! A loopback TCP proxy between a pool and a server, with switches that cut the server off
//! (an outage), stall every connection (a server that stops answering but keeps its
//! sockets open) and restore it; and [`Hung`], a listener that accepts and never answers.
//!
//! Only loopback addresses: the proxy listens on `127.0.0.1:0` and forwards to a loopback
//! target; anything else is refused at construction.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A running proxy. Dropping it stops it and closes every connection through it.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    /// While set, new connections are accepted and closed at once, without reaching the
    /// server (the client sees the connection reset or closed during its handshake).
    cut: AtomicBool,
    /// While set, bytes read from either side are held, not forwarded (new connections are
    /// still accepted and connected to the server): the other side waits for an answer.
    stalled: AtomicBool,
    stop: AtomicBool,
    /// One clone of each side of every live forwarded connection, to shut them on a cut.
    live: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
}

impl Proxy {
    /// Starts a proxy to `target` (a loopback `host:port`).
    ///
    /// # Errors
    ///
    /// If `target` does not resolve to a loopback address, or the listener cannot bind.
    pub fn start(target: impl ToSocketAddrs) -> io::Result<Proxy> {
        let target = target
            .to_socket_addrs()?
            .find(|a| a.ip().is_loopback())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the proxy only forwards to loopback addresses",
                )
            })?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            cut: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
        });
        let s = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("tarn-test-proxy".into())
            .spawn(move || accept_loop(&listener, &s))?;
        Ok(Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many client connections the proxy has accepted so far (cut or not).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Cuts the server off: drops every current connection and closes new ones at once.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_live();
    }

    /// Restores forwarding for new connections, and ends a stall.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
        self.shared.stalled.store(false, Ordering::SeqCst);
    }

    /// Stalls every connection, current and new: whatever either side sends is held
    /// until [`restore`](Self::restore) (or the proxy's drop, which closes everything).
    /// The server seems hung: connected, silent.
    pub fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.close_live();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn close_live(&self) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for s in live.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                if shared.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = forward(client, shared);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn forward(client: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = match TcpStream::connect_timeout(&shared.target, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => {
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    {
        let mut live = shared.live.lock().unwrap_or_else(|p| p.into_inner());
        live.push(client.try_clone()?);
        live.push(server.try_clone()?);
    }
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    let (up, down) = (Arc::clone(shared), Arc::clone(shared));
    thread::Builder::new()
        .name("tarn-test-proxy-up".into())
        .spawn(move || pump(client, server, &up))?;
    thread::Builder::new()
        .name("tarn-test-proxy-down".into())
        .spawn(move || pump(s2, c2, &down))?;
    Ok(())
}

/// Copies `from` → `to` until either side closes, then closes both. While the proxy is
/// stalled, what was read is held back.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                while shared.stalled.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(2));
                }
                if shared.stop.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A loopback listener that accepts every connection and never sends a byte: a server
/// that hangs during the handshake. Dropping it closes the connections it holds.
#[derive(Debug)]
pub struct Hung {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Hung {
    /// Starts one on `127.0.0.1:0`.
    ///
    /// # Errors
    ///
    /// If the listener cannot bind.
    pub fn start() -> io::Result<Hung> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name("tarn-test-hung".into())
            .spawn(move || {
                let mut held = Vec::new();
                while !s.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => held.push(conn),
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
                for c in held {
                    let _ = c.shutdown(Shutdown::Both);
                }
            })?;
        Ok(Hung {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback, for testing the proxy itself.
    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        addr
    }

    fn roundtrip(addr: SocketAddr) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        Ok(buf.to_vec())
    }

    #[test]
    fn forwards_cuts_and_restores() {
        let proxy = Proxy::start(echo_server()).unwrap();
        assert_eq!(roundtrip(proxy.addr()).unwrap(), b"ping");

        let mut held = TcpStream::connect(proxy.addr()).unwrap();
        held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        held.write_all(b"a").unwrap();
        let mut one = [0u8; 1];
        held.read_exact(&mut one).unwrap();

        proxy.cut();
        assert!(roundtrip(proxy.addr()).is_err(), "new connections fail");
        let mut rest = Vec::new();
        let r = held.read_to_end(&mut rest);
        assert!(
            matches!(r, Ok(0)) || r.is_err(),
            "live connections are dropped"
        );

        proxy.restore();
        assert_eq!(roundtrip(proxy.addr()).unwrap(), b"ping");
    }

    #[test]
    fn a_stall_holds_bytes_until_restored() {
        let proxy = Proxy::start(echo_server()).unwrap();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        proxy.stall();
        s.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        assert!(
            s.read_exact(&mut buf).is_err(),
            "nothing comes back while stalled"
        );
        proxy.restore();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn a_hung_listener_accepts_and_stays_silent() {
        let hung = Hung::start().unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", hung.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 1];
        let e = s.read(&mut buf).unwrap_err();
        assert!(matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }

    #[test]
    fn refuses_non_loopback_targets() {
        assert!(Proxy::start("192.0.2.1:5432").is_err());
    }
}
