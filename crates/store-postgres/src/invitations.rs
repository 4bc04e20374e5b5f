//! Invitations from a partner to a customer: creation, the e-mail, and the customer's answer.

use crate::rows::*;
use crate::{PgStore, audit, bind_rels_grants, db, fenced, locks, n_of, record_replaced, rels_grants_ctes};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

const INV_COLS: &str = "id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by";

#[async_trait]
impl InvitationStore for PgStore {
    async fn create_invitation(&self, i: NewInvitation, change: Change) -> StoreResult<Invitation> {
        // One statement outside a transaction: the insert and the pending row of its audit
        // record and event (see `audit::chained`), committed as it ends; then the link.
        let sql = audit::chained(
            "ins AS (
                 INSERT INTO invitations (id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
                                          token_hash, email_subject, email_body, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $13, $14)
                 RETURNING 1)",
            "SELECT (SELECT count(*) FROM ins) AS n",
            14,
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i.id.0)
            .bind(i.partner_org_id.0)
            .bind(i.customer_id.map(|c| c.0))
            .bind(i.indirect_provider_id.map(|c| c.0))
            .bind(delegated_json(&i.roles))
            .bind(i.duration_days)
            .bind(i.auto_extend)
            .bind(i.locale.as_str())
            .bind(&i.token_hash)
            .bind(&i.email_subject)
            .bind(&i.email_body)
            .bind(i.created_by.0)
            .bind(pt(i.created_at))
            .bind(pt(i.expires_at));
        let r = audit::bind_pending(q, &change, &[])?.fetch_one(&self.pool).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Database("invitation not inserted".into()));
        }
        self.settle().await;
        Ok(i.created())
    }

    async fn invitation(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
        let r = sqlx::query(sqlf!("SELECT {INV_COLS} FROM invitations WHERE id = $1 AND partner_org_id = $2"))
            .bind(id.0)
            .bind(partner.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        invitation_from(&r)
    }

    async fn list_invitations(
        &self,
        partner: OrganizationId,
        state: Option<InvitationState>,
        now: OffsetDateTime,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Invitation>> {
        let filter = |b: &mut QueryBuilder<Postgres>| {
            b.push(" WHERE partner_org_id = ").push_bind(partner.0);
            match state {
                None => {}
                Some(InvitationState::Pending) => {
                    b.push(" AND state = 'pending' AND expires_at > ").push_bind(pt(now));
                }
                Some(InvitationState::Expired) => {
                    b.push(" AND (state = 'expired' OR (state = 'pending' AND expires_at <= ").push_bind(pt(now)).push("))");
                }
                Some(s) => {
                    b.push(" AND state = ").push_bind(s.as_str());
                }
            }
        };
        let after = cursor.map(decode_cursor).transpose()?.map(|(_, id)| id);
        // The total and the page in one statement: the total over the filter, the page after the cursor.
        let mut b = QueryBuilder::<Postgres>::new("SELECT t.total, p.* FROM (SELECT count(*) AS total FROM invitations");
        filter(&mut b);
        b.push(format!(") AS t LEFT JOIN LATERAL (SELECT {INV_COLS} FROM invitations"));
        filter(&mut b);
        if let Some(id) = after {
            b.push(" AND id < ").push_bind(id);
        }
        // SQLite reads a negative LIMIT as none.
        b.push(" ORDER BY id DESC LIMIT ").push_bind((limit + 1 >= 0).then_some(limit + 1));
        b.push(") AS p ON true ORDER BY p.id DESC");
        let rows = b.build().fetch_all(&self.pool).await.map_err(db)?;
        let total: i64 = match rows.first() {
            Some(r) => r.try_get("total").map_err(db)?,
            None => 0,
        };
        let mut page = Vec::with_capacity(rows.len());
        for r in &rows {
            if get::<Option<Uuid>>(r, "id")?.is_some() {
                page.push(r);
            }
        }
        let items = page.iter().take(limit as usize).map(|r| invitation_from(r)).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if page.len() as i64 > limit { items.last().map(|i| encode_cursor("", i.id.0)) } else { None };
        Ok(Page { items, next_cursor, total })
    }

    async fn save_invitation_email(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        subject: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Invitation> {
        // One statement: its own transaction.
        let r = sqlx::query(sqlf!(
            "UPDATE invitations SET email_subject = $1, email_body = $2
             WHERE id = $3 AND partner_org_id = $4 AND state = 'pending' AND expires_at > $5 RETURNING {INV_COLS}"
        ))
        .bind(subject)
        .bind(body)
        .bind(id.0)
        .bind(partner.0)
        .bind(pt(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = r else {
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        };
        invitation_from(&r)
    }

    async fn mark_invitation_sent(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "upd AS (UPDATE invitations SET sent_at = $1 WHERE id = $2 AND partner_org_id = $3 RETURNING 1)",
            "SELECT (SELECT count(*) FROM upd) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(id.0).bind(partner.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn revoke_invitation(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Invitation> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            &format!(
                "upd AS (UPDATE invitations SET state = 'revoked', responded_at = $1
                         WHERE id = $2 AND partner_org_id = $3 AND state = 'pending' AND expires_at > $1 RETURNING {INV_COLS})"
            ),
            "SELECT upd.*, 1 AS n FROM upd",
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(id.0).bind(partner.0).fetch_optional(&mut *tx).await.map_err(db)?;
        let Some(r) = r else {
            drop(tx);
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        };
        let inv = invitation_from(&r)?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(inv)
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> StoreResult<InvitationForCustomer> {
        let r = sqlx::query(
            "SELECT i.id, i.partner_org_id, i.customer_id, i.indirect_provider_id, i.roles, i.duration_days, i.auto_extend, i.locale,
                    i.state, i.email_subject, i.email_body, i.created_by, i.created_at, i.expires_at, i.sent_at, i.responded_at, i.accepted_by,
                    p.id AS p_id, p.kind AS p_kind, p.name AS p_name, p.domain AS p_domain, p.partner_type AS p_partner_type,
                    p.partner_id AS p_partner_id, p.created_at AS p_created_at,
                    v.id AS v_id, v.kind AS v_kind, v.name AS v_name, v.domain AS v_domain, v.partner_type AS v_partner_type,
                    v.partner_id AS v_partner_id, v.created_at AS v_created_at
             FROM invitations i JOIN organizations p ON p.id = i.partner_org_id
             LEFT JOIN organizations v ON v.id = i.indirect_provider_id
             WHERE i.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let invitation = invitation_from(&r)?;
        let partner = org_from(&r, "p_")?.partner_ref();
        let provider = match invitation.indirect_provider_id {
            Some(_) if get::<Option<Uuid>>(&r, "v_id")?.is_none() => return Err(StoreError::NotFound),
            Some(_) => Some(org_from(&r, "v_")?.partner_ref()),
            None => None,
        };
        Ok(InvitationForCustomer { invitation, partner, provider })
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()> {
        if !relationships.is_empty() && grants.iter().all(|g| relationships.iter().any(|r| r.id == g.relationship_id)) {
            return self.accept_fresh(id, customer, now, relationships, grants, change).await;
        }
        let mut tx = self.begin().await?;
        // A renewal ends grants that tenant actions may hold: the gates first (see `locks`).
        // Exclusive, they also keep removals of these pairs out until the commit: a removal
        // takes its pair's gate before it ends the relationship.
        let pairs = grants.iter().map(|g| (g.partner_org_id, g.customer_id)).collect::<Vec<_>>();
        locks::take(&mut tx, true, &pairs).await?;
        // The conditional update is the lock: of N concurrent acceptances, one changes the row;
        // the others wait for it, see it accepted and change nothing. The relationships and
        // grants go in the same statement, only when the update did.
        // A renewal's grants name the relationship the service read before this transaction;
        // `stale` counts those that name one not made here and no longer active for their pair.
        // This statement's snapshot is taken after the gates, so it sees every removal that
        // committed before them, and none can commit after them: then nothing is written.
        // (`$12`, `$13`, `$14`: the grants' relationships, partners and customers, see
        // `bind_rels_grants`.)
        let sql = fenced(
            &format!(
                "stale AS MATERIALIZED (
                     SELECT count(*) AS n
                     FROM unnest($12::uuid[], $13::uuid[], $14::uuid[]) AS g(relationship_id, partner_org_id, customer_id)
                     WHERE g.relationship_id <> ALL($4::uuid[])
                       AND NOT EXISTS (SELECT 1 FROM relationships r
                                       WHERE r.id = g.relationship_id AND r.partner_org_id = g.partner_org_id
                                         AND r.customer_id = g.customer_id AND r.state = 'active')),
                 upd AS (UPDATE invitations SET state = 'accepted', responded_at = $1, accepted_by = $2
                         WHERE id = $3 AND state = 'pending' AND expires_at > $1 AND (customer_id IS NULL OR customer_id = $2)
                           AND (SELECT n FROM stale) = 0
                         RETURNING 1), {}",
                rels_grants_ctes(4, "EXISTS (SELECT 1 FROM upd)", true)
            ),
            "SELECT (SELECT count(*) FROM upd) AS n, (SELECT count(*) FROM rels) AS rels, (SELECT count(*) FROM grs) AS grs,
                    (SELECT count(*) FROM ended) AS replaced, (SELECT n FROM stale) AS stale,
                    EXISTS (SELECT 1 FROM invitations WHERE id = $3 AND state = 'pending' AND expires_at > $1
                                                        AND (customer_id IS NULL OR customer_id = $2)) AS open",
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(customer.0).bind(id.0);
        let r = bind_rels_grants(q, &relationships, &grants).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            // An invitation answered (or expired) says so first, as in SQLite.
            let ended = get::<i64>(&r, "stale")? > 0 && get::<bool>(&r, "open")?;
            let constraint = if ended { constraint::RELATIONSHIP_ENDED } else { constraint::INVITATION_NOT_PENDING };
            return Err(StoreError::Conflict { constraint });
        }
        let mut change = change;
        record_replaced(&mut change, get(&r, "replaced")?);
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn decline_invitation(&self, id: InvitationId, customer: OrganizationId, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let sql = fenced(
            "upd AS (UPDATE invitations SET state = 'declined', responded_at = $1
                     WHERE id = $3 AND state = 'pending' AND expires_at > $1 AND (customer_id IS NULL OR customer_id = $2)
                     RETURNING 1)",
            "SELECT (SELECT count(*) FROM upd) AS n",
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(customer.0).bind(id.0).fetch_one(&mut *tx).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }
}

impl PgStore {
    /// An acceptance whose grants all go under relationships it makes (every acceptance but a
    /// renewal), as one statement outside a transaction: the gates (exclusive, taken in the
    /// statement: nothing it relies on was readable before them, as the relationship is new),
    /// the invitation's conditional update, the relationships and grants, then the pending row
    /// of its audit records and events (see `audit::chained`). It commits as it ends, in one
    /// round trip; then the request waits for the chainer to link it (`settle`). No grant can
    /// be replaced: a pair without an active relationship has no unrevoked grant (a removal
    /// revokes them all).
    async fn accept_fresh(
        &self,
        id: InvitationId,
        customer: OrganizationId,
        now: OffsetDateTime,
        relationships: Vec<NewRelationship>,
        grants: Vec<NewGrant>,
        change: Change,
    ) -> StoreResult<()> {
        // (`$13`, `$14`: the grants' partners and customers, see `bind_rels_grants`.)
        let sql = audit::chained(
            &format!(
                "{}, upd AS (
                     UPDATE invitations SET state = 'accepted', responded_at = $1, accepted_by = $2
                     WHERE id = $3 AND state = 'pending' AND expires_at > $1 AND (customer_id IS NULL OR customer_id = $2)
                       AND (SELECT n FROM gate) >= 0
                     RETURNING 1), {}",
                locks::gate_cte(true, "SELECT p, c FROM unnest($13::uuid[], $14::uuid[]) AS t(p, c)"),
                rels_grants_ctes(4, "EXISTS (SELECT 1 FROM upd)", false)
            ),
            "SELECT (SELECT count(*) FROM upd) AS n, (SELECT count(*) FROM rels) AS rels, (SELECT count(*) FROM grs) AS grs",
            18,
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pt(now)).bind(customer.0).bind(id.0);
        let q = audit::bind_pending(bind_rels_grants(q, &relationships, &grants), &change, &[])?;
        let r = q.fetch_one(&self.pool).await.map_err(db)?;
        if n_of(&r)? == 0 {
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        self.settle().await;
        Ok(())
    }
}
