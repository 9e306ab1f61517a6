//! `idgate org saml-attributes SLUG [--email NAME] [--given-name NAME] …`: which SAML
//! attributes the org reads for the email, names and role; with no flag, shows them.
//! `default` restores a field's default names; `--reset` all of them.

use clap::Args;

use super::now;
use crate::error::{Error, Result};
use crate::saml::attributes::{self, Field};
use crate::store::saml_attributes::{self as store, AttributeMap};
use crate::store::{Store, orgs};

#[derive(Args, Debug)]
pub struct SamlAttributesArgs {
    pub slug: String,
    /// The attribute carrying the email (e.g. `urn:oid:0.9.2342.19200300.100.1.3`), or
    /// `NameID` for the subject's NameID whatever its format; `default` for the defaults.
    #[arg(long, value_name = "NAME")]
    pub email: Option<String>,
    /// The attribute carrying the given name (`default` for the defaults).
    #[arg(long, value_name = "NAME")]
    pub given_name: Option<String>,
    /// The attribute carrying the surname (`default` for the defaults).
    #[arg(long, value_name = "NAME")]
    pub surname: Option<String>,
    /// The attribute carrying the display name (`default` for the defaults).
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    /// The attribute carrying the role (`default` for the defaults).
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,
    /// Every field back to the default names.
    #[arg(long, conflicts_with_all = ["email", "given_name", "surname", "display_name", "role"])]
    pub reset: bool,
}

impl SamlAttributesArgs {
    fn given(&self, field: Field) -> Option<&str> {
        match field {
            Field::Email => self.email.as_deref(),
            Field::GivenName => self.given_name.as_deref(),
            Field::Surname => self.surname.as_deref(),
            Field::DisplayName => self.display_name.as_deref(),
            Field::Role => self.role.as_deref(),
        }
    }
}

/// The mapping after the flags, or the first bad name (nothing is saved then).
fn apply(args: &SamlAttributesArgs, mut map: AttributeMap) -> Result<AttributeMap> {
    if args.reset {
        return Ok(AttributeMap::default());
    }
    for field in Field::ALL {
        let Some(raw) = args.given(field) else {
            continue;
        };
        if raw.trim().is_empty() {
            return Err(Error::Invalid(format!(
                "--{}: give an attribute name, or `default` for the default names",
                field.key().replace('_', "-")
            )));
        }
        let name = attributes::parse_name(field, raw).map_err(Error::Invalid)?;
        field.set(&mut map, name);
    }
    Ok(map)
}

pub fn command(store: &Store, args: &SamlAttributesArgs) -> Result<i32> {
    let changes = args.reset || Field::ALL.iter().any(|f| args.given(*f).is_some());
    let map = store.write_now(|c| {
        let org = orgs::require_org(c, &args.slug)?;
        let current = store::get(c, org.id)?;
        let map = apply(args, current.clone())?;
        if changes && map != current {
            store::set(c, org.id, &map, &now())?;
            orgs::audit(
                c,
                Some(org.id),
                &now(),
                "cli",
                "org.saml.attributes",
                Some(&args.slug),
                Some(&attributes::describe(&map)),
            )?;
        }
        Ok(map)
    })?;
    print(&map);
    Ok(0)
}

/// One line per field: the chosen name, or `default (…the names read…)`.
pub fn print(map: &AttributeMap) {
    for field in Field::ALL {
        let flag = format!("{}:", field.key().replace('_', " "));
        match field.get(map) {
            Some(name) => println!("{flag:<14} {name}"),
            None => println!("{flag:<14} default ({})", field.defaults_text()),
        }
    }
}
