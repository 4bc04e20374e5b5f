//! `serve --demo`: an indirect provider, an indirect reseller connected to it, a direct
//! partner, two customers (one connected through the reseller and provider, one not), a
//! catalog of offers, an order already placed, an admin agent of the reseller, and a pending
//! invitation of the direct partner, so that a new user can try every flow at once: orders,
//! customer users and licenses on the partner side, the invitation page on the customer side.
//! Seeded on the first start; every start prints the logins, which work (their passwords are
//! derived from the server secret, and set again where they no longer work), and writes them
//! to `--demo-file` for scripts.

use partnerhub_domain::InvitationState;
use partnerhub_service::{
    Caller, DemoLogin, NewInvitationInput, NewOfferInput, NewOrderInput, NewPartnerInput, NewUserInput, OrderItemInput, Service,
    ServiceError, SignupInput,
};
use partnerhub_store::{CustomerQuery, CustomerSort, LinkSide, PageQuery};
use std::path::Path;

/// Who each demo login is, in the order they are printed.
const LOGINS: [(&str, &str); 6] = [
    ("indirect provider", "ga@fabrikam.example"),
    ("indirect reseller", "ga@contoso.example"),
    ("admin agent of the reseller", "agent@contoso.example"),
    ("direct partner", "ga@northwind.example"),
    ("customer (connected to the reseller and the provider)", "ga@adventure-works.example"),
    ("customer (not connected)", "ga@tailspin.example"),
];

struct Account {
    email: &'static str,
    password: String,
}

fn account(s: &Service, email: &'static str) -> Account {
    Account { email, password: s.demo_password(email) }
}

/// What the demo prints: its logins, and what a new user needs to try the flows at once.
#[derive(Default)]
struct Summary {
    /// `Some` on a restart: the logins whose password had to be set again, and those gone.
    restart: Option<(Vec<&'static str>, Vec<&'static str>)>,
    offers: Vec<String>,
    connected: Option<uuid::Uuid>,
    reseller: Option<uuid::Uuid>,
    /// The connected customer's open subscriptions: (id, seats, offer).
    subscriptions: Vec<(uuid::Uuid, i64, String)>,
    pending_url: Option<String>,
}

fn partner(s: &Service, name: &str, ty: &str, pid: &str, domain: &str, email: &'static str) -> (NewPartnerInput, Account) {
    let a = account(s, email);
    (
        NewPartnerInput {
            name: name.into(),
            partner_type: ty.into(),
            partner_id: pid.into(),
            domain: domain.into(),
            admin_email: email.into(),
            admin_display_name: "Global admin".into(),
            admin_password: a.password.clone(),
        },
        a,
    )
}

fn customer(s: &Service, name: &str, domain: &str, email: &'static str) -> (SignupInput, Account) {
    let a = account(s, email);
    (
        SignupInput {
            name: name.into(),
            domain: domain.into(),
            admin_email: email.into(),
            admin_display_name: "Global admin".into(),
            admin_password: a.password.clone(),
        },
        a,
    )
}

async fn signed_in(s: &Service, a: &Account) -> anyhow::Result<Caller> {
    let (token, _) = s.sign_in(a.email, &a.password, "demo").await?;
    Ok(s.authenticate(&token).await?)
}

/// Seeds the demo on the first start; on every later one, makes its logins work again. Then
/// prints the logins (and the ids and link to start from) and writes them to `file`.
pub async fn run(s: &Service, file: &Path) -> anyhow::Result<()> {
    let summary = match s.store().credentials(LOGINS[0].1).await? {
        None => seed(s).await?,
        Some(_) => restart(s).await?,
    };
    print(s, &summary);
    write(s, file);
    Ok(())
}

