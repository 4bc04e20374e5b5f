//! A synthetic dataset for benchmarks (`partnerhub bench seed`), generated once here and bulk
//! loaded by each backend (`SqliteStore::bulk_seed`, `PgStore::bulk_seed`), never through the
//! request paths. Both backends load the same rows: organizations, one user per partner and one
//! customer user, an active relationship per customer with its grants, and an audit chain of
//! any length whose records are hashed by [`codec::audit_body`] and [`codec::chain_hash`], the
//! very functions every append uses, so that `audit verify` checks the seeded chain as any other.
//!
//! Who holds whom: partner 0 (the *measured* partner) holds the first `measured` customers,
//! partner 1 (the *small* partner) the next `small`, and the rest are dealt round-robin over the
//! other partners.

use crate::codec::{self, micros};
use crate::{Actor, AuditEntry, StoreError, StoreResult};
use partnerhub_domain::{DelegatedRole, OrganizationId, Role, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub partners: usize,
    pub customers: usize,
    /// Customers of partner 0.
    pub measured: usize,
    /// Customers of partner 1.
    pub small: usize,
    /// Grants of each relationship, at most the 5 roles other than global_admin.
    pub grants_per_customer: usize,
    pub audit_records: usize,
    /// Acceptance pairs: customers of their own, each with a signed-in global admin and an open
    /// invitation of another partner (never the measured or the small one) to accept.
    pub pairs: usize,
    /// The PHC hash every seeded user signs in with (hashed once by the service's hasher).
    pub password_hash: String,
    pub now: OffsetDateTime,
}

/// The roles seeded grants hold, in order (global_admin is left out: it cannot auto-extend and
/// is the one role partners are asked to avoid).
pub const SEED_ROLES: [DelegatedRole; 5] = [
    DelegatedRole::GlobalReader,
    DelegatedRole::UserAdmin,
    DelegatedRole::HelpdeskAdmin,
    DelegatedRole::LicenseAdmin,
    DelegatedRole::BillingAdmin,
];

pub struct SeedOrg {
    pub id: Uuid,
    pub partner: bool,
    pub name: String,
    pub domain: String,
    pub partner_id: Option<String>,
    pub created_at: i64,
}

pub struct SeedUser {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub roles: String,
    pub created_at: i64,
}

pub struct SeedRelationship {
    pub id: Uuid,
    pub partner_id: Uuid,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub customer_created_at: i64,
    pub created_at: i64,
}

pub struct SeedGrant {
    pub id: Uuid,
    pub relationship_id: Uuid,
    pub partner_id: Uuid,
    pub customer_id: Uuid,
    pub role: &'static str,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One acceptance of the benchmark: a customer of its own (no partner yet), its global admin's
/// session, and an open invitation of partner `partner` to accept with that session.
pub struct SeedPair {
    pub customer_id: Uuid,
    pub user_id: Uuid,
    /// The bearer token (the database keeps its SHA-256, as for any session).
    pub bearer: String,
    pub session_id: Uuid,
    pub invitation_id: Uuid,
    /// The URL token (the database keeps its SHA-256).
    pub token: String,
    pub partner_id: Uuid,
    /// The partner admin who created the invitation.
    pub created_by: Uuid,
}

impl SeedPair {
    pub fn bearer_hash(&self) -> Vec<u8> {
        <sha2::Sha256 as sha2::Digest>::digest(self.bearer.as_bytes()).to_vec()
    }
    pub fn token_hash(&self) -> Vec<u8> {
        <sha2::Sha256 as sha2::Digest>::digest(self.token.as_bytes()).to_vec()
    }
}

/// The pairs' invitations, as `POST /invitations` makes them with no body.
pub const PAIR_ROLES: &str = r#"["user_admin","license_admin","helpdesk_admin"]"#;

pub struct SeedAudit {
    pub seq: i64,
    pub at: i64,
    pub organization_id: Uuid,
    pub action: &'static str,
    pub customer_id: Uuid,
    pub body: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub change_id: Uuid,
}

/// The generated ids, and the rows derived from them on demand.
pub struct Seed {
    pub spec: SeedSpec,
    partners: Vec<Uuid>,
    customers: Vec<Uuid>,
    admins: Vec<Uuid>,
    customer_user: Uuid,
    pairs: Vec<SeedPair>,
}

/// How many rows a load wrote, per table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedCounts {
    /// Seconds each step of the load took, in order.
    pub phases: Vec<(&'static str, f64)>,
    pub organizations: u64,
    pub users: u64,
    pub relationships: u64,
    pub grants: u64,
    pub audit_records: u64,
    pub audit_visibility: u64,
    pub sessions: u64,
    pub invitations: u64,
}

impl Seed {
    pub fn new(spec: SeedSpec) -> StoreResult<Self> {
        let bad = |m: &str| Err(StoreError::Database(format!("bench seed: {m}")));
        if spec.partners < 3 {
            return bad("at least 3 partners: the measured one, the small one and the others");
        }
        if spec.measured + spec.small > spec.customers {
            return bad("the measured and small partners' customers exceed the customers");
        }
        if spec.grants_per_customer > SEED_ROLES.len() {
            return bad("at most 5 grants per customer (one per delegated role other than global_admin)");
        }
        let ids = |n| (0..n).map(|_| Uuid::new_v4()).collect::<Vec<_>>();
        let (partners, admins) = (ids(spec.partners), ids(spec.partners));
        // 244 random bits each (two version-4 UUIDs), hex: the benchmark's tokens.
        let secret = || format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let pairs = (0..spec.pairs)
            .map(|i| {
                let p = 2 + i % (spec.partners - 2);
                SeedPair {
                    customer_id: Uuid::new_v4(),
                    user_id: Uuid::new_v4(),
                    bearer: secret(),
                    session_id: Uuid::new_v4(),
                    invitation_id: Uuid::now_v7(),
                    token: secret(),
                    partner_id: partners[p],
                    created_by: admins[p],
                }
            })
            .collect();
        Ok(Self { partners, customers: ids(spec.customers), admins, customer_user: Uuid::new_v4(), pairs, spec })
    }

