//! The input format: the pool configuration and the operations a byte string decodes to.

use super::*;

/// Which storage the pool under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// A heap [`Pool`](tarn_core::Pool) built by [`Builder`].
    Heap,
    /// A [`FixedPool`](tarn_core::FixedPool) of [`FIXED_SLOTS`] slots.
    Fixed,
}

/// How the pool under test is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Heap or fixed storage.
    pub storage: StorageKind,
    /// `pool_size` (0–3).
    pub pool_size: usize,
    /// `max_overflow` (0–3; a fixed pool ignores it and uses `FIXED_SLOTS - pool_size`).
    pub max_overflow: usize,
    /// Idle order (a fixed pool is always LIFO).
    pub order: IdleOrder,
    /// Pre-ping on checkout.
    pub pre_ping: bool,
    /// Recycle age in ticks of the manual clock.
    pub recycle: Option<u64>,
    /// Reset on return.
    pub reset: ResetMode,
    /// Threads of a [`Concurrent`] run (2 or 3).
    pub threads: usize,
    /// Unlimited overflow (`max_overflow` is then ignored; a fixed pool reads it as all of
    /// its slots).
    pub unlimited: bool,
    /// Keep nothing idle ([`Retain::Nothing`]).
    pub retain_nothing: bool,
}

impl Config {
    /// Reads a configuration from four bytes (missing bytes count as 0):
    ///
    /// - byte 0: bit 0 fixed storage, bits 1–2 `pool_size`, bits 3–4 `max_overflow`,
    ///   bit 5 LIFO, bit 6 pre-ping, bit 7 affinity (over bit 5; heap storage only);
    /// - byte 1: bit 0 set means a recycle age of `(byte >> 1) % 8` ticks;
    /// - byte 2: bits 0–1 reset mode (`% 3`: rollback, commit, none), bit 2 unlimited
    ///   overflow, bit 3 keep nothing idle;
    /// - byte 3: threads (`2 + byte % 2`).
    pub fn decode(bytes: &[u8]) -> Config {
        let b = |i: usize| bytes.get(i).copied().unwrap_or(0);
        let (b0, b1, b2, b3) = (b(0), b(1), b(2), b(3));
        Config {
            storage: if b0 & 1 == 1 {
                StorageKind::Fixed
            } else {
                StorageKind::Heap
            },
            pool_size: usize::from((b0 >> 1) & 3),
            max_overflow: usize::from((b0 >> 3) & 3),
            order: if b0 & 0x80 != 0 {
                IdleOrder::Affinity
            } else if b0 & 0x20 != 0 {
                IdleOrder::Lifo
            } else {
                IdleOrder::Fifo
            },
            pre_ping: b0 & 0x40 != 0,
            recycle: (b1 & 1 == 1).then_some(u64::from((b1 >> 1) % 8)),
            reset: match (b2 & 3) % 3 {
                0 => ResetMode::Rollback,
                1 => ResetMode::Commit,
                _ => ResetMode::None,
            },
            threads: 2 + usize::from(b3 % 2),
            unlimited: b2 & 4 != 0,
            retain_nothing: b2 & 8 != 0,
        }
    }

    /// Whether the pool under test has unlimited overflow (heap storage only: a fixed pool
    /// reads the setting as all of its slots).
    pub(crate) fn unlimited_heap(&self) -> bool {
        self.unlimited && self.storage == StorageKind::Heap
    }

    /// The settings the pool is built with.
    pub(crate) fn settings(&self) -> Settings {
        let mut s = Settings::new()
            .pool_size(self.pool_size)
            .max_overflow(self.max_overflow)
            .reset_on_return(self.reset)
            .pre_ping(self.pre_ping)
            .idle_order(self.order);
        if let Some(age) = self.recycle {
            s = s.recycle(age);
        }
        if self.unlimited {
            s = s.unlimited_overflow();
        }
        if self.retain_nothing {
            s = s.retain(Retain::Nothing);
        }
        s
    }

