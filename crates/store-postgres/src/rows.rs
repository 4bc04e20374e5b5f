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

pub(crate) fn summary_from(r: &PgRow) -> StoreResult<CustomerSummary> {
    let indirect_reseller = match get::<Option<Uuid>>(r, "rs_id")? {
        Some(id) => Some(PartnerRef {
            id: OrganizationId(id),
            name: get(r, "rs_name")?,
            partner_id: get::<Option<String>>(r, "rs_partner_id")?.unwrap_or_default(),
            domain: get(r, "rs_domain")?,
        }),
        None => None,
    };
    Ok(CustomerSummary {
        id: OrganizationId(get(r, "c_id")?),
        name: get(r, "c_name")?,
        domain: get(r, "c_domain")?,
        created_at: get(r, "c_created_at")?,
        relationship: relationship_from(r)?,
        grants: Vec::new(),
        indirect_reseller,
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
