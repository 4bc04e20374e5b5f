//! Organizations, their users, and the provider links between indirect providers and
//! resellers.

use crate::db::err;
use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::tenant::{Released, release_licenses};
use crate::{ORG_COLS, SqliteStore, all, blob, exec, insert_org, insert_user, one, org_in, paged, scalar_i64, write_change};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) const USER_COLS: &str = "id, organization_id, email, display_name, roles, password_change_required, locale, created_at";

#[async_trait]
impl OrganizationStore for SqliteStore {
    async fn create_organization(&self, org: NewOrganization, admin: NewUser, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                insert_org(c, &org)?;
                insert_user(c, &admin)?;
                write_change(c, &change)
            })
            .await
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Organization> {
        self.db.read(|c| org_in(c, id))
    }

    async fn partner_by_public_id(&self, partner_id: &str) -> StoreResult<Organization> {
        self.db.read(|c| {
            one(c, &format!("SELECT {ORG_COLS} FROM organizations WHERE partner_id = ? AND kind = 'partner'"), params![partner_id], |r| {
                org_from(r, "")
            })
        })
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        self.db.read(|c| {
            c.prepare_cached(
                "SELECT id, organization_id, password_hash, password_change_required, coalesce(password_set_at, created_at) FROM users WHERE email = ?",
            )
            .and_then(|mut s| {
                s.query_row(params![email], |r| {
                    Ok(Credentials {
                        user_id: UserId(r.get(0)?),
                        organization_id: OrganizationId(r.get(1)?),
                        password_hash: r.get(2)?,
                        password_change_required: r.get(3)?,
                        password_set_at: from_ts(r.get(4)?),
                    })
                })
                    .optional()
                })
                .map_err(err)
        })
    }

    async fn list_users(&self, org: OrganizationId, page: &PageQuery) -> StoreResult<Page<User>> {
        let keys = Keyset { cols: USER_COLS, from: "users", key: Key::Text("email"), id: "id" };
        self.db.read(|c| keys.fetch(c, " WHERE organization_id = ?", vec![blob(org.0)], page, user_from, |u| (u.email.clone(), u.id.0)))
    }

    async fn create_user(&self, org: OrganizationId, user: NewUser, change: Change) -> StoreResult<()> {
        if user.organization_id != org {
            return Err(StoreError::NotFound);
        }
        self.db
            .write(move |c| {
                insert_user(c, &user)?;
                write_change(c, &change)
            })
            .await
    }

    async fn update_user(&self, org: OrganizationId, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User> {
        self.db
            .write(move |c| {
                // The write transaction is the lock: the roles read here are the ones changed.
                let old = one(
                    c,
                    &format!("SELECT {USER_COLS} FROM users WHERE id = ? AND organization_id = ?"),
                    params![user.0, org.0],
                    user_from,
                )?;
                exec(
                    c,
                    "UPDATE users SET roles = coalesce(?, roles), display_name = coalesce(?, display_name), locale = coalesce(?, locale)
                     WHERE id = ? AND organization_id = ?",
                    params![patch.roles.as_deref().map(roles_json), patch.display_name, patch.locale.map(|l| l.as_str()), user.0, org.0],
                )?;
                if patch.takes_a_role_from(&old.roles) {
                    exec(c, "DELETE FROM sessions WHERE user_id = ?", params![user.0])?;
                }
                ensure_a_global_admin(c, org)?;
                write_change(c, &change)?;
                one(c, &format!("SELECT {USER_COLS} FROM users WHERE id = ?"), params![user.0], user_from)
            })
            .await
    }

    async fn delete_user(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let mut change = change;
                if scalar_i64(c, "SELECT count(*) FROM users WHERE id = ? AND organization_id = ?", params![user.0, org.0])? == 0 {
                    return Err(StoreError::NotFound);
                }
                release_licenses(c, Released::OfUser(org, user), &mut change)?;
                exec(c, "DELETE FROM sessions WHERE user_id = ? AND organization_id = ?", params![user.0, org.0])?;
                exec(c, "DELETE FROM users WHERE id = ? AND organization_id = ?", params![user.0, org.0])?;
                ensure_a_global_admin(c, org)?;
                write_change(c, &change)
            })
            .await
    }

    async fn user(&self, org: OrganizationId, user: UserId) -> StoreResult<User> {
        self.db.read(|c| {
            one(c, &format!("SELECT {USER_COLS} FROM users WHERE id = ? AND organization_id = ?"), params![user.0, org.0], user_from)
        })
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
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE users SET password_hash = ?, password_change_required = ?, password_set_at = ? WHERE id = ? AND organization_id = ?",
                    params![password_hash, change_required, ts(change.audit.at), user.0, org.0],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                // A new password ends every other session: whoever held the old one is out.
                exec(c, "DELETE FROM sessions WHERE user_id = ? AND (?2 IS NULL OR id <> ?2)", params![user.0, keep.map(|k| k.0)])?;
                write_change(c, &change)
            })
            .await
    }

    async fn list_partners(&self, page: &PageQuery) -> StoreResult<Page<Organization>> {
        let mut sql = format!("SELECT {ORG_COLS} FROM organizations WHERE kind = 'partner'");
        let mut args = Vec::new();
        if let Some((name, id)) = page.cursor.as_deref().map(decode_cursor).transpose()? {
            sql.push_str(" AND (name, id) > (?, ?)");
            args.extend([Sql::Text(name), blob(id)]);
        }
        sql.push_str(" ORDER BY name, id LIMIT ?");
        args.push(Sql::Integer(page.limit + 1));
        self.db.read(|c| {
            let total = scalar_i64(c, "SELECT count(*) FROM organizations WHERE kind = 'partner'", [])?;
            let items = all(c, &sql, params_from_iter(args.iter()), |r| org_from(r, ""))?;
            Ok(paged(items, page.limit, total, |o| encode_cursor(&o.name, o.id.0)))
        })
    }

    async fn create_provider_link(&self, link: NewProviderLink, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "INSERT INTO provider_links (id, provider_id, reseller_id, state, created_at, activated_at)
                     SELECT ?, p.id, r.id, ?, ?, ? FROM organizations p, organizations r
                     WHERE p.id = ? AND p.partner_type = 'indirect_provider' AND r.id = ? AND r.partner_type = 'indirect_reseller'",
                    params![
                        link.id.0,
                        if link.active { "active" } else { "pending" },
                        ts(link.created_at),
                        link.active.then(|| ts(link.created_at)),
                        link.provider_id.0,
                        link.reseller_id.0
                    ],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::NOT_A_PROVIDER });
                }
                write_change(c, &change)
            })
            .await
    }

    async fn provider_links(&self, org: OrganizationId, side: LinkSide, page: &PageQuery) -> StoreResult<Page<ProviderLinkView>> {
        let (mine, other) = match side {
            LinkSide::Providers => ("reseller_id", "provider_id"),
            LinkSide::Resellers => ("provider_id", "reseller_id"),
        };
        let from = format!("provider_links l JOIN organizations o ON o.id = l.{other}");
        let keys = Keyset {
            cols: "o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, l.state AS link_state",
            from: &from,
            key: Key::Text("o.name"),
            id: "o.id",
        };
        let filter = format!(" WHERE l.ended_at IS NULL AND l.{mine} = ?");
        self.db.read(|c| {
            keys.fetch(
                c,
                &filter,
                vec![blob(org.0)],
                page,
                |r| Ok(ProviderLinkView { partner: org_from(r, "")?.partner_ref(), state: r.get("link_state").map_err(err)? }),
                |v| (v.partner.name.clone(), v.partner.id.0),
            )
        })
    }

    async fn activate_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE provider_links SET state = 'active', activated_at = ? WHERE provider_id = ? AND reseller_id = ? AND state = 'pending'",
                    params![ts(now), org.0, reseller.0],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                write_change(c, &change)
            })
            .await
    }

    async fn decline_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        mut change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let id: Option<Uuid> = c
                    .prepare_cached(
                        "UPDATE provider_links SET state = 'declined', ended_at = ?
                         WHERE provider_id = ? AND reseller_id = ? AND state = 'pending' RETURNING id",
                    )
                    .and_then(|mut s| s.query_row(params![ts(now), org.0, reseller.0], |r| r.get(0)).optional())
                    .map_err(err)?;
                let Some(id) = id else {
                    return Err(match live_link_state(c, org, reseller)?.as_deref() {
                        Some("active") => StoreError::Conflict { constraint: constraint::PROVIDER_LINK_NOT_PENDING },
                        _ => StoreError::NotFound,
                    });
                };
                change.identify("id", id.to_string());
                write_change(c, &change)
            })
            .await
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
        self.db
            .write(move |c| {
                // The one write transaction: nothing changes the link between this read and the update.
                let Some(previous) = live_link_state(c, provider, reseller)? else { return Err(StoreError::NotFound) };
                let id: Uuid = c
                    .prepare_cached(
                        "UPDATE provider_links SET state = 'ended', ended_at = ?
                         WHERE provider_id = ? AND reseller_id = ? AND ended_at IS NULL RETURNING id",
                    )
                    .and_then(|mut s| s.query_row(params![ts(now), provider.0, reseller.0], |r| r.get(0)))
                    .map_err(err)?;
                change.identify("id", id.to_string());
                change.record("previous_state", previous);
                write_change(c, &change)
            })
            .await
    }

    async fn active_provider_link(&self, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<bool> {
        self.db.read(|c| {
            scalar_i64(
                c,
                "SELECT count(*) FROM provider_links WHERE provider_id = ? AND reseller_id = ? AND state = 'active'",
                params![provider.0, reseller.0],
            )
            .map(|n| n > 0)
        })
    }
}

/// The state of the live (pending or active) link of the pair, if any.
fn live_link_state(c: &Connection, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<Option<String>> {
    c.prepare_cached("SELECT state FROM provider_links WHERE provider_id = ? AND reseller_id = ? AND ended_at IS NULL")
        .and_then(|mut s| s.query_row(params![provider.0, reseller.0], |r| r.get(0)).optional())
        .map_err(err)
}

/// Every organization keeps at least one global admin.
pub(crate) fn ensure_a_global_admin(c: &Connection, org: OrganizationId) -> StoreResult<()> {
    let n = scalar_i64(c, "SELECT count(*) FROM users WHERE organization_id = ? AND roles LIKE '%\"global_admin\"%'", params![org.0])?;
    if n == 0 { Err(StoreError::Conflict { constraint: constraint::LAST_GLOBAL_ADMIN }) } else { Ok(()) }
}
