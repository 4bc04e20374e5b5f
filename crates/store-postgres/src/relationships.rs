//! Customers, their relationships with partners and the grants, removal and what blocks it,
//! and the partners of a customer.

use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{
    ORG_INSERT, PgStore, audit, bind_org, bind_rels_grants, bind_user, db, fenced, locks, n_of, record_replaced, rels_grants_ctes,
    user_insert,
};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::codec::time_text_key;
use partnerhub_store::*;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

const REL_COLS: &str =
    "r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id";
const GRANT_COLS: &str = "id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at";
const SUMMARY_COLS: &str = "c.id AS c_id, c.name AS c_name, c.domain AS c_domain, c.created_at AS c_created_at,
    r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id,
    rs.id AS rs_id, rs.name AS rs_name, rs.partner_id AS rs_partner_id, rs.domain AS rs_domain";
/// SQLite's LIKE: case-insensitive for ASCII letters only.
const ASCII_LOWER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";

impl PgStore {
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

#[async_trait]
impl RelationshipStore for PgStore {
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
        // The total, the page and the page's live grants in one statement: the total over the
        // filter (without a search, the partner's maintained count of migration 0009: a
        // count(*) would walk every active relationship of the partner on every page), the
        // page after the cursor, and a row per live grant of each customer of the page (one
        // row with NULL grant columns for a customer without any). Read by position:
        // `total`, `SUMMARY_COLS` from 1, the sort keys, then `LIVE_GRANT_COLS` from `GRANT_AT`.
        const GRANT_AT: usize = 18;
        let mut b = QueryBuilder::<Postgres>::new("SELECT t.total, p.*, ");
        b.push(LIVE_GRANT_COLS);
        if pattern.is_some() {
            b.push(" FROM (SELECT count(*) AS total FROM relationships r JOIN organizations c ON c.id = r.customer_id");
            filter(&mut b);
            b.push(") AS t");
        } else {
            b.push(" FROM (SELECT coalesce((SELECT customers FROM partner_customer_counts WHERE partner_org_id = ")
                .push_bind(partner.0)
                .push("), 0) AS total) AS t");
        }
        b.push(format!(
            " LEFT JOIN LATERAL (SELECT {SUMMARY_COLS}, r.customer_name AS sort_name, r.customer_created_at AS sort_created
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
        b.push(") AS p ON true LEFT JOIN grants g ON g.partner_org_id = p.partner_org_id AND g.customer_id = p.customer_id")
            .push(" AND g.revoked_at IS NULL AND g.expires_at > ")
            .push_bind(pt(now));
        b.push(order.1);
        b.push(", g.role COLLATE \"C\", g.id");
        let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get(0).map_err(db)?,
            None => 0,
        };
        let mut items: Vec<CustomerSummary> = Vec::new();
        for r in &rows {
            let Some(id) = r.try_get::<Option<Uuid>, _>(1).map_err(db)? else { continue };
            if items.last().is_none_or(|c| c.id.0 != id) {
                items.push(summary_at(r, 1)?);
            }
            if let Some(g) = live_grant_at(r, GRANT_AT, partner, OrganizationId(id))?
                && let Some(c) = items.last_mut()
            {
                c.grants.push(g);
            }
        }
        let more = items.len() as i64 > q.limit;
        items.truncate(q.limit.max(0) as usize);
        let next_cursor = if more {
            items.last().map(|c| match q.sort {
                CustomerSort::Name => encode_cursor(&c.name, c.id.0),
                CustomerSort::NewestFirst => encode_cursor(&ts(c.created_at).to_string(), c.id.0),
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor, total })
    }

    async fn customer(&self, partner: OrganizationId, customer: OrganizationId, now: OffsetDateTime) -> StoreResult<CustomerDetail> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // The subscriptions the caller placed or is partner of record of, counted by status.
        let r = sqlx::query(sqlf!(
            "SELECT {SUMMARY_COLS}, sc.active AS subs_active, sc.suspended AS subs_suspended, sc.cancelled AS subs_cancelled, pl.linked
             FROM relationships r JOIN organizations c ON c.id = r.customer_id
             LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id
             CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE status = 'active') AS active,
                                        count(*) FILTER (WHERE status = 'suspended') AS suspended,
                                        count(*) FILTER (WHERE status = 'cancelled') AS cancelled
                                 FROM subscriptions WHERE customer_id = $2 AND (placed_by = $1 OR partner_of_record = $1)) AS sc
             CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM provider_links WHERE provider_id = $1 AND ended_at IS NULL AND state = 'active')
                                     OR EXISTS (SELECT 1 FROM provider_links WHERE reseller_id = $1 AND state = 'active') AS linked) AS pl
             WHERE r.partner_org_id = $1 AND r.customer_id = $2 AND r.state = 'active'"
        ))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let subscriptions = SubscriptionCounts {
            active: get(&r, "subs_active")?,
            suspended: get(&r, "subs_suspended")?,
            cancelled: get(&r, "subs_cancelled")?,
        };
        let mut items = vec![summary_at(&r, 0)?];
        attach_grants(&mut conn, partner, &mut items, now).await?;
        // The other partners the caller may see: its resellers (provider side) and its
        // providers (reseller side) that also have an active relationship with this customer.
        // Most partners have no provider link at all (`linked`, read with the customer): then
        // there is nothing to ask.
        let linked: bool = get(&r, "linked")?;
        let rows = if !linked {
            Vec::new()
        } else {
            sqlx::query(sqlf!(
            "SELECT DISTINCT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, o.name COLLATE \"C\" AS sort_name
             FROM organizations o JOIN relationships r2 ON r2.partner_org_id = o.id AND r2.customer_id = $1 AND r2.state = 'active'
             WHERE o.id IN (SELECT reseller_id FROM provider_links WHERE provider_id = $2 AND ended_at IS NULL AND state = 'active'
                            UNION SELECT provider_id FROM provider_links WHERE reseller_id = $2 AND state = 'active')
             ORDER BY sort_name, o.id"
        ))
            .bind(customer.0)
            .bind(partner.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?
        };
        let other_partners = rows.iter().map(|r| org_from(r, "").map(|o| o.partner_ref())).collect::<StoreResult<_>>()?;
        let summary = items.pop().ok_or(StoreError::NotFound)?;
        Ok(CustomerDetail { summary, subscriptions, other_partners })
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
        let sql = fenced(
            &rels_grants_ctes(1, "true", true),
            "SELECT (SELECT count(*) FROM rels) + (SELECT count(*) FROM grs) + 1 AS n, (SELECT count(*) FROM ended) AS replaced",
        );
        let r = bind_rels_grants(sqlx::query(sqlx::AssertSqlSafe(sql)), &relationships, &grants).fetch_one(&mut *tx).await.map_err(db)?;
        let mut change = change;
        record_replaced(&mut change, get(&r, "replaced")?);
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
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
        // The relationship first, locked (after its gate, see `locks`): an order or a tenant
        // action holding it FOR SHARE commits before the blockers are read (and its
        // subscription blocks), or waits and then finds it removed. With it, by id, the
        // customer's relationships that name this partner as their reseller, which the removal
        // changes too (their gates as well). FOR NO KEY UPDATE, not FOR UPDATE: it keeps out
        // FOR SHARE as well, but not the KEY SHARE of a foreign-key check, which a renewal's
        // grants take on it once they hold the chain lock.
        sqlx::query(sqlf!(
            "WITH {}
             SELECT id FROM relationships
             WHERE customer_id = $2 AND state = 'active' AND (partner_org_id = $1 OR indirect_reseller_id = $1) AND (SELECT n FROM gate) >= 0
             ORDER BY id FOR NO KEY UPDATE",
            locks::gate_cte(
                true,
                "SELECT $1::uuid AS p, $2::uuid AS c
                 UNION SELECT partner_org_id, customer_id FROM relationships WHERE customer_id = $2 AND state = 'active' AND indirect_reseller_id = $1"
            )
        ))
        .bind(partner.0)
        .bind(customer.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        // Then the blockers, as in SQLite; this statement sees every order committed before the lock.
        let blockers = self.blockers_in(&mut tx, partner, customer).await?;
        if !blockers.is_empty() {
            return Err(StoreError::Blocked(blockers));
        }
        // Every grant of this partner in this customer goes, not only those of this relationship,
        // locked by id first (`gl`, see `locks`);
        // a reseller leaving, the customer's other partners stop naming it.
        let sql = fenced(
            "rel AS (UPDATE relationships SET state = 'removed', removed_at = $1
                     WHERE partner_org_id = $2 AND customer_id = $3 AND state = 'active' RETURNING id),
             gl AS MATERIALIZED (SELECT id FROM grants
                                 WHERE partner_org_id = $2 AND customer_id = $3 AND revoked_at IS NULL AND expires_at > $1
                                   AND EXISTS (SELECT 1 FROM rel) ORDER BY id FOR NO KEY UPDATE),
             g AS (UPDATE grants SET revoked_at = $1 WHERE id IN (SELECT id FROM gl) RETURNING 1),
             named AS (UPDATE relationships SET indirect_reseller_id = NULL
                       WHERE customer_id = $3 AND state = 'active' AND indirect_reseller_id = $2 AND partner_org_id <> $2
                         AND EXISTS (SELECT 1 FROM rel) RETURNING partner_org_id)",
            "SELECT (SELECT count(*) FROM rel) AS n, (SELECT array_agg(id) FROM rel) AS rel_ids, (SELECT count(*) FROM g) AS revoked,
                    (SELECT coalesce(array_agg(partner_org_id), '{}') FROM named) AS unnamed",
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(partner.0).bind(customer.0).fetch_one(&mut *tx).await.map_err(db)?;
        let rel_ids: Option<Vec<Uuid>> = r.try_get("rel_ids").map_err(db)?;
        let rel = rel_ids.and_then(|ids| ids.into_iter().next()).ok_or(StoreError::NotFound)?;
        let revoked: i64 = r.try_get("revoked").map_err(db)?;
        let mut change = change;
        change.identify("relationship_id", rel.to_string());
        change.record("revoked_grants", revoked);
        let unnamed: Vec<Uuid> = r.try_get("unnamed").map_err(db)?;
        // The partners that stopped naming the reseller: their lists change, though the
        // change's records are not theirs to read.
        audit::append_bumping(&mut tx, &change, &unnamed).await?;
        self.commit(tx).await?;
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

    async fn list_grants(&self, partner: OrganizationId, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<Grant>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let keys = Keyset { cols: GRANT_COLS, from: "grants", key: Key::TimeText("created_at", "role"), id: "id" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(" WHERE partner_org_id = ").push_bind(partner.0).push(" AND customer_id = ").push_bind(customer.0);
            },
            page,
            grant_from,
            |g| (time_text_key(g.created_at, g.role.as_str()), g.id.0),
        )
        .await
    }

    async fn revoke_grants(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        // The gate, then the live grants locked by id (see `locks`): a tenant action holding
        // them FOR SHARE finishes first, those that come after wait for the revocation, and a
        // renewal that committed meanwhile has its grants revoked too.
        locks::take(&mut tx, true, &[(partner, customer)]).await?;
        let sql = fenced(
            "live AS (SELECT count(*) AS n FROM relationships WHERE partner_org_id = $2 AND customer_id = $3 AND state = 'active'),
             gl AS MATERIALIZED (SELECT id FROM grants
                                 WHERE partner_org_id = $2 AND customer_id = $3 AND revoked_at IS NULL AND expires_at > $1
                                   AND (SELECT n FROM live) > 0 ORDER BY id FOR NO KEY UPDATE),
             g AS (UPDATE grants SET revoked_at = $1 WHERE id IN (SELECT id FROM gl) RETURNING 1)",
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
        self.commit(tx).await?;
        Ok(n)
    }

    async fn partners_of_customer(&self, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<PartnerOfCustomer>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let cols = format!("o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, {REL_COLS}");
        let keys = Keyset {
            cols: &cols,
            from: "relationships r JOIN organizations o ON o.id = r.partner_org_id",
            key: Key::Text("o.name"),
            id: "o.id",
        };
        let mut out = keys
            .fetch(
                &mut conn,
                |b| {
                    b.push(" WHERE r.customer_id = ").push_bind(customer.0).push(" AND r.state = 'active'");
                },
                page,
                |r| {
                    Ok(PartnerOfCustomer {
                        partner: org_from(r, "")?.partner_ref(),
                        relationship: relationship_from(r)?,
                        grants: Vec::new(),
                    })
                },
                |p| (p.partner.name.clone(), p.partner.id.0),
            )
            .await?;
        if out.items.is_empty() {
            return Ok(out);
        }
        // The grants of the page's partners at once (SQLite asks partner by partner).
        let partners = out.items.iter().map(|p| p.partner.id.0).collect::<Vec<_>>();
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
            if let Some(p) = out.items.iter_mut().find(|p| p.partner.id == g.partner_org_id) {
                p.grants.push(g);
            }
        }
        Ok(out)
    }
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
        "SELECT g.customer_id, {LIVE_GRANT_COLS} FROM grants g
         WHERE g.partner_org_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 AND g.customer_id = ANY($3)
         ORDER BY g.role COLLATE \"C\", g.id"
    ))
    .bind(partner.0)
    .bind(pt(now))
    .bind(customers)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for r in &rows {
        let customer = OrganizationId(r.try_get(0).map_err(db)?);
        if let Some(g) = live_grant_at(r, 1, partner, customer)?
            && let Some(c) = items.iter_mut().find(|c| c.id == customer)
        {
            c.grants.push(g);
        }
    }
    Ok(())
}
