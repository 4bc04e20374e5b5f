//! Invitations: the partner's side (create, list, edit the draft, send, revoke) and the
//! customer's (preview, accept, decline) by the token of the URL.

use super::PageParams;
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, AppQuery, Auth, ClientIp, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use partnerhub_api_types::*;
use partnerhub_domain::{InvitationId, InvitationState, OrganizationId, ValidationErrors};
use partnerhub_service::{InvitationView, Limited, NewInvitationInput};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

pub(crate) fn response(v: InvitationView) -> InvitationResponse {
    let i = v.invitation;
    let pending = v.state == InvitationState::Pending;
    InvitationResponse {
        id: i.id.0,
        state: v.state.as_str().into(),
        url: v.url,
        customer_id: i.customer_id.map(|c| c.0),
        indirect_provider_id: i.indirect_provider_id.map(|c| c.0),
        roles: i.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        duration_days: i.duration_days,
        auto_extend: i.auto_extend,
        locale: i.locale.as_str().into(),
        expires_at: i.expires_at,
        created_at: i.created_at,
        sent_at: i.sent_at,
        responded_at: i.responded_at,
        email: pending.then_some(EmailDraft { subject: i.email_subject, body: i.email_body }),
        mailto: v.mailto,
        email_delivery: v.email_delivery.map(|d| EmailDelivery {
            state: d.state,
            to: d.to,
            attempts: d.attempts,
            last_error_kind: d.last_error_kind.map(|k| k.as_str().to_owned()),
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            queued_at: d.created_at,
            sent_at: d.sent_at,
        }),
    }
}

/// Create an invitation: bound to a customer of the caller's list, or open.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "invitations", request_body = CreateInvitationRequest, security(("bearer" = [])),
    responses((status = 201, body = InvitationResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_invitation(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppJson(r): AppJson<CreateInvitationRequest>,
) -> ApiResult<(StatusCode, Json<InvitationResponse>)> {
    let input = NewInvitationInput {
        customer_id: r.customer_id.map(OrganizationId),
        indirect_provider_id: r.indirect_provider_id.map(OrganizationId),
        roles: r.roles,
        duration_days: r.duration_days,
        auto_extend: r.auto_extend,
        expires_in_days: r.expires_in_days,
        locale: r.locale,
    };
    let v = s.service.create_invitation(&c, input).await?;
    Ok((StatusCode::CREATED, Json(response(v))))
}

/// The invitation list's own filter; `limit` and `cursor` are `PageParams`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationListParams {
    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    state: Option<String>,
}

/// The caller's invitations, newest first.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations", security(("bearer" = [])), params(PageParams, InvitationListParams),
    responses((status = 200, body = ListResponse<InvitationResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_invitations(
    State(s): State<AppState>,
    Auth(c): Auth,
    Paging(page): Paging,
    AppQuery(p): AppQuery<InvitationListParams>,
) -> ApiResult<Json<ListResponse<InvitationResponse>>> {
    let state = match p.state.as_deref() {
        None => None,
        Some(st) => Some(
            InvitationState::parse(st)
                .ok_or_else(|| ValidationErrors::one("state", "must be pending, accepted, declined, revoked or expired"))?,
        ),
    };
    let page = s.service.list_invitations(&c, state, page.limit, page.cursor.as_deref()).await?;
    Ok(Json(ListResponse { items: page.items.into_iter().map(response).collect(), next_cursor: page.next_cursor, total: page.total }))
}

#[utoipa::path(get, path = "/api/v1/invitations/{id}", tag = "invitations", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = InvitationResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_invitation(State(s): State<AppState>, Auth(c): Auth, AppPath(id): AppPath<Uuid>) -> ApiResult<Json<InvitationResponse>> {
    Ok(Json(response(s.service.invitation(&c, InvitationId(id)).await?)))
}

/// Save an edited draft; its body must contain the invitation URL verbatim.
#[utoipa::path(put, path = "/api/v1/invitations/{id}/email", tag = "invitations", request_body = EmailDraft, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = InvitationResponse), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn save_invitation_email(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    AppJson(r): AppJson<EmailDraft>,
) -> ApiResult<Json<InvitationResponse>> {
    Ok(Json(response(s.service.save_invitation_email(&c, InvitationId(id), &r.subject, &r.body).await?)))
}

/// Queue the draft, as it is now, for the configured SMTP relay: `202 {"state": "queued"}`;
/// a worker sends it, trying again while the relay is out of reach, and
/// `GET /invitations/{id}` tells how it went (`email_delivery`).
#[utoipa::path(post, path = "/api/v1/invitations/{id}/send", tag = "invitations", request_body = SendInvitationRequest, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, body = StateResponse), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, description = "email_not_configured: no SMTP relay is configured", body = Problem)))]
pub async fn send_invitation(
    State(s): State<AppState>,
    Auth(c): Auth,
    ClientIp(ip): ClientIp,
    AppPath(id): AppPath<Uuid>,
    AppJson(r): AppJson<SendInvitationRequest>,
) -> ApiResult<(StatusCode, Json<StateResponse>)> {
    s.service.admit(Limited::InvitationSend, &c, &ip).await?;
    s.service.send_invitation(&c, InvitationId(id), &r.to).await?;
    Ok((StatusCode::ACCEPTED, Json(StateResponse { state: "queued".into() })))
}

/// Revoke a pending invitation; its URL stops working at once.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/revoke", tag = "invitations", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = InvitationResponse), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke_invitation(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<InvitationResponse>> {
    Ok(Json(response(s.service.revoke_invitation(&c, InvitationId(id)).await?)))
}