/// A restart: every demo login signs in with its demo password again (set again, audited,
/// where a user changed it or the secret changed); the ids are read back as the demo users.
async fn restart(s: &Service) -> anyhow::Result<Summary> {
    let (mut restored, mut gone) = (Vec::new(), Vec::new());
    for (_, email) in LOGINS {
        match s.restore_demo_login(&Caller::Operator, email).await? {
            DemoLogin::Works => {}
            DemoLogin::Restored => restored.push(email),
            DemoLogin::Gone => gone.push(email),
        }
    }
    let mut summary = Summary { restart: Some((restored, gone)), ..Summary::default() };
    // What the users did meanwhile may have changed any of this: what is still there is shown.
    let page = || PageQuery { limit: 50, cursor: None };
    if let Ok(provider) = signed_in(s, &account(s, "ga@fabrikam.example")).await {
        if let Ok(offers) = s.list_offers(&provider, page()).await {
            summary.offers = offers.items.into_iter().map(|o| o.name).collect();
        }
        let query = CustomerQuery { limit: 50, cursor: None, q: Some("Adventure Works".into()), sort: CustomerSort::Name };
        summary.connected = s.list_customers(&provider, query).await.ok().and_then(|p| p.items.first().map(|c| c.id.0));
        if let Ok(links) = s.provider_links(&provider, LinkSide::Resellers, page()).await {
            summary.reseller = links.items.iter().find(|l| l.partner.partner_id == "5100002").map(|l| l.partner.id.0);
        }
        if let Some(connected) = summary.connected
            && let Ok(subs) = s.partner_subscriptions(&provider, partnerhub_domain::OrganizationId(connected), page()).await
        {
            summary.subscriptions = subs.items.into_iter().filter(|s| s.status.as_str() != "cancelled").map(seats).collect();
        }
    }
    if let Ok(direct) = signed_in(s, &account(s, "ga@northwind.example")).await
        && let Ok(pending) = s.list_invitations(&direct, Some(InvitationState::Pending), 50, None).await
    {
        summary.pending_url = pending.items.into_iter().find_map(|v| v.url);
    }
    Ok(summary)
}

async fn seed(s: &Service) -> anyhow::Result<Summary> {
    let op = Caller::Operator;
    let (p, provider_account) =
        partner(s, "Fabrikam Distribution", "indirect_provider", "4100001", "fabrikam.example", "ga@fabrikam.example");
    let (provider, _) = s.create_partner(&op, p).await?;
    let (p, reseller_account) = partner(s, "Contoso Conseil", "indirect_reseller", "5100002", "contoso.example", "ga@contoso.example");
    let (reseller, _) = s.create_partner(&op, p).await?;
    let (p, direct_account) = partner(s, "Northwind Cloud", "direct", "6100003", "northwind.example", "ga@northwind.example");
    s.create_partner(&op, p).await?;
    s.link_provider(&op, provider.id, reseller.id).await?;
    let direct_caller = signed_in(s, &direct_account).await?;

    let (c, connected_account) = customer(s, "Adventure Works", "adventure-works.example", "ga@adventure-works.example");
    let (connected, _) = s.signup(c).await?;
    let (c, _) = customer(s, "Tailspin Toys", "tailspin.example", "ga@tailspin.example");
    s.signup(c).await?;

    // The reseller invites Adventure Works with its provider; Adventure Works accepts, which
    // grants the reseller user_admin, license_admin and helpdesk_admin in its tenant.
    let reseller_caller = signed_in(s, &reseller_account).await?;
    let no_terms = NewInvitationInput {
        customer_id: None,
        indirect_provider_id: Some(provider.id),
        roles: None,
        duration_days: None,
        auto_extend: None,
        expires_in_days: None,
        locale: None,
    };
    let inv = s.create_invitation(&reseller_caller, no_terms).await?;
    let url = inv.url.ok_or_else(|| anyhow::anyhow!("a new invitation has a URL"))?;
    let link_token = url.rsplit('/').next().unwrap_or_default().to_owned();
    let customer_caller = signed_in(s, &connected_account).await?;
    s.accept_invitation(&customer_caller, &link_token, "demo").await.map_err(|e: ServiceError| anyhow::anyhow!("demo acceptance: {e}"))?;

    // Commerce: a catalog, an admin agent of the reseller (who acts in the customer's tenant
    // through those grants), and one order by the provider with the reseller of record, so
    // that seats can be assigned at once.
    let mut offers = Vec::new();
    for (name, cents) in [("Mail Basic", 600), ("Office Standard", 1250), ("Cloud Storage 1 TB", 1000)] {
        offers.push(s.create_offer(&op, NewOfferInput { name: name.into(), unit_price_cents: cents, currency: "EUR".into() }).await?);
    }
    let agent_account = account(s, "agent@contoso.example");
    let agent = NewUserInput {
        email: agent_account.email.into(),
        display_name: "Alex (admin agent)".into(),
        password: agent_account.password.clone(),
        roles: vec!["admin_agent".into()],
    };
    s.create_user(&reseller_caller, agent).await?;
    let provider_caller = signed_in(s, &provider_account).await?;
    let mail = offers.first().ok_or_else(|| anyhow::anyhow!("the demo catalog is empty"))?;
    let order = NewOrderInput { items: vec![OrderItemInput { offer_id: mail.id, quantity: 10 }], reseller_id: Some(reseller.id) };
    let order = s.place_order(&provider_caller, connected, order).await?;

    // A pending invitation of the direct partner, in French, for the customer side: open its
    // link, then sign in as Tailspin Toys or sign up as a new customer right there.
    let pending = NewInvitationInput {
        customer_id: None,
        indirect_provider_id: None,
        roles: None,
        duration_days: None,
        auto_extend: None,
        expires_in_days: None,
        locale: Some("fr".into()),
    };
    let pending = s.create_invitation(&direct_caller, pending).await?;
    let pending_url = pending.url.ok_or_else(|| anyhow::anyhow!("a new invitation has a URL"))?;

    Ok(Summary {
        restart: None,
        offers: offers.into_iter().map(|o| o.name).collect(),
        connected: Some(connected.0),
        reseller: Some(reseller.id.0),
        subscriptions: order.subscriptions.into_iter().map(seats).collect(),
        pending_url: Some(pending_url),
    })
}

