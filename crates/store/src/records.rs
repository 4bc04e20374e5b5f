//! What the store reads and writes: plain records over domain types, no driver types.

use partnerhub_domain::*;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SubscriptionCounts;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub kind: OrgKind,
    pub name: String,
    pub domain: String,
    pub partner_type: Option<PartnerType>,
    pub partner_id: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Organization {
    pub fn partner_ref(&self) -> PartnerRef {
        PartnerRef {
            id: self.id,
            name: self.name.clone(),
            partner_id: self.partner_id.clone().unwrap_or_default(),
            domain: self.domain.clone(),
        }
    }
}

/// How a partner is shown to others: name, short public id, domain.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRef {
    pub id: OrganizationId,
    pub name: String,
    pub partner_id: String,
    pub domain: String,
}

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub id: OrganizationId,
    pub kind: OrgKind,
    pub name: String,
    pub domain: String,
    pub partner_type: Option<PartnerType>,
    pub partner_id: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// Signed in with a temporary password: only the password change is allowed.
    pub password_change_required: bool,
    /// `--require-mfa` holds this user to enrolling TOTP first (see `Caller::require`): set by
    /// the service when it authenticates a request; stores always answer `false`.
    pub mfa_enrollment_required: bool,
    /// The language the user chose in the portal (`None`: not chosen, `Accept-Language` decides).
    pub locale: Option<Locale>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    /// A temporary password (made by a partner or an admin) that must be changed first.
    pub password_change_required: bool,
    pub created_at: OffsetDateTime,
}

