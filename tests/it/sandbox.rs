//! The sandbox against its contract, through plain HTTP, as any client would see it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ahead_sandbox::{NewInvoice, Sandbox, SandboxConfig};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{Client, Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};

// ---- Helpers -------------------------------------------------------------------------------

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn results(&self) -> Vec<Value> {
        self.json()["results"].as_array().unwrap().clone()
    }
    fn error_fields(&self) -> Vec<String> {
        let mut f: Vec<String> = self.json()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap_or("").to_string())
            .collect();
        f.sort();
        f
    }
}

async fn resp(r: reqwest::Response) -> Resp {
    Resp {
        status: r.status(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    }
}

fn q(v: Value) -> String {
    format!(
        "?q={}",
        utf8_percent_encode(&v.to_string(), NON_ALPHANUMERIC)
    )
}

struct Api {
    sb: Sandbox,
    http: Client,
    base: String,
    token: String,
    refresh: String,
}

struct Tokens {
    access: String,
    refresh: String,
}

async fn grant(http: &Client, base: &str) -> String {
    let r = http
        .get(format!(
            "{base}/oauth/authorize?response_type=code&client_id=sandbox-client&state=xyz"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    loc.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn token(http: &Client, base: &str, form: &[(&str, &str)]) -> Resp {
    resp(
        http.post(format!("{base}/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn login(http: &Client, base: &str) -> Tokens {
    let code = grant(http, base).await;
    let r = token(
        http,
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    Tokens {
        access: v["access_token"].as_str().unwrap().into(),
        refresh: v["refresh_token"].as_str().unwrap().into(),
    }
}

async fn refresh(http: &Client, base: &str, rt: &str) -> Resp {
    token(
        http,
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
        ],
    )
    .await
}

fn small() -> SandboxConfig {
    SandboxConfig {
        items: 30,
        ..SandboxConfig::default()
    }
}

impl Api {
    async fn start(config: SandboxConfig) -> Api {
        let sb = Sandbox::start_local(config).await.unwrap();
        let http = http();
        let base = sb.base_url();
        let t = login(&http, &base).await;
        Api {
            sb,
            http,
            base,
            token: t.access,
            refresh: t.refresh,
        }
    }

    async fn send_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        resp(rb.send().await.unwrap()).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send_as(&self.token, method, path, body).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None).await
    }

    /// Every record of a resource, paging by `count` as the contract says.
    async fn all(&self, resource: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let r = self
                .get(&format!(
                    "/v2/{resource}{}",
                    q(json!({"limit": 1000, "offset": out.len()}))
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let rows = r.results();
            if rows.is_empty() {
                return out;
            }
            out.extend(rows);
        }
    }
}

fn assert_envelope(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.text);
    let v = r.json();
    for key in ["count", "offset", "total_results", "results", "errors"] {
        assert!(v.get(key).is_some(), "envelope lacks {key}: {}", r.text);
    }
    if !status.is_success() {
        assert!(
            v["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{}",
            r.text
        );
    }
}

fn new_po(number: &str) -> Value {
    json!({
        "po_number": number,
        "order_date": "2026-11-01",
        "ship_to": {"name": "Dock 1", "company": "Acme", "address1": "1 Main St", "address2": null,
                    "city": "Seattle", "state": "WA", "postal_code": "98101", "country": "US"},
        "lines": [
            {"item_number": "SRV-1U-X10", "quantity": 2, "unit_price": "1249.50"},
            {"item_number": "RAIL-KIT-1U", "quantity": 2}
        ]
    })
}

// ---- OAuth ---------------------------------------------------------------------------------

#[tokio::test]
async fn authorization_code_flow_and_single_use_grant() {
    let sb = Sandbox::start_local(small()).await.unwrap();
    let (http, base) = (http(), sb.base_url());
    let r = http
        .get(format!("{base}/oauth/authorize?response_type=code&client_id=sandbox-client&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&state=s%201"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("http://127.0.0.1/callback?code="), "{loc}");
    let loc = url::Url::parse(&loc).unwrap();
    let pairs: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert_eq!(pairs[1], ("state".into(), "s 1".into()));
    let code = pairs[0].1.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "sandbox-client"),
        ("client_secret", "sandbox-secret"),
    ];
    let r = token(&http, &base, &form).await;
    let v = r.json();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 10800);
    assert!(v["refresh_token"].is_string());
    let access = v["access_token"].as_str().unwrap();
    let r = resp(
        http.get(format!("{base}/v2/authenticate"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            StatusCode::OK,
            "Successfully authenticated as Sandbox Organization"
        )
    );
    // Single use.
    let r = token(&http, &base, &form).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}))
    );
    let c = sb.control().counters();
    assert_eq!((c.grants_issued, c.grant_exchanges), (1, 1));
    assert_eq!(sb.control().requests_to("GET /oauth/authorize"), 1);
    assert_eq!(sb.control().requests_to("POST /oauth/token"), 2);
}

#[tokio::test]
async fn oauth_rejections() {
    let sb = Sandbox::start_local(small()).await.unwrap();
    let (http, base) = (http(), sb.base_url());
    let r = resp(
        http.get(format!(
            "{base}/oauth/authorize?response_type=code&client_id=who"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (StatusCode::UNAUTHORIZED, "Invalid client_id")
    );
    let r = http
        .get(format!("{base}/oauth/authorize?response_type=code&client_id=sandbox-client&redirect_uri=http%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());

    let code = grant(&http, &base).await;
    let bad_secret = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "sandbox-client"),
        ("client_secret", "wrong"),
    ];
    let r = token(&http, &base, &bad_secret).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}))
    );

    // Grants expire after 10 minutes of sandbox clock.
    let code = grant(&http, &base).await;
    sb.control().advance_clock(Duration::from_secs(601));
    let r = token(
        &http,
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
        ],
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}))
    );
}

