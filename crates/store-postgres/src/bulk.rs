//! The benchmark dataset's bulk load (`partnerhub bench seed`): `COPY ... FROM STDIN` in one
//! transaction on a connection of its own, then `VACUUM ANALYZE` so that the planner and the
//! visibility map see the loaded tables as a long-running database would. Never a request path.

use crate::{PgStore, db};
use partnerhub_store::codec::{from_micros, rfc3339};
use partnerhub_store::seed::{PAIR_ROLES, Seed, SeedCounts};
use partnerhub_store::{StoreError, StoreResult};
use sqlx::{Connection, PgConnection};
use std::time::Instant;

/// Rows are sent in chunks of about this many bytes.
const CHUNK: usize = 1 << 20;

impl PgStore {
    /// Loads `seed` into an empty database (no organization, no audit record), in one
    /// transaction, then runs `VACUUM ANALYZE`.
    pub async fn bulk_seed(&self, seed: &Seed) -> StoreResult<SeedCounts> {
        // Off the pool: its statement timeout is for requests, and the load holds it for long.
        let mut conn = self.pool().acquire().await.map_err(db)?.detach();
        sqlx::raw_sql("SET statement_timeout = 0").execute(&mut conn).await.map_err(db)?;
        let mut counts = load(&mut conn, seed).await?;
        let t = Instant::now();
        sqlx::raw_sql("VACUUM ANALYZE").execute(&mut conn).await.map_err(db)?;
        counts.phases.push(("vacuum analyze", t.elapsed().as_secs_f64()));
        conn.close().await.map_err(db)?;
        Ok(counts)
    }
}

