//! The HTTPS API: `POST /v1/enroll`, `POST /v1/head`, `POST /v1/push`,
//! `GET /v1/witness-key` and `GET /metrics`. Owns turning requests into `check` and
//! `db` calls and refusals into answers; keeps nothing between requests but the pool,
//! the witness key and the metrics counters of this instance.

use crate::check::{self, Refused};
use crate::db::{self, DbError, Outcome};
use crate::metrics::Metrics;
use crate::witness::Witness;
use attestd_ledger::fleet::{
    EnrollRequest, EnrollResponse, HeadRequest, HeadResponse, PushResponse, Refusal, ENROLL_PATH,
    HEAD_PATH, PUSH_PATH,
};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Instant;

/// What every handler shares.
pub struct App {
    pub pool: deadpool_postgres::Pool,
    pub witness: Witness,
    pub metrics: Metrics,
    pub max_rows: usize,
    pub max_body: usize,
    /// Slots for pushes in progress (`max_concurrent_pushes`).
    pub pushes: Arc<tokio::sync::Semaphore>,
    /// How long a push waits for a slot before the 503.
    pub push_wait: std::time::Duration,
    /// `Retry-After` of a 503, in seconds.
    pub retry_after_secs: u64,
}

/// Largest body of `/v1/enroll` and `/v1/head` (a name, a token and a public key).
const SMALL_BODY: usize = 64 * 1024;

fn status_of(code: &str) -> StatusCode {
    match code {
        "unknown_host" | "bad_signature" | "token_unknown" | "token_expired"
        | "not_organisation" => StatusCode::FORBIDDEN,
        "retired_host" | "token_used" => StatusCode::GONE,
        "gap" | "forked" | "host_exists" | "missing_blob" => StatusCode::CONFLICT,
        "organisation_kind" => StatusCode::UNPROCESSABLE_ENTITY,
        "oversized" => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    }
}

pub(crate) fn refuse(app: &App, r: Refused) -> Response {
    app.metrics.refused(r.code);
    tracing::warn!(reason = r.code, "refused: {}", r.message);
    (
        status_of(r.code),
        Json(Refusal {
            refused: r.code.to_string(),
            message: r.message,
        }),
    )
        .into_response()
}

pub(crate) fn failed(app: &App, e: DbError) -> Response {
    tracing::error!("{e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", app.retry_after_secs.to_string())],
        Json(Refusal {
            refused: "unavailable".into(),
            message: "the server could not reach its database; try again later".into(),
        }),
    )
        .into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refused> {
    serde_json::from_slice(body)
        .map_err(|e| Refused::new("malformed", format!("malformed request body: {e}")))
}

fn oversized(app: &App, body: &Bytes) -> Option<Response> {
    (body.len() > app.max_body).then(|| {
        refuse(
            app,
            Refused::new(
                "oversized",
                format!(
                    "the body is larger than this server's {} bytes",
                    app.max_body
                ),
            ),
        )
    })
}

async fn enroll(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if let Some(r) = oversized(&app, &body) {
        return r;
    }
    let req: EnrollRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return refuse(&app, e),
    };
    if req.host.is_empty()
        || req.host.len() > 253
        || !req
            .host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return refuse(
            &app,
            Refused::new(
                "malformed",
                "a host name is 1 to 253 letters, digits, '-', '.' or '_'",
            ),
        );
    }
    if let Err(e) = check::public_key(&req.public_key) {
        return refuse(&app, e);
    }
    let t = Instant::now();
    let out = db::enroll(&app.pool, &req.token, &req.host, &req.public_key).await;
    app.metrics.db_latency(t);
    match out {
        Ok(Outcome::Ok((scope, organisation))) => {
            tracing::info!(host = %req.host, %scope, organisation, "enrolled");
            Json(EnrollResponse {
                host: req.host,
                scope,
                witness_key: app.witness.public_pem().to_string(),
                organisation,
            })
            .into_response()
        }
        Ok(Outcome::Refused(r)) => refuse(&app, r),
        Err(e) => failed(&app, e),
    }
}

async fn head(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if let Some(r) = oversized(&app, &body) {
        return r;
    }
    let req: HeadRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return refuse(&app, e),
    };
    match db::host_info(&app.pool, &req.host).await {
        Ok(None) => {
            return refuse(
                &app,
                Refused::new(
                    "unknown_host",
                    format!("no host named {:?} is enrolled", req.host),
                ),
            )
        }
        Ok(Some(_)) => {}
        Err(e) => return failed(&app, e),
    }
    match db::head(&app.pool, &req.host).await {
        Ok((seq, head)) => Json(HeadResponse {
            host: req.host,
            seq,
            head,
        })
        .into_response(),
        Err(e) => failed(&app, e),
    }
}

