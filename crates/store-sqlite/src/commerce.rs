//! Commerce: the offer catalog, orders and the subscriptions they make, and the
//! `CommerceStore` methods. What partners do inside a customer's tenant (its users and their
//! licenses, through the grants) is in `tenant.rs`.

use crate::rows::*;
use crate::tenant::{self, Released};
use crate::{SqliteStore, all, blob, exec, one, org_in, paged, scalar_i64, write_change};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};
use time::OffsetDateTime;

#[async_trait]
impl CommerceStore for SqliteStore {
    async fn create_offer(&self, offer: NewOffer, change: Change) -> StoreResult<Offer> {
        self.db
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO offers (id, name, unit_price_cents, currency, created_at) VALUES (?, ?, ?, ?, ?)",
                    params![offer.id.0, offer.name, offer.unit_price_cents, offer.currency, ts(offer.created_at)],
                )?;
                write_change(c, &change)?;
                offer_in(c, offer.id)
            })
            .await
    }

    async fn offer(&self, id: OfferId) -> StoreResult<Offer> {
        self.db.read(|c| offer_in(c, id))
    }

    async fn list_offers(&self, include_disabled: bool, page: &PageQuery) -> StoreResult<Page<Offer>> {
        let filter = if include_disabled { " WHERE 1 = 1" } else { " WHERE disabled_at IS NULL" };
        let mut sql = format!("SELECT {OFFER_COLS} FROM offers{filter}");
        let mut args = Vec::new();
        if let Some((name, id)) = page.cursor.as_deref().map(decode_cursor).transpose()? {
            sql.push_str(" AND (name, id) > (?, ?)");
            args.extend([Sql::Text(name), blob(id)]);
        }
        sql.push_str(" ORDER BY name, id LIMIT ?");
        args.push(Sql::Integer(page.limit + 1));
        self.db.read(|c| {
            let total = scalar_i64(c, &format!("SELECT count(*) FROM offers{filter}"), [])?;
            let items = all(c, &sql, params_from_iter(args.iter()), offer_from)?;
            Ok(paged(items, page.limit, total, |o| encode_cursor(&o.name, o.id.0)))
        })
    }

    async fn disable_offer(&self, id: OfferId, now: OffsetDateTime, change: Change) -> StoreResult<Offer> {
        self.db
            .write(move |c| {
                // Only the first disabling changes anything, and only it is recorded.
                if exec(c, "UPDATE offers SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL", params![ts(now), id.0])? == 1 {
                    write_change(c, &change)?;
                }
                offer_in(c, id)
            })
            .await
    }

    async fn place_order(&self, order: NewOrder, change: Change) -> StoreResult<Order> {
        self.db.write(move |c| place_order_in(c, &order, &change)).await
    }

    async fn partner_subscriptions(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        page: &PageQuery,
    ) -> StoreResult<Page<Subscription>> {
        let filter = " WHERE s.customer_id = ?1 AND (s.placed_by = ?2 OR s.partner_of_record = ?2)";
        let args = vec![blob(customer.0), blob(partner.0)];
        self.db.read(|c| {
            if !tenant::has_active_relationship(c, partner, customer)? {
                return Err(StoreError::NotFound);
            }
            subscriptions_page(c, filter, args, page)
        })
    }

    async fn tenant_subscriptions(&self, customer: OrganizationId, page: &PageQuery) -> StoreResult<Page<Subscription>> {
        self.db.read(|c| subscriptions_page(c, " WHERE s.customer_id = ?1", vec![blob(customer.0)], page))
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
        self.db.write(move |c| update_subscription_in(c, partner, customer, id, &patch, now, change)).await
    }

    async fn tenant_users(&self, access: &TenantAccess, page: &PageQuery) -> StoreResult<Page<User>> {
        self.db.read(|c| tenant::users(c, access, page))
    }

    async fn create_tenant_user(&self, access: &TenantAccess, user: NewUser, change: Change) -> StoreResult<User> {
        let access = access.clone();
        self.db.write(move |c| tenant::create_user(c, &access, &user, &change)).await
    }

    async fn update_tenant_user(&self, access: &TenantAccess, user: UserId, patch: UserPatch, change: Change) -> StoreResult<User> {
        let access = access.clone();
        self.db.write(move |c| tenant::update_user(c, &access, user, &patch, &change)).await
    }

    async fn delete_tenant_user(&self, access: &TenantAccess, user: UserId, change: Change) -> StoreResult<()> {
        let access = access.clone();
        self.db.write(move |c| tenant::delete_user(c, &access, user, change)).await
    }

    async fn reset_tenant_user_password(
        &self,
        access: &TenantAccess,
        user: UserId,
        password_hash: String,
        change: Change,
    ) -> StoreResult<()> {
        let access = access.clone();
        self.db.write(move |c| tenant::reset_password(c, &access, user, &password_hash, &change)).await
    }

    async fn assign_license(
        &self,
        access: &TenantAccess,
        user: UserId,
        subscription: SubscriptionId,
        change: Change,
    ) -> StoreResult<License> {
        let access = access.clone();
        self.db.write(move |c| tenant::assign_license(c, &access, user, subscription, &change)).await
    }

    async fn release_license(&self, access: &TenantAccess, user: UserId, subscription: SubscriptionId, change: Change) -> StoreResult<()> {
        let access = access.clone();
        self.db.write(move |c| tenant::release_license(c, &access, user, subscription, &change)).await
    }

    async fn tenant_user_licenses(&self, access: &TenantAccess, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
        self.db.read(|c| tenant::user_licenses(c, access, user, page))
    }

    async fn user_licenses(&self, org: OrganizationId, user: UserId, page: &PageQuery) -> StoreResult<Page<License>> {
        self.db.read(|c| {
            scalar_i64(c, "SELECT count(*) FROM users WHERE id = ? AND organization_id = ?", params![user.0, org.0])
                .and_then(|n| if n == 0 { Err(StoreError::NotFound) } else { tenant::licenses_of(c, org, user, page) })
        })
    }
}

