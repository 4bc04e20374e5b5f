//! The portal's two languages. Every page keeps its words in a struct with one field per
//! string and one value per language (`fn words(l) -> &'static Words`): a string missing in
//! one language does not compile. Shared words (roles, states, dates) are here.

use axum::http::{HeaderMap, header};
use partnerhub_domain::{DelegatedRole, InvitationState, Locale, Role, SubscriptionStatus, ValidationErrors};
use partnerhub_service::Conflict;
use time::OffsetDateTime;

/// The cookie the language switch sets (a preference, not a secret).
pub(crate) const LANG_COOKIE: &str = "ph_lang";

/// The reader's language: the switch's cookie, else `Accept-Language` (first of fr/en by
/// q-value), else English.
pub(crate) fn negotiate(headers: &HeaderMap) -> Locale {
    if let Some(l) = super::session::cookie(headers, LANG_COOKIE).and_then(|v| parse(&v)) {
        return l;
    }
    accept_language(headers).unwrap_or_default()
}

pub(crate) fn parse(s: &str) -> Option<Locale> {
    match s {
        "fr" => Some(Locale::Fr),
        "en" => Some(Locale::En),
        _ => None,
    }
}

fn accept_language(headers: &HeaderMap) -> Option<Locale> {
    let raw = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut best: Option<(f32, Locale)> = None;
    for part in raw.split(',').take(32) {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .filter(|q| q.is_finite())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or_default();
        let Some(l) = parse(primary) else { continue };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, l));
        }
    }
    best.map(|(_, l)| l)
}

const MONTHS_FR: [&str; 12] =
    ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];
const MONTHS_EN: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// "23 février 2027" / "23 February 2027" (UTC).
pub(crate) fn date(l: Locale, t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let m = usize::from(u8::from(t.month())) - 1;
    let month = match l {
        Locale::Fr => MONTHS_FR[m],
        Locale::En => MONTHS_EN[m],
    };
    match (l, t.day()) {
        // French writes the first of the month as an ordinal: « 1er mars 2027 ».
        (Locale::Fr, 1) => format!("1er {month} {}", t.year()),
        (_, day) => format!("{day} {month} {}", t.year()),
    }
}

/// "23 février 2027 à 14:05 UTC" / "23 February 2027, 14:05 UTC".
pub(crate) fn date_time(l: Locale, t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    match l {
        Locale::Fr => format!("{} à {:02}:{:02} UTC", date(l, t), t.hour(), t.minute()),
        Locale::En => format!("{}, {:02}:{:02} UTC", date(l, t), t.hour(), t.minute()),
    }
}

/// "90 jours" / "90 days", "1 jour" / "1 day".
pub(crate) fn days(l: Locale, n: i64) -> String {
    match (l, n) {
        (Locale::Fr, 1) => "1 jour".into(),
        (Locale::Fr, n) => format!("{n} jours"),
        (Locale::En, 1) => "1 day".into(),
        (Locale::En, n) => format!("{n} days"),
    }
}

/// A role of the customer's tenant granted to a partner, as a word.
pub(crate) fn delegated_role(l: Locale, r: DelegatedRole) -> &'static str {
    use DelegatedRole::*;
    match (l, r) {
        (Locale::Fr, GlobalAdmin) => "Administrateur général",
        (Locale::Fr, UserAdmin) => "Administrateur des utilisateurs",
        (Locale::Fr, LicenseAdmin) => "Administrateur de licences",
        (Locale::Fr, HelpdeskAdmin) => "Administrateur du support technique",
        (Locale::Fr, BillingAdmin) => "Administrateur de facturation",
        (Locale::Fr, GlobalReader) => "Lecteur général",
        (Locale::En, GlobalAdmin) => "Global administrator",
        (Locale::En, UserAdmin) => "User administrator",
        (Locale::En, LicenseAdmin) => "License administrator",
        (Locale::En, HelpdeskAdmin) => "Helpdesk administrator",
        (Locale::En, BillingAdmin) => "Billing administrator",
        (Locale::En, GlobalReader) => "Global reader",
    }
}

