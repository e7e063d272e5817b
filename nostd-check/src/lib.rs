//! A `#![no_std]` static library that uses tarn-core, with its own panic handler (and, with
//! `alloc`, its own global allocator). If anything in tarn-core's dependency graph links
//! `std`, the build fails: `duplicate lang item panic_impl` on a host target, `can't find
//! crate for std` on a bare-metal one. `.ci/nostd.sh` builds it both ways.
#![no_std]

use tarn_core::{FixedPool, Manager, ResetMode};

/// A manager whose connections are plain numbers.
pub struct Numbers;

impl Manager for Numbers {
    type Connection = u32;
    type Error = ();

    fn connect(&self) -> Result<u32, ()> {
        Ok(7)
    }
    fn reset(&self, conn: &mut u32, _mode: ResetMode) -> Result<(), ()> {
        *conn = 7;
        Ok(())
    }
    fn close(&self, _conn: u32) {}
}

static POOL: FixedPool<Numbers, 2> = FixedPool::new(Numbers, 1);

/// Checks a connection out of a `static` pool and returns it; 0 if none was free.
#[no_mangle]
pub extern "C" fn tarn_nostd_check() -> u32 {
    match POOL.try_checkout() {
        Ok(conn) => *conn,
        Err(_) => 0,
    }
}

/// With `alloc`: builds a heap pool too, so the allocating half of tarn-core is linked.
#[cfg(feature = "alloc")]
#[no_mangle]
pub extern "C" fn tarn_nostd_check_alloc() -> u32 {
    let built = tarn_core::Builder::new(Numbers)
        .pool_size(1)
        .idle_order(tarn_core::IdleOrder::Lifo)
        .build();
    match built {
        Ok(pool) => pool.try_checkout().map_or(0, |conn| *conn),
        Err(_) => 0,
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// An allocator that never allocates: this crate only has to link, never to run.
#[cfg(feature = "alloc")]
struct NoAlloc;

#[cfg(feature = "alloc")]
// SAFETY: `alloc` always reports failure (null), which the `GlobalAlloc` contract allows;
// `dealloc` is then never called with a pointer from this allocator.
unsafe impl core::alloc::GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[cfg(feature = "alloc")]
#[global_allocator]
static ALLOC: NoAlloc = NoAlloc;

#[cfg(feature = "alloc")]
extern crate alloc;
