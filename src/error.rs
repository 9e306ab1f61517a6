//! The one error type below the HTTP surfaces. Each surface renders it its own way (SCIM
//! JSON error body, HTML page, SAML reference page); the `Display` text of client errors is
//! safe to show, while `Internal` carries a private cause that is only logged.

/// RFC 7644 §3.12 `scimType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent something wrong (400).
    #[error("{detail}")]
    BadRequest {
        scim_type: Option<ScimType>,
        detail: String,
    },
    /// The named resource does not exist, or is not visible to this caller (404).
    #[error("{0}")]
    NotFound(String),
    /// The endpoint exists but not for this HTTP method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A uniqueness constraint was violated (409 `uniqueness`).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` did not match the current version (412).
    #[error("the resource has changed: its version is not the one in If-Match")]
    PreconditionFailed,
    /// Missing or bad credentials (401); the text is the public reason.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request body is over the configured limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body is not of a content type the endpoint takes (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A bad command-line or configuration value.
    #[error("{0}")]
    Invalid(String),
    /// Something broke on our side (500). The text is private: log it, never show it.
    #[error("internal error: {0}")]
    Internal(String),
    /// The store cannot be reached (503: nothing was written, try again). Private text.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidPath, detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::Mutability, detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::NoTarget, detail)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<crate::store::db::Error> for Error {
    fn from(e: crate::store::db::Error) -> Self {
        match &e {
            // The connection broke (the database went away): not a bug, an outage.
            crate::store::db::Error::Pg(p) if p.is_closed() || p.code().is_none() => {
                Self::Unavailable(e.to_string())
            }
            // PostgreSQL chose this write as a deadlock or serialization victim and rolled it
            // back: nothing was written, and the same request sent again will go through.
            // The client hears "try again" (503 with Retry-After), not a server fault.
            crate::store::db::Error::Retry(_) => Self::Unavailable(e.to_string()),
            _ => Self::Internal(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(format!("sqlite: {e}"))
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        Self::Internal(format!("connection pool: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
