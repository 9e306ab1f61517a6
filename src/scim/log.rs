//! One provisioning-log row per SCIM request (method, path, status, scimType, detail,
//! duration, token name, bodies with secrets redacted, the action and its target as Entra
//! names them), written in the background.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use serde_json::Value;

use super::log_target::{LoggedTarget, describe};
use super::{ErrorInfo, LoggedBody, LoggedRequest, ScimAuth};
use crate::clock::timestamp;
use crate::state::AppState;
use crate::store::requests::RequestLog;
use crate::telemetry::RequestId;

/// Bodies longer than this are cut in the log.
const MAX_LOGGED_BODY: usize = 16 * 1024;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let (bare_path, query) = (req.path().to_string(), req.query_string().to_string());
    let path = match query.as_str() {
        "" => bare_path.clone(),
        q => format!("{bare_path}?{q}"),
    };
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    let Some(state) = state else { return Ok(res) };
    let (auth, request_id, request_body) = {
        let ext = res.request().extensions();
        (
            ext.get::<ScimAuth>().cloned(),
            ext.get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            ext.get::<LoggedRequest>()
                .map(|b| serde_json::from_str::<Value>(&b.0).map_err(|_| b.0.len())),
        )
    };
    let (error, response_body, noted) = {
        let ext = res.response().extensions();
        (
            ext.get::<ErrorInfo>().cloned(),
            // Only failures carry their response body (see `ScimError`): a success returns
            // the resource, which can be read again.
            ext.get::<LoggedBody>().map(|b| truncate(b.0.clone())),
            ext.get::<LoggedTarget>().cloned(),
        )
    };
    let json = request_body.as_ref().and_then(|b| b.as_ref().ok());
    let described = describe(&method, &bare_path, &query, json, noted);
    let request_body = request_body.map(|b| match b {
        Ok(v) => redact(v),
        Err(len) => format!("({len} bytes, not JSON)"),
    });
    let row = RequestLog {
        org_id: auth.as_ref().map(|a| a.org.id),
        at: timestamp(state.clock.now()),
        request_id,
        method,
        path,
        status: res.status().as_u16(),
        scim_type: error.as_ref().and_then(|e| e.scim_type.map(str::to_string)),
        detail: error.map(|e| e.detail),
        duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        token_name: auth.map(|a| a.token_name),
        request_body,
        response_body,
        action: described.action,
        target_id: described.target.id,
        target_name: described.target.name,
        target_external: described.target.external_id,
    };
    state.metrics.scim_op(&row.method, row.status);
    state.store.log_request(row);
    Ok(res)
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_LOGGED_BODY {
        let mut cut = MAX_LOGGED_BODY;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("…(truncated)");
    }
    s
}

/// Replaces the value of every `password` attribute (any case, any depth) with "[redacted]".
fn redact(mut v: Value) -> String {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    if k.to_ascii_lowercase().contains("password")
                        || k.eq_ignore_ascii_case("secret")
                    {
                        *val = Value::String("[redacted]".into());
                    } else {
                        walk(val);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    truncate(crate::directory::compact(&v))
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_at_any_depth() {
        let body = r#"{"userName":"a","PassWord":"x","v":[{"password":"y"}]}"#;
        let out = super::redact(serde_json::from_str(body).unwrap());
        assert!(!out.contains("\"x\"") && !out.contains("\"y\""), "{out}");
        assert!(out.contains("[redacted]"));
    }
}