fn offer_in(c: &Connection, id: OfferId) -> StoreResult<Offer> {
    one(c, &format!("SELECT {OFFER_COLS} FROM offers WHERE id = ?"), params![id.0], offer_from)
}

/// The filter of [`subscription_in`]: by primary key, within the customer.
pub(crate) const SUBSCRIPTION_BY_ID: &str = " WHERE s.id = ? AND s.customer_id = ?";

pub(crate) fn subscription_in(c: &Connection, customer: OrganizationId, id: SubscriptionId) -> StoreResult<Subscription> {
    one(c, &format!("{SUBSCRIPTION_SELECT}{SUBSCRIPTION_BY_ID}"), params![id.0, customer.0], subscription_from)
}

/// A page of subscriptions by id; `filter` uses `?1`, `?2`... for `args`.
fn subscriptions_page(c: &Connection, filter: &str, mut args: Vec<Sql>, page: &PageQuery) -> StoreResult<Page<Subscription>> {
    let total = scalar_i64(c, &format!("SELECT count(*) FROM subscriptions s{filter}"), params_from_iter(args.iter()))?;
    let mut sql = format!("{SUBSCRIPTION_SELECT}{filter}");
    if let Some((_, id)) = page.cursor.as_deref().map(decode_cursor).transpose()? {
        sql.push_str(&format!(" AND s.id > ?{}", args.len() + 1));
        args.push(blob(id));
    }
    sql.push_str(&format!(" ORDER BY s.id LIMIT ?{}", args.len() + 1));
    args.push(Sql::Integer(page.limit + 1));
    let items = all(c, &sql, params_from_iter(args.iter()), subscription_from)?;
    Ok(paged(items, page.limit, total, |s| encode_cursor("", s.id.0)))
}

