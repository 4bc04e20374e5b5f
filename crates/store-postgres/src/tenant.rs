//! What a partner does inside a customer's tenant through its grants: the tenant's users and
//! their licenses. Each change starts with [`admit`] in its own transaction, which locks the
//! relationship and the live grants it relies on `FOR SHARE`: a removal or a revocation racing
//! it waits for its commit, or it waits for theirs and then sees them. Locks are taken in the
//! order of `locks`.

use crate::organizations::{USER_COLS, end_sessions, ensure_a_global_admin, password_ctes};
use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{PgStore, Tx, audit, db, fenced, locks, n_of};
use partnerhub_domain::delegation;
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// Whom an action in the tenant is about.
#[derive(Clone, Copy)]
enum Target {
    /// The tenant as a whole (listing, creating).
    Tenant,
    /// A user acted on: their roles decide what it takes (their admins need more).
    User(UserId, UserLock),
    /// A user whose licenses change or are read: they must be the tenant's, but their roles
    /// do not matter (licenses are the tenant's, whoever holds them).
    Holder(UserId),
}

/// How a changed user is locked.
#[derive(Clone, Copy, PartialEq)]
enum UserLock {
    /// Their roles or name change; a sign-in in flight (which locks the user so too) commits
    /// its session first, which a lost role then ends.
    Update,
    /// Deleted, or their password changes: sign-ins in flight (which KEY SHARE lock the user)
    /// finish first or start after.
    Exclusive,
}

/// The partner's standing in the tenant, as it is in this transaction: without an active
/// relationship the customer does not exist for it (`NotFound`); a target user must be the
/// tenant's (`NotFound`); then the delegation table decides over the live grants (`Forbidden`).
/// `action` is what the calling method does; `access.action` must name it. With `lock`, the
/// pair's gate is taken shared in a statement of its own (see `locks`); then the relationship
/// and the grants are locked FOR SHARE, then (for a changed user) the organization, whose last
/// global admin may be at stake, then the user, in one statement whose CTEs each read the one
/// before, so that they lock in that order.
async fn admit(
    conn: &mut PgConnection,
    access: &TenantAccess,
    action: TenantAction,
    target: Target,
    giving: &[Role],
    lock: bool,
) -> StoreResult<Option<User>> {
    let share = if lock { "FOR SHARE" } else { "" };
    let (user, lock_org, user_lock) = match target {
        Target::Tenant => (None, false, ""),
        Target::User(id, UserLock::Update) => (Some(id), lock, "FOR NO KEY UPDATE"),
        Target::User(id, UserLock::Exclusive) => (Some(id), lock, "FOR UPDATE"),
        // The license's foreign key locks the user so; taken here, before the chain lock.
        Target::Holder(id) => (Some(id), false, "FOR KEY SHARE"),
    };
    let user_lock = if lock { user_lock } else { "" };
    // A read takes no gate, and answers from one snapshot; a change takes it first, so that
    // it sees the grants a renewal it waited for made.
    if lock {
        locks::take(conn, false, &[(access.partner, access.customer)]).await?;
    }
    let r = sqlx::query(sqlf!(
        "WITH rel AS MATERIALIZED (
             SELECT id FROM relationships WHERE partner_org_id = $1 AND customer_id = $2 AND state = 'active' {share}),
         g AS MATERIALIZED (
             SELECT role FROM grants
             WHERE partner_org_id = $1 AND customer_id = $2 AND revoked_at IS NULL AND expires_at > $3 AND EXISTS (SELECT 1 FROM rel)
             ORDER BY id {share}),
         o AS MATERIALIZED (
             SELECT id FROM organizations WHERE id = $2 AND $5 AND (SELECT count(*) FROM g) >= 0 FOR NO KEY UPDATE),
         u AS MATERIALIZED (
             SELECT {USER_COLS} FROM users
             WHERE id = $4 AND organization_id = $2 AND EXISTS (SELECT 1 FROM rel) AND (SELECT count(*) FROM o) >= 0 {user_lock})
         SELECT EXISTS (SELECT 1 FROM rel) AS related, (SELECT coalesce(array_agg(role), '{{}}') FROM g) AS granted, u.*
         FROM (SELECT 1) AS one LEFT JOIN u ON true"
    ))
    .bind(access.partner.0)
    .bind(access.customer.0)
    .bind(pt(access.now))
    .bind(user.map(|u| u.0))
    .bind(lock_org)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if !get::<bool>(&r, "related")? {
        return Err(StoreError::NotFound);
    }
    let granted = get::<Vec<String>>(&r, "granted")?
        .iter()
        .map(|g| DelegatedRole::parse(g).ok_or_else(|| StoreError::Database(format!("unknown delegated role `{g}` in the database"))))
        .collect::<StoreResult<Vec<_>>>()?;
    let found = match user {
        Some(_) if get::<Option<Uuid>>(&r, "id")?.is_none() => return Err(StoreError::NotFound),
        Some(_) => Some(user_from(&r)?),
        None => None,
    };
    // A caller asking for one action while doing another is refused, not reinterpreted.
    if access.action != action {
        return Err(StoreError::Forbidden);
    }
    let target_roles = match target {
        Target::User(..) => found.as_ref().map(|u| u.roles.as_slice()),
        Target::Tenant | Target::Holder(_) => None,
    };
    delegation::authorize(action, &access.agent_roles, &granted, target_roles, giving).map_err(|_| StoreError::Forbidden)?;
    Ok(found)
}

