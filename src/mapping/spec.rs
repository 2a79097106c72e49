//! The mapping file format (TOML) and its compile step.
//!
//! A mapping is read in two stages, like the settings: the raw TOML (serde structs that reject
//! unknown keys), then [`Mapping`], where every field names a writable AHEAD field, every type,
//! date format, default and X12 reference has been checked. Nothing is left to be discovered
//! while rows are read, except the CSV columns, which are checked against the file's header row
//! before the first data row (see `csv_source`). `mappings/README.md` is the user's reference;
//! keep the two in step.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use super::MappingError;

/// What the mapping produces: AHEAD orders to push, or records to read (the AP ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// `POST /v2/purchase_orders`; the order number is `po_number`.
    PurchaseOrder,
    /// `POST /v2/fulfillment_orders`; the order number is `order_number`.
    FulfillmentOrder,
    /// Lines of the ERP's accounts-payable ledger, read by `export reconciliation`: one record
    /// per row, no grouping, nothing sent to AHEAD. The key is `invoice_number`.
    ApLedger,
}

impl OrderKind {
    /// The API field that holds the customer's order number.
    pub fn number_field(self) -> &'static str {
        match self {
            OrderKind::PurchaseOrder => "po_number",
            OrderKind::FulfillmentOrder => "order_number",
            OrderKind::ApLedger => "invoice_number",
        }
    }

    /// The name used in mapping files and exports (`purchase_order`, `fulfillment_order`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::PurchaseOrder => "purchase_order",
            OrderKind::FulfillmentOrder => "fulfillment_order",
            OrderKind::ApLedger => "ap_ledger",
        }
    }

    /// Orders are grouped from line rows and pushed; a record kind is one record per row.
    pub fn is_order(self) -> bool {
        !matches!(self, OrderKind::ApLedger)
    }

    fn fields(self) -> &'static [ApiField] {
        match self {
            OrderKind::PurchaseOrder => PURCHASE_ORDER_FIELDS,
            OrderKind::FulfillmentOrder => FULFILLMENT_ORDER_FIELDS,
            OrderKind::ApLedger => AP_LEDGER_FIELDS,
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

/// A place in an X12 transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X12Ref {
    /// When set, the first segment with this id whose element 1 equals `qualifier` anchors the
    /// lookup (`DTM*010`, `N1*ST`); `segment` is then searched from the anchor to the next
    /// segment with the anchor's id (the N1 loop: N1, N2, N3, N4).
    pub anchor: Option<(String, String)>,
    /// The segment id holding the value (`BEG`, `PO1`, `N4`).
    pub segment: String,
    /// 1-based element position.
    pub element: usize,
    /// 1-based component position inside a composite element.
    pub component: Option<usize>,
}

impl std::fmt::Display for X12Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((seg, qual)) = &self.anchor {
            write!(f, "{seg}*{qual}/")?;
        }
        write!(f, "{}{:02}", self.segment, self.element)?;
        if let Some(c) = self.component {
            write!(f, "-{c}")?;
        }
        Ok(())
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

/// The JSON shape the AHEAD API wants for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiType {
    /// A JSON string.
    Text,
    /// A JSON integer.
    Integer,
    /// A JSON string holding a decimal with up to 4 places (`"2150.00"`).
    Money,
    /// A JSON string `YYYY-MM-DD`.
    Date,
}

/// Which part of the order body a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Header,
    ShipTo,
    Line,
}

/// One writable field of the AHEAD contract.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiField {
    /// The name used in mapping files and errors: `po_number`, `ship_to.city`,
    /// `lines[].quantity`.
    pub name: &'static str,
    /// The JSON key inside its object: `po_number`, `city`, `quantity`.
    pub key: &'static str,
    pub level: Level,
    pub ty: ApiType,
    /// What a value must satisfy beyond its type.
    pub rule: Rule,
}

/// Field rules from the contract, checked after a value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    None,
    /// Quantities and line numbers: above zero.
    Positive,
    /// Prices: zero or more.
    NotNegative,
    /// ISO 3166 alpha-2.
    Country,
    /// ISO 4217.
    Currency,
}

const fn f(name: &'static str, key: &'static str, level: Level, ty: ApiType) -> ApiField {
    ApiField {
        name,
        key,
        level,
        ty,
        rule: Rule::None,
    }
}

impl ApiField {
    const fn rule(mut self, rule: Rule) -> ApiField {
        self.rule = rule;
        self
    }
}

macro_rules! ship_to_fields {
    () => {
        [
            f("ship_to.name", "name", Level::ShipTo, ApiType::Text),
            f("ship_to.company", "company", Level::ShipTo, ApiType::Text),
            f("ship_to.address1", "address1", Level::ShipTo, ApiType::Text),
            f("ship_to.address2", "address2", Level::ShipTo, ApiType::Text),
            f("ship_to.city", "city", Level::ShipTo, ApiType::Text),
            f("ship_to.state", "state", Level::ShipTo, ApiType::Text),
            f(
                "ship_to.postal_code",
                "postal_code",
                Level::ShipTo,
                ApiType::Text,
            ),
            f("ship_to.country", "country", Level::ShipTo, ApiType::Text).rule(Rule::Country),
        ]
    };
}