    /// `(pool_size, capacity, order)` as the rules say the pool will use them. Unlimited
    /// overflow: no capacity (`usize::MAX`), and idle connections are handed out oldest
    /// first whatever the order.
    pub(crate) fn effective(&self) -> (usize, usize, IdleOrder) {
        match self.storage {
            StorageKind::Heap if self.unlimited => (self.pool_size, usize::MAX, IdleOrder::Fifo),
            StorageKind::Heap => (
                self.pool_size,
                self.pool_size + self.max_overflow,
                self.order,
            ),
            // A fixed pool keeps at most N idle, may always open N, and is LIFO.
            StorageKind::Fixed => (
                self.pool_size.min(FIXED_SLOTS),
                FIXED_SLOTS,
                IdleOrder::Lifo,
            ),
        }
    }
}

/// One operation. Arguments that pick a held connection are taken modulo how many are held
/// (an operation on nothing does nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `try_checkout`.
    Checkout,
    /// Check in the n-th held connection (`Pooled::checkin`).
    Checkin(u8),
    /// Hard-invalidate the n-th held connection.
    Invalidate(u8),
    /// Soft-invalidate the n-th held connection.
    SoftInvalidate(u8),
    /// Detach the n-th held connection (the test keeps it until `CloseDetached`).
    Detach(u8),
    /// Close the n-th detached connection through `close_detached`.
    CloseDetached(u8),
    /// `invalidate_all`.
    InvalidateAll,
    /// `dispose`.
    Dispose,
    /// Replace the pool by a new one with the same settings; the old one lives until its
    /// last connection comes back, then is dropped.
    Recreate,
    /// Move the manual clock forward by `n % 8` ticks.
    Advance(u8),
    /// The next `n % 3` connects fail.
    FailConnects(u8),
    /// The next `n % 3` resets fail.
    FailResets(u8),
    /// The next `n % 3` pings fail (not a disconnect).
    FailPings(u8),
    /// The next `n % 3` pings report a disconnect.
    DisconnectPings(u8),
    /// The checkout hook answers "disconnected" the next `n % 3` times.
    HookDisconnects(u8),
}

impl Op {
    /// Decodes one operation from an opcode and an argument byte.
    pub fn decode(opcode: u8, arg: u8) -> Op {
        match opcode % 20 {
            // Checkout and checkin are the common case: give them more codes.
            0..=4 => Op::Checkout,
            5..=7 => Op::Checkin(arg),
            8 => Op::Invalidate(arg),
            9 => Op::SoftInvalidate(arg),
            10 => Op::Detach(arg),
            11 => Op::CloseDetached(arg),
            12 => Op::InvalidateAll,
            13 => Op::Dispose,
            14 => Op::Recreate,
            15 => Op::Advance(arg % 8),
            16 => Op::FailConnects(arg % 3),
            17 => match arg % 2 {
                0 => Op::FailResets((arg >> 1) % 3),
                _ => Op::FailPings((arg >> 1) % 3),
            },
            18 => Op::DisconnectPings(arg % 3),
            _ => Op::HookDisconnects(arg % 3),
        }
    }

    /// An opcode and argument that decode to this operation.
    pub fn encode(self) -> [u8; 2] {
        match self {
            Op::Checkout => [0, 0],
            Op::Checkin(n) => [5, n],
            Op::Invalidate(n) => [8, n],
            Op::SoftInvalidate(n) => [9, n],
            Op::Detach(n) => [10, n],
            Op::CloseDetached(n) => [11, n],
            Op::InvalidateAll => [12, 0],
            Op::Dispose => [13, 0],
            Op::Recreate => [14, 0],
            Op::Advance(n) => [15, n % 8],
            Op::FailConnects(n) => [16, n % 3],
            Op::FailResets(n) => [17, (n % 3) << 1],
            Op::FailPings(n) => [17, ((n % 3) << 1) | 1],
            Op::DisconnectPings(n) => [18, n % 3],
            Op::HookDisconnects(n) => [19, n % 3],
        }
    }
}

/// Splits an input into its configuration and at most [`MAX_OPS`] operations.
pub fn decode(data: &[u8]) -> (Config, Vec<Op>) {
    let config = Config::decode(data);
    let ops = data
        .get(4..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .take(MAX_OPS)
        .map(|pair| Op::decode(pair[0], pair[1]))
        .collect();
    (config, ops)
}