#[tokio::test]
async fn refresh_rotates_and_tokens_expire() {
    let api = Api::start(small()).await;
    let r = refresh(&api.http, &api.base, &api.refresh).await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.json();
    let new_refresh = new["refresh_token"].as_str().unwrap();
    let new_access = new["access_token"].as_str().unwrap();
    assert_ne!(new_refresh, api.refresh);
    // The old refresh token is dead; the old access token still works.
    let r = refresh(&api.http, &api.base, &api.refresh).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}))
    );
    assert_eq!(api.get("/v2/authenticate").await.status, StatusCode::OK);
    assert_eq!(api.sb.control().counters().refreshes, 1);
    // Three hours later both access tokens are expired.
    api.sb
        .control()
        .advance_clock(Duration::from_secs(3 * 3600 + 1));
    for t in [api.token.as_str(), new_access] {
        let r = api.send_as(t, Method::GET, "/v2/items", None).await;
        assert_envelope(&r, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
    // The newest refresh token still works.
    assert_eq!(
        refresh(&api.http, &api.base, new_refresh).await.status,
        StatusCode::OK
    );
    assert_eq!(api.sb.control().counters().unauthorized, 2);
}

#[tokio::test]
async fn missing_token_is_401_enveloped() {
    let api = Api::start(small()).await;
    let r = resp(
        api.http
            .get(format!("{}/v2/inventory", api.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let r = api
        .send_as("at_nope", Method::GET, "/v2/authenticate", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn legacy_mbx_signing() {
    let config = SandboxConfig {
        legacy: Some(("PUB".into(), "s3cret".into())),
        ..small()
    };
    let sb = Sandbox::start_local(config).await.unwrap();
    let http = http();
    let path = format!("/v2/items{}", q(json!({"limit": 2})));
    let date = "2026-11-27T10:00:00.000000";
    // Signed independently of the sandbox's own code.
    let md5hex = hex::encode(<md5::Md5 as md5::Digest>::digest(b""));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"s3cret").unwrap();
    mac.update(format!("GET\n{md5hex}\n{date}\n{path}").as_bytes());
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        mac.finalize().into_bytes(),
    );
    let send = |sig: String| {
        http.get(format!("{}{path}", sb.base_url()))
            .header("MBX-Auth", format!("PUB:{sig}"))
            .header("X-Date", date)
            .send()
    };
    let r = resp(send(sig.clone()).await.unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["count"], 2);
    let r = resp(send(format!("x{sig}")).await.unwrap()).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED);
}

// ---- Queries and the envelope ---------------------------------------------------------------

#[tokio::test]
async fn limits_default_cap_and_page_cap() {
    let api = Api::start(small()).await;
    let rows = api.sb.control().inventory_len();
    assert_eq!(rows, (30 + 6) * 4);
    let r = api.get("/v2/inventory").await;
    assert_envelope(&r, StatusCode::OK);
    let v = r.json();
    assert_eq!(
        (
            v["count"].as_u64(),
            v["offset"].as_u64(),
            v["total_results"].as_u64()
        ),
        (Some(100), Some(0), Some(rows as u64))
    );
    assert!(v["errors"].is_null());
    let r = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"limit": 5000, "offset": 100}))
        ))
        .await;
    assert_eq!(r.json()["count"].as_u64().unwrap() as usize, rows - 100);
    api.sb.control().page_cap(7);
    let r = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"limit": 50, "offset": 10}))
        ))
        .await;
    let v = r.json();
    assert_eq!(
        (v["count"].as_u64(), v["offset"].as_u64()),
        (Some(7), Some(10))
    );
    assert_eq!(v["results"][0]["id"], 11);
    // Paging by count sees every row exactly once.
    let all = api.all("inventory").await;
    assert_eq!(all.len(), rows);
    let row = &all[0];
    for key in [
        "id",
        "item_id",
        "item_number",
        "warehouse",
        "quantity_on_hand",
        "quantity_allocated",
        "quantity_available",
        "quantity_on_order",
        "created_at",
        "updated_at",
    ] {
        assert!(row.get(key).is_some(), "inventory row lacks {key}");
    }
    assert_eq!(
        row["quantity_available"].as_i64().unwrap(),
        row["quantity_on_hand"].as_i64().unwrap() - row["quantity_allocated"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn where_operators_on_money_time_strings() {
    let api = Api::start(small()).await;
    let all = api.all("invoices").await;
    let money = |v: &Value, k: &str| v[k].as_str().unwrap().parse::<Decimal>().unwrap();
    let pivot = money(&all[all.len() / 2], "total_amount");
    let pivot_s = format!("{}", pivot.round_dp(4).normalize());
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(Value, Keep)> = vec![
        (
            json!({"status": "paid"}),
            Box::new(|v: &Value| v["status"] == "paid"),
        ),
        (
            json!({"status": {"=": "open"}}),
            Box::new(|v: &Value| v["status"] == "open"),
        ),
        (
            json!({"status": {"!=": "void"}}),
            Box::new(|v: &Value| v["status"] != "void"),
        ),
        (
            json!({"status": {"in": ["open", "partially_paid"]}}),
            Box::new(|v: &Value| v["status"] == "open" || v["status"] == "partially_paid"),
        ),
        (
            json!({"total_amount": {"<": pivot_s}}),
            Box::new(move |v: &Value| money(v, "total_amount") < pivot),
        ),
        (
            json!({"total_amount": {"<=": pivot_s}}),
            Box::new(move |v: &Value| money(v, "total_amount") <= pivot),
        ),
        (
            json!({"total_amount": {">": pivot_s}}),
            Box::new(move |v: &Value| money(v, "total_amount") > pivot),
        ),
        (
            json!({"total_amount": {">=": pivot_s, "<": "100000"}}),
            Box::new(move |v: &Value| {
                money(v, "total_amount") >= pivot
                    && money(v, "total_amount") < Decimal::from(100_000)
            }),
        ),
        (
            json!({"purchase_order_number": null}),
            Box::new(|v: &Value| v["purchase_order_number"].is_null()),
        ),
        (
            json!({"id": {"in": [1, 3, 99999]}}),
            Box::new(|v: &Value| v["id"] == 1 || v["id"] == 3),
        ),
        (
            json!({"due_date": {">=": "2026-03-01"}}),
            Box::new(|v: &Value| v["due_date"].as_str().unwrap() >= "2026-03-01"),
        ),
    ];
    for (cond, keep) in cases {
        let want: Vec<&Value> = all.iter().filter(|v| keep(v)).map(|v| &v["id"]).collect();
        let r = api
            .get(&format!(
                "/v2/invoices{}",
                q(json!({"where": cond, "limit": 1000}))
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{cond}: {}", r.text);
        let got: Vec<Value> = r.results().iter().map(|v| v["id"].clone()).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{cond}");
        assert_eq!(
            r.json()["total_results"].as_u64().unwrap() as usize,
            want.len()
        );
        assert!(
            !want.is_empty()
                || cond.to_string().contains("99999")
                || cond.to_string().contains("null"),
            "{cond} matches nothing"
        );
    }
    // Timestamps compare as instants whatever the offset they are written with.
    let t = all[5]["updated_at"].as_str().unwrap();
    let instant = chrono::DateTime::parse_from_rfc3339(t).unwrap();
    let shifted = instant
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339();
    let r = api
        .get(&format!(
            "/v2/invoices{}",
            q(json!({"where": {"updated_at": {"=": shifted}}}))
        ))
        .await;
    assert!(
        r.results().iter().any(|v| v["id"] == all[5]["id"]),
        "{}",
        r.text
    );
    // Money compares numerically: "1249.5" equals "1249.50".
    let r = api
        .get(&format!(
            "/v2/items{}",
            q(json!({"where": {"unit_price": "1249.5"}}))
        ))
        .await;
    assert_eq!(r.results()[0]["item_number"], "SRV-1U-X10");
}

#[tokio::test]
async fn order_by_ascending_and_descending() {
    let api = Api::start(small()).await;
    let r = api
        .get(&format!(
            "/v2/items{}",
            q(json!({"order_by": "-unit_price", "limit": 1000}))
        ))
        .await;
    let prices: Vec<Decimal> = r
        .results()
        .iter()
        .map(|v| v["unit_price"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] >= w[1]));
    let r = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"order_by": "-id", "limit": 3, "offset": 1}))
        ))
        .await;
    let ids: Vec<u64> = r
        .results()
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    let n = api.sb.control().inventory_len() as u64;
    assert_eq!(ids, [n - 1, n - 2, n - 3]);
    let r = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"order_by": "item_number", "where": {"warehouse": "DAL1"}}))
        ))
        .await;
    let nums: Vec<String> = r
        .results()
        .iter()
        .map(|v| v["item_number"].as_str().unwrap().to_string())
        .collect();
    assert!(nums.windows(2).all(|w| w[0] <= w[1]));
    assert!(r.results().iter().all(|v| v["warehouse"] == "DAL1"));
}

