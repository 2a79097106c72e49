//! How a long job says how far it is, without knowing how that is shown. The jobs (`pull`)
//! report through [`Progress`]; the command layer decides whether a bar is drawn (a terminal,
//! text logs) and how it looks.

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

impl Progress for indicatif::ProgressBar {
    fn set_total(&self, total: u64) {
        self.set_length(total);
    }

    fn advance(&self, n: u64) {
        self.inc(n);
    }

    fn finish(&self) {
        self.finish_and_clear();
    }
}
