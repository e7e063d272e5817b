//! What a run reports: a divergence from the model, or the counts of a run that agreed.

use super::*;

/// Where the real pool and the model first disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the operation (`ops.len()` for the final clean-up).
    pub step: usize,
    /// The operation, if any.
    pub op: Option<Op>,
    /// What differed.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Some(op) => write!(f, "step {} ({op:?}): {}", self.step, self.what),
            None => write!(f, "clean-up after step {}: {}", self.step, self.what),
        }
    }
}

/// What a run did, for tests that check their corpus exercises something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Connections opened.
    pub opened: usize,
    /// Connections closed (all of them, by the end of a run that did not diverge).
    pub closed: usize,
    /// Successful checkouts.
    pub checkouts: usize,
    /// Checkouts that would have blocked.
    pub would_block: usize,
    /// Checkouts that failed (connect error or "disconnected" twice).
    pub failed: usize,
    /// Pools built (1 + recreates), or 0 if the configuration is rejected.
    pub pools: usize,
}

// ---- the model ---------------------------------------------------------------------------
