//! Scheduled changes driven by a moved clock: invitations and grants past their expiry,
//! auto-extension (never `global_admin`), the 30/7/1-day warnings and the 7-day reminder, each
//! once, even when the schedule runs twice or on two nodes over one database at once.

use crate::support::*;
use partnerhub_service::{ScheduleRun, SmtpConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    app.raw
        .strings(&format!("SELECT payload FROM outbox_events WHERE event_type = '{event_type}' ORDER BY created_at, id"))
        .await
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).expect("payload"))
        .collect()
}

/// One pass on this node and one on `other`, at once; answers the two runs added up.
async fn run_on_both(app: &TestApp, other: &partnerhub_service::Service) -> ScheduleRun {
    let (a, b) = tokio::join!(app.service.run_schedule(), other.run_schedule());
    let (a, b) = (a.expect("run"), b.expect("run on the other node"));
    ScheduleRun {
        invitations_expired: a.invitations_expired + b.invitations_expired,
        grants_expired: a.grants_expired + b.grants_expired,
        grants_extended: a.grants_extended + b.grants_extended,
        grants_warned: a.grants_warned + b.grants_warned,
        reminders: a.reminders + b.reminders,
    }
}

async fn accepted(app: &TestApp, partner: &Org, terms: Value) -> Org {
    let c = app.customer().await;
    let inv = app.invite(partner, terms).await;
    let (s, b) = app.accept(&c.token, &inv).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    c
}

