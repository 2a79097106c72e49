//! Logs on stderr through tracing: human text by default, JSON lines with `--log-format json`.
//!
//! Text lines are logfmt: `key=value`, where a value that holds anything that could split a
//! line or fake a field (a space, `=`, a quote, a backslash, any control character) is written
//! quoted with escapes (`file="in box/a\nb.csv"`). Log values carry data from outside (inbox
//! file names, AHEAD's error texts), and a log line is what an operator and a log shipper trust:
//! a newline in a file name must not be able to print a line of its own. The message is written
//! bare, with its control characters escaped. JSON lines escape by construction.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Install the global subscriber. `verbosity` is `-v` count minus `-q` count.
pub(crate) fn init(format: LogFormat, verbosity: i8) {
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
        .with_writer(|| AroundBars)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        // A log line that cannot be written (the reader of stderr went away) is dropped. The
        // default reports it with `eprintln!`, which panics on the same closed stderr and takes
        // down whatever task logged: a receiver would stop answering SIGTERM.
        .log_internal_errors(false);
    let result = match format {
        LogFormat::Text => builder.fmt_fields(LogfmtFields).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// The progress bars on stderr (`commands::bar` adds them): a log line is written with the bars
/// lifted and redrawn below it, so that it never lands in the middle of one.
pub(crate) fn bars() -> &'static indicatif::MultiProgress {
    static BARS: std::sync::OnceLock<indicatif::MultiProgress> = std::sync::OnceLock::new();
    BARS.get_or_init(indicatif::MultiProgress::new)
}

/// stderr, written around the progress bars.
struct AroundBars;

impl std::io::Write for AroundBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        bars().suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        bars().suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whether progress bars may be drawn: a terminal on stderr, text logs, not switched off.
pub(crate) fn progress_allowed(format: LogFormat, no_progress: bool) -> bool {
    use std::io::IsTerminal;
    !no_progress && format == LogFormat::Text && std::io::stderr().is_terminal()
}

/// The fields of text log lines (events and spans), in logfmt.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LogfmtFields;

impl<'writer> FormatFields<'writer> for LogfmtFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = LogfmtVisitor {
            writer,
            first: true,
            result: Ok(()),
            buffer: String::new(),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct LogfmtVisitor<'writer> {
    writer: Writer<'writer>,
    /// Nothing written yet: no separating space before the first field.
    first: bool,
    result: fmt::Result,
    /// A value is rendered here first: whether it needs quotes is known only once it is whole.
    buffer: String,
}

impl LogfmtVisitor<'_> {
    fn write_field(&mut self, name: &str, render: impl FnOnce(&mut String) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        // Metadata of `log` records, which the line's own level and target already show.
        if name.starts_with("log.") {
            return;
        }
        self.buffer.clear();
        if let Err(e) = render(&mut self.buffer) {
            self.result = Err(e);
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        let w = &mut self.writer;
        self.result = if name == "message" {
            w.write_str(separator)
                .and_then(|()| write_escaped(w, &self.buffer))
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            let styled = w.has_ansi_escapes();
            w.write_str(separator)
                .and_then(|()| match styled {
                    // Italic name, dimmed `=`, as tracing's own text format does.
                    true => write!(w, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m"),
                    false => write!(w, "{name}="),
                })
                .and_then(|()| write_value(w, &self.buffer))
        };
    }
}

impl Visit for LogfmtVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write_field(field.name(), |b| b.write_str(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write_field(field.name(), |b| {
            write!(b, "{}", crate::error::Chain(value))
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write_field(field.name(), |b| write!(b, "{value:?}"));
    }
}

/// Whether a logfmt value must be quoted: empty, or holding a space, `=`, a quote, a
/// backslash, or a character that is not plain text (see [`escape`]).
pub(crate) fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| matches!(c, ' ' | '=' | '"' | '\\') || escape(c).is_some())
}

/// The escape for a character that must never reach a log line raw: control characters
/// (newline, carriage return, tab, ESC, DEL, the C1 range) and the Unicode line and paragraph
/// separators, which some viewers break lines at.
fn escape(c: char) -> Option<EscapedChar> {
    match c {
        '\n' => Some(EscapedChar::Short('n')),
        '\r' => Some(EscapedChar::Short('r')),
        '\t' => Some(EscapedChar::Short('t')),
        c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
            Some(EscapedChar::Code(c as u32))
        }
        _ => None,
    }
}

enum EscapedChar {
    /// `\n`, `\r`, `\t`.
    Short(char),
    /// `\u001b`: the code point in hex, as in JSON.
    Code(u32),
}

impl fmt::Display for EscapedChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EscapedChar::Short(c) => write!(f, "\\{c}"),
            EscapedChar::Code(code) => write!(f, "\\u{code:04x}"),
        }
    }
}