async fn load(conn: &mut PgConnection, seed: &Seed) -> StoreResult<SeedCounts> {
    let mut tx = conn.begin().await.map_err(db)?;
    let existing: i64 = sqlx::query_scalar("SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM audit_records)")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    if existing > 0 {
        return Err(StoreError::Database("bench seed: the database is not empty (seed a fresh one)".into()));
    }
    // Every row this load writes refers to rows it wrote before (the generator makes them so):
    // where the role may (a superuser's), skip the per-row foreign key checks, as
    // `pg_restore --disable-triggers` does; the 2,000,000 visibility rows' checks are most of
    // the load otherwise. Only for this transaction; elsewhere the checks run.
    sqlx::raw_sql("SAVEPOINT fk").execute(&mut *tx).await.map_err(db)?;
    if sqlx::raw_sql("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.is_err() {
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT fk").execute(&mut *tx).await.map_err(db)?;
    }
    sqlx::raw_sql("RELEASE SAVEPOINT fk").execute(&mut *tx).await.map_err(db)?;
    let mut n = SeedCounts::default();
    let mut t = Instant::now();
    let mut lap = |n: &mut SeedCounts, name: &'static str| {
        n.phases.push((name, t.elapsed().as_secs_f64()));
        t = Instant::now();
    };
    n.organizations = copy(
        &mut tx,
        "organizations (id, kind, name, domain, partner_type, partner_id, created_at)",
        seed.organizations().map(|o| {
            let (kind, ptype) = if o.partner { ("partner", Some("direct")) } else { ("customer", None) };
            row(&[&o.id.to_string(), kind, &esc(&o.name), &esc(&o.domain), opt(ptype), opt(o.partner_id.as_deref()), &ts(o.created_at)])
        }),
    )
    .await?;
    lap(&mut n, "organizations");
    let hash = esc(&seed.spec.password_hash);
    n.users = copy(
        &mut tx,
        "users (id, organization_id, email, display_name, password_hash, roles, password_change_required, created_at)",
        seed.users().map(|u| {
            row(&[
                &u.id.to_string(),
                &u.organization_id.to_string(),
                &esc(&u.email),
                &esc(&u.display_name),
                &hash,
                &esc(&u.roles),
                "f",
                &ts(u.created_at),
            ])
        }),
    )
    .await?;
    lap(&mut n, "users");
    let (now, session_end, invitation_end) = (ts(seed.now()), ts(seed.pair_session_expiry()), ts(seed.pair_invitation_expiry()));
    n.sessions = copy(
        &mut tx,
        "sessions (token_hash, id, user_id, organization_id, created_at, expires_at)",
        seed.pairs().iter().map(|p| {
            row(&[
                &bytea(&p.bearer_hash()),
                &p.session_id.to_string(),
                &p.user_id.to_string(),
                &p.customer_id.to_string(),
                &now,
                &session_end,
            ])
        }),
    )
    .await?;
    n.invitations = copy(
        &mut tx,
        "invitations (id, partner_org_id, roles, duration_days, auto_extend, locale, state, token_hash, email_subject, email_body, created_by, created_at, expires_at)",
        seed.pairs().iter().map(|p| {
            row(&[
                &p.invitation_id.to_string(),
                &p.partner_id.to_string(),
                &esc(PAIR_ROLES),
                "365",
                "f",
                "en",
                "pending",
                &bytea(&p.token_hash()),
                "bench",
                "bench",
                &p.created_by.to_string(),
                &now,
                &invitation_end,
            ])
        }),
    )
    .await?;
    lap(&mut n, "acceptance pairs");
    let mut grants = String::new();
    n.relationships = copy(
        &mut tx,
        "relationships (id, partner_org_id, customer_id, state, via, customer_name, customer_created_at, created_at)",
        seed.relationships().map(|(r, gs)| {
            for g in gs {
                grants.push_str(&row(&[
                    &g.id.to_string(),
                    &g.relationship_id.to_string(),
                    &g.partner_id.to_string(),
                    &g.customer_id.to_string(),
                    g.role,
                    &ts(g.created_at),
                    &ts(g.expires_at),
                    "t",
                    &partnerhub_store::codec::grant_period_days(from_micros(g.created_at), from_micros(g.expires_at)).to_string(),
                ]));
                n.grants += 1;
            }
            row(&[
                &r.id.to_string(),
                &r.partner_id.to_string(),
                &r.customer_id.to_string(),
                "active",
                "created",
                &esc(&r.customer_name),
                &ts(r.customer_created_at),
                &ts(r.created_at),
            ])
        }),
    )
    .await?;
    lap(&mut n, "relationships");
    copy(
        &mut tx,
        "grants (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, duration_days)",
        std::iter::once(grants),
    )
    .await?;
    lap(&mut n, "grants");
    let mut visible = Vec::with_capacity(seed.spec.audit_records * 2);
    n.audit_records = copy(
        &mut tx,
        "audit_records (seq, at, organization_id, action, customer_id, body, prev_hash, hash, change_id)",
        seed.audit().map(|(a, orgs)| {
            visible.extend(orgs.map(|o| (o, a.seq)));
            row(&[
                &a.seq.to_string(),
                &ts(a.at),
                &a.organization_id.to_string(),
                a.action,
                &a.customer_id.to_string(),
                &esc(&a.body),
                &bytea(&a.prev_hash),
                &bytea(&a.hash),
                &a.change_id.to_string(),
            ])
        }),
    )
    .await?;
    lap(&mut n, "audit records");
    // In key order: the primary key index is then written front to back.
    visible.sort_unstable();
    visible.dedup();
    n.audit_visibility =
        copy(&mut tx, "audit_visibility (organization_id, seq)", visible.iter().map(|(o, s)| format!("{o}\t{s}\n"))).await?;
    lap(&mut n, "audit visibility");
    // The per-partner customer totals (migration 0009): their trigger does not fire while
    // `session_replication_role` is `replica`, so they are set from the rows, in the load's
    // transaction, whichever way it ran.
    sqlx::raw_sql(
        "INSERT INTO partner_customer_counts (partner_org_id, customers)
             SELECT partner_org_id, count(*) FROM relationships WHERE state = 'active' GROUP BY partner_org_id
         ON CONFLICT (partner_org_id) DO UPDATE SET customers = EXCLUDED.customers",
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    lap(&mut n, "customer totals");
    tx.commit().await.map_err(db)?;
    lap(&mut n, "commit");
    Ok(n)
}

/// Streams `rows` (each one or more lines of COPY text) into `table`; answers the rows copied.
async fn copy(conn: &mut PgConnection, table: &str, rows: impl Iterator<Item = String>) -> StoreResult<u64> {
    copy_rows(conn, table, rows).await
}

async fn copy_rows(conn: &mut PgConnection, table: &str, rows: impl Iterator<Item = String>) -> StoreResult<u64> {
    let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN")).await.map_err(db)?;
    let mut buf = String::with_capacity(CHUNK + 4096);
    for r in rows {
        buf.push_str(&r);
        if buf.len() >= CHUNK {
            copy.send(std::mem::take(&mut buf).into_bytes()).await.map_err(db)?;
            buf.reserve(CHUNK + 4096);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await.map_err(db)?;
    }
    copy.finish().await.map_err(db)
}

/// One line of COPY text: fields already escaped, tab-separated.
fn row(fields: &[&str]) -> String {
    let mut s = fields.join("\t");
    s.push('\n');
    s
}

fn opt(v: Option<&str>) -> &str {
    v.unwrap_or("\\N")
}

fn ts(us: i64) -> String {
    rfc3339(from_micros(us))
}

fn bytea(b: &[u8]) -> String {
    format!("\\\\x{}", hex::encode(b))
}

/// COPY text escaping: backslash, tab, newline and carriage return.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}
