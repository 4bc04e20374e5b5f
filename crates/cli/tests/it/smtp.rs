//! Sending an invitation by SMTP, through a minimal relay that records what it receives.

use crate::support::*;
use partnerhub_service::SmtpConfig;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Speaks just enough SMTP to take one message per connection; sends each DATA to `tx`.
pub(crate) async fn relay() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 test ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap_or_default()).ok();
                            w.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(reply).await.ok();
                }
            });
        }
    });
    (format!("smtp://{addr}"), rx)
}

#[tokio::test]
async fn without_a_relay_sending_is_503() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    let (s, b) = app
        .post(
            &format!("/api/v1/invitations/{}/send", inv["id"].as_str().unwrap()),
            Some(&partner.token),
            json!({"to": "ga@customer.example"}),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::SERVICE_UNAVAILABLE, "email_not_configured"));
}

#[tokio::test]
async fn an_invitation_is_sent_through_the_relay_with_its_url() {
    let (url, mut rx) = relay().await;
    let app =
        TestApp::spawn_with(Options { smtp: Some(SmtpConfig { url, from: "partners@partnerhub.example".into() }), ..Options::default() })
            .await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({"locale": "en"})).await;
    let path = format!("/api/v1/invitations/{}/send", inv["id"].as_str().unwrap());
    let (s, b) = app.post(&path, Some(&partner.token), json!({"to": "not an address"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    let (s, b) = app.post(&path, Some(&partner.token), json!({"to": "ga@customer.example"})).await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{b}");
    // The worker of the server's process sends it at once.
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.expect("sent in time").unwrap();
    // The English draft is plain ASCII, so the relay sees the URL as written.
    assert!(message.contains("To: ga@customer.example"), "{message}");
    assert!(message.contains(inv["url"].as_str().unwrap()), "{message}");
    let after = delivery_settled(&app, &partner, inv["id"].as_str().unwrap()).await;
    assert!(after["sent_at"].is_string(), "{after}");
    assert_eq!(after["email_delivery"]["state"], "sent", "{after}");
    assert_eq!(
        (after["email_delivery"]["to"].as_str(), after["email_delivery"]["attempts"].as_i64()),
        (Some("ga@customer.example"), Some(1))
    );
    assert!(rx.try_recv().is_err(), "sent once");
    let actions = app.written_actions().await;
    assert!(actions.contains("email.queued") && actions.contains("email.sent"), "{actions:?}");
    app.verify_audit().await;
}

/// The invitation once its e-mail is no longer being sent (sent or failed), or as it is after
/// a few seconds.
pub(crate) async fn delivery_settled(app: &TestApp, partner: &Org, id: &str) -> serde_json::Value {
    let mut after = serde_json::Value::Null;
    for _ in 0..100 {
        after = app.get(&format!("/api/v1/invitations/{id}"), &partner.token).await.1;
        if after["email_delivery"]["state"] != "queued" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    after
}

/// A relay that answers every command but the recipient, which it refuses for good.
async fn refusing_relay() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 test ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "RCPT" => b"550 5.1.1 no such mailbox\r\n",
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(reply).await.ok();
                }
            });
        }
    });
    format!("smtp://{addr}")
}

/// Queues an invitation through a server whose relay is `url`, runs one pass of the e-mail
/// worker; answers the invitation as its partner then reads it.
async fn send_through(url: String) -> (TestApp, serde_json::Value) {
    let smtp = SmtpConfig { url, from: "partners@partnerhub.example".into() };
    let app = TestApp::spawn_with(Options { smtp: Some(smtp), no_mail_worker: true, ..Options::default() }).await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({"locale": "en"})).await;
    let path = format!("/api/v1/invitations/{}/send", inv["id"].as_str().unwrap());
    let (s, b) = app.post(&path, Some(&partner.token), json!({"to": "ga@customer.example"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    app.service.deliver_mail().await.unwrap();
    let (_, after) = app.get(&format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap()), &partner.token).await;
    assert!(after["sent_at"].is_null(), "{after}");
    (app, after)
}

#[tokio::test]
async fn a_relay_out_of_reach_is_told_apart_from_a_relay_that_refuses() {
    // Nothing listens there (bound, then let go): the relay cannot be reached, which is our
    // side unavailable for now, not a refusal: the e-mail stays queued and is tried again.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (app, after) = send_through(format!("smtp://127.0.0.1:{port}")).await;
    let d = &after["email_delivery"];
    assert_eq!(
        (d["state"].as_str(), d["last_error_kind"].as_str(), d["attempts"].as_i64()),
        (Some("queued"), Some("unreachable"), Some(1)),
        "{after}"
    );
    assert!(d["next_attempt_at"].is_string(), "{after}");
    assert!(!app.written_actions().await.contains("email.failed"));
    // A relay that answers 550: refused, for good, and said so in the audit log.
    let (app, after) = send_through(refusing_relay().await).await;
    let d = &after["email_delivery"];
    assert_eq!((d["state"].as_str(), d["last_error_kind"].as_str()), (Some("failed"), Some("refused")), "{after}");
    assert!(d["last_error"].as_str().unwrap().contains("550"), "{after}");
    assert!(d["next_attempt_at"].is_null(), "{after}");
    assert!(app.written_actions().await.contains("email.failed"));
    app.service.deliver_mail().await.unwrap();
    app.verify_audit().await;
}
