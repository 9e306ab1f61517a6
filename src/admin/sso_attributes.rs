//! The SSO page's "Attributes" card: which SAML attributes carry the email, names and role
//! (for IdPs other than Entra), shown with the default names, and its form.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::auth::Admin;
use super::sso::{Flash, render_with};
use super::view::{self, Nav, or_page};
use crate::saml::attributes::{self, Field};
use crate::state::AppState;
use crate::store::admin as admin_store;
use crate::store::orgs::Org;
use crate::store::saml_attributes::{self as attr_store, AttributeMap};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/orgs/{slug}/sso/attributes", web::post().to(save));
}

/// One field as the card shows it.
pub struct AttributeRow {
    pub key: &'static str,
    pub label: &'static str,
    /// The chosen name; empty = the defaults.
    pub value: String,
    pub defaults: String,
}

pub struct AttributesCard {
    pub rows: Vec<AttributeRow>,
    pub custom: bool,
}

pub fn card(map: &AttributeMap) -> AttributesCard {
    AttributesCard {
        rows: Field::ALL
            .iter()
            .map(|f| AttributeRow {
                key: f.key(),
                label: f.label(),
                value: f.get(map).unwrap_or_default().to_string(),
                defaults: f.defaults_text(),
            })
            .collect(),
        custom: !map.is_default(),
    }
}

#[derive(Deserialize)]
struct AttributesForm {
    email: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    role: Option<String>,
}

impl AttributesForm {
    /// The mapping typed (an empty field = the defaults), or the first bad name.
    fn parse(&self) -> Result<AttributeMap, String> {
        let mut map = AttributeMap::default();
        for field in Field::ALL {
            let raw = match field {
                Field::Email => &self.email,
                Field::GivenName => &self.given_name,
                Field::Surname => &self.surname,
                Field::DisplayName => &self.display_name,
                Field::Role => &self.role,
            };
            let name = attributes::parse_name(field, raw.as_deref().unwrap_or_default())?;
            field.set(&mut map, name);
        }
        Ok(map)
    }
}

async fn save(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, form): (Org, AttributesForm) = or_page!(admin.org_form(&state, &slug, &body).await);
    let map = match form.parse() {
        Ok(m) => m,
        Err(e) => {
            let nav = Nav::new(&admin, Some(&org), "sso")
                .error(format!("The attributes were not saved: {e}."));
            let code = StatusCode::UNPROCESSABLE_ENTITY;
            return render_with(&state, org, nav, code, Flash::default()).await;
        }
    };
    let entry = admin.audit(
        &state,
        Some(org.id),
        "org.saml.attributes",
        Some(&org.slug),
        Some(attributes::describe(&map)),
    );
    let id = org.id;
    match state
        .store
        .write(move |c| {
            attr_store::set(c, id, &map, &entry.at)?;
            admin_store::audit(c, &entry)
        })
        .await
    {
        Ok(()) => view::see_other(&format!("/admin/orgs/{}/sso", org.slug), Some("saved")),
        Err(e) => view::store_failed(&e),
    }
}
