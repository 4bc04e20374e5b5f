//! Turning rows into records, and the encodings this backend uses (times, role lists, cursors).

use crate::db::err;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::Row;
use rusqlite::types::FromSql;
use uuid::Uuid;

pub(crate) use partnerhub_store::codec::{
    decode_cursor, delegated_json, encode_cursor, from_micros as from_ts, micros as ts, rfc3339, role_names as names, roles_json,
};

pub(crate) fn get<T: FromSql>(r: &Row<'_>, col: &str) -> StoreResult<T> {
    r.get(col).map_err(err)
}

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} `{v}` in the database"))
}

pub(crate) fn org_from(r: &Row<'_>, p: &str) -> StoreResult<Organization> {
    let kind: String = get(r, &format!("{p}kind"))?;
    let partner_type: Option<String> = get(r, &format!("{p}partner_type"))?;
    Ok(Organization {
        id: OrganizationId(get(r, &format!("{p}id"))?),
        kind: OrgKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        name: get(r, &format!("{p}name"))?,
        domain: get(r, &format!("{p}domain"))?,
        partner_type: partner_type.map(|t| PartnerType::parse(&t).ok_or_else(|| corrupt("partner type", &t))).transpose()?,
        partner_id: get(r, &format!("{p}partner_id"))?,
        created_at: from_ts(get(r, &format!("{p}created_at"))?),
    })
}

pub(crate) fn user_from(r: &Row<'_>) -> StoreResult<User> {
    let roles: String = get(r, "roles")?;
    Ok(User {
        id: UserId(get(r, "id")?),
        organization_id: OrganizationId(get(r, "organization_id")?),
        email: get(r, "email")?,
        display_name: get(r, "display_name")?,
        roles: names(&roles)?.iter().map(|n| Role::parse(n).ok_or_else(|| corrupt("role", n))).collect::<StoreResult<_>>()?,
        password_change_required: get(r, "password_change_required")?,
        mfa_enrollment_required: false,
        locale: get::<Option<String>>(r, "locale")?.map(|l| Locale::parse(&l).ok_or_else(|| corrupt("locale", &l))).transpose()?,
        created_at: from_ts(get(r, "created_at")?),
    })
}

pub(crate) fn invitation_from(r: &Row<'_>) -> StoreResult<Invitation> {
    let roles: String = get(r, "roles")?;
    let state: String = get(r, "state")?;
    let locale: String = get(r, "locale")?;
    Ok(Invitation {
        id: InvitationId(get(r, "id")?),
        partner_org_id: OrganizationId(get(r, "partner_org_id")?),
        customer_id: get::<Option<Uuid>>(r, "customer_id")?.map(OrganizationId),
        indirect_provider_id: get::<Option<Uuid>>(r, "indirect_provider_id")?.map(OrganizationId),
        roles: names(&roles)?
            .iter()
            .map(|n| DelegatedRole::parse(n).ok_or_else(|| corrupt("delegated role", n)))
            .collect::<StoreResult<_>>()?,
        duration_days: get(r, "duration_days")?,
        auto_extend: get(r, "auto_extend")?,
        locale: Locale::parse(&locale).ok_or_else(|| corrupt("locale", &locale))?,
        state: InvitationState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        email_subject: get(r, "email_subject")?,
        email_body: get(r, "email_body")?,
        created_by: UserId(get(r, "created_by")?),
        created_at: from_ts(get(r, "created_at")?),
        expires_at: from_ts(get(r, "expires_at")?),
        sent_at: get::<Option<i64>>(r, "sent_at")?.map(from_ts),
        responded_at: get::<Option<i64>>(r, "responded_at")?.map(from_ts),
        accepted_by: get::<Option<Uuid>>(r, "accepted_by")?.map(OrganizationId),
    })
}