/// The fields a client may write on a purchase order (ahead-api.md, "Resources" and "Rules"):
/// never `id`, `status`, `anticipated_ship_date` or timestamps.
static PURCHASE_ORDER_FIELDS: &[ApiField] = &{
    let s = ship_to_fields!();
    [
        f("po_number", "po_number", Level::Header, ApiType::Text),
        f("order_date", "order_date", Level::Header, ApiType::Date),
        f(
            "requested_ship_date",
            "requested_ship_date",
            Level::Header,
            ApiType::Date,
        ),
        f("currency", "currency", Level::Header, ApiType::Text).rule(Rule::Currency),
        f("notes", "notes", Level::Header, ApiType::Text),
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        f(
            "lines[].line_number",
            "line_number",
            Level::Line,
            ApiType::Integer,
        )
        .rule(Rule::Positive),
        f(
            "lines[].item_number",
            "item_number",
            Level::Line,
            ApiType::Text,
        ),
        f(
            "lines[].quantity",
            "quantity",
            Level::Line,
            ApiType::Integer,
        )
        .rule(Rule::Positive),
        f(
            "lines[].unit_price",
            "unit_price",
            Level::Line,
            ApiType::Money,
        )
        .rule(Rule::NotNegative),
        f(
            "lines[].requested_ship_date",
            "requested_ship_date",
            Level::Line,
            ApiType::Date,
        ),
    ]
};

/// The fields a client may write on a fulfillment order.
static FULFILLMENT_ORDER_FIELDS: &[ApiField] = &{
    let s = ship_to_fields!();
    [
        f("order_number", "order_number", Level::Header, ApiType::Text),
        f("ship_method", "ship_method", Level::Header, ApiType::Text),
        f(
            "requested_ship_date",
            "requested_ship_date",
            Level::Header,
            ApiType::Date,
        ),
        f("notes", "notes", Level::Header, ApiType::Text),
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        f(
            "lines[].line_number",
            "line_number",
            Level::Line,
            ApiType::Integer,
        )
        .rule(Rule::Positive),
        f(
            "lines[].item_number",
            "item_number",
            Level::Line,
            ApiType::Text,
        ),
        f(
            "lines[].quantity",
            "quantity",
            Level::Line,
            ApiType::Integer,
        )
        .rule(Rule::Positive),
    ]
};

/// The fields of an AP ledger line (`kind = "ap_ledger"`). Not an AHEAD resource: these are
/// what the reconciliation compares with AHEAD's invoices. Money may be negative (credit notes).
static AP_LEDGER_FIELDS: &[ApiField] = &[
    f(
        "invoice_number",
        "invoice_number",
        Level::Header,
        ApiType::Text,
    ),
    f("vendor", "vendor", Level::Header, ApiType::Text),
    f(
        "purchase_order_number",
        "purchase_order_number",
        Level::Header,
        ApiType::Text,
    ),
    f("invoice_date", "invoice_date", Level::Header, ApiType::Date),
    f("due_date", "due_date", Level::Header, ApiType::Date),
    f("amount", "amount", Level::Header, ApiType::Money),
    f("amount_paid", "amount_paid", Level::Header, ApiType::Money),
    f(
        "open_balance",
        "open_balance",
        Level::Header,
        ApiType::Money,
    ),
    f("currency", "currency", Level::Header, ApiType::Text).rule(Rule::Currency),
];

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
    pub kind: OrderKind,
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
        compile(raw, name)
    }

    /// The compiled field for an API field name (`po_number`, `lines[].quantity`), if mapped.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.api.name == name)
    }

    /// The API field that holds the order number (`po_number` or `order_number`).
    pub fn number_field(&self) -> &'static str {
        self.kind.number_field()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    kind: String,
    source: RawSource,
    on_error: Option<String>,
    #[serde(default)]
    cancel_removed: bool,
    fields: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    format: String,
    // csv
    delimiter: Option<String>,
    quote: Option<String>,
    header: Option<bool>,
    group_by: Option<toml::Value>,
    encoding: Option<String>,
    skip_blank_lines: Option<bool>,
    // x12
    transaction_set: Option<String>,
    line_loop: Option<String>,
    line_segment: Option<String>,
    loop_end: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    column: Option<toml::Value>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    segment: Option<String>,
    element: Option<i64>,
    component: Option<i64>,
    qualifier: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    format: Option<String>,
    required: Option<bool>,
    default: Option<toml::Value>,
    map: Option<BTreeMap<String, String>>,
    unmapped: Option<String>,
    trim: Option<bool>,
    case: Option<String>,
    thousands_separator: Option<String>,
    decimal_separator: Option<String>,
}

fn invalid(mapping: &str, key: impl Into<String>, message: impl Into<String>) -> MappingError {
    MappingError::Invalid {
        mapping: mapping.to_string(),
        key: key.into(),
        message: message.into(),
    }
}

