//! Whether a file an ERP drops into an inbox is complete yet (product.md: "Inbox files are taken
//! only when complete"): a CSV ends with a line end and outside any quoted field, an X12 file
//! ends with its IEA segment and terminator. Pure: bytes in, a reason to wait out.

use std::fmt;

#[cfg(test)]
use super::spec::{Mapping, SourceFormat};
use super::x12;

/// Why a file is not complete yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incomplete {
    Empty,
    /// A CSV whose last line has no line end: the writer may be in the middle of it.
    NoLineEnd,
    /// A CSV that ends inside a quoted field, opened on this 1-based line.
    OpenQuote {
        line: usize,
    },
    /// An X12 file that does not end with a terminated IEA segment.
    NoTrailer,
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incomplete::Empty => f.write_str("the file is empty"),
            Incomplete::NoLineEnd => f.write_str("its last line has no line end"),
            Incomplete::OpenQuote { line } => {
                write!(f, "it ends inside a quoted field opened on line {line}")
            }
            Incomplete::NoTrailer => f.write_str("it does not end with an IEA segment"),
        }
    }
}

/// `None` when `bytes` look like a whole file for `mapping`'s source format. (A push learns the
/// same while it streams the file: [`CsvTail`], [`x12_incomplete`].)
#[cfg(test)]
pub(crate) fn incomplete(mapping: &Mapping, bytes: &[u8]) -> Option<Incomplete> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match &mapping.source {
        SourceFormat::Csv(csv) => {
            let mut tail = CsvTail::new(csv.quote);
            tail.feed(bytes);
            tail.finish()
        }
        SourceFormat::X12(_) => x12_incomplete(bytes),
    }
}

/// Whether an X12 file is whole: `None`, or why not.
pub(crate) fn x12_incomplete(bytes: &[u8]) -> Option<Incomplete> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(Incomplete::Empty);
    }
    x12_unterminated(bytes).then_some(Incomplete::NoTrailer)
}

/// The line a quoted field that is never closed opened on, if the CSV ends inside one.
pub(super) fn open_quote_line(bytes: &[u8], quote: u8) -> Option<usize> {
    let mut tail = CsvTail::new(quote);
    tail.feed(bytes);
    tail.opened
}

/// What decides whether a CSV is whole, learnt from its bytes as they stream past: whether it
/// has any content, whether it ends with a line end, and whether it ends inside a quoted field
/// (an escaped quote, `""`, toggles twice, so counting quotes is enough).
#[derive(Debug, Clone)]
pub(crate) struct CsvTail {
    quote: u8,
    /// The 1-based line the bytes so far end on.
    line: usize,
    /// The line the quoted field still open at the end opened on.
    pub(crate) opened: Option<usize>,
    last: Option<u8>,
    content: bool,
}

impl CsvTail {
    pub(crate) fn new(quote: u8) -> Self {
        CsvTail {
            quote,
            line: 1,
            opened: None,
            last: None,
            content: false,
        }
    }

    /// The next bytes of the file (after any byte-order mark).
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if !self.content {
            self.content = !bytes.iter().all(u8::is_ascii_whitespace);
        }
        self.last = bytes.last().copied();
        for i in memchr::memchr2_iter(self.quote, b'\n', bytes) {
            if bytes[i] == b'\n' {
                self.line += 1;
            } else {
                self.opened = match self.opened {
                    None => Some(self.line),
                    Some(_) => None,
                };
            }
        }
    }

    /// `None` when the bytes fed make a whole CSV.
    pub(crate) fn finish(&self) -> Option<Incomplete> {
        if !self.content {
            Some(Incomplete::Empty)
        } else if let Some(line) = self.opened {
            Some(Incomplete::OpenQuote { line })
        } else if self.last != Some(b'\n') {
            Some(Incomplete::NoLineEnd)
        } else {
            None
        }
    }
}

/// True when the interchange is cut short: its last segment is not a terminated IEA. A file too
/// malformed to find its separators is left to the reader, which rejects it with a reason.
fn x12_unterminated(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let body = &bytes[start..];
    let Ok(seps) = x12::read_isa(body) else {
        // A header still being written is shorter than a whole ISA segment (106 bytes).
        return body.len() < 120;
    };
    let content_end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let (last_end, terminated) = if seps.segment == b'\n' {
        (content_end, body[content_end..].contains(&b'\n'))
    } else if content_end > 0 && body[content_end - 1] == seps.segment {
        (content_end - 1, true)
    } else {
        (content_end, false)
    };
    if !terminated {
        return true;
    }
    let last_start = body[..last_end]
        .iter()
        .rposition(|&b| b == seps.segment)
        .map_or(0, |i| i + 1);
    let last = body[last_start..last_end].trim_ascii();
    !(last.starts_with(b"IEA") && last.get(3) == Some(&seps.element))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_mapping() -> Mapping {
        Mapping::parse(
            include_str!("../../mappings/purchase_orders.csv.toml"),
            "t.toml",
        )
        .unwrap()
    }

    fn x12_mapping() -> Mapping {
        Mapping::parse(
            include_str!("../../mappings/purchase_orders.x12.toml"),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn csv_needs_a_final_line_end_outside_quotes() {
        let m = csv_mapping();
        let cases: &[(&str, Option<Incomplete>)] = &[
            ("a,b\n1,2\n", None),
            ("a,b\r\n1,2\r\n", None),
            ("a,b\n1,2", Some(Incomplete::NoLineEnd)),
            ("", Some(Incomplete::Empty)),
            ("\n \n", Some(Incomplete::Empty)),
            ("a,b\n1,\"two\nlines\"\n", None),
            ("a,b\n1,\"say \"\"hi\"\"\"\n", None),
            (
                "a,b\n1,2\n3,\"cut in\n",
                Some(Incomplete::OpenQuote { line: 3 }),
            ),
            (
                "a,b\n1,\"cut\nin the middle\n",
                Some(Incomplete::OpenQuote { line: 2 }),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(incomplete(&m, text.as_bytes()), *want, "{text:?}");
        }
    }

    #[test]
    fn x12_needs_a_terminated_iea() {
        let m = x12_mapping();
        let whole = include_str!("../../tests/fixtures/purchase_orders.x12");
        assert_eq!(incomplete(&m, whole.as_bytes()), None);
        assert_eq!(incomplete(&m, format!("\n{whole}\n\n").as_bytes()), None);
        let iea = whole.rfind("IEA").unwrap();
        for cut in [10, 200, iea, iea + 3, iea + 6, whole.trim_end().len() - 1] {
            assert_eq!(
                incomplete(&m, &whole.as_bytes()[..cut]),
                Some(Incomplete::NoTrailer),
                "cut at {cut}"
            );
        }
        // Newline-terminated segments: the IEA line needs its line end.
        let lines = whole.replace("~\n", "\n").replace('~', "\n");
        assert_eq!(incomplete(&m, lines.as_bytes()), None, "{lines}");
        let cut = lines.trim_end();
        assert_eq!(incomplete(&m, cut.as_bytes()), Some(Incomplete::NoTrailer));
    }
}