/// A role of a user in its own organization, as a word.
pub(crate) fn role(l: Locale, r: Role) -> &'static str {
    use Role::*;
    match (l, r) {
        (Locale::Fr, GlobalAdmin) => "Administrateur général",
        (Locale::Fr, AdminAgent) => "Agent d'administration",
        (Locale::Fr, SalesAgent) => "Agent commercial",
        (Locale::Fr, HelpdeskAgent) => "Agent du support technique",
        (Locale::Fr, BillingAdmin) => "Administrateur de facturation",
        (Locale::Fr, UserAdmin) => "Administrateur des utilisateurs",
        (Locale::En, GlobalAdmin) => "Global admin",
        (Locale::En, AdminAgent) => "Admin agent",
        (Locale::En, SalesAgent) => "Sales agent",
        (Locale::En, HelpdeskAgent) => "Helpdesk agent",
        (Locale::En, BillingAdmin) => "Billing admin",
        (Locale::En, UserAdmin) => "User admin",
    }
}

pub(crate) fn invitation_state(l: Locale, s: InvitationState) -> &'static str {
    use InvitationState::*;
    match (l, s) {
        (Locale::Fr, Pending) => "En attente",
        (Locale::Fr, Accepted) => "Acceptée",
        (Locale::Fr, Declined) => "Refusée",
        (Locale::Fr, Revoked) => "Révoquée",
        (Locale::Fr, Expired) => "Expirée",
        (Locale::En, Pending) => "Pending",
        (Locale::En, Accepted) => "Accepted",
        (Locale::En, Declined) => "Declined",
        (Locale::En, Revoked) => "Revoked",
        (Locale::En, Expired) => "Expired",
    }
}

pub(crate) fn subscription_status(l: Locale, s: SubscriptionStatus) -> &'static str {
    use SubscriptionStatus::*;
    match (l, s) {
        (Locale::Fr, Active) => "Actif",
        (Locale::Fr, Suspended) => "Suspendu",
        (Locale::Fr, Cancelled) => "Annulé",
        (Locale::En, Active) => "Active",
        (Locale::En, Suspended) => "Suspended",
        (Locale::En, Cancelled) => "Cancelled",
    }
}

/// An audit record's action as words; `None` for an action this version has no words for
/// (shown as its code).
pub(crate) fn audit_action(l: Locale, action: &str) -> Option<&'static str> {
    let (fr, en) = match action {
        // Records written before issue 11 named these three otherwise (see docs/audit.md).
        "customer.created" => ("Client créé", "Customer created"),
        "email.sent" => ("E-mail envoyé", "E-mail sent"),
        "email.queued" => ("E-mail mis en file d'envoi", "E-mail queued"),
        "email.failed" => ("E-mail non envoyé", "E-mail not sent"),
        "grant.expired" => ("Rôle délégué expiré", "Role expired"),
        "grant.extended" => ("Rôle délégué prolongé", "Role extended"),
        "grant.expiring" => ("Fin prochaine d'un rôle délégué", "Role ends soon"),
        "invitation.expired" => ("Invitation expirée", "Invitation expired"),
        "grant.created" => ("Rôle délégué accordé", "Role granted"),
        "grant.revoked" => ("Rôle délégué révoqué", "Role revoked"),
        "invitation.accepted" => ("Invitation acceptée", "Invitation accepted"),
        "invitation.created" => ("Invitation créée", "Invitation created"),
        "invitation.declined" => ("Invitation refusée", "Invitation declined"),
        "invitation.revoked" => ("Invitation révoquée", "Invitation revoked"),
        "invitation.sent" => ("Invitation envoyée", "Invitation sent"),
        "license.assigned" => ("Licence attribuée", "License assigned"),
        "license.released" => ("Licence libérée", "License released"),
        "offer.created" => ("Offre créée", "Offer created"),
        "offer.disabled" => ("Offre désactivée", "Offer disabled"),
        "order.created" => ("Commande passée", "Order placed"),
        "organization.created" => ("Organisation créée", "Organization created"),
        "partner.created" => ("Partenaire créé", "Partner created"),
        "provider_link.accepted" => ("Lien fournisseur accepté", "Provider link accepted"),
        "provider_link.created" => ("Lien fournisseur créé", "Provider link created"),
        "provider_link.declined" => ("Demande de lien refusée", "Provider link declined"),
        "provider_link.ended" => ("Lien fournisseur terminé", "Provider link ended"),
        "provider_link.requested" => ("Lien fournisseur demandé", "Provider link requested"),
        "relationship.created" => ("Relation créée", "Relationship created"),
        "relationship.removed" => ("Relation supprimée", "Relationship removed"),
        "session.created" => ("Connexion", "Signed in"),
        "session.ended" => ("Session terminée", "Session ended"),
        "subscription.updated" => ("Abonnement modifié", "Subscription changed"),
        "user.created" => ("Utilisateur créé", "User created"),
        "user.deleted" => ("Utilisateur supprimé", "User deleted"),
        "user.updated" => ("Utilisateur modifié", "User changed"),
        "user.password_changed" => ("Mot de passe changé", "Password changed"),
        "user.password_reset" => ("Mot de passe réinitialisé", "Password reset"),
        "user.mfa_enrolment_started" => ("Vérification en deux étapes commencée", "Two-step verification started"),
        "user.mfa_enabled" => ("Vérification en deux étapes activée", "Two-step verification turned on"),
        "user.mfa_disabled" => ("Vérification en deux étapes retirée", "Two-step verification removed"),
        "user.mfa_recovery_code_used" => ("Code de récupération utilisé", "Recovery code used"),
        _ => return None,
    };
    Some(match l {
        Locale::Fr => fr,
        Locale::En => en,
    })
}

