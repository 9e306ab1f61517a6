//! `idgate org …`: organizations, their settings, domains, role mappings and IdP.

use clap::{Args, Subcommand};

use super::{OnOff, now};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{OrgWrite, Source};
use crate::identity;
use crate::store::{Store, orgs};

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        /// A domain of the org's email addresses (repeatable).
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// List organizations.
    List,
    /// Show an organization's settings, domains, role mappings and tokens.
    Show { slug: String },
    /// Change an organization's settings.
    Set(SetArgs),
    /// Map an IdP role value to a role (the value is trimmed and lowercased).
    RoleMap {
        slug: String,
        idp_value: String,
        role: String,
    },
    /// Remove a role mapping.
    RoleUnmap { slug: String, idp_value: String },
    /// Configure the org's SAML identity provider from Entra's Federation Metadata XML (or
    /// the federated certificate XML), or by hand.
    Saml(super::saml::SamlArgs),
    /// Sign in with Microsoft Entra over OpenID Connect: the customer's own app (tenant,
    /// client id, secret or certificate) or the operator's multi-tenant app.
    Oidc(super::oidc::OidcArgs),
    /// Which SAML attributes carry the email, names and role (any SAML 2.0 IdP); with no
    /// flag, show them.
    SamlAttributes(super::saml_attributes::SamlAttributesArgs),
    /// The org's SAML SP key pairs (signed AuthnRequests, encrypted assertions): list,
    /// rotate, print a certificate.
    #[command(subcommand, name = "saml-keys")]
    SamlKeys(super::saml_keys::SamlKeysCommand),
    /// Choose how the org signs in: saml or oidc (users are kept).
    Sso {
        slug: String,
        protocol: super::oidc::Protocol,
    },
    /// Manage the org's email domains.
    #[command(subcommand)]
    Domain(DomainCommand),
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Add a domain (a domain belongs to one org gateway-wide).
    Add { slug: String, domain: String },
    /// Remove a domain.
    Remove { slug: String, domain: String },
    /// Refuse password sign-in for every address of the domain (SSO only), or allow it again.
    SsoOnly {
        slug: String,
        domain: String,
        state: OnOff,
    },
}

#[derive(Args, Debug)]
pub struct SetArgs {
    pub slug: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub scim: Option<OnOff>,
    #[arg(long)]
    pub group_sync: Option<OnOff>,
    #[arg(long)]
    pub strict_attributes: Option<OnOff>,
    /// `roles`, or a custom attribute such as `roleName` or `urn:…:User:roleName`.
    #[arg(long, value_name = "roles|NAME")]
    pub role_attribute: Option<String>,
    /// Role for users whose value has no mapping (`none` clears it).
    #[arg(long, value_name = "ROLE")]
    pub default_role: Option<String>,
    /// An attribute every user must carry (repeatable; replaces the list). `--require none` clears it.
    #[arg(long = "require", value_name = "ATTRIBUTE")]
    pub require: Vec<String>,
    /// Accept IdP-initiated sign-in (Entra's "Test" button and My Apps tile).
    #[arg(long)]
    pub idp_initiated: Option<OnOff>,
    /// Create users at their first SAML sign-in when SCIM has not provisioned them.
    #[arg(long)]
    pub jit: Option<OnOff>,
    /// Allowed clock difference for SAML time checks, in seconds (0–600).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(0..=600))]
    pub clock_skew: Option<i64>,
    /// Sign SAML AuthnRequests (RSA-SHA256) with an SP key idgate generates; upload its
    /// certificate as Entra's "verification certificate".
    #[arg(long)]
    pub sign_requests: Option<OnOff>,
    /// Require encrypted assertions (Entra's "Token encryption") with an SP key idgate
    /// generates; upload its certificate in Entra.
    #[arg(long)]
    pub encrypt_assertions: Option<OnOff>,
}

