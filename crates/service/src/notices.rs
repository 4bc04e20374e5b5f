//! The e-mails partnerhub writes by itself, in French and English: the reminder of a pending
//! invitation (to the customer, in the invitation's language) and the warning that grants end
//! soon (to the partner's global admins and admin agents, each in their own language).

use crate::drafts::{self, URL_PLACEHOLDER};
use partnerhub_domain::{DelegatedRole, Locale};
use partnerhub_store::PartnerRef;
use time::OffsetDateTime;

/// Subject and body of the reminder of an invitation still pending; the body carries the
/// invitation URL as [`URL_PLACEHOLDER`] (put back when sent, like a stored draft).
pub fn reminder(locale: Locale, partner: &PartnerRef, provider: Option<&PartnerRef>, expires_at: OffsetDateTime) -> (String, String) {
    let (name, pid) = (&partner.name, &partner.partner_id);
    let expiry = drafts::date(locale, expires_at);
    match locale {
        Locale::Fr => {
            let with = provider.map(|p| format!(" et son fournisseur indirect, {},", p.name)).unwrap_or_default();
            (
                format!("Rappel : l'invitation de {name} expire le {expiry}"),
                format!(
                    "Bonjour,\n\n\
                     {name} (ID partenaire {pid}){with} vous a invité à établir une relation de revendeur. \
                     Cette invitation n'a pas encore reçu de réponse et expire le {expiry}.\n\n\
                     Pour l'accepter ou la refuser, un administrateur général de votre organisation doit ouvrir ce lien :\n\n\
                     {URL_PLACEHOLDER}\n\n\
                     Si vous ne souhaitez pas donner suite, vous pouvez ignorer ce message : l'invitation expirera d'elle-même.\n\n\
                     Cordialement,\n\
                     {name}\n"
                ),
            )
        }
        Locale::En => {
            let with = provider.map(|p| format!(" and its indirect provider {}", p.name)).unwrap_or_default();
            (
                format!("Reminder: {name}'s invitation expires on {expiry}"),
                format!(
                    "Hello,\n\n\
                     {name} (partner ID {pid}){with} invited you to establish a reseller relationship. \
                     The invitation has not been answered yet and expires on {expiry}.\n\n\
                     To accept or decline it, a global administrator of your organization must open this link:\n\n\
                     {URL_PLACEHOLDER}\n\n\
                     If you do not wish to go ahead, you can ignore this message: the invitation will expire by itself.\n\n\
                     Best regards,\n\
                     {name}\n"
                ),
            )
        }
    }
}

/// Subject and body of the warning that a partner's grants in a customer's tenant end in
/// `days` days; `link` is the customer's page in the partner's portal.
pub fn grants_expiring(
    locale: Locale,
    customer_name: &str,
    roles: &[DelegatedRole],
    days: i64,
    expires_at: OffsetDateTime,
    link: &str,
) -> (String, String) {
    let roles = roles.iter().map(|r| format!("  - {}", drafts::role_label(locale, *r))).collect::<Vec<_>>().join("\n");
    let end = drafts::date(locale, expires_at);
    match locale {
        Locale::Fr => {
            let when = if days == 1 { "demain".to_owned() } else { format!("dans {days} jours") };
            (
                format!("Vos autorisations d'administrateur délégué chez {customer_name} prennent fin {when}"),
                format!(
                    "Bonjour,\n\n\
                     Les autorisations d'administrateur délégué que {customer_name} a accordées à votre organisation \
                     prennent fin le {end} :\n\
                     {roles}\n\n\
                     Passé cette date, vos agents ne pourront plus gérer les utilisateurs, les licences ni les abonnements \
                     de ce client. Pour les conserver, envoyez-lui une nouvelle invitation liée à ce client ; \
                     une fois acceptée, elle remplace ces autorisations :\n\n\
                     {link}\n\n\
                     La relation de revendeur, elle, reste active.\n\n\
                     -- partnerhub\n"
                ),
            )
        }
        Locale::En => {
            let when = if days == 1 { "tomorrow".to_owned() } else { format!("in {days} days") };
            (
                format!("Your delegated admin roles at {customer_name} end {when}"),
                format!(
                    "Hello,\n\n\
                     The delegated administrator roles that {customer_name} gave your organization end on {end}:\n\
                     {roles}\n\n\
                     After that date your agents can no longer manage this customer's users, licenses or subscriptions. \
                     To keep them, send the customer a new invitation bound to it; once accepted, it replaces these roles:\n\n\
                     {link}\n\n\
                     The reseller relationship itself stays active.\n\n\
                     -- partnerhub\n"
                ),
            )
        }
    }
}
