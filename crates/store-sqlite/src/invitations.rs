//! Invitations from a partner to a customer: creation, the e-mail, and the customer's answer.

use crate::rows::*;
use crate::{SqliteStore, all, blob, exec, insert_relationships, one, org_in, scalar_i64, write_change};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};
use time::OffsetDateTime;

const INV_COLS: &str = "id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by";

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn create_invitation(&self, i: NewInvitation, change: Change) -> StoreResult<Invitation> {
        self.db
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO invitations (id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
                                              token_hash, email_subject, email_body, created_by, created_at, expires_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                    params![
                        i.id.0,
                        i.partner_org_id.0,
                        i.customer_id.map(|c| c.0),
                        i.indirect_provider_id.map(|c| c.0),
                        delegated_json(&i.roles),
                        i.duration_days,
                        i.auto_extend,
                        i.locale.as_str(),
                        i.token_hash,
                        i.email_subject,
                        i.email_body,
                        i.created_by.0,
                        ts(i.created_at),
                        ts(i.expires_at)
                    ],
                )?;
                write_change(c, &change)?;
                Ok(i.created())
            })
            .await
    }

    async fn invitation(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
        self.db.read(|c| invitation_in(c, partner, id))
    }

    async fn list_invitations(
        &self,
        partner: OrganizationId,
        state: Option<InvitationState>,
        now: OffsetDateTime,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Invitation>> {
        let mut filter = String::from(" WHERE partner_org_id = ?");
        let mut args = vec![blob(partner.0)];
        match state {
            None => {}
            Some(InvitationState::Pending) => {
                filter.push_str(" AND state = 'pending' AND expires_at > ?");
                args.push(Sql::Integer(ts(now)));
            }
            Some(InvitationState::Expired) => {
                filter.push_str(" AND (state = 'expired' OR (state = 'pending' AND expires_at <= ?))");
                args.push(Sql::Integer(ts(now)));
            }
            Some(s) => {
                filter.push_str(" AND state = ?");
                args.push(Sql::Text(s.as_str().into()));
            }
        }
        let count_sql = format!("SELECT count(*) FROM invitations{filter}");
        let mut page_sql = format!("SELECT {INV_COLS} FROM invitations{filter}");
        let mut page_args = args.clone();
        if let Some(cur) = cursor {
            let (_, id) = decode_cursor(cur)?;
            page_sql.push_str(" AND id < ?");
            page_args.push(blob(id));
        }
        page_sql.push_str(" ORDER BY id DESC LIMIT ?");
        page_args.push(Sql::Integer(limit + 1));
        self.db.read(|c| {
            let total = scalar_i64(c, &count_sql, params_from_iter(args.iter()))?;
            let mut items = all(c, &page_sql, params_from_iter(page_args.iter()), invitation_from)?;
            let more = items.len() as i64 > limit;
            items.truncate(limit as usize);
            let next_cursor = if more { items.last().map(|i| encode_cursor("", i.id.0)) } else { None };
            Ok(Page { items, next_cursor, total })
        })
    }

    async fn save_invitation_email(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        subject: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Invitation> {
        let (subject, body) = (subject.to_owned(), body.to_owned());
        self.db
            .write(move |c| {
                let sql = format!(
                    "UPDATE invitations SET email_subject = ?, email_body = ? WHERE id = ? AND partner_org_id = ? AND state = 'pending' AND expires_at > ? RETURNING {INV_COLS}"
                );
                match one(c, &sql, params![subject, body, id.0, partner.0, ts(now)], invitation_from) {
                    Err(StoreError::NotFound) => {
                        invitation_in(c, partner, id)?;
                        Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING })
                    }
                    other => other,
                }
            })
            .await
    }

    async fn mark_invitation_sent(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                if exec(c, "UPDATE invitations SET sent_at = ? WHERE id = ? AND partner_org_id = ?", params![ts(now), id.0, partner.0])?
                    == 0
                {
                    return Err(StoreError::NotFound);
                }
                write_change(c, &change)
            })
            .await
    }

    async fn revoke_invitation(
        &self,
        partner: OrganizationId,
        id: InvitationId,
        now: OffsetDateTime,
        change: Change,
    ) -> StoreResult<Invitation> {
        self.db
            .write(move |c| {
                let sql = format!(
                    "UPDATE invitations SET state = 'revoked', responded_at = ?1 WHERE id = ?2 AND partner_org_id = ?3 AND state = 'pending' AND expires_at > ?1 RETURNING {INV_COLS}"
                );
                let inv = match one(c, &sql, params![ts(now), id.0, partner.0], invitation_from) {
                    Err(StoreError::NotFound) => {
                        invitation_in(c, partner, id)?;
                        return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
                    }
                    other => other?,
                };
                write_change(c, &change)?;
                Ok(inv)
            })
            .await
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> StoreResult<InvitationForCustomer> {
        self.db.read(|c| {
            let invitation =
                one(c, &format!("SELECT {INV_COLS} FROM invitations WHERE token_hash = ?"), params![token_hash], invitation_from)?;
            let partner = org_in(c, invitation.partner_org_id)?.partner_ref();
            let provider = invitation.indirect_provider_id.map(|p| org_in(c, p).map(|o| o.partner_ref())).transpose()?;
            Ok(InvitationForCustomer { invitation, partner, provider })
        })
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
        self.db
            .write(move |c| {
                // The conditional update is the lock: of N concurrent acceptances, one changes the row.
                let n = exec(
                    c,
                    "UPDATE invitations SET state = 'accepted', responded_at = ?1, accepted_by = ?2
                     WHERE id = ?3 AND state = 'pending' AND expires_at > ?1 AND (customer_id IS NULL OR customer_id = ?2)",
                    params![ts(now), customer.0, id.0],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
                }
                ensure_relationships_active(c, &relationships, &grants)?;
                let replaced = insert_relationships(c, &relationships, &grants)?;
                let mut change = change;
                if replaced > 0 {
                    change.record("replaced_grants", replaced);
                }
                write_change(c, &change)
            })
            .await
    }

    async fn decline_invitation(&self, id: InvitationId, customer: OrganizationId, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE invitations SET state = 'declined', responded_at = ?1
                     WHERE id = ?3 AND state = 'pending' AND expires_at > ?1 AND (customer_id IS NULL OR customer_id = ?2)",
                    params![ts(now), customer.0, id.0],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
                }
                write_change(c, &change)
            })
            .await
    }
}

/// A renewal's grants name the relationship the service read before this transaction; a
/// removal may have ended it since. Grants go only under a relationship made here or still
/// active for their partner and customer; otherwise `Conflict(RELATIONSHIP_ENDED)`, and the
/// savepoint undoes the invitation's update.
fn ensure_relationships_active(c: &Connection, made: &[NewRelationship], grants: &[NewGrant]) -> StoreResult<()> {
    for g in grants.iter().filter(|g| !made.iter().any(|r| r.id == g.relationship_id)) {
        let active = scalar_i64(
            c,
            "SELECT count(*) FROM relationships WHERE id = ? AND partner_org_id = ? AND customer_id = ? AND state = 'active'",
            params![g.relationship_id.0, g.partner_org_id.0, g.customer_id.0],
        )?;
        if active == 0 {
            return Err(StoreError::Conflict { constraint: constraint::RELATIONSHIP_ENDED });
        }
    }
    Ok(())
}

fn invitation_in(c: &Connection, partner: OrganizationId, id: InvitationId) -> StoreResult<Invitation> {
    one(c, &format!("SELECT {INV_COLS} FROM invitations WHERE id = ? AND partner_org_id = ?"), params![id.0, partner.0], invitation_from)
}
