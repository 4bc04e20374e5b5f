//! Commerce: the offer catalog, orders and the subscriptions they make, and the
//! `CommerceStore` methods. What partners do inside a customer's tenant (its users and their
//! licenses, through the grants) is in `tenant.rs`.
//!
//! An order locks the relationships it depends on (the placing partner's and, for an indirect
//! order, the reseller's) `FOR SHARE` and re-checks them in its transaction (after their gates,
//! see `locks`): a removal, which locks the relationship before it looks for blockers, either
//! waits for the order (and is then blocked by its subscriptions) or has already removed it
//! (and the order finds nothing).

use crate::paging::{Key, Keyset};
use crate::rows::*;
use crate::tenant::record_released;
use crate::{PgStore, audit, db, fenced, locks, n_of};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[async_trait]
impl CommerceStore for PgStore {
    async fn create_offer(&self, offer: NewOffer, change: Change) -> StoreResult<Offer> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            &format!(
                "ins AS (INSERT INTO offers (id, name, unit_price_cents, currency, created_at) VALUES ($1, $2, $3, $4, $5)
                         RETURNING {OFFER_COLS})"
            ),
            "SELECT ins.*, 1 AS n FROM ins",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(offer.id.0)
            .bind(&offer.name)
            .bind(offer.unit_price_cents)
            .bind(&offer.currency)
            .bind(pt(offer.created_at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let created = offer_from(&r)?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    async fn offer(&self, id: OfferId) -> StoreResult<Offer> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        offer_in(&mut conn, id).await
    }

    async fn list_offers(&self, include_disabled: bool, page: &PageQuery) -> StoreResult<Page<Offer>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let keys = Keyset { cols: OFFER_COLS, from: "offers", key: Key::Text("name"), id: "id" };
        let filter = if include_disabled { " WHERE true" } else { " WHERE disabled_at IS NULL" };
        keys.fetch(
            &mut conn,
            |b| {
                b.push(filter);
            },
            page,
            offer_from,
            |o| (o.name.clone(), o.id.0),
        )
        .await
    }

    async fn disable_offer(&self, id: OfferId, now: OffsetDateTime, change: Change) -> StoreResult<Offer> {
        let mut tx = self.begin().await?;
        // Only the first disabling changes anything, and only it is recorded.
        let sql = fenced(
            &format!("upd AS (UPDATE offers SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL RETURNING {OFFER_COLS})"),
            "SELECT upd.*, 1 AS n FROM upd",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(id.0).fetch_optional(&mut *tx).await.map_err(db)?;
        let Some(r) = r else {
            drop(tx);
            return self.offer(id).await;
        };
        let offer = offer_from(&r)?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(offer)
    }

    async fn place_order(&self, order: NewOrder, change: Change) -> StoreResult<Order> {
        self.place_order_in(order, change).await
    }

    async fn partner_subscriptions(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        page: &PageQuery,
    ) -> StoreResult<Page<Subscription>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let related: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM relationships WHERE partner_org_id = $1 AND customer_id = $2 AND state = 'active')",
        )
        .bind(partner.0)
        .bind(customer.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        if !related {
            return Err(StoreError::NotFound);
        }
        subscriptions_page(&mut conn, customer, Some(partner), page).await
    }

    async fn tenant_subscriptions(&self, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<Subscription>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        subscriptions_page(&mut conn, customer, None, page).await
    }

    async fn update_subscription(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        id: SubscriptionId,
        patch: SubscriptionPatch,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Subscription> {
        self.update_subscription_in(partner, customer, id, patch, now, change).await
    }

    async fn tenant_users(&self, access: &TenantAccess, page: &PageQuery) -> StoreResult<Page<User>> {
        self.tenant_users_in(access, page).await
    }

    async fn create_tenant_user(&self, access: &TenantAccess, user: NewUser, change: Change) -> StoreResult<User> {
        self.create_tenant_user_in(access, user, change).await
    }

    async fn update_tenant_user(&self, access: &TenantAccess, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User> {
        self.update_tenant_user_in(access, user, patch, change).await
    }

    async fn delete_tenant_user(&self, access: &TenantAccess, user: UserId, change: Change) -> StoreResult<()> {
        self.delete_tenant_user_in(access, user, change).await
    }

    async fn reset_tenant_user_password(
        &self,
        access: &TenantAccess,
        user: UserId,
        password_hash: String,
        change: Change,
    ) -> StoreResult<()> {
        self.reset_tenant_user_password_in(access, user, password_hash, change).await
    }

    async fn assign_license(
        &self,
        access: &TenantAccess,
        user: UserId,
        subscription: SubscriptionId,
        change: Change,
    ) -> StoreResult<License> {
        self.assign_license_in(access, user, subscription, change).await
    }

    async fn release_license(&self, access: &TenantAccess, user: UserId, subscription: SubscriptionId, change: Change) -> StoreResult<()> {
        self.release_license_in(access, user, subscription, change).await
    }

    async fn tenant_user_licenses(&self, access: &TenantAccess, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
        self.tenant_user_licenses_in(access, user, page).await
    }

    async fn user_licenses(&self, org: OrganizationId, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
        self.user_licenses_in(org, user, page).await
    }
}

async fn offer_in(conn: &mut PgConnection, id: OfferId) -> StoreResult<Offer> {
    let r = sqlx::query(sqlf!("SELECT {OFFER_COLS} FROM offers WHERE id = $1")).bind(id.0).fetch_one(&mut *conn).await.map_err(db)?;
    offer_from(&r)
}

/// A page of the customer's subscriptions by id; those `partner` placed or is partner of
/// record of, when given.
async fn subscriptions_page(
    conn: &mut PgConnection,
    customer: OrganizationId,
    partner: Option<OrganizationId>,
    page: &PageQuery,
) -> StoreResult<Page<Subscription>> {
    let from = format!("subscriptions s {SUBSCRIPTION_JOINS}");
    let keys = Keyset { cols: SUBSCRIPTION_COLS, from: &from, key: Key::Id, id: "s.id" };
    keys.fetch(
        conn,
        |b| {
            b.push(" WHERE s.customer_id = ").push_bind(customer.0);
            if let Some(p) = partner {
                b.push(" AND (s.placed_by = ").push_bind(p.0).push(" OR s.partner_of_record = ").push_bind(p.0).push(")");
            }
        },
        page,
        subscription_from,
        |s| (String::new(), s.id.0),
    )
    .await
}

impl PgStore {
    /// The order's checks, in the order the trait gives them, under the locks, then the order
    /// and one subscription per item.
    async fn place_order_in(&self, order: NewOrder, change: Change) -> StoreResult<Order> {
        let mut tx = self.begin().await?;
        let record = order.partner_of_record();
        let offers = order.items.iter().map(|i| i.offer_id.0).collect::<Vec<_>>();
        // The gates of both pairs, shared, then the relationships by id, FOR SHARE (see
        // `locks`). The offers are read, not locked: an order that saw an offer enabled while it
        // was being disabled is as if placed just before (the disabling reads no subscription).
        let r = sqlx::query(sqlf!(
            "WITH {}, rels AS MATERIALIZED (
                 SELECT id, partner_org_id FROM relationships
                 WHERE customer_id = $1 AND state = 'active' AND (partner_org_id = $2 OR partner_org_id = $3) AND (SELECT n FROM gate) >= 0
                 ORDER BY id FOR SHARE),
             offs AS (SELECT id FROM offers WHERE id = ANY($4) AND disabled_at IS NULL)
             SELECT (SELECT id FROM rels WHERE partner_org_id = $2) AS placer_rel,
                    EXISTS (SELECT 1 FROM rels WHERE partner_org_id = $3) AS reseller_rel,
                    EXISTS (SELECT 1 FROM provider_links WHERE provider_id = $2 AND reseller_id = $3 AND state = 'active') AS linked,
                    (SELECT coalesce(array_agg(id), '{{}}') FROM offs) AS offers,
                    pb.id AS pb_id, pb.name AS pb_name, pb.partner_id AS pb_partner_id, pb.domain AS pb_domain,
                    pr.id AS pr_id, pr.name AS pr_name, pr.partner_id AS pr_partner_id, pr.domain AS pr_domain
             FROM organizations pb, organizations pr WHERE pb.id = $2 AND pr.id = $5",
            locks::gate_cte(false, "SELECT $2::uuid AS p, $1::uuid AS c UNION ALL SELECT $3::uuid, $1::uuid")
        ))
        .bind(order.customer_id.0)
        .bind(order.placed_by.0)
        .bind(order.reseller_of_record.map(|r| r.0))
        .bind(&offers)
        .bind(record.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(r) = r else {
            return Err(StoreError::NotFound);
        };
        let Some(relationship) = get::<Option<Uuid>>(&r, "placer_rel")? else {
            return Err(StoreError::NotFound);
        };
        if order.reseller_of_record.is_some() {
            if !get::<bool>(&r, "linked")? {
                return Err(StoreError::Conflict { constraint: constraint::NOT_AN_ACTIVE_RESELLER });
            }
            if !get::<bool>(&r, "reseller_rel")? {
                return Err(StoreError::Conflict { constraint: constraint::NO_RESELLER_RELATIONSHIP });
            }
        }
        let enabled: Vec<Uuid> = get(&r, "offers")?;
        if offers.iter().any(|o| !enabled.contains(o)) {
            return Err(StoreError::Conflict { constraint: constraint::OFFER_UNAVAILABLE });
        }
        let (placed_by, partner_of_record) = (partner_ref_from(&r, "pb_")?, partner_ref_from(&r, "pr_")?);
        let at = pt(order.created_at);
        let sql = fenced(
            "ord AS (INSERT INTO orders (id, customer_id, placed_by, placed_by_user, partner_of_record, relationship_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id),
             subs AS (INSERT INTO subscriptions (id, order_id, customer_id, offer_id, placed_by, partner_of_record, quantity, assigned,
                                                 status, created_at, updated_at)
                      SELECT t.id, (SELECT id FROM ord), $2, t.offer_id, $3, $5, t.quantity, 0, 'active', $7, $7
                      FROM unnest($8::uuid[], $9::uuid[], $10::bigint[]) AS t(id, offer_id, quantity)
                      RETURNING *)",
            &format!(
                "SELECT (SELECT count(*) FROM ord) AS n, v.* FROM (SELECT 1) AS one
                 LEFT JOIN (SELECT {SUBSCRIPTION_COLS} FROM subs s {SUBSCRIPTION_JOINS}) AS v ON true"
            ),
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order.id.0)
            .bind(order.customer_id.0)
            .bind(order.placed_by.0)
            .bind(order.placed_by_user.0)
            .bind(record.0)
            .bind(relationship)
            .bind(at)
            .bind(order.items.iter().map(|i| i.id.0).collect::<Vec<_>>())
            .bind(&offers)
            .bind(order.items.iter().map(|i| i.quantity).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let mut subscriptions = Vec::with_capacity(rows.len());
        for r in &rows {
            if get::<Option<Uuid>>(r, "id")?.is_some() {
                subscriptions.push(subscription_from(r)?);
            }
        }
        subscriptions.sort_by_key(|s| s.id.0);
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(Order {
            id: order.id,
            customer_id: order.customer_id,
            placed_by,
            placed_by_user: order.placed_by_user,
            partner_of_record,
            created_at: at,
            subscriptions,
        })
    }

    /// A change by the placing partner, under its gate and its relationship's lock (FOR
    /// SHARE), and the subscription's. Cancelling releases every license in the same statement as the change.
    async fn update_subscription_in(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        id: SubscriptionId,
        patch: SubscriptionPatch,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Subscription> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(sqlf!(
            "WITH {}, rel AS MATERIALIZED (
                 SELECT id FROM relationships
                 WHERE partner_org_id = $1 AND customer_id = $2 AND state = 'active' AND (SELECT n FROM gate) >= 0 FOR SHARE),
             s AS MATERIALIZED (
                 SELECT id, placed_by, status FROM subscriptions
                 WHERE id = $3 AND customer_id = $2 AND (placed_by = $1 OR partner_of_record = $1) AND EXISTS (SELECT 1 FROM rel)
                 FOR NO KEY UPDATE)
             SELECT s.* FROM s",
            locks::gate_cte(false, "SELECT $1::uuid AS p, $2::uuid AS c")
        ))
        .bind(partner.0)
        .bind(customer.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        // No relationship, or a subscription the partner cannot see: the same answer.
        let Some(r) = r else {
            return Err(StoreError::NotFound);
        };
        // The partner of record reads it; only the placing partner changes it.
        if OrganizationId(get(&r, "placed_by")?) != partner {
            return Err(StoreError::Forbidden);
        }
        let status: String = get(&r, "status")?;
        let current = SubscriptionStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown subscription status `{status}` in the database")))?;
        if current == SubscriptionStatus::Cancelled || patch.status.is_some_and(|s| !current.can_become(s)) {
            return Err(StoreError::Conflict { constraint: constraint::SUBSCRIPTION_CANCELLED });
        }
        let cancelling = patch.status == Some(SubscriptionStatus::Cancelled);
        let next = patch.status.unwrap_or(current);
        // The seats go back first (so that "cancelled holds no seat" holds), then the
        // quantity, conditionally: never below the seats still given out.
        let sql = fenced(
            "rel AS (DELETE FROM licenses WHERE subscription_id = $1 AND customer_id = $2 AND $3 RETURNING subscription_id, user_id),
             upd AS (UPDATE subscriptions s
                     SET quantity = coalesce($4, s.quantity), status = $5, updated_at = $6,
                         assigned = s.assigned - (SELECT count(*) FROM rel)
                     WHERE s.id = $1 AND s.customer_id = $2 AND s.assigned - (SELECT count(*) FROM rel) <= coalesce($4, s.quantity)
                     RETURNING s.*)",
            &format!(
                "SELECT (SELECT count(*) FROM upd) AS n,
                        (SELECT coalesce(array_agg(user_id ORDER BY user_id), '{{}}') FROM rel) AS released, v.*
                 FROM (SELECT 1) AS one LEFT JOIN (SELECT {SUBSCRIPTION_COLS} FROM upd s {SUBSCRIPTION_JOINS}) AS v ON true"
            ),
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .bind(customer.0)
            .bind(cancelling)
            .bind(patch.quantity)
            .bind(next.as_str())
            .bind(pt(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::QUANTITY_BELOW_ASSIGNED });
        }
        let sub = subscription_from(&r)?;
        let mut change = change;
        if cancelling {
            let users: Vec<Uuid> = get(&r, "released")?;
            record_released(&mut change, customer, users.into_iter().map(|u| (id.0, u)).collect());
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(sub)
    }
}
