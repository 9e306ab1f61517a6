//! `/api/v1/webhook_endpoints`: the product manages its webhook endpoints with a
//! `webhooks:write` key. A key restricted to orgs sees and makes only endpoints restricted
//! to its orgs. The secret is returned once, on creation and on rotation.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiKeyAuth, schema};
use crate::clock::timestamp;
use crate::state::AppState;
use crate::store::orgs;
use crate::store::webhooks::{self as store, AttemptQuery, Endpoint};
use crate::webhooks::{self, Actor, Input, ReplayFrom, deliver};

pub fn routes(cfg: &mut web::ServiceConfig) {
    const ONE: &str = "/api/v1/webhook_endpoints/{id}";
    cfg.route("/api/v1/webhook_endpoints", web::get().to(list))
        .route("/api/v1/webhook_endpoints", web::post().to(create))
        .route(ONE, web::get().to(get))
        .route(ONE, web::patch().to(update))
        .route(ONE, web::delete().to(remove))
        .route(
            "/api/v1/webhook_endpoints/{id}/rotate_secret",
            web::post().to(rotate),
        )
        .route("/api/v1/webhook_endpoints/{id}/test", web::post().to(test))
        .route(
            "/api/v1/webhook_endpoints/{id}/replay",
            web::post().to(replay),
        )
        .route(
            "/api/v1/webhook_endpoints/{id}/resume",
            web::post().to(resume),
        )
        .route(
            "/api/v1/webhook_endpoints/{id}/resend",
            web::post().to(resend),
        )
        .route("/api/v1/webhook_endpoints/{id}/lanes", web::get().to(lanes))
        .route(
            "/api/v1/webhook_endpoints/{id}/lanes/{org}/skip",
            web::post().to(skip),
        )
        .route(
            "/api/v1/webhook_endpoints/{id}/attempts",
            web::get().to(attempts),
        );
}

fn actor(key: &ApiKeyAuth) -> (String, Option<Vec<i64>>) {
    (format!("api-key:{}", key.0.name), key.0.org_ids.clone())
}

/// The JSON body, read with a clear 400 for anything else.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad(format!("the JSON body cannot be read: {e}")))
}

/// The endpoint's JSON with org slugs.
async fn view(state: &AppState, endpoints: Vec<Endpoint>) -> Result<Vec<Value>, ApiError> {
    let all = state.store.read(orgs::list_orgs).await?;
    let slug = |id: i64| all.iter().find(|o| o.id == id).map(|o| o.slug.clone());
    Ok(endpoints
        .iter()
        .map(|e| webhooks::to_json(e, &slug))
        .collect())
}

/// The endpoint `{id}` the key may see, with the key checked for `webhooks:write`.
async fn found(state: &AppState, key: &ApiKeyAuth, id: String) -> Result<Endpoint, ApiError> {
    key.require("webhooks:write")?;
    let (name, ids) = actor(key);
    Ok(state
        .store
        .read(move |c| {
            webhooks::find(
                c,
                &id,
                &Actor {
                    name: &name,
                    org_ids: ids.as_deref(),
                },
            )
        })
        .await?)
}

