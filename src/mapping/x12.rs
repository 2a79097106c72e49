//! X12 files: a tokenizer, and one order per transaction set (ST ... SE).
//!
//! The separators are read from each ISA header: the element separator is the byte after `ISA`,
//! the component separator is ISA16, and the segment terminator is the byte after ISA16. A
//! newline (or CRLF) there means newline-terminated segments. Newlines, CRLF and spaces after a
//! terminator are ignored. Segments borrow from the input: the tokenizer copies nothing.
//!
//! Envelopes are checked loosely: the file must start with ISA and end with IEA (a file without
//! its IEA is probably still being written), and every transaction set must close with an SE
//! whose segment count (SE01) and control number (SE02) match; GS/GE/IEA counts and control
//! numbers are not checked.

use thiserror::Error;

use super::convert::{convert, Draft, Place};
use super::spec::{FieldSource, FieldSpec, Level, Mapping, X12Ref, X12Source};
use super::{MappingError, OrderSink, ReadResult, Rejection, Rejections};

/// The separators of one interchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Separators {
    pub element: u8,
    pub component: u8,
    /// `b'\n'` for newline-terminated segments (a trailing `\r` is dropped).
    pub segment: u8,
}

/// One segment: its id and elements (element 0 is the id), where it sits in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment<'a> {
    /// 1-based position of the segment in the file (ISA = 1).
    pub ordinal: usize,
    /// 1-based line of the file the segment starts on.
    pub line: usize,
    pub elements: Vec<&'a [u8]>,
    pub separators: Separators,
}

impl<'a> Segment<'a> {
    pub(crate) fn id(&self) -> &'a [u8] {
        self.elements[0]
    }

    /// Element `n` (1-based), if present.
    pub(crate) fn element(&self, n: usize) -> Option<&'a [u8]> {
        self.elements.get(n).copied()
    }

    fn is(&self, id: &str) -> bool {
        self.id() == id.as_bytes()
    }

    fn id_text(&self) -> String {
        String::from_utf8_lossy(self.id()).into_owned()
    }
}

/// A file that cannot be split into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub line: usize,
    pub segment: usize,
    pub message: String,
}

/// An ISA header the separators cannot be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub(crate) enum IsaError {
    #[error("the ISA header is incomplete (it needs 16 elements, ISA16 and a segment terminator)")]
    Incomplete,
    #[error("\"{}\" after ISA is not a usable element separator", .0.escape_ascii())]
    ElementSeparator(u8),
    #[error("the ISA separators are not distinct (element, ISA16 component, segment terminator)")]
    NotDistinct,
    #[error("\"{}\" after ISA16 is not a usable segment terminator", .0.escape_ascii())]
    SegmentTerminator(u8),
}

/// Read the separators from an ISA header at the start of `bytes`.
pub(crate) fn read_isa(bytes: &[u8]) -> Result<Separators, IsaError> {
    if bytes.len() < 4 {
        return Err(IsaError::Incomplete);
    }
    let element = bytes[3];
    if element.is_ascii_alphanumeric() || element.is_ascii_whitespace() {
        return Err(IsaError::ElementSeparator(element));
    }
    let mut seen = 0;
    let mut i = 3;
    while i < bytes.len() && seen < 16 {
        if bytes[i] == element {
            seen += 1;
        }
        i += 1;
    }
    // `i` is now just past the 16th separator: ISA16, then the terminator.
    if seen < 16 || i + 1 >= bytes.len() {
        return Err(IsaError::Incomplete);
    }
    let component = bytes[i];
    let segment = match bytes[i + 1] {
        b'\r' | b'\n' => b'\n',
        other => other,
    };
    if component == element || segment == element || segment == component {
        return Err(IsaError::NotDistinct);
    }
    if segment.is_ascii_alphanumeric() {
        return Err(IsaError::SegmentTerminator(segment));
    }
    Ok(Separators {
        element,
        component,
        segment,
    })
}