/// The kind of thing an audit record is about, as a word.
pub(crate) fn audit_target(l: Locale, kind: &str) -> Option<&'static str> {
    let (fr, en) = match kind {
        "organization" => ("Organisation", "Organization"),
        "user" => ("Utilisateur", "User"),
        "order" => ("Commande", "Order"),
        "subscription" => ("Abonnement", "Subscription"),
        "license" => ("Licence", "License"),
        "invitation" => ("Invitation", "Invitation"),
        "relationship" => ("Relation", "Relationship"),
        "grant" => ("Rôle délégué", "Grant"),
        "offer" => ("Offre", "Offer"),
        "session" => ("Session", "Session"),
        "provider_link" => ("Lien fournisseur", "Provider link"),
        "operator" => ("Exploitant", "Operator"),
        _ => return None,
    };
    Some(match l {
        Locale::Fr => fr,
        Locale::En => en,
    })
}

/// A rule of the current state that refused a change, in the reader's words.
pub(crate) fn conflict(l: Locale, c: Conflict) -> &'static str {
    let (fr, en) = match c {
        Conflict::RelationshipEnded => (
            "La relation a pris fin pendant l'acceptation de l'invitation : acceptez-la de nouveau.",
            "The relationship ended while the invitation was being accepted: accept it again.",
        ),
        Conflict::DomainTaken => ("Ce domaine est déjà pris.", "That domain is already taken."),
        Conflict::EmailTaken => {
            ("Cette adresse e-mail est déjà utilisée par un autre utilisateur.", "That e-mail address is already used by another user.")
        }
        Conflict::PartnerIdTaken => ("Cet identifiant de partenaire est déjà pris.", "That partner id is already taken."),
        Conflict::LastGlobalAdmin => (
            "Une organisation garde toujours au moins un administrateur général : nommez-en un autre d'abord.",
            "An organization always keeps at least one global administrator: make someone else one first.",
        ),
        Conflict::ProviderLinkExists => ("Ces partenaires sont déjà liés.", "These partners are already linked."),
        Conflict::ProviderLinkNotPending => (
            "Ce lien est déjà actif, ce n'est plus une demande : terminez-le plutôt.",
            "This link is already active, not a pending request: end it instead.",
        ),
        Conflict::ResellerDisconnected => {
            ("Le revendeur n'est plus lié à ce fournisseur indirect.", "The reseller is no longer connected to that indirect provider.")
        }
        Conflict::QuantityBelowAssigned => (
            "La quantité ne peut pas descendre sous le nombre de licences attribuées : libérez des licences d'abord.",
            "The quantity cannot drop below the licenses assigned: release licenses first.",
        ),
        Conflict::SubscriptionCancelled => {
            ("L'abonnement est annulé, ce qui est définitif.", "The subscription is cancelled, which is final.")
        }
        Conflict::SubscriptionNotActive => {
            ("Les licences ne s'attribuent que depuis un abonnement actif.", "Licenses are assigned only from an active subscription.")
        }
        Conflict::NoSeats => ("Toutes les licences de l'abonnement sont attribuées.", "Every seat of the subscription is assigned."),
        Conflict::LicenseExists => {
            ("L'utilisateur a déjà une licence de cet abonnement.", "The user already holds a license of that subscription.")
        }
        Conflict::TotpActive => ("La validation en deux étapes est déjà active.", "Two-step verification is already on."),
        Conflict::NoTotpPending => ("Aucune activation n'est en cours : recommencez.", "No enrolment is in progress: start again."),
        Conflict::EnrolmentChanged => ("L'activation a changé entre-temps : recommencez.", "The enrolment changed meanwhile: start again."),
        Conflict::Other(_) => (
            "Ce n'est pas possible dans l'état actuel. Rechargez la page et réessayez.",
            "This cannot be done in the current state. Reload the page and try again.",
        ),
    };
    match l {
        Locale::Fr => fr,
        Locale::En => en,
    }
}

