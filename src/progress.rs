//! How a long job says how far it is, without knowing how that is shown. The jobs (pulls,
//! pushes, outboxes) report through [`Progress`]; the command layer decides whether a bar is
//! drawn (a terminal, text logs) and how it looks (`commands::bar`).

use std::sync::Arc;

/// Receives a job's progress. Called from the job's threads, so it must be cheap.
pub trait Progress: Send + Sync {
    /// The number of units the job expects (rows, orders); may change as it learns more.
    fn set_total(&self, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The job is over: whatever was shown goes away.
    fn finish(&self);
}

/// A job's progress sink, if anyone is watching.
pub(crate) type Observer = Option<Arc<dyn Progress>>;