pub fn org_command(store: &Store, config: &Config, cmd: &OrgCommand) -> Result<i32> {
    match cmd {
        OrgCommand::Create {
            slug,
            name,
            domains,
        } => {
            if !identity::is_slug(slug) {
                return Err(Error::Invalid(format!(
                    "slug {slug:?}: use 1-63 lowercase letters, digits and hyphens"
                )));
            }
            let domains = domains
                .iter()
                .map(|d| {
                    identity::normalize_domain(d)
                        .ok_or_else(|| Error::Invalid(format!("{d:?} is not a domain name")))
                })
                .collect::<Result<Vec<_>>>()?;
            let org = store.write_now(|c| {
                let org = orgs::create_org(c, slug, name, &domains, &now())?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.create",
                    Some(slug),
                    None,
                )?;
                OrgWrite::created(c, org.id, &Source::cli(), &now())?;
                Ok(org)
            })?;
            println!("{}", org.slug);
            eprintln!(
                "created org {:?}. Next: idgate scim-token create --org {} --name entra",
                org.name, org.slug
            );
            Ok(0)
        }
        OrgCommand::List => {
            let list = store.read_now(orgs::list_orgs)?;
            for org in list {
                let domains = store.read_now(|c| orgs::domains(c, org.id))?;
                let names: Vec<_> = domains.iter().map(|d| d.domain.as_str()).collect();
                println!("{}\t{}\t{}", org.slug, org.name, names.join(","));
            }
            Ok(0)
        }
        OrgCommand::Show { slug } => {
            let (org, domains, maps, tokens, idp, oidc) = store.read_now(|c| {
                let org = orgs::require_org(c, slug)?;
                Ok((
                    org.clone(),
                    orgs::domains(c, org.id)?,
                    orgs::role_mappings(c, org.id)?,
                    orgs::list_tokens(c, org.id)?,
                    crate::store::saml::idp(c, org.id)?,
                    crate::store::oidc::connection(c, org.id)?,
                ))
            })?;
            print_org(config, &org, &domains, &maps, &tokens);
            print_idp(config, &org, idp.as_ref());
            super::saml_keys::show(store, org.id)?;
            super::oidc::print(config, oidc.as_ref());
            Ok(0)
        }
        OrgCommand::Set(args) => {
            let code = set_org(store, args)?;
            super::saml_keys::switches(
                store,
                config,
                &args.slug,
                args.sign_requests,
                args.encrypt_assertions,
            )?;
            Ok(code)
        }
        OrgCommand::SamlKeys(cmd) => super::saml_keys::command(store, config, cmd),
        OrgCommand::Saml(args) => super::saml::configure(store, config, args),
        OrgCommand::Oidc(args) => super::oidc::configure(store, config, args),
        OrgCommand::SamlAttributes(args) => super::saml_attributes::command(store, args),
        OrgCommand::Sso { slug, protocol } => super::oidc::switch(store, slug, *protocol),
        OrgCommand::Domain(cmd) => domain_command(store, cmd),
        OrgCommand::RoleMap {
            slug,
            idp_value,
            role,
        } => {
            let key = idp_value.trim().to_lowercase();
            if key.is_empty() || role.trim().is_empty() {
                return Err(Error::Invalid(
                    "the IdP value and the role must not be empty".into(),
                ));
            }
            let n = store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                let change = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
                orgs::set_role_mapping(c, org.id, &key, role.trim())?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.role-map",
                    Some(&key),
                    Some(role),
                )?;
                let changed = orgs::reresolve_roles(c, org.id)?;
                change.roles(&changed)?;
                change.finish()?;
                Ok(changed.len())
            })?;
            eprintln!("{key:?} → {:?}; {n} users re-resolved", role.trim());
            Ok(0)
        }
        OrgCommand::RoleUnmap { slug, idp_value } => {
            let key = idp_value.trim().to_lowercase();
            let removed = store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                let change = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
                let removed = orgs::remove_role_mapping(c, org.id, &key)?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.role-unmap",
                    Some(&key),
                    None,
                )?;
                change.roles(&orgs::reresolve_roles(c, org.id)?)?;
                change.finish()?;
                Ok(removed)
            })?;
            if removed {
                eprintln!("removed the mapping of {key:?}");
                Ok(0)
            } else {
                eprintln!("no mapping for {key:?}");
                Ok(1)
            }
        }
    }
}

fn print_org(
    config: &Config,
    org: &orgs::Org,
    domains: &[orgs::Domain],
    maps: &[(String, String)],
    tokens: &[orgs::TokenInfo],
) {
    let on = |b: bool| if b { "on" } else { "off" };
    println!("slug:              {}", org.slug);
    println!("name:              {}", org.name);
    println!("created:           {}", org.created);
    for d in domains {
        println!(
            "domain:            {}{}",
            d.domain,
            if d.sso_only { " (SSO only)" } else { "" }
        );
    }
    println!("scim:              {}", on(org.scim_enabled));
    println!("scim tenant url:   {}", config.scim_base_url());
    println!("group sync:        {}", on(org.group_sync));
    println!("strict attributes: {}", on(org.strict_attributes));
    println!("role attribute:    {}", org.role_attribute);
    println!(
        "default role:      {}",
        org.default_role.as_deref().unwrap_or("(none)")
    );
    println!(
        "required:          {}",
        if org.required_attrs.is_empty() {
            "(none)".to_string()
        } else {
            org.required_attrs.join(", ")
        }
    );
    for (idp, role) in maps {
        println!("role map:          {idp} → {role}");
    }
    for t in tokens {
        let state = match &t.revoked {
            Some(at) => format!("revoked {at}"),
            None => format!("last used {}", t.last_used.as_deref().unwrap_or("never")),
        };
        println!(
            "token:             {} (created {}, {state})",
            t.name, t.created
        );
    }
}

