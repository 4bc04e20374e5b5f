//! What a partner does inside a customer's tenant through its grants: the tenant's users and
//! their licenses. Each function runs inside one transaction (the write, or the read) and starts
//! with [`admit`], so a removal or a revocation is honoured by the very next request.

use crate::organizations::{USER_COLS, ensure_a_global_admin};
use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{all, exec, insert_user, one, paged, scalar_i64, write_change};
use partnerhub_domain::delegation;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};
use serde_json::json;
use uuid::Uuid;

/// Whom an action in the tenant is about.
enum Target {
    /// The tenant as a whole (listing, creating).
    Tenant,
    /// A user acted on: their roles decide what it takes (their admins need more).
    User(UserId),
    /// A user whose licenses change or are read: they must be the tenant's, but their roles
    /// do not matter (licenses are the tenant's, whoever holds them).
    Holder(UserId),
}

pub(crate) fn has_active_relationship(c: &Connection, partner: OrganizationId, customer: OrganizationId) -> StoreResult<bool> {
    scalar_i64(
        c,
        "SELECT count(*) FROM relationships WHERE partner_org_id = ? AND customer_id = ? AND state = 'active'",
        params![partner.0, customer.0],
    )
    .map(|n| n > 0)
}

fn user_in(c: &Connection, org: OrganizationId, user: UserId) -> StoreResult<User> {
    one(c, &format!("SELECT {USER_COLS} FROM users WHERE id = ? AND organization_id = ?"), params![user.0, org.0], user_from)
}

/// The partner's standing in the tenant, as it is in this transaction: without an active
/// relationship the customer does not exist for it (`NotFound`); a target user must be the
/// tenant's (`NotFound`); then the delegation table decides over the live grants (`Forbidden`).
/// `action` is what the calling method does; `access.action` must name it.
fn admit(c: &Connection, access: &TenantAccess, action: TenantAction, target: Target, giving: &[Role]) -> StoreResult<Option<User>> {
    if !has_active_relationship(c, access.partner, access.customer)? {
        return Err(StoreError::NotFound);
    }
    let granted = all(
        c,
        "SELECT role FROM grants WHERE partner_org_id = ? AND customer_id = ? AND revoked_at IS NULL AND expires_at > ?",
        params![access.partner.0, access.customer.0, ts(access.now)],
        |r| {
            let role: String = r.get(0).map_err(crate::db::err)?;
            DelegatedRole::parse(&role).ok_or_else(|| StoreError::Database(format!("unknown delegated role `{role}` in the database")))
        },
    )?;
    let (user, counts) = match target {
        Target::Tenant => (None, false),
        Target::User(id) => (Some(user_in(c, access.customer, id)?), true),
        Target::Holder(id) => (Some(user_in(c, access.customer, id)?), false),
    };
    // A caller asking for one action while doing another is refused, not reinterpreted.
    if access.action != action {
        return Err(StoreError::Forbidden);
    }
    let target_roles = user.as_ref().filter(|_| counts).map(|u| u.roles.as_slice());
    delegation::authorize(action, &access.agent_roles, &granted, target_roles, giving).map_err(|_| StoreError::Forbidden)?;
    Ok(user)
}

pub(crate) fn users(c: &Connection, access: &TenantAccess, page: &PageQuery) -> StoreResult<Page<User>> {
    admit(c, access, TenantAction::ReadUsers, Target::Tenant, &[])?;
    let mut sql = format!("SELECT {USER_COLS} FROM users WHERE organization_id = ?");
    let mut args = vec![crate::blob(access.customer.0)];
    if let Some((email, id)) = page.cursor.as_deref().map(decode_cursor).transpose()? {
        sql.push_str(" AND (email, id) > (?, ?)");
        args.extend([Sql::Text(email), crate::blob(id)]);
    }
    sql.push_str(" ORDER BY email, id LIMIT ?");
    args.push(Sql::Integer(page.limit + 1));
    let total = scalar_i64(c, "SELECT count(*) FROM users WHERE organization_id = ?", params![access.customer.0])?;
    let items = all(c, &sql, params_from_iter(args.iter()), user_from)?;
    Ok(paged(items, page.limit, total, |u| encode_cursor(&u.email, u.id.0)))
}

