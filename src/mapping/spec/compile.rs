//! The compile step for a mapping as a whole: `kind`, `on_error`, and the `[fields]` table
//! (flattened, each name checked against the kind's writable fields, the always-required
//! fields present, contract order).
//!
//! The `[source]` table and each field's own keys are compiled by `source` and `field`; this
//! file only knows how they fit together.

use super::field::compile_field;
use super::raw::{RawField, RawMapping};
use super::source::compile_source;
use super::{
    invalid, FieldSource, FieldSpec, Mapping, MappingError, OnError, OrderKind, SourceFormat,
};

pub(super) fn compile(raw: RawMapping, name: &str) -> Result<Mapping, MappingError> {
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
