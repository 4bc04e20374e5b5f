//! `serve --demo`: an indirect provider, an indirect reseller connected to it, a direct
//! partner, two customers (one connected through the reseller and provider, one not), a
//! catalog of offers, an order already placed, an admin agent of the reseller, and a pending
//! invitation of the direct partner, so that a new user can try every flow at once: orders,
//! customer users and licenses on the partner side, the invitation page on the customer side.

use partnerhub_service::{
    Caller, NewInvitationInput, NewOfferInput, NewOrderInput, NewPartnerInput, NewUserInput, OrderItemInput, Service, ServiceError,
    SignupInput,
};

struct Account {
    who: &'static str,
    email: &'static str,
    password: String,
}

fn password() -> anyhow::Result<String> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("demo-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
}

fn partner(
    name: &str,
    ty: &str,
    pid: &str,
    domain: &str,
    email: &'static str,
    who: &'static str,
) -> anyhow::Result<(NewPartnerInput, Account)> {
    let pw = password()?;
    Ok((
        NewPartnerInput {
            name: name.into(),
            partner_type: ty.into(),
            partner_id: pid.into(),
            domain: domain.into(),
            admin_email: email.into(),
            admin_display_name: "Global admin".into(),
            admin_password: pw.clone(),
        },
        Account { who, email, password: pw },
    ))
}

fn customer(name: &str, domain: &str, email: &'static str, who: &'static str) -> anyhow::Result<(SignupInput, Account)> {
    let pw = password()?;
    Ok((
        SignupInput {
            name: name.into(),
            domain: domain.into(),
            admin_email: email.into(),
            admin_display_name: "Global admin".into(),
            admin_password: pw.clone(),
        },
        Account { who, email, password: pw },
    ))
}

async fn signed_in(s: &Service, a: &Account) -> anyhow::Result<Caller> {
    let (token, _) = s.sign_in(a.email, &a.password, "demo").await?;
    Ok(s.authenticate(&token).await?)
}

pub async fn seed(s: &Service) -> anyhow::Result<()> {
    if s.store().credentials("ga@fabrikam.example").await?.is_some() {
        eprintln!("demo data already present (passwords were printed when it was first seeded)");
        return Ok(());
    }
    let op = Caller::Operator;
    let (p, provider_account) =
        partner("Fabrikam Distribution", "indirect_provider", "4100001", "fabrikam.example", "ga@fabrikam.example", "indirect provider")?;
    let (provider, _) = s.create_partner(&op, p).await?;
    let (p, reseller_account) =
        partner("Contoso Conseil", "indirect_reseller", "5100002", "contoso.example", "ga@contoso.example", "indirect reseller")?;
    let (reseller, _) = s.create_partner(&op, p).await?;
    let (p, direct_account) =
        partner("Northwind Cloud", "direct", "6100003", "northwind.example", "ga@northwind.example", "direct partner")?;
    s.create_partner(&op, p).await?;
    s.link_provider(&op, provider.id, reseller.id).await?;
    let direct_caller = signed_in(s, &direct_account).await?;

    let (c, connected_account) = customer(
        "Adventure Works",
        "adventure-works.example",
        "ga@adventure-works.example",
        "customer (connected to the reseller and the provider)",
    )?;
    let (connected, _) = s.signup(c).await?;
    let (c, lone_account) = customer("Tailspin Toys", "tailspin.example", "ga@tailspin.example", "customer (not connected)")?;
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
    let agent_account = Account { who: "admin agent of the reseller", email: "agent@contoso.example", password: password()? };
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

    let accounts = [provider_account, reseller_account, agent_account, direct_account, connected_account, lone_account];
    eprintln!("demo organizations (sign in with POST /api/v1/auth/token):");
    for a in &accounts {
        eprintln!("  {:<55} {:<32} {}", a.who, a.email, a.password);
    }
    eprintln!("demo commerce (offers: {}):", offers.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", "));
    eprintln!("  Adventure Works (customer id {}) has 10 seats of Mail Basic,", connected.0);
    for sub in &order.subscriptions {
        eprintln!("  subscription {}, ordered by Fabrikam with Contoso (id {}) as reseller of record;", sub.id.0, reseller.id.0);
    }
    eprintln!("  agent@contoso.example creates its users (POST /api/v1/customers/{}/users) and assigns seats.", connected.0);
    eprintln!("demo invitation of Northwind Cloud, pending, in French (open it in a browser, sign in as Tailspin Toys or sign up):");
    eprintln!("  {pending_url}");
    Ok(())
}