/// A segment read from a stream: its bytes are its own.
#[derive(Debug, Clone)]
pub(crate) struct OwnedSegment {
    pub ordinal: usize,
    pub line: usize,
    raw: Vec<u8>,
    pub separators: Separators,
}

impl OwnedSegment {
    /// A segment to read into (`Segments::next_segment_into`).
    fn empty() -> Self {
        OwnedSegment {
            ordinal: 0,
            line: 0,
            raw: Vec::new(),
            separators: Separators {
                element: b'*',
                component: b':',
                segment: b'~',
            },
        }
    }

    /// The segment split into its elements, borrowing its bytes.
    pub(crate) fn view(&self) -> Segment<'_> {
        Segment {
            ordinal: self.ordinal,
            line: self.line,
            elements: self.raw.split(|&b| b == self.separators.element).collect(),
            separators: self.separators,
        }
    }

    fn id(&self) -> &[u8] {
        self.raw
            .split(|&b| b == self.separators.element)
            .next()
            .unwrap_or_default()
    }
}

/// Why the next segment could not be read.
#[derive(Debug)]
pub(crate) enum NextError {
    Token(TokenError),
    Io(std::io::Error),
}

/// Segments, one at a time, from any reader: only the segment being read is buffered (plus
/// what one read brings in), so a file of any size streams through in bounded memory.
pub(crate) struct Segments<R> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    started: bool,
    line: usize,
    ordinal: usize,
    separators: Option<Separators>,
}

const CHUNK: usize = 64 * 1024;

impl<R: std::io::Read> Segments<R> {
    pub(crate) fn new(input: R) -> Self {
        Segments {
            input,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            started: false,
            line: 1,
            ordinal: 0,
            separators: None,
        }
    }