impl PgStore {
    pub(crate) async fn tenant_users_in(&self, access: &TenantAccess, page: &PageQuery) -> StoreResult<Page<User>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        admit(&mut conn, access, TenantAction::ReadUsers, Target::Tenant, &[], false).await?;
        let keys = Keyset { cols: USER_COLS, from: "users", key: Key::Text("email"), id: "id" };
        let customer = access.customer.0;
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE organization_id = ").push_bind(customer);
            },
            page,
            user_from,
            |u| (u.email.clone(), u.id.0),
        )
        .await
    }

    pub(crate) async fn create_tenant_user_in(&self, access: &TenantAccess, user: NewUser, change: Change) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        admit(&mut tx, access, TenantAction::ManageUsers, Target::Tenant, &user.roles, true).await?;
        if user.organization_id != access.customer {
            return Err(StoreError::NotFound);
        }
        let sql = fenced(&crate::user_insert(1, None), "SELECT (SELECT count(*) FROM usr) AS n");
        let r = crate::bind_user(sqlx::query(sqlx::AssertSqlSafe(sql)), &user).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("user not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        let mut u = user.user();
        u.created_at = pt(u.created_at);
        Ok(u)
    }

    pub(crate) async fn update_tenant_user_in(
        &self,
        access: &TenantAccess,
        id: UserId,
        patch: UserPatch,
        change: Change,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let giving = patch.roles.as_deref().unwrap_or(&[]);
        let old = admit(&mut tx, access, TenantAction::ManageUsers, Target::User(id, UserLock::Update), giving, true).await?;
        let r = sqlx::query(sqlf!(
            "UPDATE users SET roles = coalesce($1, roles), display_name = coalesce($2, display_name)
             WHERE id = $3 AND organization_id = $4 RETURNING {USER_COLS}"
        ))
        .bind(patch.roles.as_deref().map(roles_json))
        .bind(patch.display_name.as_deref())
        .bind(id.0)
        .bind(access.customer.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let u = user_from(&r)?;
        // A lost role ends the user's sessions (`admit` locked the user and read its roles).
        if old.is_some_and(|o| patch.takes_a_role_from(&o.roles)) {
            end_sessions(&mut tx, id).await?;
        }
        ensure_a_global_admin(&mut tx, access.customer).await?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(u)
    }

    pub(crate) async fn delete_tenant_user_in(&self, access: &TenantAccess, id: UserId, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        admit(&mut tx, access, TenantAction::ManageUsers, Target::User(id, UserLock::Exclusive), &[], true).await?;
        let mut change = change;
        delete_user(&mut tx, access.customer, id, &mut change).await?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    pub(crate) async fn reset_tenant_user_password_in(
        &self,
        access: &TenantAccess,
        id: UserId,
        password_hash: String,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        admit(&mut tx, access, TenantAction::ResetPassword, Target::User(id, UserLock::Exclusive), &[], true).await?;
        // Whoever signed in with the old password is out: every session ends.
        let sql = fenced(&password_ctes(), "SELECT (SELECT count(*) FROM u) AS n, (SELECT count(*) FROM s) AS ended");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(access.customer.0)
            .bind(password_hash)
            .bind(true)
            .bind(None::<Uuid>)
            .bind(pt(change.audit.at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    pub(crate) async fn assign_license_in(
        &self,
        access: &TenantAccess,
        user: UserId,
        subscription: SubscriptionId,
        change: Change,
    ) -> StoreResult<License> {
        let mut tx = self.begin().await?;
        admit(&mut tx, access, TenantAction::ManageLicenses, Target::Holder(user), &[], true).await?;
        // The subscription is locked first, so that its status is the latest when the seat is
        // refused; the seat is then taken by a conditional update, so concurrent assignments
        // never pass the quantity. A license the user holds already is asked for first (a full
        // subscription must not hide it); one committed meanwhile fails the primary key.
        let sql = fenced(
            "held AS MATERIALIZED (SELECT count(*) AS n FROM licenses WHERE subscription_id = $1 AND user_id = $2 AND customer_id = $3),
             s AS MATERIALIZED (SELECT id, status FROM subscriptions WHERE id = $1 AND customer_id = $3 AND (SELECT n FROM held) >= 0
                                FOR NO KEY UPDATE),
             upd AS (UPDATE subscriptions SET assigned = assigned + 1
                     WHERE id = (SELECT id FROM s) AND status = 'active' AND assigned < quantity AND (SELECT n FROM held) = 0
                     RETURNING id),
             ins AS (INSERT INTO licenses (subscription_id, user_id, customer_id, assigned_at) SELECT id, $2, $3, $4 FROM upd
                     RETURNING subscription_id, user_id, customer_id, assigned_at)",
            "SELECT (SELECT count(*) FROM ins) AS n, (SELECT n FROM held) AS held, (SELECT status FROM s) AS sub_status, lic.*
             FROM (SELECT 1) AS one LEFT JOIN (
                 SELECT l.subscription_id, l.user_id, l.customer_id, l.assigned_at,
                        o.id AS o_id, o.name AS o_name, o.unit_price_cents AS o_unit_price_cents, o.currency AS o_currency
                 FROM ins l JOIN subscriptions s ON s.id = l.subscription_id JOIN offers o ON o.id = s.offer_id) AS lic ON true",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(subscription.0)
            .bind(user.0)
            .bind(access.customer.0)
            .bind(pt(access.now))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            let status: Option<String> = get(&r, "sub_status")?;
            return Err(match status {
                _ if get::<i64>(&r, "held")? > 0 => StoreError::Conflict { constraint: constraint::LICENSE_EXISTS },
                None => StoreError::NotFound,
                Some(s) if s == SubscriptionStatus::Active.as_str() => StoreError::Conflict { constraint: constraint::NO_SEATS },
                Some(_) => StoreError::Conflict { constraint: constraint::SUBSCRIPTION_NOT_ACTIVE },
            });
        }
        let license = license_from(&r)?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(license)
    }

    pub(crate) async fn release_license_in(
        &self,
        access: &TenantAccess,
        user: UserId,
        subscription: SubscriptionId,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        admit(&mut tx, access, TenantAction::ManageLicenses, Target::Holder(user), &[], true).await?;
        let sql = fenced(
            "s AS MATERIALIZED (SELECT id FROM subscriptions WHERE id = $1 AND customer_id = $3 FOR NO KEY UPDATE),
             d AS (DELETE FROM licenses WHERE subscription_id = (SELECT id FROM s) AND user_id = $2 AND customer_id = $3
                   RETURNING subscription_id),
             upd AS (UPDATE subscriptions SET assigned = assigned - 1 WHERE id IN (SELECT subscription_id FROM d) RETURNING 1)",
            "SELECT (SELECT count(*) FROM upd) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(subscription.0)
            .bind(user.0)
            .bind(access.customer.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    pub(crate) async fn tenant_user_licenses_in(
        &self,
        access: &TenantAccess,
        user: UserId,
        page: &PageQuery,
    ) -> StoreResult<Page<License>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        admit(&mut conn, access, TenantAction::ReadUsers, Target::Holder(user), &[], false).await?;
        licenses_of(&mut conn, access.customer, user, page).await
    }

    pub(crate) async fn user_licenses_in(&self, org: OrganizationId, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1 AND organization_id = $2")
            .bind(user.0)
            .bind(org.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        licenses_of(&mut conn, org, user, page).await
    }
}

/// A page of the user's licenses in `org`, by subscription id.
async fn licenses_of(conn: &mut PgConnection, org: OrganizationId, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
    let keys = Keyset { cols: LICENSE_COLS, from: LICENSE_FROM, key: Key::Id, id: "l.subscription_id" };
    keys.fetch(
        conn,
        |b| {
            b.push(" WHERE l.user_id = ").push_bind(user.0).push(" AND l.customer_id = ").push_bind(org.0);
        },
        page,
        license_from,
        |l| (String::new(), l.subscription_id.0),
    )
    .await
}

/// Deletes user `id` of `org` with its sessions (by the foreign key's cascade) and releases its
/// licenses; keeps a global admin in the organization and takes the chain lock last. The
/// organization and the user must be locked already, by an earlier statement (see
/// `organizations::lock_user`), so that this one sees every license assigned before; it locks
/// the subscriptions whose seats come back, by id, before their licenses: the order in which a
/// cancellation or a release lock them. `NotFound` when the user is not the organization's.
pub(crate) async fn delete_user(tx: &mut Tx, org: OrganizationId, id: UserId, change: &mut Change) -> StoreResult<()> {
    let r = sqlx::query(
        "WITH u AS MATERIALIZED (SELECT id FROM users WHERE id = $1 AND organization_id = $2),
              subs AS MATERIALIZED (
                  SELECT id FROM subscriptions WHERE id IN (SELECT subscription_id FROM licenses WHERE user_id = (SELECT id FROM u))
                  ORDER BY id FOR NO KEY UPDATE),
              rel AS (DELETE FROM licenses WHERE user_id = (SELECT id FROM u) AND (SELECT count(*) FROM subs) >= 0
                      RETURNING subscription_id, user_id),
              dec AS (UPDATE subscriptions SET assigned = assigned - 1 WHERE id IN (SELECT subscription_id FROM rel) RETURNING 1),
              d AS (DELETE FROM users WHERE id = (SELECT id FROM u) AND (SELECT count(*) FROM dec) >= 0 RETURNING 1)
         SELECT (SELECT count(*) FROM d) AS n,
                (SELECT coalesce(array_agg(subscription_id ORDER BY subscription_id), '{}') FROM rel) AS released",
    )
    .bind(id.0)
    .bind(org.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    if n_of(&r)? == 0 {
        return Err(StoreError::NotFound);
    }
    let released: Vec<Uuid> = get(&r, "released")?;
    record_released(change, org, released.into_iter().map(|s| (s, id.0)).collect());
    ensure_a_global_admin(tx, org).await
}

/// Records `released_licenses` in the change, then adds a `license.released` event for each
/// (subscription, user), in that order, as the SQLite store does.
pub(crate) fn record_released(change: &mut Change, customer: OrganizationId, mut released: Vec<(Uuid, Uuid)>) {
    released.sort();
    change.record("released_licenses", released.len() as i64);
    for (sub, user) in released {
        change.derived_event("license.released", customer, json!({"subscription_id": sub, "user_id": user, "customer_id": customer}));
    }
}