/// Who is asking, for what and for how long. No sign-in needed; changes nothing.
#[utoipa::path(post, path = "/api/v1/invitations/preview", tag = "invitations", request_body = InvitationTokenRequest,
    responses((status = 200, body = InvitationPreviewResponse), (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn preview_invitation(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(r): AppJson<InvitationTokenRequest>,
) -> ApiResult<Json<InvitationPreviewResponse>> {
    let (found, state) = s.service.preview_invitation(&r.token, &ip).await?;
    let public = |p: &partnerhub_store::PartnerRef| PartnerPublic {
        name: p.name.clone(),
        partner_id: p.partner_id.clone(),
        domain: p.domain.clone(),
    };
    Ok(Json(InvitationPreviewResponse {
        partner: public(&found.partner),
        indirect_provider: found.provider.as_ref().map(public),
        roles: found.invitation.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        duration_days: found.invitation.duration_days,
        expires_at: found.invitation.expires_at,
        state: state.as_str().into(),
        bound_to_customer: found.invitation.customer_id.is_some(),
    }))
}

/// A customer global admin accepts: the relationship(s) and the delegated admin grants, once.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "invitations", request_body = InvitationTokenRequest, security(("bearer" = [])),
    responses((status = 201, body = AcceptResponse), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 410, body = Problem), (status = 429, body = Problem)))]
pub async fn accept_invitation(
    State(s): State<AppState>,
    Auth(c): Auth,
    ClientIp(ip): ClientIp,
    AppJson(r): AppJson<InvitationTokenRequest>,
) -> ApiResult<(StatusCode, Json<AcceptResponse>)> {
    let out = s.service.accept_invitation(&c, &r.token, &ip).await?;
    Ok((
        StatusCode::CREATED,
        Json(AcceptResponse {
            relationships: out
                .relationships
                .iter()
                .map(|(rel, p)| AcceptedRelationship {
                    id: rel.id.0,
                    partner: super::partner_ref(p),
                    state: "active".into(),
                    since: rel.since,
                })
                .collect(),
            grants: out
                .grants
                .iter()
                .map(|(g, p)| AcceptedGrant {
                    id: g.id.0,
                    partner: super::partner_ref(p),
                    role: g.role.as_str().into(),
                    expires_at: g.expires_at,
                })
                .collect(),
        }),
    ))
}

/// A customer global admin declines.
#[utoipa::path(post, path = "/api/v1/invitations/decline", tag = "invitations", request_body = InvitationTokenRequest, security(("bearer" = [])),
    responses((status = 200, body = StateResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem),
              (status = 429, body = Problem)))]
pub async fn decline_invitation(
    State(s): State<AppState>,
    Auth(c): Auth,
    ClientIp(ip): ClientIp,
    AppJson(r): AppJson<InvitationTokenRequest>,
) -> ApiResult<Json<StateResponse>> {
    s.service.decline_invitation(&c, &r.token, &ip).await?;
    Ok(Json(StateResponse { state: "declined".into() }))
}
