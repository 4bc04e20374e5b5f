//! Accounts (issue 7): temporary passwords that expire and only set a new one, the password
//! change and policy, sessions (sign-out, listing, a bound per user, ending on a lost role),
//! and sign-in limits counted before any password is verified.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn try_sign_in(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    app.post("/api/v1/auth/token", None, json!({"email": email, "password": password})).await
}

/// Hole 1: the partner that created a customer keeps the admin's temporary password. It
/// only lets its holder set a new one, dies once changed, and dies unused after 72 hours.
#[tokio::test]
async fn a_temporary_password_only_sets_a_new_one_and_expires() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;

    // Used in time, it signs in, but that session may only change it (or read /me, sign out).
    let (_, email, temporary) = app.created_customer(&partner).await;
    let (s, b) = try_sign_in(&app, &email, &temporary).await;
    assert_eq!((s, b["password_change_required"].as_bool()), (StatusCode::OK, Some(true)), "{b}");
    let token = b["access_token"].as_str().unwrap().to_owned();
    let (s, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(s, StatusCode::OK);
    for (method, path) in [(Method::GET, "/api/v1/users"), (Method::GET, "/api/v1/partners"), (Method::GET, "/api/v1/me/sessions")] {
        let (s, b) = app.call(method, path, Some(&token), None).await;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "password_change_required"), "{path}");
    }
    let (s, b) = app.post("/api/v1/me/password", Some(&token), json!({"current_password": temporary, "new_password": PASSWORD})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, _) = app.get("/api/v1/users", &token).await;
    assert_eq!(s, StatusCode::OK);
    // Once changed, the password the partner saw is dead.
    let (s, b) = try_sign_in(&app, &email, &temporary).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    app.sign_in(&email, PASSWORD).await;

    // Unused, it dies after 72 hours (`--temporary-password-ttl-hours`), though it is right.
    let (_, email, temporary) = app.created_customer(&partner).await;
    app.clock.advance(time::Duration::hours(71));
    let (s, b) = try_sign_in(&app, &email, &temporary).await;
    assert_eq!(s, StatusCode::OK, "still good before its time: {b}");
    app.clock.advance(time::Duration::hours(2));
    let (s, b) = try_sign_in(&app, &email, &temporary).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{b}");

    // A reset makes a new one, which counts its 72 hours from then.
    let partner = Org { token: app.sign_in(&partner.email, PASSWORD).await, ..partner };
    let (ga_email, ga_token) = app.user_with_email(&partner, &["global_admin"]).await;
    let uid = app.user_id(&ga_token).await;
    let (s, b) = app.post(&format!("/api/v1/users/{uid}/reset-password"), Some(&partner.token), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let reset = b["temporary_password"].as_str().unwrap().to_owned();
    app.clock.advance(time::Duration::hours(71));
    assert_eq!(try_sign_in(&app, &ga_email, &reset).await.0, StatusCode::OK);
    app.clock.advance(time::Duration::hours(2));
    assert_eq!(try_sign_in(&app, &ga_email, &reset).await.0, StatusCode::UNAUTHORIZED);
    app.verify_audit().await;
}

/// Hole 4: 100 concurrent wrong passwords for one account verify at most the limit (5): each
/// attempt is counted by one atomic statement before any password is checked. A 401 is a
/// verified wrong password; the rest must be refused before verifying (429).
#[tokio::test]
async fn concurrent_wrong_passwords_verify_at_most_the_limit() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let attempts = (0..100).map(|i| {
        let (client, url, email) = (app.client.clone(), app.url.clone(), partner.email.clone());
        tokio::spawn(async move {
            let res = client
                .post(format!("{url}/api/v1/auth/token"))
                .json(&json!({"email": email, "password": format!("wrong password number {i}")}))
                .send()
                .await
                .unwrap();
            (res.status(), res.headers().contains_key("retry-after"))
        })
    });
    let answers: Vec<(StatusCode, bool)> = futures::future::join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let verified = answers.iter().filter(|(s, _)| *s == StatusCode::UNAUTHORIZED).count();
    let refused = answers.iter().filter(|(s, retry)| *s == StatusCode::TOO_MANY_REQUESTS && *retry).count();
    assert_eq!((verified, refused), (5, 95), "{answers:?}");
    app.verify_audit().await;
}