impl NewUser {
    /// The user as it will read back once stored.
    pub fn user(&self) -> User {
        User {
            id: self.id,
            organization_id: self.organization_id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            roles: self.roles.clone(),
            password_change_required: self.password_change_required,
            mfa_enrollment_required: false,
            locale: None,
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub roles: Option<Vec<Role>>,
    pub display_name: Option<String>,
    /// The user's own choice of language (only the user sets it; see `Service::set_language`).
    pub locale: Option<Locale>,
}

pub struct Credentials {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub password_hash: String,
    /// The password is a temporary one (see `User::password_change_required`).
    pub password_change_required: bool,
    /// When the password was set: a temporary one expires a set time after.
    pub password_set_at: time::OffsetDateTime,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user_id", &self.user_id).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The signed-in user, read from the database on every request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The session this request came with.
    pub session_id: SessionId,
    pub user: User,
    pub organization: Organization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSide {
    /// The caller is the reseller; list its providers.
    Providers,
    /// The caller is the provider; list its resellers.
    Resellers,
}

#[derive(Debug, Clone)]
pub struct NewProviderLink {
    pub id: ProviderLinkId,
    pub provider_id: OrganizationId,
    pub reseller_id: OrganizationId,
    pub active: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderLinkView {
    pub partner: PartnerRef,
    pub state: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerSort {
    Name,
    NewestFirst,
}

#[derive(Debug, Clone)]
pub struct CustomerQuery {
    pub limit: i64,
    pub cursor: Option<String>,
    pub q: Option<String>,
    pub sort: CustomerSort,
}

/// One page of a list: its items, the cursor of the next page (none on the last), and how
/// many items the whole list holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

impl<T> Page<T> {
    /// The same page with each item turned into another.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor, total: self.total }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    pub id: RelationshipId,
    pub partner_org_id: OrganizationId,
    pub customer_id: OrganizationId,
    pub active: bool,
    pub via: String,
    pub since: OffsetDateTime,
    pub indirect_reseller_id: Option<OrganizationId>,
}

#[derive(Debug, Clone)]
pub struct NewRelationship {
    pub id: RelationshipId,
    pub partner_org_id: OrganizationId,
    pub customer_id: OrganizationId,
    /// `invitation` or `created`.
    pub via: &'static str,
    pub invitation_id: Option<InvitationId>,
    /// For an indirect provider's relationship made through one of its resellers.
    pub indirect_reseller_id: Option<OrganizationId>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewGrant {
    pub id: GrantId,
    pub relationship_id: RelationshipId,
    pub partner_org_id: OrganizationId,
    pub customer_id: OrganizationId,
    pub role: DelegatedRole,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub auto_extend: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: GrantId,
    pub partner_org_id: OrganizationId,
    pub customer_id: OrganizationId,
    pub role: DelegatedRole,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub auto_extend: bool,
    pub revoked_at: Option<OffsetDateTime>,
}

impl Grant {
    /// A grant authorizes only while unrevoked and before its expiry; checked on every use.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
    /// A grant ended at (or after) its own expiry, as a renewal ends one, shows as expired.
    pub fn state(&self, now: OffsetDateTime) -> &'static str {
        match self.revoked_at {
            Some(revoked) if revoked < self.expires_at => "revoked",
            Some(_) => "expired",
            None if now >= self.expires_at => "expired",
            None => "active",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CustomerSummary {
    pub id: OrganizationId,
    pub name: String,
    pub domain: String,
    pub created_at: OffsetDateTime,
    pub relationship: Relationship,
    /// Live grants only.
    pub grants: Vec<Grant>,
    pub indirect_reseller: Option<PartnerRef>,
}

#[derive(Debug, Clone)]
pub struct CustomerDetail {
    pub summary: CustomerSummary,
    /// The customer's subscriptions that the caller placed or is partner of record of.
    pub subscriptions: SubscriptionCounts,
    /// The customer's other partners that the caller may see: a provider sees the
    /// resellers of its customers, a reseller the provider it went through.
    pub other_partners: Vec<PartnerRef>,
}

#[derive(Debug, Clone)]
pub struct RemovalOutcome {
    pub relationship_id: RelationshipId,
    pub revoked_grants: i64,
}

#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub id: InvitationId,
    pub partner_org_id: OrganizationId,
    pub customer_id: Option<OrganizationId>,
    pub indirect_provider_id: Option<OrganizationId>,
    pub roles: Vec<DelegatedRole>,
    pub duration_days: i64,
    pub auto_extend: bool,
    pub locale: Locale,
    pub token_hash: Vec<u8>,
    pub email_subject: String,
    pub email_body: String,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl NewInvitation {
    /// The invitation as stored once created (pending, times at the stores' microseconds), so
    /// that creating answers it without reading it back.
    pub fn created(self) -> Invitation {
        let stored = |t: OffsetDateTime| crate::codec::from_micros(crate::codec::micros(t));
        Invitation {
            id: self.id,
            partner_org_id: self.partner_org_id,
            customer_id: self.customer_id,
            indirect_provider_id: self.indirect_provider_id,
            roles: self.roles,
            duration_days: self.duration_days,
            auto_extend: self.auto_extend,
            locale: self.locale,
            state: InvitationState::Pending,
            email_subject: self.email_subject,
            email_body: self.email_body,
            created_by: self.created_by,
            created_at: stored(self.created_at),
            expires_at: stored(self.expires_at),
            sent_at: None,
            responded_at: None,
            accepted_by: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: InvitationId,
    pub partner_org_id: OrganizationId,
    pub customer_id: Option<OrganizationId>,
    pub indirect_provider_id: Option<OrganizationId>,
    pub roles: Vec<DelegatedRole>,
    pub duration_days: i64,
    pub auto_extend: bool,
    pub locale: Locale,
    /// As stored; use [`InvitationState::effective`] with the clock for what it is now.
    pub state: InvitationState,
    pub email_subject: String,
    pub email_body: String,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
    pub responded_at: Option<OffsetDateTime>,
    pub accepted_by: Option<OrganizationId>,
}

#[derive(Debug, Clone)]
pub struct InvitationForCustomer {
    pub invitation: Invitation,
    pub partner: PartnerRef,
    pub provider: Option<PartnerRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartnerOfCustomer {
    pub partner: PartnerRef,
    pub relationship: Relationship,
    pub grants: Vec<Grant>,
}

/// Who did something: kept in the audit record as it was at the time.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub roles: Vec<Role>,
    pub organization_id: Option<OrganizationId>,
}

impl Actor {
    /// The operator, acting with `PARTNERHUB_OPERATOR_TOKEN`.
    pub fn operator() -> Self {
        Self { user_id: None, email: Some("operator".into()), roles: vec![], organization_id: None }
    }
}

/// The audit record of a change, without its place in the chain (the store assigns `seq`).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub action: &'static str,
    pub target: Value,
    pub customer_id: Option<OrganizationId>,
    pub details: Value,
    /// Every organization that may read this record.
    pub visible_to: Vec<OrganizationId>,
}

/// An event for the outbox, delivered later (webhooks).
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub event_type: &'static str,
    pub organization_id: OrganizationId,
    pub occurred_at: OffsetDateTime,
    pub data: Value,
}

/// What accompanies every state change into its transaction: its audit records and its
/// outbox events, which all carry the change's `id` (`change_id`).
#[derive(Debug, Clone)]
pub struct Change {
    /// The id every audit record and outbox event of this change shares.
    pub id: Uuid,
    /// The change's first audit record: what was asked for.
    pub audit: AuditEntry,
    /// Further audit records of the same change, appended after `audit` in the chain: what the
    /// change made besides (each relationship and grant of a customer creation or an acceptance).
    pub also: Vec<AuditEntry>,
    pub events: Vec<Event>,
}

impl Change {
    /// A change of one audit record and no event yet, with a new id.
    pub fn new(audit: AuditEntry) -> Self {
        Self { id: Uuid::now_v7(), audit, also: Vec::new(), events: Vec::new() }
    }

    /// Another audit record of this change, as the first one (same time, actor, customer and
    /// readers) but for `action` on `target`.
    pub fn also(&mut self, action: &'static str, target: Value, details: Value) {
        self.also.push(AuditEntry { action, target, details, ..self.audit.clone() });
    }

    /// Every audit record of the change, in the order they enter the chain.
    pub fn records(&self) -> impl Iterator<Item = &AuditEntry> {
        std::iter::once(&self.audit).chain(&self.also)
    }

    /// Records what only the transaction knows (how many grants went, which relationship
    /// ended) in the audit details and in every event's data.
    pub fn record(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        let value = value.into();
        self.audit.details[key] = value.clone();
        self.tell_events(key, value);
    }

    /// Names what the change acted on, once the transaction knows it: in the audit target and
    /// in every event's data.
    pub fn identify(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        let value = value.into();
        self.audit.target[key] = value.clone();
        self.tell_events(key, value);
    }

    /// An event that only the transaction knows to send (a license released by a
    /// cancellation), at the time of the change.
    pub fn derived_event(&mut self, event_type: &'static str, organization_id: OrganizationId, data: Value) {
        self.events.push(Event { id: Uuid::now_v7(), event_type, organization_id, occurred_at: self.audit.at, data });
    }

    fn tell_events(&mut self, key: &str, value: serde_json::Value) {
        for ev in &mut self.events {
            ev.data[key] = value.clone();
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    /// The canonical record, exactly as hashed.
    pub body: Value,
    pub hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub limit: i64,
    pub cursor: Option<String>,
    pub action: Option<String>,
    pub customer_id: Option<OrganizationId>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerification {
    Whole { records: i64 },
    Broken { seq: i64, reason: String },
}

/// A page request of a list: at most `limit` items after `cursor`, a `next_cursor` the same
/// list handed out (one it did not is `StoreError::BadCursor`).
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub limit: i64,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size when a client names none.
    pub const DEFAULT_LIMIT: i64 = 50;
    /// The largest page a client may ask for.
    pub const MAX_LIMIT: i64 = 500;

    /// The first page of `limit` items.
    pub fn first(limit: i64) -> Self {
        Self { limit, cursor: None }
    }
}
