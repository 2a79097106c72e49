//! Order writes: `POST`, `PUT` and `DELETE` on purchase and fulfillment orders.
//!
//! The order of checks is part of the contract: bad JSON (400), then validation (422, one
//! error per bad field, every field checked), then duplicates (409 carrying the existing
//! record), then status rules (422). `validate` is pure so its table of cases is unit-tested.

// Early exits carry a finished `Response` as the error: it is built once, on a cold path,
// so its size does not matter and boxing it would only add noise.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::envelope::{self, ApiError};
use super::mutations::OrderKind;
use super::rules::{self, Field, FieldType};
use super::server::{App, ConnKill};
use super::world::{fmt_ts, parse_date, Doc, World};

fn kind_of(resource: &str) -> OrderKind {
    OrderKind::parse(resource).expect("order routes are order resources")
}

fn writable(kind: OrderKind) -> (&'static [Field], &'static [Field]) {
    match kind {
        OrderKind::Purchase => (rules::PO_WRITABLE, rules::PO_LINE_WRITABLE),
        OrderKind::Fulfillment => (rules::FO_WRITABLE, rules::FO_LINE_WRITABLE),
    }
}

fn err(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(code, Some(field), message)
}

/// Checks a write body; returns the writable fields it sets, or one error per bad field.
pub(crate) fn validate(
    kind: OrderKind,
    body: &Value,
    creating: bool,
    world: &World,
) -> Result<Doc, Vec<ApiError>> {
    let Value::Object(obj) = body else {
        return Err(vec![ApiError::new(
            rules::ERR_INVALID,
            None,
            "the body must be a JSON object",
        )]);
    };
    let (fields, line_fields) = writable(kind);
    let mut errors = Vec::new();
    for (key, v) in obj {
        if rules::READ_ONLY_FIELDS.contains(&key.as_str()) {
            errors.push(err(
                rules::ERR_READ_ONLY,
                key,
                format!("{key} is set by AHEAD and may not be sent"),
            ));
            continue;
        }
        let Some((ty, nullable)) = rules::field_type(fields, key) else {
            errors.push(err(
                rules::ERR_UNKNOWN_FIELD,
                key,
                format!("{key} is not a field of {}", kind.resource()),
            ));
            continue;
        };
        match key.as_str() {
            "lines" => check_lines(v, line_fields, world, &mut errors),
            "ship_to" => check_address(v, &mut errors),
            _ => check_scalar(key, ty, nullable, v, &mut errors),
        }
    }
    if creating {
        let number = kind.number_key();
        if !obj.contains_key(number) {
            errors.push(err(
                rules::ERR_REQUIRED,
                number,
                format!("{number} is required"),
            ));
        }
        if !obj.contains_key("lines") {
            errors.push(err(rules::ERR_REQUIRED, "lines", "lines are required"));
        }
    }
    if errors.is_empty() {
        Ok(obj.clone())
    } else {
        Err(errors)
    }
}

fn check_scalar(key: &str, ty: FieldType, nullable: bool, v: &Value, errors: &mut Vec<ApiError>) {
    if v.is_null() {
        if !nullable {
            errors.push(err(
                rules::ERR_INVALID,
                key,
                format!("{key} may not be null"),
            ));
        }
        return;
    }
    let ok = match ty {
        FieldType::Int => v.as_i64().is_some_and(|n| n >= 1),
        FieldType::Str => match key {
            "currency" => v
                .as_str()
                .is_some_and(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())),
            _ => v.as_str().is_some_and(|s| !s.trim().is_empty()),
        },
        FieldType::Date => v.as_str().and_then(parse_date).is_some(),
        FieldType::Money => {
            if v.is_number() {
                errors.push(err(
                    rules::ERR_INVALID,
                    key,
                    format!("{key} is money: send it as a JSON string"),
                ));
                return;
            }
            v.as_str()
                .and_then(|s| s.parse::<Decimal>().ok())
                .is_some_and(|d| d >= Decimal::ZERO && d.scale() <= rules::MONEY_SCALE)
        }
        FieldType::Time | FieldType::Complex => false,
    };
    if !ok {
        let what = match ty {
            FieldType::Int => "a positive integer",
            FieldType::Str => "a non-empty string (currency: ISO 4217 code)",
            FieldType::Date => "a date YYYY-MM-DD",
            FieldType::Money => "a decimal string with up to 4 places",
            _ => "valid",
        };
        errors.push(err(
            rules::ERR_INVALID,
            key,
            format!("{key} must be {what}"),
        ));
    }
}