/// Write a logfmt value: bare when it is plain, else quoted with `\"`, `\\` and the control
/// character escapes.
pub(crate) fn write_value(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    if !needs_quotes(value) {
        return out.write_str(value);
    }
    out.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            c => match escape(c) {
                Some(e) => write!(out, "{e}")?,
                None => out.write_char(c)?,
            },
        }
    }
    out.write_char('"')
}

/// Write text with its control characters escaped and nothing else changed: the message.
pub(crate) fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        match escape(c) {
            Some(e) => write!(out, "{e}")?,
            None => out.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as logfmt writes it.
    fn logfmt_value(value: &str) -> String {
        let mut out = String::new();
        write_value(&mut out, value).expect("writing to a String cannot fail");
        out
    }

    #[test]
    fn values_are_quoted_only_when_they_must_be() {
        let table = [
            ("plain", "plain"),
            ("inventory", "inventory"),
            ("42", "42"),
            ("-12.50", "-12.50"),
            ("/srv/inbox/po.csv", "/srv/inbox/po.csv"),
            ("a,b;c:d", "a,b;c:d"),
            ("café", "café"),
            ("", "\"\""),
            ("outstanding set", "\"outstanding set\""),
            ("a=b", "\"a=b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("C:\\inbox", "\"C:\\\\inbox\""),
            ("a\nb", "\"a\\nb\""),
            ("a\r\nb", "\"a\\r\\nb\""),
            ("a\tb", "\"a\\tb\""),
            ("\u{1b}[31mred", "\"\\u001b[31mred\""),
            ("nul\0", "\"nul\\u0000\""),
            ("del\u{7f}", "\"del\\u007f\""),
            ("next\u{85}line", "\"next\\u0085line\""),
            ("line\u{2028}sep", "\"line\\u2028sep\""),
            (
                "po.csv\n2026-01-01T00:00:00Z ERROR forged",
                "\"po.csv\\n2026-01-01T00:00:00Z ERROR forged\"",
            ),
        ];
        for (value, want) in table {
            assert_eq!(logfmt_value(value), want, "{value:?}");
            assert_eq!(needs_quotes(value), value != want, "{value:?}");
        }
    }

    #[test]
    fn the_message_keeps_its_spaces_and_loses_its_newlines() {
        let table = [
            ("Pull finished.", "Pull finished."),
            ("Inbox file \"a b\" left.", "Inbox file \"a b\" left."),
            ("two\nlines", "two\\nlines"),
            ("bell\u{7}", "bell\\u0007"),
        ];
        for (text, want) in table {
            let mut out = String::new();
            write_escaped(&mut out, text).unwrap();
            assert_eq!(out, want, "{text:?}");
        }
    }

    /// The fields of a real event, through a subscriber writing to a buffer.
    #[test]
    fn an_event_is_one_logfmt_line() {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_target(false)
            .without_time()
            .fmt_fields(LogfmtFields)
            .finish();
        let path = std::path::PathBuf::from("in box/po\nERROR forged.csv");
        let error = std::io::Error::other("disk \"full\"");
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("run", job = "pull purchase_orders", run = 7);
            let _entered = span.enter();
            tracing::warn!(
                file = %path.display(),
                mode = %"outstanding set",
                count = 3,
                ok = true,
                outcome = ?Some("x"),
                error = &error as &(dyn std::error::Error + 'static),
                "Left for\nlater."
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            " WARN run{job=\"pull purchase_orders\" run=7}: Left for\\nlater. \
             file=\"in box/po\\nERROR forged.csv\" mode=\"outstanding set\" count=3 ok=true \
             outcome=\"Some(\\\"x\\\")\" error=\"disk \\\"full\\\"\"\n"
        );
    }
}
