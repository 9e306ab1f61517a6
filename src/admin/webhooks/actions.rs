//! The actions of one webhook endpoint's page: settings, pause and enable, a new secret,
//! removal, a test event, resend, and the lanes' skip, resume and replay. Each answers with
//! the page (its result or the reason it was refused) or a redirect back to it.

use super::*;

pub(super) async fn settings(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, form): (Endpoint, SettingsForm) =
        or_page!(endpoint_form(&state, &admin, &id, &body).await);
    let input = form.input();
    let who = operator(&admin);
    let (st, now, ep) = (state.clone(), timestamp(state.clock.now()), e.clone());
    match state
        .store
        .write(move |c| webhooks::update(c, &ep, &input, &st.outbound, &who, &now))
        .await
    {
        Ok(()) => view::see_other(&back(&e), Some("saved")),
        Err(err) => match problem(&err) {
            Some(p) => {
                let extra = Extra {
                    settings: Some(form),
                    ..Extra::error(format!("The settings were not saved: {p}."))
                };
                refused(&state, &admin, e, extra).await
            }
            None => view::store_failed(&err),
        },
    }
}

#[derive(Deserialize)]
struct StateForm {
    #[serde(default)]
    state: String,
}

pub(super) async fn set_state(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, form): (Endpoint, StateForm) =
        or_page!(endpoint_form(&state, &admin, &id, &body).await);
    // The notice says what happened: fixed codes only.
    let done = match form.state.as_str() {
        "enabled" => "enabled",
        "paused" => "paused",
        _ => "saved",
    };
    apply(&state, &admin, e, done, None, move |c, e, who, now| {
        webhooks::set_state(c, e, &form.state, who, now)
    })
    .await
}

#[derive(Deserialize)]
struct Empty {}

pub(super) async fn rotate(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, Empty {}) = or_page!(endpoint_form(&state, &admin, &id, &body).await);
    let who = operator(&admin);
    let (st, at, ep) = (state.clone(), state.clock.now(), e.clone());
    match state
        .store
        .write(move |c| webhooks::rotate(c, &st.sealer, &ep, &who, at))
        .await
    {
        Ok((secret, until)) => view::ok(&SecretPage {
            nav: Nav::new(&admin, None, "webhooks"),
            e,
            secret,
            previous_until: Some(until),
        }),
        Err(err) => view::store_failed(&err),
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    confirm: String,
}

pub(super) async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, form): (Endpoint, RemoveForm) =
        or_page!(endpoint_form(&state, &admin, &id, &body).await);
    if form.confirm != "yes" {
        let extra = Extra::error("Tick the box to confirm the removal.".into());
        return refused(&state, &admin, e, extra).await;
    }
    let to = Some("/admin/webhooks".to_string());
    apply(&state, &admin, e, "removed", to, webhooks::remove).await
}

pub(super) async fn test(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, Empty {}) = or_page!(endpoint_form(&state, &admin, &id, &body).await);
    match deliver::send_test(&state, &e).await {
        Ok(o) => {
            let extra = Extra {
                sent: Some(Sent::new("Test event (webhook.test)".into(), &o)),
                ..Extra::default()
            };
            let q = LogQuery::default();
            render(&state, &admin, e, q, extra, StatusCode::OK).await
        }
        Err(err) => view::store_failed(&err),
    }
}

#[derive(Deserialize)]
struct SeqForm {
    #[serde(default)]
    seq: String,
    #[serde(default)]
    org: String,
}

impl SeqForm {
    fn seq(&self) -> std::result::Result<i64, String> {
        self.seq
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| format!("{:?} is not an event's seq", self.seq))
    }
}

pub(super) async fn resend(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, form): (Endpoint, SeqForm) = or_page!(endpoint_form(&state, &admin, &id, &body).await);
    let seq = match form.seq() {
        Ok(seq) => seq,
        Err(p) => return refused(&state, &admin, e, Extra::error(p)).await,
    };
    let ep = e.clone();
    let ev = match state
        .store
        .read(move |c| webhooks::event_for(c, &ep, seq))
        .await
    {
        Ok(ev) => ev,
        Err(err) => return view::store_failed(&err),
    };
    let Some(ev) = ev else {
        let extra = Extra::error(format!(
            "There is no event {seq} for this endpoint (pruned by retention?)."
        ));
        return refused(&state, &admin, e, extra).await;
    };
    match deliver::resend(&state, &e, &ev).await {
        Ok(o) => {
            let extra = Extra {
                sent: Some(Sent::new(format!("Resend of seq {seq} ({})", ev.type_), &o)),
                ..Extra::default()
            };
            let q = LogQuery::default();
            render(&state, &admin, e, q, extra, StatusCode::OK).await
        }
        Err(err) => view::store_failed(&err),
    }
}

pub(super) async fn skip(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, form): (Endpoint, SeqForm) = or_page!(endpoint_form(&state, &admin, &id, &body).await);
    let seq = match form.seq() {
        Ok(seq) => seq,
        Err(p) => return refused(&state, &admin, e, Extra::error(p)).await,
    };
    let slug = form.org.trim().to_string();
    apply(&state, &admin, e, "skipped", None, move |c, e, who, now| {
        let org = orgs::org_by_slug(c, &slug)?
            .ok_or_else(|| Error::NotFound(format!("there is no organization {slug:?}")))?;
        webhooks::skip(c, e, org.id, seq, who, now)
    })
    .await
}

pub(super) async fn resume(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, Empty {}) = or_page!(endpoint_form(&state, &admin, &id, &body).await);
    apply(&state, &admin, e, "resumed", None, |c, e, who, now| {
        webhooks::resume(c, e, who, now)
    })
    .await
}

#[derive(Deserialize)]
struct ReplayForm {
    #[serde(default)]
    from: String,
}

pub(super) async fn replay(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (e, form): (Endpoint, ReplayForm) =
        or_page!(endpoint_form(&state, &admin, &id, &body).await);
    let from = form.from.trim().to_string();
    let from = match from.parse::<i64>() {
        Ok(seq) => ReplayFrom::Seq(seq),
        Err(_) if from.contains('T') => ReplayFrom::Time(from),
        Err(_) => {
            let extra = Extra::error(format!(
                "Replay from {from:?}? Give a seq, or a time such as 2026-01-02T03:04:05Z."
            ));
            return refused(&state, &admin, e, extra).await;
        }
    };
    apply(
        &state,
        &admin,
        e,
        "replaying",
        None,
        move |c, e, who, now| webhooks::replay(c, e, &from, who, now),
    )
    .await
}
