//! The SCIM schemas this server supports (RFC 7643 §4, §8.7.1), as static data.
//!
//! One table drives everything that depends on an attribute's definition: canonical
//! attribute-name casing, the `/Schemas` discovery document, filter typing and
//! case-sensitivity, PATCH path resolution and strict-mode validation. What is listed here
//! is exactly what is stored and returned.

/// SCIM attribute data types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attr],
    pub description: &'static str,
}

impl Attr {
    /// The sub-attribute named `name`, compared case-insensitively (RFC 7643 §2.1).
    pub fn sub(&'static self, name: &str) -> Option<&'static Attr> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

/// A schema (RFC 7643 §7): its URN and its top-level attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attr],
}

impl Schema {
    /// The attribute named `name`, compared case-insensitively.
    pub fn attr(&'static self, name: &str) -> Option<&'static Attr> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

const fn base(name: &'static str, ty: AttrType, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    base(name, AttrType::String, description)
}

const fn boolean(name: &'static str, description: &'static str) -> Attr {
    base(name, AttrType::Boolean, description)
}

const fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> Attr {
    let mut a = base(name, AttrType::Reference, description);
    a.reference_types = types;
    a
}

const fn complex(name: &'static str, subs: &'static [Attr], description: &'static str) -> Attr {
    let mut a = base(name, AttrType::Complex, description);
    a.sub_attributes = subs;
    a
}

const fn multi(mut a: Attr) -> Attr {
    a.multi_valued = true;
    a
}

const fn typed(mut a: Attr, canonical: &'static [&'static str]) -> Attr {
    a.canonical_values = canonical;
    a
}

const fn exact(mut a: Attr) -> Attr {
    a.case_exact = true;
    a
}

const fn required(mut a: Attr) -> Attr {
    a.required = true;
    a
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn immutable(mut a: Attr) -> Attr {
    a.mutability = Mutability::Immutable;
    a
}

const fn always(mut a: Attr) -> Attr {
    a.returned = Returned::Always;
    a
}

const fn server_unique(mut a: Attr) -> Attr {
    a.uniqueness = Uniqueness::Server;
    a
}

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// idgate's read-only User extension carrying the role resolved from the org's role
/// attribute and mapping table (DESIGN "Roles"). Output only; ignored on input.
pub const IDGATE_URN: &str = "urn:idgate:params:scim:schemas:extension:2.0:User";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

const EMAIL_TYPES: &[&str] = &["work", "home", "other"];
const PHONE_TYPES: &[&str] = &["work", "home", "mobile", "fax", "pager", "other"];
const ADDRESS_TYPES: &[&str] = &["work", "home", "other"];

/// A multi-valued "value/display/type/primary" attribute (emails, phoneNumbers, roles …).
const fn plural(name: &'static str, subs: &'static [Attr], description: &'static str) -> Attr {
    multi(complex(name, subs, description))
}

const EMAIL_SUBS: &[Attr] = &[
    string("value", "Email address for the User."),
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    typed(
        string("type", "A label indicating the attribute's function."),
        EMAIL_TYPES,
    ),
    boolean(
        "primary",
        "Indicates the 'primary' or preferred attribute value.",
    ),
];

const PHONE_SUBS: &[Attr] = &[
    string("value", "Phone number of the User."),
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    typed(
        string("type", "A label indicating the attribute's function."),
        PHONE_TYPES,
    ),
    boolean(
        "primary",
        "Indicates the 'primary' or preferred attribute value.",
    ),
];

const ROLE_SUBS: &[Attr] = &[
    string("value", "The value of a role."),
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    string("type", "A label indicating the attribute's function."),
    boolean(
        "primary",
        "Indicates the 'primary' or preferred attribute value.",
    ),
];

const ADDRESS_SUBS: &[Attr] = &[
    string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    string("streetAddress", "The full street address component."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component."),
    typed(
        string("type", "A label indicating the attribute's function."),
        ADDRESS_TYPES,
    ),
    boolean(
        "primary",
        "Indicates the 'primary' or preferred attribute value.",
    ),
];

const NAME_SUBS: &[Attr] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name of the User."),
    string("givenName", "The given name of the User."),
    string("middleName", "The middle name(s) of the User."),
    string("honorificPrefix", "The honorific prefix(es) of the User."),
    string("honorificSuffix", "The honorific suffix(es) of the User."),
];

const MANAGER_SUBS: &[Attr] = &[
    reference(
        "value",
        &["User"],
        "The id of the SCIM resource representing the User's manager.",
    ),
    read_only(reference(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the User's manager.",
    )),
    read_only(string(
        "displayName",
        "The displayName of the User's manager.",
    )),
];

const MEMBER_SUBS: &[Attr] = &[
    immutable(string("value", "Identifier of the member of this Group.")),
    immutable(reference(
        "$ref",
        &["User", "Group"],
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    )),
    immutable(string("display", "A human-readable name of the member.")),
    immutable(typed(
        string(
            "type",
            "A label indicating the type of resource, e.g., 'User' or 'Group'.",
        ),
        &["User", "Group"],
    )),
];

/// The core User schema, limited to what this server stores and returns.
pub static USER: Schema = Schema {
    id: USER_URN,
    name: "User",
    description: "User Account",
    attributes: &[
        required(server_unique(string(
            "userName",
            "Unique identifier for the User, typically used to sign in. Unique per organization, case-insensitively.",
        ))),
        complex("name", NAME_SUBS, "The components of the user's real name."),
        string(
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        string(
            "nickName",
            "The casual way to address the user in real life.",
        ),
        reference(
            "profileUrl",
            &["external"],
            "A fully qualified URL pointing to a page representing the User's online profile.",
        ),
        string("title", "The user's title, such as \"Vice President\"."),
        string(
            "userType",
            "Used to identify the relationship between the organization and the user.",
        ),
        string(
            "preferredLanguage",
            "Indicates the User's preferred written or spoken language.",
        ),
        string(
            "locale",
            "Used to indicate the User's default location for localization.",
        ),
        string(
            "timezone",
            "The User's time zone in the 'Olson' time zone database format.",
        ),
        boolean(
            "active",
            "A Boolean value indicating the User's administrative status.",
        ),
        plural("emails", EMAIL_SUBS, "Email addresses for the user."),
        plural("phoneNumbers", PHONE_SUBS, "Phone numbers for the User."),
        plural(
            "addresses",
            ADDRESS_SUBS,
            "A physical mailing address for this User.",
        ),
        plural("roles", ROLE_SUBS, "A list of roles for the User."),
    ],
};

/// The enterprise User extension (RFC 7643 §4.3).
pub static ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        string(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person.",
        ),
        string("costCenter", "Identifies the name of a cost center."),
        string("organization", "Identifies the name of an organization."),
        string("division", "Identifies the name of a division."),
        string("department", "Identifies the name of a department."),
        complex("manager", MANAGER_SUBS, "The User's manager."),
    ],
};

/// The core Group schema.
pub static GROUP: Schema = Schema {
    id: GROUP_URN,
    name: "Group",
    description: "Group",
    attributes: &[
        required(server_unique(string(
            "displayName",
            "A human-readable name for the Group. Unique per organization, case-insensitively.",
        ))),
        multi(complex(
            "members",
            MEMBER_SUBS,
            "A list of members of the Group.",
        )),
    ],
};

/// The idgate User extension (output only).
pub static IDGATE_USER: Schema = Schema {
    id: IDGATE_URN,
    name: "IdgateUser",
    description: "The role idgate resolved for the user",
    attributes: &[
        read_only(string(
            "roleValue",
            "The raw role value the identity provider sent, in the org's role attribute.",
        )),
        read_only(string(
            "role",
            "The role idgate resolved: the org's mapping of the raw value, else the org's default role.",
        )),
    ],
};

/// Attributes common to every resource (RFC 7643 §3.1). Not part of any schema document.
pub static COMMON: Schema = Schema {
    id: "",
    name: "Common",
    description: "Common attributes",
    attributes: &[
        always(read_only(exact(server_unique(string(
            "id",
            "Unique identifier for the SCIM resource, issued by the service provider.",
        ))))),
        exact(string(
            "externalId",
            "An identifier for the resource as defined by the provisioning client.",
        )),
        read_only(complex("meta", META_SUBS, "Resource metadata.")),
    ],
};

const META_SUBS: &[Attr] = &[
    read_only(exact(string(
        "resourceType",
        "The name of the resource type of the resource.",
    ))),
    read_only(base(
        "created",
        AttrType::DateTime,
        "The DateTime that the resource was added to the service provider.",
    )),
    read_only(base(
        "lastModified",
        AttrType::DateTime,
        "The most recent DateTime that the details of this resource were updated.",
    )),
    read_only(exact(reference(
        "location",
        &["uri"],
        "The URI of the resource being returned.",
    ))),
    read_only(exact(string(
        "version",
        "The version (ETag) of the resource being returned.",
    ))),
];

/// The two resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    pub fn core(self) -> &'static Schema {
        match self {
            Self::User => &USER,
            Self::Group => &GROUP,
        }
    }

