//! The compile step for a mapping as a whole: `kind`, `on_error`, and the `[fields]` table
//! (flattened, each name checked against the kind's writable fields, the always-required
//! fields present, contract order).
//!
//! The `[source]` table and each field's own keys are compiled by `source` and `field`; this
//! file only knows how they fit together.

use super::field::compile_field;
use super::fields::ApiField;
use super::raw::{RawField, RawMapping};
use super::source::compile_source;
use super::{
    invalid, FieldSource, FieldSpec, Mapping, MappingError, OnError, SourceFormat, Target,
};
use crate::kinds::OrderKind;

/// Compile a whole mapping: the top-level keys, `[source]`, then every field against the
/// kind's writable fields.
pub(super) fn compile(raw: RawMapping, name: &str) -> Result<Mapping, MappingError> {
    let kind = kind(&raw.kind, name)?;
    let on_error = on_error(raw.on_error.as_deref(), name)?;
    let source = compile_source(&raw.source, name, kind)?;
    let target = FieldsOf {
        mapping: name,
        kind,
        is_csv: matches!(source, SourceFormat::Csv(_)),
    };
    let mut fields = target.compile_fields(flatten(&raw.fields, name)?)?;
    target.require(&mut fields)?;
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

fn kind(text: &str, name: &str) -> Result<Target, MappingError> {
    match text {
        "purchase_order" => Ok(Target::Order(OrderKind::PurchaseOrder)),
        "fulfillment_order" => Ok(Target::Order(OrderKind::FulfillmentOrder)),
        "ap_ledger" => Ok(Target::ApLedger),
        other => Err(invalid(
            name,
            "kind",
            format!(
                "unknown kind \"{other}\": use \"purchase_order\", \"fulfillment_order\" or \"ap_ledger\""
            ),
        )),
    }
}

fn on_error(text: Option<&str>, name: &str) -> Result<OnError, MappingError> {
    match text {
        None | Some("skip-row") => Ok(OnError::SkipRow),
        Some("fail-file") => Ok(OnError::FailFile),
        Some(other) => Err(invalid(
            name,
            "on_error",
            format!("unknown value \"{other}\": use \"skip-row\" or \"fail-file\""),
        )),
    }
}

/// Flatten `[fields]`: `ship_to` and `lines` may be sub-tables, or their fields may be written
/// as quoted keys ("ship_to.city", "lines[].quantity"). Names come back in the one spelling
/// the field tables use, in the order written.
fn flatten<'t>(
    fields: &'t toml::Table,
    name: &str,
) -> Result<Vec<(String, &'t toml::Value)>, MappingError> {
    let mut entries = Vec::new();
    for (key, value) in fields {
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
    Ok(entries)
}

/// What the `[fields]` entries are compiled against: the mapping's name (for errors), its kind
/// (which fields exist) and its source format (how a field names its source).
#[derive(Clone, Copy)]
struct FieldsOf<'a> {
    mapping: &'a str,
    kind: Target,
    is_csv: bool,
}

impl FieldsOf<'_> {
    /// Compile every entry, each once.
    fn compile_fields(
        self,
        entries: Vec<(String, &toml::Value)>,
    ) -> Result<Vec<FieldSpec>, MappingError> {
        let mut fields: Vec<FieldSpec> = Vec::new();
        for (field_name, value) in entries {
            let key = format!("fields.{field_name}");
            let api = self.api_field(&field_name, &key)?;
            if fields.iter().any(|f| std::ptr::eq(f.api, api)) {
                return Err(invalid(self.mapping, &key, "mapped twice"));
            }
            let raw = self.raw_field(value, &key)?;
            fields.push(compile_field(api, raw, self.is_csv, self.mapping, &key)?);
        }
        Ok(fields)
    }

    /// The writable field `field_name` names, or an error listing the ones there are.
    fn api_field(self, field_name: &str, key: &str) -> Result<&'static ApiField, MappingError> {
        let fields = self.kind.fields();
        if let Some(api) = fields.iter().find(|f| f.name == field_name) {
            return Ok(api);
        }
        let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
        let message = if self.kind.is_order() {
            format!(
                "\"{field_name}\" is not a field a client may write on a {}; writable fields: {}",
                self.kind.as_str().replace('_', " "),
                known.join(", ")
            )
        } else {
            format!(
                "\"{field_name}\" is not an AP ledger field; fields: {}",
                known.join(", ")
            )
        };
        Err(invalid(self.mapping, key, message))
    }

    /// An entry's table, read into the field's raw keys (unknown keys are refused there).
    fn raw_field(self, value: &toml::Value, key: &str) -> Result<RawField, MappingError> {
        if !value.is_table() {
            return Err(invalid(
                self.mapping,
                key,
                if self.is_csv {
                    "must be a table, e.g. { column = \"PO Number\" }"
                } else {
                    "must be a table, e.g. { ref = \"BEG03\" }"
                },
            ));
        }
        value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| invalid(self.mapping, key, e.message().to_string()))
    }

    /// The contract requires the order number and a non-empty `lines`; a line without an item
    /// or a quantity could never be accepted, so those are required too. The number must come
    /// from the file, not a constant.
    fn require(self, fields: &mut [FieldSpec]) -> Result<(), MappingError> {
        let kind = self.kind;
        let number = kind.number_field();
        let always_required: &[&str] = if kind.is_order() {
            &[number, "lines[].item_number", "lines[].quantity"]
        } else {
            // A ledger line is useless without the invoice it is for and what is still owed.
            &[number, "open_balance"]
        };
        for &required in always_required {
            let Some(spec) = fields.iter_mut().find(|f| f.api.name == required) else {
                let message = if kind.is_order() {
                    format!(
                        "missing: every {} needs `{required}` mapped",
                        kind.as_str().replace('_', " ")
                    )
                } else {
                    format!("missing: every AP ledger line needs `{required}` mapped")
                };
                return Err(invalid(self.mapping, format!("fields.{required}"), message));
            };
            spec.required = true;
        }
        let number_spec = fields.iter().find(|f| f.api.name == number);
        if number_spec.is_some_and(|spec| matches!(spec.source, FieldSource::Constant)) {
            return Err(invalid(
                self.mapping,
                format!("fields.{number}"),
                "needs a source: a constant would give every record the same number",
            ));
        }
        Ok(())
    }
}
