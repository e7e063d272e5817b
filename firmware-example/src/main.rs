//! A firmware-style program that lends sessions on a sensor bus from a `static`
//! [`FixedPool`]: no allocator, no operating system, no runtime crate.
//!
//! The main loop and an interrupt handler both check sessions out. The pool's idle queue is
//! tarn's tagged index stack, which is lock-free: if the interrupt preempts the main loop in
//! the middle of a checkout, the handler's own checkout still completes (it may find nothing
//! free, and then says so instead of waiting).
//!
//! Built in CI for `thumbv7em-none-eabihf`, `thumbv6m-none-eabi` and
//! `riscv32imc-unknown-none-elf` (`.ci/nostd.sh`). It links without a vector table or
//! memory map: a real board adds its runtime crate (`cortex-m-rt`, `riscv-rt`) for those.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use tarn_core::{CheckoutError, FixedPool, Manager, Pooled, ResetMode};

/// A session on the sensor bus: which device it talks to, and whether a transfer is open.
pub struct Session {
    device: u8,
    transfer_open: bool,
}

impl Session {
    /// Starts a transfer (on real hardware: write the device address to the bus peripheral).
    fn begin(&mut self) {
        self.transfer_open = true;
    }
}

/// Opens and closes bus sessions. Everything it needs is `const`, so the pool built from it
/// can live in a `static`.
pub struct Bus {
    device: u8,
}

/// Why the bus refused.
#[derive(Debug)]
pub enum BusError {
    /// The device did not answer.
    NoAck,
}

/// Sessions opened so far (load/store only: the targets without compare-and-swap have them).
static OPENED: AtomicU32 = AtomicU32::new(0);

impl Manager for Bus {
    type Connection = Session;
    type Error = BusError;

    fn connect(&self) -> Result<Session, BusError> {
        // Only a statistic, so a lost update between the main loop and the interrupt is fine.
        OPENED.store(
            OPENED.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        Ok(Session {
            device: self.device,
            transfer_open: false,
        })
    }

    /// Ends whatever transfer the user left open (the pool's reset on return).
    fn reset(&self, session: &mut Session, _mode: ResetMode) -> Result<(), BusError> {
        session.transfer_open = false;
        Ok(())
    }

    fn close(&self, _session: Session) {}

    fn ping(&self, session: &mut Session) -> Result<(), BusError> {
        if session.device == 0 {
            Err(BusError::NoAck)
        } else {
            Ok(())
        }
    }
}

/// Four sessions, two kept open while idle. Built at compile time: no allocator, no
/// initialisation code.
static SESSIONS: FixedPool<Bus, 4> = FixedPool::new(Bus { device: 0x48 }, 2);

/// One unit of work for whoever holds a session.
fn sample(session: &mut Session) -> u8 {
    session.begin();
    session.device
}

/// The interrupt handler of a data-ready line (on a real board: registered in the vector
/// table by the runtime crate).
#[no_mangle]
pub extern "C" fn DATA_READY() {
    match SESSIONS.try_checkout() {
        Ok(mut session) => {
            let _ = sample(&mut session);
        } // back to the pool, reset, here
        Err(CheckoutError::WouldBlock) => {
            // Every session is in use (perhaps by the code this handler interrupted): try
            // again on the next interrupt instead of waiting.
        }
        Err(_) => {}
    }
}

/// The reset entry point.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut held = None;
    loop {
        match SESSIONS.try_checkout() {
            Ok(mut session) => {
                let _ = sample(&mut session);
                // Keep one session across iterations, give the previous one back.
                if let Some(previous) = held.replace(session) {
                    let _ = Pooled::checkin(previous);
                }
            }
            Err(_) => {
                if let Some(previous) = held.take() {
                    // A session that misbehaved leaves the pool for good.
                    Pooled::invalidate(previous);
                }
            }
        }
        DATA_READY();
        if SESSIONS.state().checked_out > 4 {
            // Unreachable: the pool never lends more than its four slots.
            SESSIONS.dispose();
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
