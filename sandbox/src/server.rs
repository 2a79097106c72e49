//! The HTTP side: the router, the /v2 gate (counting, faults, auth, query hygiene, the
//! envelope on 404/405), and our own accept loop.
//!
//! Why our own accept loop rather than `axum::serve`: `drop_after_commit` must close a
//! connection *without answering*, after the write is committed, as a proxy timing out
//! would. Each connection gets a `ConnKill` token in its requests' extensions; a handler
//! cancels it and the loop drops the connection mid-request.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::envelope::{self, error1};
use super::faults::{self, Gate};
use super::oauth;
use super::rules;
use super::shared::Shared;
use super::{control_routes, orders, resources, webhooks};

pub(crate) type App = Arc<Shared>;

/// Cancelled by a handler to drop its connection without an answer.
#[derive(Clone)]
pub(crate) struct ConnKill(pub CancellationToken);

pub(crate) fn router(app: App) -> Router {
    let mut r = Router::new()
        .route(rules::PATH_AUTHORIZE, get(oauth::authorize))
        .route(rules::PATH_TOKEN, axum::routing::post(oauth::token))
        .route(rules::PATH_AUTHENTICATE, get(authenticated));
    for name in [
        rules::ITEMS,
        rules::INVENTORY,
        rules::INVOICES,
        rules::PURCHASE_ORDERS,
        rules::FULFILLMENT_ORDERS,
        rules::SHIPMENTS,
        rules::WEBHOOKS,
    ] {
        let list: MethodRouter<App> = get(move |s, q| resources::list(s, name, q));
        let one: MethodRouter<App> = get(move |s, p| resources::get_one(s, name, p));
        let (list, one) = match name {
            rules::PURCHASE_ORDERS | rules::FULFILLMENT_ORDERS => (
                list.post(move |s, k, b| orders::create(s, name, k, b)),
                one.put(move |s, p, k, b| orders::update(s, name, p, k, b))
                    .delete(move |s, p, k| orders::cancel(s, name, p, k)),
            ),
            rules::WEBHOOKS => (
                list.post(webhooks::subscribe),
                one.delete(webhooks::unsubscribe),
            ),
            _ => (list, one),
        };
        r = r
            .route(&format!("{}/{name}", rules::API_PREFIX), list)
            .route(&format!("{}/{name}/{{id}}", rules::API_PREFIX), one);
    }
    r.merge(control_routes::routes())
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app)
}

async fn authenticated(State(app): State<App>) -> Response {
    let body = format!("{}{}", rules::AUTHENTICATED_AS, app.config.organization);
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn fallback(req: Request) -> Response {
    if is_api(req.uri().path()) {
        envelope::not_found()
    } else {
        (StatusCode::NOT_FOUND, "Not found").into_response()
    }
}

fn is_api(path: &str) -> bool {
    path == rules::API_PREFIX || path.starts_with(&format!("{}/", rules::API_PREFIX))
}

/// Counts every request; applies the rate limit (token bucket) to /v2 and /oauth; on /v2 then
/// applies, in order: latency, injected 429/5xx, credentials, the "only `q`" rule; then dresses
/// bare 405s in the envelope.
async fn gate(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let key = format!("{} {route}", req.method());
    app.count(|c| *c.requests.entry(key).or_default() += 1);
    let api = is_api(req.uri().path());
    let oauth = req.uri().path().starts_with(rules::OAUTH_PREFIX);
    if !api && !oauth {
        return next.run(req).await;
    }
    // The rate limit counts token calls as well as /v2 requests; the other faults are /v2's.
    let (latency, decision) = {
        let mut f = app.faults();
        match faults::take_token(&mut f, std::time::Instant::now()) {
            Err(retry_after) => (Duration::ZERO, Gate::RateLimited { retry_after }),
            Ok(()) if api => (f.latency(), faults::before_request(&mut f)),
            Ok(()) => (Duration::ZERO, Gate::Pass),
        }
    };
    if !api {
        if let Gate::RateLimited { retry_after } = decision {
            app.count(|c| c.rate_limited += 1);
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({ "error": rules::ERR_RATE_LIMITED })),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return r;
        }
        return next.run(req).await;
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match decision {
        Gate::Pass => {}
        Gate::RateLimited { retry_after } => {
            app.count(|c| c.rate_limited += 1);
            let mut r = error1(
                StatusCode::TOO_MANY_REQUESTS,
                rules::ERR_RATE_LIMITED,
                None,
                "rate limit exceeded",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return r;
        }
        Gate::Fail { status } => {
            app.count(|c| c.injected_failures += 1);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return error1(
                status,
                rules::ERR_SERVER,
                None,
                "transient failure, retry later",
            );
        }
    }
    // The body is read here because a legacy MBX signature covers it.
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return envelope::bad_request("unreadable request body");
    };
    let pq = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    if oauth::authenticate(&app, &parts.headers, parts.method.as_str(), pq, &body).is_none() {
        app.count(|c| c.unauthorized += 1);
        let mut r = error1(
            StatusCode::UNAUTHORIZED,
            rules::ERR_UNAUTHORIZED,
            None,
            "missing, unknown or expired token",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(rules::WWW_AUTHENTICATE_INVALID),
        );
        return r;
    }
    if let Some(q) = parts.uri.query() {
        if let Some(k) = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, _)| k)
            .find(|k| k != rules::QUERY_PARAM)
        {
            return envelope::bad_request(format!(
                "unknown query parameter {k:?}: only q is accepted"
            ));
        }
    }
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allow = resp.headers().get(header::ALLOW).cloned();
        let mut r = error1(
            StatusCode::METHOD_NOT_ALLOWED,
            rules::ERR_METHOD,
            None,
            "method not allowed on this resource",
        );
        if let Some(a) = allow {
            r.headers_mut().insert(header::ALLOW, a);
        }
        return r;
    }
    resp
}

/// Accepts connections until `shutdown`, serving each on its own task.
pub(crate) async fn serve(
    router: Router,
    listener: TcpListener,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(message = "Accept failed.", error = %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let kill = CancellationToken::new();
            let k = kill.clone();
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnKill(k.clone()));
                    let mut router = router.clone();
                    async move { tower_service::Service::call(&mut router, req).await }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = kill.cancelled() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}
