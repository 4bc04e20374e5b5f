//! Customers, their relationships with partners and the grants, removal and what blocks it,
//! and the partners of a customer.

use crate::db::err;
use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::{
    BlockerQuery, SqliteStore, all, blob, bump_versions, exec, insert_org, insert_relationships, insert_user, one, scalar_i64, write_change,
};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::codec::time_text_key;
use partnerhub_store::*;
use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{Connection, params, params_from_iter};
use time::OffsetDateTime;
use uuid::Uuid;

const REL_COLS: &str =
    "r.id AS rel_id, r.partner_org_id, r.customer_id, r.state AS rel_state, r.via, r.created_at AS rel_created_at, r.indirect_reseller_id";
const GRANT_COLS: &str = "id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at";
/// Read by position (`summary_at`): a lookup by name scans the column names for every value.
pub(crate) const SUMMARY_COLS: &str = "c.id, c.name, c.domain, c.created_at, \
    r.id, r.partner_org_id, r.customer_id, r.state, r.via, r.created_at, r.indirect_reseller_id, \
    rs.id, rs.name, rs.partner_id, rs.domain";
const SUMMARY_FROM: &str =
    "FROM relationships r JOIN organizations c ON c.id = r.customer_id LEFT JOIN organizations rs ON rs.id = r.indirect_reseller_id";
/// The total of a partner's list without a search: its maintained count (migration 0009); a
/// count(*) would walk every active relationship of the partner on every page.
pub(crate) const CUSTOMER_COUNT: &str = "SELECT coalesce((SELECT customers FROM partner_customer_counts WHERE partner_org_id = ?), 0)";
/// Whether a partner has an active provider link, either side (an active link is a live one:
/// `ended_at IS NULL` says so to the partial index of the pairs).
pub(crate) const PROVIDER_LINKED: &str =
    "SELECT EXISTS (SELECT 1 FROM provider_links WHERE provider_id = ?1 AND ended_at IS NULL AND state = 'active')
        OR EXISTS (SELECT 1 FROM provider_links WHERE reseller_id = ?1 AND state = 'active')";

/// The WHERE clause of a partner's list (`?` the partner, then the pattern twice if `search`).
fn customer_filter(search: bool) -> &'static str {
    if search {
        " WHERE r.partner_org_id = ? AND r.state = 'active' AND (r.customer_name LIKE ? ESCAPE '\\' OR c.domain LIKE ? ESCAPE '\\')"
    } else {
        " WHERE r.partner_org_id = ? AND r.state = 'active'"
    }
}

/// A page of a partner's list: the filter's arguments, then the cursor's two if `after`, then the limit.
pub(crate) fn customer_page_sql(sort: CustomerSort, search: bool, after: bool) -> String {
    let mut sql = format!("SELECT {SUMMARY_COLS} {SUMMARY_FROM}{}", customer_filter(search));
    if after {
        sql.push_str(match sort {
            CustomerSort::Name => " AND (r.customer_name, r.customer_id) > (?, ?)",
            CustomerSort::NewestFirst => " AND (r.customer_created_at, r.customer_id) < (?, ?)",
        });
    }
    sql.push_str(match sort {
        CustomerSort::Name => " ORDER BY r.customer_name, r.customer_id LIMIT ?",
        CustomerSort::NewestFirst => " ORDER BY r.customer_created_at DESC, r.customer_id DESC LIMIT ?",
    });
    sql
}

/// The live grants of a partner (`?`), at a time (`?`), in `n` customers.
pub(crate) fn live_grants_sql(n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!(
        "SELECT {LIVE_GRANT_COLS} FROM grants WHERE partner_org_id = ? AND revoked_at IS NULL AND expires_at > ? AND customer_id IN ({marks}) ORDER BY role"
    )
}

