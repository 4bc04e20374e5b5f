//! Conformance of webhook delivery bookkeeping: endpoints read their organization's outbox in
//! commit order, a claim leases an endpoint to one worker at a time, and a worker whose lease
//! is gone (taken after it ran out, or after a failure) writes nothing.

use super::*;
use uuid::Uuid;

fn attempt(webhook: Uuid, ev: &OutboxEvent, n: i64, status: i64) -> DeliveryAttempt {
    DeliveryAttempt {
        id: Uuid::now_v7(),
        webhook_id: webhook,
        event_id: ev.id,
        event_type: ev.event_type.clone(),
        attempt: n,
        at: now(),
        status: Some(status),
        latency_ms: 3,
        error: None,
    }
}

pub async fn webhook_claims_are_exclusive_and_follow_commit_order(store: &dyn Store) {
    let (org, _) = org_with_admin(store, OrgKind::Partner, "Hooked").await;
    let (other, _) = org_with_admin(store, OrgKind::Partner, "Unhooked").await;
    let w = store
        .create_webhook(
            NewWebhook {
                id: Uuid::now_v7(),
                organization_id: org,
                url: "https://hooks.example/x".into(),
                events: vec!["e.one".into()],
                secret: vec![1, 2, 3],
                created_at: now(),
            },
            Change { events: vec![], ..change(org, "webhook.created") },
        )
        .await
        .unwrap();
    assert_eq!((w.state.as_str(), w.attempt), ("active", 0));
    let start = store.webhook_target(w.id).await.unwrap().position;
    // The events committed before it are not its.
    assert!(store.events_after(org, start, 10).await.unwrap().is_empty());
    for (o, action) in [(org, "e.one"), (other, "e.one"), (org, "e.two"), (org, "e.one")] {
        offer_with_event(store, o, action).await;
    }
    let events = store.events_after(org, start, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), ["e.one", "e.two", "e.one"]);
    assert!(events.windows(2).all(|p| p[0].position < p[1].position));
    assert!(events.iter().all(|e| e.organization_id == org && e.payload["type"] == e.event_type));

    // One claim at a time.
    let t = now();
    let claimed = store.claim_webhooks(t, t + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let first = claimed[0].lease.unwrap();
    assert!(store.claim_webhooks(t, t + Duration::seconds(30), 10).await.unwrap().is_empty());
    // A failure ends the lease and schedules the next attempt; another lease id writes nothing.
    assert!(
        !store
            .record_attempt(
                Uuid::now_v7(),
                attempt(w.id, &events[0], 1, 500),
                AttemptOutcome::Delivered { position: events[0].position, lease_until: t }
            )
            .await
            .unwrap()
    );
    let retry = t + Duration::seconds(10);
    assert!(
        store
            .record_attempt(first, attempt(w.id, &events[0], 1, 500), AttemptOutcome::Failed { retry_at: retry, failing: false })
            .await
            .unwrap()
    );
    let failed = store.webhook(org, w.id).await.unwrap();
    assert_eq!((failed.attempt, failed.retry_at, failed.first_failure_at.is_some()), (1, Some(retry), true));
    assert!(store.claim_webhooks(t, t + Duration::seconds(30), 10).await.unwrap().is_empty(), "not before its retry");
    let again = store.claim_webhooks(retry, retry + Duration::seconds(30), 10).await.unwrap();
    let second = again[0].lease.unwrap();
    assert_eq!((again[0].position, again[0].webhook.attempt), (start, 1));
    assert!(
        !store
            .record_attempt(
                first,
                attempt(w.id, &events[0], 2, 200),
                AttemptOutcome::Delivered { position: events[0].position, lease_until: retry }
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .record_attempt(
                second,
                attempt(w.id, &events[0], 2, 200),
                AttemptOutcome::Delivered { position: events[0].position, lease_until: retry + Duration::seconds(30) }
            )
            .await
            .unwrap()
    );
    assert!(store.skip_events(w.id, second, events[1].position, retry + Duration::seconds(30)).await.unwrap());
    let delivered = store.webhook(org, w.id).await.unwrap();
    assert_eq!((delivered.attempt, delivered.retry_at, delivered.first_failure_at), (0, None, None));
    // A lease that ran out (a killed worker) is taken by the next claim; the old one is void.
    let later = retry + Duration::minutes(5);
    let third = store.claim_webhooks(later, later + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(third[0].position, events[1].position);
    assert!(!store.skip_events(w.id, second, events[2].position, later).await.unwrap());
    store.release_webhook(w.id, third[0].lease.unwrap()).await.unwrap();

    // The log, newest first, for the owner only.
    let log = store.list_delivery_attempts(org, w.id, &PageQuery::first(10)).await.unwrap();
    assert_eq!(log.items.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(200), Some(500)]);
    assert!(matches!(store.list_delivery_attempts(other, w.id, &PageQuery::first(10)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_webhook(other, w.id, change(other, "webhook.deleted")).await, Err(StoreError::NotFound)));
    store.delete_webhook(org, w.id, change(org, "webhook.deleted")).await.unwrap();
    assert!(store.recent_attempts(Some(w.id), 10).await.unwrap().is_empty(), "its log goes with it");
}

/// A change (an offer) whose one event, `event_type`, is for `org`.
async fn offer_with_event(store: &dyn Store, org: OrganizationId, event_type: &'static str) {
    let offer = NewOffer {
        id: OfferId::new(),
        name: format!("Offer {}", Uuid::now_v7()),
        unit_price_cents: 1,
        currency: "EUR".into(),
        created_at: now(),
    };
    store.create_offer(offer, change(org, event_type)).await.unwrap();
}
