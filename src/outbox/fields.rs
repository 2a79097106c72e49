//! The fields an outbound mapping may read: each stream's record as the API returns it (the
//! contract's resource table), plus the change log entry that carries it (`change.*`).

use crate::kinds::StreamKind;

/// A readable field's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    /// Money: a JSON string with up to 4 decimals.
    Money,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, UTC.
    Timestamp,
    /// An array of strings (`serial_numbers`).
    TextList,
}

/// Where a field sits in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The record itself, or the change log entry (`change.*`).
    Record,
    /// One element of `lines`.
    Line,
}

const ADDRESS: [&str; 8] = [
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country",
];

const COMMON: &[(&str, Kind)] = &[
    ("id", Kind::Integer),
    ("created_at", Kind::Timestamp),
    ("updated_at", Kind::Timestamp),
];

/// The change log entry's own fields, readable on every stream.
pub(crate) const CHANGE_FIELDS: &[(&str, Kind)] = &[
    ("change.seq", Kind::Integer),
    ("change.kind", Kind::Text),
    ("change.run", Kind::Integer),
    ("change.at", Kind::Timestamp),
    ("change.key", Kind::Text),
    ("change.fields", Kind::Text),
];

fn record_fields(stream: StreamKind) -> &'static [(&'static str, Kind)] {
    match stream {
        StreamKind::Inventory => &[
            ("item_id", Kind::Integer),
            ("item_number", Kind::Text),
            ("warehouse", Kind::Text),
            ("quantity_on_hand", Kind::Integer),
            ("quantity_allocated", Kind::Integer),
            ("quantity_available", Kind::Integer),
            ("quantity_on_order", Kind::Integer),
        ],
        StreamKind::Invoices => &[
            ("invoice_number", Kind::Text),
            ("purchase_order_number", Kind::Text),
            ("fulfillment_order_number", Kind::Text),
            ("invoice_date", Kind::Date),
            ("due_date", Kind::Date),
            ("currency", Kind::Text),
            ("total_amount", Kind::Money),
            ("amount_paid", Kind::Money),
            ("balance_due", Kind::Money),
            ("status", Kind::Text),
        ],
        StreamKind::PurchaseOrders => &[
            ("po_number", Kind::Text),
            ("status", Kind::Text),
            ("order_date", Kind::Date),
            ("requested_ship_date", Kind::Date),
            ("anticipated_ship_date", Kind::Date),
            ("currency", Kind::Text),
            ("notes", Kind::Text),
        ],
        StreamKind::FulfillmentOrders => &[
            ("order_number", Kind::Text),
            ("status", Kind::Text),
            ("ship_method", Kind::Text),
            ("requested_ship_date", Kind::Date),
            ("anticipated_ship_date", Kind::Date),
            ("notes", Kind::Text),
        ],
        StreamKind::Shipments => &[
            ("fulfillment_order_id", Kind::Integer),
            ("order_number", Kind::Text),
            ("purchase_order_number", Kind::Text),
            ("carrier", Kind::Text),
            ("service", Kind::Text),
            ("tracking_number", Kind::Text),
            ("tracking_url", Kind::Text),
            ("shipped_at", Kind::Timestamp),
            ("delivered_at", Kind::Timestamp),
        ],
    }
}

fn line_fields(stream: StreamKind) -> &'static [(&'static str, Kind)] {
    match stream {
        StreamKind::Inventory => &[],
        StreamKind::Invoices => &[
            ("line_number", Kind::Integer),
            ("item_number", Kind::Text),
            ("description", Kind::Text),
            ("quantity", Kind::Integer),
            ("unit_price", Kind::Money),
            ("amount", Kind::Money),
        ],
        StreamKind::PurchaseOrders => &[
            ("line_number", Kind::Integer),
            ("item_number", Kind::Text),
            ("quantity", Kind::Integer),
            ("unit_price", Kind::Money),
            ("requested_ship_date", Kind::Date),
        ],
        StreamKind::FulfillmentOrders => &[
            ("line_number", Kind::Integer),
            ("item_number", Kind::Text),
            ("quantity", Kind::Integer),
        ],
        StreamKind::Shipments => &[
            ("item_number", Kind::Text),
            ("quantity", Kind::Integer),
            ("serial_numbers", Kind::TextList),
        ],
    }
}

