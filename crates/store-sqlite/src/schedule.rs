//! Scheduled changes and the e-mail outbox (see `partnerhub_store::schedule`). One writer: a
//! conditional update or a unique index inside the write decides, as on PostgreSQL.

use crate::rows::*;
use crate::{SqliteStore, all, exec, one, write_change};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

const INV: &str =
    "i.id, i.partner_org_id, i.customer_id, i.indirect_provider_id, i.roles, i.duration_days, i.auto_extend, i.locale, i.state,
    i.email_subject, i.email_body, i.created_by, i.created_at, i.expires_at, i.sent_at, i.responded_at, i.accepted_by, i.sent_to";
const ORGS: &str = "p.id AS p_id, p.kind AS p_kind, p.name AS p_name, p.domain AS p_domain, p.partner_type AS p_partner_type,
    p.partner_id AS p_partner_id, p.created_at AS p_created_at";
const PROVIDER: &str = "v.id AS v_id, v.kind AS v_kind, v.name AS v_name, v.domain AS v_domain, v.partner_type AS v_partner_type,
    v.partner_id AS v_partner_id, v.created_at AS v_created_at";
/// A grant's period; NULL when a node of the version before made it (see migration 0012).
const PERIOD: &str = "coalesce(duration_days, max(1, min(730, (expires_at - created_at + 43200000000) / 86400000000)))";
const GRANT: &str = "g.id, g.partner_org_id, g.customer_id, g.role, g.created_at, g.expires_at, g.auto_extend, g.revoked_at,
    coalesce(g.duration_days, max(1, min(730, (g.expires_at - g.created_at + 43200000000) / 86400000000))) AS duration_days,
    c.name AS customer_name";
const MAIL: &str = "id, claim, organization_id, kind, invitation_id, recipient, from_name, subject, body, attempts, created_at";
const DAY_US: i64 = 86_400_000_000;

fn scheduled_invitation(r: &Row<'_>) -> StoreResult<ScheduledInvitation> {
    let provider = match get::<Option<Uuid>>(r, "v_id")? {
        Some(_) => Some(org_from(r, "v_")?.partner_ref()),
        None => None,
    };
    Ok(ScheduledInvitation {
        invitation: invitation_from(r)?,
        partner: org_from(r, "p_")?.partner_ref(),
        provider,
        sent_to: get(r, "sent_to")?,
    })
}

fn scheduled_grant(r: &Row<'_>, with_warnings: bool) -> StoreResult<ScheduledGrant> {
    let warned = if with_warnings { partnerhub_store::codec::warned_days(get(r, "warned")?) } else { Vec::new() };
    Ok(ScheduledGrant {
        grant: grant_from(r)?,
        duration_days: get(r, "duration_days")?,
        partner: org_from(r, "p_")?.partner_ref(),
        customer_name: get(r, "customer_name")?,
        warned,
    })
}

