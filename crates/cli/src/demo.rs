//! `serve --demo`: an indirect provider, an indirect reseller connected to it, a direct
//! partner, and two customers (one connected through the reseller and provider, one not).

use partnerhub_service::{Caller, NewInvitationInput, NewPartnerInput, Service, ServiceError, SignupInput};

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

pub async fn seed(s: &Service) -> anyhow::Result<()> {
    if s.store().credentials("ga@fabrikam.example").await?.is_some() {
        eprintln!("demo data already present (passwords were printed when it was first seeded)");
        return Ok(());
    }
    let op = Caller::Operator;
    let mut accounts = Vec::new();
    let partner = |name: &'static str,
                   ty: &'static str,
                   pid: &'static str,
                   domain: &'static str,
                   email: &'static str,
                   who: &'static str|
     -> anyhow::Result<(NewPartnerInput, Account)> {
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
    };
    let (p, a) =
        partner("Fabrikam Distribution", "indirect_provider", "4100001", "fabrikam.example", "ga@fabrikam.example", "indirect provider")?;
    let (provider, _) = s.create_partner(&op, p).await?;
    accounts.push(a);
    let (p, a) = partner("Contoso Conseil", "indirect_reseller", "5100002", "contoso.example", "ga@contoso.example", "indirect reseller")?;
    let (reseller, _) = s.create_partner(&op, p).await?;
    accounts.push(a);
    let (p, a) = partner("Northwind Cloud", "direct", "6100003", "northwind.example", "ga@northwind.example", "direct partner")?;
    s.create_partner(&op, p).await?;
    accounts.push(a);
    s.link_provider(&op, provider.id, reseller.id).await?;

    let customer =
        |name: &'static str, domain: &'static str, email: &'static str, who: &'static str| -> anyhow::Result<(SignupInput, Account)> {
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
        };
    let (c, a) = customer(
        "Adventure Works",
        "adventure-works.example",
        "ga@adventure-works.example",
        "customer (connected to the reseller and the provider)",
    )?;
    s.signup(c).await?;
    let connected_pw = a.password.clone();
    accounts.push(a);
    let (c, a) = customer("Tailspin Toys", "tailspin.example", "ga@tailspin.example", "customer (not connected)")?;
    s.signup(c).await?;
    accounts.push(a);

    // The reseller invites Adventure Works with its provider; Adventure Works accepts.
    let reseller_pw = accounts[1].password.clone();
    let (token, _) = s.sign_in("ga@contoso.example", &reseller_pw, "demo").await?;
    let reseller_caller = s.authenticate(&token).await?;
    let inv = s
        .create_invitation(
            &reseller_caller,
            NewInvitationInput {
                customer_id: None,
                indirect_provider_id: Some(provider.id),
                roles: None,
                duration_days: None,
                auto_extend: None,
                expires_in_days: None,
                locale: None,
            },
        )
        .await?;
    let url = inv.url.ok_or_else(|| anyhow::anyhow!("a new invitation has a URL"))?;
    let link_token = url.rsplit('/').next().unwrap_or_default().to_owned();
    let (token, _) = s.sign_in("ga@adventure-works.example", &connected_pw, "demo").await?;
    let customer_caller = s.authenticate(&token).await?;
    s.accept_invitation(&customer_caller, &link_token, "demo").await.map_err(|e: ServiceError| anyhow::anyhow!("demo acceptance: {e}"))?;

    eprintln!("demo organizations (sign in with POST /api/v1/auth/token):");
    for a in &accounts {
        eprintln!("  {:<55} {:<32} {}", a.who, a.email, a.password);
    }
    Ok(())
}