    fn created(&self) -> i64 {
        micros(self.spec.now - Duration::days(30))
    }

    pub fn partner_id(&self, i: usize) -> Uuid {
        self.partners[i]
    }

    pub fn customer_id(&self, i: usize) -> Uuid {
        self.customers[i]
    }

    /// The partner holding customer `i`.
    pub fn holder(&self, i: usize) -> usize {
        let s = &self.spec;
        if i < s.measured {
            0
        } else if i < s.measured + s.small {
            1
        } else {
            2 + (i - s.measured - s.small) % (s.partners - 2)
        }
    }

    /// The sign-in e-mail of partner `i`'s admin (global_admin of the partner).
    pub fn admin_email(i: usize) -> String {
        format!("admin@partner{i:04}.bench.example")
    }

    /// The sign-in e-mail of the user of customer 0 (a customer of the measured partner).
    pub const CUSTOMER_EMAIL: &'static str = "user@customer000000.bench.example";

    pub fn organizations(&self) -> impl Iterator<Item = SeedOrg> + '_ {
        let at = self.created();
        let partners = self.partners.iter().enumerate().map(move |(i, id)| SeedOrg {
            id: *id,
            partner: true,
            name: format!("Bench Partner {i:04}"),
            domain: format!("partner{i:04}.bench.example"),
            partner_id: Some(format!("BENCH-P{i:04}")),
            created_at: at,
        });
        let customers = self.customers.iter().enumerate().map(move |(i, id)| SeedOrg {
            id: *id,
            partner: false,
            name: customer_name(i),
            domain: format!("customer{i:06}.bench.example"),
            partner_id: None,
            created_at: at + i as i64,
        });
        let pairs = self.pairs.iter().enumerate().map(move |(i, p)| SeedOrg {
            id: p.customer_id,
            partner: false,
            name: format!("Pair Customer {i:06}"),
            domain: format!("pair{i:06}.bench.example"),
            partner_id: None,
            created_at: at,
        });
        partners.chain(customers).chain(pairs)
    }