    pub fn extensions(self) -> &'static [&'static Schema] {
        static USER_EXTENSIONS: [&Schema; 1] = [&ENTERPRISE_USER];
        match self {
            Self::User => &USER_EXTENSIONS,
            Self::Group => &[],
        }
    }

    /// The extension schema whose URN equals `urn` (case-insensitively).
    pub fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extensions()
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// Where a resolved top-level attribute lives.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr {
    /// The schema that defines it: `COMMON`, the core schema, or an extension.
    pub schema: &'static Schema,
    pub attr: &'static Attr,
}

impl ResolvedAttr {
    /// True when the attribute is stored under its extension URN key in the JSON document.
    pub fn in_extension(&self) -> bool {
        !self.schema.id.is_empty() && self.schema.id != USER_URN && self.schema.id != GROUP_URN
    }
}

/// Resolves an attribute name as it may appear in a filter, a PATCH path or a request body:
/// `userName`, `USERNAME`, `urn:…:core:2.0:User:userName`,
/// `urn:…:enterprise:2.0:User:department`. Returns the attribute and, when the name was
/// dotted after an URN (`urn:…:User:name.givenName`), the remainder after the first dot is
/// left to the caller (this function only takes a top-level name).
pub fn resolve(kind: ResourceKind, name: &str) -> Option<ResolvedAttr> {
    if let Some((urn, attr)) = split_urn(kind, name) {
        let schema = if urn.eq_ignore_ascii_case(kind.core().id) {
            kind.core()
        } else {
            kind.extension(urn)?
        };
        return schema
            .attr(attr)
            .map(|attr| ResolvedAttr { schema, attr })
            .or_else(|| {
                // Common attributes may also be qualified with the core URN.
                (schema.id == kind.core().id)
                    .then(|| COMMON.attr(attr))
                    .flatten()
                    .map(|attr| ResolvedAttr {
                        schema: &COMMON,
                        attr,
                    })
            });
    }
    if let Some(attr) = COMMON.attr(name) {
        return Some(ResolvedAttr {
            schema: &COMMON,
            attr,
        });
    }
    kind.core().attr(name).map(|attr| ResolvedAttr {
        schema: kind.core(),
        attr,
    })
}