    /// Make at least `want` bytes from `pos` available, unless the input ends first.
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        while !self.eof && self.buf.len() - self.pos < want {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let len = self.buf.len();
            self.buf.resize(len + CHUNK.max(want), 0);
            let n = loop {
                match self.input.read(&mut self.buf[len..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = n.inspect_err(|_| self.buf.truncate(len))?;
            self.buf.truncate(len + n);
            self.eof = n == 0;
        }
        Ok(())
    }

    fn error(&self, line: usize, segment: usize, message: String) -> NextError {
        NextError::Token(TokenError {
            line,
            segment,
            message,
        })
    }

    /// The next segment, `None` at the end of the input.
    pub(crate) fn next_segment(&mut self) -> Result<Option<OwnedSegment>, NextError> {
        let mut out = OwnedSegment::empty();
        Ok(self.next_segment_into(&mut out)?.then_some(out))
    }

    /// The next segment into `out` (whose buffer is reused); `false` at the end of the input.
    pub(crate) fn next_segment_into(&mut self, out: &mut OwnedSegment) -> Result<bool, NextError> {
        if !self.started {
            self.started = true;
            self.fill(3).map_err(NextError::Io)?;
            if self.buf[self.pos..].starts_with(b"\xEF\xBB\xBF") {
                self.pos += 3;
            }
        }
        loop {
            loop {
                while self.pos < self.buf.len()
                    && matches!(self.buf[self.pos], b'\r' | b'\n' | b' ' | b'\t')
                {
                    if self.buf[self.pos] == b'\n' {
                        self.line += 1;
                    }
                    self.pos += 1;
                }
                if self.pos < self.buf.len() || self.eof {
                    break;
                }
                self.fill(1).map_err(NextError::Io)?;
            }
            if self.pos >= self.buf.len() {
                return Ok(false);
            }
            self.fill(4).map_err(NextError::Io)?;
            let rest = &self.buf[self.pos..];
            if rest.starts_with(b"ISA") && rest.get(3).is_some_and(|b| !b.is_ascii_alphanumeric()) {
                // An ISA header is 106 bytes; allow for generous padding.
                self.fill(4096).map_err(NextError::Io)?;
                let seps = read_isa(&self.buf[self.pos..])
                    .map_err(|e| self.error(self.line, self.ordinal + 1, e.to_string()))?;
                self.separators = Some(seps);
            }
            let Some(seps) = self.separators else {
                let message =
                    "not an X12 interchange: the file must start with an ISA segment".to_string();
                return Err(self.error(self.line, 1, message));
            };
            let mut scanned = 0;
            let len = loop {
                let rest = &self.buf[self.pos + scanned..];
                if let Some(i) = memchr::memchr(seps.segment, rest) {
                    break scanned + i;
                }
                if self.eof {
                    break self.buf.len() - self.pos;
                }
                scanned = self.buf.len() - self.pos;
                self.fill(scanned + CHUNK).map_err(NextError::Io)?;
            };
            let mut raw = &self.buf[self.pos..self.pos + len];
            let start_line = self.line;
            self.line += memchr::memchr_iter(b'\n', raw).count();
            self.pos = (self.pos + len + 1).min(self.buf.len());
            if seps.segment == b'\n' {
                self.line += 1;
                raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            }
            if raw.is_empty() {
                continue;
            }
            self.ordinal += 1;
            out.ordinal = self.ordinal;
            out.line = start_line;
            out.raw.clear();
            out.raw.extend_from_slice(raw);
            out.separators = seps;
            return Ok(true);
        }
    }
}

#[cfg(test)]
impl OwnedSegment {
    fn id_text(&self) -> String {
        self.view().id_text()
    }

    fn element(&self, n: usize) -> Option<&[u8]> {
        self.raw.split(|&b| b == self.separators.element).nth(n)
    }
}

/// Split an X12 file into segments.
#[cfg(test)]
pub(crate) fn tokenize(bytes: &[u8]) -> Result<Vec<OwnedSegment>, TokenError> {
    let mut segments = Segments::new(bytes);
    let mut out = Vec::new();
    loop {
        match segments.next_segment() {
            Ok(Some(s)) => out.push(s),
            Ok(None) => break,
            Err(NextError::Token(e)) => return Err(e),
            Err(NextError::Io(e)) => unreachable!("reading bytes: {e}"),
        }
    }
    if out.is_empty() {
        return Err(empty_file());
    }
    Ok(out)
}

fn empty_file() -> TokenError {
    TokenError {
        line: 1,
        segment: 1,
        message: "the file is empty: expected an X12 interchange (ISA ... IEA)".to_string(),
    }
}

/// Find the value a reference points at among `segments`, with the segment it came from.
fn resolve<'s, 'a>(
    r: &X12Ref,
    segments: &'s [&'s Segment<'a>],
) -> (Option<&'s Segment<'a>>, Option<&'a [u8]>) {
    let range: &[&Segment] = match &r.anchor {
        None => segments,
        Some((anchor, qualifier)) => {
            let found = segments.iter().position(|s| {
                s.is(anchor) && s.element(1).map(<[u8]>::trim_ascii) == Some(qualifier.as_bytes())
            });
            let Some(start) = found else {
                return (None, None);
            };
            let end = segments[start + 1..]
                .iter()
                .position(|s| s.is(anchor))
                .map_or(segments.len(), |p| start + 1 + p);
            &segments[start..end]
        }
    };
    let Some(segment) = range.iter().find(|s| s.is(&r.segment)) else {
        return (None, None);
    };
    let element = segment.element(r.element);
    let value = match (element, r.component) {
        (Some(e), Some(c)) => e.split(|&b| b == segment.separators.component).nth(c - 1),
        (e, None) => e,
        (None, Some(_)) => None,
    };
    (Some(*segment), value)
}

/// Read every transaction set of an X12 file into an order; a file that cannot be split into
/// segments, or whose interchange has no IEA, is an error.
pub(crate) fn read(
    mapping: &Mapping,
    source: &X12Source,
    file: &str,
    bytes: &[u8],
) -> Result<ReadResult, MappingError> {
    let mut out = super::Collect::default();
    read_with(mapping, source, file, bytes, &mut out)?;
    Ok(ReadResult {
        orders: out.orders,
        rejections: out.rejections,
    })
}

fn next_error(file: &str, e: NextError) -> MappingError {
    match e {
        NextError::Token(e) => MappingError::Unreadable {
            file: file.to_string(),
            line: e.line,
            message: format!("segment {}: {}", e.segment, e.message),
        },
        NextError::Io(source) => MappingError::Read {
            file: file.to_string(),
            source,
        },
    }
}

fn no_iea(file: &str, last: (usize, usize)) -> MappingError {
    MappingError::Unreadable {
        file: file.to_string(),
        line: last.0,
        message: format!(
            "segment {}: the interchange has no IEA trailer (is the file still being written or truncated?)",
            last.1
        ),
    }
}

/// Pass one of a push: whether the file splits into segments and closes its interchange, so
/// that a file that cannot be read is rejected before any order from it is sent. Only an I/O
/// error is an error; a file that cannot be used is the inner error.
pub(crate) fn scan<R: std::io::Read>(
    file: &str,
    input: R,
) -> Result<Result<(), MappingError>, MappingError> {
    let mut segments = Segments::new(input);
    let mut open_interchange = false;
    let mut last = None;
    loop {
        match segments.next_segment() {
            Ok(Some(s)) => {
                match s.id() {
                    b"ISA" => open_interchange = true,
                    b"IEA" => open_interchange = false,
                    _ => {}
                }
                last = Some((s.line, s.ordinal));
            }
            Ok(None) => break,
            Err(NextError::Io(source)) => {
                return Err(MappingError::Read {
                    file: file.to_string(),
                    source,
                })
            }
            Err(e) => return Ok(Err(next_error(file, e))),
        }
    }
    Ok(match last {
        None => Err(next_error(file, NextError::Token(empty_file()))),
        Some(last) if open_interchange => Err(no_iea(file, last)),
        Some(_) => Ok(()),
    })
}

/// Read every transaction set of an X12 stream into `sink`, one at a time: only the open
/// transaction set is held.
pub(crate) fn read_with<R: std::io::Read>(
    mapping: &Mapping,
    source: &X12Source,
    file: &str,
    input: R,
    sink: &mut dyn OrderSink,
) -> Result<(), MappingError> {
    let mut segments = Segments::new(input);
    let mut reader = Reader {
        mapping,
        source,
        file,
        sink,
        rejections: Rejections::new(mapping.on_error),
    };
    // The open transaction set is `open[..used]`; the slot after it takes the next segment.
    // Slots are reused from set to set, so reading allocates only as sets grow.
    let mut open: Vec<OwnedSegment> = Vec::new();
    let mut used = 0;
    let mut in_set = false;
    let mut open_interchange = false;
    let mut last = None;
    loop {
        if used == open.len() {
            open.push(OwnedSegment::empty());
        }
        let more = segments
            .next_segment_into(&mut open[used])
            .map_err(|e| next_error(file, e))?;
        if !more {
            break;
        }
        let segment = &open[used];
        last = Some((segment.line, segment.ordinal));
        let id = segment.id();
        let (st, se) = (id == b"ST", id == b"SE");
        let isa_or_iea = match id {
            b"ISA" => Some(true),
            b"IEA" => Some(false),
            _ => None,
        };
        let closes_set = st || se || isa_or_iea.is_some() || id == b"GS" || id == b"GE";
        if !closes_set {
            if in_set {
                used += 1;
            } else {
                reader.stray(&segment.view(), "outside any transaction set (ST ... SE)")?;
            }
            continue;
        }
        if in_set {
            in_set = false;
            let n = if se { used + 1 } else { used };
            let views: Vec<Segment> = open[..n].iter().map(OwnedSegment::view).collect();
            reader.transaction(&views, se)?;
            drop(views);
            if se {
                used = 0;
                continue;
            }
            // The segment that cut the set short is read again below, from the first slot.
            open.swap(0, used);
            used = 0;
        }
        if let Some(opens) = isa_or_iea {
            open_interchange = opens;
        } else if st {
            in_set = true;
            used = 1;
        } else if se {
            reader.stray(&open[0].view(), "without a matching ST")?;
        }
    }
    if in_set {
        let views: Vec<Segment> = open[..used].iter().map(OwnedSegment::view).collect();
        reader.transaction(&views, false)?;
    }
    match last {
        None => Err(next_error(file, NextError::Token(empty_file()))),
        Some(last) if open_interchange => Err(no_iea(file, last)),
        Some(_) => Ok(()),
    }
}

/// Where a segment is, for rejections.
fn place(s: &Segment) -> Place {
    Place {
        line: s.line,
        segment: Some(s.ordinal),
    }
}

/// A transaction set's body: the header area (every segment outside a line loop) and the line
/// loops, each from its `line_loop` segment to the next one or a `loop_end` segment.
struct Body<'s, 'a> {
    header: Vec<&'s Segment<'a>>,
    loops: Vec<Vec<&'s Segment<'a>>>,
}

impl<'s, 'a> Body<'s, 'a> {
    fn split(source: &X12Source, segments: &'s [Segment<'a>]) -> Self {
        let mut body = Body {
            header: Vec::new(),
            loops: Vec::new(),
        };
        let mut in_loop = false;
        for segment in segments {
            if segment.is(&source.line_loop) {
                body.loops.push(vec![segment]);
                in_loop = true;
            } else if in_loop && source.loop_end.iter().any(|end| segment.is(end)) {
                in_loop = false;
                body.header.push(segment);
            } else if in_loop {
                body.loops.last_mut().expect("a loop is open").push(segment);
            } else {
                body.header.push(segment);
            }
        }
        body
    }
}

/// One file's transaction sets becoming orders.
struct Reader<'m, 'f> {
    mapping: &'m Mapping,
    source: &'m X12Source,
    file: &'f str,
    sink: &'f mut dyn OrderSink,
    rejections: Rejections,
}

impl Reader<'_, '_> {
    /// A segment outside the envelope it belongs in: reported, and otherwise ignored.
    fn stray(&mut self, s: &Segment, why: &str) -> Result<(), MappingError> {
        let r = self.rejections.check(Rejection {
            file: self.file.to_string(),
            line: s.line,
            segment: Some(s.ordinal),
            order: None,
            field: None,
            reason: format!("{} segment {why}; ignored", s.id_text()),
        })?;
        self.sink.rejection(r)
    }

