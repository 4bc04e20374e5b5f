//! The error policy, in one place: every failure leaves as RFC 9457 problem+json with a
//! stable `code` from `API.md`. A client's mistake is never a 5xx; a 5xx is logged here with
//! its cause and the client sees only that something failed on our side.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use partnerhub_api_types::{BlockerResponse, FieldErrorResponse, Problem};
use partnerhub_domain::ValidationErrors;
use partnerhub_service::ServiceError;

#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    Malformed(String),
    TooLarge,
    /// The request body did not arrive whole within the transport's body timeout.
    RequestTimeout,
    NotFound,
    /// A route has the path, not the method (the router adds `Allow`).
    MethodNotAllowed,
    /// The request target is longer than `fallback::MAX_URI_LEN`.
    UriTooLong,
    /// The database does not answer (readiness).
    NotReady(String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Service(ServiceError::Validation(e))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn problem(status: StatusCode, code: &str, title: &str, detail: String) -> Problem {
    Problem {
        type_: format!("https://partnerhub.dev/problems/{}", code.replace('_', "-")),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        errors: None,
        blockers: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use ServiceError as S;
        let mut retry_after = None;
        let p = match self {
            ApiError::Malformed(d) => problem(StatusCode::BAD_REQUEST, "malformed_request", "Malformed request", d),
            ApiError::TooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
                "request bodies are limited to 1 MiB".into(),
            ),
            ApiError::RequestTimeout => {
                problem(StatusCode::REQUEST_TIMEOUT, "request_timeout", "Request timeout", "the request body did not arrive in time".into())
            }
            ApiError::NotFound => problem(StatusCode::NOT_FOUND, "not_found", "Not found", "no such resource".into()),
            ApiError::MethodNotAllowed => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "this path does not take this method; `Allow` lists those it takes".into(),
            ),
            ApiError::UriTooLong => problem(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "URI too long",
                format!("request targets are limited to {} bytes", crate::fallback::MAX_URI_LEN),
            ),
            ApiError::NotReady(cause) => {
                tracing::warn!(error = %cause, "not ready: the database does not answer");
                problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "Not ready", "the database does not answer".into())
            }
            ApiError::Service(e) => match e {
                S::Unauthenticated => problem(StatusCode::UNAUTHORIZED, "unauthenticated", "Unauthenticated", e.to_string()),
                S::OperatorApiDisabled => problem(StatusCode::FORBIDDEN, "operator_api_disabled", "Operator API disabled", e.to_string()),
                S::Forbidden => problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", "your roles do not allow this".into()),
                S::PasswordChangeRequired => {
                    problem(StatusCode::FORBIDDEN, "password_change_required", "Password change required", e.to_string())
                }
                S::NotFound => problem(StatusCode::NOT_FOUND, "not_found", "Not found", "no such resource".into()),
                S::Validation(v) => {
                    let mut p = problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        "Validation failed",
                        v.0.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "),
                    );
                    p.errors = Some(v.0.into_iter().map(|f| FieldErrorResponse { field: f.field, message: f.message }).collect());
                    p
                }
                S::Conflict(c) => problem(StatusCode::CONFLICT, "conflict", "Conflict", c.to_string()),
                S::RelationshipExists => problem(StatusCode::CONFLICT, "relationship_exists", "Relationship exists", e.to_string()),
                S::InvitationNotPending => problem(StatusCode::CONFLICT, "invitation_not_pending", "Invitation not pending", e.to_string()),
                S::InvitationExpired => problem(StatusCode::GONE, "invitation_expired", "Invitation expired", e.to_string()),
                S::WrongCustomer => problem(StatusCode::FORBIDDEN, "wrong_customer", "Wrong customer", e.to_string()),
                S::UrlMissingFromEmail => {
                    let mut p =
                        problem(StatusCode::UNPROCESSABLE_ENTITY, "url_missing_from_email", "URL missing from e-mail", e.to_string());
                    p.errors =
                        Some(vec![FieldErrorResponse { field: "body".into(), message: "must contain the invitation URL verbatim".into() }]);
                    p
                }
                S::AttestationRequired => {
                    let mut p = problem(StatusCode::UNPROCESSABLE_ENTITY, "attestation_required", "Attestation required", e.to_string());
                    p.errors = Some(vec![FieldErrorResponse { field: "attest_good_faith".into(), message: "must be true".into() }]);
                    p
                }
                S::RemovalBlocked(b) => {
                    let mut p =
                        problem(StatusCode::CONFLICT, "removal_blocked", "Removal blocked", format!("{} blocker(s) remain", b.len()));
                    p.blockers = Some(b.into_iter().map(|b| BlockerResponse { kind: b.kind, id: b.id, name: b.name }).collect());
                    p
                }
                S::NoResellerRelationship => {
                    problem(StatusCode::FORBIDDEN, "no_reseller_relationship", "No reseller relationship", e.to_string())
                }
                S::RateLimited { retry_after_secs } => {
                    retry_after = Some(retry_after_secs);
                    problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "Too many requests",
                        format!("try again in {retry_after_secs} seconds"),
                    )
                }
                S::Overloaded { retry_after_secs } => {
                    retry_after = Some(retry_after_secs);
                    problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Overloaded", e.to_string())
                }
                S::MfaRequired => problem(StatusCode::UNAUTHORIZED, "mfa_required", "MFA required", e.to_string()),
                S::MfaEnrollmentRequired => {
                    problem(StatusCode::FORBIDDEN, "mfa_enrollment_required", "MFA enrolment required", e.to_string())
                }
                S::IdempotencyKeyReused => {
                    let mut p =
                        problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "Idempotency key reused", e.to_string());
                    p.errors = Some(vec![FieldErrorResponse {
                        field: "Idempotency-Key".into(),
                        message: "was used with a different body".into(),
                    }]);
                    p
                }
                S::IdempotencyKeyInFlight => problem(StatusCode::CONFLICT, "conflict", "Conflict", e.to_string()),
                S::EmailNotConfigured => {
                    problem(StatusCode::SERVICE_UNAVAILABLE, "email_not_configured", "E-mail not configured", e.to_string())
                }
                // docs/contract.md: a refusal is the relay's answer (502); a relay out of reach is
                // our side unavailable for now (503), as a missing relay is.
                S::EmailFailed(m) => {
                    tracing::warn!(error = %m, "SMTP relay refused an invitation");
                    problem(StatusCode::BAD_GATEWAY, "email_failed", "E-mail not sent", "the SMTP relay refused the message".into())
                }
                S::EmailUnreachable(m) => {
                    tracing::warn!(error = %m, "SMTP relay unreachable");
                    problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "email_relay_unreachable",
                        "E-mail not sent",
                        "the SMTP relay could not be reached; nothing was sent, try again later".into(),
                    )
                }
                S::Internal(m) => {
                    tracing::error!(error = %m, "internal error");
                    problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "Internal error",
                        "something failed on our side; it has been logged".into(),
                    )
                }
            },
        };
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&p).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(s) = retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // RFC 6750: every 401 says which scheme to use.
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if p.code == "unauthenticated" {
                "Bearer realm=\"partnerhub\""
            } else {
                "Bearer realm=\"partnerhub\", error=\"invalid_request\""
            };
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        res
    }
}