pub(crate) fn grant_from(r: &Row<'_>) -> StoreResult<Grant> {
    let role: String = get(r, "role")?;
    Ok(Grant {
        id: GrantId(get(r, "id")?),
        partner_org_id: OrganizationId(get(r, "partner_org_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        role: DelegatedRole::parse(&role).ok_or_else(|| corrupt("delegated role", &role))?,
        created_at: from_ts(get(r, "created_at")?),
        expires_at: from_ts(get(r, "expires_at")?),
        auto_extend: get(r, "auto_extend")?,
        revoked_at: get::<Option<i64>>(r, "revoked_at")?.map(from_ts),
    })
}

pub(crate) fn relationship_from(r: &Row<'_>) -> StoreResult<Relationship> {
    let state: String = get(r, "rel_state")?;
    Ok(Relationship {
        id: RelationshipId(get(r, "rel_id")?),
        partner_org_id: OrganizationId(get(r, "partner_org_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        active: state == "active",
        via: get(r, "via")?,
        since: from_ts(get(r, "rel_created_at")?),
        indirect_reseller_id: get::<Option<Uuid>>(r, "indirect_reseller_id")?.map(OrganizationId),
    })
}

/// A row of `relationships::SUMMARY_COLS`, read by position (the hot path of the customer
/// list: a lookup by name compares the name with every column's).
pub(crate) fn summary_at(r: &Row<'_>) -> StoreResult<CustomerSummary> {
    let at = |i: usize| RowIndex(r, i);
    let state: String = at(7).get()?;
    let indirect_reseller = match at(11).get::<Option<Uuid>>()? {
        Some(id) => Some(PartnerRef {
            id: OrganizationId(id),
            name: at(12).get()?,
            partner_id: at(13).get::<Option<String>>()?.unwrap_or_default(),
            domain: at(14).get()?,
        }),
        None => None,
    };
    Ok(CustomerSummary {
        id: OrganizationId(at(0).get()?),
        name: at(1).get()?,
        domain: at(2).get()?,
        created_at: from_ts(at(3).get()?),
        relationship: Relationship {
            id: RelationshipId(at(4).get()?),
            partner_org_id: OrganizationId(at(5).get()?),
            customer_id: OrganizationId(at(6).get()?),
            active: state == "active",
            via: at(8).get()?,
            since: from_ts(at(9).get()?),
            indirect_reseller_id: at(10).get::<Option<Uuid>>()?.map(OrganizationId),
        },
        grants: Vec::new(),
        indirect_reseller,
    })
}

/// The columns of a live grant (unrevoked, of a known partner) that `live_grant_at` reads.
pub(crate) const LIVE_GRANT_COLS: &str = "customer_id, id, role, created_at, expires_at, auto_extend";

/// A row of `LIVE_GRANT_COLS` of `partner`'s, selected with `revoked_at IS NULL`.
pub(crate) fn live_grant_at(r: &Row<'_>, partner: OrganizationId) -> StoreResult<Grant> {
    let at = |i: usize| RowIndex(r, i);
    let role = r.get_ref(2).map_err(err)?.as_str().map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(Grant {
        customer_id: OrganizationId(at(0).get()?),
        id: GrantId(at(1).get()?),
        partner_org_id: partner,
        role: DelegatedRole::parse(role).ok_or_else(|| corrupt("delegated role", role))?,
        created_at: from_ts(at(3).get()?),
        expires_at: from_ts(at(4).get()?),
        auto_extend: at(5).get()?,
        revoked_at: None,
    })
}

struct RowIndex<'a, 'r>(&'a Row<'r>, usize);

impl RowIndex<'_, '_> {
    fn get<T: FromSql>(&self) -> StoreResult<T> {
        self.0.get(self.1).map_err(err)
    }
}

pub(crate) const OFFER_COLS: &str = "id, name, unit_price_cents, currency, created_at, disabled_at";

pub(crate) fn offer_from(r: &Row<'_>) -> StoreResult<Offer> {
    Ok(Offer {
        id: OfferId(get(r, "id")?),
        name: get(r, "name")?,
        unit_price_cents: get(r, "unit_price_cents")?,
        currency: get(r, "currency")?,
        created_at: from_ts(get(r, "created_at")?),
        disabled_at: get::<Option<i64>>(r, "disabled_at")?.map(from_ts),
    })
}

/// A subscription with its offer and both partners; `WHERE` follows.
pub(crate) const SUBSCRIPTION_SELECT: &str = "SELECT s.id, s.order_id, s.customer_id, s.quantity, s.assigned, s.status, \
    s.created_at, s.updated_at, o.id AS o_id, o.name AS o_name, o.unit_price_cents AS o_unit_price_cents, o.currency AS o_currency, \
    pb.id AS pb_id, pb.name AS pb_name, pb.partner_id AS pb_partner_id, pb.domain AS pb_domain, \
    pr.id AS pr_id, pr.name AS pr_name, pr.partner_id AS pr_partner_id, pr.domain AS pr_domain \
    FROM subscriptions s JOIN offers o ON o.id = s.offer_id \
    JOIN organizations pb ON pb.id = s.placed_by JOIN organizations pr ON pr.id = s.partner_of_record";

fn offer_ref_from(r: &Row<'_>) -> StoreResult<OfferRef> {
    Ok(OfferRef {
        id: OfferId(get(r, "o_id")?),
        name: get(r, "o_name")?,
        unit_price_cents: get(r, "o_unit_price_cents")?,
        currency: get(r, "o_currency")?,
    })
}

fn partner_ref_from(r: &Row<'_>, p: &str) -> StoreResult<PartnerRef> {
    Ok(PartnerRef {
        id: OrganizationId(get(r, &format!("{p}id"))?),
        name: get(r, &format!("{p}name"))?,
        partner_id: get::<Option<String>>(r, &format!("{p}partner_id"))?.unwrap_or_default(),
        domain: get(r, &format!("{p}domain"))?,
    })
}

pub(crate) fn subscription_from(r: &Row<'_>) -> StoreResult<Subscription> {
    let status: String = get(r, "status")?;
    Ok(Subscription {
        id: SubscriptionId(get(r, "id")?),
        order_id: OrderId(get(r, "order_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        offer: offer_ref_from(r)?,
        quantity: get(r, "quantity")?,
        assigned: get(r, "assigned")?,
        status: SubscriptionStatus::parse(&status).ok_or_else(|| corrupt("subscription status", &status))?,
        placed_by: partner_ref_from(r, "pb_")?,
        partner_of_record: partner_ref_from(r, "pr_")?,
        created_at: from_ts(get(r, "created_at")?),
        updated_at: from_ts(get(r, "updated_at")?),
    })
}

/// A license with the offer of its subscription; `WHERE` follows.
pub(crate) const LICENSE_COLS: &str = "l.subscription_id, l.user_id, l.customer_id, l.assigned_at, \
    o.id AS o_id, o.name AS o_name, o.unit_price_cents AS o_unit_price_cents, o.currency AS o_currency";
pub(crate) const LICENSE_FROM: &str = "licenses l JOIN subscriptions s ON s.id = l.subscription_id JOIN offers o ON o.id = s.offer_id";

pub(crate) fn license_from(r: &Row<'_>) -> StoreResult<License> {
    Ok(License {
        subscription_id: SubscriptionId(get(r, "subscription_id")?),
        user_id: UserId(get(r, "user_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        offer: offer_ref_from(r)?,
        assigned_at: from_ts(get(r, "assigned_at")?),
    })
}
