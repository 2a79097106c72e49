//! The writable fields of each kind, as the AHEAD contract states them (ahead-api.md,
//! "Resources" and "Rules"), with the JSON shape and the rule each value must meet.
//!
//! A table of facts about the API, not about mapping files: it changes when the contract does,
//! and a mapping field is valid only if it names an entry here. `convert` reads the same
//! entries to shape and check values.

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
pub(super) static PURCHASE_ORDER_FIELDS: &[ApiField] = &{
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
pub(super) static FULFILLMENT_ORDER_FIELDS: &[ApiField] = &{
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
pub(super) static AP_LEDGER_FIELDS: &[ApiField] = &[
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
