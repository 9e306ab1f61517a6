//! The checks on the verified Assertion and the Response around it: issuer, audience,
//! recipient, destination, time windows (all against the `now` argument) and InResponseTo.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::xml::Element;
use super::{
    Expectation, Failure, FailureCode, IdpSettings, MAX_ISSUE_AGE, NS_A, SignedParts, SpSettings,
    Verified,
};

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

fn instant(e: &Element, attr: &str) -> Result<Option<OffsetDateTime>, Failure> {
    e.attr(attr)
        .map(|v| {
            OffsetDateTime::parse(v.trim(), &Rfc3339).map_err(|_| {
                Failure::malformed(format!("{}/@{attr} is not a UTC dateTime: {v}", e.name))
            })
        })
        .transpose()
}

fn stamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn skew(sp: &SpSettings) -> time::Duration {
    time::Duration::try_from(sp.clock_skew).unwrap_or(time::Duration::MAX)
}

/// `now` must lie in [not_before - skew, not_on_or_after + skew).
fn check_window(
    what: &str,
    not_before: Option<OffsetDateTime>,
    not_on_or_after: Option<OffsetDateTime>,
    sp: &SpSettings,
    now: OffsetDateTime,
) -> Result<(), Failure> {
    let skew = skew(sp);
    if let Some(nb) = not_before
        && now < nb.saturating_sub(skew)
    {
        return Err(Failure::new(
            FailureCode::NotYetValid,
            Some(format!("not before {}", stamp(nb))),
            Some(stamp(now)),
            format!("{what} is not valid yet (clock skew allowed: {skew})"),
        ));
    }
    if let Some(end) = not_on_or_after
        && now >= end.saturating_add(skew)
    {
        return Err(Failure::new(
            FailureCode::Expired,
            Some(format!("before {}", stamp(end))),
            Some(stamp(now)),
            format!("{what} has expired (clock skew allowed: {skew})"),
        ));
    }
    Ok(())
}

fn check_issue_instant(
    e: &Element,
    sp: &SpSettings,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Failure> {
    let issued = instant(e, "IssueInstant")?
        .ok_or_else(|| Failure::malformed(format!("the {} has no IssueInstant", e.name)))?;
    let what = format!(
        "the {}'s IssueInstant (accepted for {} minutes)",
        e.name,
        MAX_ISSUE_AGE.whole_minutes()
    );
    check_window(
        &what,
        Some(issued),
        Some(issued.saturating_add(MAX_ISSUE_AGE)),
        sp,
        now,
    )?;
    Ok(issued)
}

pub(super) fn check_assertion(
    a: &Element,
    sp: &SpSettings,
    idp: &IdpSettings,
    now: OffsetDateTime,
) -> Result<Verified, Failure> {
    if a.attr("Version") != Some("2.0") {
        return Err(Failure::malformed("the Assertion is not SAML 2.0"));
    }
    let issuer = a.child(NS_A, "Issuer").map(|i| i.text());
    if issuer.as_deref().map(str::trim) != Some(idp.entity_id.as_str()) {
        return Err(Failure::mismatch(
            FailureCode::WrongIssuer,
            &idp.entity_id,
            issuer.as_deref(),
            "the Assertion's Issuer is not this organisation's IdP",
        ));
    }
    let issued = check_issue_instant(a, sp, now)?;
    let conditions = a.child(NS_A, "Conditions").ok_or_else(|| {
        Failure::mismatch(
            FailureCode::WrongAudience,
            &sp.entity_id,
            None,
            "the Assertion has no Conditions",
        )
    })?;
    let audiences: Vec<_> = conditions
        .children_named(NS_A, "AudienceRestriction")
        .collect();
    for c in conditions.elements() {
        if !matches!(
            c.name.as_ref(),
            "AudienceRestriction" | "OneTimeUse" | "ProxyRestriction"
        ) {
            return Err(Failure::malformed(format!(
                "unsupported condition {}",
                c.name
            )));
        }
    }
    let bad_audience = audiences.iter().find(|r| {
        !r.children_named(NS_A, "Audience")
            .any(|x| x.text().trim() == sp.entity_id)
    });
    if audiences.is_empty() || bad_audience.is_some() {
        let got: Vec<String> = audiences
            .iter()
            .flat_map(|r| {
                r.children_named(NS_A, "Audience")
                    .map(|x| x.text().into_owned())
            })
            .collect();
        return Err(Failure::mismatch(
            FailureCode::WrongAudience,
            &sp.entity_id,
            (!got.is_empty()).then(|| got.join(", ")).as_deref(),
            "the Assertion is meant for another service provider (Audience)",
        ));
    }
    let c_nb = instant(conditions, "NotBefore")?;
    let c_end = instant(conditions, "NotOnOrAfter")?;
    check_window("the Assertion (Conditions)", c_nb, c_end, sp, now)?;

    let subject = a.child(NS_A, "Subject").ok_or_else(|| {
        Failure::new(
            FailureCode::NoSubject,
            None,
            None,
            "the Assertion has no Subject",
        )
    })?;
    let name_id = subject.child(NS_A, "NameID");
    let name_id_value = name_id
        .map(|n| n.text().trim().to_string())
        .unwrap_or_default();
    if name_id_value.is_empty() || subject.children_named(NS_A, "NameID").count() != 1 {
        return Err(Failure::new(
            FailureCode::NoSubject,
            Some("one non-empty NameID".into()),
            None,
            "the Subject has no usable NameID",
        ));
    }
    let (confirmation_end, in_response_to) = check_confirmation(subject, sp, now)?;

    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    for statement in a.children_named(NS_A, "AttributeStatement") {
        for attr in statement.children_named(NS_A, "Attribute") {
            let name = attr
                .attr("Name")
                .ok_or_else(|| Failure::malformed("an Attribute has no Name"))?;
            let values = attr
                .children_named(NS_A, "AttributeValue")
                .map(|v| v.text().into_owned());
            match attributes.iter_mut().find(|(n, _)| n == name) {
                Some((_, existing)) => existing.extend(values),
                None => attributes.push((name.to_string(), values.collect())),
            }
        }
    }
    let skew = skew(sp);
    let mut end = issued.saturating_add(MAX_ISSUE_AGE).min(confirmation_end);
    if let Some(c_end) = c_end {
        end = end.min(c_end);
    }
    Ok(Verified {
        assertion_id: a.attr("ID").unwrap_or_default().to_string(),
        not_on_or_after: end.saturating_add(skew),
        in_response_to: in_response_to.map(str::to_string),
        issuer: idp.entity_id.clone(),
        name_id: name_id_value,
        name_id_format: name_id.and_then(|n| n.attr("Format")).map(str::to_string),
        attributes,
        signed_parts: SignedParts::Assertion,
        certificate_fingerprint: String::new(),
        session_index: a
            .children_named(NS_A, "AuthnStatement")
            .find_map(|s| s.attr("SessionIndex"))
            .map(str::to_string),
    })
}

/// The first bearer SubjectConfirmation whose data passes; else the first failure.
fn check_confirmation<'a>(
    subject: &'a Element,
    sp: &SpSettings,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, Option<&'a str>), Failure> {
    let mut first_error = None;
    for sc in subject.children_named(NS_A, "SubjectConfirmation") {
        if sc.attr("Method") != Some(BEARER) {
            continue;
        }
        let result = (|| {
            let data = sc.child(NS_A, "SubjectConfirmationData").ok_or_else(|| {
                Failure::new(
                    FailureCode::NoSubject,
                    None,
                    None,
                    "no SubjectConfirmationData",
                )
            })?;
            let recipient = data.attr("Recipient");
            if recipient != Some(sp.acs_url.as_str()) {
                return Err(Failure::mismatch(
                    FailureCode::WrongRecipient,
                    &sp.acs_url,
                    recipient,
                    "the Assertion was issued for another ACS URL (Recipient)",
                ));
            }
            let end = instant(data, "NotOnOrAfter")?
                .ok_or_else(|| Failure::malformed("SubjectConfirmationData has no NotOnOrAfter"))?;
            let nb = instant(data, "NotBefore")?;
            check_window("the SubjectConfirmation", nb, Some(end), sp, now)?;
            Ok((end, data.attr("InResponseTo")))
        })();
        match result {
            Ok(ok) => return Ok(ok),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        Failure::new(
            FailureCode::NoSubject,
            Some(BEARER.into()),
            None,
            "the Subject has no bearer SubjectConfirmation",
        )
    }))
}