fn seats(s: partnerhub_store::Subscription) -> (uuid::Uuid, i64, String) {
    (s.id.0, s.quantity, s.offer.name)
}

fn print(s: &Service, summary: &Summary) {
    if let Some((restored, gone)) = &summary.restart {
        eprintln!("demo data already present: the same logins as on its first start");
        if !restored.is_empty() {
            eprintln!("  (their demo password set again, audited as user.password_reset: {})", restored.join(", "));
        }
        if !gone.is_empty() {
            eprintln!("  (deleted meanwhile: {})", gone.join(", "));
        }
    }
    let gone = |email: &str| summary.restart.as_ref().is_some_and(|(_, gone)| gone.contains(&email));
    eprintln!("demo organizations (sign in with POST /api/v1/auth/token, or in the portal at {}):", s.public_url());
    for (who, email) in LOGINS.iter().filter(|(_, e)| !gone(e)) {
        eprintln!("  {:<55} {:<32} {}", who, email, s.demo_password(email));
    }
    eprintln!("demo commerce (offers: {}):", summary.offers.join(", "));
    if let Some(connected) = summary.connected {
        eprintln!("  Adventure Works (customer id {connected}):");
        for (sub, quantity, offer) in &summary.subscriptions {
            let reseller = summary.reseller.map(|r| format!(" (id {r})")).unwrap_or_default();
            eprintln!(
                "  subscription {sub}: {quantity} seats of {offer}, ordered by Fabrikam with Contoso{reseller} as reseller of record;"
            );
        }
        eprintln!("  agent@contoso.example creates its users (POST /api/v1/customers/{connected}/users) and assigns seats.");
    }
    if let Some(url) = &summary.pending_url {
        eprintln!("demo invitation of Northwind Cloud, pending, in French (open it in a browser, sign in as Tailspin Toys or sign up):");
        eprintln!("  {url}");
    }
}

/// The URL and the logins as JSON, for scripts (`examples/walk.py`): readable by this user only.
fn write(s: &Service, file: &Path) {
    let logins: Vec<_> =
        LOGINS.iter().map(|(who, email)| serde_json::json!({"who": who, "email": email, "password": s.demo_password(email)})).collect();
    let doc = serde_json::json!({"url": s.public_url(), "logins": logins});
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    let written = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(file)?, text.as_bytes())
    })();
    match written {
        Ok(()) => eprintln!("demo logins written to {} (for examples/walk.py)", file.display()),
        Err(e) => eprintln!("warning: the demo logins could not be written to {}: {e}", file.display()),
    }
}