/// Splits `urn:…:Schema:attr` into (`urn:…:Schema`, `attr`) when the prefix is one of the
/// schemas of `kind`. The attribute part may still contain a dotted sub-attribute.
pub fn split_urn(kind: ResourceKind, name: &str) -> Option<(&str, &str)> {
    if !name
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        return None;
    }
    std::iter::once(kind.core())
        .chain(kind.extensions().iter().copied())
        .find_map(|schema| {
            let rest = strip_prefix_ignore_case(name, schema.id)?.strip_prefix(':')?;
            Some((&name[..schema.id.len()], rest))
        })
}

/// `s` without `prefix`, compared ASCII-case-insensitively; `None` when `s` does not start with
/// it (also when its length would cut a multibyte character of `s`).
pub fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_case_insensitively_and_with_urns() {
        let a = resolve(ResourceKind::User, "USERNAME").unwrap();
        assert_eq!(a.attr.name, "userName");
        let a = resolve(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        )
        .unwrap();
        assert_eq!(a.attr.name, "userName");
        let a = resolve(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        assert_eq!(a.attr.name, "department");
        assert!(a.in_extension());
        assert_eq!(
            resolve(ResourceKind::User, "externalid").unwrap().attr.name,
            "externalId"
        );
        assert!(resolve(ResourceKind::Group, "userName").is_none());
        // A multibyte character where the URN's bytes end is no match, never a panic.
        assert!(
            resolve(
                ResourceKind::User,
                "urn:ietf:params:scim:schemas:core:2.0:Useé"
            )
            .is_none()
        );
        assert_eq!(strip_prefix_ignore_case("URN:x", "urn:"), Some("x"));
        assert_eq!(strip_prefix_ignore_case("uré", "urn"), None);
        assert_eq!(strip_prefix_ignore_case("ur", "urn"), None);
        assert!(resolve(ResourceKind::User, "nope").is_none());
        assert_eq!(
            split_urn(
                ResourceKind::User,
                "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"
            ),
            Some((
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "name.givenName"
            ))
        );
    }
}
