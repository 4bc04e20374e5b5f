//! The SQLite implementation of the store: the embedded default.
//!
//! Durability: WAL with `synchronous=FULL`, so a committed transaction survives kill -9 and
//! power loss. Writes go through one connection (SQLite has one writer anyway; a pool of
//! writers would only queue on the database lock and retry), reads through a small pool
//! sized to the cores.

/// `format!` for SQL built from this crate's own constants (column lists, table names),
/// never from input: values always go through `bind`.
macro_rules! sqlf {
    ($($t:tt)*) => { sqlx::AssertSqlSafe(format!($($t)*)) };
}

mod audit;
mod rows;

use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rows::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;
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

#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    blockers: Vec<BlockerQuery>,
}

type Tx<'a> = Transaction<'a, Sqlite>;

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH`) and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await
            .map_err(db)?;
        MIGRATOR.run(&write).await.map_err(|e| StoreError::Database(e.to_string()))?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u32;
        let read = SqlitePoolOptions::new()
            .max_connections(cores.max(2))
            .min_connections(1)
            .connect_with(opts.read_only(true))
            .await
            .map_err(db)?;
        Ok(Self { read, write, blockers: default_blockers() })
    }

    /// Adds a kind of removal blocker (the commerce tables add theirs this way).
    pub fn with_blocker(mut self, blocker: BlockerQuery) -> Self {
        self.blockers.push(blocker);
        self
    }

    /// The writer pool, for tests that must reach under the store (tampering with the audit chain).
    pub fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    async fn begin(&self) -> StoreResult<Tx<'static>> {
        // IMMEDIATE: take the write lock up front, so a transaction never fails half-way
        // when upgrading from a read lock.
        self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }

    async fn blockers_in(
        &self,
        conn: &mut sqlx::SqliteConnection,
        partner: OrganizationId,
        customer: OrganizationId,
    ) -> StoreResult<Vec<RemovalBlocker>> {
        let mut out = Vec::new();
        for b in &self.blockers {
            let rows = sqlx::query(sqlx::AssertSqlSafe(b.sql.as_str()))
                .bind(partner.0)
                .bind(customer.0)
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
            for r in rows {
                out.push(RemovalBlocker { kind: b.kind.to_owned(), id: r.try_get(0).map_err(db)?, name: r.try_get(1).map_err(db)? });
            }
        }
        Ok(out)
    }
}

/// No commerce tables yet: nothing blocks a removal. The commerce migration adds
/// `active_subscription` here.
fn default_blockers() -> Vec<BlockerQuery> {
    Vec::new()
}

/// Maps driver errors to store errors, naming the uniqueness rule that refused a write.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        let m = d.message();
        let constraint = if m.contains("organizations.domain") {
            constraint::DOMAIN_TAKEN
        } else if m.contains("organizations.partner_id") {
            constraint::PARTNER_ID_TAKEN
        } else if m.contains("users.email") {
            constraint::EMAIL_TAKEN
        } else if m.contains("relationships.partner_org_id") {
            constraint::ACTIVE_RELATIONSHIP
        } else if m.contains("provider_links.provider_id") {
            constraint::PROVIDER_LINK_EXISTS
        } else {
            return StoreError::Database(e.to_string());
        };
        return StoreError::Conflict { constraint };
    }
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Database(other.to_string()),
    }
}

async fn write_change(tx: &mut Tx<'_>, change: &Change) -> StoreResult<()> {
    audit::append(tx, &change.audit).await?;
    for ev in &change.events {
        let payload = serde_json::json!({
            "id": ev.id,
            "type": ev.event_type,
            "occurred_at": rfc3339(ev.occurred_at),
            "data": ev.data,
        });
        sqlx::query("INSERT INTO outbox_events (id, event_type, organization_id, payload, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(ev.id)
            .bind(ev.event_type)
            .bind(ev.organization_id.0)
            .bind(payload.to_string())
            .bind(ts(ev.occurred_at))
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn insert_org(tx: &mut Tx<'_>, org: &NewOrganization) -> StoreResult<()> {
    sqlx::query("INSERT INTO organizations (id, kind, name, domain, partner_type, partner_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(org.id.0)
        .bind(org.kind.as_str())
        .bind(&org.name)
        .bind(&org.domain)
        .bind(org.partner_type.map(PartnerType::as_str))
        .bind(&org.partner_id)
        .bind(ts(org.created_at))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

async fn insert_user(tx: &mut Tx<'_>, u: &NewUser) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, organization_id, email, display_name, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(u.id.0)
    .bind(u.organization_id.0)
    .bind(&u.email)
    .bind(&u.display_name)
    .bind(&u.password_hash)
    .bind(roles_json(&u.roles))
    .bind(ts(u.created_at))
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

async fn insert_relationships(tx: &mut Tx<'_>, rels: &[NewRelationship], grants: &[NewGrant]) -> StoreResult<()> {
    for r in rels {
        sqlx::query(
            "INSERT INTO relationships (id, partner_org_id, customer_id, state, via, invitation_id, indirect_reseller_id, customer_name, customer_created_at, created_at)
             SELECT ?, ?, o.id, 'active', ?, ?, ?, o.name, o.created_at, ? FROM organizations o WHERE o.id = ? AND o.kind = 'customer'",
        )
        .bind(r.id.0)
        .bind(r.partner_org_id.0)
        .bind(r.via)
        .bind(r.invitation_id.map(|i| i.0))
        .bind(r.indirect_reseller_id.map(|i| i.0))
        .bind(ts(r.created_at))
        .bind(r.customer_id.0)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    for g in grants {
        sqlx::query("INSERT INTO grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(g.id.0)
            .bind(g.relationship_id.0)
            .bind(g.partner_org_id.0)
            .bind(g.customer_id.0)
            .bind(g.role.as_str())
            .bind(ts(g.created_at))
            .bind(ts(g.expires_at))
            .bind(g.auto_extend)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

const ORG_COLS: &str = "id, kind, name, domain, partner_type, partner_id, created_at";
const USER_COLS: &str = "id, organization_id, email, display_name, roles, created_at";
const INV_COLS: &str = "id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by";
const REL_COLS: &str =
    "r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id";
const GRANT_COLS: &str = "id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await.map_err(db)?;
        Ok(())
    }

    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('server_secret', ?) ON CONFLICT (key) DO NOTHING")
            .bind(generated)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let v: Vec<u8> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'server_secret'").fetch_one(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(v)
    }

    async fn verify_audit_chain(&self) -> StoreResult<AuditVerification> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        audit::verify(&mut conn).await
    }

    async fn create_organization(&self, org: NewOrganization, admin: NewUser, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_org(&mut tx, &org).await?;
        insert_user(&mut tx, &admin).await?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Organization> {
        let r =
            sqlx::query(sqlf!("SELECT {ORG_COLS} FROM organizations WHERE id = ?")).bind(id.0).fetch_one(&self.read).await.map_err(db)?;
        org_from(&r, "")
    }

    async fn partner_by_public_id(&self, partner_id: &str) -> StoreResult<Organization> {
        let r = sqlx::query(sqlf!("SELECT {ORG_COLS} FROM organizations WHERE partner_id = ? AND kind = 'partner'"))
            .bind(partner_id)
            .fetch_one(&self.read)
            .await
            .map_err(db)?;
        org_from(&r, "")
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let r = sqlx::query("SELECT id, organization_id, password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        r.map(|r| {
            Ok(Credentials {
                user_id: UserId(r.try_get("id").map_err(db)?),
                organization_id: OrganizationId(r.try_get("organization_id").map_err(db)?),
                password_hash: r.try_get("password_hash").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn list_users(&self, org: OrganizationId) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(sqlf!("SELECT {USER_COLS} FROM users WHERE organization_id = ? ORDER BY email"))
            .bind(org.0)
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        rows.iter().map(user_from).collect()
    }

    async fn create_user(&self, org: OrganizationId, user: NewUser, change: Change) -> StoreResult<()> {
        if user.organization_id != org {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.begin().await?;
        insert_user(&mut tx, &user).await?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn update_user(&self, org: OrganizationId, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET roles = coalesce(?, roles), display_name = coalesce(?, display_name) WHERE id = ? AND organization_id = ?",
        )
        .bind(patch.roles.as_deref().map(roles_json))
        .bind(patch.display_name.as_deref())
        .bind(user.0)
        .bind(org.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        ensure_a_global_admin(&mut tx, org).await?;
        write_change(&mut tx, &change).await?;
        let r = sqlx::query(sqlf!("SELECT {USER_COLS} FROM users WHERE id = ?")).bind(user.0).fetch_one(&mut *tx).await.map_err(db)?;
        let u = user_from(&r)?;
        tx.commit().await.map_err(db)?;
        Ok(u)
    }

    async fn delete_user(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND organization_id = ?")
            .bind(user.0)
            .bind(org.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let n = sqlx::query("DELETE FROM users WHERE id = ? AND organization_id = ?")
            .bind(user.0)
            .bind(org.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        ensure_a_global_admin(&mut tx, org).await?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn user(&self, org: OrganizationId, user: UserId) -> StoreResult<User> {
        let r = sqlx::query(sqlf!("SELECT {USER_COLS} FROM users WHERE id = ? AND organization_id = ?"))
            .bind(user.0)
            .bind(org.0)
            .fetch_one(&self.read)
            .await
            .map_err(db)?;
        user_from(&r)
    }

    async fn create_session(&self, s: NewSession, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Expired sessions of this user go as a new one comes, so the table does not grow forever.
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?")
            .bind(s.user_id.0)
            .bind(ts(s.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO sessions (token_hash, id, user_id, organization_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&s.token_hash)
            .bind(s.id.0)
            .bind(s.user_id.0)
            .bind(s.organization_id.0)
            .bind(ts(s.created_at))
            .bind(ts(s.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn principal(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<Principal>> {
        let r = sqlx::query(
            "SELECT u.id, u.organization_id, u.email, u.display_name, u.roles, u.created_at,
                    o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.domain AS o_domain, o.partner_type AS o_partner_type,
                    o.partner_id AS o_partner_id, o.created_at AS o_created_at
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
             JOIN organizations o ON o.id = u.organization_id
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        r.map(|r| Ok(Principal { user: user_from(&r)?, organization: org_from(&r, "o_")? })).transpose()
    }

    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let end = ts(now) + window_secs * 1_000_000;
        let r = sqlx::query(
            "INSERT INTO rate_limits (key, window_end, attempts) VALUES (?, ?, 1)
             ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN rate_limits.window_end <= ?3 THEN 1 ELSE rate_limits.attempts + 1 END,
               window_end = CASE WHEN rate_limits.window_end <= ?3 THEN excluded.window_end ELSE rate_limits.window_end END
             RETURNING attempts, window_end",
        )
        .bind(key)
        .bind(end)
        .bind(ts(now))
        .fetch_one(&self.write)
        .await
        .map_err(db)?;
        Ok((r.try_get(0).map_err(db)?, from_ts(r.try_get(1).map_err(db)?)))
    }

    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let r = sqlx::query("SELECT attempts, window_end FROM rate_limits WHERE key = ? AND window_end > ?")
            .bind(key)
            .bind(ts(now))
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        match r {
            Some(r) => Ok((r.try_get(0).map_err(db)?, from_ts(r.try_get(1).map_err(db)?))),
            None => Ok((0, now)),
        }
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM rate_limits WHERE key = ?").bind(key).execute(&self.write).await.map_err(db)?;
        Ok(())
    }

    async fn create_provider_link(&self, link: NewProviderLink, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "INSERT INTO provider_links (id, provider_id, reseller_id, state, created_at, activated_at)
             SELECT ?, p.id, r.id, ?, ?, ? FROM organizations p, organizations r
             WHERE p.id = ? AND p.partner_type = 'indirect_provider' AND r.id = ? AND r.partner_type = 'indirect_reseller'",
        )
        .bind(link.id.0)
        .bind(if link.active { "active" } else { "pending" })
        .bind(ts(link.created_at))
        .bind(link.active.then(|| ts(link.created_at)))
        .bind(link.provider_id.0)
        .bind(link.reseller_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict { constraint: constraint::NOT_A_PROVIDER });
        }
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn provider_links(&self, org: OrganizationId, side: LinkSide) -> StoreResult<Vec<ProviderLinkView>> {
        let (mine, other) = match side {
            LinkSide::Providers => ("reseller_id", "provider_id"),
            LinkSide::Resellers => ("provider_id", "reseller_id"),
        };
        let rows = sqlx::query(sqlf!(
            "SELECT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, l.state AS link_state
             FROM provider_links l JOIN organizations o ON o.id = l.{other} WHERE l.{mine} = ? ORDER BY o.name, o.id"
        ))
        .bind(org.0)
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok(ProviderLinkView { partner: org_from(r, "")?.partner_ref(), state: r.try_get("link_state").map_err(db)? }))
            .collect()
    }

    async fn activate_provider_link(
        &self,
        org: OrganizationId,
        reseller: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE provider_links SET state = 'active', activated_at = ? WHERE provider_id = ? AND reseller_id = ? AND state = 'pending'",
        )
        .bind(ts(now))
        .bind(org.0)
        .bind(reseller.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn active_provider_link(&self, provider: OrganizationId, reseller: OrganizationId) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM provider_links WHERE provider_id = ? AND reseller_id = ? AND state = 'active'")
                .bind(provider.0)
                .bind(reseller.0)
                .fetch_one(&self.read)
                .await
                .map_err(db)?;
        Ok(n > 0)
    }

    async fn list_customers(&self, partner: OrganizationId, q: &CustomerQuery, now: OffsetDateTime) -> StoreResult<Page<CustomerSummary>> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        let pattern = q.q.as_deref().map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let filter = |b: &mut QueryBuilder<Sqlite>| {
            b.push(" WHERE r.partner_org_id = ").push_bind(partner.0).push(" AND r.state = 'active'");
            if let Some(p) = &pattern {
                b.push(" AND (r.customer_name LIKE ")
                    .push_bind(p.clone())
                    .push(" ESCAPE '\\' OR c.domain LIKE ")
                    .push_bind(p.clone())
                    .push(" ESCAPE '\\')");
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM relationships r JOIN organizations c ON c.id = r.customer_id");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await.map_err(db)?;

        let mut b = QueryBuilder::<Sqlite>::new(format!(
            "SELECT c.id AS c_id, c.name AS c_name, c.domain AS c_domain, c.created_at AS c_created_at, {REL_COLS},
                    rs.id AS rs_id, rs.name AS rs_name, rs.partner_id AS rs_partner_id, rs.domain AS rs_domain
             FROM relationships r JOIN organizations c ON c.id = r.customer_id
             LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id"
        ));
        filter(&mut b);
        let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
        match (q.sort, &cursor) {
            (CustomerSort::Name, Some((k, id))) => {
                b.push(" AND (r.customer_name, r.customer_id) > (").push_bind(k.clone()).push(", ").push_bind(*id).push(")");
            }
            (CustomerSort::NewestFirst, Some((k, id))) => {
                let k: i64 = k.parse().map_err(|_| StoreError::BadCursor)?;
                b.push(" AND (r.customer_created_at, r.customer_id) < (").push_bind(k).push(", ").push_bind(*id).push(")");
            }
            _ => {}
        }
        b.push(match q.sort {
            CustomerSort::Name => " ORDER BY r.customer_name, r.customer_id",
            CustomerSort::NewestFirst => " ORDER BY r.customer_created_at DESC, r.customer_id DESC",
        });
        b.push(" LIMIT ").push_bind(q.limit + 1);
        let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
        let mut items = rows.iter().take(q.limit as usize).map(summary_from).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if rows.len() as i64 > q.limit {
            items.last().map(|c| match q.sort {
                CustomerSort::Name => encode_cursor(&c.name, c.id.0),
                CustomerSort::NewestFirst => encode_cursor(&ts(c.created_at).to_string(), c.id.0),
            })
        } else {
            None
        };
        attach_grants(&mut conn, partner, &mut items, now).await?;
        Ok(Page { items, next_cursor, total })
    }

    async fn customer(&self, partner: OrganizationId, customer: OrganizationId, now: OffsetDateTime) -> StoreResult<CustomerDetail> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        let r = sqlx::query(sqlf!(
            "SELECT c.id AS c_id, c.name AS c_name, c.domain AS c_domain, c.created_at AS c_created_at, {REL_COLS},
                    rs.id AS rs_id, rs.name AS rs_name, rs.partner_id AS rs_partner_id, rs.domain AS rs_domain
             FROM relationships r JOIN organizations c ON c.id = r.customer_id
             LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id
             WHERE r.partner_org_id = ? AND r.customer_id = ? AND r.state = 'active'"
        ))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let mut items = vec![summary_from(&r)?];
        attach_grants(&mut conn, partner, &mut items, now).await?;
        // The other partners the caller may see: its resellers (provider side) and its
        // providers (reseller side) that also have an active relationship with this customer.
        let rows = sqlx::query(sqlf!(
            "SELECT DISTINCT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at FROM organizations o JOIN relationships r2 ON r2.partner_org_id = o.id AND r2.customer_id = ? AND r2.state = 'active'
             WHERE o.id IN (SELECT reseller_id FROM provider_links WHERE provider_id = ? AND state = 'active'
                            UNION SELECT provider_id FROM provider_links WHERE reseller_id = ? AND state = 'active')
             ORDER BY o.name"
        ))
        .bind(customer.0)
        .bind(partner.0)
        .bind(partner.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let other_partners = rows.iter().map(|r| org_from(r, "").map(|o| o.partner_ref())).collect::<StoreResult<_>>()?;
        let summary = items.pop().ok_or(StoreError::NotFound)?;
        Ok(CustomerDetail { summary, other_partners })
    }

    async fn create_customer(
        &self,
        org: NewOrganization,
        admin: NewUser,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_org(&mut tx, &org).await?;
        insert_user(&mut tx, &admin).await?;
        insert_relationships(&mut tx, &relationships, &grants).await?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn active_relationship(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Option<Relationship>> {
        let r = sqlx::query(sqlf!(
            "SELECT {REL_COLS} FROM relationships r WHERE r.partner_org_id = ? AND r.customer_id = ? AND r.state = 'active'"
        ))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?;
        r.as_ref().map(relationship_from).transpose()
    }

    async fn removal_blockers(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<RemovalBlocker>> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        self.blockers_in(&mut conn, partner, customer).await
    }

    async fn remove_relationship(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<RemovalOutcome> {
        let mut tx = self.begin().await?;
        let blockers = self.blockers_in(&mut tx, partner, customer).await?;
        if !blockers.is_empty() {
            return Err(StoreError::Blocked(blockers));
        }
        let rel: Option<Uuid> = sqlx::query_scalar(
            "UPDATE relationships SET state = 'removed', removed_at = ? WHERE partner_org_id = ? AND customer_id = ? AND state = 'active' RETURNING id",
        )
        .bind(ts(now))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let rel = rel.ok_or(StoreError::NotFound)?;
        // Every grant of this partner in this customer goes, not only those of this relationship.
        let revoked = sqlx::query(
            "UPDATE grants SET revoked_at = ? WHERE partner_org_id = ? AND customer_id = ? AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(ts(now))
        .bind(partner.0)
        .bind(customer.0)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected() as i64;
        let mut change = change;
        change.audit.details["revoked_grants"] = revoked.into();
        change.audit.target["relationship_id"] = rel.to_string().into();
        for ev in &mut change.events {
            ev.data["relationship_id"] = rel.to_string().into();
            ev.data["revoked_grants"] = revoked.into();
        }
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(RemovalOutcome { relationship_id: RelationshipId(rel), revoked_grants: revoked })
    }

    async fn grants(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<Grant>> {
        let rows =
            sqlx::query(sqlf!("SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND customer_id = ? ORDER BY created_at, role"))
                .bind(partner.0)
                .bind(customer.0)
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
        rows.iter().map(grant_from).collect()
    }

    async fn revoke_grants(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM relationships WHERE partner_org_id = ? AND customer_id = ? AND state = 'active'")
                .bind(partner.0)
                .bind(customer.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if live == 0 {
            return Err(StoreError::NotFound);
        }
        let n = sqlx::query(
            "UPDATE grants SET revoked_at = ? WHERE partner_org_id = ? AND customer_id = ? AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(ts(now))
        .bind(partner.0)
        .bind(customer.0)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected() as i64;
        let mut change = change;
        change.audit.details["revoked_grants"] = n.into();
        for ev in &mut change.events {
            ev.data["revoked_grants"] = n.into();
        }
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn create_invitation(&self, i: NewInvitation, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO invitations (id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
                                      token_hash, email_subject, email_body, created_by, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        )
        .bind(i.id.0)
        .bind(i.partner_org_id.0)
        .bind(i.customer_id.map(|c| c.0))
        .bind(i.indirect_provider_id.map(|c| c.0))
        .bind(delegated_json(&i.roles))
        .bind(i.duration_days)
        .bind(i.auto_extend)
        .bind(i.locale.as_str())
        .bind(&i.token_hash)
        .bind(&i.email_subject)
        .bind(&i.email_body)
        .bind(i.created_by.0)
        .bind(ts(i.created_at))
        .bind(ts(i.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn invitation(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
        let r = sqlx::query(sqlf!("SELECT {INV_COLS} FROM invitations WHERE id = ? AND partner_org_id = ?"))
            .bind(id.0)
            .bind(partner.0)
            .fetch_one(&self.read)
            .await
            .map_err(db)?;
        invitation_from(&r)
    }

    async fn list_invitations(
        &self,
        partner: OrganizationId,
        state: Option<InvitationState>,
        now: OffsetDateTime,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Invitation>> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        let filter = |b: &mut QueryBuilder<Sqlite>| {
            b.push(" WHERE partner_org_id = ").push_bind(partner.0);
            match state {
                None => {}
                Some(InvitationState::Pending) => {
                    b.push(" AND state = 'pending' AND expires_at > ").push_bind(ts(now));
                }
                Some(InvitationState::Expired) => {
                    b.push(" AND state = 'pending' AND expires_at <= ").push_bind(ts(now));
                }
                Some(s) => {
                    b.push(" AND state = ").push_bind(s.as_str());
                }
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM invitations");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await.map_err(db)?;
        let mut b = QueryBuilder::<Sqlite>::new(format!("SELECT {INV_COLS} FROM invitations"));
        filter(&mut b);
        if let Some(c) = cursor {
            let (_, id) = decode_cursor(c)?;
            b.push(" AND id < ").push_bind(id);
        }
        b.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
        let items = rows.iter().take(limit as usize).map(invitation_from).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if rows.len() as i64 > limit { items.last().map(|i| encode_cursor("", i.id.0)) } else { None };
        Ok(Page { items, next_cursor, total })
    }

    async fn save_invitation_email(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        subject: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Invitation> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(sqlf!(
            "UPDATE invitations SET email_subject = ?, email_body = ? WHERE id = ? AND partner_org_id = ? AND state = 'pending' AND expires_at > ? RETURNING {INV_COLS}"
        ))
        .bind(subject)
        .bind(body)
        .bind(id.0)
        .bind(partner.0)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(r) = r else {
            drop(tx);
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        };
        let inv = invitation_from(&r)?;
        tx.commit().await.map_err(db)?;
        Ok(inv)
    }

    async fn mark_invitation_sent(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE invitations SET sent_at = ? WHERE id = ? AND partner_org_id = ?")
            .bind(ts(now))
            .bind(id.0)
            .bind(partner.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn revoke_invitation(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Invitation> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(sqlf!(
            "UPDATE invitations SET state = 'revoked', responded_at = ? WHERE id = ? AND partner_org_id = ? AND state = 'pending' AND expires_at > ? RETURNING {INV_COLS}"
        ))
        .bind(ts(now))
        .bind(id.0)
        .bind(partner.0)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(r) = r else {
            drop(tx);
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        };
        let inv = invitation_from(&r)?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(inv)
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> StoreResult<InvitationForCustomer> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        let r = sqlx::query(sqlf!("SELECT {INV_COLS} FROM invitations WHERE token_hash = ?"))
            .bind(token_hash)
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
        let invitation = invitation_from(&r)?;
        let org = |id: OrganizationId| sqlx::query(sqlf!("SELECT {ORG_COLS} FROM organizations WHERE id = ?")).bind(id.0);
        let partner = org_from(&org(invitation.partner_org_id).fetch_one(&mut *conn).await.map_err(db)?, "")?.partner_ref();
        let provider = match invitation.indirect_provider_id {
            Some(p) => Some(org_from(&org(p).fetch_one(&mut *conn).await.map_err(db)?, "")?.partner_ref()),
            None => None,
        };
        Ok(InvitationForCustomer { invitation, partner, provider })
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
        let mut tx = self.begin().await?;
        // The conditional update is the lock: of N concurrent acceptances, one changes the row.
        let n = sqlx::query(
            "UPDATE invitations SET state = 'accepted', responded_at = ?1, accepted_by = ?2
             WHERE id = ?3 AND state = 'pending' AND expires_at > ?1 AND (customer_id IS NULL OR customer_id = ?2)",
        )
        .bind(ts(now))
        .bind(customer.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        insert_relationships(&mut tx, &relationships, &grants).await?;
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn decline_invitation(&self, id: InvitationId, customer: OrganizationId, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE invitations SET state = 'declined', responded_at = ?1
             WHERE id = ?3 AND state = 'pending' AND expires_at > ?1 AND (customer_id IS NULL OR customer_id = ?2)",
        )
        .bind(ts(now))
        .bind(customer.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        write_change(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn partners_of_customer(&self, customer: OrganizationId) -> StoreResult<Vec<PartnerOfCustomer>> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        let rows = sqlx::query(sqlf!(
            "SELECT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, {REL_COLS}
             FROM relationships r JOIN organizations o ON o.id = r.partner_org_id
             WHERE r.customer_id = ? AND r.state = 'active' ORDER BY o.name, o.id"
        ))
        .bind(customer.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let partner = org_from(r, "")?.partner_ref();
            let grants = sqlx::query(sqlf!(
                "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND customer_id = ? AND revoked_at IS NULL ORDER BY role"
            ))
            .bind(partner.id.0)
            .bind(customer.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?
            .iter()
            .map(grant_from)
            .collect::<StoreResult<_>>()?;
            out.push(PartnerOfCustomer { partner, relationship: relationship_from(r)?, grants });
        }
        Ok(out)
    }

    async fn list_audit(&self, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        let mut conn = self.read.acquire().await.map_err(db)?;
        audit::list(&mut conn, org, f).await
    }
}

/// Who must still hold at least one global admin: every organization, always.
async fn ensure_a_global_admin(tx: &mut Tx<'_>, org: OrganizationId) -> StoreResult<()> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE organization_id = ? AND roles LIKE '%\"global_admin\"%'")
        .bind(org.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    if n == 0 { Err(StoreError::Conflict { constraint: constraint::LAST_GLOBAL_ADMIN }) } else { Ok(()) }
}

async fn attach_grants(
    conn: &mut sqlx::SqliteConnection,
    partner: OrganizationId,
    items: &mut [CustomerSummary],
    now: OffsetDateTime,
) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut b = QueryBuilder::<Sqlite>::new(format!("SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = "));
    b.push_bind(partner.0).push(" AND revoked_at IS NULL AND expires_at > ").push_bind(ts(now)).push(" AND customer_id IN (");
    let mut sep = b.separated(", ");
    for c in items.iter() {
        sep.push_bind(c.id.0);
    }
    b.push(") ORDER BY role");
    let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
    for r in &rows {
        let g = grant_from(r)?;
        if let Some(c) = items.iter_mut().find(|c| c.id == g.customer_id) {
            c.grants.push(g);
        }
    }
    Ok(())
}