/// What a refused form says, in the reader's language: each field by its label, then why.
/// Messages of the value types are translated to French when this version knows them; zxcvbn's
/// advice on a weak password is English only, so French says only that it is too easy.
pub(crate) fn invalid(l: Locale, e: &ValidationErrors) -> String {
    let (sep, between) = match l {
        Locale::Fr => (" : ", " ; "),
        Locale::En => (": ", "; "),
    };
    e.0.iter().map(|f| format!("{}{sep}{}", field(l, &f.field), message(l, &f.message))).collect::<Vec<_>>().join(between)
}

/// A form field's label for [`invalid`]; the field's own name when this version has none.
fn field(l: Locale, name: &str) -> String {
    let base = name.rsplit('.').next().unwrap_or(name);
    let (fr, en) = match base {
        "email" => ("Adresse e-mail", "E-mail"),
        "password" => ("Mot de passe", "Password"),
        "new_password" => ("Nouveau mot de passe", "New password"),
        "current_password" => ("Mot de passe actuel", "Current password"),
        "display_name" => ("Nom", "Name"),
        "name" => ("Nom", "Name"),
        "domain" => ("Domaine", "Domain"),
        "roles" => ("Rôles", "Roles"),
        "subject" => ("Objet", "Subject"),
        "body" => ("Message", "Body"),
        "code" => ("Code", "Code"),
        "duration_days" => ("Durée", "Duration"),
        "expires_in_days" => ("Expiration", "Expiry"),
        "auto_extend" => ("Prolongation automatique", "Automatic extension"),
        "locale" => ("Langue", "Language"),
        "partner_id" | "provider_partner_id" => ("ID partenaire", "Partner id"),
        "indirect_provider_id" => ("Fournisseur indirect", "Indirect provider"),
        "reseller_id" => ("Revendeur", "Reseller"),
        "items" | "quantity" => ("Quantité", "Quantity"),
        "status" => ("État", "Status"),
        _ => return name.to_owned(),
    };
    match l {
        Locale::Fr => fr.to_owned(),
        Locale::En => en.to_owned(),
    }
}

