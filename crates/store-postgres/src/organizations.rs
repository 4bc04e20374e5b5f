//! Organizations, their users, and the provider links between indirect providers and
//! resellers.

use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::tenant;
use crate::{ORG_INSERT, PgStore, Tx, audit, bind_org, bind_user, db, fenced, n_of, user_insert};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

const ORG_COLS: &str = "id, kind, name, domain, partner_type, partner_id, created_at";
pub(crate) const USER_COLS: &str = "id, organization_id, email, display_name, roles, password_change_required, locale, created_at";

#[async_trait]
impl OrganizationStore for PgStore {
    async fn create_organization(&self, org: NewOrganization, admin: NewUser, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(&format!("{ORG_INSERT}, {}", user_insert(8, Some("org"))), "SELECT (SELECT count(*) FROM usr) AS n");
        let q = bind_user(bind_org(sqlx::query(sqlx::AssertSqlSafe(sql)), &org), &admin);
        let r = q.fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("organization admin not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Organization> {
        let r =
            sqlx::query(sqlf!("SELECT {ORG_COLS} FROM organizations WHERE id = $1")).bind(id.0).fetch_one(&self.pool).await.map_err(db)?;
        org_from(&r, "")
    }

    async fn partner_by_public_id(&self, partner_id: &str) -> StoreResult<Organization> {
        let r = sqlx::query(sqlf!("SELECT {ORG_COLS} FROM organizations WHERE partner_id = $1 AND kind = 'partner'"))
            .bind(partner_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        org_from(&r, "")
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let r = sqlx::query(
            "SELECT id, organization_id, password_hash, password_change_required, coalesce(password_set_at, created_at) AS password_set_at
             FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        r.map(|r| {
            Ok(Credentials {
                user_id: UserId(r.try_get("id").map_err(db)?),
                organization_id: OrganizationId(r.try_get("organization_id").map_err(db)?),
                password_hash: r.try_get("password_hash").map_err(db)?,
                password_change_required: r.try_get("password_change_required").map_err(db)?,
                password_set_at: r.try_get("password_set_at").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn list_users(&self, org: OrganizationId, page: &PageQuery) -> StoreResult<Page<User>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let keys = Keyset { cols: USER_COLS, from: "users", key: Key::Text("email"), id: "id" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE organization_id = ").push_bind(org.0);
            },
            page,
            user_from,
            |u| (u.email.clone(), u.id.0),
        )
        .await
    }

    async fn create_user(&self, org: OrganizationId, user: NewUser, change: Change) -> StoreResult<()> {
        if user.organization_id != org {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.begin().await?;
        let sql = fenced(&user_insert(1, None), "SELECT (SELECT count(*) FROM usr) AS n");
        let r = bind_user(sqlx::query(sqlx::AssertSqlSafe(sql)), &user).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("user not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn update_user(&self, org: OrganizationId, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        // The organization row is locked first: two admins demoting each other at once must
        // not both see the other still a global admin. Then the user, FOR NO KEY UPDATE, in a
        // statement of its own: its roles are the ones this changes, and a sign-in in flight
        // (which locks the user so) has committed its session, which a lost role then ends.
        let old = sqlx::query(sqlf!(
            "WITH l AS MATERIALIZED (SELECT id FROM organizations WHERE id = $2 FOR NO KEY UPDATE)
             SELECT {USER_COLS} FROM users WHERE id = $1 AND organization_id = (SELECT id FROM l) FOR NO KEY UPDATE"
        ))
        .bind(user.0)
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(old) = old else {
            return Err(StoreError::NotFound);
        };
        let old = user_from(&old)?;
        let r = sqlx::query(sqlf!(
            "UPDATE users SET roles = coalesce($1, roles), display_name = coalesce($2, display_name), locale = coalesce($5, locale)
             WHERE id = $3 AND organization_id = $4 RETURNING {USER_COLS}"
        ))
        .bind(patch.roles.as_deref().map(roles_json))
        .bind(patch.display_name.as_deref())
        .bind(user.0)
        .bind(org.0)
        .bind(patch.locale.map(|l| l.as_str()))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let u = user_from(&r)?;
        if patch.takes_a_role_from(&old.roles) {
            end_sessions(&mut tx, user).await?;
        }
        ensure_a_global_admin(&mut tx, org).await?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(u)
    }

    async fn delete_user(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The organization row is locked first (see `update_user`), then the user; the user's
        // licenses are released and its sessions go with it by the foreign key's cascade.
        lock_user(&mut tx, org, user, true).await?;
        let mut change = change;
        tenant::delete_user(&mut tx, org, user, &mut change).await?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn user(&self, org: OrganizationId, user: UserId) -> StoreResult<User> {
        let r = sqlx::query(sqlf!("SELECT {USER_COLS} FROM users WHERE id = $1 AND organization_id = $2"))
            .bind(user.0)
            .bind(org.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        user_from(&r)
    }

    async fn set_password(
        &self,
        org: OrganizationId,
        user: UserId,
        password_hash: String,
        change_required: bool,
        keep: Option<SessionId>,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, org, user, false).await?;
        let sql = fenced(&password_ctes(), "SELECT (SELECT count(*) FROM u) AS n, (SELECT count(*) FROM s) AS ended");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.0)
            .bind(org.0)
            .bind(password_hash)
            .bind(change_required)
            .bind(keep.map(|k| k.0))
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

    async fn list_partners(&self, page: &PageQuery) -> StoreResult<Page<Organization>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let keys = Keyset { cols: ORG_COLS, from: "organizations", key: Key::Text("name"), id: "id" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE kind = 'partner'");
            },
            page,
            |r| org_from(r, ""),
            |o| (o.name.clone(), o.id.0),
        )
        .await
    }

    async fn create_provider_link(&self, link: NewProviderLink, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "ins AS (
                 INSERT INTO provider_links (id, provider_id, reseller_id, state, created_at, activated_at)
                 SELECT $1, p.id, r.id, $2, $3, $4 FROM organizations p, organizations r
                 WHERE p.id = $5 AND p.partner_type = 'indirect_provider' AND r.id = $6 AND r.partner_type = 'indirect_reseller'
                 RETURNING 1)",
            "SELECT (SELECT count(*) FROM ins) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(link.id.0)
            .bind(if link.active { "active" } else { "pending" })
            .bind(pt(link.created_at))
            .bind(link.active.then(|| pt(link.created_at)))
            .bind(link.provider_id.0)
            .bind(link.reseller_id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::NOT_A_PROVIDER });
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn provider_links(&self, org: OrganizationId, side: LinkSide, page: &PageQuery) -> StoreResult<Page<ProviderLinkView>> {
        let (mine, other) = match side {
            LinkSide::Providers => ("reseller_id", "provider_id"),
            LinkSide::Resellers => ("provider_id", "reseller_id"),
        };
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let from = format!("provider_links l JOIN organizations o ON o.id = l.{other}");
        let keys = Keyset {
            cols: "o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, l.state AS link_state",
            from: &from,
            key: Key::Text("o.name"),
            id: "o.id",
        };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(format!(" WHERE l.ended_at IS NULL AND l.{mine} = ")).push_bind(org.0);
            },
            page,
            |r| Ok(ProviderLinkView { partner: org_from(r, "")?.partner_ref(), state: r.try_get("link_state").map_err(db)? }),
            |v| (v.partner.name.clone(), v.partner.id.0),
        )
        .await
    }

    async fn activate_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "upd AS (UPDATE provider_links SET state = 'active', activated_at = $1
                     WHERE provider_id = $2 AND reseller_id = $3 AND state = 'pending' RETURNING 1)",
            "SELECT (SELECT count(*) FROM upd) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(org.0).bind(reseller.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn decline_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        mut change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "upd AS (UPDATE provider_links SET state = 'declined', ended_at = $1
                     WHERE provider_id = $2 AND reseller_id = $3 AND state = 'pending' RETURNING id)",
            "SELECT (SELECT count(*) FROM upd) AS n, (SELECT id FROM upd) AS id",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(org.0).bind(reseller.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(match live_link_state(&mut tx, org, reseller).await?.as_deref() {
                Some("active") => StoreError::Conflict { constraint: constraint::PROVIDER_LINK_NOT_PENDING },
                _ => StoreError::NotFound,
            });
        }
        let id: Uuid = r.try_get("id").map_err(db)?;
        change.identify("id", id.to_string());
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn end_provider_link(
        &self,
        org: OrganizationId,
        side: LinkSide,
        other: OrganizationId,
        now: OffsetDateTime,
        mut change: Change,
    ) -> StoreResult<()> {
        let (provider, reseller) = match side {
            LinkSide::Providers => (other, org),
            LinkSide::Resellers => (org, other),
        };
        let mut tx = self.begin().await?;
        // The live link locked first, so that the state it had is the one ended (an accept
        // racing this one either commits before, and this ends an active link, or finds none).
        let sql = fenced(
            "old AS MATERIALIZED (SELECT id, state FROM provider_links
                                  WHERE provider_id = $2 AND reseller_id = $3 AND ended_at IS NULL FOR UPDATE),
             upd AS (UPDATE provider_links l SET state = 'ended', ended_at = $1 FROM old WHERE l.id = old.id
                     RETURNING l.id, old.state AS previous)",
            "SELECT (SELECT count(*) FROM upd) AS n, (SELECT id FROM upd) AS id, (SELECT previous FROM upd) AS previous",
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(provider.0).bind(reseller.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        let id: Uuid = r.try_get("id").map_err(db)?;
        let previous: String = r.try_get("previous").map_err(db)?;
        change.identify("id", id.to_string());
        change.record("previous_state", previous);
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn active_provider_link(&self, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM provider_links WHERE provider_id = $1 AND reseller_id = $2 AND state = 'active'")
                .bind(provider.0)
                .bind(reseller.0)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        Ok(n > 0)
    }
}

/// The state of the live (pending or active) link of the pair, if any.
async fn live_link_state(conn: &mut sqlx::PgConnection, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT state FROM provider_links WHERE provider_id = $1 AND reseller_id = $2 AND ended_at IS NULL")
        .bind(provider.0)
        .bind(reseller.0)
        .fetch_optional(conn)
        .await
        .map_err(db)
}

/// A new password for user `$1` of organization `$2`: hash `$3`, `password_change_required`
/// `$4`, set at `$6`, and every session of the user ends but `$5` (may be NULL). CTEs `u` (the user) and `s`
/// (the sessions ended). The user must be locked already (see [`lock_user`]): then a sign-in in
/// flight, which KEY SHARE locks the user, has committed its session, and this statement sees it.
pub(crate) fn password_ctes() -> String {
    "l AS MATERIALIZED (SELECT id FROM users WHERE id = $1 AND organization_id = $2),
     u AS (UPDATE users SET password_hash = $3, password_change_required = $4, password_set_at = $6 WHERE id = (SELECT id FROM l) RETURNING id),
     s AS (DELETE FROM sessions WHERE user_id = (SELECT id FROM l) AND ($5::uuid IS NULL OR id <> $5) RETURNING 1)"
        .to_owned()
}

/// Locks user `user` of `org` FOR UPDATE, after the organization row when `with_org` (see
/// `update_user`), in a statement of its own, before a change that must see everything its
/// holders did: a sign-in's session, a license assigned to it (both KEY SHARE lock the user).
/// A statement that waits for a lock still reads from the snapshot it started with.
/// `NotFound` when the user is not the organization's.
pub(crate) async fn lock_user(tx: &mut Tx, org: OrganizationId, user: UserId, with_org: bool) -> StoreResult<()> {
    let found = sqlx::query(
        "WITH l AS MATERIALIZED (SELECT id FROM organizations WHERE id = $2 AND $3 FOR NO KEY UPDATE)
         SELECT id FROM users WHERE id = $1 AND organization_id = $2 AND (SELECT count(*) FROM l) >= 0 FOR UPDATE",
    )
    .bind(user.0)
    .bind(org.0)
    .bind(with_org)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// Ends every session of `user` (a lost role); the user must be locked already.
pub(crate) async fn end_sessions(tx: &mut Tx, user: UserId) -> StoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.0).execute(&mut **tx).await.map_err(db)?;
    Ok(())
}

/// Who must still hold at least one global admin: every organization, always. Runs after the
/// change, under the organization row's lock.
pub(crate) async fn ensure_a_global_admin(tx: &mut Tx, org: OrganizationId) -> StoreResult<()> {
    let r = sqlx::query("SELECT count(*) AS n FROM users WHERE organization_id = $1 AND roles LIKE '%\"global_admin\"%'")
        .bind(org.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    if n_of(&r)? == 0 { Err(StoreError::Conflict { constraint: constraint::LAST_GLOBAL_ADMIN }) } else { Ok(()) }
}