async fn push(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if let Some(r) = oversized(&app, &body) {
        return r;
    }
    let seg = match check::parse_push(&body, app.max_rows) {
        Ok(s) => s,
        Err(e) => return refuse(&app, e),
    };
    let t = Instant::now();
    let info = match db::host_info(&app.pool, &seg.host).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return refuse(
                &app,
                Refused::new(
                    "unknown_host",
                    format!("no host named {:?} is enrolled", seg.host),
                ),
            )
        }
        Err(e) => return failed(&app, e),
    };
    if info.retired {
        return refuse(
            &app,
            Refused::new(
                "retired_host",
                format!("{} is retired and may push no more", seg.host),
            ),
        );
    }
    let key = match check::public_key(&info.public_key) {
        Ok(k) => k,
        Err(e) => return refuse(&app, e),
    };
    if let Err(e) = check::check_signature(&seg, &key) {
        return refuse(&app, e);
    }
    if info.organisation {
        match crate::org::check_segment(&app.pool, &seg).await {
            Ok(None) => {}
            Ok(Some(r)) => return refuse(&app, r),
            Err(e) => return failed(&app, e),
        }
    }
    let out = db::push(&app.pool, &app.witness, &seg).await;
    app.metrics.db_latency(t);
    match out {
        Ok(Outcome::Ok((stored, receipt))) => {
            app.metrics.pushed(stored);
            Json(PushResponse { stored, receipt }).into_response()
        }
        Ok(Outcome::Refused(r)) => refuse(&app, r),
        Err(e) => failed(&app, e),
    }
}

async fn witness_key(State(app): State<Arc<App>>) -> Response {
    app.witness.public_pem().to_string().into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    match app.metrics.render(&app.pool).await {
        Ok(text) => ([("content-type", "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => failed(&app, e),
    }
}

/// Admit a push only while one of `max_concurrent_pushes` slots is free, before its
/// body is read: a push waiting for a slot holds only its connection. One that waits
/// longer than `push_wait_ms` is answered 503 with `Retry-After` (the hosts retry).
async fn push_slot(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let permit = tokio::time::timeout(app.push_wait, app.pushes.clone().acquire_owned()).await;
    match permit {
        Ok(Ok(_permit)) => next.run(req).await,
        _ => {
            app.metrics.refused("overloaded");
            tracing::warn!(
                reason = "overloaded",
                "refused: every push slot was busy for {} ms",
                app.push_wait.as_millis()
            );
            let limit = app.max_body.max(crate::org::blobs::MAX_BODY);
            drain(req.into_body(), limit).await;
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", app.retry_after_secs.to_string())],
                Json(Refusal {
                    refused: "overloaded".into(),
                    message: format!(
                        "this server is handling as many pushes as it allows; retry after {} s",
                        app.retry_after_secs
                    ),
                }),
            )
                .into_response()
        }
    }
}

/// How long a refused request's body is read, at most, before the answer goes out.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Read and drop the body of a request refused before it was read (at most `limit`
/// bytes, for at most `DRAIN_DEADLINE`), so that the host gets the answer: a connection
/// answered while the body is still arriving is closed under it, and the host then sees
/// a reset ("error sending request") instead of the 503 and its `Retry-After`. Holds no
/// push slot and keeps none of the bytes.
async fn drain(body: axum::body::Body, limit: usize) {
    use http_body_util::BodyExt;
    let read = async {
        let mut body = body;
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen = seen.saturating_add(frame.data_ref().map_or(0, |d| d.len()));
            if seen > limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_DEADLINE, read).await;
}

/// The router; the body limits are enforced by axum as well as by the handlers.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body + 1;
    let small = SMALL_BODY.min(limit);
    Router::new()
        .route(
            ENROLL_PATH,
            post(enroll).layer(DefaultBodyLimit::max(small)),
        )
        .route(HEAD_PATH, post(head).layer(DefaultBodyLimit::max(small)))
        .route(
            PUSH_PATH,
            post(push).route_layer(axum::middleware::from_fn_with_state(app.clone(), push_slot)),
        )
        .route(
            attestd_ledger::org::BLOB_PATH,
            post(crate::org::blobs::upload)
                .layer(DefaultBodyLimit::max(crate::org::blobs::MAX_BODY))
                .route_layer(axum::middleware::from_fn_with_state(app.clone(), push_slot)),
        )
        .route("/v1/witness-key", get(witness_key))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}
