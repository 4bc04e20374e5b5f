//! The SQLite implementation of the store: the embedded default.
//!
//! Durability: WAL with `synchronous=FULL`; a write is answered only after the transaction
//! holding it has committed, so a 2xx survives kill -9 and power loss. Speed: reads run inline
//! on a small pool of read-only connections; writes go to one writer thread that takes every
//! write waiting for it into one transaction, a savepoint each (a refused write rolls back
//! alone), and commits once: one disk flush for a whole batch (see `db.rs`).
//! Migrations are applied with sqlx's migrator, as on PostgreSQL, so both keep the same
//! `_sqlx_migrations` history.

mod audit;
mod db;
mod rows;

use async_trait::async_trait;
use db::{Db, err};
use partnerhub_domain::*;
use partnerhub_store::*;
use rows::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One kind of thing that blocks removing a relationship: a query over
/// `(partner_org_id, customer_id)` answering rows of `(id BLOB, name TEXT)`.
#[derive(Debug, Clone)]
pub struct BlockerQuery {
    pub kind: &'static str,
    pub sql: String,
}

#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
    blockers: Arc<Vec<BlockerQuery>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`) and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let path = opts.get_filename().to_string_lossy().into_owned();
        let migrate =
            SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.map_err(|e| StoreError::Database(e.to_string()))?;
        MIGRATOR.run(&migrate).await.map_err(|e| StoreError::Database(e.to_string()))?;
        migrate.close().await;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        // Reads run on the async worker threads (one per core) and a few blocking ones.
        let db = Db::open(&path, cores + 2)?;
        Ok(Self { db, blockers: Arc::new(default_blockers()) })
    }

    /// Adds a kind of removal blocker (the commerce tables add theirs this way).
    pub fn with_blocker(mut self, blocker: BlockerQuery) -> Self {
        Arc::make_mut(&mut self.blockers).push(blocker);
        self
    }
}

/// No commerce tables yet: nothing blocks a removal. The commerce migration adds
/// `active_subscription` here.
fn default_blockers() -> Vec<BlockerQuery> {
    Vec::new()
}

fn blockers_in(
    c: &Connection,
    blockers: &[BlockerQuery],
    partner: OrganizationId,
    customer: OrganizationId,
) -> StoreResult<Vec<RemovalBlocker>> {
    let mut out = Vec::new();
    for b in blockers {
        let mut stmt = c.prepare_cached(&b.sql).map_err(err)?;
        let rows = stmt.query_map(params![partner.0, customer.0], |r| Ok((r.get::<_, Uuid>(0)?, r.get::<_, String>(1)?))).map_err(err)?;
        for row in rows {
            let (id, name) = row.map_err(err)?;
            out.push(RemovalBlocker { kind: b.kind.to_owned(), id, name });
        }
    }
    Ok(out)
}

fn blob(id: Uuid) -> Sql {
    Sql::Blob(id.as_bytes().to_vec())
}

fn exec(c: &Connection, sql: &str, args: impl rusqlite::Params) -> StoreResult<usize> {
    c.prepare_cached(sql).and_then(|mut s| s.execute(args)).map_err(err)
}

fn one<T>(c: &Connection, sql: &str, args: impl rusqlite::Params, f: impl FnOnce(&rusqlite::Row<'_>) -> StoreResult<T>) -> StoreResult<T> {
    let mut stmt = c.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(args).map_err(err)?;
    match rows.next().map_err(err)? {
        Some(r) => f(r),
        None => Err(StoreError::NotFound),
    }
}

fn all<T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(args).map_err(err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        out.push(f(r)?);
    }
    Ok(out)
}

fn scalar_i64(c: &Connection, sql: &str, args: impl rusqlite::Params) -> StoreResult<i64> {
    c.prepare_cached(sql).and_then(|mut s| s.query_row(args, |r| r.get(0))).map_err(err)
}

fn write_change(c: &Connection, change: &Change) -> StoreResult<()> {
    audit::append(c, &change.audit)?;
    for ev in &change.events {
        let payload = serde_json::json!({
            "id": ev.id,
            "type": ev.event_type,
            "occurred_at": rfc3339(ev.occurred_at),
            "data": ev.data,
        });
        exec(
            c,
            "INSERT INTO outbox_events (id, event_type, organization_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            params![ev.id, ev.event_type, ev.organization_id.0, payload.to_string(), ts(ev.occurred_at)],
        )?;
    }
    Ok(())
}

fn insert_org(c: &Connection, org: &NewOrganization) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO organizations (id, kind, name, domain, partner_type, partner_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            org.id.0,
            org.kind.as_str(),
            org.name,
            org.domain,
            org.partner_type.map(PartnerType::as_str),
            org.partner_id,
            ts(org.created_at)
        ],
    )?;
    Ok(())
}

fn insert_user(c: &Connection, u: &NewUser) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO users (id, organization_id, email, display_name, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![u.id.0, u.organization_id.0, u.email, u.display_name, u.password_hash, roles_json(&u.roles), ts(u.created_at)],
    )?;
    Ok(())
}

fn insert_relationships(c: &Connection, rels: &[NewRelationship], grants: &[NewGrant]) -> StoreResult<()> {
    for r in rels {
        exec(
            c,
            "INSERT INTO relationships (id, partner_org_id, customer_id, state, via, invitation_id, indirect_reseller_id, customer_name, customer_created_at, created_at)
             SELECT ?, ?, o.id, 'active', ?, ?, ?, o.name, o.created_at, ? FROM organizations o WHERE o.id = ? AND o.kind = 'customer'",
            params![r.id.0, r.partner_org_id.0, r.via, r.invitation_id.map(|i| i.0), r.indirect_reseller_id.map(|i| i.0), ts(r.created_at), r.customer_id.0],
        )?;
    }
    for g in grants {
        exec(
            c,
            "INSERT INTO grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                g.id.0,
                g.relationship_id.0,
                g.partner_org_id.0,
                g.customer_id.0,
                g.role.as_str(),
                ts(g.created_at),
                ts(g.expires_at),
                g.auto_extend
            ],
        )?;
    }
    Ok(())
}

/// Every organization keeps at least one global admin.
fn ensure_a_global_admin(c: &Connection, org: OrganizationId) -> StoreResult<()> {
    let n = scalar_i64(c, "SELECT count(*) FROM users WHERE organization_id = ? AND roles LIKE '%\"global_admin\"%'", params![org.0])?;
    if n == 0 { Err(StoreError::Conflict { constraint: constraint::LAST_GLOBAL_ADMIN }) } else { Ok(()) }
}

/// Revokes every live grant of `partner` in `customer` (not only those of one relationship);
/// answers how many.
fn revoke_live_grants(c: &Connection, partner: OrganizationId, customer: OrganizationId, now: OffsetDateTime) -> StoreResult<i64> {
    let n = exec(
        c,
        "UPDATE grants SET revoked_at = ?1 WHERE partner_org_id = ?2 AND customer_id = ?3 AND revoked_at IS NULL AND expires_at > ?1",
        params![ts(now), partner.0, customer.0],
    )?;
    Ok(n as i64)
}

/// Live grants of `partner` for the customers of a page.
fn attach_grants(c: &Connection, partner: OrganizationId, items: &mut [CustomerSummary], now: OffsetDateTime) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; items.len()].join(", ");
    let sql = format!(
        "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND revoked_at IS NULL AND expires_at > ? AND customer_id IN ({marks}) ORDER BY role"
    );
    let mut args = vec![blob(partner.0), Sql::Integer(ts(now))];
    args.extend(items.iter().map(|i| blob(i.id.0)));
    for g in all(c, &sql, params_from_iter(args.iter()), grant_from)? {
        if let Some(item) = items.iter_mut().find(|i| i.id == g.customer_id) {
            item.grants.push(g);
        }
    }
    Ok(())
}

fn invitation_in(c: &Connection, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
    one(c, &format!("SELECT {INV_COLS} FROM invitations WHERE id = ? AND partner_org_id = ?"), params![id.0, partner.0], invitation_from)
}

fn org_in(c: &Connection, id: OrganizationId) -> StoreResult<Organization> {
    one(c, &format!("SELECT {ORG_COLS} FROM organizations WHERE id = ?"), params![id.0], |r| org_from(r, ""))
}

const ORG_COLS: &str = "id, kind, name, domain, partner_type, partner_id, created_at";
const USER_COLS: &str = "id, organization_id, email, display_name, roles, created_at";
const INV_COLS: &str = "id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by";
const REL_COLS: &str =
    "r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id";
const GRANT_COLS: &str = "id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at";
const SUMMARY_COLS: &str = "c.id AS c_id, c.name AS c_name, c.domain AS c_domain, c.created_at AS c_created_at, \
    r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id, \
    rs.id AS rs_id, rs.name AS rs_name, rs.partner_id AS rs_partner_id, rs.domain AS rs_domain";
const SUMMARY_FROM: &str =
    "FROM relationships r JOIN organizations c ON c.id = r.customer_id LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db.read(|c| scalar_i64(c, "SELECT 1", []).map(|_| ()))
    }

    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>> {
        let generated = generated.to_vec();
        self.db
            .write(move |c| {
                exec(c, "INSERT INTO settings (key, value) VALUES ('server_secret', ?) ON CONFLICT (key) DO NOTHING", params![generated])?;
                c.prepare_cached("SELECT value FROM settings WHERE key = 'server_secret'")
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(err)
            })
            .await
    }

    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification> {
        self.db.read(audit::verify)
    }

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
            c.prepare_cached("SELECT id, organization_id, password_hash FROM users WHERE email = ?")
                .and_then(|mut s| {
                    s.query_row(params![email], |r| {
                        Ok(Credentials { user_id: UserId(r.get(0)?), organization_id: OrganizationId(r.get(1)?), password_hash: r.get(2)? })
                    })
                    .optional()
                })
                .map_err(err)
        })
    }

    async fn list_users(&self, org: OrganizationId) -> StoreResult<Vec<User>> {
        self.db
            .read(|c| all(c, &format!("SELECT {USER_COLS} FROM users WHERE organization_id = ? ORDER BY email"), params![org.0], user_from))
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
                let n = exec(
                    c,
                    "UPDATE users SET roles = coalesce(?, roles), display_name = coalesce(?, display_name) WHERE id = ? AND organization_id = ?",
                    params![patch.roles.as_deref().map(roles_json), patch.display_name, user.0, org.0],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound);
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
                exec(c, "DELETE FROM sessions WHERE user_id = ? AND organization_id = ?", params![user.0, org.0])?;
                if exec(c, "DELETE FROM users WHERE id = ? AND organization_id = ?", params![user.0, org.0])? == 0 {
                    return Err(StoreError::NotFound);
                }
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

    async fn create_session(&self, s: NewSession, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                // Expired sessions of this user go as a new one comes, so the table does not grow forever.
                exec(c, "DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?", params![s.user_id.0, ts(s.created_at)])?;
                exec(
                    c,
                    "INSERT INTO sessions (token_hash, id, user_id, organization_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    params![s.token_hash, s.id.0, s.user_id.0, s.organization_id.0, ts(s.created_at), ts(s.expires_at)],
                )?;
                write_change(c, &change)
            })
            .await
    }

    async fn principal(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<Principal>> {
        self.db.read(|c| {
            let sql = "SELECT u.id, u.organization_id, u.email, u.display_name, u.roles, u.created_at,
                    o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.domain AS o_domain, o.partner_type AS o_partner_type,
                    o.partner_id AS o_partner_id, o.created_at AS o_created_at
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
             JOIN organizations o ON o.id = u.organization_id
             WHERE s.token_hash = ? AND s.expires_at > ?";
            match one(c, sql, params![token_hash, ts(now)], |r| Ok(Principal { user: user_from(r)?, organization: org_from(r, "o_")? })) {
                Ok(p) => Ok(Some(p)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let key = key.to_owned();
        self.db
            .write(move |c| {
                let end = ts(now) + window_secs * 1_000_000;
                one(
                    c,
                    "INSERT INTO rate_limits (key, window_end, attempts) VALUES (?1, ?2, 1)
                     ON CONFLICT (key) DO UPDATE SET
                       attempts = CASE WHEN rate_limits.window_end <= ?3 THEN 1 ELSE rate_limits.attempts + 1 END,
                       window_end = CASE WHEN rate_limits.window_end <= ?3 THEN excluded.window_end ELSE rate_limits.window_end END
                     RETURNING attempts, window_end",
                    params![key, end, ts(now)],
                    |r| Ok((r.get(0).map_err(err)?, from_ts(r.get(1).map_err(err)?))),
                )
            })
            .await
    }

    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        self.db.read(|c| {
            match one(c, "SELECT attempts, window_end FROM rate_limits WHERE key = ? AND window_end > ?", params![key, ts(now)], |r| {
                Ok((r.get(0).map_err(err)?, from_ts(r.get(1).map_err(err)?)))
            }) {
                Err(StoreError::NotFound) => Ok((0, now)),
                other => other,
            }
        })
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.db.write(move |c| exec(c, "DELETE FROM rate_limits WHERE key = ?", params![key]).map(|_| ())).await
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

    async fn provider_links(&self, org: OrganizationId, side: LinkSide) -> StoreResult<Vec<ProviderLinkView>> {
        let (mine, other) = match side {
            LinkSide::Providers => ("reseller_id", "provider_id"),
            LinkSide::Resellers => ("provider_id", "reseller_id"),
        };
        let sql = format!(
            "SELECT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, l.state AS link_state
             FROM provider_links l JOIN organizations o ON o.id = l.{other} WHERE l.{mine} = ? ORDER BY o.name, o.id"
        );
        self.db.read(|c| {
            all(c, &sql, params![org.0], |r| {
                Ok(ProviderLinkView { partner: org_from(r, "")?.partner_ref(), state: r.get("link_state").map_err(err)? })
            })
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

    async fn list_customers(&self, partner: OrganizationId, q: &CustomerQuery, now: OffsetDateTime) -> StoreResult<Page<CustomerSummary>> {
        let pattern = q.q.as_deref().map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let mut filter = String::from(" WHERE r.partner_org_id = ? AND r.state = 'active'");
        let mut args = vec![blob(partner.0)];
        if let Some(p) = &pattern {
            filter.push_str(" AND (r.customer_name LIKE ? ESCAPE '\\' OR c.domain LIKE ? ESCAPE '\\')");
            args.push(Sql::Text(p.clone()));
            args.push(Sql::Text(p.clone()));
        }
        // Without a search the count needs no join: it walks the partial index alone.
        let count_sql = if pattern.is_some() {
            format!("SELECT count(*) FROM relationships r JOIN organizations c ON c.id = r.customer_id{filter}")
        } else {
            format!("SELECT count(*) FROM relationships r{filter}")
        };
        let mut page_sql = format!("SELECT {SUMMARY_COLS} {SUMMARY_FROM}{filter}");
        let mut page_args = args.clone();
        match (q.sort, q.cursor.as_deref().map(decode_cursor).transpose()?) {
            (CustomerSort::Name, Some((k, id))) => {
                page_sql.push_str(" AND (r.customer_name, r.customer_id) > (?, ?)");
                page_args.extend([Sql::Text(k), blob(id)]);
            }
            (CustomerSort::NewestFirst, Some((k, id))) => {
                let k: i64 = k.parse().map_err(|_| StoreError::BadCursor)?;
                page_sql.push_str(" AND (r.customer_created_at, r.customer_id) < (?, ?)");
                page_args.extend([Sql::Integer(k), blob(id)]);
            }
            _ => {}
        }
        page_sql.push_str(match q.sort {
            CustomerSort::Name => " ORDER BY r.customer_name, r.customer_id LIMIT ?",
            CustomerSort::NewestFirst => " ORDER BY r.customer_created_at DESC, r.customer_id DESC LIMIT ?",
        });
        page_args.push(Sql::Integer(q.limit + 1));
        self.db.read(|c| {
            let total = scalar_i64(c, &count_sql, params_from_iter(args.iter()))?;
            let mut items = all(c, &page_sql, params_from_iter(page_args.iter()), summary_from)?;
            let more = items.len() as i64 > q.limit;
            items.truncate(q.limit as usize);
            let next_cursor = if more {
                items.last().map(|c| match q.sort {
                    CustomerSort::Name => encode_cursor(&c.name, c.id.0),
                    CustomerSort::NewestFirst => encode_cursor(&ts(c.created_at).to_string(), c.id.0),
                })
            } else {
                None
            };
            attach_grants(c, partner, &mut items, now)?;
            Ok(Page { items, next_cursor, total })
        })
    }

    async fn customer(&self, partner: OrganizationId, customer: OrganizationId, now: OffsetDateTime) -> StoreResult<CustomerDetail> {
        self.db.read(|c| {
            let sql =
                format!("SELECT {SUMMARY_COLS} {SUMMARY_FROM} WHERE r.partner_org_id = ? AND r.customer_id = ? AND r.state = 'active'");
            let mut items = vec![one(c, &sql, params![partner.0, customer.0], summary_from)?];
            attach_grants(c, partner, &mut items, now)?;
            // The other partners the caller may see: its resellers (provider side) and its
            // providers (reseller side) that also have an active relationship with this customer.
            let others = all(
                c,
                "SELECT DISTINCT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at FROM organizations o
                 JOIN relationships r2 ON r2.partner_org_id = o.id AND r2.customer_id = ?1 AND r2.state = 'active'
                 WHERE o.id IN (SELECT reseller_id FROM provider_links WHERE provider_id = ?2 AND state = 'active'
                                UNION SELECT provider_id FROM provider_links WHERE reseller_id = ?2 AND state = 'active')
                 ORDER BY o.name",
                params![customer.0, partner.0],
                |r| org_from(r, "").map(|o| o.partner_ref()),
            )?;
            let summary = items.pop().ok_or(StoreError::NotFound)?;
            Ok(CustomerDetail { summary, other_partners: others })
        })
    }

    async fn create_customer(
        &self,
        org: NewOrganization,
        admin: NewUser,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                insert_org(c, &org)?;
                insert_user(c, &admin)?;
                insert_relationships(c, &relationships, &grants)?;
                write_change(c, &change)
            })
            .await
    }

    async fn active_relationship(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Option<Relationship>> {
        self.db.read(|c| {
            let sql =
                format!("SELECT {REL_COLS} FROM relationships r WHERE r.partner_org_id = ? AND r.customer_id = ? AND r.state = 'active'");
            match one(c, &sql, params![partner.0, customer.0], relationship_from) {
                Ok(r) => Ok(Some(r)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    async fn removal_blockers(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<RemovalBlocker>> {
        self.db.read(|c| blockers_in(c, &self.blockers, partner, customer))
    }

    async fn remove_relationship(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<RemovalOutcome> {
        let blockers = self.blockers.clone();
        self.db
            .write(move |c| {
                let found = blockers_in(c, &blockers, partner, customer)?;
                if !found.is_empty() {
                    return Err(StoreError::Blocked(found));
                }
                let rel: Uuid = one(
                    c,
                    "UPDATE relationships SET state = 'removed', removed_at = ? WHERE partner_org_id = ? AND customer_id = ? AND state = 'active' RETURNING id",
                    params![ts(now), partner.0, customer.0],
                    |r| r.get(0).map_err(err),
                )?;
                let revoked = revoke_live_grants(c, partner, customer, now)?;
                let mut change = change;
                change.identify("relationship_id", rel.to_string());
                change.record("revoked_grants", revoked);
                write_change(c, &change)?;
                Ok(RemovalOutcome { relationship_id: RelationshipId(rel), revoked_grants: revoked })
            })
            .await
    }

    async fn grants(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<Grant>> {
        self.db.read(|c| {
            all(
                c,
                &format!("SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND customer_id = ? ORDER BY created_at, role"),
                params![partner.0, customer.0],
                grant_from,
            )
        })
    }

    async fn revoke_grants(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<i64> {
        self.db
            .write(move |c| {
                let live = scalar_i64(
                    c,
                    "SELECT count(*) FROM relationships WHERE partner_org_id = ? AND customer_id = ? AND state = 'active'",
                    params![partner.0, customer.0],
                )?;
                if live == 0 {
                    return Err(StoreError::NotFound);
                }
                let n = revoke_live_grants(c, partner, customer, now)?;
                let mut change = change;
                change.record("revoked_grants", n);
                write_change(c, &change)?;
                Ok(n)
            })
            .await
    }

    async fn create_invitation(&self, i: NewInvitation, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO invitations (id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
                                              token_hash, email_subject, email_body, created_by, created_at, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                    params![
                        i.id.0,
                        i.partner_org_id.0,
                        i.customer_id.map(|c| c.0),
                        i.indirect_provider_id.map(|c| c.0),
                        delegated_json(&i.roles),
                        i.duration_days,
                        i.auto_extend,
                        i.locale.as_str(),
                        i.token_hash,
                        i.email_subject,
                        i.email_body,
                        i.created_by.0,
                        ts(i.created_at),
                        ts(i.expires_at)
                    ],
                )?;
                write_change(c, &change)
            })
            .await
    }

    async fn invitation(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
        self.db.read(|c| invitation_in(c, partner, id))
    }

    async fn list_invitations(
        &self,
        partner: OrganizationId,
        state: Option<InvitationState>,
        now: OffsetDateTime,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Invitation>> {
        let mut filter = String::from(" WHERE partner_org_id = ?");
        let mut args = vec![blob(partner.0)];
        match state {
            None => {}
            Some(InvitationState::Pending) => {
                filter.push_str(" AND state = 'pending' AND expires_at > ?");
                args.push(Sql::Integer(ts(now)));
            }
            Some(InvitationState::Expired) => {
                filter.push_str(" AND state = 'pending' AND expires_at <= ?");
                args.push(Sql::Integer(ts(now)));
            }
            Some(s) => {
                filter.push_str(" AND state = ?");
                args.push(Sql::Text(s.as_str().into()));
            }
        }
        let count_sql = format!("SELECT count(*) FROM invitations{filter}");
        let mut page_sql = format!("SELECT {INV_COLS} FROM invitations{filter}");
        let mut page_args = args.clone();
        if let Some(cur) = cursor {
            let (_, id) = decode_cursor(cur)?;
            page_sql.push_str(" AND id < ?");
            page_args.push(blob(id));
        }
        page_sql.push_str(" ORDER BY id DESC LIMIT ?");
        page_args.push(Sql::Integer(limit + 1));
        self.db.read(|c| {
            let total = scalar_i64(c, &count_sql, params_from_iter(args.iter()))?;
            let mut items = all(c, &page_sql, params_from_iter(page_args.iter()), invitation_from)?;
            let more = items.len() as i64 > limit;
            items.truncate(limit as usize);
            let next_cursor = if more { items.last().map(|i| encode_cursor("", i.id.0)) } else { None };
            Ok(Page { items, next_cursor, total })
        })
    }

    async fn save_invitation_email(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        subject: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Invitation> {
        let (subject, body) = (subject.to_owned(), body.to_owned());
        self.db
            .write(move |c| {
                let sql = format!(
                    "UPDATE invitations SET email_subject = ?, email_body = ? WHERE id = ? AND partner_org_id = ? AND state = 'pending' AND expires_at > ? RETURNING {INV_COLS}"
                );
                match one(c, &sql, params![subject, body, id.0, partner.0, ts(now)], invitation_from) {
                    Err(StoreError::NotFound) => {
                        invitation_in(c, partner, id)?;
                        Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING })
                    }
                    other => other,
                }
            })
            .await
    }

    async fn mark_invitation_sent(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                if exec(c, "UPDATE invitations SET sent_at = ? WHERE id = ? AND partner_org_id = ?", params![ts(now), id.0, partner.0])?
                    == 0
                {
                    return Err(StoreError::NotFound);
                }
                write_change(c, &change)
            })
            .await
    }

    async fn revoke_invitation(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Invitation> {
        self.db
            .write(move |c| {
                let sql = format!(
                    "UPDATE invitations SET state = 'revoked', responded_at = ?1 WHERE id = ?2 AND partner_org_id = ?3 AND state = 'pending' AND expires_at > ?1 RETURNING {INV_COLS}"
                );
                let inv = match one(c, &sql, params![ts(now), id.0, partner.0], invitation_from) {
                    Err(StoreError::NotFound) => {
                        invitation_in(c, partner, id)?;
                        return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
                    }
                    other => other?,
                };
                write_change(c, &change)?;
                Ok(inv)
            })
            .await
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> StoreResult<InvitationForCustomer> {
        self.db.read(|c| {
            let invitation =
                one(c, &format!("SELECT {INV_COLS} FROM invitations WHERE token_hash = ?"), params![token_hash], invitation_from)?;
            let partner = org_in(c, invitation.partner_org_id)?.partner_ref();
            let provider = invitation.indirect_provider_id.map(|p| org_in(c, p).map(|o| o.partner_ref())).transpose()?;
            Ok(InvitationForCustomer { invitation, partner, provider })
        })
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                // The conditional update is the lock: of N concurrent acceptances, one changes the row.
                let n = exec(
                    c,
                    "UPDATE invitations SET state = 'accepted', responded_at = ?1, accepted_by = ?2
                     WHERE id = ?3 AND state = 'pending' AND expires_at > ?1 AND (customer_id IS NULL OR customer_id = ?2)",
                    params![ts(now), customer.0, id.0],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
                }
                insert_relationships(c, &relationships, &grants)?;
                write_change(c, &change)
            })
            .await
    }

    async fn decline_invitation(&self, id: InvitationId, customer: OrganizationId, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE invitations SET state = 'declined', responded_at = ?1
                     WHERE id = ?3 AND state = 'pending' AND expires_at > ?1 AND (customer_id IS NULL OR customer_id = ?2)",
                    params![ts(now), customer.0, id.0],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
                }
                write_change(c, &change)
            })
            .await
    }

    async fn partners_of_customer(&self, customer: OrganizationId) -> StoreResult<Vec<PartnerOfCustomer>> {
        self.db.read(|c| {
            let sql = format!(
                "SELECT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, {REL_COLS}
                 FROM relationships r JOIN organizations o ON o.id = r.partner_org_id
                 WHERE r.customer_id = ? AND r.state = 'active' ORDER BY o.name, o.id"
            );
            let rows = all(c, &sql, params![customer.0], |r| Ok((org_from(r, "")?.partner_ref(), relationship_from(r)?)))?;
            let grants_sql = format!(
                "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND customer_id = ? AND revoked_at IS NULL ORDER BY role"
            );
            rows.into_iter()
                .map(|(partner, relationship)| {
                    let grants = all(c, &grants_sql, params![partner.id.0, customer.0], grant_from)?;
                    Ok(PartnerOfCustomer { partner, relationship, grants })
                })
                .collect()
        })
    }

    async fn list_audit(&self, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        self.db.read(|c| audit::list(c, org, f))
    }
}