pub(crate) fn create_user(c: &Connection, access: &TenantAccess, user: &NewUser, change: &Change) -> StoreResult<User> {
    admit(c, access, TenantAction::ManageUsers, Target::Tenant, &user.roles)?;
    if user.organization_id != access.customer {
        return Err(StoreError::NotFound);
    }
    insert_user(c, user)?;
    write_change(c, change)?;
    user_in(c, access.customer, user.id)
}

pub(crate) fn update_user(c: &Connection, access: &TenantAccess, id: UserId, patch: &UserPatch, change: &Change) -> StoreResult<User> {
    let old = admit(c, access, TenantAction::ManageUsers, Target::User(id), patch.roles.as_deref().unwrap_or(&[]))?;
    exec(
        c,
        "UPDATE users SET roles = coalesce(?, roles), display_name = coalesce(?, display_name) WHERE id = ? AND organization_id = ?",
        params![patch.roles.as_deref().map(roles_json), patch.display_name, id.0, access.customer.0],
    )?;
    // A lost role ends the user's sessions (the roles were read in this write transaction).
    if old.is_some_and(|u| patch.takes_a_role_from(&u.roles)) {
        exec(c, "DELETE FROM sessions WHERE user_id = ?", params![id.0])?;
    }
    ensure_a_global_admin(c, access.customer)?;
    write_change(c, change)?;
    user_in(c, access.customer, id)
}

pub(crate) fn delete_user(c: &Connection, access: &TenantAccess, id: UserId, mut change: Change) -> StoreResult<()> {
    admit(c, access, TenantAction::ManageUsers, Target::User(id), &[])?;
    release_licenses(c, Released::OfUser(access.customer, id), &mut change)?;
    exec(c, "DELETE FROM sessions WHERE user_id = ?", params![id.0])?;
    exec(c, "DELETE FROM users WHERE id = ? AND organization_id = ?", params![id.0, access.customer.0])?;
    ensure_a_global_admin(c, access.customer)?;
    write_change(c, &change)
}

pub(crate) fn reset_password(c: &Connection, access: &TenantAccess, id: UserId, password_hash: &str, change: &Change) -> StoreResult<()> {
    admit(c, access, TenantAction::ResetPassword, Target::User(id), &[])?;
    exec(
        c,
        "UPDATE users SET password_hash = ?, password_change_required = 1, password_set_at = ? WHERE id = ? AND organization_id = ?",
        params![password_hash, ts(change.audit.at), id.0, access.customer.0],
    )?;
    // Whoever signed in with the old password is out.
    exec(c, "DELETE FROM sessions WHERE user_id = ?", params![id.0])?;
    write_change(c, change)
}