fn check_lines(v: &Value, line_fields: &[Field], world: &World, errors: &mut Vec<ApiError>) {
    let Some(lines) = v.as_array().filter(|l| !l.is_empty()) else {
        errors.push(err(
            rules::ERR_INVALID,
            "lines",
            "lines must be a non-empty array",
        ));
        return;
    };
    for (i, line) in lines.iter().enumerate() {
        let at = |k: &str| format!("lines[{i}].{k}");
        let Value::Object(line) = line else {
            errors.push(err(
                rules::ERR_INVALID,
                &format!("lines[{i}]"),
                "a line must be an object",
            ));
            continue;
        };
        for (k, v) in line {
            let Some((ty, nullable)) = rules::field_type(line_fields, k) else {
                errors.push(err(
                    rules::ERR_UNKNOWN_FIELD,
                    &at(k),
                    format!("{k} is not a line field"),
                ));
                continue;
            };
            let before = errors.len();
            check_scalar(&at(k), ty, nullable, v, errors);
            if errors.len() == before && k == "item_number" {
                let number = v.as_str().unwrap_or("");
                if world.item_by_number(number).is_none() {
                    errors.push(err(
                        rules::ERR_UNKNOWN_ITEM,
                        &at(k),
                        format!("no item numbered {number}"),
                    ));
                }
            }
        }
        for k in rules::LINE_REQUIRED {
            if !line.contains_key(*k) {
                errors.push(err(
                    rules::ERR_REQUIRED,
                    &at(k),
                    format!("{k} is required on every line"),
                ));
            }
        }
    }
}

fn check_address(v: &Value, errors: &mut Vec<ApiError>) {
    if v.is_null() {
        return;
    }
    let Value::Object(a) = v else {
        errors.push(err(
            rules::ERR_INVALID,
            "ship_to",
            "ship_to must be an address object",
        ));
        return;
    };
    for (k, v) in a {
        let field = format!("ship_to.{k}");
        if !rules::ADDRESS_FIELDS.contains(&k.as_str()) {
            errors.push(err(
                rules::ERR_UNKNOWN_FIELD,
                &field,
                format!("{k} is not an address field"),
            ));
        } else if !(v.is_null() || v.is_string()) {
            errors.push(err(
                rules::ERR_INVALID,
                &field,
                format!("{k} must be a string"),
            ));
        } else if k == "country"
            && !v
                .as_str()
                .is_none_or(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.push(err(
                rules::ERR_INVALID,
                &field,
                "country must be an ISO 3166 alpha-2 code",
            ));
        }
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|e| envelope::bad_request(format!("body is not valid JSON: {e}")))
}

fn unprocessable(errors: &[ApiError]) -> Response {
    envelope::error(StatusCode::UNPROCESSABLE_ENTITY, errors)
}

/// Answers, unless `drop_after_commit` says to drop the connection now that the write is in.
async fn answer(app: &App, kill: Option<Extension<ConnKill>>, resp: Response) -> Response {
    let drop_it = {
        let mut f = app.faults();
        let d = f.drop_after_commit > 0 && kill.is_some();
        if d {
            f.drop_after_commit -= 1;
        }
        d
    };
    if let (true, Some(Extension(ConnKill(token)))) = (drop_it, kill) {
        app.count(|c| c.dropped_connections += 1);
        token.cancel();
        std::future::pending::<()>().await;
    }
    resp
}

pub(crate) async fn create(
    State(app): State<App>,
    resource: &'static str,
    kill: Option<Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let kind = kind_of(resource);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = app.mutate(|w, now| {
        let fields = validate(kind, &body, true, w).map_err(|e| unprocessable(&e))?;
        let number = fields[kind.number_key()].as_str().unwrap_or("").to_string();
        let table = w.table(resource).expect("orders table");
        if let Some(p) = table.find(kind.number_key(), &number) {
            let existing = &table.rows[p];
            let e = ApiError::new(
                rules::ERR_DUPLICATE,
                Some(kind.number_key()),
                format!("{number} already exists"),
            );
            return Err(envelope::one(StatusCode::CONFLICT, existing, &[e]));
        }
        Ok((number, w.insert_order(kind, fields, now)))
    });
    match outcome {
        Ok((number, doc)) => {
            app.count(|c| *c.creates_by_number.entry(number).or_default() += 1);
            answer(&app, kill, envelope::one(StatusCode::CREATED, &doc, &[])).await
        }
        Err(r) => r,
    }
}

fn find(w: &World, resource: &str, id: &str) -> Option<usize> {
    w.table(resource)?.position(id.parse().ok()?)
}