    /// A problem with the order being read (under `fail-file`, with the whole file).
    fn problem(
        &self,
        draft: &mut Draft,
        place: Place,
        field: Option<&str>,
        reason: impl std::fmt::Display,
    ) -> Result<(), MappingError> {
        let r = Rejection {
            file: self.file.to_string(),
            line: place.line,
            segment: place.segment,
            order: None,
            field: field.map(str::to_string),
            reason: reason.to_string(),
        };
        draft.problems.push(self.rejections.check(r)?);
        Ok(())
    }

    /// One transaction set: `segments` runs from its ST to its SE (`closed`) or to where the
    /// SE should have been. It becomes one order, or the problems that kept it back.
    fn transaction(&mut self, segments: &[Segment], closed: bool) -> Result<(), MappingError> {
        let st = &segments[0];
        let mut draft = Draft::new(place(st));
        self.check_envelope(&mut draft, segments, closed)?;
        let body_end = if closed {
            segments.len() - 1
        } else {
            segments.len()
        };
        let body = Body::split(self.source, &segments[..body_end]);
        self.read_header(&mut draft, &body.header, st)?;
        for segs in &body.loops {
            self.read_line(&mut draft, segs)?;
        }
        match draft.finish(self.mapping, self.file) {
            Ok(order) => self.sink.order(order)?,
            Err(problems) => {
                for p in problems {
                    let r = self.rejections.check(p)?;
                    self.sink.rejection(r)?;
                }
            }
        }
        Ok(())
    }

