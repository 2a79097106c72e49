//! Logs on stderr through tracing: human text by default, JSON lines with `--log-format json`.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Install the global subscriber. `verbosity` is `-v` count minus `-q` count.
pub fn init(format: LogFormat, verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our own crate at the chosen level; dependencies only when they warn (or at -vv).
    let deps = if verbosity >= 2 { "debug" } else { "warn" };
    let filter = EnvFilter::new(format!("{deps},ahead_sync={level}"));
    use std::io::IsTerminal;
    // Colours only on a terminal: a cron mail or a log file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// Whether progress bars may be drawn: a terminal on stderr, text logs, not switched off.
pub fn progress_allowed(format: LogFormat, no_progress: bool) -> bool {
    use std::io::IsTerminal;
    !no_progress && format == LogFormat::Text && std::io::stderr().is_terminal()
}