fn status_error(kind: OrderKind, doc: &Doc) -> Option<ApiError> {
    let status = doc.get("status").and_then(Value::as_str).unwrap_or("");
    (!kind.changeable().contains(&status)).then(|| {
        err(
            rules::ERR_STATUS,
            "status",
            format!(
                "the order is {status}; it can change only while {}",
                kind.changeable().join(" or ")
            ),
        )
    })
}

pub(crate) async fn update(
    State(app): State<App>,
    resource: &'static str,
    Path(id): Path<String>,
    kill: Option<Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let kind = kind_of(resource);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = app.mutate(|w, now| {
        let pos = find(w, resource, &id).ok_or_else(envelope::not_found)?;
        let mut fields = validate(kind, &body, false, w).map_err(|e| unprocessable(&e))?;
        let current = w.table(resource).expect("orders table").rows[pos].clone();
        let key = kind.number_key();
        if fields.get(key).is_some_and(|n| Some(n) != current.get(key)) {
            return Err(unprocessable(&[err(
                rules::ERR_IMMUTABLE,
                key,
                format!("{key} cannot change"),
            )]));
        }
        if let Some(e) = status_error(kind, &current) {
            return Err(unprocessable(&[e]));
        }
        if let Some(lines) = fields.remove("lines") {
            let filled = w.fill_lines(kind, lines);
            fields.insert("lines".into(), filled);
        }
        let doc = w.order_mut(kind, pos);
        for (k, v) in fields {
            doc.insert(k, v);
        }
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        let doc = doc.clone();
        w.raise(kind.ev_updated(), Value::Object(doc.clone()), now);
        Ok(doc)
    });
    match outcome {
        Ok(doc) => answer(&app, kill, envelope::one(StatusCode::OK, &doc, &[])).await,
        Err(r) => r,
    }
}

pub(crate) async fn cancel(
    State(app): State<App>,
    resource: &'static str,
    Path(id): Path<String>,
    kill: Option<Extension<ConnKill>>,
) -> Response {
    let kind = kind_of(resource);
    let outcome = app.mutate(|w, now| {
        let pos = find(w, resource, &id).ok_or_else(envelope::not_found)?;
        let doc = w.order_mut(kind, pos);
        if let Some(e) = status_error(kind, doc) {
            return Err(unprocessable(&[e]));
        }
        doc.insert("status".into(), json!(rules::STATUS_CANCELLED));
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        let doc = doc.clone();
        w.raise(kind.ev_updated(), Value::Object(doc.clone()), now);
        Ok(doc)
    });
    match outcome {
        Ok(doc) => answer(&app, kill, envelope::one(StatusCode::OK, &doc, &[])).await,
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed;

    fn fields(errors: Vec<ApiError>) -> Vec<String> {
        errors
            .into_iter()
            .map(|e| e.field.unwrap_or_default())
            .collect()
    }

    #[test]
    fn create_requires_number_and_lines() {
        let w = seed::seed(1, 0);
        let e = validate(OrderKind::Purchase, &json!({}), true, &w).unwrap_err();
        assert_eq!(fields(e), ["po_number", "lines"]);
        let e = validate(
            OrderKind::Fulfillment,
            &json!({"order_number":"A","lines":[]}),
            true,
            &w,
        )
        .unwrap_err();
        assert_eq!(fields(e), ["lines"]);
        assert!(validate(OrderKind::Fulfillment, &json!({}), false, &w).is_ok());
    }

    #[test]
    fn one_error_per_bad_field() {
        let w = seed::seed(1, 0);
        let body = json!({
            "po_number": "X", "id": 4, "status": "shipped", "anticipated_ship_date": "2026-01-01",
            "created_at": "x", "colour": "red", "order_date": "2026-13-01",
            "ship_to": {"country": "USA", "floor": "2"},
            "lines": [
                {"item_number": "SRV-1U-X10", "quantity": 1, "unit_price": 12.5},
                {"item_number": "NOPE", "quantity": 0},
                {"quantity": 1, "sku": "x"}
            ]
        });
        let mut got = fields(validate(OrderKind::Purchase, &body, true, &w).unwrap_err());
        got.sort();
        let mut want = vec![
            "anticipated_ship_date",
            "colour",
            "created_at",
            "id",
            "lines[0].unit_price",
            "lines[1].item_number",
            "lines[1].quantity",
            "lines[2].item_number",
            "lines[2].sku",
            "order_date",
            "ship_to.country",
            "ship_to.floor",
            "status",
        ];
        want.sort();
        assert_eq!(got, want);
    }
}
