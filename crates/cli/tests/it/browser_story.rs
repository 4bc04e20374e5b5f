//! Issue 8's "How it is checked", first bullet, in headless Chromium, in French and in English:
//! only the pages, the way people click them. The API is used for what the seed gives the
//! operator (partners, the provider–reseller link, an offer).
//!
//! A reseller makes a "New relationship" invitation with its provider, edits the draft (refused
//! without the link), copies it, clicks Done; the customer opens the link, signs up there and
//! accepts; the reseller sees the customer; the provider orders naming the reseller; the
//! reseller's global admin makes an admin agent on Users, who creates a user and gives it a license; the reseller's removal is
//! blocked by the subscription; the provider cancels it; the reseller removes with the
//! attestation; the customer's Partners page no longer lists the reseller.

use crate::browser::Browser;
use crate::support::{PASSWORD, TestApp, unique};
use fantoccini::Locator;

/// What the story reads on the pages, per language.
struct Expect {
    lang: &'static str,
    url_missing: &'static str,
    saved: &'static str,
    accepted: &'static str,
    cancelled: &'static str,
}

const FR: Expect = Expect {
    lang: "fr",
    url_missing: "Le message doit contenir le lien personnalisé de l'invitation.",
    saved: "Enregistré.",
    accepted: "Acceptée.",
    cancelled: "Annulé",
};

const EN: Expect = Expect {
    lang: "en",
    url_missing: "The message must contain the personalized link of the invitation.",
    saved: "Saved.",
    accepted: "Accepted.",
    cancelled: "Cancelled",
};

#[tokio::test]
async fn the_whole_story_of_an_indirect_sale_in_french() {
    story(&FR).await;
}

#[tokio::test]
async fn the_whole_story_of_an_indirect_sale_in_english() {
    story(&EN).await;
}

/// A fresh reader (no cookie) in language `lang`, signed in as `email` when given.
async fn as_reader(b: &Browser, lang: &str, email: Option<&str>) {
    b.client.delete_all_cookies().await.expect("forget the cookies");
    b.goto(&format!("/lang/{lang}")).await;
    if let Some(email) = email {
        b.sign_in(email, PASSWORD).await;
        assert!(!b.path().await.starts_with("/sign-in"), "{email} is signed in: {}", b.main_text().await);
    }
    assert_eq!(b.lang().await, lang);
}

