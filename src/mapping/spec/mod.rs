//! The mapping file format (TOML) and its compile step.
//!
//! A mapping is read in two stages, like the settings: the raw TOML (serde structs that reject
//! unknown keys), then [`Mapping`], where every field names a writable AHEAD field, every type,
//! date format, default and X12 reference has been checked. Nothing is left to be discovered
//! while rows are read, except the CSV columns, which are checked against the file's header row
//! before the first data row (see `csv_source`). `mappings/README.md` is the user's reference;
//! keep the two in step.
//!
//! This file holds what a compiled mapping is (the types the readers and `convert` use) and
//! its two entry points, [`Mapping::load`] and [`Mapping::parse`]. The rest is split by what
//! it knows about:
//! - `fields`: the AHEAD contract's writable fields per kind, and their JSON types and rules.
//! - `raw`: the TOML as written (serde), before anything is checked.
//! - `compile`: the mapping as a whole: `kind`, `on_error`, the `[fields]` table.
//! - `source`: the `[source]` table (CSV dialect or X12 envelope).
//! - `field`: one entry of `[fields]`: its source, type, format, default and value rules.
//! - `x12_ref`: X12 references (`BEG03`, `N1*ST/N403`) and the N1 loop's address positions.
//!
//! Only [`Mapping::load`] reads a file; every other step is a function of the mapping's text.

mod compile;
mod field;
mod fields;
mod raw;
mod source;
mod x12_ref;

use crate::kinds::OrderKind;
use std::collections::HashMap;
use std::path::Path;

use super::MappingError;
use fields::{AP_LEDGER_FIELDS, FULFILLMENT_ORDER_FIELDS, PURCHASE_ORDER_FIELDS};
use raw::RawMapping;

pub(crate) use fields::{ApiField, ApiType, Level, Rule};
// The X12 reader's tests build references the way mapping files write them.
#[cfg(test)]
pub(crate) use x12_ref::parse_ref;
pub(crate) use x12_ref::X12Ref;

/// What the mapping produces: AHEAD orders to push, or records to read (the AP ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Orders of this kind, grouped from line rows and pushed.
    Order(OrderKind),
    /// Lines of the ERP's accounts-payable ledger, read by `export reconciliation`: one record
    /// per row, no grouping, nothing sent to AHEAD. The key is `invoice_number`.
    ApLedger,
}

impl Target {
    /// The field that holds the record's number: the customer's order number, or the invoice.
    pub(crate) fn number_field(self) -> &'static str {
        match self {
            Target::Order(kind) => kind.number_field(),
            Target::ApLedger => "invoice_number",
        }
    }

    /// The name used in mapping files (`kind = "purchase_order"`, `"ap_ledger"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Order(kind) => kind.as_str(),
            Target::ApLedger => "ap_ledger",
        }
    }

    /// The kind of order, for a mapping that produces orders.
    pub fn order(self) -> Option<OrderKind> {
        match self {
            Target::Order(kind) => Some(kind),
            Target::ApLedger => None,
        }
    }

    /// Orders are grouped from line rows and pushed; a record kind is one record per row.
    pub(crate) fn is_order(self) -> bool {
        self.order().is_some()
    }

    fn fields(self) -> &'static [ApiField] {
        match self {
            Target::Order(OrderKind::PurchaseOrder) => PURCHASE_ORDER_FIELDS,
            Target::Order(OrderKind::FulfillmentOrder) => FULFILLMENT_ORDER_FIELDS,
            Target::ApLedger => AP_LEDGER_FIELDS,
        }
    }
}

/// What to do with a row (CSV) or transaction set (X12) that fails mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Reject the order the bad row belongs to (never send an order with lines missing) and
    /// carry on with the other orders of the file.
    SkipRow,
    /// Stop at the first problem: nothing from the file is sent.
    FailFile,
}

/// Where orders come from.
#[derive(Debug, Clone)]
pub enum SourceFormat {
    Csv(CsvSource),
    X12(X12Source),
}

/// `[source] format = "csv"`.
#[derive(Debug, Clone)]
pub struct CsvSource {
    pub delimiter: u8,
    pub quote: u8,
    /// The first row names the columns. Without it, columns are named by 1-based position.
    pub header: bool,
    /// Rows with the same value in this column are the lines of one order. Always set for
    /// order kinds; never for record kinds (`ap_ledger`), where each row is one record.
    pub group_by: Option<Column>,
    /// Rows whose fields are all empty are ignored (default true).
    pub skip_blank_lines: bool,
}