#[tokio::test]
async fn bad_queries_are_400_enveloped() {
    let api = Api::start(small()).await;
    for bad in [
        "?q=%7Bnot%20json".to_string(),
        q(json!({"limit": "10"})),
        q(json!({"page": 2})),
        q(json!({"where": {"colour": "red"}})),
        q(json!({"where": {"total_amount": 12.5}})),
        q(json!({"where": {"quantity": "3"}})),
        q(json!({"where": {"status": {"like": "o%"}}})),
        q(json!({"order_by": "nope"})),
        "?limit=10".to_string(),
        format!("{}&page=2", q(json!({}))),
    ] {
        let r = api.get(&format!("/v2/invoices{bad}")).await;
        assert_envelope(&r, StatusCode::BAD_REQUEST);
        assert_eq!(r.json()["errors"][0]["code"], "bad_request", "{bad}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_enveloped() {
    let api = Api::start(small()).await;
    assert_envelope(&api.get("/v2/nothing").await, StatusCode::NOT_FOUND);
    assert_envelope(&api.get("/v2/invoices/999999").await, StatusCode::NOT_FOUND);
    assert_envelope(&api.get("/v2/invoices/abc").await, StatusCode::NOT_FOUND);
    assert_envelope(
        &api.send(Method::POST, "/v2/items", Some(json!({}))).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    assert_envelope(
        &api.send(Method::DELETE, "/v2/inventory/1", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    assert_envelope(
        &api.send(Method::PUT, "/v2/invoices/1", Some(json!({})))
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    let r = api.get("/v2/purchase_orders/1").await;
    assert_envelope(&r, StatusCode::OK);
    assert_eq!(
        (r.json()["count"].as_u64(), r.results()[0]["id"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        api.sb.control().requests_to("GET /v2/purchase_orders/{id}"),
        1
    );
    assert_eq!(api.sb.control().requests_to("GET /v2/invoices/{id}"), 2);
}

// ---- Order writes ---------------------------------------------------------------------------

#[tokio::test]
async fn create_duplicate_and_validation_order() {
    let api = Api::start(small()).await;
    let r = api
        .send(Method::POST, "/v2/purchase_orders", Some(new_po("ERP-1")))
        .await;
    assert_envelope(&r, StatusCode::CREATED);
    let po = &r.results()[0];
    assert_eq!(po["status"], "received");
    assert_eq!(po["lines"][1]["unit_price"], "79.95");
    assert_eq!(po["lines"][1]["line_number"], 2);
    assert!(po["anticipated_ship_date"].is_null());
    // Duplicate: 409 with the existing record.
    let r = api
        .send(Method::POST, "/v2/purchase_orders", Some(new_po("ERP-1")))
        .await;
    assert_envelope(&r, StatusCode::CONFLICT);
    assert_eq!(r.json()["errors"][0]["code"], "duplicate");
    assert_eq!(r.results()[0]["id"], po["id"]);
    // Validation comes before the duplicate check.
    let mut bad = new_po("ERP-1");
    bad["lines"][1]["item_number"] = json!("NO-SUCH-ITEM");
    let r = api
        .send(Method::POST, "/v2/purchase_orders", Some(bad))
        .await;
    assert_envelope(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["lines[1].item_number"]);
    // One error per bad field; server-owned fields and money as a number are refused.
    let mut bad = new_po("ERP-2");
    bad["status"] = json!("shipped");
    bad["id"] = json!(7);
    bad["anticipated_ship_date"] = json!("2026-12-01");
    bad["updated_at"] = json!("2026-12-01T00:00:00Z");
    bad["colour"] = json!("blue");
    bad["lines"][0]["unit_price"] = json!(1249.5);
    let r = api
        .send(Method::POST, "/v2/purchase_orders", Some(bad))
        .await;
    assert_eq!(
        r.error_fields(),
        [
            "anticipated_ship_date",
            "colour",
            "id",
            "lines[0].unit_price",
            "status",
            "updated_at"
        ]
    );
    let r = api
        .send(
            Method::POST,
            "/v2/fulfillment_orders",
            Some(json!({"order_number": "F-1", "lines": []})),
        )
        .await;
    assert_eq!(r.error_fields(), ["lines"]);
    let r = api
        .send(
            Method::POST,
            "/v2/fulfillment_orders",
            Some(json!({"lines": [{"item_number": "PSU-800W"}]})),
        )
        .await;
    assert_eq!(r.error_fields(), ["lines[0].quantity", "order_number"]);
    let r = api
        .send(Method::POST, "/v2/fulfillment_orders", Some(json!({"order_number": "F-1", "lines": [{"item_number": "PSU-800W", "quantity": 1}]})))
        .await;
    assert_envelope(&r, StatusCode::CREATED);
    let r = resp(
        api.http
            .post(format!("{}/v2/purchase_orders", api.base))
            .bearer_auth(&api.token)
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_envelope(&r, StatusCode::BAD_REQUEST);
    let c = api.sb.control().counters();
    assert_eq!(c.creates_by_number.get("ERP-1"), Some(&1));
    assert_eq!(c.creates_by_number.get("F-1"), Some(&1));
    assert_eq!(c.creates_by_number.get("ERP-2"), None);
}

#[tokio::test]
async fn put_and_delete_follow_status_rules() {
    let api = Api::start(small()).await;
    let po = api
        .send(Method::POST, "/v2/purchase_orders", Some(new_po("ERP-9")))
        .await
        .results()[0]
        .clone();
    let path = format!("/v2/purchase_orders/{}", po["id"]);
    let r = api
        .send(Method::PUT, &path, Some(json!({"notes": "call first", "lines": [{"item_number": "PSU-800W", "quantity": 4}]})))
        .await;
    assert_envelope(&r, StatusCode::OK);
    let updated = &r.results()[0];
    assert_eq!(updated["notes"], "call first");
    assert_eq!(
        updated["order_date"], "2026-11-01",
        "fields not given are kept"
    );
    assert_eq!(
        updated["lines"].as_array().unwrap().len(),
        1,
        "lines are replaced whole"
    );
    assert_eq!(updated["lines"][0]["unit_price"], "189.99");
    let r = api
        .send(Method::PUT, &path, Some(json!({"po_number": "OTHER"})))
        .await;
    assert_eq!(r.error_fields(), ["po_number"]);
    let r = api.send(Method::PUT, &path, Some(json!({"lines": [{"item_number": "X", "quantity": 1}, {"item_number": "Y", "quantity": 1}]}))).await;
    assert_eq!(
        r.error_fields(),
        ["lines[0].item_number", "lines[1].item_number"]
    );
    // Acknowledged is still changeable; in_production is not.
    api.sb
        .control()
        .set_order_status("purchase_orders", "ERP-9", "acknowledged")
        .unwrap();
    assert_eq!(
        api.send(Method::PUT, &path, Some(json!({"notes": "x"})))
            .await
            .status,
        StatusCode::OK
    );
    api.sb
        .control()
        .set_order_status("purchase_orders", "ERP-9", "in_production")
        .unwrap();
    let r = api
        .send(Method::PUT, &path, Some(json!({"notes": "y"})))
        .await;
    assert_envelope(&r, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_fields(), ["status"]);
    assert_eq!(
        api.send(Method::DELETE, &path, None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A released fulfillment order can be cancelled, once.
    let fo = api
        .send(Method::POST, "/v2/fulfillment_orders", Some(json!({"order_number": "F-9", "lines": [{"item_number": "PSU-800W", "quantity": 1}]})))
        .await
        .results()[0]
        .clone();
    api.sb
        .control()
        .set_order_status("fulfillment_orders", "F-9", "released")
        .unwrap();
    let path = format!("/v2/fulfillment_orders/{}", fo["id"]);
    let r = api.send(Method::DELETE, &path, None).await;
    assert_envelope(&r, StatusCode::OK);
    assert_eq!(r.results()[0]["status"], "cancelled");
    assert_eq!(
        api.send(Method::DELETE, &path, None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A cancelled order keeps its number.
    let r = api
        .send(Method::POST, "/v2/fulfillment_orders", Some(json!({"order_number": "F-9", "lines": [{"item_number": "PSU-800W", "quantity": 1}]})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        api.send(
            Method::PUT,
            "/v2/fulfillment_orders/999999",
            Some(json!({}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

// ---- Faults ---------------------------------------------------------------------------------

#[tokio::test]
async fn rate_limit_and_injected_failures() {
    let api = Api::start(small()).await;
    let ctl = api.sb.control();
    // Counting starts when the fault is set, not at the sandbox's first request.
    assert_eq!(api.get("/v2/items").await.status, StatusCode::OK);
    ctl.rate_limit_every(3, 7);
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..6 {
            let r = api.get("/v2/items").await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(r.headers["retry-after"], "7");
                assert_envelope(&r, StatusCode::TOO_MANY_REQUESTS);
            }
            s.push(r.status.as_u16());
        }
        s
    };
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    ctl.rate_limit_every(0, 0);
    ctl.fail_next(2, 503);
    assert_envelope(&api.get("/v2/items").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_envelope(&api.get("/v2/items").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::OK);
    let c = ctl.counters();
    assert_eq!((c.rate_limited, c.injected_failures), (2, 2));
    assert_eq!(c.requests["GET /v2/items"], 10);
}

#[tokio::test]
async fn revoked_token_and_rejected_refresh() {
    let api = Api::start(small()).await;
    let ctl = api.sb.control();
    ctl.revoke_token_after(2);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::OK);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::OK);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get("/v2/items").await.status,
        StatusCode::UNAUTHORIZED,
        "revocation is permanent"
    );
    ctl.reject_refresh(1);
    let r = refresh(&api.http, &api.base, &api.refresh).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}))
    );
    let r = refresh(&api.http, &api.base, &api.refresh).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a rejected refresh token stays dead"
    );
    // A fresh grant recovers without a person.
    let t = login(&api.http, &api.base).await;
    assert_eq!(
        api.send_as(&t.access, Method::GET, "/v2/items", None)
            .await
            .status,
        StatusCode::OK
    );
    let c = ctl.counters();
    assert_eq!(
        (c.rejected_refreshes, c.refreshes, c.unauthorized),
        (1, 0, 2)
    );
}

#[tokio::test]
async fn latency_and_clear_faults() {
    let api = Api::start(small()).await;
    let ctl = api.sb.control();
    ctl.latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(api.get("/v2/authenticate").await.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(150));
    ctl.fail_next(5, 500);
    ctl.clear_faults();
    let t = Instant::now();
    assert_eq!(api.get("/v2/authenticate").await.status, StatusCode::OK);
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn drift_shifts_offsets_between_pages() {
    let api = Api::start(small()).await;
    let ctl = api.sb.control();
    let before = ctl.inventory_len();
    ctl.drift_next_pages("inventory", 3, 2);
    let api = &api;
    let page = |offset: usize| {
        let path = format!("/v2/inventory{}", q(json!({"limit": 10, "offset": offset})));
        async move { api.get(&path).await }
    };
    let p1 = page(0).await.json();
    assert_eq!(p1["total_results"].as_u64().unwrap() as usize, before);
    let p2 = page(10).await.json();
    assert_eq!(p2["total_results"].as_u64().unwrap() as usize, before + 1);
    // Two low rows vanished, so the second page starts two rows later than it would have:
    // rows 11 and 12 are never seen by a client paging by offset.
    assert_eq!(p2["results"][0]["id"], 13);
    // Their item@warehouse came back with new ids at the end.
    let last = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"order_by": "-id", "limit": 3}))
        ))
        .await
        .results();
    let moved: Vec<&str> = last
        .iter()
        .map(|r| r["item_number"].as_str().unwrap())
        .collect();
    assert!(moved.contains(&p1["results"][0]["item_number"].as_str().unwrap()));
    assert_eq!(
        page(20).await.json()["total_results"].as_u64().unwrap() as usize,
        before + 1,
        "drift happens once"
    );
}

#[tokio::test]
async fn drop_after_commit_commits_then_drops() {
    let api = Api::start(small()).await;
    let ctl = api.sb.control();
    ctl.drop_after_commit(1);
    let err = api
        .http
        .post(format!("{}/v2/purchase_orders", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(new_po("ERP-DROP").to_string())
        .send()
        .await
        .expect_err("the connection must drop without an answer");
    assert!(!err.is_status(), "{err}");
    let order = ctl
        .get_order("purchase_orders", "ERP-DROP")
        .expect("the order was committed");
    assert_eq!(order["status"], "received");
    // The client looks it up instead of re-posting; a blind re-POST would be a 409.
    let r = api
        .get(&format!(
            "/v2/purchase_orders{}",
            q(json!({"where": {"po_number": "ERP-DROP"}}))
        ))
        .await;
    assert_eq!(r.results()[0]["id"], order["id"]);
    assert_eq!(
        api.send(
            Method::POST,
            "/v2/purchase_orders",
            Some(new_po("ERP-DROP"))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    let c = ctl.counters();
    assert_eq!(
        (c.dropped_connections, c.creates_by_number["ERP-DROP"]),
        (1, 1)
    );
}

#[tokio::test]
async fn control_routes_over_http() {
    let api = Api::start(small()).await;
    let base = &api.base;
    let r = api
        .http
        .post(format!("{base}/_sandbox/faults"))
        .json(&json!({"fail_next": 1, "fail_status": 502}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::BAD_GATEWAY);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::OK);
    let r = api
        .http
        .post(format!("{base}/_sandbox/faults"))
        .json(&json!({"bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = api
        .http
        .post(format!("{base}/_sandbox/world/stock"))
        .json(&json!({"item_number": "PSU-800W", "warehouse": "AMS1", "on_hand": 4242}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"where": {"quantity_on_hand": 4242}}))
        ))
        .await;
    assert_eq!(r.results()[0]["item_number"], "PSU-800W");
    let r = api
        .http
        .post(format!(
            "{base}/_sandbox/world/orders/fulfillment_orders/FO-700001/ship"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Shipping it again is refused (400); an order or invoice that does not exist is 404.
    for (path, want) in [
        (
            "world/orders/fulfillment_orders/FO-700001/ship",
            StatusCode::BAD_REQUEST,
        ),
        (
            "world/orders/fulfillment_orders/FO-NOPE/ship",
            StatusCode::NOT_FOUND,
        ),
        ("world/invoices/INV-NOPE/void", StatusCode::NOT_FOUND),
    ] {
        let r = api
            .http
            .post(format!("{base}/_sandbox/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let r = api
        .http
        .post(format!("{base}/_sandbox/clock/advance"))
        .json(&json!({"seconds": 3 * 3600 + 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.get("/v2/items").await.status, StatusCode::UNAUTHORIZED);
    let counters: Value = api
        .http
        .get(format!("{base}/_sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["requests"]["GET /v2/items"], 3);
    assert_eq!(counters["injected_failures"], 1);
}

// ---- World changes and webhooks -------------------------------------------------------------

#[tokio::test]
async fn world_mutations_show_through_the_api() {
    let api = Api::start(small()).await;
    let ctl = api.sb.control();
    let n = ctl.inventory_len();
    ctl.remove_inventory("SRV-2U-G4", "SEA1").unwrap();
    assert_eq!(ctl.inventory_len(), n - 1);
    let r = api
        .get(&format!(
            "/v2/inventory{}",
            q(json!({"where": {"item_number": "SRV-2U-G4"}}))
        ))
        .await;
    assert_eq!(r.json()["count"], 3);
    ctl.set_stock("SRV-2U-G4", "SEA1", 5).unwrap();
    let inv = ctl
        .create_invoice(&NewInvoice {
            lines: vec![("SRV-2U-G4".into(), 2), ("CBL-PWR-C13".into(), 3)],
            ..NewInvoice::default()
        })
        .unwrap();
    assert_eq!(inv["total_amount"], "18017.47");
    let number = inv["invoice_number"].as_str().unwrap();
    let paid = ctl.pay_invoice(number, "1000.5".parse().unwrap()).unwrap();
    assert_eq!(
        (paid["status"].as_str(), paid["balance_due"].as_str()),
        (Some("partially_paid"), Some("17016.97"))
    );
    let void = ctl.void_invoice(number).unwrap();
    assert_eq!(
        (void["balance_due"].as_str(), void["amount_paid"].as_str()),
        (Some("0.00"), Some("1000.50"))
    );
    let shipment = ctl.ship_order("fulfillment_orders", "FO-700000").unwrap();
    assert_eq!(shipment["order_number"], "FO-700000");
    assert!(shipment["tracking_url"]
        .as_str()
        .unwrap()
        .ends_with(shipment["tracking_number"].as_str().unwrap()));
    assert!(!shipment["lines"][0]["serial_numbers"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = api.get(&format!("/v2/shipments/{}", shipment["id"])).await;
    assert_eq!(
        r.results()[0]["tracking_number"],
        shipment["tracking_number"]
    );
    let delivered = ctl
        .deliver_order("fulfillment_orders", "FO-700000")
        .unwrap();
    assert_eq!(delivered["status"], "delivered");
    assert!(ctl
        .deliver_order("fulfillment_orders", "FO-700000")
        .is_err());
    let activity = ctl.simulate(Duration::from_secs(6 * 3600));
    assert_eq!(activity.invoices_created, 6);
    assert!(activity.stock_moves > 0 && activity.orders_shipped > 0);
}

type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;

/// A receiver that answers 500 to the first `fail_first` deliveries, then 200.
async fn receiver(fail_first: usize) -> (String, Received) {
    let got: Received = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let got = got.clone();
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let got = got.clone();
                async move {
                    let mut g = got.lock().unwrap();
                    g.push((headers, body));
                    if g.len() <= fail_first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn webhooks_are_signed_and_retried() {
    let config = SandboxConfig {
        webhook_retry_base: Duration::from_millis(20),
        ..small()
    };
    let api = Api::start(config).await;
    let (url, got) = receiver(1).await;
    let r = api
        .send(
            Method::POST,
            "/v2/webhooks",
            Some(json!({"url": url, "events": ["fulfillment_order.shipped"], "secret": "whsec"})),
        )
        .await;
    assert_envelope(&r, StatusCode::CREATED);
    assert!(
        r.results()[0].get("secret").is_none(),
        "the secret is write-only"
    );
    let listed = api.get("/v2/webhooks").await;
    assert!(!listed.text.contains("whsec"));
    let r = api
        .send(
            Method::POST,
            "/v2/webhooks",
            Some(json!({"url": url, "events": ["nope"], "secret": "x"})),
        )
        .await;
    assert_eq!(r.error_fields(), ["events"]);

    api.sb
        .control()
        .ship_order("fulfillment_orders", "FO-700001")
        .unwrap();
    // An event nobody subscribed to goes nowhere.
    api.sb
        .control()
        .create_invoice(&NewInvoice {
            lines: vec![("PSU-800W".into(), 1)],
            ..NewInvoice::default()
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no retry arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while api.sb.control().counters().webhook_delivered < 1 {
        assert!(
            Instant::now() < deadline,
            "the second attempt was not counted as delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (headers, body) = &got[1];
    assert_eq!(got[0].1, *body, "a retry carries the same body");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec").unwrap();
    mac.update(body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-ahead-signature"], want.as_str());
    assert_eq!(headers["x-ahead-event"], "fulfillment_order.shipped");
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(headers["x-ahead-delivery"], v["id"].as_str().unwrap());
    assert!(v["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(
        (v["event"].as_str(), v["data"]["status"].as_str()),
        (Some("fulfillment_order.shipped"), Some("shipped"))
    );
    assert_eq!(v["data"]["order_number"], "FO-700001");
    let c = api.sb.control().counters();
    assert_eq!(
        (
            c.webhook_deliveries,
            c.webhook_failures,
            c.webhook_delivered
        ),
        (2, 1, 1)
    );
    // Unsubscribe.
    let id = listed.results()[0]["id"].clone();
    assert_eq!(
        api.send(Method::DELETE, &format!("/v2/webhooks/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(api.get("/v2/webhooks").await.json()["total_results"], 0);
}

// ---- Determinism and state ------------------------------------------------------------------

#[tokio::test]
async fn same_seed_serves_same_bytes() {
    let a = Api::start(SandboxConfig { seed: 5, ..small() }).await;
    let b = Api::start(SandboxConfig { seed: 5, ..small() }).await;
    let c = Api::start(SandboxConfig { seed: 6, ..small() }).await;
    for path in [
        "/v2/items",
        "/v2/inventory",
        "/v2/invoices",
        "/v2/purchase_orders",
        "/v2/fulfillment_orders",
        "/v2/shipments",
    ] {
        let page = format!("{path}{}", q(json!({"limit": 1000})));
        let (ra, rb) = (a.get(&page).await.text, b.get(&page).await.text);
        assert_eq!(ra, rb, "{path}");
        if path != "/v2/shipments" {
            assert_ne!(
                ra,
                c.get(&page).await.text,
                "{path} should depend on the seed"
            );
        }
    }
}

#[tokio::test]
async fn state_file_round_trip_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.sandbox.json");
    let config = SandboxConfig {
        state_path: Some(path.clone()),
        ..small()
    };
    let api = Api::start(config.clone()).await;
    assert_eq!(
        api.send(
            Method::POST,
            "/v2/purchase_orders",
            Some(new_po("ERP-KEEP"))
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let invoices = api.sb.control().count_of("invoices");
    let (token, http) = (api.token.clone(), api.http.clone());
    api.sb.stop().await.unwrap();
    assert!(path.exists());

    // Pretend the file was saved six hours ago: the next start simulates those hours.
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    saved["saved_at"] = json!(saved["saved_at"].as_i64().unwrap() - 6 * 3600);
    std::fs::write(&path, serde_json::to_vec(&saved).unwrap()).unwrap();

    let sb = Sandbox::start_local(config).await.unwrap();
    let ctl = sb.control();
    assert!(ctl.get_order("purchase_orders", "ERP-KEEP").is_some());
    assert_eq!(
        ctl.count_of("invoices"),
        invoices + 6,
        "six hours of activity raise six invoices"
    );
    // The token outlives the process.
    let r = http
        .get(format!("{}/v2/authenticate", sb.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    sb.stop().await.unwrap();
}

#[tokio::test]
async fn api_updates_raise_webhook_events() {
    let api = Api::start(small()).await;
    let (url, got) = receiver(0).await;
    let events = json!(["purchase_order.updated", "invoice.created"]);
    let r = api
        .send(
            Method::POST,
            "/v2/webhooks",
            Some(json!({"url": url, "events": events, "secret": "k"})),
        )
        .await;
    assert_envelope(&r, StatusCode::CREATED);
    let po = api
        .send(
            Method::POST,
            "/v2/purchase_orders",
            Some(new_po("ERP-HOOK")),
        )
        .await
        .results()[0]
        .clone();
    let path = format!("/v2/purchase_orders/{}", po["id"]);
    // The update's event arrives twice; the cancellation's once.
    api.sb.control().duplicate_webhooks(1);
    assert_eq!(
        api.send(Method::PUT, &path, Some(json!({"notes": "v2"})))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.send(Method::DELETE, &path, None).await.status,
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "events did not arrive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut seen: Vec<(String, String)> = got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            let v: Value = serde_json::from_slice(body).unwrap();
            (
                v["event"].as_str().unwrap().to_string(),
                v["data"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Deliveries run concurrently, so their order is not guaranteed (as in production).
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "purchase_order.updated".to_string(),
                "cancelled".to_string()
            ),
            ("purchase_order.updated".to_string(), "received".to_string()),
            ("purchase_order.updated".to_string(), "received".to_string())
        ]
    );
    let got = got.lock().unwrap();
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|(h, _)| h["x-ahead-delivery"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "a duplicate carries the same event id");
}

#[tokio::test]
async fn cancelling_the_shutdown_token_stops_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sandbox.json");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = SandboxConfig {
        state_path: Some(path.clone()),
        ..small()
    };
    let sb = Sandbox::start(config, listener, shutdown.clone())
        .await
        .unwrap();
    let base = sb.base_url();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with('/'));
    shutdown.cancel();
    sb.stop().await.unwrap();
    assert!(path.exists());
    assert!(
        http().get(format!("{base}/v2/items")).send().await.is_err(),
        "no longer serving"
    );
}

#[tokio::test]
async fn run_standalone_serves_on_the_given_address() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let task = tokio::spawn(ahead_sandbox::run_standalone(small(), addr));
    let http = http();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match http
            .get(format!(
                "http://{addr}/oauth/authorize?response_type=code&client_id=sandbox-client"
            ))
            .send()
            .await
        {
            Ok(r) => break r.status(),
            Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "standalone sandbox never answered"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    assert_eq!(status, StatusCode::FOUND);
    task.abort();
}
