//! Commerce: the operator's catalog of offers, orders (flow 6) and the subscriptions they
//! make, seen by the partners that placed them or are their partner of record, and by the
//! customer itself. Each refusal of `docs/commerce.md` is checked here first, for a clear
//! answer; the store checks the same again in the transaction that writes.

use crate::{Caller, Conflict, Service, ServiceError, ServiceResult};
use partnerhub_domain::commerce::{MAX_ORDER_ITEMS, quantity, unit_price};
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;

pub struct NewOfferInput {
    pub name: String,
    pub unit_price_cents: i64,
    pub currency: String,
}

pub struct OrderItemInput {
    pub offer_id: OfferId,
    pub quantity: i64,
}

pub struct NewOrderInput {
    pub items: Vec<OrderItemInput>,
    pub reseller_id: Option<OrganizationId>,
}

pub struct SubscriptionPatchInput {
    pub quantity: Option<i64>,
    pub status: Option<String>,
}

/// The largest page the store hands out; used to find one subscription among a customer's.
const SCAN_PAGE: i64 = 500;

fn operator_only(caller: &Caller) -> ServiceResult<()> {
    if matches!(caller, Caller::Operator) { Ok(()) } else { Err(ServiceError::Unauthenticated) }
}

/// The organizations an order or a subscription concerns: who placed it, its partner of
/// record and the customer, each once.
fn concerned(placed_by: OrganizationId, partner_of_record: OrganizationId, customer: OrganizationId) -> Vec<OrganizationId> {
    let mut orgs = vec![placed_by, customer];
    if partner_of_record != placed_by {
        orgs.push(partner_of_record);
    }
    orgs
}

impl Service {
    // ---- offers ----

    /// Operator: a new offer in the catalog, enabled.
    pub async fn create_offer(&self, caller: &Caller, input: NewOfferInput) -> ServiceResult<Offer> {
        operator_only(caller)?;
        let mut v = Validator::default();
        let name = v.check(DisplayName::parse("name", &input.name));
        let price = v.check(unit_price("unit_price_cents", input.unit_price_cents));
        let currency = v.check(Currency::parse("currency", &input.currency));
        v.finish()?;
        let (Some(name), Some(price), Some(currency)) = (name, price, currency) else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        let offer = NewOffer {
            id: OfferId::new(),
            name: name.as_str().to_owned(),
            unit_price_cents: price,
            currency: currency.as_str().to_owned(),
            created_at: self.now(),
        };
        let change = self.change(
            caller,
            "offer.created",
            json!({"type": "offer", "id": offer.id}),
            None,
            json!({"name": offer.name, "unit_price_cents": offer.unit_price_cents, "currency": offer.currency}),
            Vec::new(),
        );
        Ok(self.store.create_offer(offer, change).await?)
    }