async fn story(x: &Expect) {
    let app = TestApp::spawn().await;
    let provider = app.partner("indirect_provider").await;
    let reseller = app.partner("indirect_reseller").await;
    app.link(&provider, &reseller).await;
    let offer_name = format!("Mail {}", x.lang.to_uppercase());
    let offer = app.offer(&offer_name).await;
    let Some(b) = Browser::start(&app.url).await else { return };
    let shot = |name: &str| format!("story-{name}-{}", x.lang);

    // The reseller: "New relationship" with its provider.
    as_reader(&b, x.lang, Some(&reseller.email)).await;
    assert_eq!(b.path().await, "/customers");
    b.click_css("#new-relationship-link").await;
    assert_eq!(b.path().await, "/invitations/new");
    let providers = b.client.find(Locator::Css("#indirect-provider")).await.expect("the provider select");
    providers.select_by_value(&provider.id).await.expect("the provider is offered");
    b.click_css("#new-relationship").await;
    assert!(b.path().await.ends_with("/draft"), "{}", b.path().await);
    let url = b.text_of("#invitation-url").await;
    assert!(url.contains("/invite/"), "{url}");
    assert!(b.text_of("#draft-body").await.contains(&url) || b.main_text().await.contains(&url));
    b.screenshot(&shot("draft")).await;

    // An edit without the link is refused with the message, and changes nothing.
    let draft = b.path().await;
    b.fill_css("#draft-body", "Hello, please accept.").await;
    b.click_css("#save-draft").await;
    assert!(b.text_of("#draft-error").await.contains(x.url_missing), "{}", b.main_text().await);
    b.goto(&draft).await;
    let kept = b.client.find(Locator::Css("#draft-body")).await.expect("body").prop("value").await.expect("value").unwrap_or_default();
    assert!(kept.contains(&url), "the refused edit changed nothing: {kept}");
    // An edit keeping the link is saved.
    b.fill_css("#draft-body", &format!("Bonjour / Hello,\n\n{url}\n\n-- {}", reseller.partner_id)).await;
    b.click_css("#save-draft").await;
    assert!(b.main_text().await.contains(x.saved), "{}", b.main_text().await);
    let kept = b.client.find(Locator::Css("#draft-body")).await.expect("body").prop("value").await.expect("value").unwrap_or_default();
    assert!(kept.contains(&reseller.partner_id), "{kept}");
    // Copy is there (it copies with the page's script; the clipboard itself is not read here),
    // and stays on the page; then Done.
    let copy = b.client.find(Locator::Css("#copy-draft")).await.expect("a Copy button");
    assert_eq!(copy.attr("data-copy").await.expect("attr").as_deref(), Some("draft-body"));
    let before = b.path().await;
    copy.click().await.expect("copy");
    assert_eq!(b.path().await, before);
    b.click_css("#done").await;
    assert_eq!(b.path().await, "/invitations");

    // The customer opens the link, signs up right there, and accepts.
    as_reader(&b, x.lang, None).await;
    b.client.goto(&url).await.expect("the invitation page");
    assert_eq!(b.lang().await, x.lang, "the invitation speaks its language");
    let main = b.main_text().await;
    assert!(main.contains(&reseller.partner_id) && main.contains(&provider.partner_id), "who asks, and the provider: {main}");
    b.screenshot(&shot("invitation")).await;
    let name = unique("cust");
    let customer_name = format!("Customer {name}");
    let customer_email = format!("ga@{name}.example");
    b.fill_css("#sign-up [name=org_name]", &customer_name).await;
    b.fill_css("#sign-up [name=domain]", &format!("{name}.example")).await;
    b.fill_css("#sign-up [name=display_name]", "Grace").await;
    b.fill_css("#sign-up [name=email]", &customer_email).await;
    b.fill_css("#sign-up [name=password]", PASSWORD).await;
    b.click_css("#sign-up-accept").await;
    assert!(b.main_text().await.contains(x.accepted), "{}", b.main_text().await);
    assert!(b.session_cookie().await.is_none(), "answering leaves no session behind");

    // The reseller sees the customer, and its record.
    as_reader(&b, x.lang, Some(&reseller.email)).await;
    assert!(b.text_of("#customers").await.contains(&customer_name));
    b.screenshot(&shot("customers")).await;
    let link =
        b.client.find(Locator::XPath(&format!("//table[@id='customers']//a[contains(., '{customer_name}')]"))).await.expect("a link");
    let href = link.attr("href").await.expect("href").expect("href");
    let customer_id = href.trim_start_matches("/customers/").split(['?', '#']).next().expect("id").to_owned();
    b.click_css(&format!("#customers a[href='{href}']")).await;
    assert_eq!(b.path().await, format!("/customers/{customer_id}"));
    assert!(b.main_text().await.contains(&customer_name));
    b.screenshot(&shot("customer")).await;

    // The provider orders, naming the reseller.
    as_reader(&b, x.lang, Some(&provider.email)).await;
    b.goto(&format!("/customers/{customer_id}/orders/new")).await;
    let resellers = b.client.find(Locator::Css("#reseller")).await.expect("the reseller select");
    resellers.select_by_value(&reseller.id).await.expect("the reseller is offered");
    b.fill_css(&format!("#qty-{offer}"), "10").await;
    b.click_css("#place-order").await;
    assert!(b.path().await.starts_with(&format!("/subscriptions?customer={customer_id}")), "{}", b.path().await);
    let row = b.client.find(Locator::Css("#subscriptions tr[id^='sub-']")).await.expect("the subscription");
    let sub = row.attr("id").await.expect("id").expect("id");
    assert!(row.text().await.expect("text").contains(&offer_name));

    // The reseller's global admin makes an admin agent on Users (only admin agents act in a
    // customer's tenant), who signs in and chooses a password first.
    as_reader(&b, x.lang, Some(&reseller.email)).await;
    b.goto("/users").await;
    let agent = format!("{}@{}.example", unique("agent"), reseller.partner_id.to_lowercase());
    b.fill_css("#new-user [name=display_name]", "Alan").await;
    b.fill_css("#new-user [name=email]", &agent).await;
    b.client.find(Locator::Css("#new-role-admin_agent")).await.expect("the admin agent role").click().await.expect("tick");
    b.click_css("#create-user").await;
    let temporary = b
        .client
        .find(Locator::Css("#temporary-password"))
        .await
        .expect("shown once")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(!temporary.is_empty(), "{}", b.main_text().await);
    as_reader(&b, x.lang, None).await;
    b.sign_in(&agent, &temporary).await;
    assert_eq!(b.path().await, "/account/password");
    b.fill("current_password", &temporary).await;
    b.fill("new_password", PASSWORD).await;
    b.submit_form_of("new_password").await;
    assert_ne!(b.path().await, "/account/password", "{}", b.main_text().await);

    // The agent creates a user of the customer and gives it a license.
    b.goto(&format!("/customers/{customer_id}?tab=users")).await;
    let user_email = format!("{}@{name}.example", unique("u"));
    b.fill_css("#create-user-form [name=email]", &user_email).await;
    b.fill_css("#create-user-form [name=display_name]", "Linus").await;
    b.click_css("#create-user").await;
    assert!(!b.text_of("#temporary-password").await.trim().is_empty(), "the temporary password, shown once");
    b.goto(&format!("/customers/{customer_id}?tab=licenses")).await;
    b.client
        .find(Locator::XPath(&format!("//select[@id='assign-user']/option[contains(., '{user_email}')]")))
        .await
        .expect("the new user is offered")
        .click()
        .await
        .expect("choose the user");
    b.click_css("#assign-license").await;
    assert!(b.text_of("#licenses").await.contains(&user_email), "{}", b.main_text().await);

    // The reseller tries to remove the relationship: blocked, the page names the subscription.
    as_reader(&b, x.lang, Some(&reseller.email)).await;
    b.goto(&format!("/customers/{customer_id}")).await;
    b.click_css("#remove-relationship").await;
    assert_eq!(b.path().await, format!("/customers/{customer_id}/remove"));
    assert!(b.text_of("#blockers").await.contains(&offer_name), "{}", b.main_text().await);
    let remove = b.client.find(Locator::Css("#remove")).await.expect("the remove button");
    assert!(!remove.is_enabled().await.expect("enabled"), "removal is blocked");
    b.screenshot(&shot("removal-blocked")).await;

    // The provider cancels the subscription.
    as_reader(&b, x.lang, Some(&provider.email)).await;
    b.goto(&format!("/subscriptions?customer={customer_id}")).await;
    b.click_css(&format!("#{sub} button[value='cancelled']")).await;
    assert!(b.text_of(&format!("#{sub}")).await.contains(x.cancelled), "{}", b.main_text().await);

    // The reseller removes, with the attestation ticked.
    as_reader(&b, x.lang, Some(&reseller.email)).await;
    b.goto(&format!("/customers/{customer_id}/remove")).await;
    assert!(!b.has("#blockers").await, "{}", b.main_text().await);
    b.client.find(Locator::Css("#attest")).await.expect("the attestation").click().await.expect("tick");
    b.click_css("#remove").await;
    assert!(b.path().await.starts_with("/customers?removed="), "{}", b.path().await);
    assert!(!b.has("#customers a[href^='/customers/']").await, "the customer left the list: {}", b.main_text().await);

    // The customer's Partners page lists the provider, no longer the reseller.
    as_reader(&b, x.lang, Some(&customer_email)).await;
    assert_eq!(b.path().await, "/partners");
    assert!(b.has(&format!("#partner-{}", provider.id)).await, "{}", b.main_text().await);
    assert!(!b.has(&format!("#partner-{}", reseller.id)).await, "{}", b.main_text().await);
    assert!(!b.main_text().await.contains(&reseller.partner_id));
    b.screenshot(&shot("partners")).await;
    b.close().await;
    app.verify_audit().await;
}
