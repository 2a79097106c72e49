//! The outbound mapping format (TOML) and its compile step: the inbound mapping language the
//! other way round. A record's fields (and its change log entry's) become CSV columns or X12
//! elements, each through the same steps an inbound field takes: value map, type, date format,
//! fixed decimals, default, required, case.
//!
//! Like the inbound mappings, a file is read in two stages (serde structs refusing unknown
//! keys, then the compiled [`OutMapping`]), and everything is checked before any change is
//! read: an unknown field, type or format is an error naming the mapping file and the key.
//! `mappings/README.md` is the user's reference; keep the two in step.

use std::collections::HashMap;
use std::path::Path;

use chrono::format::{Item, StrftimeItems};
use thiserror::Error;

use super::fields::FieldRef;
use crate::kinds::StreamKind;

/// An outbound mapping that cannot be used.
#[derive(Debug, Error)]
pub(crate) enum SpecError {
    #[error("cannot read mapping file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mapping {mapping} is not valid TOML: {message}")]
    Syntax { mapping: String, message: String },
    #[error("mapping {mapping}: {key}: {message}")]
    Invalid {
        mapping: String,
        key: String,
        message: String,
    },
}

mod raw;
mod segments;
mod target;
mod value;

use raw::RawMapping;

// ---- the compiled mapping ----

/// A compiled outbound mapping.
#[derive(Debug, Clone)]
pub(crate) struct OutMapping {
    /// Its file path, for errors.
    pub(crate) name: String,
    pub(crate) stream: StreamKind,
    pub(crate) target: Target,
    /// The file name extension (`csv`, `x12`).
    pub(crate) extension: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Csv(CsvTarget),
    X12(Box<X12Target>),
}

#[derive(Debug, Clone)]
pub(crate) struct CsvTarget {
    pub(crate) delimiter: u8,
    pub(crate) header: bool,
    /// One row per line item (a record without lines still gets one row).
    pub(crate) rows_per_line: bool,
    pub(crate) columns: Vec<(String, ValueSpec)>,
}

#[derive(Debug, Clone)]
pub(crate) struct X12Target {
    pub(crate) transaction_set: String,
    pub(crate) functional_id: String,
    /// GS08 (`004010`); ISA12 is its first five digits.
    pub(crate) version: String,
    pub(crate) sender_qualifier: String,
    pub(crate) sender_id: String,
    pub(crate) receiver_qualifier: String,
    pub(crate) receiver_id: String,
    pub(crate) application_sender: String,
    pub(crate) application_receiver: String,
    /// ISA15: `P` production, `T` test.
    pub(crate) usage: char,
    pub(crate) element: char,
    pub(crate) segment: char,
    pub(crate) component: char,
    /// ISA11: `U` before version 00402, else the repetition separator.
    pub(crate) isa11: char,
    pub(crate) newline: bool,
    /// One transaction set per record, or one per file holding every record.
    pub(crate) set_per_record: bool,
    pub(crate) body: Vec<Segment>,
}