#[async_trait]
impl RelationshipStore for SqliteStore {
    async fn list_customers(&self, partner: OrganizationId, q: &CustomerQuery, now: OffsetDateTime) -> StoreResult<Page<CustomerSummary>> {
        let pattern = q.q.as_deref().map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let mut args = vec![blob(partner.0)];
        if let Some(p) = &pattern {
            args.push(Sql::Text(p.clone()));
            args.push(Sql::Text(p.clone()));
        }
        let count_sql = match pattern {
            Some(_) => {
                format!("SELECT count(*) FROM relationships r JOIN organizations c ON c.id = r.customer_id{}", customer_filter(true))
            }
            None => CUSTOMER_COUNT.to_owned(),
        };
        let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let page_sql = customer_page_sql(q.sort, pattern.is_some(), cursor.is_some());
        let mut page_args = args.clone();
        match (q.sort, cursor) {
            (CustomerSort::Name, Some((k, id))) => page_args.extend([Sql::Text(k), blob(id)]),
            (CustomerSort::NewestFirst, Some((k, id))) => {
                let k: i64 = k.parse().map_err(|_| StoreError::BadCursor)?;
                page_args.extend([Sql::Integer(k), blob(id)]);
            }
            _ => {}
        }
        page_args.push(Sql::Integer(q.limit + 1));
        self.db.read(|c| {
            let total = scalar_i64(c, &count_sql, params_from_iter(args.iter()))?;
            let mut items = all(c, &page_sql, params_from_iter(page_args.iter()), summary_at)?;
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
            let mut items = vec![one(c, &sql, params![partner.0, customer.0], summary_at)?];
            attach_grants(c, partner, &mut items, now)?;
            // The other partners the caller may see: its resellers (provider side) and its
            // providers (reseller side) that also have an active relationship with this customer.
            // Most partners have no provider link at all: two index probes say so, where the
            // query itself would build and scan its UNION for nothing.
            let linked = scalar_i64(c, PROVIDER_LINKED, params![partner.0])? != 0;
            let others = if !linked {
                Vec::new()
            } else {
                all(
                    c,
                    "SELECT DISTINCT o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at FROM organizations o
                 JOIN relationships r2 ON r2.partner_org_id = o.id AND r2.customer_id = ?1 AND r2.state = 'active'
                 WHERE o.id IN (SELECT reseller_id FROM provider_links WHERE provider_id = ?2 AND ended_at IS NULL AND state = 'active'
                                UNION SELECT provider_id FROM provider_links WHERE reseller_id = ?2 AND state = 'active')
                 ORDER BY o.name",
                    params![customer.0, partner.0],
                    |r| org_from(r, "").map(|o| o.partner_ref()),
                )?
            };
            let summary = items.pop().ok_or(StoreError::NotFound)?;
            let subscriptions = subscription_counts(c, partner, customer)?;
            Ok(CustomerDetail { summary, subscriptions, other_partners: others })
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
                let replaced = insert_relationships(c, &relationships, &grants)?;
                let mut change = change;
                if replaced > 0 {
                    change.record("replaced_grants", replaced);
                }
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
                // A reseller leaving: the customer's other partners stop naming it.
                // Their lists change, though the change's records are not theirs to read.
                let unnamed = all(
                    c,
                    "UPDATE relationships SET indirect_reseller_id = NULL WHERE customer_id = ? AND state = 'active' AND indirect_reseller_id = ?
                     RETURNING partner_org_id",
                    params![customer.0, partner.0],
                    |r| r.get(0).map(OrganizationId).map_err(err),
                )?;
                bump_versions(c, unnamed)?;
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
                &format!("SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND customer_id = ? ORDER BY created_at, role, id"),
                params![partner.0, customer.0],
                grant_from,
            )
        })
    }

    async fn list_grants(&self, partner: OrganizationId, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<Grant>> {
        let keys = Keyset { cols: GRANT_COLS, from: "grants", key: Key::TimeText("created_at", "role"), id: "id" };
        self.db.read(|c| {
            keys.fetch(c, " WHERE partner_org_id = ? AND customer_id = ?", vec![blob(partner.0), blob(customer.0)], page, grant_from, |g| {
                (time_text_key(g.created_at, g.role.as_str()), g.id.0)
            })
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

    async fn partners_of_customer(&self, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<PartnerOfCustomer>> {
        let cols = format!("o.id, o.kind, o.name, o.domain, o.partner_type, o.partner_id, o.created_at, {REL_COLS}");
        let keys = Keyset {
            cols: &cols,
            from: "relationships r JOIN organizations o ON o.id = r.partner_org_id",
            key: Key::Text("o.name"),
            id: "o.id",
        };
        self.db.read(|c| {
            let rows = keys.fetch(
                c,
                " WHERE r.customer_id = ? AND r.state = 'active'",
                vec![blob(customer.0)],
                page,
                |r| Ok((org_from(r, "")?.partner_ref(), relationship_from(r)?)),
                |(p, _)| (p.name.clone(), p.id.0),
            )?;
            let grants_sql = format!(
                "SELECT {GRANT_COLS} FROM grants WHERE partner_org_id = ? AND customer_id = ? AND revoked_at IS NULL ORDER BY role, id"
            );
            let mut out = Vec::with_capacity(rows.items.len());
            for (partner, relationship) in rows.items {
                let grants = all(c, &grants_sql, params![partner.id.0, customer.0], grant_from)?;
                out.push(PartnerOfCustomer { partner, relationship, grants });
            }
            Ok(Page { items: out, next_cursor: rows.next_cursor, total: rows.total })
        })
    }
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

/// The customer's subscriptions that `partner` placed or is partner of record of, by status.
fn subscription_counts(c: &Connection, partner: OrganizationId, customer: OrganizationId) -> StoreResult<SubscriptionCounts> {
    let mut counts = SubscriptionCounts::default();
    let rows = all(
        c,
        "SELECT status, count(*) FROM subscriptions WHERE customer_id = ?1 AND (placed_by = ?2 OR partner_of_record = ?2) GROUP BY status",
        params![customer.0, partner.0],
        |r| Ok((r.get::<_, String>(0).map_err(err)?, r.get::<_, i64>(1).map_err(err)?)),
    )?;
    for (status, n) in rows {
        match SubscriptionStatus::parse(&status) {
            Some(SubscriptionStatus::Active) => counts.active = n,
            Some(SubscriptionStatus::Suspended) => counts.suspended = n,
            Some(SubscriptionStatus::Cancelled) => counts.cancelled = n,
            None => return Err(StoreError::Database(format!("unknown subscription status `{status}` in the database"))),
        }
    }
    Ok(counts)
}

/// Live grants of `partner` for the customers of a page, in one statement keyed by the page's
/// customers, read by position.
fn attach_grants(c: &Connection, partner: OrganizationId, items: &mut [CustomerSummary], now: OffsetDateTime) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let sql = live_grants_sql(items.len());
    let mut args = Vec::with_capacity(items.len() + 2);
    // Borrowed: no copy of the ids.
    fn bytes(id: &Uuid) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Blob(id.as_bytes()))
    }
    args.push(bytes(&partner.0));
    args.push(ToSqlOutput::Owned(Sql::Integer(ts(now))));
    args.extend(items.iter().map(|i| bytes(&i.id.0)));
    let mut stmt = c.prepare_cached(&sql).map_err(err)?;
    let mut rows = stmt.query(params_from_iter(args.iter())).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let g = live_grant_at(r, partner)?;
        if let Some(item) = items.iter_mut().find(|i| i.id == g.customer_id) {
            item.grants.push(g);
        }
    }
    Ok(())
}