fn compile(raw: RawMapping, name: &str) -> Result<Mapping, MappingError> {
    let kind = match raw.kind.as_str() {
        "purchase_order" => OrderKind::PurchaseOrder,
        "fulfillment_order" => OrderKind::FulfillmentOrder,
        "ap_ledger" => OrderKind::ApLedger,
        other => {
            return Err(invalid(
                name,
                "kind",
                format!(
                    "unknown kind \"{other}\": use \"purchase_order\", \"fulfillment_order\" or \"ap_ledger\""
                ),
            ))
        }
    };
    let on_error = match raw.on_error.as_deref() {
        None | Some("skip-row") => OnError::SkipRow,
        Some("fail-file") => OnError::FailFile,
        Some(other) => {
            return Err(invalid(
                name,
                "on_error",
                format!("unknown value \"{other}\": use \"skip-row\" or \"fail-file\""),
            ))
        }
    };
    let source = compile_source(&raw.source, name, kind)?;
    let is_csv = matches!(source, SourceFormat::Csv(_));

    // Flatten `[fields]`: `ship_to` and `lines` may be sub-tables, or their fields may be written
    // as quoted keys ("ship_to.city", "lines[].quantity").
    let mut entries: Vec<(String, &toml::Value)> = Vec::new();
    for (key, value) in &raw.fields {
        match key.as_str() {
            "ship_to" | "lines" | "lines[]" => {
                let prefix = if key == "ship_to" {
                    "ship_to."
                } else {
                    "lines[]."
                };
                let table = value.as_table().ok_or_else(|| {
                    invalid(name, format!("fields.{key}"), "must be a table of fields")
                })?;
                for (sub, v) in table {
                    entries.push((format!("{prefix}{sub}"), v));
                }
            }
            _ => {
                let normal = key.strip_prefix("lines.").map(|k| format!("lines[].{k}"));
                entries.push((normal.unwrap_or_else(|| key.clone()), value));
            }
        }
    }

    let mut fields: Vec<FieldSpec> = Vec::new();
    for (field_name, value) in entries {
        let key = format!("fields.{field_name}");
        let api = kind
            .fields()
            .iter()
            .find(|f| f.name == field_name)
            .ok_or_else(|| {
                let known: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
                let message = if kind.is_order() {
                    format!(
                        "\"{field_name}\" is not a field a client may write on a {}; writable fields: {}",
                        kind.as_str().replace('_', " "),
                        known.join(", ")
                    )
                } else {
                    format!(
                        "\"{field_name}\" is not an AP ledger field; fields: {}",
                        known.join(", ")
                    )
                };
                invalid(name, &key, message)
            })?;
        if fields.iter().any(|f| std::ptr::eq(f.api, api)) {
            return Err(invalid(name, &key, "mapped twice"));
        }
        if !value.is_table() {
            return Err(invalid(
                name,
                &key,
                if is_csv {
                    "must be a table, e.g. { column = \"PO Number\" }"
                } else {
                    "must be a table, e.g. { ref = \"BEG03\" }"
                },
            ));
        }
        let raw_field: RawField = value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| invalid(name, &key, e.message().to_string()))?;
        fields.push(compile_field(api, raw_field, is_csv, name, &key)?);
    }

    // The contract requires the order number and a non-empty `lines`; a line without an item
    // or a quantity could never be accepted, so those are required too.
    let number = kind.number_field();
    let always_required: &[&str] = if kind.is_order() {
        &[number, "lines[].item_number", "lines[].quantity"]
    } else {
        // A ledger line is useless without the invoice it is for and what is still owed.
        &[number, "open_balance"]
    };
    for &required in always_required {
        match fields.iter_mut().find(|f| f.api.name == required) {
            None => {
                return Err(invalid(
                    name,
                    format!("fields.{required}"),
                    if kind.is_order() {
                        format!(
                            "missing: every {} needs `{required}` mapped",
                            kind.as_str().replace('_', " ")
                        )
                    } else {
                        format!("missing: every AP ledger line needs `{required}` mapped")
                    },
                ))
            }
            Some(spec) => spec.required = true,
        }
    }
    if let Some(spec) = fields.iter().find(|f| f.api.name == number) {
        if matches!(spec.source, FieldSource::Constant) {
            return Err(invalid(
                name,
                format!("fields.{number}"),
                "needs a source: a constant would give every record the same number",
            ));
        }
    }
    // Keep the contract's order so bodies and errors read the same way every time.
    let order = kind.fields();
    fields.sort_by_key(|f| order.iter().position(|a| std::ptr::eq(a, f.api)));

    let maps_line_numbers = fields.iter().any(|f| f.api.name == "lines[].line_number");
    Ok(Mapping {
        name: name.to_string(),
        kind,
        source,
        on_error,
        cancel_removed: raw.cancel_removed,
        fields,
        maps_line_numbers,
    })
}

fn one_byte(value: &str, mapping: &str, key: &str) -> Result<u8, MappingError> {
    let value = if value == "\\t" { "\t" } else { value };
    match value.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(invalid(
            mapping,
            key,
            format!("must be one ASCII character (got \"{value}\")"),
        )),
    }
}