pub(super) fn check_response(
    r: &Element,
    signed: bool,
    sp: &SpSettings,
    idp: &IdpSettings,
    now: OffsetDateTime,
) -> Result<(), Failure> {
    if r.attr("Version") != Some("2.0") {
        return Err(Failure::malformed("the Response is not SAML 2.0"));
    }
    if let Some(issuer) = r.child(NS_A, "Issuer").map(|i| i.text())
        && issuer.trim() != idp.entity_id
    {
        return Err(Failure::mismatch(
            FailureCode::WrongIssuer,
            &idp.entity_id,
            Some(issuer.as_ref()),
            "the Response's Issuer is not this organisation's IdP",
        ));
    }
    let destination = r.attr("Destination");
    if destination.is_some_and(|d| d != sp.acs_url) || (signed && destination.is_none()) {
        return Err(Failure::mismatch(
            FailureCode::WrongDestination,
            &sp.acs_url,
            destination,
            "the Response was sent to another ACS URL (Destination)",
        ));
    }
    check_issue_instant(r, sp, now)?;
    Ok(())
}

pub(super) fn check_in_response_to(
    on_response: Option<&str>,
    on_assertion: Option<&str>,
    expect: &Expectation,
) -> Result<Option<String>, Failure> {
    if let (Some(r), Some(a)) = (on_response, on_assertion)
        && r != a
    {
        return Err(Failure::mismatch(
            FailureCode::UnexpectedInResponseTo,
            a,
            Some(r),
            "the Response and its Assertion answer different requests",
        ));
    }
    let got = on_assertion.or(on_response);
    match (expect.in_response_to, got) {
        (Some(want), None) => Err(Failure::mismatch(
            FailureCode::MissingInResponseTo,
            want,
            None,
            "the response does not say which sign-in request it answers",
        )),
        (Some(want), Some(got)) if want != got => Err(Failure::mismatch(
            FailureCode::UnexpectedInResponseTo,
            want,
            Some(got),
            "the response answers another sign-in request",
        )),
        (None, Some(got)) => Err(Failure::new(
            FailureCode::UnexpectedInResponseTo,
            None,
            Some(got.to_string()),
            "the response answers a sign-in request that is unknown, expired or already used",
        )),
        (None, None) if !expect.allow_unsolicited => Err(Failure::new(
            FailureCode::Unsolicited,
            Some("a response to a sign-in request".into()),
            Some("an IdP-initiated response".into()),
            "IdP-initiated sign-in is turned off for this organisation",
        )),
        _ => Ok(got.map(str::to_string)),
    }
}