    /// Operator: every offer, enabled or not, by name.
    pub async fn operator_offers(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<Offer>> {
        operator_only(caller)?;
        Ok(self.store.list_offers(true, &page).await?)
    }

    /// Operator: an offer can no longer be ordered; its subscriptions go on. Twice is fine.
    pub async fn disable_offer(&self, caller: &Caller, id: OfferId) -> ServiceResult<Offer> {
        operator_only(caller)?;
        let change = self.change(caller, "offer.disabled", json!({"type": "offer", "id": id}), None, json!({}), Vec::new());
        Ok(self.store.disable_offer(id, self.now(), change).await?)
    }

    /// Partner users: the offers that can be ordered, by name.
    pub async fn list_offers(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<Offer>> {
        caller.require(Action::OffersRead)?;
        Ok(self.store.list_offers(false, &page).await?)
    }

    // ---- orders ----

    /// Flow 6: an order for a connected customer, one subscription per item. A direct partner
    /// is its own partner of record; an indirect provider orders for one of its active
    /// resellers, which must have its own relationship with the customer; a reseller cannot.
    pub async fn place_order(&self, caller: &Caller, customer: OrganizationId, input: NewOrderInput) -> ServiceResult<Order> {
        let p = caller.require(Action::OrdersCreate)?;
        let me = &p.organization;
        if me.partner_type == Some(PartnerType::IndirectReseller) {
            // A reseller's customers order through its provider.
            return Err(ServiceError::Forbidden);
        }
        self.store.active_relationship(me.id, customer).await?.ok_or(ServiceError::NotFound)?;
        let mut v = Validator::default();
        let mut lines = Vec::new();
        if input.items.is_empty() || input.items.len() > MAX_ORDER_ITEMS {
            v.push("items", format!("must hold 1 to {MAX_ORDER_ITEMS} items"));
        } else {
            for (i, item) in input.items.iter().enumerate() {
                let offer = match self.store.offer(item.offer_id).await {
                    Ok(o) if o.is_active() => Some(o),
                    Ok(_) => {
                        v.push(&format!("items[{i}].offer_id"), "is disabled and can no longer be ordered");
                        None
                    }
                    Err(StoreError::NotFound) => {
                        v.push(&format!("items[{i}].offer_id"), "is not an offer");
                        None
                    }
                    Err(e) => return Err(e.into()),
                };
                let n = v.check(quantity(&format!("items[{i}].quantity"), item.quantity));
                if let (Some(o), Some(n)) = (offer, n) {
                    lines.push((o, n));
                }
            }
        }
        let indirect_provider = me.partner_type == Some(PartnerType::IndirectProvider);
        match input.reseller_id {
            None if indirect_provider => v.push("reseller_id", "an indirect provider orders for one of its resellers: name it"),
            Some(r) if indirect_provider && !self.store.active_provider_link(me.id, r).await? => {
                v.push("reseller_id", "is not one of your active indirect resellers")
            }
            Some(_) if !indirect_provider => v.push("reseller_id", "only an indirect provider names a reseller"),
            _ => {}
        }
        v.finish()?;
        if let Some(r) = input.reseller_id {
            self.store.active_relationship(r, customer).await?.ok_or(ServiceError::NoResellerRelationship)?;
        }
        let order = NewOrder {
            id: OrderId::new(),
            customer_id: customer,
            placed_by: me.id,
            placed_by_user: p.user.id,
            reseller_of_record: input.reseller_id,
            created_at: self.now(),
            items: lines.iter().map(|(o, n)| NewSubscription { id: SubscriptionId::new(), offer_id: o.id, quantity: *n }).collect(),
        };
        let record = order.partner_of_record();
        let data = json!({
            "order_id": order.id, "customer_id": customer, "placed_by": me.id, "placed_by_user": p.user.id, "partner_of_record": record,
            "subscriptions": order.items.iter().zip(&lines).map(|(s, (o, _))| json!({
                "subscription_id": s.id, "offer_id": o.id, "offer_name": o.name, "quantity": s.quantity})).collect::<Vec<_>>(),
        });
        let mut change = self.change(
            caller,
            "order.created",
            json!({"type": "order", "id": order.id}),
            Some(customer),
            data.clone(),
            concerned(me.id, record, customer),
        );
        change.events.push(self.event("order.created", me.id, data));
        Ok(self.store.place_order(order, change).await?)
    }

    // ---- subscriptions ----

    /// The customer's subscriptions that the caller placed or is partner of record of.
    pub async fn partner_subscriptions(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        page: PageQuery,
    ) -> ServiceResult<Page<Subscription>> {
        let p = caller.require(Action::SubscriptionsRead)?;
        Ok(self.store.partner_subscriptions(p.organization.id, customer, &page).await?)
    }

    /// One subscription the partner sees, found among its subscriptions with the customer.
    async fn partner_subscription(
        &self,
        partner: OrganizationId,
        customer: OrganizationId,
        id: SubscriptionId,
    ) -> ServiceResult<Subscription> {
        let mut cursor = None;
        loop {
            let page = self.store.partner_subscriptions(partner, customer, &PageQuery { limit: SCAN_PAGE, cursor }).await?;
            if let Some(s) = page.items.into_iter().find(|s| s.id == id) {
                return Ok(s);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Err(ServiceError::NotFound),
            }
        }
    }

    /// The partner that placed a subscription changes its quantity or its status
    /// (`active <-> suspended`, either to `cancelled`, which is final and releases every
    /// license). Its partner of record, when another, reads it but may not change it.
    pub async fn update_subscription(
        &self,
        caller: &Caller,
        customer: OrganizationId,
        id: SubscriptionId,
        input: SubscriptionPatchInput,
    ) -> ServiceResult<Subscription> {
        let p = caller.require(Action::SubscriptionsManage)?;
        let me = p.organization.id;
        let mut v = Validator::default();
        let new_quantity = input.quantity.and_then(|n| v.check(quantity("quantity", n)));
        let status = match input.status.as_deref() {
            None => None,
            Some(st) => {
                let parsed = SubscriptionStatus::parse(st);
                if parsed.is_none() {
                    v.push("status", "must be active, suspended or cancelled");
                }
                parsed
            }
        };
        if input.quantity.is_none() && input.status.is_none() {
            v.push("body", "give quantity, status or both");
        }
        v.finish()?;
        // Read first for the clear answers and for who may see the record; the store
        // checks all of it again as it writes.
        let current = self.partner_subscription(me, customer, id).await?;
        if current.placed_by.id != me {
            return Err(ServiceError::Forbidden);
        }
        if current.status == SubscriptionStatus::Cancelled {
            return Err(Conflict::SubscriptionCancelled.into());
        }
        let data = json!({"subscription_id": id, "customer_id": customer, "quantity": new_quantity, "status": status.map(|s| s.as_str())});
        let mut change = self.change(
            caller,
            "subscription.updated",
            json!({"type": "subscription", "id": id}),
            Some(customer),
            data.clone(),
            concerned(me, current.partner_of_record.id, customer),
        );
        change.events.push(self.event("subscription.updated", me, data));
        let patch = SubscriptionPatch { quantity: new_quantity, status };
        Ok(self.store.update_subscription(me, customer, id, patch, self.now(), change).await?)
    }

    /// The customer's own view: every subscription of its tenant, whoever sold it.
    pub async fn own_subscriptions(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<Subscription>> {
        let p = caller.require(Action::OwnSubscriptionsRead)?;
        Ok(self.store.tenant_subscriptions(p.organization.id, &page).await?)
    }
}