fn compile_source(
    raw: &RawSource,
    name: &str,
    kind: OrderKind,
) -> Result<SourceFormat, MappingError> {
    let csv_only = [
        ("delimiter", raw.delimiter.is_some()),
        ("quote", raw.quote.is_some()),
        ("header", raw.header.is_some()),
        ("group_by", raw.group_by.is_some()),
        ("encoding", raw.encoding.is_some()),
        ("skip_blank_lines", raw.skip_blank_lines.is_some()),
    ];
    let x12_only = [
        ("transaction_set", raw.transaction_set.is_some()),
        ("line_loop", raw.line_loop.is_some()),
        ("line_segment", raw.line_segment.is_some()),
        ("loop_end", raw.loop_end.is_some()),
    ];
    let reject_keys = |keys: &[(&str, bool)], format: &str| {
        for (key, set) in keys {
            if *set {
                return Err(invalid(
                    name,
                    format!("source.{key}"),
                    format!("does not apply to format = \"{format}\""),
                ));
            }
        }
        Ok(())
    };
    match raw.format.as_str() {
        "csv" => {
            reject_keys(&x12_only, "csv")?;
            let delimiter = one_byte(
                raw.delimiter.as_deref().unwrap_or(","),
                name,
                "source.delimiter",
            )?;
            let quote = one_byte(raw.quote.as_deref().unwrap_or("\""), name, "source.quote")?;
            if quote == delimiter {
                return Err(invalid(
                    name,
                    "source.quote",
                    "must differ from the delimiter",
                ));
            }
            match raw.encoding.as_deref().map(|e| e.to_ascii_lowercase()) {
                None => {}
                Some(e) if matches!(e.as_str(), "utf-8" | "utf8" | "utf-8-bom" | "utf-8-sig") => {}
                Some(e) => {
                    return Err(invalid(
                        name,
                        "source.encoding",
                        format!("unsupported encoding \"{e}\": only \"utf-8\" (with or without BOM) is read; re-export the file as UTF-8"),
                    ))
                }
            }
            let header = raw.header.unwrap_or(true);
            let group_by = match (&raw.group_by, kind.is_order()) {
                (None, true) => {
                    return Err(invalid(
                        name,
                        "source.group_by",
                        "missing: name the column whose value groups line rows into one order",
                    ))
                }
                (Some(v), true) => Some(column(v, header, name, "source.group_by")?),
                (None, false) => None,
                (Some(_), false) => {
                    return Err(invalid(
                        name,
                        "source.group_by",
                        format!(
                            "does not apply to kind = \"{}\": each row is one record",
                            kind.as_str()
                        ),
                    ))
                }
            };
            Ok(SourceFormat::Csv(CsvSource {
                delimiter,
                quote,
                header,
                group_by,
                skip_blank_lines: raw.skip_blank_lines.unwrap_or(true),
            }))
        }
        "x12" if !kind.is_order() => Err(invalid(
            name,
            "source.format",
            format!(
                "kind = \"{}\" is read from CSV only: use format = \"csv\"",
                kind.as_str()
            ),
        )),
        "x12" => {
            reject_keys(&csv_only, "x12")?;
            let transaction_set = raw.transaction_set.clone().ok_or_else(|| {
                invalid(
                    name,
                    "source.transaction_set",
                    "missing: e.g. \"850\" or \"940\"",
                )
            })?;
            if transaction_set.len() != 3 || !transaction_set.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    name,
                    "source.transaction_set",
                    format!("\"{transaction_set}\" is not an X12 transaction set id (three digits, e.g. \"850\")"),
                ));
            }
            let line_loop = raw.line_loop.clone().ok_or_else(|| {
                invalid(
                    name,
                    "source.line_loop",
                    "missing: the segment that starts each line, e.g. \"PO1\" or \"LX\"",
                )
            })?;
            segment_id(&line_loop, name, "source.line_loop")?;
            let line_segment = raw
                .line_segment
                .clone()
                .unwrap_or_else(|| line_loop.clone());
            segment_id(&line_segment, name, "source.line_segment")?;
            let loop_end = raw
                .loop_end
                .clone()
                .unwrap_or_else(|| vec!["CTT".into(), "W76".into(), "SE".into()]);
            for seg in &loop_end {
                segment_id(seg, name, "source.loop_end")?;
            }
            Ok(SourceFormat::X12(X12Source {
                transaction_set,
                line_loop,
                line_segment,
                loop_end,
            }))
        }
        other => Err(invalid(
            name,
            "source.format",
            format!("unknown format \"{other}\": use \"csv\" or \"x12\""),
        )),
    }
}

fn segment_id(id: &str, mapping: &str, key: &str) -> Result<(), MappingError> {
    let b = id.as_bytes();
    if (2..=3).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(invalid(
            mapping,
            key,
            format!("\"{id}\" is not an X12 segment id (2 or 3 upper-case letters or digits, e.g. \"PO1\")"),
        ))
    }
}

fn column(v: &toml::Value, header: bool, mapping: &str, key: &str) -> Result<Column, MappingError> {
    match v {
        toml::Value::String(s) if header => {
            if s.trim().is_empty() {
                Err(invalid(mapping, key, "column name is empty"))
            } else {
                Ok(Column::Name(s.trim().to_string()))
            }
        }
        toml::Value::String(_) => Err(invalid(
            mapping,
            key,
            "with `header = false` columns are named by 1-based position (column = 3)",
        )),
        toml::Value::Integer(n) if *n >= 1 => Ok(Column::Position(*n as usize)),
        _ => Err(invalid(
            mapping,
            key,
            "must be a column name (string) or a 1-based position (integer)",
        )),
    }
}

