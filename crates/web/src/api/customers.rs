//! Customers, partner side: the list of connected customers, one customer, creation,
//! removal preflight and removal, and the caller's grants in a customer.

use super::PageParams;
use crate::AppState;
use crate::cache::CachedRead;
use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, AppQuery, Auth, ClientIp, Paging};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use partnerhub_api_types::*;
use partnerhub_domain::{Action, GOOD_FAITH_STATEMENT, LEGAL_NOTICE, OrganizationId, ValidationErrors};
use partnerhub_service::{Limited, NewCustomerInput};
use partnerhub_store::{CustomerQuery, CustomerSort, CustomerSummary};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use uuid::Uuid;

/// The customer list's own filters; `limit` and `cursor` are `PageParams`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Matches the name or the domain.
    q: Option<String>,
    /// `name` (default) or `-created_at`.
    sort: Option<String>,
}

fn summary(c: &CustomerSummary) -> CustomerResponse {
    CustomerResponse {
        id: c.id.0,
        name: c.name.clone(),
        domain: c.domain.clone(),
        relationship: super::relationship(&c.relationship),
        grants: c.grants.iter().map(|g| GrantSummary { role: g.role.as_str().into(), expires_at: g.expires_at }).collect(),
        indirect_reseller: c.indirect_reseller.as_ref().map(super::partner_ref),
    }
}

/// The customers with an active relationship with the caller's organization, and only those.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])), params(PageParams, CustomerListParams),
    responses((status = 200, body = ListResponse<CustomerResponse>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_customers(
    State(s): State<AppState>,
    read: CachedRead,
    Paging(page): Paging,
    AppQuery(p): AppQuery<CustomerListParams>,
) -> ApiResult<Response> {
    let sort = match p.sort.as_deref() {
        None | Some("name") => CustomerSort::Name,
        Some("-created_at") => CustomerSort::NewestFirst,
        Some(_) => return Err(ValidationErrors::one("sort", "must be name or -created_at").into()),
    };
    let q = p.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control)) {
        return Err(ValidationErrors::one("q", "must be at most 200 characters, without control characters").into());
    }
    let query = CustomerQuery { limit: page.limit, cursor: page.cursor, q, sort };
    let caller = read.require(Action::CustomersList)?;
    if let Some(hit) = read.hit(&s) {
        return Ok(hit);
    }
    let customers = s.service.list_customers(caller, query).await?;
    let valid_until = customers.items.iter().flat_map(|c| &c.grants).map(|g| g.expires_at).min();
    Ok(read.keep(&s, &super::page(customers, summary), valid_until))
}

/// One customer of the caller's list, with its subscription counts and the other partners the caller may see.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerDetailResponse), (status = 404, body = Problem)))]
pub async fn get_customer(State(s): State<AppState>, read: CachedRead, AppPath(id): AppPath<Uuid>) -> ApiResult<Response> {
    // The other partners shown are those of the customer's relationships: every change of one
    // is the customer's to read, so `read` watches the customer's version (the path id) too.
    let caller = read.require(Action::CustomersRead)?;
    if let Some(hit) = read.hit(&s) {
        return Ok(hit);
    }
    let d = s.service.customer(caller, OrganizationId(id)).await?;
    let valid_until = d.summary.grants.iter().map(|g| g.expires_at).min();
    let body = CustomerDetailResponse {
        customer: summary(&d.summary),
        subscriptions: SubscriptionCounts {
            active: d.subscriptions.active,
            suspended: d.subscriptions.suspended,
            cancelled: d.subscriptions.cancelled,
        },
        other_partners: d.other_partners.iter().map(super::partner_ref).collect(),
    };
    Ok(read.keep(&s, &body, valid_until))
}

/// Create a customer organization with its first global admin and an active relationship.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = CreateCustomerRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedCustomerResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn create_customer(
    State(s): State<AppState>,
    Auth(c): Auth,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<CreateCustomerRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCustomerResponse>)> {
    s.service.admit(Limited::CustomerCreation, &c, &ip).await?;
    let input = NewCustomerInput {
        name: req.name,
        domain: req.domain,
        admin_email: req.admin.email,
        admin_display_name: req.admin.display_name,
        reseller_id: req.reseller_id.map(OrganizationId),
    };
    let (detail, admin, password) = s.service.create_customer(&c, input).await?;
    let sm = &detail.summary;
    Ok((
        StatusCode::CREATED,
        Json(CreatedCustomerResponse {
            id: sm.id.0,
            name: sm.name.clone(),
            domain: sm.domain.clone(),
            relationship: super::relationship(&sm.relationship),
            admin: CreatedAdminResponse { id: admin.id.0, email: admin.email, temporary_password: password },
        }),
    ))
}

/// What blocks removing the relationship and what removal will do. Changes nothing.
#[utoipa::path(get, path = "/api/v1/customers/{id}/removal-preflight", tag = "customers", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RemovalPreflightResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_removal_preflight(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<Json<RemovalPreflightResponse>> {
    let p = s.service.removal_preflight(&c, OrganizationId(id)).await?;
    Ok(Json(RemovalPreflightResponse {
        removable: p.blockers.is_empty(),
        blockers: p.blockers.into_iter().map(|b| BlockerResponse { kind: b.kind, id: b.id, name: b.name }).collect(),
        grants_to_revoke: p.grants_to_revoke,
        legal_notice: LEGAL_NOTICE.into(),
        good_faith_statement: GOOD_FAITH_STATEMENT.into(),
    }))
}

/// End the relationship, revoking every delegated admin grant the caller holds in the customer.
#[utoipa::path(post, path = "/api/v1/customers/{id}/remove-relationship", tag = "customers", request_body = RemoveRelationshipRequest,
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RemovalResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn remove_relationship(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<RemoveRelationshipRequest>,
) -> ApiResult<Json<RemovalResponse>> {
    let out = s.service.remove_relationship(&c, OrganizationId(id), req.attest_good_faith).await?;
    Ok(Json(RemovalResponse {
        relationship_id: out.relationship_id.0,
        state: "removed".into(),
        revoked_grants: out.revoked_grants,
        legal_notice: LEGAL_NOTICE.into(),
    }))
}

/// Every delegated admin grant the caller holds or held in the customer, with its state,
/// oldest first (by creation time, then role).
#[utoipa::path(get, path = "/api/v1/customers/{id}/grants", tag = "customers", security(("bearer" = [])), params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = ListResponse<GrantResponse>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_customer_grants(
    State(s): State<AppState>,
    Auth(c): Auth,
    AppPath(id): AppPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<ListResponse<GrantResponse>>> {
    let grants = s.service.customer_grants(&c, OrganizationId(id), page).await?;
    let now: OffsetDateTime = s.service.now();
    Ok(Json(super::page(grants, |g| super::grant(g, now))))
}
