//! The outbound mapping as written: serde types that refuse unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    pub(super) stream: String,
    pub(super) target: RawTarget,
    #[serde(default)]
    pub(super) columns: Vec<RawValue>,
    #[serde(default)]
    pub(super) segments: Vec<RawSegment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) format: String,
    pub(super) extension: Option<String>,
    // csv
    pub(super) delimiter: Option<String>,
    pub(super) header: Option<bool>,
    pub(super) rows: Option<String>,
    // x12
    pub(super) transaction_set: Option<String>,
    pub(super) functional_id: Option<String>,
    pub(super) version: Option<String>,
    pub(super) sender_qualifier: Option<String>,
    pub(super) sender_id: Option<String>,
    pub(super) receiver_qualifier: Option<String>,
    pub(super) receiver_id: Option<String>,
    pub(super) application_sender: Option<String>,
    pub(super) application_receiver: Option<String>,
    pub(super) usage: Option<String>,
    pub(super) element_separator: Option<String>,
    pub(super) segment_terminator: Option<String>,
    pub(super) component_separator: Option<String>,
    pub(super) repetition_separator: Option<String>,
    pub(super) newline: Option<bool>,
    pub(super) set: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSegment {
    pub(super) id: Option<String>,
    pub(super) elements: Option<Vec<RawElement>>,
    pub(super) hl: Option<String>,
    pub(super) each: Option<String>,
    pub(super) segments: Option<Vec<RawSegment>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawElement {
    Literal(String),
    Value(Box<RawValue>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawValue {
    /// CSV only: the column's header.
    pub(super) name: Option<String>,
    pub(super) field: Option<FieldNames>,
    pub(super) value: Option<String>,
    pub(super) count: Option<String>,
    pub(super) index: Option<String>,
    pub(super) sum: Option<String>,
    pub(super) batch: Option<String>,
    #[serde(rename = "type")]
    pub(super) ty: Option<String>,
    pub(super) format: Option<String>,
    pub(super) decimals: Option<i64>,
    pub(super) implied: Option<bool>,
    pub(super) default: Option<toml::Value>,
    pub(super) map: Option<BTreeMap<String, String>>,
    pub(super) unmapped: Option<String>,
    pub(super) required: Option<bool>,
    pub(super) case: Option<String>,
    pub(super) max_length: Option<i64>,
    pub(super) join: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum FieldNames {
    One(String),
    FirstOf(Vec<String>),
}
