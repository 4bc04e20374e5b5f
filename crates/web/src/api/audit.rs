//! The audit log as an organization may read it, in JSON or CSV.

use super::PageParams;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppQuery, Auth, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use partnerhub_api_types::*;
use partnerhub_domain::{OrganizationId, ValidationErrors};
use partnerhub_store::{AuditFilter, AuditRecord};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;
use uuid::Uuid;

/// The audit log's own filters; `limit` and `cursor` are `PageParams`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// An event name such as `invitation.accepted`.
    action: Option<String>,
    customer_id: Option<Uuid>,
    /// RFC 3339; records at or after.
    since: Option<String>,
    /// RFC 3339; records before.
    until: Option<String>,
}

fn time_param(field: &str, v: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| ValidationErrors::one(field, "must be an RFC 3339 time").into())).transpose()
}

pub(crate) fn record(a: &AuditRecord) -> AuditRecordResponse {
    let b = &a.body;
    let uuid = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    AuditRecordResponse {
        seq: a.seq,
        at: b["at"].as_str().unwrap_or_default().to_owned(),
        organization_id: uuid(&b["organization_id"]),
        actor: AuditActor {
            user_id: uuid(&b["actor"]["user_id"]),
            email: b["actor"]["email"].as_str().map(str::to_owned),
            roles: b["actor"]["roles"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        },
        action: b["action"].as_str().unwrap_or_default().to_owned(),
        target: b["target"].clone(),
        customer_id: uuid(&b["customer_id"]),
        details: b["details"].clone(),
        hash: a.hash.clone(),
        change_id: uuid(&b["change_id"]),
    }
}

/// Records of the caller's own users' actions and of every action on its resources, newest
/// first. With `Accept: text/csv`, the same rows as CSV.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(PageParams, AuditParams),
    responses((status = 200, description = "a page of records; with `Accept: text/csv`, the same rows as CSV (the next cursor in `X-Next-Cursor`)",
               content((ListResponse<AuditRecordResponse> = "application/json"), (String = "text/csv"))),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_audit(
    State(s): State<AppState>,
    Auth(c): Auth,
    headers: HeaderMap,
    Paging(page): Paging,
    AppQuery(p): AppQuery<AuditParams>,
) -> ApiResult<Response> {
    if p.action.as_ref().is_some_and(|a| a.len() > 100 || a.chars().any(char::is_control)) {
        return Err(ValidationErrors::one("action", "is not an event name").into());
    }
    let filter = AuditFilter {
        limit: page.limit,
        cursor: page.cursor,
        action: p.action,
        customer_id: p.customer_id.map(OrganizationId),
        since: time_param("since", p.since)?,
        until: time_param("until", p.until)?,
    };
    let page = s.service.audit(&c, filter).await?;
    let items: Vec<_> = page.items.iter().map(record).collect();
    let wants_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(ListResponse { items, next_cursor: page.next_cursor, total: page.total }).into_response());
    }
    let body = csv_body(&items)?;
    let mut res = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Some(next) = page.next_cursor.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
        res.headers_mut().insert("x-next-cursor", next);
    }
    Ok(res)
}

/// The CSV export of audit records (the API's and the portal's), each cell neutralized.
pub(crate) fn csv_body(items: &[AuditRecordResponse]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Service(partnerhub_service::ServiceError::Internal(e.to_string()));
    w.write_record([
        "seq",
        "at",
        "organization_id",
        "actor_user_id",
        "actor_email",
        "actor_roles",
        "action",
        "target",
        "customer_id",
        "details",
        "hash",
        "change_id",
    ])
    .map_err(internal)?;
    let opt = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    for r in items {
        w.write_record(
            [
                r.seq.to_string(),
                r.at.clone(),
                opt(r.organization_id),
                opt(r.actor.user_id),
                r.actor.email.clone().unwrap_or_default(),
                r.actor.roles.join(" "),
                r.action.clone(),
                r.target.to_string(),
                opt(r.customer_id),
                r.details.to_string(),
                r.hash.clone(),
                opt(r.change_id),
            ]
            .map(neutralize),
        )
        .map_err(internal)?;
    }
    w.into_inner().map_err(|e| internal(e.into_error().into()))
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first: OWASP "CSV injection") gets a `'` in front, so it reads as text. E-mail
/// addresses may start with `=`, `+` or `-`, and they are in the export.
fn neutralize(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}
