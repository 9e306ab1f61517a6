//! `idgate org oidc SLUG …` (the org's Microsoft Entra OIDC connection) and
//! `idgate org sso SLUG saml|oidc` (which one the org signs in with).

use clap::{Args, ValueEnum};

use super::now;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::oidc::{self, setup};
use crate::store::{Store, oidc as store, orgs};

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["tenant", "idgate_app"])))]
pub struct OidcArgs {
    pub slug: String,
    /// The Directory (tenant) ID, a tenant domain (contoso.onmicrosoft.com) or the
    /// authority URL (https://login.microsoftonline.com/{tenant}/v2.0).
    #[arg(long, requires = "client_id")]
    pub tenant: Option<String>,
    /// The Application (client) ID of the customer's Entra app.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read the client secret's Value from stdin.
    #[arg(long, conflicts_with = "certificate")]
    pub client_secret_stdin: bool,
    /// Generate a key pair and print its certificate (PEM) to upload in Entra
    /// (Certificates & secrets); idgate signs in with private_key_jwt.
    #[arg(long)]
    pub certificate: bool,
    /// When the client secret expires (YYYY-MM-DD), for the warning 30 days before.
    #[arg(long, value_name = "DATE")]
    pub secret_expires: Option<String>,
    /// Use the operator's multi-tenant app ("Connect Microsoft Entra" in the admin UI binds
    /// the tenant).
    #[arg(long, conflicts_with_all = ["tenant", "client_id", "certificate", "client_secret_stdin"])]
    pub idgate_app: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Protocol {
    Saml,
    Oidc,
}

/// Configures (and activates) an org's OIDC connection.
pub fn configure(store: &Store, config: &Config, a: &OidcArgs) -> Result<i32> {
    let org = store.read_now(|c| orgs::require_org(c, &a.slug))?;
    let existing = store.read_now(|c| store::connection(c, org.id))?;
    let sealer = crate::seal::Sealer::for_data_dir(&config.data_dir)?;
    let t = Clock::System.now();
    let (conn, certificate, warnings) = if a.idgate_app {
        if config.oidc_app.is_none() {
            eprintln!(
                "warning: oidc_app_client_id is not configured on this server; Connect will not \
                 work until it is"
            );
        }
        (
            setup::idgate_app(org.id, existing.as_ref(), t),
            None,
            Vec::new(),
        )
    } else {
        let tenant_input = a.tenant.clone().unwrap_or_default();
        let fetcher = oidc::http::Fetcher::new(&config.oidc_authority);
        let tenant_id = actix_web::rt::System::new()
            .block_on(async move { setup::resolve_tenant(&fetcher, &tenant_input).await })
            .map_err(Error::Invalid)?;
        let secret = if a.client_secret_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Error::Invalid(format!("cannot read the secret from stdin: {e}")))?;
            setup::Secret::Value(line.trim_end_matches(['\r', '\n']).to_string())
        } else if a.certificate {
            setup::Secret::NewCertificate
        } else {
            setup::Secret::Keep
        };
        let input = setup::Customer {
            tenant_id,
            client_id: a.client_id.clone().unwrap_or_default(),
            secret,
            secret_expires: setup::parse_expiry(a.secret_expires.as_deref().unwrap_or(""))
                .map_err(Error::Invalid)?,
        };
        let p = setup::customer(org.id, &org.slug, input, existing.as_ref(), &sealer, t)
            .map_err(Error::Invalid)?;
        (p.connection, p.certificate_pem, p.warnings)
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let stamp = now();
    let saved = store.write_now(|c| {
        if !store::save(c, &conn)? {
            return Ok(false);
        }
        orgs::audit(
            c,
            Some(org.id),
            &stamp,
            "cli",
            "oidc.configure",
            Some(&conn.mode),
            conn.tenant_id.as_deref(),
        )?;
        Ok(true)
    })?;
    if !saved {
        return Err(Error::Invalid(
            "that tenant is already connected to another organization".into(),
        ));
    }
    if let Some(pem) = certificate {
        print!("{pem}");
        eprintln!(
            "upload this certificate in Entra: App registrations → your app → Certificates & secrets → Certificates → Upload (save it as idgate-{}.cer)",
            org.slug
        );
    }
    eprintln!(
        "{} now signs in with Microsoft Entra over OpenID Connect. In Entra: redirect URI {} \
         under platform Web; `idgate org sso {} saml` switches back.",
        org.slug,
        oidc::redirect_uri(&config.public_url),
        org.slug
    );
    Ok(0)
}

/// Switches the org between SAML and OIDC (users are kept).
pub fn switch(store: &Store, slug: &str, protocol: Protocol) -> Result<i32> {
    let stamp = now();
    let oidc = matches!(protocol, Protocol::Oidc);
    let done = store.write_now(|c| {
        let org = orgs::require_org(c, slug)?;
        if !store::set_active(c, org.id, oidc, &stamp)? {
            return Ok(false);
        }
        orgs::audit(
            c,
            Some(org.id),
            &stamp,
            "cli",
            "sso.protocol",
            Some(if oidc { "oidc" } else { "saml" }),
            None,
        )?;
        Ok(true)
    })?;
    if !done {
        eprintln!(
            "{slug} has no OIDC connection: configure one with `idgate org oidc {slug} …` first"
        );
        return Ok(1);
    }
    eprintln!(
        "{slug} signs in with {}",
        if oidc { "OIDC" } else { "SAML" }
    );
    Ok(0)
}

/// The `org show` lines of the OIDC connection.
pub fn print(config: &Config, conn: Option<&store::OidcConnection>) {
    let Some(c) = conn else {
        println!("sso:               saml");
        return;
    };
    println!(
        "sso:               {}",
        if c.active { "oidc" } else { "saml" }
    );
    println!(
        "oidc mode:         {}",
        if c.mode == "idgate_app" {
            "idgate app"
        } else {
            "customer app"
        }
    );
    println!(
        "oidc tenant:       {}",
        c.tenant_id.as_deref().unwrap_or("(not connected yet)")
    );
    let client = match c.mode.as_str() {
        "idgate_app" => config.oidc_app.as_ref().map(|a| a.client_id.clone()),
        _ => c.client_id.clone(),
    };
    println!(
        "oidc client id:    {}",
        client.as_deref().unwrap_or("(not configured)")
    );
    println!("oidc credential:   {}", c.credential);
    if let Some(e) = &c.secret_expires {
        println!("oidc expires:      {e}");
    }
    println!(
        "oidc redirect uri: {}",
        oidc::redirect_uri(&config.public_url)
    );
}
