//! Scheduled changes and the e-mail outbox (see `partnerhub_store::schedule`). Several nodes
//! may run the same item at once: the conditional update (rechecked after a concurrent writer
//! commits, at READ COMMITTED) or the unique index `grant_warnings_once` lets one win; the
//! e-mail claim skips rows another worker holds (`FOR UPDATE SKIP LOCKED`) or has leased.

use crate::rows::*;
use crate::{PgStore, Tx, audit, db};
use async_trait::async_trait;
use partnerhub_domain::*;
use partnerhub_store::*;
use sqlx::postgres::PgRow;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const INV: &str =
    "i.id, i.partner_org_id, i.customer_id, i.indirect_provider_id, i.roles, i.duration_days, i.auto_extend, i.locale, i.state,
    i.email_subject, i.email_body, i.created_by, i.created_at, i.expires_at, i.sent_at, i.responded_at, i.accepted_by, i.sent_to";
const ORGS: &str = "p.id AS p_id, p.kind AS p_kind, p.name AS p_name, p.domain AS p_domain, p.partner_type AS p_partner_type,
    p.partner_id AS p_partner_id, p.created_at AS p_created_at";
const PROVIDER: &str = "v.id AS v_id, v.kind AS v_kind, v.name AS v_name, v.domain AS v_domain, v.partner_type AS v_partner_type,
    v.partner_id AS v_partner_id, v.created_at AS v_created_at";
/// A grant's period; NULL when a node of the version before made it (see migration 0012).
const PERIOD: &str = "coalesce(duration_days, greatest(1, least(730, round(extract(epoch FROM expires_at - created_at) / 86400)::bigint)))";
const GRANT: &str = "g.id, g.partner_org_id, g.customer_id, g.role, g.created_at, g.expires_at, g.auto_extend, g.revoked_at,
    coalesce(g.duration_days, greatest(1, least(730, round(extract(epoch FROM g.expires_at - g.created_at) / 86400)::bigint))) AS duration_days,
    c.name AS customer_name";
const MAIL: &str = "id, claim, organization_id, kind, invitation_id, recipient, from_name, subject, body, attempts, created_at";

fn scheduled_invitation(r: &PgRow) -> StoreResult<ScheduledInvitation> {
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

fn scheduled_grant(r: &PgRow, with_warnings: bool) -> StoreResult<ScheduledGrant> {
    let warned = if with_warnings { partnerhub_store::codec::warned_days(get(r, "warned")?) } else { Vec::new() };
    Ok(ScheduledGrant {
        grant: grant_from(r)?,
        duration_days: get(r, "duration_days")?,
        partner: org_from(r, "p_")?.partner_ref(),
        customer_name: get(r, "customer_name")?,
        warned,
    })
}

async fn insert_mail(tx: &mut Tx, m: &NewMail, change_id: Uuid) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO email_outbox (id, organization_id, kind, invitation_id, change_id, recipient, locale, from_name, subject, body, state, attempts,
                                   next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, $11, $11, $11)",
    )
    .bind(m.id)
    .bind(m.organization_id.0)
    .bind(m.kind.as_str())
    .bind(m.invitation_id.map(|i| i.0))
    .bind(change_id)
    .bind(&m.to)
    .bind(m.locale.as_str())
    .bind(&m.from_name)
    .bind(&m.subject)
    .bind(&m.body)
    .bind(pt(m.created_at))
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

