//! The server's one error type. Every handler returns `Result<_, AppError>`; the response
//! is always `{"code": "...", "message": "..."}` with a stable snake_case code. Internal
//! failures are logged in full and answered with a generic message — nothing leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failure of a request, mapped to an HTTP status and a stable error code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed (400).
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The request is well-formed but its content is not acceptable (422).
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// No valid credentials (401).
    #[error("{message}")]
    Unauthorized {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// Authenticated but not allowed (403).
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The resource does not exist or is not the caller's (404).
    #[error("{message}")]
    NotFound {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The body is larger than the configured limit (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body is not JSON (415).
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is not an accepted image type (415).
    #[error("expected Content-Type: image/png, image/jpeg or image/webp")]
    UnsupportedImageType,
    /// A voice upload that is not a WAV file (415).
    #[error("expected Content-Type: audio/wav")]
    UnsupportedAudioType,
    /// The route exists but not with this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Too many attempts (429).
    #[error("{message}")]
    TooManyRequests {
        /// Stable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
        /// Seconds until the caller may try again.
        retry_after_secs: u64,
    },
    /// A dependency (database, mail relay) is unavailable (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (500); details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case error code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

macro_rules! ctor {
    ($name:ident, $variant:ident) => {
        #[doc = concat!("A `", stringify!($variant), "` error with a stable code.")]
        pub fn $name(code: &'static str, message: impl Into<String>) -> Self {
            Self::$variant { code, message: message.into() }
        }
    };
}

impl AppError {
    ctor!(bad_request, BadRequest);
    ctor!(unprocessable, Unprocessable);
    ctor!(unauthorized, Unauthorized);
    ctor!(forbidden, Forbidden);
    ctor!(not_found, NotFound);
    ctor!(conflict, Conflict);

    /// The HTTP status of this error.
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType | Self::UnsupportedImageType | Self::UnsupportedAudioType => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::TooManyRequests { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType | Self::UnsupportedImageType | Self::UnsupportedAudioType => {
                "unsupported_media_type"
            }
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Shorthand for a 422 naming the offending field.
    pub fn invalid_field(field: &str, why: impl std::fmt::Display) -> Self {
        Self::unprocessable("invalid_field", format!("{field}: {why}"))
    }

    /// Shorthand for "not the caller's / not there".
    pub fn missing(what: &str) -> Self {
        Self::not_found("not_found", format!("{what} not found"))
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match err {
            DbErr::ConnectionAcquire(e) => Self::Unavailable(format!("database: {e}")),
            DbErr::Conn(e) => Self::Unavailable(format!("database: {e}")),
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_owned()
            }
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                "service temporarily unavailable".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        };
        let body = ErrorBody { code: self.code().to_owned(), message };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
