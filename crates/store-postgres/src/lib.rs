//! The PostgreSQL implementation of the store: for several server processes sharing one
//! database. It behaves exactly as the SQLite store does (same tenant scoping, conditional
//! updates, errors, cursors, ordering, audit chain bytes); only the concurrency is real here.
//!
//! Transactions run at READ COMMITTED. What SQLite gets from having one writer, this store
//! gets from:
//! - conditional updates (`... WHERE state = 'pending' AND expires_at > $now`): of concurrent
//!   writers, the losers re-evaluate the row after the winner commits and change nothing;
//! - unique indexes (`relationships_one_active`, ...), mapped to `StoreError::Conflict`;
//! - an advisory lock for the audit chain (see `audit`), the last lock any transaction takes;
//! - a lock on the organization row while a change could leave it without a global admin.
//!
//! Round trips are what costs here, so a change is a few statements: the work itself as one
//! statement of data-modifying CTEs where that is easy, often with the chain lock folded in
//! (see [`fenced`]), then the audit record and the outbox events in one statement.

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
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Pool and timeout settings for PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections per server process.
    pub max_connections: u32,
    /// `statement_timeout` set on every connection.
    pub statement_timeout: Duration,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { max_connections: 16, statement_timeout: Duration::from_secs(5), acquire_timeout: Duration::from_secs(5) }
    }
}

/// One kind of thing that blocks removing a relationship: a query over
/// `$1` = partner organization id, `$2` = customer id, answering rows of `(id uuid, name text)`.
#[derive(Debug, Clone)]
pub struct BlockerQuery {
    pub kind: &'static str,
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    blockers: Vec<BlockerQuery>,
}

type Tx = Transaction<'static, Postgres>;
type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// A pooled connection idle for longer than this is pinged before use (a server restart or a
/// network idle timeout may have cut it); a busy one goes straight to work, saving a round trip.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

impl PgStore {
    /// Connects to the database at `url` (`postgres://...`) and migrates it.
    pub async fn open(url: &str, opts: PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(db)?
            // A 2xx answer is durable: commits wait for the WAL flush, whatever the server's default.
            .options([("statement_timeout", format!("{}ms", opts.statement_timeout.as_millis())), ("synchronous_commit", "on".to_owned())]);
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(db)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Self { pool, blockers: default_blockers() })
    }

    /// Adds a kind of removal blocker (the commerce tables add theirs this way).
    pub fn with_blocker(mut self, blocker: BlockerQuery) -> Self {
        self.blockers.push(blocker);
        self
    }

    /// The pool, for tests that must reach under the store (tampering with the audit chain).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> StoreResult<Tx> {
        self.pool.begin().await.map_err(db)
    }

    async fn blockers_in(
        &self,
        conn: &mut PgConnection,
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

/// Maps driver errors to store errors, naming the uniqueness rule that refused a write: the
/// unique indexes carry the very names of the `constraint` module.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        let known = [
            constraint::DOMAIN_TAKEN,
            constraint::PARTNER_ID_TAKEN,
            constraint::EMAIL_TAKEN,
            constraint::ACTIVE_RELATIONSHIP,
            constraint::PROVIDER_LINK_EXISTS,
        ];
        return match known.into_iter().find(|k| d.constraint() == Some(*k)) {
            Some(constraint) => StoreError::Conflict { constraint },
            None => StoreError::Database(e.to_string()),
        };
    }
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Database(other.to_string()),
    }
}

/// A statement of data-modifying CTEs (`ctes`) that also takes the chain lock, once its work is
/// done: `done` (a SELECT with a column `n`) must read every data-modifying CTE to its end, so
/// that their row locks and unique checks are all behind before the lock is taken; the lock is
/// then taken when `n > 0`. A lock taken before them could deadlock against a transaction that
/// holds what they wait for and waits for the chain. The only work left after the lock is the
/// statement's foreign-key checks, which take KEY SHARE locks: only on rows nobody deletes or
/// locks FOR UPDATE, so never with a user row (sessions) on the referenced side.
fn fenced(ctes: &str, done: &str) -> String {
    format!(
        "WITH {ctes}, done AS MATERIALIZED ({done}) SELECT done.*, CASE WHEN done.n > 0 THEN {lock}::text END AS chain_locked FROM done",
        lock = audit::LOCK
    )
}

