//! Invitations, both sides: a partner creates, edits, sends and revokes them; a customer's
//! global admin previews, accepts or declines them by the token in the URL.
//!
//! The token is HMAC-SHA256(server secret, invitation id): 256 bits, URL-safe, so the URL can
//! be shown again while pending, yet the database holds only SHA-256(token) and cannot be
//! turned back into a working link without the secret.

use crate::auth::{INVITE_FAILURES_PER_IP, INVITE_WINDOW_SECS, hash_token};
use crate::{Caller, Conflict, Service, ServiceError, ServiceResult, drafts, rfc3339};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use partnerhub_domain::invitation::InvitationClosed;
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;
use sha2::Sha256;
use time::Duration;

pub struct NewInvitationInput {
    pub customer_id: Option<OrganizationId>,
    pub indirect_provider_id: Option<OrganizationId>,
    pub roles: Option<Vec<String>>,
    pub duration_days: Option<i64>,
    pub auto_extend: Option<bool>,
    pub expires_in_days: Option<i64>,
    pub locale: Option<String>,
}

/// An invitation as its partner sees it: the URL and draft only while it is pending.
pub struct InvitationView {
    pub invitation: Invitation,
    pub state: InvitationState,
    pub url: Option<String>,
    pub mailto: Option<String>,
    /// Where the invitation's e-mail stands, when partnerhub was asked to send it (read by
    /// [`Service::invitation`] only).
    pub email_delivery: Option<MailStatus>,
}

pub struct AcceptOutcome {
    pub relationships: Vec<(Relationship, PartnerRef)>,
    pub grants: Vec<(Grant, PartnerRef)>,
}

use drafts::URL_PLACEHOLDER;

const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 20_000;

