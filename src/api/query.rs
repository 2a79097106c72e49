//! The `q` parameter: a JSON object with `limit`, `offset`, `order_by` and `where` [settled keys].

use serde_json::{Map, Value};

/// Comparison operators of `where` [settled].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
        }
    }
}

/// A list query. Build it, then [`Query::to_json`] gives the value of `q`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    limit: Option<u32>,
    offset: Option<u64>,
    order_by: Option<String>,
    conditions: Map<String, Value>,
}

impl Query {
    pub fn new() -> Self {
        Query::default()
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Order ascending by `field`.
    pub fn order_by(mut self, field: &str) -> Self {
        self.order_by = Some(field.to_string());
        self
    }

    /// `field` equals `value` (the plain-value form of `where`).
    pub fn eq(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.conditions.insert(field.to_string(), value.into());
        self
    }

    /// `field OP value`. Several operators on one field all must hold
    /// (`{"updated_at": {">=": a, "<": b}}`).
    pub fn filter(mut self, field: &str, op: Op, value: impl Into<Value>) -> Self {
        let entry = self
            .conditions
            .entry(field.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            // An earlier plain equality becomes the `=` operator beside the new one.
            let previous = std::mem::replace(entry, Value::Object(Map::new()));
            entry
                .as_object_mut()
                .expect("just set")
                .insert("=".into(), previous);
        }
        entry
            .as_object_mut()
            .expect("object")
            .insert(op.as_str().to_string(), value.into());
        self
    }

    /// `field` is one of `values`.
    pub fn is_in(self, field: &str, values: Vec<Value>) -> Self {
        self.filter(field, Op::In, Value::Array(values))
    }

    pub(crate) fn get_limit(&self) -> Option<u32> {
        self.limit
    }

    pub(crate) fn get_offset(&self) -> u64 {
        self.offset.unwrap_or(0)
    }

    /// The JSON text of `q` (the HTTP layer URI-escapes it).
    pub(crate) fn to_json(&self) -> String {
        let mut q = Map::new();
        if let Some(limit) = self.limit {
            q.insert("limit".into(), limit.into());
        }
        if let Some(offset) = self.offset {
            q.insert("offset".into(), offset.into());
        }
        if let Some(order_by) = &self.order_by {
            q.insert("order_by".into(), order_by.clone().into());
        }
        if !self.conditions.is_empty() {
            q.insert("where".into(), Value::Object(self.conditions.clone()));
        }
        Value::Object(q).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_the_documented_shapes() {
        assert_eq!(Query::new().to_json(), "{}");
        let q = Query::new().limit(500).offset(1000);
        assert_eq!(q.to_json(), r#"{"limit":500,"offset":1000}"#);
        let q = Query::new()
            .order_by("updated_at")
            .eq("status", "open")
            .filter("updated_at", Op::Ge, "2026-01-01T00:00:00Z")
            .filter("updated_at", Op::Lt, "2026-02-01T00:00:00Z")
            .is_in("warehouse", vec![json!("ATL"), json!("RNO")]);
        let v: Value = serde_json::from_str(&q.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"order_by": "updated_at", "where": {
                "status": "open",
                "updated_at": {">=": "2026-01-01T00:00:00Z", "<": "2026-02-01T00:00:00Z"},
                "warehouse": {"in": ["ATL", "RNO"]}
            }})
        );
    }

    #[test]
    fn equality_then_operator_keeps_both() {
        let q = Query::new()
            .eq("quantity_on_hand", 5)
            .filter("quantity_on_hand", Op::Ne, 7);
        let v: Value = serde_json::from_str(&q.to_json()).unwrap();
        assert_eq!(v, json!({"where": {"quantity_on_hand": {"=": 5, "!=": 7}}}));
    }

    #[test]
    fn every_operator_has_its_symbol() {
        let ops = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::In];
        let names: Vec<_> = ops.iter().map(|o| o.as_str()).collect();
        assert_eq!(names, ["=", "!=", "<", "<=", ">", ">=", "in"]);
    }
}
