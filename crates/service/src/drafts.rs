//! The invitation e-mail draft, in French and English. The French follows the wording of the
//! seed ("relation de revendeur", "fournisseur indirect", "autorisations d'administrateur").
//! Every draft contains the personalized URL verbatim.

use partnerhub_domain::{DelegatedRole, Locale};
use partnerhub_store::PartnerRef;
use time::OffsetDateTime;

pub(crate) fn role_label(locale: Locale, r: DelegatedRole) -> &'static str {
    match (locale, r) {
        (Locale::En, DelegatedRole::GlobalAdmin) => "Global administrator",
        (Locale::En, DelegatedRole::UserAdmin) => "User administrator",
        (Locale::En, DelegatedRole::LicenseAdmin) => "License administrator",
        (Locale::En, DelegatedRole::HelpdeskAdmin) => "Helpdesk administrator",
        (Locale::En, DelegatedRole::BillingAdmin) => "Billing administrator",
        (Locale::En, DelegatedRole::GlobalReader) => "Global reader",
        (Locale::Fr, DelegatedRole::GlobalAdmin) => "Administrateur général",
        (Locale::Fr, DelegatedRole::UserAdmin) => "Administrateur des utilisateurs",
        (Locale::Fr, DelegatedRole::LicenseAdmin) => "Administrateur des licences",
        (Locale::Fr, DelegatedRole::HelpdeskAdmin) => "Administrateur du support technique",
        (Locale::Fr, DelegatedRole::BillingAdmin) => "Administrateur de facturation",
        (Locale::Fr, DelegatedRole::GlobalReader) => "Lecteur général",
    }
}

pub(crate) fn date(locale: Locale, t: OffsetDateTime) -> String {
    let d = t.date();
    match locale {
        Locale::En => format!("{} {} {}", d.day(), d.month(), d.year()),
        Locale::Fr => {
            const MOIS: [&str; 12] =
                ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];
            format!("{} {} {}", d.day(), MOIS[usize::from(u8::from(d.month())) - 1], d.year())
        }
    }
}

/// Subject and body of a fresh draft.
pub fn render(
    locale: Locale,
    partner: &PartnerRef,
    provider: Option<&PartnerRef>,
    url: &str,
    roles: &[DelegatedRole],
    duration_days: i64,
    expires_at: OffsetDateTime,
) -> (String, String) {
    let roles = roles.iter().map(|r| format!("  - {}", role_label(locale, *r))).collect::<Vec<_>>().join("\n");
    let expiry = date(locale, expires_at);
    let (name, pid) = (&partner.name, &partner.partner_id);
    match locale {
        Locale::Fr => {
            let subject = match provider {
                Some(p) => format!("{name} et {} vous invitent à établir une relation de revendeur", p.name),
                None => format!("{name} vous invite à établir une relation de revendeur"),
            };
            let with_provider = match provider {
                Some(p) => format!(
                    " et avec son fournisseur indirect, {} (ID partenaire {}). Ce fournisseur indirect pourra ainsi envoyer des commandes pour le compte de votre organisation",
                    p.name, p.partner_id
                ),
                None => String::new(),
            };
            let body = format!(
                "Bonjour,\n\n\
                 {name} (ID partenaire {pid}) vous invite à établir une relation de revendeur avec lui{with_provider}.\n\n\
                 Pour accepter, un administrateur général de votre organisation doit ouvrir le lien ci-dessous. \
                 Ce lien est personnalisé : il relie votre organisation directement au compte de {name}.\n\n\
                 {url}\n\n\
                 Une fois l'invitation acceptée, {name} disposera des autorisations d'administrateur délégué suivantes, \
                 pendant {duration_days} jours, pour gérer en votre nom vos abonnements, vos licences et vos utilisateurs :\n\
                 {roles}\n\n\
                 Vous pouvez retirer ces autorisations ou mettre fin à la relation à tout moment.\n\
                 Cette invitation expire le {expiry}.\n\n\
                 Cordialement,\n\
                 {name}\n"
            );
            (subject, body)
        }
        Locale::En => {
            let subject = match provider {
                Some(p) => format!("{name} and {} invite you to a reseller relationship", p.name),
                None => format!("{name} invites you to a reseller relationship"),
            };
            let with_provider = match provider {
                Some(p) => format!(
                    ", together with its indirect provider {} (partner ID {}), who will then be able to place orders on your organization's behalf",
                    p.name, p.partner_id
                ),
                None => String::new(),
            };
            let body = format!(
                "Hello,\n\n\
                 {name} (partner ID {pid}) invites you to establish a reseller relationship{with_provider}.\n\n\
                 To accept, a global administrator of your organization must open the link below. \
                 The link is personalized: it connects your organization directly to {name}'s account.\n\n\
                 {url}\n\n\
                 Once you accept, {name} will hold these delegated administrator roles for {duration_days} days, \
                 to manage your subscriptions, licenses and users on your behalf:\n\
                 {roles}\n\n\
                 You can remove these roles or end the relationship at any time.\n\
                 This invitation expires on {expiry}.\n\n\
                 Best regards,\n\
                 {name}\n"
            );
            (subject, body)
        }
    }
}