impl Service {
    pub(crate) fn invitation_token(&self, id: InvitationId) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.config.secret.bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"partnerhub invitation v1:");
        mac.update(id.0.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn invitation_url(&self, id: InvitationId) -> String {
        format!("{}/invite/{}", self.config.public_url.trim_end_matches('/'), self.invitation_token(id))
    }

    fn view(&self, mut invitation: Invitation) -> InvitationView {
        let state = invitation.state.effective(invitation.expires_at, self.now());
        if state != InvitationState::Pending {
            // Once answered, revoked or expired, neither the link nor the draft is shown again.
            invitation.email_body.clear();
            return InvitationView { invitation, state, url: None, mailto: None, email_delivery: None };
        }
        let url = self.invitation_url(invitation.id);
        let token = self.invitation_token(invitation.id);
        invitation.email_subject = drafts::unseal(&invitation.email_subject, &url, &token);
        invitation.email_body = drafts::unseal(&invitation.email_body, &url, &token);
        let mailto = Some(drafts::mailto(&invitation.email_subject, &invitation.email_body));
        InvitationView { invitation, state, url: Some(url), mailto, email_delivery: None }
    }

    pub async fn create_invitation(&self, caller: &Caller, input: NewInvitationInput) -> ServiceResult<InvitationView> {
        let p = caller.require(Action::InvitationsManage)?;
        let partner = p.organization.clone();
        let mut v = Validator::default();
        let terms = v.check(InvitationTerms::parse(input.roles.as_deref(), input.duration_days, input.auto_extend, input.expires_in_days));
        let locale = match input.locale.as_deref() {
            None => Some(Locale::default()),
            Some(l) => {
                let parsed = Locale::parse(l);
                if parsed.is_none() {
                    v.push("locale", "must be fr or en");
                }
                parsed
            }
        };
        let mut provider = None;
        if let Some(pid) = input.indirect_provider_id {
            if partner.partner_type != Some(PartnerType::IndirectReseller) {
                v.push("indirect_provider_id", "only an indirect reseller names an indirect provider");
            } else if !self.store.active_provider_link(pid, partner.id).await? {
                v.push("indirect_provider_id", "is not one of your active indirect providers");
            } else {
                provider = Some(self.store.organization(pid).await?.partner_ref());
            }
        }
        v.finish()?;
        let (Some(terms), Some(locale)) = (terms, locale) else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        // A bound invitation names a customer already in the caller's list; any other id is
        // reported exactly like a missing one.
        if let Some(c) = input.customer_id {
            self.store.active_relationship(partner.id, c).await?.ok_or(ServiceError::NotFound)?;
        }
        let now = self.now();
        let id = InvitationId::new();
        let url = self.invitation_url(id);
        let expires_at = now + Duration::days(terms.expires_in_days);
        let (subject, body) = drafts::render(
            locale,
            &partner.partner_ref(),
            provider.as_ref(),
            URL_PLACEHOLDER,
            &terms.roles,
            terms.duration_days,
            expires_at,
        );
        let inv = NewInvitation {
            id,
            partner_org_id: partner.id,
            customer_id: input.customer_id,
            indirect_provider_id: input.indirect_provider_id,
            roles: terms.roles.clone(),
            duration_days: terms.duration_days,
            auto_extend: terms.auto_extend,
            locale,
            token_hash: hash_token(url.rsplit('/').next().unwrap_or_default()),
            email_subject: subject,
            email_body: body,
            created_by: p.user.id,
            created_at: now,
            expires_at,
        };
        let data = json!({"invitation_id": id, "partner_id": partner.id, "customer_id": inv.customer_id, "indirect_provider_id": inv.indirect_provider_id,
                          "roles": inv.roles, "duration_days": inv.duration_days, "auto_extend": inv.auto_extend, "expires_at": rfc3339(expires_at)});
        let mut change = self.change(
            caller,
            "invitation.created",
            json!({"type": "invitation", "id": id}),
            inv.customer_id,
            data.clone(),
            vec![partner.id],
        );
        change.events.push(self.event("invitation.created", partner.id, data));
        let invitation = self.store.create_invitation(inv, change).await?;
        Ok(self.view(invitation))
    }

    pub async fn invitation(&self, caller: &Caller, id: InvitationId) -> ServiceResult<InvitationView> {
        let p = caller.require(Action::InvitationsManage)?;
        // The e-mail first: its `sent` commits with the invitation's `sent_at`, so an e-mail
        // read as sent comes with the `sent_at` read after it (the other order could show a
        // sent e-mail beside no `sent_at`, on PostgreSQL where the two reads are two snapshots).
        let email_delivery = self.store.invitation_mail(p.organization.id, id).await?;
        let mut view = self.view(self.store.invitation(p.organization.id, id).await?);
        view.email_delivery = email_delivery;
        Ok(view)
    }

    pub async fn list_invitations(
        &self,
        caller: &Caller,
        state: Option<InvitationState>,
        limit: i64,
        cursor: Option<&str>,
    ) -> ServiceResult<Page<InvitationView>> {
        let p = caller.require(Action::InvitationsManage)?;
        let page = self.store.list_invitations(p.organization.id, state, self.now(), limit, cursor).await?;
        Ok(Page { items: page.items.into_iter().map(|i| self.view(i)).collect(), next_cursor: page.next_cursor, total: page.total })
    }

    /// Saves an edited draft; the body must still carry the personalized URL verbatim.
    pub async fn save_invitation_email(
        &self,
        caller: &Caller,
        id: InvitationId,
        subject: &str,
        body: &str,
    ) -> ServiceResult<InvitationView> {
        let p = caller.require(Action::InvitationsManage)?;
        let inv = self.store.invitation(p.organization.id, id).await?;
        inv.state.check_open(inv.expires_at, self.now()).map_err(|_| ServiceError::InvitationNotPending)?;
        let mut v = Validator::default();
        let subject = subject.trim();
        if subject.is_empty() || subject.chars().count() > MAX_SUBJECT || subject.chars().any(char::is_control) {
            v.push("subject", format!("must be 1 to {MAX_SUBJECT} characters on one line"));
        }
        if body.trim().is_empty() || body.chars().count() > MAX_BODY {
            v.push("body", format!("must be 1 to {MAX_BODY} characters"));
        } else if body.contains('\0') {
            v.push("body", "must not contain NUL characters");
        }
        v.finish()?;
        let url = self.invitation_url(id);
        if !body.contains(&url) {
            return Err(ServiceError::UrlMissingFromEmail);
        }
        // Neither the URL nor its bare token is stored, in the body or in the subject.
        let token = self.invitation_token(id);
        let (subject, stored) = (drafts::seal(subject, &url, &token), drafts::seal(body, &url, &token));
        let saved = self.store.save_invitation_email(p.organization.id, id, &subject, &stored, self.now()).await?;
        Ok(self.view(saved))
    }

    /// Queues the draft, as it is now, for the customer's address: the e-mail worker sends it
    /// (see `outbox_mail`), and `GET /invitations/{id}` tells how that went. Refused at once
    /// when no relay is configured, since nothing would ever send it.
    pub async fn send_invitation(&self, caller: &Caller, id: InvitationId, to: &str) -> ServiceResult<()> {
        let p = caller.require(Action::InvitationsManage)?;
        let inv = self.store.invitation(p.organization.id, id).await?;
        inv.state.check_open(inv.expires_at, self.now()).map_err(|_| ServiceError::InvitationNotPending)?;
        let to = Email::parse("to", to)?;
        if self.mailer.is_none() {
            return Err(ServiceError::EmailNotConfigured);
        }
        let now = self.now();
        let mail = NewMail {
            id: uuid::Uuid::now_v7(),
            organization_id: p.organization.id,
            kind: MailKind::Invitation,
            invitation_id: Some(id),
            to: to.as_str().to_owned(),
            locale: inv.locale,
            from_name: p.organization.name.clone(),
            // Sealed as stored: the worker puts the link back when it sends.
            subject: inv.email_subject.clone(),
            body: inv.email_body.clone(),
            created_at: now,
        };
        let change = self.change(
            caller,
            "email.queued",
            json!({"type": "invitation", "id": id}),
            inv.customer_id,
            json!({"to": to.as_str(), "kind": "invitation", "email_id": mail.id}),
            vec![p.organization.id],
        );
        self.store.queue_invitation_mail(p.organization.id, mail, now, change).await?;
        self.wake_mail();
        Ok(())
    }

    pub async fn revoke_invitation(&self, caller: &Caller, id: InvitationId) -> ServiceResult<InvitationView> {
        let p = caller.require(Action::InvitationsManage)?;
        let partner = p.organization.id;
        let data = json!({"invitation_id": id, "partner_id": partner});
        let mut change = self.change(caller, "invitation.revoked", json!({"type": "invitation", "id": id}), None, json!({}), vec![partner]);
        change.events.push(self.event("invitation.revoked", partner, data));
        let inv = self.store.revoke_invitation(partner, id, self.now(), change).await?;
        Ok(self.view(inv))
    }

    /// Looks an invitation up by its token, counting unknown tokens against the client.
    async fn by_token(&self, token: &str, client: &str) -> ServiceResult<InvitationForCustomer> {
        let key = format!("invite:ip:{client}");
        self.check_rate(&key, INVITE_FAILURES_PER_IP).await?;
        match self.store.invitation_by_token(&hash_token(token.trim())).await {
            Err(StoreError::NotFound) => {
                self.store.count_attempt(&key, INVITE_WINDOW_SECS, self.now()).await?;
                Err(ServiceError::NotFound)
            }
            other => Ok(other?),
        }
    }

    /// What the customer sees before answering. Reads only: mail scanners open every link.
    pub async fn preview_invitation(&self, token: &str, client: &str) -> ServiceResult<(InvitationForCustomer, InvitationState)> {
        let found = self.by_token(token, client).await?;
        let state = found.invitation.state.effective(found.invitation.expires_at, self.now());
        Ok((found, state))
    }

    fn check_answerable(&self, inv: &Invitation, customer: OrganizationId) -> ServiceResult<()> {
        inv.state.check_open(inv.expires_at, self.now()).map_err(|e| match e {
            InvitationClosed::NotPending => ServiceError::InvitationNotPending,
            InvitationClosed::Expired => ServiceError::InvitationExpired,
        })?;
        if inv.customer_id.is_some_and(|c| c != customer) {
            return Err(ServiceError::WrongCustomer);
        }
        Ok(())
    }

    /// Flow 4: a customer global admin accepts. Creates the relationship(s) and the grants,
    /// once; everything else is refused and changes nothing.
    pub async fn accept_invitation(&self, caller: &Caller, token: &str, client: &str) -> ServiceResult<AcceptOutcome> {
        let p = caller.require(Action::InvitationsRespond)?;
        let customer = p.organization.id;
        let found = self.by_token(token, client).await?;
        let inv = &found.invitation;
        self.check_answerable(inv, customer)?;
        let now = self.now();
        let mut relationships = Vec::new();
        let mut new_rels = Vec::new();
        // A bound invitation renews the grants of an existing relationship; an open one
        // accepted by a customer already connected to the partner is refused.
        let partner_rel = match self.store.active_relationship(inv.partner_org_id, customer).await? {
            Some(existing) if inv.customer_id.is_some() => existing,
            Some(_) => {
                // Another acceptance of this very invitation may have just made the
                // relationship: then the right answer is that the invitation is taken.
                let now_state = self.store.invitation_by_token(&hash_token(token.trim())).await?.invitation.state;
                return Err(if now_state == InvitationState::Pending {
                    ServiceError::RelationshipExists
                } else {
                    ServiceError::InvitationNotPending
                });
            }
            None => {
                let rel = NewRelationship {
                    id: RelationshipId::new(),
                    partner_org_id: inv.partner_org_id,
                    customer_id: customer,
                    via: "invitation",
                    invitation_id: Some(inv.id),
                    indirect_reseller_id: None,
                    created_at: now,
                };
                new_rels.push(rel.clone());
                relationship_of(&rel)
            }
        };
        relationships.push((partner_rel.clone(), found.partner.clone()));
        if let Some(provider) = &found.provider {
            if !self.store.active_provider_link(provider.id, inv.partner_org_id).await? {
                return Err(Conflict::ResellerDisconnected.into());
            }
            let rel = match self.store.active_relationship(provider.id, customer).await? {
                Some(existing) => existing,
                None => {
                    let rel = NewRelationship {
                        id: RelationshipId::new(),
                        partner_org_id: provider.id,
                        customer_id: customer,
                        via: "invitation",
                        invitation_id: Some(inv.id),
                        indirect_reseller_id: Some(inv.partner_org_id),
                        created_at: now,
                    };
                    new_rels.push(rel.clone());
                    relationship_of(&rel)
                }
            };
            relationships.push((rel, provider.clone()));
        }
        let grants: Vec<NewGrant> = inv
            .roles
            .iter()
            .map(|role| NewGrant {
                id: GrantId::new(),
                relationship_id: partner_rel.id,
                partner_org_id: inv.partner_org_id,
                customer_id: customer,
                role: *role,
                created_at: now,
                expires_at: now + Duration::days(inv.duration_days),
                auto_extend: inv.auto_extend,
            })
            .collect();
        let mut visible = vec![customer, inv.partner_org_id];
        visible.extend(found.provider.as_ref().map(|p| p.id));
        let mut change = self.change(
            caller,
            "invitation.accepted",
            json!({"type": "invitation", "id": inv.id}),
            Some(customer),
            json!({"partner_id": inv.partner_org_id, "indirect_provider_id": inv.indirect_provider_id,
                   "relationships": new_rels.iter().map(|r| json!({"id": r.id, "partner_id": r.partner_org_id})).collect::<Vec<_>>(),
                   "grants": grants.iter().map(|g| json!({"id": g.id, "role": g.role.as_str(), "expires_at": rfc3339(g.expires_at)})).collect::<Vec<_>>()}),
            visible,
        );
        change.events.push(self.event(
            "invitation.accepted",
            inv.partner_org_id,
            json!({"invitation_id": inv.id, "partner_id": inv.partner_org_id, "customer_id": customer}),
        ));
        self.record_created(&mut change, customer, &new_rels, &grants);
        let out_grants = grants
            .iter()
            .map(|g| {
                (
                    Grant {
                        id: g.id,
                        partner_org_id: g.partner_org_id,
                        customer_id: customer,
                        role: g.role,
                        created_at: now,
                        expires_at: g.expires_at,
                        auto_extend: g.auto_extend,
                        revoked_at: None,
                    },
                    found.partner.clone(),
                )
            })
            .collect();
        self.store.accept_invitation(inv.id, customer, now, new_rels, grants, change).await?;
        Ok(AcceptOutcome { relationships, grants: out_grants })
    }

    /// The invitation page's answer: a customer global admin's e-mail and password (and TOTP
    /// code when the account has one) checked as sign-in checks them, then accept or decline,
    /// in one call that opens no session.
    pub async fn answer_with_credentials(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
        token: &str,
        accept: bool,
        client: &str,
    ) -> ServiceResult<()> {
        let caller = self.caller_from_credentials(email, password, totp, client).await?;
        if accept {
            self.accept_invitation(&caller, token, client).await.map(|_| ())
        } else {
            self.decline_invitation(&caller, token, client).await
        }
    }

    pub async fn decline_invitation(&self, caller: &Caller, token: &str, client: &str) -> ServiceResult<()> {
        let p = caller.require(Action::InvitationsRespond)?;
        let customer = p.organization.id;
        let found = self.by_token(token, client).await?;
        let inv = &found.invitation;
        self.check_answerable(inv, customer)?;
        let mut change = self.change(
            caller,
            "invitation.declined",
            json!({"type": "invitation", "id": inv.id}),
            Some(customer),
            json!({"partner_id": inv.partner_org_id}),
            vec![customer, inv.partner_org_id],
        );
        change.events.push(self.event(
            "invitation.declined",
            inv.partner_org_id,
            json!({"invitation_id": inv.id, "partner_id": inv.partner_org_id, "customer_id": customer}),
        ));
        Ok(self.store.decline_invitation(inv.id, customer, self.now(), change).await?)
    }
}

fn relationship_of(r: &NewRelationship) -> Relationship {
    Relationship {
        id: r.id,
        partner_org_id: r.partner_org_id,
        customer_id: r.customer_id,
        active: true,
        via: r.via.to_owned(),
        since: r.created_at,
        indirect_reseller_id: r.indirect_reseller_id,
    }
}