impl X12Target {
    /// The trading partner the control numbers belong to.
    pub(crate) fn partner(&self) -> String {
        format!(
            "{}:{}/{}:{}",
            self.sender_qualifier, self.sender_id, self.receiver_qualifier, self.receiver_id
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Segment {
    /// A segment: its id and elements (trailing empty elements are dropped; a segment whose
    /// every field element is empty is left out).
    Plain { id: String, elements: Vec<Element> },
    /// `HL*id*parent*code*child`: `depth` is its place in the chain of HL levels.
    Hl { code: String, depth: usize },
    /// The segments inside, once per line of the record or per record of the set.
    Each { over: Over, body: Vec<Segment> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Lines,
    Records,
}

#[derive(Debug, Clone)]
pub(crate) enum Element {
    Literal(String),
    Value(Box<ValueSpec>),
}

/// Where a value comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The first of these fields that is not empty.
    Fields(Vec<FieldRef>),
    Literal(String),
    /// How many lines the record has, records the set has, or HL segments written so far.
    Count(Counted),
    /// The 1-based position of the current line or record.
    Index(Over),
    /// The exact sum of a line field over the record's lines (or a record field over the set).
    Sum(FieldRef),
    /// The file's batch: its newest change's time, or the first or last change seq it covers.
    Batch(BatchOf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOf {
    At,
    First,
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Lines,
    Records,
    Hl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutType {
    Text,
    Integer,
    Decimal,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Upper,
    Lower,
}

/// A compiled value: its source and how it is written.
#[derive(Debug, Clone)]
pub(crate) struct ValueSpec {
    /// The field it reads (or its key in the mapping), for rejections.
    pub(crate) label: String,
    pub(crate) source: Source,
    pub(crate) ty: OutType,
    pub(crate) date_items: Vec<Item<'static>>,
    pub(crate) decimals: Option<u32>,
    /// Write the digits without the decimal point (X12 `N2`): `1249.50` -> `124950`.
    pub(crate) implied: bool,
    pub(crate) default: Option<String>,
    pub(crate) map: HashMap<String, String>,
    pub(crate) reject_unmapped: bool,
    pub(crate) required: bool,
    pub(crate) case: Option<Case>,
    pub(crate) max_length: Option<usize>,
    pub(crate) join: String,
}

impl OutMapping {
    /// Read and compile a mapping file.
    pub(crate) fn load(path: &Path) -> Result<OutMapping, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        OutMapping::parse(&text, &path.display().to_string())
    }

    /// Compile a mapping from its text; `name` is used in errors.
    pub(crate) fn parse(text: &str, name: &str) -> Result<OutMapping, SpecError> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| SpecError::Syntax {
            mapping: name.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        target::compile(raw, name)
    }
}

fn invalid(mapping: &str, key: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        mapping: mapping.to_string(),
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        OutMapping::parse(text, "m.toml").unwrap_err().to_string()
    }

    const CSV: &str = "stream = \"shipments\"\n[target]\nformat = \"csv\"\nrows = \"lines\"\n";

    #[test]
    fn every_problem_names_the_mapping_and_the_key() {
        let table = [
            ("stream = \"nope\"\n[target]\nformat = \"csv\"\n", "stream"),
            ("stream = \"shipments\"\n[target]\nformat = \"xml\"\n", "target.format"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"tracking\"\n"), "columns[0].field"),
            (&format!("{CSV}[[columns]]\nfield = \"carrier\"\n"), "columns[0].name"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"shipped_at\"\ntype = \"date\"\nformat = \"%Q\"\n"), "columns[0].format"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"carrier\"\ntype = \"decimal\"\n"), "columns[0].type"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"lines[].quantity\"\ndecimals = 2\n"), "columns[0].decimals"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"carrier\"\ncolour = 1\n"), "colour"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"carrier\"\n[[columns]]\nname = \"A\"\nfield = \"service\"\n"), "columns[1].name"),
            ("stream = \"shipments\"\n[target]\nformat = \"csv\"\n[[columns]]\nname = \"A\"\nfield = \"lines[].quantity\"\n", "columns[0].field"),
            ("stream = \"inventory\"\n[target]\nformat = \"csv\"\nrows = \"lines\"\n", "target.rows"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\n[[segments]]\nid = \"ST\"\nelements = [\"856\"]\n", "segments[0].id"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"THIS-ID-IS-TOO-LONG\"\nreceiver_id = \"B\"\n[[segments]]\nid = \"BSN\"\nelements = [\"00\"]\n", "target.sender_id"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\n[[segments]]\nid = \"LIN\"\nelements = [{ field = \"lines[].item_number\" }]\n", "segments[0].elements[0].field"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\nelement_separator = \"~\"\n[[segments]]\nid = \"BSN\"\nelements = [\"00\"]\n", "target"),
            ("stream = \"inventory\"\n[target]\nformat = \"x12\"\ntransaction_set = \"846\"\nfunctional_id = \"IB\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\nset = \"file\"\n[[segments]]\nid = \"LIN\"\nelements = [{ field = \"item_number\" }]\n", "segments[0].elements[0].field"),
        ];
        for (text, key) in table {
            let e = err(text);
            assert!(e.contains("m.toml") && e.contains(key), "{text}\n-> {e}");
        }
    }

    #[test]
    fn a_good_mapping_compiles() {
        let m = OutMapping::parse(
            &format!("{CSV}[[columns]]\nname = \"Qty\"\nfield = \"lines[].quantity\"\n[[columns]]\nname = \"Shipped\"\nfield = \"shipped_at\"\ntype = \"date\"\nformat = \"%m/%d/%Y\"\n[[columns]]\nname = \"Order\"\nfield = [\"purchase_order_number\", \"order_number\"]\n"),
            "m.toml",
        )
        .unwrap();
        assert_eq!(m.stream, StreamKind::Shipments);
        assert_eq!(m.extension, "csv");
        let Target::Csv(csv) = &m.target else {
            panic!()
        };
        assert!(csv.rows_per_line);
        assert_eq!(csv.columns.len(), 3);
        assert_eq!(csv.columns[1].1.ty, OutType::Date);
    }
}