    pub fn users(&self) -> impl Iterator<Item = SeedUser> + '_ {
        let at = self.created();
        let admins = self.admins.iter().enumerate().map(move |(i, id)| SeedUser {
            id: *id,
            organization_id: self.partners[i],
            email: Self::admin_email(i),
            display_name: format!("Admin of partner {i:04}"),
            roles: codec::roles_json(&[Role::GlobalAdmin]),
            created_at: at,
        });
        let customer = (!self.customers.is_empty()).then(|| SeedUser {
            id: self.customer_user,
            organization_id: self.customers[0],
            email: Self::CUSTOMER_EMAIL.to_owned(),
            display_name: "User of customer 000000".to_owned(),
            roles: codec::roles_json(&[Role::GlobalAdmin]),
            created_at: at,
        });
        let pairs = self.pairs.iter().enumerate().map(move |(i, p)| SeedUser {
            id: p.user_id,
            organization_id: p.customer_id,
            email: format!("admin@pair{i:06}.bench.example"),
            display_name: format!("Admin of pair {i:06}"),
            roles: codec::roles_json(&[Role::GlobalAdmin]),
            created_at: at,
        });
        admins.chain(customer).chain(pairs)
    }

    /// The acceptance pairs (`--pairs`).
    pub fn pairs(&self) -> &[SeedPair] {
        &self.pairs
    }

    /// When the pairs' sessions end (the acceptances must run before) and their invitations
    /// expire.
    pub fn pair_session_expiry(&self) -> i64 {
        micros(self.spec.now + Duration::days(1))
    }
    pub fn pair_invitation_expiry(&self) -> i64 {
        micros(self.spec.now + Duration::days(90))
    }
    pub fn now(&self) -> i64 {
        micros(self.spec.now)
    }

    /// One active relationship per customer, each with its grants (`relationship, grants`).
    pub fn relationships(&self) -> impl Iterator<Item = (SeedRelationship, Vec<SeedGrant>)> + '_ {
        let at = self.created();
        let expires = micros(self.spec.now + Duration::days(300));
        self.customers.iter().enumerate().map(move |(i, c)| {
            let partner = self.partners[self.holder(i)];
            let rel = SeedRelationship {
                id: Uuid::new_v4(),
                partner_id: partner,
                customer_id: *c,
                customer_name: customer_name(i),
                customer_created_at: at + i as i64,
                created_at: at + i as i64,
            };
            let grants = SEED_ROLES[..self.spec.grants_per_customer]
                .iter()
                .map(|role| SeedGrant {
                    id: Uuid::new_v4(),
                    relationship_id: rel.id,
                    partner_id: partner,
                    customer_id: *c,
                    role: role.as_str(),
                    created_at: at + i as i64,
                    expires_at: expires,
                })
                .collect();
            (rel, grants)
        })
    }

    /// The audit chain from seq 1 (the database must hold none): each record is a partner
    /// admin's change to one of its customers, visible to both. Yields each record with the
    /// organizations that may read it.
    pub fn audit(&self) -> impl Iterator<Item = (SeedAudit, [Uuid; 2])> + '_ {
        let start = self.created();
        let mut prev = vec![0u8; 32];
        let n = self.customers.len().max(1);
        (0..self.spec.audit_records).map(move |k| {
            let seq = k as i64 + 1;
            let ci = k % n;
            let customer = self.customers.get(ci).copied().unwrap_or_else(Uuid::nil);
            let p = self.holder(ci.min(self.customers.len().saturating_sub(1)));
            let (partner, admin) = (self.partners[p], self.admins[p]);
            let at = codec::from_micros(start + seq * 1_000);
            let change_id = Uuid::new_v4();
            let action = SEED_ACTIONS[k % SEED_ACTIONS.len()];
            let entry = AuditEntry {
                at,
                actor: Actor {
                    user_id: Some(UserId(admin)),
                    email: Some(Self::admin_email(p)),
                    roles: vec![Role::GlobalAdmin],
                    organization_id: Some(OrganizationId(partner)),
                },
                action,
                target: serde_json::json!({"type": "organization", "id": customer}),
                customer_id: Some(OrganizationId(customer)),
                details: serde_json::json!({"seeded": true, "n": k}),
                visible_to: vec![OrganizationId(partner), OrganizationId(customer)],
            };
            let body = codec::audit_body(seq, change_id, &entry).to_string();
            let hash = codec::chain_hash(&prev, body.as_bytes());
            let prev_hash = std::mem::replace(&mut prev, hash.clone());
            let rec = SeedAudit {
                seq,
                at: micros(at),
                organization_id: partner,
                action,
                customer_id: customer,
                body,
                prev_hash,
                hash,
                change_id,
            };
            (rec, [partner, customer])
        })
    }
}

const SEED_ACTIONS: [&str; 3] = ["organization.created", "relationship.created", "grant.created"];

/// Names that sort in no particular relation to their creation: the list's name order and
/// its creation order differ.
fn customer_name(i: usize) -> String {
    const WORDS: [&str; 8] = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel"];
    let w = WORDS[(i.wrapping_mul(2_654_435_761) >> 7) % WORDS.len()];
    format!("{w} Customer {i:06}")
}