/// `n` of a [`fenced`] statement.
fn n_of(r: &PgRow) -> StoreResult<i64> {
    r.try_get("n").map_err(db)
}

/// The relationships and grants of an acceptance or a creation, as two CTEs `rels` and `grs`
/// over arrays bound from `$base` on (see [`bind_rels_grants`]); both insert only if `gate`
/// holds, the grants after the relationships (`grs` reads `rels` first), as SQLite inserts
/// them, so that a refused relationship is the error reported. As in SQLite, a relationship is made only to an organization of kind `customer`,
/// whose name and creation time it copies.
fn rels_grants_ctes(base: usize, gate: &str) -> String {
    let p = |i: usize| format!("${}", base + i);
    format!(
        "rels AS (
             INSERT INTO relationships (id, partner_org_id, customer_id, state, via, invitation_id, indirect_reseller_id, customer_name, customer_created_at, created_at)
             SELECT t.id, t.partner_org_id, o.id, 'active', t.via, t.invitation_id, t.indirect_reseller_id, o.name, o.created_at, t.created_at
             FROM unnest({}::uuid[], {}::uuid[], {}::text[], {}::uuid[], {}::uuid[], {}::timestamptz[], {}::uuid[])
                  AS t(id, partner_org_id, via, invitation_id, indirect_reseller_id, created_at, customer_id)
             JOIN organizations o ON o.id = t.customer_id AND o.kind = 'customer'
             WHERE {gate}
             RETURNING 1
         ), grs AS (
             INSERT INTO grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend)
             SELECT * FROM unnest({}::uuid[], {}::uuid[], {}::uuid[], {}::uuid[], {}::text[], {}::timestamptz[], {}::timestamptz[], {}::boolean[])
             WHERE {gate} AND (SELECT count(*) FROM rels) >= 0
             RETURNING 1
         )",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10),
        p(11),
        p(12),
        p(13),
        p(14),
    )
}

fn bind_rels_grants<'q>(q: PgQuery<'q>, rels: &[NewRelationship], grants: &[NewGrant]) -> PgQuery<'q> {
    q.bind(rels.iter().map(|r| r.id.0).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.partner_org_id.0).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.via).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.invitation_id.map(|i| i.0)).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.indirect_reseller_id.map(|i| i.0)).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| pt(r.created_at)).collect::<Vec<_>>())
        .bind(rels.iter().map(|r| r.customer_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.relationship_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.partner_org_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.customer_id.0).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.role.as_str()).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| pt(g.created_at)).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| pt(g.expires_at)).collect::<Vec<_>>())
        .bind(grants.iter().map(|g| g.auto_extend).collect::<Vec<_>>())
}

/// The organization insert as a CTE `org` over `$1..$7` (see [`bind_org`]).
const ORG_INSERT: &str = "org AS (
    INSERT INTO organizations (id, kind, name, domain, partner_type, partner_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id)";

fn bind_org<'q>(q: PgQuery<'q>, org: &NewOrganization) -> PgQuery<'q> {
    q.bind(org.id.0)
        .bind(org.kind.as_str())
        .bind(org.name.clone())
        .bind(org.domain.clone())
        .bind(org.partner_type.map(PartnerType::as_str))
        .bind(org.partner_id.clone())
        .bind(pt(org.created_at))
}

/// The user insert as a CTE `usr` over `$base..$base+6`, after `after` when given (a CTE it
/// reads, so that it runs first: the organization before its admin, as SQLite inserts them).
fn user_insert(base: usize, after: Option<&str>) -> String {
    let p = |i: usize| format!("${}", base + i);
    let cols = "id, organization_id, email, display_name, password_hash, roles, created_at";
    let vals = (0..7).map(p).collect::<Vec<_>>().join(", ");
    match after {
        Some(cte) => format!("usr AS (INSERT INTO users ({cols}) SELECT {vals} FROM {cte} RETURNING 1)"),
        None => format!("usr AS (INSERT INTO users ({cols}) VALUES ({vals}) RETURNING 1)"),
    }
}