/// Parse an X12 reference: `BEG03`, `PO107`, `W0105`, `SLN01-2` (component 2), `DTM*010`
/// (element 2 of the DTM whose element 1 is 010), `N1*ST` (the N1 loop for ST), and
/// `N1*ST/N301` (N301 within that loop).
pub(crate) fn parse_ref(text: &str) -> Result<X12Ref, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "\"{text}\" is not an X12 reference: write e.g. \"BEG03\", \"PO107\", \"DTM*010\", \"N1*ST\" or \"N1*ST/N301\""
        )
    };
    let (anchor_part, element_part) = match text.split_once('/') {
        Some((a, e)) => (Some(a), Some(e)),
        None if text.contains('*') => (Some(text), None),
        None => (None, Some(text)),
    };
    let anchor = match anchor_part {
        None => None,
        Some(a) => {
            let (seg, qual) = a.split_once('*').ok_or_else(bad)?;
            if segment_id(seg, "", "").is_err() || qual.is_empty() || qual.contains('*') {
                return Err(bad());
            }
            Some((seg.to_string(), qual.to_string()))
        }
    };
    let (segment, element, component) = match element_part {
        // `DTM*010` alone: the anchor's element 2.
        None => (anchor.as_ref().unwrap().0.clone(), 2, None),
        Some(e) => {
            let (e, comp) = match e.split_once('-') {
                Some((e, c)) => (
                    e,
                    Some(
                        c.parse::<usize>()
                            .ok()
                            .filter(|c| *c >= 1)
                            .ok_or_else(bad)?,
                    ),
                ),
                None => (e, None),
            };
            if e.len() < 4 || !e.is_char_boundary(e.len() - 2) {
                return Err(bad());
            }
            let (seg, pos) = e.split_at(e.len() - 2);
            let pos: usize = pos.parse().map_err(|_| bad())?;
            if pos == 0 || segment_id(seg, "", "").is_err() {
                return Err(bad());
            }
            (seg.to_string(), pos, comp)
        }
    };
    Ok(X12Ref {
        anchor,
        segment,
        element,
        component,
    })
}

/// Where an address field sits in an N1 loop when the mapping names only the loop (`N1*ST`).
fn n1_loop_default(key: &str) -> Option<(&'static str, usize)> {
    Some(match key {
        "name" => ("N1", 2),
        "company" => ("N2", 1),
        "address1" => ("N3", 1),
        "address2" => ("N3", 2),
        "city" => ("N4", 1),
        "state" => ("N4", 2),
        "postal_code" => ("N4", 3),
        "country" => ("N4", 4),
        _ => return None,
    })
}