/// `[source] format = "x12"`.
#[derive(Debug, Clone)]
pub struct X12Source {
    /// ST01 of the transaction sets this mapping reads (`850`, `940`).
    pub transaction_set: String,
    /// The segment that starts each line loop (`PO1`, `LX`).
    pub line_loop: String,
    /// The segment every line loop must hold (`PO1`, `W01`); default: `line_loop`.
    pub line_segment: String,
    /// Segments that end the detail area (default `CTT`, `W76`, `SE`).
    pub loop_end: Vec<String>,
}

/// A CSV column, by header name or by 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Name(String),
    Position(usize),
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Name(name) => write!(f, "\"{name}\""),
            Column::Position(n) => write!(f, "#{n}"),
        }
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone)]
pub enum FieldSource {
    Column(Column),
    X12(X12Ref),
    /// No source: the field is always its `default`.
    Constant,
}

/// The type a source value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Integer,
    Decimal,
    Date,
    Bool,
}

impl FieldType {
    fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "integer" => FieldType::Integer,
            "decimal" => FieldType::Decimal,
            "date" => FieldType::Date,
            "bool" => FieldType::Bool,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::Bool => "bool",
        }
    }
}

/// Letter case applied to a value after trimming and value maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Upper,
    Lower,
}

/// A compiled field: where its value comes from and how it is turned into JSON.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub(crate) api: &'static ApiField,
    pub source: FieldSource,
    pub ty: FieldType,
    /// chrono format for `type = "date"`.
    pub date_format: String,
    /// `date_format`, parsed once.
    pub(crate) date_items: Vec<chrono::format::Item<'static>>,
    pub required: bool,
    /// Used when the source value is missing or empty; parsed by type, not passed through `map`.
    pub default: Option<String>,
    pub map: HashMap<String, String>,
    /// A value missing from a non-empty `map` is a rejection instead of passing through.
    pub reject_unmapped: bool,
    pub trim: bool,
    pub case: Option<Case>,
    pub thousands_separator: Option<char>,
    pub decimal_separator: char,
}

impl FieldSpec {
    /// The field's name as written in mapping files (`ship_to.city`, `lines[].quantity`).
    pub fn name(&self) -> &'static str {
        self.api.name
    }
}

/// A compiled mapping: ready to apply to any number of files.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The mapping's name for errors: its file path, or the name given to [`Mapping::parse`].
    pub name: String,
    pub kind: Target,
    pub source: SourceFormat,
    pub on_error: OnError,
    /// Cancel (DELETE) orders that a later file no longer holds; carried for the push job.
    pub cancel_removed: bool,
    /// The mapped fields, in the contract's order: header, ship_to, lines.
    pub fields: Vec<FieldSpec>,
    /// `lines[].line_number` is mapped; otherwise lines are numbered 1, 2, 3 ... as read.
    pub(crate) maps_line_numbers: bool,
}

impl Mapping {
    /// Read and compile a mapping file. The only function in this module that does I/O.
    pub fn load(path: impl AsRef<Path>) -> Result<Mapping, MappingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Mapping::parse(&text, &path.display().to_string())
    }

    /// Compile a mapping from its TOML text; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Mapping, MappingError> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| MappingError::Syntax {
            mapping: name.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        compile::compile(raw, name)
    }

    /// The compiled field for an API field name (`po_number`, `lines[].quantity`), if mapped.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.api.name == name)
    }

    /// The kind of order the mapping produces, or why it produces none (an AP ledger mapping
    /// describes records, which are never pushed).
    pub(crate) fn order_kind(&self) -> Result<OrderKind, MappingError> {
        self.kind.order().ok_or_else(|| MappingError::Invalid {
            mapping: self.name.clone(),
            key: "kind".to_string(),
            message: format!(
                "kind = \"{}\" describes records, not orders: it cannot be pushed",
                self.kind.as_str()
            ),
        })
    }

    /// The API field that holds the order number (`po_number` or `order_number`).
    pub(crate) fn number_field(&self) -> &'static str {
        self.kind.number_field()
    }
}

fn invalid(mapping: &str, key: impl Into<String>, message: impl Into<String>) -> MappingError {
    MappingError::Invalid {
        mapping: mapping.to_string(),
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