/// A value type's message in the reader's language (they are written in English).
fn message(l: Locale, m: &str) -> String {
    if l == Locale::En {
        return m.to_owned();
    }
    if m.starts_with("is too easy to guess") {
        return "est trop facile à deviner : choisissez une phrase plus longue et moins courante".into();
    }
    // "must be 3 to 200 characters", "must be 1 to 10000".
    if let Some(rest) = m.strip_prefix("must be ")
        && let Some((a, b)) = rest.split_once(" to ")
        && a.bytes().all(|c| c.is_ascii_digit())
    {
        return match b.strip_suffix(" characters") {
            Some(n) => format!("doit compter de {a} à {n} caractères"),
            None => format!("doit être entre {a} et {b}"),
        };
    }
    let fr = match m {
        "is not an e-mail address" => "n'est pas une adresse e-mail",
        "is not a domain name" => "n'est pas un nom de domaine",
        "letters, digits and '-' only" => "lettres, chiffres et « - » uniquement",
        "must not contain control, bidirectional, zero-width or line-separator characters" => {
            "ne doit contenir aucun caractère de contrôle, bidirectionnel, de largeur nulle ou de séparation de ligne"
        }
        "must not contain NUL characters" => "ne doit pas contenir de caractère NUL",
        "must differ from the current password" => "doit différer du mot de passe actuel",
        "is not your current password" => "n'est pas votre mot de passe actuel",
        "is not the current code of your authenticator app" => "n'est pas le code actuel de votre application d'authentification",
        "is neither a current code of your authenticator app nor an unused recovery code" => {
            "n'est ni un code actuel de votre application d'authentification ni un code de récupération inutilisé"
        }
        "a user needs at least one role" | "ask for at least one role" => "cochez au moins un rôle",
        "is not one of your active resellers" | "is not one of your active indirect resellers" => {
            "n'est pas l'un de vos revendeurs indirects actifs"
        }
        "is not one of your active indirect providers" => "n'est pas l'un de vos fournisseurs indirects actifs",
        "no indirect provider has that partner id" => "aucun fournisseur indirect n'a cet ID partenaire",
        "names an offer that does not exist or is disabled" => "désigne une offre inexistante ou désactivée",
        "an indirect provider orders for one of its resellers: name it" => {
            "un fournisseur indirect commande pour l'un de ses revendeurs : choisissez-le"
        }
        "only an indirect reseller names an indirect provider" => "seul un revendeur indirect désigne un fournisseur indirect",
        "only an indirect provider names a reseller" => "seul un fournisseur indirect désigne un revendeur",
        "a grant of global_admin is never extended automatically" => {
            "un rôle d'administrateur général n'est jamais prolongé automatiquement"
        }
        "give quantity, status or both" => "indiquez une quantité, un état ou les deux",
        _ => return m.to_owned(),
    };
    fr.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_language_takes_the_preferred_of_the_two() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de-DE, fr-CA;q=0.8, en;q=0.5"));
        assert_eq!(negotiate(&h), Locale::Fr);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("fr;q=0.1, en-GB;q=0.9"));
        assert_eq!(negotiate(&h), Locale::En);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("q=;;,fr;q=NaN,,"));
        assert_eq!(negotiate(&h), Locale::Fr);
        h.insert(header::COOKIE, HeaderValue::from_static("ph_lang=en"));
        assert_eq!(negotiate(&h), Locale::En);
    }

    #[test]
    fn dates_read_in_the_reader_language() {
        let t = time::macros::datetime!(2027-02-23 14:05 UTC);
        assert_eq!(date(Locale::Fr, t), "23 février 2027");
        assert_eq!(date(Locale::En, t), "23 February 2027");
        assert_eq!(days(Locale::Fr, 90), "90 jours");
        assert_eq!(date(Locale::Fr, time::macros::datetime!(2027-03-01 0:00 UTC)), "1er mars 2027");
        assert_eq!(date(Locale::En, time::macros::datetime!(2027-03-01 0:00 UTC)), "1 March 2027");
    }

    #[test]
    fn refusals_read_in_the_reader_language() {
        let e = ValidationErrors(vec![
            partnerhub_domain::FieldError::new("organization.name", "must be 1 to 200 characters"),
            partnerhub_domain::FieldError::new("admin.email", "is not an e-mail address"),
            partnerhub_domain::FieldError::new("quantity", "must be 1 to 10000"),
        ]);
        assert_eq!(
            invalid(Locale::Fr, &e),
            "Nom : doit compter de 1 à 200 caractères ; Adresse e-mail : n'est pas une adresse e-mail ; Quantité : doit être entre 1 et 10000"
        );
        assert_eq!(
            invalid(Locale::En, &e),
            "Name: must be 1 to 200 characters; E-mail: is not an e-mail address; Quantity: must be 1 to 10000"
        );
    }
}