#[utoipa::path(get, path = "/api/v1/webhook_endpoints", tag = "webhooks", 
    params(),
    responses((status = 200, body = schema::EndpointList), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn list(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
) -> Result<HttpResponse, ApiError> {
    key.require("webhooks:write")?;
    let (name, ids) = actor(&key);
    let all = state.store.read(store::list).await?;
    let actor = Actor {
        name: &name,
        org_ids: ids.as_deref(),
    };
    let mine: Vec<Endpoint> = all.into_iter().filter(|e| actor.sees(e)).collect();
    Ok(HttpResponse::Ok().json(json!({"endpoints": view(&state, mine).await?})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Create {
    /// Where events are POSTed. Its host must resolve to a public address, or to one in a
    /// network the operator allowed (`IDGATE_OUTBOUND_ALLOW_NETWORKS`).
    #[schema(format = "uri", pattern = "^https?://")]
    url: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
    /// Empty: every type.
    #[serde(default)]
    #[schema(value_type = Vec<schema::TypePattern>)]
    types: Vec<String>,
    orgs: Option<Vec<String>>,
    from_seq: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints", tag = "webhooks", request_body = Create,
    params(),
    responses((status = 201, body = schema::CreatedEndpoint), (status = 409, body = schema::Error), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn create(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    key.require("webhooks:write")?;
    let b: Create = body(&bytes)?;
    let (name, ids) = actor(&key);
    let input = Input {
        url: b.url,
        description: b.description,
        types: b.types,
        orgs: b.orgs,
    };
    let st = state.clone();
    let now = timestamp(state.clock.now());
    let (e, secret) = state
        .store
        .write(move |c| {
            let actor = Actor {
                name: &name,
                org_ids: ids.as_deref(),
            };
            webhooks::create(
                c,
                &st.sealer,
                &st.outbound,
                &input,
                b.from_seq,
                &actor,
                &now,
            )
        })
        .await?;
    let mut out = view(&state, vec![e]).await?.remove(0);
    out["secret"] = secret.into();
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(out))
}

#[utoipa::path(get, path = "/api/v1/webhook_endpoints/{id}", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::Endpoint), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn get(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state, vec![e]).await?.remove(0)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Update {
    #[schema(format = "uri", pattern = "^https?://")]
    url: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    #[schema(value_type = Option<Vec<schema::TypePattern>>)]
    types: Option<Vec<String>>,
    /// `null` (or absent) keeps the orgs; `[]` is refused; a list replaces them.
    orgs: Option<Vec<String>>,
    /// `all_orgs: true` lifts the org restriction.
    #[serde(default)]
    all_orgs: bool,
    #[schema(value_type = Option<schema::EndpointState>)]
    state: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/webhook_endpoints/{id}", tag = "webhooks", request_body = Update,
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::Endpoint), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn update(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let b: Update = body(&bytes)?;
    let all = state.store.read(orgs::list_orgs).await?;
    let current_orgs = e.org_ids.as_ref().map(|ids| {
        ids.iter()
            .filter_map(|id| all.iter().find(|o| o.id == *id).map(|o| o.slug.clone()))
            .collect()
    });
    let input = Input {
        url: b.url.unwrap_or_else(|| e.url.clone()),
        description: b.description.unwrap_or_else(|| e.description.clone()),
        types: b.types.unwrap_or_else(|| e.types.clone()),
        orgs: if b.all_orgs {
            None
        } else {
            b.orgs.or(current_orgs)
        },
    };
    let (name, ids) = actor(&key);
    let st = state.clone();
    let now = timestamp(state.clock.now());
    let public_id = e.public_id.clone();
    let e = state
        .store
        .write(move |c| {
            let actor = Actor {
                name: &name,
                org_ids: ids.as_deref(),
            };
            webhooks::update(c, &e, &input, &st.outbound, &actor, &now)?;
            if let Some(s) = &b.state {
                webhooks::set_state(c, &e, s, &actor, &now)?;
            }
            webhooks::find(c, &public_id, &actor)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view(&state, vec![e]).await?.remove(0)))
}

#[utoipa::path(delete, path = "/api/v1/webhook_endpoints/{id}", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 204, description = "Removed"), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn remove(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let (name, ids) = actor(&key);
    let now = timestamp(state.clock.now());
    state
        .store
        .write(move |c| {
            webhooks::remove(
                c,
                &e,
                &Actor {
                    name: &name,
                    org_ids: ids.as_deref(),
                },
                &now,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::RotatedSecret), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn rotate(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let (name, ids) = actor(&key);
    let (st, at) = (state.clone(), state.clock.now());
    let (secret, until) = state
        .store
        .write(move |c| {
            webhooks::rotate(
                c,
                &st.sealer,
                &e,
                &Actor {
                    name: &name,
                    org_ids: ids.as_deref(),
                },
                at,
            )
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"secret": secret, "previous_secret_until": until})))
}

fn outcome_json(o: &deliver::Outcome) -> Value {
    json!({
        "ok": o.ok,
        "status": o.status,
        "latency_ms": o.latency_ms,
        "error": o.error,
        "response": o.response,
    })
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/test", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::Outcome), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn test(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let o = deliver::send_test(&state, &e).await?;
    Ok(HttpResponse::Ok().json(outcome_json(&o)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Replay {
    from_seq: Option<i64>,
    since: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/replay", tag = "webhooks", request_body = Replay,
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::Replaying), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn replay(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let from = match body::<Replay>(&bytes)? {
        Replay {
            from_seq: Some(seq),
            since: None,
        } => ReplayFrom::Seq(seq),
        Replay {
            from_seq: None,
            since: Some(t),
        } => ReplayFrom::Time(t),
        _ => return Err(ApiError::bad("give exactly one of from_seq and since")),
    };
    let (name, ids) = actor(&key);
    let now = timestamp(state.clock.now());
    let after = state
        .store
        .write(move |c| {
            webhooks::replay(
                c,
                &e,
                &from,
                &Actor {
                    name: &name,
                    org_ids: ids.as_deref(),
                },
                &now,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"replaying_after_seq": after})))
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/resume", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::Rearmed), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn resume(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let (name, ids) = actor(&key);
    let now = timestamp(state.clock.now());
    let n = state
        .store
        .write(move |c| {
            webhooks::resume(
                c,
                &e,
                &Actor {
                    name: &name,
                    org_ids: ids.as_deref(),
                },
                &now,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"lanes_rearmed": n})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Seq {
    seq: i64,
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/resend", tag = "webhooks", request_body = Seq,
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::Outcome), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn resend(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let Seq { seq } = body(&bytes)?;
    let ep = e.clone();
    let ev = state
        .store
        .read(move |c| webhooks::event_for(c, &ep, seq))
        .await?
        .filter(|ev| key.sees(ev.org_id))
        .ok_or_else(|| {
            ApiError::not_found(format!("no event {seq} for this endpoint (pruned?)"))
        })?;
    let o = deliver::resend(&state, &e, &ev).await?;
    Ok(HttpResponse::Ok().json(outcome_json(&o)))
}

#[utoipa::path(get, path = "/api/v1/webhook_endpoints/{id}/lanes", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)")),
    responses((status = 200, body = schema::LaneList), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn lanes(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let id = e.id;
    let rows = state
        .store
        .read(move |c| {
            let all = orgs::list_orgs(c)?;
            let mut out = Vec::new();
            for l in store::lanes(c)?.into_iter().filter(|l| l.endpoint_id == id) {
                let (waiting, oldest) = store::backlog(c, l.org_id, l.delivered)?;
                let slug = all
                    .iter()
                    .find(|o| o.id == l.org_id)
                    .map(|o| o.slug.clone());
                out.push(json!({
                    "org": slug,
                    "delivered_through_seq": l.delivered,
                    "waiting": waiting,
                    "oldest_waiting": oldest,
                    "failed_attempts": l.attempts,
                    "next_attempt_at": l.next_at,
                    "stalled_since": l.stalled,
                    "last_error": l.last_error,
                }));
            }
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"lanes": rows})))
}

#[utoipa::path(post, path = "/api/v1/webhook_endpoints/{id}/lanes/{org}/skip", tag = "webhooks", request_body = Seq,
    params(("id" = String, Path, description = "The endpoint's id (we_…)"), ("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, body = schema::Skipped), (status = 409, description = "Not the lane's next event", body = schema::Error), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn skip(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, slug) = path.into_inner();
    let e = found(&state, &key, id).await?;
    let org = key.org(&state, &slug).await?;
    let Seq { seq } = body(&bytes)?;
    let (name, ids) = actor(&key);
    let now = timestamp(state.clock.now());
    state
        .store
        .write(move |c| {
            webhooks::skip(
                c,
                &e,
                org.id,
                seq,
                &Actor {
                    name: &name,
                    org_ids: ids.as_deref(),
                },
                &now,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"skipped_seq": seq})))
}

#[utoipa::path(get, path = "/api/v1/webhook_endpoints/{id}/attempts", tag = "webhooks", 
    params(("id" = String, Path, description = "The endpoint's id (we_…)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000),
        ("before" = Option<i64>, Query, description = "next_before of the previous page"),
        ("ok" = Option<bool>, Query, description = "Only successes (true) or failures (false)"),
        ("event_id" = Option<String>, Query)),
    responses((status = 200, body = schema::AttemptPage), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error)))]
pub(super) async fn attempts(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let e = found(&state, &key, path.into_inner()).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::bad(format!("the query string cannot be read: {e}")))?;
    let mut q = AttemptQuery {
        endpoint_id: Some(e.id),
        limit: 100,
        ..Default::default()
    };
    for (k, v) in pairs {
        let bad = || ApiError::bad(format!("{k} cannot be {v:?}"));
        match k.as_str() {
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(bad)?
            }
            "before" => q.before = Some(v.parse().map_err(|_| bad())?),
            "ok" => q.ok = Some(v.parse().map_err(|_| bad())?),
            "event_id" => q.event_id = Some(v),
            _ => return Err(ApiError::bad(format!("unknown parameter {k:?}"))),
        }
    }
    let limit = q.limit as usize;
    let rows = state.store.read(move |c| store::attempts(c, &q)).await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|a| a.id))
        .flatten();
    let list: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "at": a.at, "trigger": a.trigger, "event_id": a.event_id,
                "event_type": a.event_type, "seq": a.seq, "attempt": a.attempt, "ok": a.ok,
                "status": a.status, "latency_ms": a.latency_ms, "error": a.error,
                "response": a.response,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"attempts": list, "next_before": next})))
}
