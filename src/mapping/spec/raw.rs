//! A mapping file as written: serde structs that refuse unknown keys and check nothing else.
//!
//! The first of the two stages (like `settings::RawConfig`): everything here is what the user
//! typed, and only the compile step (`compile`, `source`, `field`) turns it into a [`Mapping`].
//! Nothing outside the compile step sees these types.
//!
//! [`Mapping`]: super::Mapping

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    pub(super) kind: String,
    pub(super) source: RawSource,
    pub(super) on_error: Option<String>,
    #[serde(default)]
    pub(super) cancel_removed: bool,
    pub(super) fields: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) format: String,
    // csv
    pub(super) delimiter: Option<String>,
    pub(super) quote: Option<String>,
    pub(super) header: Option<bool>,
    pub(super) group_by: Option<toml::Value>,
    pub(super) encoding: Option<String>,
    pub(super) skip_blank_lines: Option<bool>,
    // x12
    pub(super) transaction_set: Option<String>,
    pub(super) line_loop: Option<String>,
    pub(super) line_segment: Option<String>,
    pub(super) loop_end: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) column: Option<toml::Value>,
    #[serde(rename = "ref")]
    pub(super) reference: Option<String>,
    pub(super) segment: Option<String>,
    pub(super) element: Option<i64>,
    pub(super) component: Option<i64>,
    pub(super) qualifier: Option<String>,
    #[serde(rename = "type")]
    pub(super) ty: Option<String>,
    pub(super) format: Option<String>,
    pub(super) required: Option<bool>,
    pub(super) default: Option<toml::Value>,
    pub(super) map: Option<BTreeMap<String, String>>,
    pub(super) unmapped: Option<String>,
    pub(super) trim: Option<bool>,
    pub(super) case: Option<String>,
    pub(super) thousands_separator: Option<String>,
    pub(super) decimal_separator: Option<String>,
}