/// Where the URL stands in a stored draft. The URL carries the token, and the database must
/// not: drafts are stored with placeholders and the URL and token are put back, from the
/// secret, only when a draft is shown or sent.
pub const URL_PLACEHOLDER: &str = "{invitation_url}";
/// Where a bare token (the URL's last segment, pasted on its own) stands in a stored draft.
pub const TOKEN_PLACEHOLDER: &str = "{invitation_token}";

/// An edited subject or body as stored: the invitation's URL, then any bare copy of its
/// token, replaced by their placeholders, so a copy of the database holds no usable link.
pub fn seal(text: &str, url: &str, token: &str) -> String {
    let text = text.replace(url, URL_PLACEHOLDER);
    if token.is_empty() { text } else { text.replace(token, TOKEN_PLACEHOLDER) }
}

/// A stored subject or body as shown or sent: the placeholders replaced by the URL and token.
pub fn unseal(text: &str, url: &str, token: &str) -> String {
    text.replace(URL_PLACEHOLDER, url).replace(TOKEN_PLACEHOLDER, token)
}

/// A `mailto:` link that opens the draft in the partner's mail client (RFC 6068).
pub fn mailto(subject: &str, body: &str) -> String {
    format!("mailto:?subject={}&body={}", urlencoding::encode(subject), urlencoding::encode(&body.replace('\n', "\r\n")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use partnerhub_domain::OrganizationId;
    use time::macros::datetime;

    fn partner(name: &str, pid: &str) -> PartnerRef {
        PartnerRef { id: OrganizationId(uuid::Uuid::nil()), name: name.into(), partner_id: pid.into(), domain: "x.example".into() }
    }

    const URL: &str = "https://partners.example/invite/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";

    #[test]
    fn drafts_in_both_languages_carry_the_url_and_read_well() {
        let reseller = partner("Contoso Conseil", "5100002");
        let provider = partner("Fabrikam Distribution", "4100001");
        for locale in [Locale::En, Locale::Fr] {
            for prov in [None, Some(&provider)] {
                let (subject, body) = render(locale, &reseller, prov, URL, &DelegatedRole::DEFAULT, 365, datetime!(2027-02-23 10:00 UTC));
                assert!(body.contains(URL));
                insta::assert_snapshot!(
                    format!("draft_{}_{}", locale.as_str(), if prov.is_some() { "with_provider" } else { "direct" }),
                    format!("{subject}\n---\n{body}")
                );
            }
        }
    }

    #[test]
    fn sealed_text_holds_no_token_and_unseals_to_what_was_typed() {
        let token = URL.rsplit('/').next().unwrap_or_default();
        let typed = format!("Open {URL} or paste {token} (again: {URL})");
        let sealed = seal(&typed, URL, token);
        assert!(!sealed.contains(token), "{sealed}");
        assert_eq!(unseal(&sealed, URL, token), typed);
    }

    #[test]
    fn mailto_escapes_everything() {
        let m = mailto("Hi & bye", "a\nb=c");
        assert_eq!(m, "mailto:?subject=Hi%20%26%20bye&body=a%0D%0Ab%3Dc");
    }
}
