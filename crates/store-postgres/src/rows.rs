//! Turning rows into records, and the encodings this backend uses (times, role lists, cursors).
//! The encodings that clients or the audit chain see (cursors, canonical times) are exactly
//! those of the SQLite store.

use crate::db;
use partnerhub_domain::*;
use partnerhub_store::*;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) use partnerhub_store::codec::{
    decode_cursor, delegated_json, encode_cursor, from_micros as from_ts, micros as ts, rfc3339, role_names as names, roles_json,
};

/// A time as it is stored: cut to the microsecond exactly as the SQLite store cuts it (the
/// driver alone would cut toward 2000-01-01, which differs for fractions before that), in UTC.
pub(crate) fn pt(t: OffsetDateTime) -> OffsetDateTime {
    from_ts(ts(t))
}

/// A cursor's time key (microseconds), clamped into what PostgreSQL can hold: SQLite compares
/// any integer, so a key beyond the range still orders before or after every stored time.
pub(crate) fn cursor_time(us: i64) -> OffsetDateTime {
    const MIN: OffsetDateTime = time::macros::datetime!(-4700-01-01 0:00 UTC);
    const MAX: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999_999 UTC);
    from_ts(us.clamp(ts(MIN), ts(MAX)))
}

pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(r: &'r PgRow, col: &str) -> StoreResult<T> {
    r.try_get(col).map_err(db)
}

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} `{v}` in the database"))
}

pub(crate) fn org_from(r: &PgRow, p: &str) -> StoreResult<Organization> {
    let kind: String = get(r, &format!("{p}kind"))?;
    let partner_type: Option<String> = get(r, &format!("{p}partner_type"))?;
    Ok(Organization {
        id: OrganizationId(get(r, &format!("{p}id"))?),
        kind: OrgKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        name: get(r, &format!("{p}name"))?,
        domain: get(r, &format!("{p}domain"))?,
        partner_type: partner_type.map(|t| PartnerType::parse(&t).ok_or_else(|| corrupt("partner type", &t))).transpose()?,
        partner_id: get(r, &format!("{p}partner_id"))?,
        created_at: get(r, &format!("{p}created_at"))?,
    })
}

pub(crate) fn user_from(r: &PgRow) -> StoreResult<User> {
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
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn invitation_from(r: &PgRow) -> StoreResult<Invitation> {
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
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        sent_at: get(r, "sent_at")?,
        responded_at: get(r, "responded_at")?,
        accepted_by: get::<Option<Uuid>>(r, "accepted_by")?.map(OrganizationId),
    })
}