/// Hole 4: a lockout is per (account, client), so an attacker locks out only itself; each
/// further lockout of the pair lasts twice as long (15, 30, 60 minutes...); the owner signs
/// in from elsewhere all along, and a success clears its own pair.
#[tokio::test]
async fn a_lockout_holds_the_attacker_only_and_grows() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (svc, email) = (&app.service, partner.email.as_str());
    let (attacker, owner) = ("203.0.113.9", "198.51.100.7");
    let retry_after = |r: Result<_, partnerhub_service::ServiceError>| match r {
        Err(partnerhub_service::ServiceError::RateLimited { retry_after_secs }) => retry_after_secs,
        Err(e) => panic!("expected 429, got {e:?}"),
        Ok(_) => panic!("expected 429, signed in"),
    };
    for (round, lock_minutes) in [(1, 15u64), (2, 30), (3, 60)] {
        for _ in 0..5 {
            let r = svc.open_session(email, "not the password at all", None, attacker).await;
            assert!(matches!(r, Err(partnerhub_service::ServiceError::Unauthenticated)), "round {round}");
        }
        // Locked, even with the right password, for the lockout of this round.
        let retry = retry_after(svc.open_session(email, PASSWORD, None, attacker).await);
        assert!(retry > (lock_minutes - 1) * 60 && retry <= lock_minutes * 60, "round {round}: retry after {retry}s");
        // The owner is not locked out from another client.
        let (s, _) = (svc.open_session(email, PASSWORD, None, owner).await.is_ok(), ());
        assert!(s, "round {round}: the owner signs in from elsewhere");
        app.clock.advance(time::Duration::seconds(retry as i64));
    }
    // A success clears the pair: the next failures start from zero and the lockouts shrink back.
    svc.open_session(email, PASSWORD, None, attacker).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            svc.open_session(email, "nope nope nope", None, attacker).await,
            Err(partnerhub_service::ServiceError::Unauthenticated)
        ));
    }
    assert!(retry_after(svc.open_session(email, PASSWORD, None, attacker).await) <= 15 * 60);
    app.verify_audit().await;
}