pub(crate) fn insert_mail(c: &Connection, m: &NewMail, change_id: Uuid) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO email_outbox (id, organization_id, kind, invitation_id, change_id, recipient, locale, from_name, subject, body, state, attempts,
                                   next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', 0, ?11, ?11, ?11)",
        params![
            m.id,
            m.organization_id.0,
            m.kind.as_str(),
            m.invitation_id.map(|i| i.0),
            change_id,
            m.to,
            m.locale.as_str(),
            m.from_name,
            m.subject,
            m.body,
            ts(m.created_at)
        ],
    )?;
    Ok(())
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn take_lease(&self, name: &str, holder: Uuid, now: OffsetDateTime, until: OffsetDateTime) -> StoreResult<bool> {
        let name = name.to_owned();
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "INSERT INTO scheduler_leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE scheduler_leases.expires_at <= ?4 OR scheduler_leases.holder = excluded.holder",
                    params![name, holder, ts(until), ts(now)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn invitations_past_expiry(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledInvitation>> {
        let sql = format!(
            "SELECT {INV}, {ORGS}, {PROVIDER} FROM invitations i JOIN organizations p ON p.id = i.partner_org_id
             LEFT JOIN organizations v ON v.id = i.indirect_provider_id
             WHERE i.state = 'pending' AND i.expires_at <= ? ORDER BY i.expires_at, i.id LIMIT ?"
        );
        self.db.read(|c| all(c, &sql, params![ts(now), limit], scheduled_invitation))
    }

    async fn expire_invitation(&self, id: InvitationId, now: OffsetDateTime, change: Change) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE invitations SET state = 'expired' WHERE id = ? AND state = 'pending' AND expires_at <= ?",
                    params![id.0, ts(now)],
                )?;
                if n == 1 {
                    write_change(c, &change)?;
                }
                Ok(n == 1)
            })
            .await
    }

    async fn invitations_to_remind(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledInvitation>> {
        let sql = format!(
            "SELECT {INV}, {ORGS}, {PROVIDER} FROM invitations i JOIN organizations p ON p.id = i.partner_org_id
             LEFT JOIN organizations v ON v.id = i.indirect_provider_id
             WHERE i.state = 'pending' AND i.expires_at > ?1 AND i.expires_at <= ?1 + ?2 AND i.reminded_at IS NULL
               AND i.sent_to IS NOT NULL AND i.sent_at IS NOT NULL AND i.sent_at < i.expires_at - ?2
             ORDER BY i.expires_at, i.id LIMIT ?3"
        );
        self.db.read(|c| all(c, &sql, params![ts(now), 7 * DAY_US, limit], scheduled_invitation))
    }

    async fn remind_invitation(&self, id: InvitationId, now: OffsetDateTime, mail: NewMail, change: Change) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE invitations SET reminded_at = ?1 WHERE id = ?2 AND reminded_at IS NULL AND state = 'pending' AND expires_at > ?1",
                    params![ts(now), id.0],
                )?;
                if n == 1 {
                    insert_mail(c, &mail, change.id)?;
                    write_change(c, &change)?;
                }
                Ok(n == 1)
            })
            .await
    }

    async fn grants_past_expiry(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledGrant>> {
        let sql = format!(
            "SELECT {GRANT}, {ORGS} FROM grants g JOIN organizations p ON p.id = g.partner_org_id JOIN organizations c ON c.id = g.customer_id
             WHERE g.revoked_at IS NULL AND g.expired_at IS NULL AND g.expires_at <= ? ORDER BY g.expires_at, g.id LIMIT ?"
        );
        self.db.read(|c| all(c, &sql, params![ts(now), limit], |r| scheduled_grant(r, false)))
    }

    async fn expire_grant(&self, id: GrantId, now: OffsetDateTime, change: Change) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE grants SET expired_at = ?1 WHERE id = ?2 AND revoked_at IS NULL AND expired_at IS NULL AND expires_at <= ?1",
                    params![ts(now), id.0],
                )?;
                if n == 1 {
                    write_change(c, &change)?;
                }
                Ok(n == 1)
            })
            .await
    }

    async fn extend_grant(&self, id: GrantId, from: OffsetDateTime, to: OffsetDateTime, change: Change) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                let n = exec(
                    c,
                    &format!(
                        "UPDATE grants SET expires_at = ?1, duration_days = {PERIOD}
                         WHERE id = ?2 AND expires_at = ?3 AND revoked_at IS NULL AND expired_at IS NULL AND auto_extend = 1 AND role <> 'global_admin'"
                    ),
                    params![ts(to), id.0, ts(from)],
                )?;
                if n == 1 {
                    exec(c, "DELETE FROM grant_warnings WHERE grant_id = ?", params![id.0])?;
                    write_change(c, &change)?;
                }
                Ok(n == 1)
            })
            .await
    }

    async fn grants_ending_soon(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledGrant>> {
        let sql = format!(
            "SELECT {GRANT}, {ORGS}, (SELECT group_concat(w.days) FROM grant_warnings w WHERE w.grant_id = g.id) AS warned
             FROM grants g JOIN organizations p ON p.id = g.partner_org_id JOIN organizations c ON c.id = g.customer_id
             WHERE g.revoked_at IS NULL AND g.expired_at IS NULL AND g.auto_extend = 0 AND g.expires_at > ?1 AND g.expires_at <= ?1 + ?2
               AND EXISTS (SELECT 1 FROM (SELECT 30 AS d UNION ALL SELECT 7 UNION ALL SELECT 1) AS t
                           WHERE g.expires_at <= ?1 + t.d * 86400000000
                             AND coalesce(g.duration_days, max(1, min(730, (g.expires_at - g.created_at + 43200000000) / 86400000000))) > t.d
                             AND NOT EXISTS (SELECT 1 FROM grant_warnings w WHERE w.grant_id = g.id AND w.days = t.d))
             ORDER BY g.expires_at, g.id LIMIT ?3"
        );
        self.db.read(|c| all(c, &sql, params![ts(now), 30 * DAY_US, limit], |r| scheduled_grant(r, true)))
    }

    async fn warn_grants(
        &self,
        warnings: Vec<(GrantId, i64)>,
        now: OffsetDateTime,
        mails: Vec<NewMail>,
        change: Change,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                for (g, days) in &warnings {
                    exec(c, "INSERT INTO grant_warnings (grant_id, days, warned_at) VALUES (?, ?, ?)", params![g.0, days, ts(now)])?;
                }
                for m in &mails {
                    insert_mail(c, m, change.id)?;
                }
                write_change(c, &change)
            })
            .await
    }

    async fn recipients(&self, org: OrganizationId, roles: &[Role]) -> StoreResult<Vec<Recipient>> {
        let users = self.db.read(|c| {
            all(c, "SELECT email, locale, roles FROM users WHERE organization_id = ? ORDER BY email", params![org.0], |r| {
                let locale: Option<String> = get(r, "locale")?;
                let held: String = get(r, "roles")?;
                Ok((get::<String>(r, "email")?, locale.and_then(|l| Locale::parse(&l)), held))
            })
        })?;
        let mut out = Vec::new();
        for (email, locale, held) in users {
            if names(&held)?.iter().any(|n| roles.iter().any(|r| r.as_str() == n)) {
                out.push(Recipient { email, locale });
            }
        }
        Ok(out)
    }
}