pub(crate) fn grant_from(r: &PgRow) -> StoreResult<Grant> {
    let role: String = get(r, "role")?;
    Ok(Grant {
        id: GrantId(get(r, "id")?),
        partner_org_id: OrganizationId(get(r, "partner_org_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        role: DelegatedRole::parse(&role).ok_or_else(|| corrupt("delegated role", &role))?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        auto_extend: get(r, "auto_extend")?,
        revoked_at: get(r, "revoked_at")?,
    })
}

pub(crate) fn relationship_from(r: &PgRow) -> StoreResult<Relationship> {
    let state: String = get(r, "rel_state")?;
    Ok(Relationship {
        id: RelationshipId(get(r, "rel_id")?),
        partner_org_id: OrganizationId(get(r, "partner_org_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        active: state == "active",
        via: get(r, "via")?,
        since: get(r, "rel_created_at")?,
        indirect_reseller_id: get::<Option<Uuid>>(r, "indirect_reseller_id")?.map(OrganizationId),
    })
}

/// A row of `relationships::SUMMARY_COLS` from column `base` on, read by position (the hot
/// path of the customer list: a lookup by name compares the name with every column's).
pub(crate) fn summary_at(r: &PgRow, base: usize) -> StoreResult<CustomerSummary> {
    let at = |i: usize| base + i;
    let state: &str = r.try_get(at(7)).map_err(db)?;
    let indirect_reseller = match r.try_get::<Option<Uuid>, _>(at(11)).map_err(db)? {
        Some(id) => Some(PartnerRef {
            id: OrganizationId(id),
            name: r.try_get(at(12)).map_err(db)?,
            partner_id: r.try_get::<Option<String>, _>(at(13)).map_err(db)?.unwrap_or_default(),
            domain: r.try_get(at(14)).map_err(db)?,
        }),
        None => None,
    };
    Ok(CustomerSummary {
        id: OrganizationId(r.try_get(at(0)).map_err(db)?),
        name: r.try_get(at(1)).map_err(db)?,
        domain: r.try_get(at(2)).map_err(db)?,
        created_at: r.try_get(at(3)).map_err(db)?,
        relationship: Relationship {
            id: RelationshipId(r.try_get(at(4)).map_err(db)?),
            partner_org_id: OrganizationId(r.try_get(at(5)).map_err(db)?),
            customer_id: OrganizationId(r.try_get(at(6)).map_err(db)?),
            active: state == "active",
            via: r.try_get(at(8)).map_err(db)?,
            since: r.try_get(at(9)).map_err(db)?,
            indirect_reseller_id: r.try_get::<Option<Uuid>, _>(at(10)).map_err(db)?.map(OrganizationId),
        },
        grants: Vec::new(),
        indirect_reseller,
    })
}

/// The columns of a live grant (unrevoked, of a known partner and customer) that
/// `live_grant_at` reads, over `g`.
pub(crate) const LIVE_GRANT_COLS: &str =
    "g.id AS g_id, g.role AS g_role, g.created_at AS g_created_at, g.expires_at AS g_expires_at, g.auto_extend AS g_auto_extend";

/// A grant of `LIVE_GRANT_COLS` from column `base` on, or `None` where an outer join found none.
pub(crate) fn live_grant_at(r: &PgRow, base: usize, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Option<Grant>> {
    let Some(id) = r.try_get::<Option<Uuid>, _>(base).map_err(db)? else {
        return Ok(None);
    };
    let role: &str = r.try_get(base + 1).map_err(db)?;
    Ok(Some(Grant {
        id: GrantId(id),
        partner_org_id: partner,
        customer_id: customer,
        role: DelegatedRole::parse(role).ok_or_else(|| corrupt("delegated role", role))?,
        created_at: r.try_get(base + 2).map_err(db)?,
        expires_at: r.try_get(base + 3).map_err(db)?,
        auto_extend: r.try_get(base + 4).map_err(db)?,
        revoked_at: None,
    }))
}

pub(crate) const OFFER_COLS: &str = "id, name, unit_price_cents, currency, created_at, disabled_at";

pub(crate) fn offer_from(r: &PgRow) -> StoreResult<Offer> {
    Ok(Offer {
        id: OfferId(get(r, "id")?),
        name: get(r, "name")?,
        unit_price_cents: get(r, "unit_price_cents")?,
        currency: get(r, "currency")?,
        created_at: get(r, "created_at")?,
        disabled_at: get(r, "disabled_at")?,
    })
}

/// The columns of a subscription with its offer and both partners, over `s` (a subscription
/// row) joined by [`SUBSCRIPTION_JOINS`].
pub(crate) const SUBSCRIPTION_COLS: &str = "s.id, s.order_id, s.customer_id, s.quantity, s.assigned, s.status, s.created_at, s.updated_at,
    o.id AS o_id, o.name AS o_name, o.unit_price_cents AS o_unit_price_cents, o.currency AS o_currency,
    pb.id AS pb_id, pb.name AS pb_name, pb.partner_id AS pb_partner_id, pb.domain AS pb_domain,
    pr.id AS pr_id, pr.name AS pr_name, pr.partner_id AS pr_partner_id, pr.domain AS pr_domain";
pub(crate) const SUBSCRIPTION_JOINS: &str = "JOIN offers o ON o.id = s.offer_id
    JOIN organizations pb ON pb.id = s.placed_by JOIN organizations pr ON pr.id = s.partner_of_record";

fn offer_ref_from(r: &PgRow) -> StoreResult<OfferRef> {
    Ok(OfferRef {
        id: OfferId(get(r, "o_id")?),
        name: get(r, "o_name")?,
        unit_price_cents: get(r, "o_unit_price_cents")?,
        currency: get(r, "o_currency")?,
    })
}

pub(crate) fn partner_ref_from(r: &PgRow, p: &str) -> StoreResult<PartnerRef> {
    Ok(PartnerRef {
        id: OrganizationId(get(r, &format!("{p}id"))?),
        name: get(r, &format!("{p}name"))?,
        partner_id: get::<Option<String>>(r, &format!("{p}partner_id"))?.unwrap_or_default(),
        domain: get(r, &format!("{p}domain"))?,
    })
}

pub(crate) fn subscription_from(r: &PgRow) -> StoreResult<Subscription> {
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
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

/// A license with the offer of its subscription; `WHERE` follows.
pub(crate) const LICENSE_COLS: &str = "l.subscription_id, l.user_id, l.customer_id, l.assigned_at,
    o.id AS o_id, o.name AS o_name, o.unit_price_cents AS o_unit_price_cents, o.currency AS o_currency";
pub(crate) const LICENSE_FROM: &str = "licenses l JOIN subscriptions s ON s.id = l.subscription_id JOIN offers o ON o.id = s.offer_id";

pub(crate) fn license_from(r: &PgRow) -> StoreResult<License> {
    Ok(License {
        subscription_id: SubscriptionId(get(r, "subscription_id")?),
        user_id: UserId(get(r, "user_id")?),
        customer_id: OrganizationId(get(r, "customer_id")?),
        offer: offer_ref_from(r)?,
        assigned_at: get(r, "assigned_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_cut_like_sqlite() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(-1_500).unwrap();
        assert_eq!(ts(pt(t)), ts(t));
        assert_eq!(pt(t).unix_timestamp_nanos(), -1_000);
        assert_eq!(ts(cursor_time(i64::MAX)), 253_402_300_799_999_999);
        assert_eq!(cursor_time(i64::MIN).date(), time::macros::date!(-4700 - 01 - 01));
    }
}