impl PgStore {
    /// Runs one conditional update (binding `binds`); when it changed a row, writes `change`
    /// in the same transaction. Answers whether it did.
    async fn conditional(
        &self,
        sql: &'static str,
        binds: impl FnOnce(PgQuery<'static>) -> PgQuery<'static>,
        change: Change,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = binds(sqlx::query(sql)).execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(true)
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

#[async_trait]
impl ScheduleStore for PgStore {
    async fn take_lease(&self, name: &str, holder: Uuid, now: OffsetDateTime, until: OffsetDateTime) -> StoreResult<bool> {
        let r = sqlx::query(
            "INSERT INTO scheduler_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE scheduler_leases.expires_at <= $4 OR scheduler_leases.holder = excluded.holder
             RETURNING 1",
        )
        .bind(name)
        .bind(holder)
        .bind(pt(until))
        .bind(pt(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.is_some())
    }

    async fn invitations_past_expiry(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledInvitation>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {INV}, {ORGS}, {PROVIDER} FROM invitations i JOIN organizations p ON p.id = i.partner_org_id
             LEFT JOIN organizations v ON v.id = i.indirect_provider_id
             WHERE i.state = 'pending' AND i.expires_at <= $1 ORDER BY i.expires_at, i.id LIMIT $2"
        ))
        .bind(pt(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(scheduled_invitation).collect()
    }

    async fn expire_invitation(&self, id: InvitationId, now: OffsetDateTime, change: Change) -> StoreResult<bool> {
        self.conditional(
            "UPDATE invitations SET state = 'expired' WHERE id = $1 AND state = 'pending' AND expires_at <= $2",
            |q| q.bind(id.0).bind(pt(now)),
            change,
        )
        .await
    }

    async fn invitations_to_remind(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledInvitation>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {INV}, {ORGS}, {PROVIDER} FROM invitations i JOIN organizations p ON p.id = i.partner_org_id
             LEFT JOIN organizations v ON v.id = i.indirect_provider_id
             WHERE i.state = 'pending' AND i.expires_at > $1 AND i.expires_at <= $2 AND i.reminded_at IS NULL
               AND i.sent_to IS NOT NULL AND i.sent_at IS NOT NULL AND i.sent_at < i.expires_at - interval '168 hours'
             ORDER BY i.expires_at, i.id LIMIT $3"
        ))
        .bind(pt(now))
        .bind(pt(now + Duration::days(7)))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(scheduled_invitation).collect()
    }

    async fn remind_invitation(&self, id: InvitationId, now: OffsetDateTime, mail: NewMail, change: Change) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE invitations SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL AND state = 'pending' AND expires_at > $1",
        )
        .bind(pt(now))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_mail(&mut tx, &mail, change.id).await?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn grants_past_expiry(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledGrant>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {GRANT}, {ORGS} FROM grants g JOIN organizations p ON p.id = g.partner_org_id JOIN organizations c ON c.id = g.customer_id
             WHERE g.revoked_at IS NULL AND g.expired_at IS NULL AND g.expires_at <= $1 ORDER BY g.expires_at, g.id LIMIT $2"
        ))
        .bind(pt(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| scheduled_grant(r, false)).collect()
    }

    async fn expire_grant(&self, id: GrantId, now: OffsetDateTime, change: Change) -> StoreResult<bool> {
        self.conditional(
            "UPDATE grants SET expired_at = $1 WHERE id = $2 AND revoked_at IS NULL AND expired_at IS NULL AND expires_at <= $1",
            |q| q.bind(pt(now)).bind(id.0),
            change,
        )
        .await
    }

