//! Stopping on SIGINT or SIGTERM: long-running commands (`daemon`, `webhooks serve`) finish
//! the work in hand when the token this cancels is cancelled.

use tokio_util::sync::CancellationToken;

/// Cancel `token` on SIGINT or SIGTERM.
pub(crate) async fn on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("Stopping: finishing the work in hand.");
    token.cancel();
}