/// Hole 9: sign-out, listing and ending one's own sessions, and at most 10 per user.
#[tokio::test]
async fn sessions_sign_out_list_revoke_and_stay_bounded() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (email, first) = app.user_with_email(&partner, &["sales_agent"]).await;
    let mut tokens = vec![first];
    for _ in 0..10 {
        app.clock.advance(time::Duration::seconds(1));
        tokens.push(app.sign_in(&email, PASSWORD).await);
    }
    // The 11th sign-in ended the oldest: ten remain, newest first, this one marked current.
    let (s, _) = app.get("/api/v1/me", &tokens[0]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the oldest session ended");
    let newest = tokens.last().unwrap().clone();
    let (s, b) = app.get("/api/v1/me/sessions", &newest).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let items = b["items"].as_array().unwrap();
    assert_eq!((items.len(), b["total"].as_i64()), (10, Some(10)));
    assert_eq!(items.iter().map(|i| i["current"].as_bool().unwrap()).collect::<Vec<_>>(), [&[true][..], &[false; 9]].concat());
    assert!(items[0]["created_at"].as_str().unwrap() > items[9]["created_at"].as_str().unwrap());

    // Ending one: that token is dead, the others live; another user's session is not found.
    let second_newest = items[1]["id"].as_str().unwrap().to_owned();
    let (s, _) = app.delete(&format!("/api/v1/me/sessions/{second_newest}"), &newest).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &tokens[9]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", &tokens[8]).await.0, StatusCode::OK);
    let (_, theirs) = app.get("/api/v1/me/sessions", &partner.token).await;
    let theirs = theirs["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, b) = app.delete(&format!("/api/v1/me/sessions/{theirs}"), &newest).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(app.get("/api/v1/me", &partner.token).await.0, StatusCode::OK);

    // Signing out kills this token only.
    let (s, _) = app.call(Method::DELETE, "/api/v1/auth/token", Some(&newest), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &newest).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::DELETE, "/api/v1/auth/token", Some(&newest), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", &tokens[8]).await.0, StatusCode::OK);

    // A session with a temporary password may sign out too.
    let (_, temp_email, temporary) = app.created_customer(&partner).await;
    let temp = app.sign_in(&temp_email, &temporary).await;
    assert_eq!(app.call(Method::DELETE, "/api/v1/auth/token", Some(&temp), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &temp).await.0, StatusCode::UNAUTHORIZED);
    app.verify_audit().await;
}

/// Hole 9: expired sessions and finished rate-limit windows are purged (what `serve` runs
/// every 10 minutes); live ones and remembered lockouts stay.
#[tokio::test]
async fn the_purge_removes_expired_sessions_and_finished_windows() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let _ = try_sign_in(&app, &partner.email, "wrong wrong wrong").await;
    let before = app.raw.i64("SELECT count(*) FROM rate_limits").await;
    assert!(before >= 1);
    assert_eq!(app.service.purge_expired().await.unwrap(), 0, "nothing is over yet");
    let other = app.user(&partner, &["sales_agent"]).await;
    app.clock.advance(time::Duration::hours(11));
    let live = app.sign_in(&partner.email, PASSWORD).await;
    app.clock.advance(time::Duration::hours(2));
    assert_eq!(app.raw.i64("SELECT count(*) FROM sessions").await, 3);
    assert!(app.service.purge_expired().await.unwrap() >= 1);
    assert_eq!(app.raw.i64("SELECT count(*) FROM sessions").await, 1, "only the live session is left");
    assert_eq!(app.get("/api/v1/me", &live).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", &other).await.0, StatusCode::UNAUTHORIZED);
    // The sign-in pair's lockout length is remembered for a day after its window; then it goes.
    app.clock.advance(time::Duration::hours(25));
    app.service.purge_expired().await.unwrap();
    assert_eq!(app.raw.i64("SELECT count(*) FROM rate_limits").await, 0);
    assert_eq!(app.service.purge_expired().await.unwrap(), 0, "a purge is idempotent");
    app.verify_audit().await;
}

/// A password policy (zxcvbn, score 3 or more, with the user's own e-mail, name and
/// organization as known words): common ones and ones made of the user's own details are
/// refused with 422 on the field given, with advice.
#[tokio::test]
async fn easy_to_guess_passwords_are_refused() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let signup = |password: &str| {
        json!({"organization": {"name": "Contoso Pharmaceuticals", "domain": format!("{}.example", unique("contoso"))},
               "admin": {"email": "grace.hopper@contoso.example", "display_name": "Grace Hopper", "password": password}})
    };
    for weak in ["password1234", "qwertyuiopasdf", "123456789012", "contosopharmaceuticals"] {
        let (s, b) = app.post("/api/v1/signup", None, signup(weak)).await;
        assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("admin.password")), "{weak}: {b}");
    }
    let (s, b) = app
        .post(
            "/api/v1/users",
            Some(&partner.token),
            json!({"email": "sam@x.example", "display_name": "Sam", "password": "iloveyou2024", "roles": ["sales_agent"]}),
        )
        .await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("password")), "{b}");
    let (s, b) =
        app.post("/api/v1/me/password", Some(&partner.token), json!({"current_password": PASSWORD, "new_password": "password12345"})).await;
    assert_eq!((s, b["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("new_password")), "{b}");
    // The suite's own password, and a strong one, pass.
    assert_eq!(app.post("/api/v1/signup", None, signup(PASSWORD)).await.0, StatusCode::CREATED);
    let (s, b) = app
        .post(
            "/api/v1/me/password",
            Some(&partner.token),
            json!({"current_password": PASSWORD, "new_password": "violet kettle umbra 42 drift"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
}

/// Losing a role ends the user's sessions, in one's own organization and through grants (the
/// holder signs in again as who they are now); a patch that renames, keeps or adds roles
/// leaves them alone.
#[tokio::test]
async fn losing_a_role_ends_the_users_sessions() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (email, token) = app.user_with_email(&partner, &["sales_agent", "helpdesk_agent"]).await;
    let other = app.sign_in(&email, PASSWORD).await;
    let user = format!("/api/v1/users/{}", app.user_id(&token).await);
    for body in [
        json!({"display_name": "Renamed"}),
        json!({"roles": ["helpdesk_agent", "sales_agent"]}),
        json!({"roles": ["sales_agent", "helpdesk_agent", "admin_agent"]}),
    ] {
        let (s, b) = app.patch(&user, &partner.token, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::OK, "{body} kept the session");
    }
    let (s, b) = app.patch(&user, &partner.token, json!({"roles": ["sales_agent", "helpdesk_agent"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for t in [&token, &other] {
        let (s, b) = app.get("/api/v1/me", t).await;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "a lost role ends every session");
    }
    assert_eq!(app.get("/api/v1/me", &partner.token).await.0, StatusCode::OK, "the admin's own session stays");
    // Swapping a role for another loses one too.
    let token = app.sign_in(&email, PASSWORD).await;
    let (s, b) = app.patch(&user, &partner.token, json!({"roles": ["sales_agent", "admin_agent"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::UNAUTHORIZED);

    // Through grants: a partner agent demoting a customer's user.
    let customer = app.connected_customer(&partner).await;
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (id, email, temporary) = app.tenant_user(&agent, &customer.id, &["billing_admin", "user_admin"]).await;
    let token = app.sign_in(&email, &temporary).await;
    let (s, b) = app.post("/api/v1/me/password", Some(&token), json!({"current_password": temporary, "new_password": PASSWORD})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let tenant_user = format!("/api/v1/customers/{}/users/{id}", customer.id);
    let (s, b) = app.patch(&tenant_user, &agent, json!({"roles": ["user_admin", "billing_admin"], "display_name": "Kept"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::OK, "the same roles keep the session");
    let (s, b) = app.patch(&tenant_user, &agent, json!({"roles": ["billing_admin"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::UNAUTHORIZED, "a lost role ends the session");
    let token = app.sign_in(&email, PASSWORD).await;
    let (s, b) = app.get("/api/v1/me", &token).await;
    assert_eq!((s, b["user"]["roles"].clone()), (StatusCode::OK, json!(["billing_admin"])), "{b}");
    app.verify_audit().await;
}