fn print_idp(config: &Config, org: &orgs::Org, idp: Option<&crate::store::saml::IdpRecord>) {
    let on = |b: bool| if b { "on" } else { "off" };
    let base = &config.public_url;
    println!("sp entity id:      {base}/saml/{}", org.slug);
    println!("sp acs url:        {base}/saml/{}/acs", org.slug);
    println!("idp-initiated:     {}", on(org.idp_initiated));
    println!("jit:               {}", on(org.jit));
    println!("clock skew:        {} s", org.clock_skew_secs);
    match idp {
        None => println!("idp:               (not configured)"),
        Some(idp) => {
            println!(
                "idp entity id:     {} ({}, {})",
                idp.entity_id, idp.source, idp.updated
            );
            println!("idp sso url:       {}", idp.sso_url);
            for c in &idp.certificates {
                println!(
                    "idp certificate:   {} (until {})",
                    c.fingerprint, c.not_after
                );
            }
        }
    }
}

fn set_org(store: &Store, a: &SetArgs) -> Result<i32> {
    let change = orgs::SettingsChange {
        name: a.name.clone(),
        scim_enabled: a.scim.map(bool::from),
        group_sync: a.group_sync.map(bool::from),
        strict_attributes: a.strict_attributes.map(bool::from),
        role_attribute: match &a.role_attribute {
            Some(r) if r.trim().is_empty() || r.contains(char::is_whitespace) => {
                return Err(Error::Invalid(format!(
                    "role attribute {r:?} is not an attribute name"
                )));
            }
            other => other.clone(),
        },
        default_role: a.default_role.as_ref().map(|r| {
            let r = r.trim();
            (!r.is_empty() && r != "none").then(|| r.to_string())
        }),
        idp_initiated: a.idp_initiated.map(bool::from),
        jit: a.jit.map(bool::from),
        clock_skew_secs: a.clock_skew,
        required_attrs: (!a.require.is_empty()).then(|| {
            a.require
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty() && r != "none")
                .collect()
        }),
    };
    store.write_now(|c| {
        let org = orgs::require_org(c, &a.slug)?;
        let write = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
        orgs::update_settings(c, org.id, &change)?;
        orgs::audit(
            c,
            Some(org.id),
            &now(),
            "cli",
            "org.set",
            Some(&a.slug),
            Some(&format!("{change:?}")),
        )?;
        if change.role_attribute.is_some() || change.default_role.is_some() {
            write.roles(&orgs::reresolve_roles(c, org.id)?)?;
        }
        write.finish()
    })?;
    eprintln!("updated {}", a.slug);
    Ok(0)
}

fn domain_command(store: &Store, cmd: &DomainCommand) -> Result<i32> {
    let domain_of = |d: &str| {
        identity::normalize_domain(d)
            .ok_or_else(|| Error::Invalid(format!("{d:?} is not a domain name")))
    };
    match cmd {
        DomainCommand::Add { slug, domain } => {
            let d = domain_of(domain)?;
            store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                let write = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
                orgs::add_domain(c, org.id, &d)?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.domain.add",
                    Some(&d),
                    None,
                )?;
                write.finish()
            })?;
            eprintln!("{d} now belongs to {slug}");
            Ok(0)
        }
        DomainCommand::Remove { slug, domain } => {
            let d = domain_of(domain)?;
            let removed = store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                let write = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
                let removed = orgs::remove_domain(c, org.id, &d)?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.domain.remove",
                    Some(&d),
                    None,
                )?;
                write.finish()?;
                Ok(removed)
            })?;
            if removed {
                eprintln!("removed {d} from {slug}");
                Ok(0)
            } else {
                eprintln!("{slug} has no domain {d}");
                Ok(1)
            }
        }
        DomainCommand::SsoOnly {
            slug,
            domain,
            state,
        } => {
            let d = domain_of(domain)?;
            let on = bool::from(*state);
            let changed = store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                let write = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
                let changed = orgs::set_sso_only(c, org.id, &d, on)?;
                let detail = if on { "on" } else { "off" };
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.domain.sso-only",
                    Some(&d),
                    Some(detail),
                )?;
                write.finish()?;
                Ok(changed)
            })?;
            if !changed {
                eprintln!("{slug} has no domain {d}");
                return Ok(1);
            }
            if on {
                eprintln!("{d}: password sign-in refused, SSO only");
            } else {
                eprintln!("{d}: password sign-in allowed");
            }
            Ok(0)
        }
    }
}