pub(crate) fn assign_license(
    c: &Connection,
    access: &TenantAccess,
    user: UserId,
    subscription: SubscriptionId,
    change: &Change,
) -> StoreResult<License> {
    admit(c, access, TenantAction::ManageLicenses, Target::Holder(user), &[])?;
    let customer = access.customer;
    // Asked first so that a full subscription does not hide that the user has the seat.
    let held = scalar_i64(
        c,
        "SELECT count(*) FROM licenses WHERE subscription_id = ? AND user_id = ? AND customer_id = ?",
        params![subscription.0, user.0, customer.0],
    )?;
    if held > 0 {
        return Err(StoreError::Conflict { constraint: constraint::LICENSE_EXISTS });
    }
    // The seat is taken by a conditional update: concurrent assignments never pass the quantity.
    let taken = exec(
        c,
        "UPDATE subscriptions SET assigned = assigned + 1 WHERE id = ? AND customer_id = ? AND status = 'active' AND assigned < quantity",
        params![subscription.0, customer.0],
    )?;
    if taken == 0 {
        let status: String =
            one(c, "SELECT status FROM subscriptions WHERE id = ? AND customer_id = ?", params![subscription.0, customer.0], |r| {
                r.get(0).map_err(crate::db::err)
            })?;
        let constraint =
            if status == SubscriptionStatus::Active.as_str() { constraint::NO_SEATS } else { constraint::SUBSCRIPTION_NOT_ACTIVE };
        return Err(StoreError::Conflict { constraint });
    }
    exec(
        c,
        "INSERT INTO licenses (subscription_id, user_id, customer_id, assigned_at) VALUES (?, ?, ?, ?)",
        params![subscription.0, user.0, customer.0, ts(access.now)],
    )?;
    write_change(c, change)?;
    one(
        c,
        &format!("SELECT {LICENSE_COLS} FROM {LICENSE_FROM} WHERE l.subscription_id = ? AND l.user_id = ?"),
        params![subscription.0, user.0],
        license_from,
    )
}

pub(crate) fn release_license(
    c: &Connection,
    access: &TenantAccess,
    user: UserId,
    subscription: SubscriptionId,
    change: &Change,
) -> StoreResult<()> {
    admit(c, access, TenantAction::ManageLicenses, Target::Holder(user), &[])?;
    let n = exec(
        c,
        "DELETE FROM licenses WHERE subscription_id = ? AND user_id = ? AND customer_id = ?",
        params![subscription.0, user.0, access.customer.0],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    exec(c, "UPDATE subscriptions SET assigned = assigned - 1 WHERE id = ?", params![subscription.0])?;
    write_change(c, change)
}

pub(crate) fn user_licenses(c: &Connection, access: &TenantAccess, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
    admit(c, access, TenantAction::ReadUsers, Target::Holder(user), &[])?;
    licenses_of(c, access.customer, user, page)
}

/// A page of the user's licenses in `org`, by subscription id.
pub(crate) fn licenses_of(c: &Connection, org: OrganizationId, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
    let keys = Keyset { cols: LICENSE_COLS, from: LICENSE_FROM, key: Key::Id, id: "l.subscription_id" };
    let filter = " WHERE l.user_id = ? AND l.customer_id = ?";
    keys.fetch(c, filter, vec![crate::blob(user.0), crate::blob(org.0)], page, license_from, |l| (String::new(), l.subscription_id.0))
}

/// Licenses that go together: a user's (deleted), or a subscription's (cancelled).
pub(crate) enum Released {
    OfUser(OrganizationId, UserId),
    OfSubscription(OrganizationId, SubscriptionId),
}

/// Deletes the licenses and gives their seats back; records `released_licenses` in the change
/// and adds a `license.released` event for each. Answers how many.
pub(crate) fn release_licenses(c: &Connection, which: Released, change: &mut Change) -> StoreResult<i64> {
    let (column, org, id) = match which {
        Released::OfUser(org, user) => ("user_id", org, user.0),
        Released::OfSubscription(org, sub) => ("subscription_id", org, sub.0),
    };
    let mut rows = all(
        c,
        &format!("DELETE FROM licenses WHERE customer_id = ? AND {column} = ? RETURNING subscription_id, user_id"),
        params![org.0, id],
        |r| Ok((r.get::<_, Uuid>(0).map_err(crate::db::err)?, r.get::<_, Uuid>(1).map_err(crate::db::err)?)),
    )?;
    rows.sort();
    for (sub, _) in &rows {
        exec(c, "UPDATE subscriptions SET assigned = assigned - 1 WHERE id = ?", params![sub])?;
    }
    // Recorded before the events are added, so that they carry only their own data.
    change.record("released_licenses", rows.len() as i64);
    for (sub, user) in &rows {
        change.derived_event("license.released", org, json!({"subscription_id": sub, "user_id": user, "customer_id": org}));
    }
    Ok(rows.len() as i64)
}