    async fn extend_grant(&self, id: GrantId, from: OffsetDateTime, to: OffsetDateTime, change: Change) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(sqlf!(
            "UPDATE grants SET expires_at = $1, duration_days = {PERIOD}
             WHERE id = $2 AND expires_at = $3 AND revoked_at IS NULL AND expired_at IS NULL AND auto_extend AND role <> 'global_admin'"
        ))
        .bind(pt(to))
        .bind(id.0)
        .bind(pt(from))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM grant_warnings WHERE grant_id = $1").bind(id.0).execute(&mut *tx).await.map_err(db)?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn grants_ending_soon(&self, now: OffsetDateTime, limit: i64) -> StoreResult<Vec<ScheduledGrant>> {
        let rows = sqlx::query(sqlf!(
            "SELECT {GRANT}, {ORGS}, (SELECT string_agg(w.days::text, ',') FROM grant_warnings w WHERE w.grant_id = g.id) AS warned
             FROM grants g JOIN organizations p ON p.id = g.partner_org_id JOIN organizations c ON c.id = g.customer_id
             WHERE g.revoked_at IS NULL AND g.expired_at IS NULL AND NOT g.auto_extend AND g.expires_at > $1 AND g.expires_at <= $2
               AND EXISTS (SELECT 1 FROM (VALUES (30), (7), (1)) AS t(d)
                           WHERE g.expires_at <= $1 + t.d * interval '24 hours'
                             AND coalesce(g.duration_days, greatest(1, least(730, round(extract(epoch FROM g.expires_at - g.created_at) / 86400)::bigint))) > t.d
                             AND NOT EXISTS (SELECT 1 FROM grant_warnings w WHERE w.grant_id = g.id AND w.days = t.d))
             ORDER BY g.expires_at, g.id LIMIT $3"
        ))
        .bind(pt(now))
        .bind(pt(now + Duration::days(30)))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| scheduled_grant(r, true)).collect()
    }

    async fn warn_grants(
        &self,
        warnings: Vec<(GrantId, i64)>,
        now: OffsetDateTime,
        mails: Vec<NewMail>,
        change: Change,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let (ids, days): (Vec<Uuid>, Vec<i64>) = warnings.iter().map(|(g, d)| (g.0, *d)).unzip();
        sqlx::query(
            "INSERT INTO grant_warnings (grant_id, days, warned_at) SELECT g, d, $3 FROM unnest($1::uuid[], $2::bigint[]) AS t(g, d)",
        )
        .bind(&ids)
        .bind(&days)
        .bind(pt(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for m in &mails {
            insert_mail(&mut tx, m, change.id).await?;
        }
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn recipients(&self, org: OrganizationId, roles: &[Role]) -> StoreResult<Vec<Recipient>> {
        let rows = sqlx::query("SELECT email, locale, roles FROM users WHERE organization_id = $1 ORDER BY email")
            .bind(org.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut out = Vec::new();
        for r in &rows {
            let held: String = get(r, "roles")?;
            if names(&held)?.iter().any(|n| roles.iter().any(|r| r.as_str() == n)) {
                let locale: Option<String> = get(r, "locale")?;
                out.push(Recipient { email: get(r, "email")?, locale: locale.and_then(|l| Locale::parse(&l)) });
            }
        }
        Ok(out)
    }
}

fn claimed_from(r: &PgRow) -> StoreResult<ClaimedMail> {
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
        created_at: get(r, "created_at")?,
    })
}

#[async_trait]
impl MailStore for PgStore {
    async fn queue_invitation_mail(&self, partner: OrganizationId, mail: NewMail, now: OffsetDateTime, change: Change) -> StoreResult<()> {
        let id = mail.invitation_id.ok_or(StoreError::NotFound)?;
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE invitations SET sent_to = $1 WHERE id = $2 AND partner_org_id = $3 AND state = 'pending' AND expires_at > $4",
        )
        .bind(&mail.to)
        .bind(id.0)
        .bind(partner.0)
        .bind(pt(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            drop(tx);
            self.invitation(partner, id).await?;
            return Err(StoreError::Conflict { constraint: constraint::INVITATION_NOT_PENDING });
        }
        insert_mail(&mut tx, &mail, change.id).await?;
        audit::append(&mut tx, &change).await?;
        self.commit(tx).await
    }

    async fn claim_mail(&self, claim: Uuid, now: OffsetDateTime, until: OffsetDateTime, limit: i64) -> StoreResult<Vec<ClaimedMail>> {
        let rows = sqlx::query(sqlf!(
            "UPDATE email_outbox SET claim = $1, claimed_until = $2
             WHERE id IN (SELECT id FROM email_outbox WHERE state = 'queued' AND next_attempt_at <= $3
                            AND (claimed_until IS NULL OR claimed_until <= $3)
                          ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING {MAIL}"
        ))
        .bind(claim)
        .bind(pt(until))
        .bind(pt(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut out = rows.iter().map(claimed_from).collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|m| (m.created_at, m.id));
        Ok(out)
    }

    async fn finish_mail(
        &self,
        id: Uuid,
        claim: Uuid,
        now: OffsetDateTime,
        outcome: MailOutcome,
        change: Option<Change>,
    ) -> StoreResult<bool> {
        const HELD: &str = "WHERE id = $1 AND claim = $2 AND state = 'queued'";
        const CLEAR: &str = "attempts = attempts + 1, claim = NULL, claimed_until = NULL, updated_at = $3";
        let mut tx = self.begin().await?;
        let held = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(claim).bind(pt(now));
        let q = match &outcome {
            MailOutcome::Sent => held(format!("UPDATE email_outbox SET state = 'sent', sent_at = $3, {CLEAR} {HELD}")),
            MailOutcome::Retry { at, kind, error } => {
                held(format!("UPDATE email_outbox SET next_attempt_at = $4, last_error_kind = $5, last_error = $6, {CLEAR} {HELD}"))
                    .bind(pt(*at))
                    .bind(kind.as_str())
                    .bind(error.clone())
            }
            MailOutcome::Failed { kind, error } => {
                held(format!("UPDATE email_outbox SET state = 'failed', last_error_kind = $4, last_error = $5, {CLEAR} {HELD}"))
                    .bind(kind.as_str())
                    .bind(error.clone())
            }
        };
        let n = q.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if matches!(outcome, MailOutcome::Sent) {
            sqlx::query(
                "UPDATE invitations SET sent_at = $1 WHERE id = (SELECT invitation_id FROM email_outbox WHERE id = $2 AND kind = 'invitation')",
            )
            .bind(pt(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if let Some(change) = &change {
            audit::append(&mut tx, change).await?;
        }
        self.commit(tx).await?;
        Ok(true)
    }

    async fn invitation_mail(&self, partner: OrganizationId, id: InvitationId) -> StoreResult<Option<MailStatus>> {
        let r = sqlx::query(
            "SELECT id, state, recipient, attempts, last_error, last_error_kind, next_attempt_at, created_at, sent_at FROM email_outbox
             WHERE organization_id = $1 AND invitation_id = $2 AND kind = 'invitation' ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(partner.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = r else { return Ok(None) };
        let state: String = get(&r, "state")?;
        let kind: Option<String> = get(&r, "last_error_kind")?;
        Ok(Some(MailStatus {
            id: get(&r, "id")?,
            next_attempt_at: if state == "queued" { Some(get(&r, "next_attempt_at")?) } else { None },
            state,
            to: get(&r, "recipient")?,
            attempts: get(&r, "attempts")?,
            last_error: get(&r, "last_error")?,
            last_error_kind: kind.and_then(|k| MailErrorKind::parse(&k)),
            created_at: get(&r, "created_at")?,
            sent_at: get(&r, "sent_at")?,
        }))
    }
}