fn bind_user<'q>(q: PgQuery<'q>, u: &NewUser) -> PgQuery<'q> {
    q.bind(u.id.0)
        .bind(u.organization_id.0)
        .bind(u.email.clone())
        .bind(u.display_name.clone())
        .bind(u.password_hash.clone())
        .bind(roles_json(&u.roles))
        .bind(pt(u.created_at))
}

const ORG_COLS: &str = "id, kind, name, domain, partner_type, partner_id, created_at";
const USER_COLS: &str = "id, organization_id, email, display_name, roles, created_at";
const INV_COLS: &str = "id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by";
const REL_COLS: &str =
    "r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id";
const GRANT_COLS: &str = "id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at";
const SUMMARY_COLS: &str = "c.id AS c_id, c.name AS c_name, c.domain AS c_domain, c.created_at AS c_created_at,
    r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id,
    rs.id AS rs_id, rs.name AS rs_name, rs.partner_id AS rs_partner_id, rs.domain AS rs_domain";
/// SQLite's LIKE: case-insensitive for ASCII letters only.
const ASCII_LOWER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn server_secret(&self, generated: &[u8]) -> StoreResult<Vec<u8>> {
        // Two statements: the read must see a secret another process committed while the
        // insert waited for it.
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ('server_secret', $1) ON CONFLICT (key) DO NOTHING")
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
        let mut conn = self.pool.acquire().await.map_err(db)?;
        audit::verify(&mut conn).await
    }

    async fn create_organization(&self, org: NewOrganization, admin: NewUser, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(&format!("{ORG_INSERT}, {}", user_insert(8, Some("org"))), "SELECT (SELECT count(*) FROM usr) AS n");
        let q = bind_user(bind_org(sqlx::query(sqlx::AssertSqlSafe(sql)), &org), &admin);
        let r = q.fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("organization admin not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
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
        let r = sqlx::query("SELECT id, organization_id, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
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
        let rows = sqlx::query(sqlf!("SELECT {USER_COLS} FROM users WHERE organization_id = $1 ORDER BY email COLLATE \"C\""))
            .bind(org.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(user_from).collect()
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
        tx.commit().await.map_err(db)
    }

    async fn update_user(&self, org: OrganizationId, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        // The organization row is locked first: two admins demoting each other at once must
        // not both see the other still a global admin.
        let r = sqlx::query(sqlf!(
            "WITH l AS MATERIALIZED (SELECT id FROM organizations WHERE id = $4 FOR NO KEY UPDATE)
             UPDATE users SET roles = coalesce($1, roles), display_name = coalesce($2, display_name)
             WHERE id = $3 AND organization_id = (SELECT id FROM l) RETURNING {USER_COLS}"
        ))
        .bind(patch.roles.as_deref().map(roles_json))
        .bind(patch.display_name.as_deref())
        .bind(user.0)
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(r) = r else {
            return Err(StoreError::NotFound);
        };
        let u = user_from(&r)?;
        ensure_a_global_admin(&mut tx, org).await?;
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(u)
    }

    async fn delete_user(&self, org: OrganizationId, user: UserId, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // The organization row is locked first (see `update_user`). The user's sessions go
        // with it by the foreign key's cascade: every session of the user, as in SQLite, where
        // those of this organization are deleted first and the cascade takes any others.
        let r = sqlx::query(
            "WITH l AS MATERIALIZED (SELECT id FROM organizations WHERE id = $2 FOR NO KEY UPDATE),
                  d AS (DELETE FROM users WHERE id = $1 AND organization_id = (SELECT id FROM l) RETURNING 1)
             SELECT (SELECT count(*) FROM d) AS n",
        )
        .bind(user.0)
        .bind(org.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        ensure_a_global_admin(&mut tx, org).await?;
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
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

    async fn create_session(&self, s: NewSession, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Expired sessions of this user go as a new one comes, so the table does not grow forever.
        // The user row is KEY SHARE locked first, as the insert's foreign-key check would lock
        // it: then that check, which runs after the chain lock, waits for nobody; and sessions
        // are locked after their user, as a deletion of the user locks them.
        let sql = fenced(
            "u AS MATERIALIZED (SELECT id FROM users WHERE id = $3 FOR KEY SHARE),
             d AS (DELETE FROM sessions WHERE user_id = (SELECT id FROM u) AND expires_at <= $5 RETURNING 1),
             i AS (INSERT INTO sessions (token_hash, id, user_id, organization_id, created_at, expires_at)
                   SELECT $1, $2, $3, $4, $5, $6 FROM (SELECT count(*) FROM d) AS expired
                   RETURNING 1)",
            "SELECT (SELECT count(*) FROM i) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&s.token_hash)
            .bind(s.id.0)
            .bind(s.user_id.0)
            .bind(s.organization_id.0)
            .bind(pt(s.created_at))
            .bind(pt(s.expires_at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("session not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn principal(&self, token_hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<Principal>> {
        let r = sqlx::query(
            "SELECT u.id, u.organization_id, u.email, u.display_name, u.roles, u.created_at,
                    o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.domain AS o_domain, o.partner_type AS o_partner_type,
                    o.partner_id AS o_partner_id, o.created_at AS o_created_at
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
             JOIN organizations o ON o.id = u.organization_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(pt(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        r.map(|r| Ok(Principal { user: user_from(&r)?, organization: org_from(&r, "o_")? })).transpose()
    }

    async fn count_attempt(&self, key: &str, window_secs: i64, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let end = from_ts(ts(now).saturating_add(window_secs.saturating_mul(1_000_000)));
        let r = sqlx::query(
            "INSERT INTO rate_limits (key, window_end, attempts) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN rate_limits.window_end <= $3 THEN 1 ELSE rate_limits.attempts + 1 END,
               window_end = CASE WHEN rate_limits.window_end <= $3 THEN excluded.window_end ELSE rate_limits.window_end END
             RETURNING attempts, window_end",
        )
        .bind(key)
        .bind(end)
        .bind(pt(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?))
    }

    async fn attempts(&self, key: &str, now: OffsetDateTime) -> StoreResult<(i64, OffsetDateTime)> {
        let r = sqlx::query("SELECT attempts, window_end FROM rate_limits WHERE key = $1 AND window_end > $2")
            .bind(key)
            .bind(pt(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match r {
            Some(r) => Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)),
            None => Ok((0, now)),
        }
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM rate_limits WHERE key = $1").bind(key).execute(&self.pool).await.map_err(db)?;
        Ok(())
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
        tx.commit().await.map_err(db)
    }

    async fn provider_links(&self, org: OrganizationId, side: LinkSide) -> StoreResult<Vec<ProviderLinkView>> {
        let (mine, other) = match side {
            LinkSide::Providers => ("reseller_id", "provider_id"),
            LinkSide::Resellers => ("provider_id", "reseller_id"),
        };
        let rows = sqlx::query(sqlf!(
            "SELECT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, l.state AS link_state
             FROM provider_links l JOIN organizations o ON o.id = l.{other} WHERE l.{mine} = $1 ORDER BY o.name COLLATE \"C\", o.id"
        ))
        .bind(org.0)
        .fetch_all(&self.pool)
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
        tx.commit().await.map_err(db)
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

    async fn list_customers(&self, partner: OrganizationId, q: &CustomerQuery, now: OffsetDateTime) -> StoreResult<Page<CustomerSummary>> {
        // SQLite's LIKE folds ASCII letters only: so does this search, under "C" (LIKE does not
        // work under the nondeterministic `nocase` of customer_name).
        let pattern =
            q.q.as_deref().map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")).to_ascii_lowercase());
        let filter = |b: &mut QueryBuilder<Postgres>| {
            b.push(" WHERE r.partner_org_id = ").push_bind(partner.0).push(" AND r.state = 'active'");
            if let Some(p) = &pattern {
                b.push(format!(" AND (translate(r.customer_name COLLATE \"C\", {ASCII_LOWER}) LIKE "))
                    .push_bind(p.clone())
                    .push(format!(" ESCAPE '\\' OR translate(c.domain COLLATE \"C\", {ASCII_LOWER}) LIKE "))
                    .push_bind(p.clone())
                    .push(" ESCAPE '\\')");
            }
        };
        let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
        // The keyset position: after (name, id), or before (creation time, id) where the time
        // travels as SQLite's integer microseconds.
        enum After {
            Name(String, Uuid),
            Created(OffsetDateTime, Uuid),
        }
        let after = match (q.sort, cursor) {
            (CustomerSort::Name, Some((k, id))) => Some(After::Name(k, id)),
            (CustomerSort::NewestFirst, Some((k, id))) => {
                Some(After::Created(cursor_time(k.parse::<i64>().map_err(|_| StoreError::BadCursor)?), id))
            }
            (_, None) => None,
        };
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // The total and the page in one statement: the total over the filter, the page after the cursor.
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT t.total, p.* FROM (SELECT count(*) AS total FROM relationships r JOIN organizations c ON c.id = r.customer_id",
        );
        filter(&mut b);
        b.push(format!(
            ") AS t LEFT JOIN LATERAL (SELECT {SUMMARY_COLS}, r.customer_name AS sort_name, r.customer_created_at AS sort_created
             FROM relationships r JOIN organizations c ON c.id = r.customer_id
             LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id"
        ));
        filter(&mut b);
        match after {
            Some(After::Name(name, id)) => {
                b.push(" AND (r.customer_name, r.customer_id) > (").push_bind(name).push(", ").push_bind(id).push(")");
            }
            Some(After::Created(created, id)) => {
                b.push(" AND (r.customer_created_at, r.customer_id) < (").push_bind(created).push(", ").push_bind(id).push(")");
            }
            None => {}
        }
        let order = match q.sort {
            CustomerSort::Name => (" ORDER BY r.customer_name, r.customer_id", " ORDER BY p.sort_name, p.customer_id"),
            CustomerSort::NewestFirst => {
                (" ORDER BY r.customer_created_at DESC, r.customer_id DESC", " ORDER BY p.sort_created DESC, p.customer_id DESC")
            }
        };
        b.push(order.0);
        // SQLite reads a negative LIMIT as none.
        b.push(" LIMIT ").push_bind((q.limit + 1 >= 0).then_some(q.limit + 1));
        b.push(") AS p ON true");
        b.push(order.1);
        let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total").map_err(db)?,
            None => 0,
        };
        let mut page = Vec::with_capacity(rows.len());
        for r in &rows {
            if get::<Option<Uuid>>(r, "c_id")?.is_some() {
                page.push(r);
            }
        }
        let mut items = page.iter().take(q.limit as usize).map(|r| summary_from(r)).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if page.len() as i64 > q.limit {
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
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let r = sqlx::query(sqlf!(
            "SELECT {SUMMARY_COLS}
             FROM relationships r JOIN organizations c ON c.id = r.customer_id
             LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id
             WHERE r.partner_org_id = $1 AND r.customer_id = $2 AND r.state = 'active'"
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
            "SELECT DISTINCT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, o.name COLLATE \"C\" AS sort_name
             FROM organizations o JOIN relationships r2 ON r2.partner_org_id = o.id AND r2.customer_id = $1 AND r2.state = 'active'
             WHERE o.id IN (SELECT reseller_id FROM provider_links WHERE provider_id = $2 AND state = 'active'
                            UNION SELECT provider_id FROM provider_links WHERE reseller_id = $2 AND state = 'active')
             ORDER BY sort_name, o.id"
        ))
        .bind(customer.0)
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
        // The organization first, in its own statement: the relationships read its name.
        let sql = format!("WITH {ORG_INSERT}, {} SELECT count(*) AS n FROM usr", user_insert(8, Some("org")));
        let q = bind_user(bind_org(sqlx::query(sqlx::AssertSqlSafe(sql)), &org), &admin);
        q.fetch_one(&mut *tx).await.map_err(db)?;
        let sql = fenced(&rels_grants_ctes(1, "true"), "SELECT (SELECT count(*) FROM rels) + (SELECT count(*) FROM grs) + 1 AS n");
        bind_rels_grants(sqlx::query(sqlx::AssertSqlSafe(sql)), &relationships, &grants).fetch_one(&mut *tx).await.map_err(db)?;
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn active_relationship(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Option<Relationship>> {
        let r = sqlx::query(sqlf!(
            "SELECT {REL_COLS} FROM relationships r WHERE r.partner_org_id = $1 AND r.customer_id = $2 AND r.state = 'active'"
        ))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        r.as_ref().map(relationship_from).transpose()
    }

    async fn removal_blockers(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<RemovalBlocker>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
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
        // Blockers first, then the removal, as in SQLite. Unlike under SQLite's single writer, a
        // blocker committed by another transaction after this check does not stop the removal.
        let blockers = self.blockers_in(&mut tx, partner, customer).await?;
        if !blockers.is_empty() {
            return Err(StoreError::Blocked(blockers));
        }
        // Every grant of this partner in this customer goes, not only those of this relationship.
        let sql = fenced(
            "rel AS (UPDATE relationships SET state = 'removed', removed_at = $1
                     WHERE partner_org_id = $2 AND customer_id = $3 AND state = 'active' RETURNING id),
             g AS (UPDATE grants SET revoked_at = $1
                   WHERE partner_org_id = $2 AND customer_id = $3 AND revoked_at IS NULL AND expires_at > $1
                     AND EXISTS (SELECT 1 FROM rel) RETURNING 1)",
            "SELECT (SELECT count(*) FROM rel) AS n, (SELECT array_agg(id) FROM rel) AS rel_ids, (SELECT count(*) FROM g) AS revoked",
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(partner.0).bind(customer.0).fetch_one(&mut *tx).await.map_err(db)?;
        let rel_ids: Option<Vec<Uuid>> = r.try_get("rel_ids").map_err(db)?;
        let rel = rel_ids.and_then(|ids| ids.into_iter().next()).ok_or(StoreError::NotFound)?;
        let revoked: i64 = r.try_get("revoked").map_err(db)?;
        let mut change = change;
        change.identify("relationship_id", rel.to_string());
        change.record("revoked_grants", revoked);
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(RemovalOutcome { relationship_id: RelationshipId(rel), revoked_grants: revoked })
    }

    async fn grants(&self, partner: OrganizationId, customer: OrganizationId) -> StoreResult<Vec<Grant>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = $1 AND customer_id = $2 ORDER BY created_at, role COLLATE \"C\", id"
        ))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_all(&self.pool)
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
        let sql = fenced(
            "live AS (SELECT count(*) AS n FROM relationships WHERE partner_org_id = $2 AND customer_id = $3 AND state = 'active'),
             g AS (UPDATE grants SET revoked_at = $1
                   WHERE partner_org_id = $2 AND customer_id = $3 AND revoked_at IS NULL AND expires_at > $1
                     AND (SELECT n FROM live) > 0 RETURNING 1)",
            "SELECT (SELECT n FROM live) AS n, (SELECT count(*) FROM g) AS revoked",
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(partner.0).bind(customer.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        let n: i64 = r.try_get("revoked").map_err(db)?;
        let mut change = change;
        change.record("revoked_grants", n);
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn create_invitation(&self, i: NewInvitation, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "ins AS (
                 INSERT INTO invitations (id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
                                          token_hash, email_subject, email_body, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $13, $14)
                 RETURNING 1)",
            "SELECT (SELECT count(*) FROM ins) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
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
            .bind(pt(i.created_at))
            .bind(pt(i.expires_at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("invitation not inserted".into()));
        }
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn invitation(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
        let r = sqlx::query(sqlf!("SELECT {INV_COLS} FROM invitations WHERE id = $1 AND partner_org_id = $2"))
            .bind(id.0)
            .bind(partner.0)
            .fetch_one(&self.pool)
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
        let filter = |b: &mut QueryBuilder<Postgres>| {
            b.push(" WHERE partner_org_id = ").push_bind(partner.0);
            match state {
                None => {}
                Some(InvitationState::Pending) => {
                    b.push(" AND state = 'pending' AND expires_at > ").push_bind(pt(now));
                }
                Some(InvitationState::Expired) => {
                    b.push(" AND state = 'pending' AND expires_at <= ").push_bind(pt(now));
                }
                Some(s) => {
                    b.push(" AND state = ").push_bind(s.as_str());
                }
            }
        };
        let after = cursor.map(decode_cursor).transpose()?.map(|(_, id)| id);
        // The total and the page in one statement: the total over the filter, the page after the cursor.
        let mut b = QueryBuilder::<Postgres>::new("SELECT t.total, p.* FROM (SELECT count(*) AS total FROM invitations");
        filter(&mut b);
        b.push(format!(") AS t LEFT JOIN LATERAL (SELECT {INV_COLS} FROM invitations"));
        filter(&mut b);
        if let Some(id) = after {
            b.push(" AND id < ").push_bind(id);
        }
        // SQLite reads a negative LIMIT as none.
        b.push(" ORDER BY id DESC LIMIT ").push_bind((limit + 1 >= 0).then_some(limit + 1));
        b.push(") AS p ON true ORDER BY p.id DESC");
        let rows = b.build().fetch_all(&self.pool).await.map_err(db)?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total").map_err(db)?,
            None => 0,
        };
        let mut page = Vec::with_capacity(rows.len());
        for r in &rows {
            if get::<Option<Uuid>>(r, "id")?.is_some() {
                page.push(r);
            }
        }
        let items = page.iter().take(limit as usize).map(|r| invitation_from(r)).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if page.len() as i64 > limit { items.last().map(|i| encode_cursor("", i.id.0)) } else { None };
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
        // One statement: its own transaction.
        let r = sqlx::query(sqlf!(
            "UPDATE invitations SET email_subject = $1, email_body = $2
             WHERE id = $3 AND partner_org_id = $4 AND state = 'pending' AND expires_at > $5 RETURNING {INV_COLS}"
        ))
        .bind(subject)
        .bind(body)
        .bind(id.0)
        .bind(partner.0)
        .bind(pt(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = r else {
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        };
        invitation_from(&r)
    }

    async fn mark_invitation_sent(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "upd AS (UPDATE invitations SET sent_at = $1 WHERE id = $2 AND partner_org_id = $3 RETURNING 1)",
            "SELECT (SELECT count(*) FROM upd) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(id.0).bind(partner.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
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
        let sql = fenced(
            &format!(
                "upd AS (UPDATE invitations SET state = 'revoked', responded_at = $1
                         WHERE id = $2 AND partner_org_id = $3 AND state = 'pending' AND expires_at > $1 RETURNING {INV_COLS})"
            ),
            "SELECT upd.*, 1 AS n FROM upd",
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(id.0).bind(partner.0).fetch_optional(&mut *tx).await.map_err(db)?;
        let Some(r) = r else {
            drop(tx);
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        };
        let inv = invitation_from(&r)?;
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)?;
        Ok(inv)
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> StoreResult<InvitationForCustomer> {
        let r = sqlx::query(
            "SELECT i.id, i.partner_org_id, i.customer_id, i.indirect_provider_id, i.roles, i.duration_days, i.auto_extend, i.locale,
                    i.state, i.email_subject, i.email_body, i.created_by, i.created_at, i.expires_at, i.sent_at, i.responded_at, i.accepted_by,
                    p.id AS p_id, p.kind AS p_kind, p.name AS p_name, p.domain AS p_domain, p.partner_type AS p_partner_type,
                    p.partner_id AS p_partner_id, p.created_at AS p_created_at,
                    v.id AS v_id, v.kind AS v_kind, v.name AS v_name, v.domain AS v_domain, v.partner_type AS v_partner_type,
                    v.partner_id AS v_partner_id, v.created_at AS v_created_at
             FROM invitations i JOIN organizations p ON p.id = i.partner_org_id
             LEFT JOIN organizations v ON v.id = i.indirect_provider_id
             WHERE i.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let invitation = invitation_from(&r)?;
        let partner = org_from(&r, "p_")?.partner_ref();
        let provider = match invitation.indirect_provider_id {
            Some(_) if get::<Option<Uuid>>(&r, "v_id")?.is_none() => return Err(StoreError::NotFound),
            Some(_) => Some(org_from(&r, "v_")?.partner_ref()),
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
        // The conditional update is the lock: of N concurrent acceptances, one changes the row;
        // the others wait for it, see it accepted and change nothing. The relationships and
        // grants go in the same statement, only when the update did.
        let sql = fenced(
            &format!(
                "upd AS (UPDATE invitations SET state = 'accepted', responded_at = $1, accepted_by = $2
                         WHERE id = $3 AND state = 'pending' AND expires_at > $1 AND (customer_id IS NULL OR customer_id = $2)
                         RETURNING 1), {}",
                rels_grants_ctes(4, "EXISTS (SELECT 1 FROM upd)")
            ),
            "SELECT (SELECT count(*) FROM upd) AS n, (SELECT count(*) FROM rels) AS rels, (SELECT count(*) FROM grs) AS grs",
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(customer.0).bind(id.0);
        let r = bind_rels_grants(q, &relationships, &grants).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn decline_invitation(&self, id: InvitationId, customer: OrganizationId, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "upd AS (UPDATE invitations SET state = 'declined', responded_at = $1
                     WHERE id = $3 AND state = 'pending' AND expires_at > $1 AND (customer_id IS NULL OR customer_id = $2)
                     RETURNING 1)",
            "SELECT (SELECT count(*) FROM upd) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(customer.0).bind(id.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        audit::append(&mut tx, &change).await?;
        tx.commit().await.map_err(db)
    }

    async fn partners_of_customer(&self, customer: OrganizationId) -> StoreResult<Vec<PartnerOfCustomer>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let rows = sqlx::query(sqlf!(
            "SELECT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, {REL_COLS}
             FROM relationships r JOIN organizations o ON o.id = r.partner_org_id
             WHERE r.customer_id = $1 AND r.state = 'active' ORDER BY o.name COLLATE \"C\", o.id"
        ))
        .bind(customer.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(PartnerOfCustomer {
                partner: org_from(r, "")?.partner_ref(),
                relationship: relationship_from(r)?,
                grants: Vec::new(),
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        // The grants of every partner at once (SQLite asks partner by partner).
        let partners = out.iter().map(|p| p.partner.id.0).collect::<Vec<_>>();
        let rows = sqlx::query(sqlf!(
            "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ANY($1) AND customer_id = $2 AND revoked_at IS NULL
             ORDER BY role COLLATE \"C\", id"
        ))
        .bind(partners)
        .bind(customer.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        for r in &rows {
            let g = grant_from(r)?;
            if let Some(p) = out.iter_mut().find(|p| p.partner.id == g.partner_org_id) {
                p.grants.push(g);
            }
        }
        Ok(out)
    }

    async fn list_audit(&self, org: OrganizationId, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        audit::list(&mut conn, org, f).await
    }
}

/// Who must still hold at least one global admin: every organization, always. Runs after the
/// change, under the organization row's lock; takes the chain lock when the check passes.
async fn ensure_a_global_admin(tx: &mut Tx, org: OrganizationId) -> StoreResult<()> {
    let sql = format!(
        "WITH done AS MATERIALIZED (SELECT count(*) AS n FROM users WHERE organization_id = $1 AND roles LIKE '%\"global_admin\"%')
         SELECT done.n, CASE WHEN done.n > 0 THEN {}::text END AS chain_locked FROM done",
        audit::LOCK
    );
    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.0).fetch_one(&mut **tx).await.map_err(db)?;
    if n_of(&r)? == 0 { Err(StoreError::Conflict { constraint: constraint::LAST_GLOBAL_ADMIN }) } else { Ok(()) }
}

async fn attach_grants(
    conn: &mut PgConnection,
    partner: OrganizationId,
    items: &mut [CustomerSummary],
    now: OffsetDateTime,
) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let customers = items.iter().map(|c| c.id.0).collect::<Vec<_>>();
    let rows = sqlx::query(sqlf!(
        "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND customer_id = ANY($3)
         ORDER BY role COLLATE \"C\", id"
    ))
    .bind(partner.0)
    .bind(pt(now))
    .bind(customers)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for r in &rows {
        let g = grant_from(r)?;
        if let Some(c) = items.iter_mut().find(|c| c.id == g.customer_id) {
            c.grants.push(g);
        }
    }
    Ok(())
}