    /// Envelope checks: the right transaction set, an SE that counts and matches.
    fn check_envelope(
        &self,
        draft: &mut Draft,
        segments: &[Segment],
        closed: bool,
    ) -> Result<(), MappingError> {
        let st = &segments[0];
        let st01 = st.element(1).unwrap_or_default();
        if st01 != self.source.transaction_set.as_bytes() {
            let reason = format!(
                "transaction set \"{}\" where the mapping reads {}",
                String::from_utf8_lossy(st01),
                self.source.transaction_set
            );
            self.problem(draft, place(st), Some("ST01"), reason)?;
        }
        let last = &segments[segments.len() - 1];
        if !closed {
            let reason = "the transaction set has no SE trailer".to_string();
            return self.problem(draft, place(last), Some("SE"), reason);
        }
        let count = last.element(1).map(<[u8]>::trim_ascii).unwrap_or_default();
        let counted = std::str::from_utf8(count)
            .ok()
            .and_then(|c| c.parse::<usize>().ok());
        if counted != Some(segments.len()) {
            let reason = format!(
                "SE01 says {} segments, the transaction set has {} (ST to SE); segments were lost or added",
                String::from_utf8_lossy(count),
                segments.len()
            );
            self.problem(draft, place(last), Some("SE01"), reason)?;
        }
        if last.element(2).map(<[u8]>::trim_ascii) != st.element(2).map(<[u8]>::trim_ascii) {
            let reason = format!(
                "control number \"{}\" does not match ST02 \"{}\"",
                String::from_utf8_lossy(last.element(2).unwrap_or_default()),
                String::from_utf8_lossy(st.element(2).unwrap_or_default())
            );
            self.problem(draft, place(last), Some("SE02"), reason)?;
        }
        Ok(())
    }