/// The partner's view of a customer's live grants: (role, expires_at), signed in anew (the
/// moved clock ended the earlier sessions).
async fn live_grants(app: &TestApp, partner: &Org, customer: &Org) -> Vec<(String, String)> {
    let token = app.sign_in(&partner.email, PASSWORD).await;
    let (s, b) = app.get(&format!("/api/v1/customers/{}", customer.id), &token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .map(|g| (g["role"].as_str().unwrap().to_owned(), g["expires_at"].as_str().unwrap().to_owned()))
        .collect()
}

fn at(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn a_moved_clock_warns_extends_and_expires_grants_once_on_two_nodes() {
    let app = TestApp::spawn().await;
    let start = partnerhub_domain::Clock::now(&app.clock);
    let other = app.another_node().await;
    let partner = app.partner("direct").await;
    // Warned: the global admin (no language chosen: English) and an admin agent reading French;
    // not a helpdesk agent, who cannot send the renewing invitation.
    let (agent, _) = app.user_with_email(&partner, &["admin_agent"]).await;
    app.raw.exec(&format!("UPDATE users SET locale = 'fr' WHERE email = '{agent}'")).await.unwrap();
    app.user(&partner, &["helpdesk_agent"]).await;
    let c = accepted(&app, &partner, json!({"roles": ["user_admin", "license_admin"], "duration_days": 40})).await;
    let e = accepted(&app, &partner, json!({"roles": ["global_admin"], "duration_days": 40})).await;
    let d = accepted(&app, &partner, json!({"roles": ["user_admin"], "duration_days": 10, "auto_extend": true})).await;
    // The schema refuses an auto-extending global admin grant, whatever the code does.
    assert!(app.raw.exec("UPDATE grants SET auto_extend = (1 = 1) WHERE role = 'global_admin'").await.is_err());
    // D's grant as a node of the version before 0012 makes it, without its period: read as
    // its length, and kept once extended.
    app.raw.exec("UPDATE grants SET duration_days = NULL WHERE auto_extend = (1 = 1)").await.unwrap();

    assert_eq!(run_on_both(&app, &other).await, ScheduleRun::default(), "nothing is due at the start");

    // 30 days before C's and E's end; D's 10 days ran out an hour ago: extended by 10 days.
    app.clock.advance(Duration::days(10) + Duration::hours(1));
    let run = run_on_both(&app, &other).await;
    assert_eq!((run.grants_warned, run.grants_extended, run.grants_expired), (3, 1, 0), "{run:?}");
    assert_eq!(live_grants(&app, &partner, &d).await, vec![("user_admin".to_owned(), at(start + Duration::days(20)))]);
    assert_eq!(run_on_both(&app, &other).await, ScheduleRun::default(), "a second pass changes nothing");
    assert_eq!(app.raw.i64("SELECT duration_days FROM grants WHERE auto_extend = (1 = 1)").await, 10);

    // 7 days before (D extended again), then 1 day before.
    app.clock.advance(Duration::days(23));
    let run = run_on_both(&app, &other).await;
    assert_eq!((run.grants_warned, run.grants_extended), (3, 1), "{run:?}");
    app.clock.advance(Duration::days(6));
    let run = run_on_both(&app, &other).await;
    assert_eq!((run.grants_warned, run.grants_extended, run.grants_expired), (3, 0, 0), "{run:?}");
    // An hour past C's and E's end: expired, the global admin grant included, never extended.
    app.clock.advance(Duration::days(1));
    let run = run_on_both(&app, &other).await;
    assert_eq!((run.grants_warned, run.grants_extended, run.grants_expired), (0, 1, 3), "{run:?}");
    assert_eq!(run_on_both(&app, &other).await, ScheduleRun::default());
    assert!(live_grants(&app, &partner, &c).await.is_empty());
    assert!(live_grants(&app, &partner, &e).await.is_empty());
    assert_eq!(live_grants(&app, &partner, &d).await, vec![("user_admin".to_owned(), at(start + Duration::days(50)))]);

    // The outbox: each warning once per grant and number of days.
    let warnings = events(&app, "grant.expiring").await;
    let mut seen: Vec<(String, i64)> =
        warnings.iter().map(|w| (w["data"]["grant_id"].as_str().unwrap().to_owned(), w["data"]["days"].as_i64().unwrap())).collect();
    seen.sort();
    seen.dedup();
    assert_eq!((warnings.len(), seen.len()), (9, 9), "{warnings:?}");
    for days in [30, 7, 1] {
        assert_eq!(seen.iter().filter(|(_, d)| *d == days).count(), 3);
    }
    assert_eq!(app.raw.i64("SELECT count(*) FROM grant_warnings").await, 9);
    let expired = events(&app, "grant.expired").await;
    assert_eq!(expired.len(), 3);
    assert!(expired.iter().all(|e| e["data"]["partner_id"] == partner.id.as_str()));
    let extended = events(&app, "grant.extended").await;
    assert_eq!(extended.len(), 3);
    assert_eq!(extended[2]["data"]["expires_at"], at(start + Duration::days(50)));
    assert!(extended.iter().all(|e| e["data"]["role"] == "user_admin" && e["data"]["customer_id"] == d.id.as_str()));

    // One e-mail per warning, customer and warned user, in the user's language.
    assert_eq!(app.raw.i64("SELECT count(*) FROM email_outbox WHERE kind = 'grant_expiring'").await, 12);
    let to_agent = app.raw.strings(&format!("SELECT subject FROM email_outbox WHERE recipient = '{agent}' ORDER BY created_at")).await;
    assert_eq!(to_agent.len(), 6);
    assert!(to_agent.iter().all(|s| s.contains("prennent fin")), "{to_agent:?}");
    assert!(to_agent.iter().any(|s| s.contains("dans 30 jours")) && to_agent.iter().any(|s| s.ends_with("demain")));
    let to_admin =
        app.raw.strings(&format!("SELECT subject FROM email_outbox WHERE recipient = '{}' ORDER BY created_at", partner.email)).await;
    assert_eq!(to_admin.len(), 6);
    assert!(to_admin.iter().all(|s| s.contains("Your delegated admin roles")), "{to_admin:?}");
    // C's two roles come in one e-mail.
    let body = app
        .raw
        .strings(&format!(
            "SELECT body FROM email_outbox WHERE recipient = '{}' AND subject LIKE '%in 7 days' AND body LIKE '%License administrator%'",
            partner.email
        ))
        .await;
    assert!(body.len() == 1 && body[0].contains("User administrator") && body[0].contains(&format!("/customers/{}", c.id)), "{body:?}");
    app.verify_audit().await;
}

#[tokio::test]
async fn a_moved_clock_expires_invitations_and_reminds_a_pending_one_once() {
    let (url, mut rx) = crate::smtp::relay().await;
    let app =
        TestApp::spawn_with(Options { smtp: Some(SmtpConfig { url, from: "partners@partnerhub.example".into() }), ..Options::default() })
            .await;
    let other = app.another_node().await;
    let partner = app.partner("direct").await;
    let send = |inv: &Value, to: &'static str| {
        let path = format!("/api/v1/invitations/{}/send", inv["id"].as_str().unwrap());
        let token = partner.token.clone();
        let app = &app;
        async move {
            let (s, b) = app.post(&path, Some(&token), json!({"to": to})).await;
            assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        }
    };
    // Sent, pending a week before it expires: reminded. Never sent: no one to remind. Sent
    // with less than a week to go: the invitation itself was the reminder. Revoked: stays so.
    let a = app.invite(&partner, json!({"expires_in_days": 30, "locale": "en"})).await;
    let b = app.invite(&partner, json!({"expires_in_days": 30})).await;
    let c = app.invite(&partner, json!({"expires_in_days": 5})).await;
    let r = app.invite(&partner, json!({"expires_in_days": 5})).await;
    send(&a, "ga@customer-a.example").await;
    send(&c, "ga@customer-c.example").await;
    for _ in 0..2 {
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.expect("sent").unwrap();
    }
    for inv in [&a, &c] {
        let after = crate::smtp::delivery_settled(&app, &partner, inv["id"].as_str().unwrap()).await;
        assert!(after["sent_at"].is_string(), "{after}");
    }
    let (s, _) = app.post(&format!("/api/v1/invitations/{}/revoke", r["id"].as_str().unwrap()), Some(&partner.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);

    app.clock.advance(Duration::days(23) + Duration::hours(1));
    let run = run_on_both(&app, &other).await;
    assert_eq!((run.reminders, run.invitations_expired), (1, 1), "{run:?}");
    let token = app.sign_in(&partner.email, PASSWORD).await;
    assert_eq!(run_on_both(&app, &other).await, ScheduleRun::default());
    let reminder = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.expect("reminder sent").unwrap();
    assert!(reminder.contains("To: ga@customer-a.example") && reminder.contains("Subject: Reminder:"), "{reminder}");
    assert!(reminder.contains(a["url"].as_str().unwrap()), "the reminder carries the link: {reminder}");
    for (inv, state) in [(&c, "expired"), (&a, "pending"), (&r, "revoked")] {
        let (_, now) = app.get(&format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &token).await;
        assert_eq!(now["state"], state, "{now}");
    }
    assert_eq!(app.raw.i64("SELECT count(*) FROM invitations WHERE state = 'expired'").await, 1, "written down, not only read");

    app.clock.advance(Duration::days(7));
    let run = run_on_both(&app, &other).await;
    assert_eq!((run.reminders, run.invitations_expired), (0, 2), "{run:?}");
    let token = app.sign_in(&partner.email, PASSWORD).await;
    let (_, list) = app.get("/api/v1/invitations?state=expired", &token).await;
    assert_eq!(list["total"], 3, "{list}");
    let customer = app.customer().await;
    let (s, body) = app.accept(&customer.token, &a).await;
    assert_eq!((s, code(&body)), (StatusCode::GONE, "invitation_expired"), "{body}");

    let expired = events(&app, "invitation.expired").await;
    let mut ids: Vec<&str> = expired.iter().map(|e| e["data"]["invitation_id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![a["id"].as_str().unwrap(), b["id"].as_str().unwrap(), c["id"].as_str().unwrap()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(app.raw.i64("SELECT count(*) FROM email_outbox WHERE kind = 'invitation_reminder'").await, 1);
    assert!(rx.try_recv().is_err(), "nothing else was sent");
    app.verify_audit().await;
}