fn compile_field(
    api: &'static ApiField,
    raw: RawField,
    is_csv: bool,
    mapping: &str,
    key: &str,
) -> Result<FieldSpec, MappingError> {
    let sub = |k: &str| format!("{key}.{k}");
    let x12_keys = raw.reference.is_some()
        || raw.segment.is_some()
        || raw.element.is_some()
        || raw.component.is_some()
        || raw.qualifier.is_some();
    let source = if is_csv {
        if x12_keys {
            return Err(invalid(
                mapping,
                key,
                "`ref`, `segment`, `element`, `component` and `qualifier` are for X12 sources; a CSV field names its `column`",
            ));
        }
        match &raw.column {
            Some(c) => {
                // Names or positions; with `header = false` a name is refused when the file
                // is read (the header decides what a name means).
                FieldSource::Column(column(c, true, mapping, &sub("column"))?)
            }
            None => FieldSource::Constant,
        }
    } else {
        if raw.column.is_some() {
            return Err(invalid(
                mapping,
                sub("column"),
                "`column` is for CSV sources; an X12 field names its `ref` (e.g. \"BEG03\")",
            ));
        }
        match (&raw.reference, &raw.segment) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    mapping,
                    key,
                    "give either `ref` or `segment` + `element`, not both",
                ))
            }
            (Some(r), None) => {
                if raw.element.is_some() || raw.component.is_some() || raw.qualifier.is_some() {
                    return Err(invalid(
                        mapping,
                        key,
                        "`element`, `component` and `qualifier` go with `segment`, not with `ref`",
                    ));
                }
                FieldSource::X12(parse_ref(r).map_err(|m| invalid(mapping, sub("ref"), m))?)
            }
            (None, Some(seg)) => {
                segment_id(seg, mapping, &sub("segment"))?;
                let element = match raw.element {
                    Some(e) if e >= 1 => e as usize,
                    Some(_) => return Err(invalid(mapping, sub("element"), "must be 1 or more")),
                    None if raw.qualifier.is_some() => 2,
                    None => {
                        return Err(invalid(
                            mapping,
                            sub("element"),
                            "missing: which element of the segment (1-based)",
                        ))
                    }
                };
                let component = match raw.component {
                    Some(c) if c >= 1 => Some(c as usize),
                    Some(_) => return Err(invalid(mapping, sub("component"), "must be 1 or more")),
                    None => None,
                };
                FieldSource::X12(X12Ref {
                    anchor: raw.qualifier.clone().map(|q| (seg.clone(), q)),
                    segment: seg.clone(),
                    element,
                    component,
                })
            }
            (None, None) => {
                if raw.element.is_some() || raw.component.is_some() || raw.qualifier.is_some() {
                    return Err(invalid(mapping, key, "`element` needs a `segment`"));
                }
                FieldSource::Constant
            }
        }
    };
    // `N1*ST` on an address field: the address field's usual place in the N1 loop.
    let source = match source {
        FieldSource::X12(mut r) => {
            if api.level == Level::ShipTo {
                if let Some((anchor_seg, _)) = &r.anchor {
                    let bare = r.segment == *anchor_seg && r.element == 2 && r.component.is_none();
                    // Only when the mapping named the loop alone: `N1*ST`, or `segment = "N1",
                    // qualifier = "ST"` without an `element`.
                    let loop_only = match raw.reference.as_deref() {
                        Some(text) => !text.contains('/'),
                        None => raw.element.is_none(),
                    };
                    if anchor_seg == "N1" && bare && loop_only {
                        if let Some((seg, el)) = n1_loop_default(api.key) {
                            r.segment = seg.to_string();
                            r.element = el;
                        }
                    }
                }
            }
            FieldSource::X12(r)
        }
        other => other,
    };

    let ty = match raw.ty.as_deref() {
        None => match api.ty {
            ApiType::Text => FieldType::String,
            ApiType::Integer => FieldType::Integer,
            ApiType::Money => FieldType::Decimal,
            ApiType::Date => FieldType::Date,
        },
        Some(t) => FieldType::parse(t).ok_or_else(|| {
            invalid(
                mapping,
                sub("type"),
                format!("unknown type \"{t}\": use string, integer, decimal, date or bool"),
            )
        })?,
    };
    let compatible = match api.ty {
        ApiType::Text => true,
        ApiType::Integer => ty == FieldType::Integer,
        ApiType::Money => matches!(ty, FieldType::Decimal | FieldType::Integer),
        ApiType::Date => ty == FieldType::Date,
    };
    if !compatible {
        let want = match api.ty {
            ApiType::Text => "string",
            ApiType::Integer => "integer",
            ApiType::Money => "decimal",
            ApiType::Date => "date",
        };
        return Err(invalid(
            mapping,
            sub("type"),
            format!(
                "{} is {want} in the AHEAD API; type = \"{}\" cannot produce it",
                api.name,
                ty.as_str()
            ),
        ));
    }

    let date_format = match (&raw.format, ty) {
        (Some(fmt), FieldType::Date) => {
            check_date_format(fmt).map_err(|m| invalid(mapping, sub("format"), m))?;
            fmt.clone()
        }
        (Some(_), _) => {
            return Err(invalid(
                mapping,
                sub("format"),
                "only applies to type = \"date\"",
            ))
        }
        (None, _) if is_csv => "%Y-%m-%d".to_string(),
        (None, _) => "%Y%m%d".to_string(),
    };

    let case = match raw.case.as_deref() {
        None => None,
        Some("upper") => Some(Case::Upper),
        Some("lower") => Some(Case::Lower),
        Some(other) => {
            return Err(invalid(
                mapping,
                sub("case"),
                format!("unknown case \"{other}\": use \"upper\" or \"lower\""),
            ))
        }
    };
    let reject_unmapped = match raw.unmapped.as_deref() {
        None | Some("keep") => false,
        Some("reject") => true,
        Some(other) => {
            return Err(invalid(
                mapping,
                sub("unmapped"),
                format!("unknown value \"{other}\": use \"keep\" or \"reject\""),
            ))
        }
    };
    if reject_unmapped && raw.map.as_ref().is_none_or(|m| m.is_empty()) {
        return Err(invalid(mapping, sub("unmapped"), "needs a `map`"));
    }
    let separator = |v: &Option<String>,
                     k: &str,
                     default: Option<char>|
     -> Result<Option<char>, MappingError> {
        match v.as_deref() {
            None => Ok(default),
            Some("") => Ok(None),
            Some(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_ascii_digit() && c != '-' && c != '+' => Ok(Some(c)),
                    _ => Err(invalid(
                        mapping,
                        sub(k),
                        format!("must be one character that is not a digit or sign (got \"{s}\")"),
                    )),
                }
            }
        }
    };
    let numeric = matches!(ty, FieldType::Integer | FieldType::Decimal);
    if !numeric && (raw.thousands_separator.is_some() || raw.decimal_separator.is_some()) {
        return Err(invalid(
            mapping,
            key,
            "`thousands_separator` and `decimal_separator` apply to integer and decimal types",
        ));
    }
    let thousands_separator =
        separator(&raw.thousands_separator, "thousands_separator", Some(','))?;
    let decimal_separator = separator(&raw.decimal_separator, "decimal_separator", Some('.'))?
        .ok_or_else(|| invalid(mapping, sub("decimal_separator"), "cannot be empty"))?;
    // `thousands_separator = "."` implies a decimal comma unless told otherwise.
    let decimal_separator = if thousands_separator == Some('.') && raw.decimal_separator.is_none() {
        ','
    } else {
        decimal_separator
    };
    if thousands_separator == Some(decimal_separator) {
        return Err(invalid(
            mapping,
            sub("thousands_separator"),
            "must differ from the decimal separator",
        ));
    }

    let default = match &raw.default {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(toml::Value::Integer(n)) => Some(n.to_string()),
        Some(toml::Value::Boolean(b)) => Some(b.to_string()),
        Some(toml::Value::Float(_)) => {
            return Err(invalid(
                mapping,
                sub("default"),
                "write decimal defaults as strings (\"0.00\") so no precision is lost",
            ))
        }
        Some(_) => {
            return Err(invalid(
                mapping,
                sub("default"),
                "must be a string, integer or bool",
            ))
        }
    };
    if matches!(source, FieldSource::Constant) && default.is_none() {
        return Err(invalid(
            mapping,
            key,
            if is_csv {
                "no source: give a `column` (or a `default` for a constant)"
            } else {
                "no source: give a `ref` such as \"BEG03\" (or a `default` for a constant)"
            },
        ));
    }

    let date_items = chrono::format::StrftimeItems::new(&date_format)
        .parse_to_owned()
        .map_err(|_| invalid(mapping, sub("format"), "not a valid date format"))?;
    let spec = FieldSpec {
        api,
        source,
        ty,
        date_format,
        date_items,
        required: raw.required.unwrap_or(false),
        default,
        map: raw.map.unwrap_or_default().into_iter().collect(),
        reject_unmapped,
        trim: raw.trim.unwrap_or(true),
        case,
        thousands_separator,
        decimal_separator,
    };
    if let Some(d) = &spec.default {
        super::convert::convert_default(&spec, d)
            .map_err(|m| invalid(mapping, sub("default"), format!("\"{d}\" {m}")))?;
    }
    Ok(spec)
}

