//! One provisioning-log row per SCIM request (method, path, status, scimType, detail,
//! duration, token name, bodies with secrets redacted), written in the background.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use serde_json::Value;

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
    let path = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
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
            ext.get::<LoggedRequest>().map(|b| redact(&b.0)),
        )
    };
    let (error, response_body) = {
        let ext = res.response().extensions();
        (
            ext.get::<ErrorInfo>().cloned(),
            // Only failures carry their response body (see `ScimError`): a success returns
            // the resource, which can be read again.
            ext.get::<LoggedBody>().map(|b| truncate(b.0.clone())),
        )
    };
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
/// A body that is not JSON is logged only by its size.
fn redact(body: &str) -> String {
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
    match serde_json::from_str::<Value>(body) {
        Ok(mut v) => {
            walk(&mut v);
            truncate(v.to_string())
        }
        Err(_) => format!("({} bytes, not JSON)", body.len()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_at_any_depth() {
        let out = super::redact(r#"{"userName":"a","PassWord":"x","v":[{"password":"y"}]}"#);
        assert!(!out.contains("\"x\"") && !out.contains("\"y\""), "{out}");
        assert!(out.contains("[redacted]"));
        assert_eq!(super::redact("nope"), "(4 bytes, not JSON)");
    }
}