/// Whether records of the stream carry an address (`ship_to.*`).
fn has_ship_to(stream: StreamKind) -> bool {
    matches!(
        stream,
        StreamKind::PurchaseOrders | StreamKind::FulfillmentOrders
    )
}

/// Whether records of the stream carry `lines`.
pub(crate) fn has_lines(stream: StreamKind) -> bool {
    !line_fields(stream).is_empty()
}

/// A field a mapping names, resolved: its path into the record's JSON, type and level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRef {
    /// As written in the mapping (`ship_to.city`, `lines[].quantity`, `change.seq`).
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) level: Level,
    pub(crate) path: Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Path {
    /// A key of the record (or of the line, for a line field).
    Key(String),
    /// A key inside an object of the record (`ship_to`).
    Nested(String, String),
    /// A field of the change log entry.
    Change(String),
}

/// A name that is not a field of its stream's records; says what they have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a field of {} records; they have: {}", stream.name(), known(*stream).join(", "))]
pub(crate) struct UnknownField {
    pub(crate) name: String,
    pub(crate) stream: StreamKind,
}

/// Resolve a field name for a stream, or list what the stream has.
pub(crate) fn resolve(stream: StreamKind, name: &str) -> Result<FieldRef, UnknownField> {
    let found = |kind, level, path| FieldRef {
        name: name.to_string(),
        kind,
        level,
        path,
    };
    if let Some((_, kind)) = CHANGE_FIELDS.iter().find(|(n, _)| *n == name) {
        let key = name.trim_start_matches("change.").to_string();
        return Ok(found(*kind, Level::Record, Path::Change(key)));
    }
    if let Some(line) = name.strip_prefix("lines[].") {
        if let Some((_, kind)) = line_fields(stream).iter().find(|(n, _)| *n == line) {
            return Ok(found(*kind, Level::Line, Path::Key(line.to_string())));
        }
    } else if let Some(part) = name.strip_prefix("ship_to.") {
        if has_ship_to(stream) && ADDRESS.contains(&part) {
            return Ok(found(
                Kind::Text,
                Level::Record,
                Path::Nested("ship_to".into(), part.to_string()),
            ));
        }
    } else if let Some((_, kind)) = COMMON
        .iter()
        .chain(record_fields(stream))
        .find(|(n, _)| *n == name)
    {
        return Ok(found(*kind, Level::Record, Path::Key(name.to_string())));
    }
    Err(UnknownField {
        name: name.to_string(),
        stream,
    })
}

/// Every field name a mapping of the stream may read.
fn known(stream: StreamKind) -> Vec<String> {
    let mut out: Vec<String> = COMMON
        .iter()
        .chain(record_fields(stream))
        .map(|(n, _)| n.to_string())
        .collect();
    if has_ship_to(stream) {
        out.extend(ADDRESS.iter().map(|a| format!("ship_to.{a}")));
    }
    out.extend(
        line_fields(stream)
            .iter()
            .map(|(n, _)| format!("lines[].{n}")),
    );
    out.extend(CHANGE_FIELDS.iter().map(|(n, _)| n.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resolve_per_stream() {
        let f = resolve(StreamKind::Shipments, "lines[].quantity").unwrap();
        assert_eq!((f.kind, f.level), (Kind::Integer, Level::Line));
        let f = resolve(StreamKind::PurchaseOrders, "ship_to.city").unwrap();
        assert_eq!(f.path, Path::Nested("ship_to".into(), "city".into()));
        assert_eq!(
            resolve(StreamKind::Invoices, "change.seq").unwrap().path,
            Path::Change("seq".into())
        );
        let e = resolve(StreamKind::Inventory, "ship_to.city").unwrap_err();
        assert_eq!(e.name, "ship_to.city");
        assert!(e.to_string().contains("quantity_available"), "{e}");
        assert!(resolve(StreamKind::Inventory, "lines[].quantity").is_err());
        assert!(resolve(StreamKind::Shipments, "tracking").is_err());
        assert!(has_lines(StreamKind::Invoices) && !has_lines(StreamKind::Inventory));
    }
}
