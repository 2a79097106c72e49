//! The progress bar a person sees on a terminal, for pulls (rows), pushes (orders) and outboxes
//! (changes).
//!
//! A bar appears only once its job knows it has work (a total above zero), so a job with
//! nothing to do, or one that fails before its first page, leaves no `0/0` behind; and it
//! clears itself when its job ends however it ends, since clearing is tied to the bar's last
//! owner going away, not to the job reaching its end. Rates are whole numbers.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::progress::Progress;

pub(crate) struct Bar(ProgressBar);

impl Bar {
    /// A bar for `job`, counting `unit`s ("rows", "orders"); hidden until it has a total.
    pub(crate) fn new(job: &str, unit: &str) -> Arc<Bar> {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        let template =
            format!("{{prefix}} [{{bar:20}}] {{pos}}/{{len}} {unit}  {{rate}}  eta {{eta}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
        );
        bar.set_prefix(job.to_string());
        Arc::new(Bar(bar))
    }

    /// As the observer a job reports to.
    pub(crate) fn observer(self: &Arc<Self>) -> Arc<dyn Progress> {
        self.clone()
    }
}

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
        if total > 0 && self.0.is_hidden() {
            // Drawn from now on, with the others, below the log lines.
            crate::logging::bars().add(self.0.clone());
            self.0.tick();
        }
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
        crate::logging::bars().remove(&self.0);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