/// A date format must be valid chrono syntax and name a whole date: formatting a known date and
/// reading it back must give the same date (this refuses "%m/%d", "%Q" and friends).
fn check_date_format(fmt: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "\"{fmt}\" is not a valid date format (chrono strftime syntax, e.g. \"%m/%d/%Y\")"
        ));
    }
    let probe = NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date");
    let text = probe.format(fmt).to_string();
    match NaiveDate::parse_from_str(&text, fmt) {
        Ok(back) if back == probe => Ok(()),
        _ => Err(format!(
            "\"{fmt}\" does not name a whole date (it needs a year, a month and a day, e.g. \"%m/%d/%Y\")"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Mapping, MappingError> {
        Mapping::parse(text, "test.toml")
    }

    const CSV_HEAD: &str =
        "kind = \"purchase_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\n";

    fn csv_mapping(fields: &str) -> Result<Mapping, MappingError> {
        parse(&format!("{CSV_HEAD}[fields]\n{fields}"))
    }

    const MIN: &str = "po_number = { column = \"PO\" }\n\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n";

    #[test]
    fn minimal_mapping_compiles_with_contract_order() {
        let m = csv_mapping(MIN).unwrap();
        let names: Vec<_> = m.fields.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            ["po_number", "lines[].item_number", "lines[].quantity"]
        );
        assert!(m.fields.iter().all(|f| f.required));
        assert_eq!(m.on_error, OnError::SkipRow);
    }

    #[test]
    fn sub_tables_and_quoted_keys_are_the_same() {
        let text = format!(
            "{CSV_HEAD}[fields]\npo_number = {{ column = \"PO\" }}\n[fields.ship_to]\ncity = {{ column = \"City\" }}\n[fields.lines]\nitem_number = {{ column = \"Item\" }}\nquantity = {{ column = \"Qty\" }}\n"
        );
        let m = parse(&text).unwrap();
        assert!(m.field("ship_to.city").is_some());
        assert!(m.field("lines[].quantity").is_some());
    }

    fn err(fields: &str) -> String {
        csv_mapping(fields).unwrap_err().to_string()
    }

    #[test]
    fn unknown_and_read_only_fields_are_refused() {
        let e = err(&format!("{MIN}status = {{ column = \"S\" }}\n"));
        assert!(
            e.contains("fields.status") && e.contains("not a field a client may write"),
            "{e}"
        );
        let e = err(&format!("{MIN}\"lines[].amount\" = {{ column = \"A\" }}\n"));
        assert!(e.contains("lines[].amount"), "{e}");
        // ship_method belongs to fulfillment orders only.
        let e = err(&format!("{MIN}ship_method = {{ column = \"M\" }}\n"));
        assert!(e.contains("ship_method"), "{e}");
    }

    #[test]
    fn bad_types_formats_and_keys_are_refused() {
        let e = err(&format!(
            "{MIN}order_date = {{ column = \"D\", type = \"datetime\" }}\n"
        ));
        assert!(
            e.contains("fields.order_date.type") && e.contains("unknown type"),
            "{e}"
        );
        let e = err(&format!(
            "{MIN}order_date = {{ column = \"D\", type = \"date\", format = \"%m/%d\" }}\n"
        ));
        assert!(e.contains("whole date"), "{e}");
        let e = err(&format!(
            "{MIN}order_date = {{ column = \"D\", format = \"%Q-%m\" }}\n"
        ));
        assert!(e.contains("not a valid date format"), "{e}");
        let e = err(&format!(
            "{MIN}order_date = {{ column = \"D\", type = \"string\" }}\n"
        ));
        assert!(e.contains("date in the AHEAD API"), "{e}");
        let e = err(&format!("{MIN}notes = {{ colum = \"N\" }}\n"));
        assert!(e.contains("fields.notes") && e.contains("colum"), "{e}");
        let e = err(&format!(
            "{MIN}notes = {{ column = \"N\", case = \"title\" }}\n"
        ));
        assert!(e.contains("fields.notes.case"), "{e}");
        let e = err(&format!("{MIN}notes = {{ ref = \"BEG03\" }}\n"));
        assert!(e.contains("X12"), "{e}");
        let e = err(&format!("{MIN}currency = {{ default = 1.5 }}\n"));
        assert!(e.contains("strings"), "{e}");
        let e = err(&format!(
            "{MIN}\"lines[].unit_price\" = {{ column = \"P\", default = \"abc\" }}\n"
        ));
        assert!(e.contains("default") && e.contains("abc"), "{e}");
        let e = err(&format!("{MIN}notes = {{ required = true }}\n"));
        assert!(e.contains("no source"), "{e}");
    }

    #[test]
    fn order_number_and_lines_must_be_mapped() {
        let e = err("\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n");
        assert!(
            e.contains("fields.po_number") && e.contains("missing"),
            "{e}"
        );
        let e = err("po_number = { column = \"PO\" }\n");
        assert!(e.contains("lines[].item_number"), "{e}");
    }

    #[test]
    fn the_order_number_cannot_be_a_constant() {
        let e = err("po_number = { default = \"PO-1\" }\n\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n");
        assert!(
            e.contains("fields.po_number") && e.contains("same number"),
            "{e}"
        );
    }

    #[test]
    fn source_keys_are_checked() {
        let e = parse("kind = \"purchase_order\"\n[source]\nformat = \"csv\"\n[fields]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.group_by"), "{e}");
        let e = parse("kind = \"purchase_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\nencoding = \"latin1\"\n[fields]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.encoding"), "{e}");
        let e = parse("kind = \"purchase_order\"\n[source]\nformat = \"x12\"\ntransaction_set = \"850\"\ngroup_by = \"PO\"\n[fields]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.group_by") && e.contains("x12"), "{e}");
        let e = parse("kind = \"sales_order\"\n[source]\nformat = \"csv\"\n[fields]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kind"), "{e}");
        let e =
            parse("kind = \"purchase_order\"\nbogus = 1\n[source]\nformat = \"csv\"\n[fields]\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn ap_ledger_mappings_are_one_record_per_row() {
        let head = "kind = \"ap_ledger\"\n[source]\nformat = \"csv\"\n";
        let m = parse(&format!("{head}[fields]\ninvoice_number = {{ column = \"Inv\" }}\nopen_balance = {{ column = \"Open\" }}\n")).unwrap();
        assert_eq!(m.kind, OrderKind::ApLedger);
        assert!(m.fields.iter().all(|f| f.required));
        let SourceFormat::Csv(source) = &m.source else {
            panic!()
        };
        assert_eq!(source.group_by, None);
        let e = parse(&format!(
            "{head}[fields]\ninvoice_number = {{ column = \"Inv\" }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("fields.open_balance") && e.contains("missing"),
            "{e}"
        );
        let e = parse(&format!("{head}group_by = \"Inv\"\n[fields]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source.group_by") && e.contains("each row"),
            "{e}"
        );
        let e = parse("kind = \"ap_ledger\"\n[source]\nformat = \"x12\"\n[fields]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("CSV only"), "{e}");
        let e = parse(&format!("{head}[fields]\ninvoice_number = {{ column = \"Inv\" }}\nopen_balance = {{ column = \"Open\" }}\npo_number = {{ column = \"PO\" }}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an AP ledger field"), "{e}");
        let shipped = Mapping::load(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/ap_ledger.csv.toml"),
        )
        .unwrap();
        assert_eq!(shipped.kind, OrderKind::ApLedger);
    }

    #[test]
    fn x12_references_parse() {
        let r = parse_ref("BEG03").unwrap();
        assert_eq!((r.segment.as_str(), r.element, r.anchor), ("BEG", 3, None));
        let r = parse_ref("PO107").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("PO1", 7));
        let r = parse_ref("W0105").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("W01", 5));
        let r = parse_ref("N102").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("N1", 2));
        let r = parse_ref("DTM*010").unwrap();
        assert_eq!(r.anchor, Some(("DTM".into(), "010".into())));
        assert_eq!((r.segment.as_str(), r.element), ("DTM", 2));
        let r = parse_ref("N1*ST/N403").unwrap();
        assert_eq!((r.segment.as_str(), r.element), ("N4", 3));
        let r = parse_ref("SLN01-2").unwrap();
        assert_eq!(r.component, Some(2));
        for bad in [
            "BEG", "beg03", "BEG3", "BEGIN03", "*010", "DTM*", "N1*ST/N3", "PO100", "",
        ] {
            assert!(parse_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_form_references() {
        let text = "kind = \"purchase_order\"\n[source]\nformat = \"x12\"\ntransaction_set = \"850\"\nline_loop = \"PO1\"\n[fields]\npo_number = { segment = \"BEG\", element = 3 }\nrequested_ship_date = { segment = \"DTM\", qualifier = \"010\" }\n\"ship_to.city\" = { segment = \"N1\", qualifier = \"ST\" }\n\"ship_to.name\" = { segment = \"N1\", qualifier = \"ST\", element = 3 }\n\"lines[].item_number\" = { segment = \"PO1\", element = 7 }\n\"lines[].quantity\" = { ref = \"PO102\" }\n";
        let m = parse(text).unwrap();
        let src = |name: &str| match &m.field(name).unwrap().source {
            FieldSource::X12(r) => r.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(src("po_number"), "BEG03");
        assert_eq!(src("requested_ship_date"), "DTM*010/DTM02");
        assert_eq!(src("ship_to.city"), "N1*ST/N401");
        assert_eq!(src("ship_to.name"), "N1*ST/N103");
        assert_eq!(src("lines[].item_number"), "PO107");
    }

    #[test]
    fn a_field_must_be_a_table() {
        let e = err(&format!("{MIN}notes = \"Memo\"\n"));
        assert!(
            e.contains("fields.notes") && e.contains("must be a table"),
            "{e}"
        );
    }

    #[test]
    fn n1_loop_reference_fills_in_address_positions() {
        let text = "kind = \"fulfillment_order\"\n[source]\nformat = \"x12\"\ntransaction_set = \"940\"\nline_loop = \"LX\"\nline_segment = \"W01\"\n[fields]\norder_number = { ref = \"W0502\" }\n\"ship_to.postal_code\" = { ref = \"N1*ST\" }\n\"ship_to.name\" = { ref = \"N1*ST\" }\n\"lines[].item_number\" = { ref = \"W0105\" }\n\"lines[].quantity\" = { ref = \"W0101\" }\n";
        let m = parse(text).unwrap();
        let FieldSource::X12(r) = &m.field("ship_to.postal_code").unwrap().source else {
            panic!()
        };
        assert_eq!((r.segment.as_str(), r.element), ("N4", 3));
        let FieldSource::X12(r) = &m.field("ship_to.name").unwrap().source else {
            panic!()
        };
        assert_eq!((r.segment.as_str(), r.element), ("N1", 2));
    }
}