fn claimed_from(r: &Row<'_>) -> StoreResult<ClaimedMail> {
    let kind: String = get(r, "kind")?;
    Ok(ClaimedMail {
        id: get(r, "id")?,
        claim: get(r, "claim")?,
        organization_id: OrganizationId(get(r, "organization_id")?),
        kind: MailKind::parse(&kind).ok_or_else(|| StoreError::Database(format!("unknown e-mail kind `{kind}`")))?,
        invitation_id: get::<Option<Uuid>>(r, "invitation_id")?.map(InvitationId),
        to: get(r, "recipient")?,
        from_name: get(r, "from_name")?,
        subject: get(r, "subject")?,
        body: get(r, "body")?,
        attempts: get(r, "attempts")?,
        created_at: from_ts(get(r, "created_at")?),
    })
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn queue_invitation_mail(&self, partner: OrganizationId, mail: NewMail, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        self.db
            .write(move |c| {
                let id = mail.invitation_id.ok_or(StoreError::NotFound)?;
                let n = exec(
                    c,
                    "UPDATE invitations SET sent_to = ?1 WHERE id = ?2 AND partner_org_id = ?3 AND state = 'pending' AND expires_at > ?4",
                    params![mail.to, id.0, partner.0, ts(now)],
                )?;
                if n == 0 {
                    let exists = crate::scalar_i64(
                        c,
                        "SELECT count(*) FROM invitations WHERE id = ? AND partner_org_id = ?",
                        params![id.0, partner.0],
                    )?;
                    return Err(if exists == 0 {
                        StoreError::NotFound
                    } else {
                        StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING }
                    });
                }
                insert_mail(c, &mail, change.id)?;
                write_change(c, &change)
            })
            .await
    }

    async fn claim_mail(&self, claim: Uuid, now: OffsetDateTime, until: OffsetDateTime, limit: i64) -> StoreResult<Vec<ClaimedMail>> {
        self.db
            .write(move |c| {
                let mut out = all(
                    c,
                    &format!(
                        "UPDATE email_outbox SET claim = ?1, claimed_until = ?2
                         WHERE id IN (SELECT id FROM email_outbox WHERE state = 'queued' AND next_attempt_at <= ?3
                                        AND (claimed_until IS NULL OR claimed_until <= ?3) ORDER BY next_attempt_at, id LIMIT ?4)
                         RETURNING {MAIL}"
                    ),
                    params![claim, ts(until), ts(now), limit],
                    claimed_from,
                )?;
                out.sort_by_key(|m| (m.created_at, m.id));
                Ok(out)
            })
            .await
    }

    async fn finish_mail(
        &self,
        id: Uuid,
        claim: Uuid,
        now: OffsetDateTime,
        outcome: MailOutcome,
        change: Option<Change>,
    ) -> StoreResult<bool> {
        self.db
            .write(move |c| {
                const HELD: &str = "WHERE id = ?1 AND claim = ?2 AND state = 'queued'";
                const CLEAR: &str = "attempts = attempts + 1, claim = NULL, claimed_until = NULL, updated_at = ?3";
                let n = match &outcome {
                    MailOutcome::Sent => {
                        exec(c, &format!("UPDATE email_outbox SET state = 'sent', sent_at = ?3, {CLEAR} {HELD}"), params![id, claim, ts(now)])?
                    }
                    MailOutcome::Retry { at, kind, error } => exec(
                        c,
                        &format!("UPDATE email_outbox SET next_attempt_at = ?4, last_error_kind = ?5, last_error = ?6, {CLEAR} {HELD}"),
                        params![id, claim, ts(now), ts(*at), kind.as_str(), error],
                    )?,
                    MailOutcome::Failed { kind, error } => exec(
                        c,
                        &format!("UPDATE email_outbox SET state = 'failed', last_error_kind = ?4, last_error = ?5, {CLEAR} {HELD}"),
                        params![id, claim, ts(now), kind.as_str(), error],
                    )?,
                };
                if n == 0 {
                    return Ok(false);
                }
                if matches!(outcome, MailOutcome::Sent) {
                    exec(
                        c,
                        "UPDATE invitations SET sent_at = ?1 WHERE id = (SELECT invitation_id FROM email_outbox WHERE id = ?2 AND kind = 'invitation')",
                        params![ts(now), id],
                    )?;
                }
                if let Some(change) = &change {
                    write_change(c, change)?;
                }
                Ok(true)
            })
            .await
    }

    async fn invitation_mail(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Option<MailStatus>> {
        self.db.read(|c| {
            match one(
                c,
                "SELECT id, state, recipient, attempts, last_error, last_error_kind, next_attempt_at, created_at, sent_at FROM email_outbox
                 WHERE organization_id = ? AND invitation_id = ? AND kind = 'invitation' ORDER BY created_at DESC, id DESC LIMIT 1",
                params![partner.0, id.0],
                |r| {
                    let state: String = get(r, "state")?;
                    let kind: Option<String> = get(r, "last_error_kind")?;
                    Ok(MailStatus {
                        id: get(r, "id")?,
                        next_attempt_at: (state == "queued").then(|| get::<i64>(r, "next_attempt_at").map(from_ts)).transpose()?,
                        state,
                        to: get(r, "recipient")?,
                        attempts: get(r, "attempts")?,
                        last_error: get(r, "last_error")?,
                        last_error_kind: kind.and_then(|k| MailErrorKind::parse(&k)),
                        created_at: from_ts(get(r, "created_at")?),
                        sent_at: get::<Option<i64>>(r, "sent_at")?.map(from_ts),
                    })
                },
            ) {
                Ok(s) => Ok(Some(s)),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}