    /// The header and ship_to fields, read from the header area; a problem without a segment
    /// of its own is placed at the ST.
    fn read_header(
        &self,
        draft: &mut Draft,
        header: &[&Segment],
        st: &Segment,
    ) -> Result<(), MappingError> {
        let number_field = self.mapping.number_field();
        for spec in self
            .mapping
            .fields
            .iter()
            .filter(|f| f.api.level != Level::Line)
        {
            let (found, raw) = lookup(spec, header);
            match convert(spec, raw) {
                Ok(Some(value)) => draft.set_header(spec, value, number_field),
                Ok(None) => {}
                Err(reason) => {
                    let at = found.map_or(place(st), place);
                    self.problem(draft, at, Some(field_label(spec).as_str()), reason)?;
                }
            }
        }
        Ok(())
    }

    /// One line loop: a line of the order, placed at its `line_segment`, which it must hold.
    fn read_line(&self, draft: &mut Draft, segs: &[&Segment]) -> Result<(), MappingError> {
        let Some(anchor) = segs.iter().find(|s| s.is(&self.source.line_segment)) else {
            let reason = format!(
                "the {} loop has no {} segment",
                self.source.line_loop, self.source.line_segment
            );
            return self.problem(draft, place(segs[0]), None, reason);
        };
        let mut line = draft.new_line(self.mapping, place(anchor));
        for spec in self
            .mapping
            .fields
            .iter()
            .filter(|f| f.api.level == Level::Line)
        {
            let (found, raw) = lookup(spec, segs);
            match convert(spec, raw) {
                Ok(Some(value)) => {
                    line.values.insert(spec.api.key.to_string(), value);
                }
                Ok(None) => {}
                Err(reason) => {
                    let at = found.map_or(place(anchor), place);
                    self.problem(draft, at, Some(field_label(spec).as_str()), reason)?;
                }
            }
        }
        draft.lines.push(line);
        Ok(())
    }
}

fn lookup<'s, 'a>(
    spec: &FieldSpec,
    segments: &'s [&'s Segment<'a>],
) -> (Option<&'s Segment<'a>>, Option<&'a [u8]>) {
    match &spec.source {
        FieldSource::X12(r) => resolve(r, segments),
        _ => (None, None),
    }
}

/// `lines[].quantity (PO102)`: the API field and where the mapping reads it.
fn field_label(spec: &FieldSpec) -> String {
    match &spec.source {
        FieldSource::X12(r) => format!("{} ({r})", spec.name()),
        _ => spec.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &str = "ISA*00*          *00*          *ZZ*ACMECORP       *ZZ*AHEADSYS       *261102*1200*U*00401*000000101*0*P*>~";

    #[test]
    fn separators_come_from_the_isa_header() {
        let text = format!("{ISA}\nGS*PO*A*B~ST*850*0001~SE*2*0001~\r\nGE*1*1~IEA*1*1~");
        let segments = tokenize(text.as_bytes()).unwrap();
        let ids: Vec<_> = segments.iter().map(|s| s.id_text()).collect();
        assert_eq!(ids, ["ISA", "GS", "ST", "SE", "GE", "IEA"]);
        assert_eq!(segments[0].separators.component, b'>');
        assert_eq!(segments[1].line, 2);
        assert_eq!(segments[4].line, 3);
        assert_eq!(segments[4].ordinal, 5);
        assert_eq!(segments[2].element(2), Some(&b"0001"[..]));
    }

    #[test]
    fn newline_only_terminators_and_other_separators() {
        let isa = ISA.replace('*', "|").replace('>', "^").replace('~', "");
        let text = format!("{isa}\r\nGS|PO|A|B\r\nST|850|0001\r\n\r\nSE|2|0001\r\nIEA|1|1\r\n");
        let segments = tokenize(text.as_bytes()).unwrap();
        let ids: Vec<_> = segments.iter().map(|s| s.id_text()).collect();
        assert_eq!(ids, ["ISA", "GS", "ST", "SE", "IEA"]);
        assert_eq!(segments[0].separators.segment, b'\n');
        assert_eq!(segments[3].line, 5);
        assert_eq!(segments[3].element(2), Some(&b"0001"[..]));
    }

    #[test]
    fn bad_envelopes_are_errors() {
        assert!(tokenize(b"GS*PO~").unwrap_err().message.contains("ISA"));
        assert!(tokenize(b"ISA*00*short~")
            .unwrap_err()
            .message
            .contains("incomplete"));
        assert!(tokenize(b"").is_err());
    }

    #[test]
    fn references_resolve_in_loops() {
        let text = format!("{ISA}N1*BT*Bill~N3*1 Bill St~N1*ST*Ship~N2*Co~N3*9 Ship St*Fl 2~DTM*002*20260101~DTM*010*20261120~SLN*1*A>B~");
        let segments = tokenize(text.as_bytes()).unwrap();
        let views: Vec<Segment> = segments.iter().map(OwnedSegment::view).collect();
        let refs: Vec<&Segment> = views.iter().collect();
        let get = |r: &str| {
            let r = crate::mapping::spec::parse_ref(r).unwrap();
            resolve(&r, &refs)
                .1
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(get("N1*ST/N302").as_deref(), Some("Fl 2"));
        assert_eq!(get("N1*BT/N301").as_deref(), Some("1 Bill St"));
        assert_eq!(get("N1*BT/N201"), None);
        assert_eq!(get("DTM*010").as_deref(), Some("20261120"));
        assert_eq!(get("DTM02").as_deref(), Some("20260101"));
        assert_eq!(get("SLN02-2").as_deref(), Some("B"));
        assert_eq!(get("SLN02-3"), None);
        assert_eq!(get("BEG03"), None);
    }
}