/// The order's checks, in the order the trait gives them, then the order and one
/// subscription per item.
fn place_order_in(c: &Connection, order: &NewOrder, change: &Change) -> StoreResult<Order> {
    let relationship: uuid::Uuid = one(
        c,
        "SELECT id FROM relationships WHERE partner_org_id = ? AND customer_id = ? AND state = 'active'",
        params![order.placed_by.0, order.customer_id.0],
        |r| r.get(0).map_err(crate::db::err),
    )?;
    if let Some(reseller) = order.reseller_of_record {
        let linked = scalar_i64(
            c,
            "SELECT count(*) FROM provider_links WHERE provider_id = ? AND reseller_id = ? AND state = 'active'",
            params![order.placed_by.0, reseller.0],
        )?;
        if linked == 0 {
            return Err(StoreError::Conflict { constraint: constraint::NOT_AN_ACTIVE_RESELLER });
        }
        if !tenant::has_active_relationship(c, reseller, order.customer_id)? {
            return Err(StoreError::Conflict { constraint: constraint::NO_RESELLER_RELATIONSHIP });
        }
    }
    for item in &order.items {
        if scalar_i64(c, "SELECT count(*) FROM offers WHERE id = ? AND disabled_at IS NULL", params![item.offer_id.0])? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::OFFER_UNAVAILABLE });
        }
    }
    let record = order.partner_of_record();
    let at = ts(order.created_at);
    exec(
        c,
        "INSERT INTO orders (id, customer_id, placed_by, placed_by_user, partner_of_record, relationship_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![order.id.0, order.customer_id.0, order.placed_by.0, order.placed_by_user.0, record.0, relationship, at],
    )?;
    for item in &order.items {
        exec(
            c,
            "INSERT INTO subscriptions (id, order_id, customer_id, offer_id, placed_by, partner_of_record, quantity, assigned, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, 'active', ?, ?)",
            params![item.id.0, order.id.0, order.customer_id.0, item.offer_id.0, order.placed_by.0, record.0, item.quantity, at, at],
        )?;
    }
    write_change(c, change)?;
    // Read back by the ids just inserted, each by primary key: nothing to search for.
    let mut subscriptions = order.items.iter().map(|i| subscription_in(c, order.customer_id, i.id)).collect::<StoreResult<Vec<_>>>()?;
    subscriptions.sort_by_key(|s| s.id.0);
    Ok(Order {
        id: order.id,
        customer_id: order.customer_id,
        placed_by: org_in(c, order.placed_by)?.partner_ref(),
        placed_by_user: order.placed_by_user,
        partner_of_record: org_in(c, record)?.partner_ref(),
        created_at: order.created_at,
        subscriptions,
    })
}

fn update_subscription_in(
    c: &Connection,
    partner: OrganizationId,
    customer: OrganizationId,
    id: SubscriptionId,
    patch: &SubscriptionPatch,
    now: OffsetDateTime,
    mut change: Change,
) -> StoreResult<Subscription> {
    if !tenant::has_active_relationship(c, partner, customer)? {
        return Err(StoreError::NotFound);
    }
    let sub = subscription_in(c, customer, id)?;
    if sub.placed_by.id != partner && sub.partner_of_record.id != partner {
        return Err(StoreError::NotFound);
    }
    // The partner of record reads it; only the placing partner changes it.
    if sub.placed_by.id != partner {
        return Err(StoreError::Forbidden);
    }
    if sub.status == SubscriptionStatus::Cancelled || patch.status.is_some_and(|s| !sub.status.can_become(s)) {
        return Err(StoreError::Conflict { constraint: constraint::SUBSCRIPTION_CANCELLED });
    }
    if patch.status == Some(SubscriptionStatus::Cancelled) {
        // The seats go back first, so that the schema's "cancelled holds no seat" holds.
        tenant::release_licenses(c, Released::OfSubscription(customer, id), &mut change)?;
    }
    if let Some(quantity) = patch.quantity {
        // Conditional: the quantity never drops below the seats given out.
        let n = exec(
            c,
            "UPDATE subscriptions SET quantity = ?1 WHERE id = ?2 AND customer_id = ?3 AND assigned <= ?1",
            params![quantity, id.0, customer.0],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict { constraint: constraint::QUANTITY_BELOW_ASSIGNED });
        }
    }
    let status = patch.status.unwrap_or(sub.status);
    exec(
        c,
        "UPDATE subscriptions SET status = ?, updated_at = ? WHERE id = ? AND customer_id = ?",
        params![status.as_str(), ts(now), id.0, customer.0],
    )?;
    write_change(c, &change)?;
    subscription_in(c, customer, id)
}
