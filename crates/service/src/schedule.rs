//! Scheduled changes: invitations and grants past their expiry, auto-extension, the warnings
//! before a grant ends and the reminder of a pending invitation. [`Service::run_schedule`] does
//! one pass; [`spawn_scheduler`] runs it every [`SCHEDULE_EVERY`] in each `serve` process while
//! that process holds the database's scheduler lease, so one process runs it at a time. Each
//! item is its own transaction, made once by a conditional update or a unique index, so a pass
//! that runs twice, or on two nodes at once, changes nothing the second time.

use crate::{Service, ServiceResult, notices, rfc3339};
use partnerhub_domain::*;
use partnerhub_store::*;
use serde_json::json;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How often the scheduler runs.
pub const SCHEDULE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// How long the lease of the scheduler lasts unless renewed (every run renews it).
const LEASE: Duration = Duration::minutes(5);
/// Items of one kind read at a time.
const BATCH: i64 = 200;
/// The partner roles warned that grants end: those who may send the renewing invitation.
const WARNED_ROLES: [Role; 2] = [Role::GlobalAdmin, Role::AdminAgent];

/// One warning's e-mails and change: (partner, customer, days before the end).
type WarningKey = (OrganizationId, OrganizationId, i64);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleRun {
    pub invitations_expired: usize,
    pub grants_expired: usize,
    pub grants_extended: usize,
    /// `grant.expiring` events written (one per grant and warning).
    pub grants_warned: usize,
    pub reminders: usize,
}

/// The actor of what partnerhub does by itself.
pub(crate) fn system() -> Actor {
    Actor { user_id: None, email: Some("partnerhub".into()), roles: vec![], organization_id: None }
}

/// The warning a grant is due now, if any: the nearest of [`WARNING_DAYS`] it is within, not
/// given yet and shorter than the grant's period (a 7-day grant gets no "7 days left" warning
/// at its start). Answers it and every farther one not given yet, which it stands for.
fn due_warning(g: &ScheduledGrant, now: OffsetDateTime) -> Option<(i64, Vec<i64>)> {
    let left = g.grant.expires_at - now;
    let due: Vec<i64> =
        WARNING_DAYS.into_iter().filter(|d| left <= Duration::days(*d) && g.duration_days > *d && !g.warned.contains(d)).collect();
    let nearest = *due.iter().min()?;
    Some((nearest, due))
}

impl Service {
    fn scheduled(
        &self,
        action: &'static str,
        target: serde_json::Value,
        customer: Option<OrganizationId>,
        details: serde_json::Value,
        visible_to: Vec<OrganizationId>,
    ) -> Change {
        Change::new(AuditEntry { at: self.now(), actor: system(), action, target, customer_id: customer, details, visible_to })
    }

    /// One pass of the scheduler, at the service clock's now.
    pub async fn run_schedule(&self) -> ServiceResult<ScheduleRun> {
        let mut run = ScheduleRun::default();
        self.expire_invitations(&mut run).await?;
        self.end_grants(&mut run).await?;
        self.warn_grants(&mut run).await?;
        self.remind_invitations(&mut run).await?;
        Ok(run)
    }

    async fn expire_invitations(&self, run: &mut ScheduleRun) -> ServiceResult<()> {
        loop {
            let now = self.now();
            let due = self.store.invitations_past_expiry(now, BATCH).await?;
            let mut done = 0;
            for item in &due {
                let inv = &item.invitation;
                let data = json!({"invitation_id": inv.id, "partner_id": inv.partner_org_id, "customer_id": inv.customer_id,
                                  "indirect_provider_id": inv.indirect_provider_id, "expires_at": rfc3339(inv.expires_at)});
                let mut change = self.scheduled(
                    "invitation.expired",
                    json!({"type": "invitation", "id": inv.id}),
                    inv.customer_id,
                    data.clone(),
                    vec![inv.partner_org_id],
                );
                change.events.push(self.event("invitation.expired", inv.partner_org_id, data));
                if self.store.expire_invitation(inv.id, now, change).await? {
                    done += 1;
                }
            }
            run.invitations_expired += done;
            if (due.len() as i64) < BATCH || done == 0 {
                return Ok(());
            }
        }
    }

    async fn end_grants(&self, run: &mut ScheduleRun) -> ServiceResult<()> {
        loop {
            let now = self.now();
            let due = self.store.grants_past_expiry(now, BATCH).await?;
            let mut done = 0;
            for item in &due {
                let g = &item.grant;
                let base = json!({"grant_id": g.id, "partner_id": g.partner_org_id, "customer_id": g.customer_id, "role": g.role.as_str()});
                let visible = vec![g.customer_id, g.partner_org_id];
                let target = json!({"type": "grant", "id": g.id});
                let changed = if g.auto_extend && g.role != DelegatedRole::GlobalAdmin {
                    // Extended from its own end, by whole periods, until it ends after now.
                    let period = Duration::days(item.duration_days);
                    let mut to = g.expires_at + period;
                    while to <= now {
                        to += period;
                    }
                    let mut data = base;
                    data["previous_expires_at"] = json!(rfc3339(g.expires_at));
                    data["expires_at"] = json!(rfc3339(to));
                    data["duration_days"] = json!(item.duration_days);
                    let mut change = self.scheduled("grant.extended", target, Some(g.customer_id), data.clone(), visible);
                    change.events.push(self.event("grant.extended", g.partner_org_id, data));
                    let ok = self.store.extend_grant(g.id, g.expires_at, to, change).await?;
                    run.grants_extended += usize::from(ok);
                    ok
                } else {
                    let mut data = base;
                    data["expires_at"] = json!(rfc3339(g.expires_at));
                    let mut change = self.scheduled("grant.expired", target, Some(g.customer_id), data.clone(), visible);
                    change.events.push(self.event("grant.expired", g.partner_org_id, data));
                    let ok = self.store.expire_grant(g.id, now, change).await?;
                    run.grants_expired += usize::from(ok);
                    ok
                };
                done += usize::from(changed);
            }
            if (due.len() as i64) < BATCH || done == 0 {
                return Ok(());
            }
        }
    }

    /// The warnings due now, one change per partner, customer and warning: an event per
    /// grant, one e-mail per warned user listing the roles that end.
    async fn warn_grants(&self, run: &mut ScheduleRun) -> ServiceResult<()> {
        loop {
            let now = self.now();
            let soon = self.store.grants_ending_soon(now, BATCH).await?;
            let before = run.grants_warned;
            self.warn_batch(&soon, now, run).await?;
            if (soon.len() as i64) < BATCH || run.grants_warned == before {
                return Ok(());
            }
        }
    }

    async fn warn_batch(&self, soon: &[ScheduledGrant], now: OffsetDateTime, run: &mut ScheduleRun) -> ServiceResult<()> {
        let mut groups: BTreeMap<WarningKey, Vec<(&ScheduledGrant, Vec<i64>)>> = BTreeMap::new();
        for g in soon {
            if let Some((days, covered)) = due_warning(g, now) {
                groups.entry((g.grant.partner_org_id, g.grant.customer_id, days)).or_default().push((g, covered));
            }
        }
        let mut recipients: BTreeMap<OrganizationId, Vec<Recipient>> = BTreeMap::new();
        for ((partner, customer, days), grants) in groups {
            let to = match recipients.get(&partner) {
                Some(to) => to.clone(),
                None => {
                    let to = self.store.recipients(partner, &WARNED_ROLES).await?;
                    recipients.insert(partner, to.clone());
                    to
                }
            };
            let first = grants[0].0;
            let ends = grants.iter().map(|(g, _)| g.grant.expires_at).min().unwrap_or(first.grant.expires_at);
            let roles: Vec<DelegatedRole> = grants.iter().map(|(g, _)| g.grant.role).collect();
            let link = format!("{}/customers/{}", self.config.public_url, customer.0);
            let data_of = |g: &ScheduledGrant| {
                json!({"grant_id": g.grant.id, "partner_id": partner, "customer_id": customer, "role": g.grant.role.as_str(),
                       "expires_at": rfc3339(g.grant.expires_at), "days": days})
            };
            let mut change = self.scheduled(
                "grant.expiring",
                json!({"type": "grant", "id": first.grant.id}),
                Some(customer),
                data_of(first),
                vec![customer, partner],
            );
            for (g, _) in &grants[1..] {
                change.also("grant.expiring", json!({"type": "grant", "id": g.grant.id}), data_of(g));
            }
            for (g, _) in &grants {
                change.events.push(self.event("grant.expiring", partner, data_of(g)));
            }
            let mails = to
                .iter()
                .map(|r| {
                    let locale = r.locale.unwrap_or_default();
                    let (subject, body) = notices::grants_expiring(locale, &first.customer_name, &roles, days, ends, &link);
                    NewMail {
                        id: Uuid::now_v7(),
                        organization_id: partner,
                        kind: MailKind::GrantExpiring,
                        invitation_id: None,
                        to: r.email.clone(),
                        locale,
                        from_name: "partnerhub".into(),
                        subject,
                        body,
                        created_at: now,
                    }
                })
                .collect::<Vec<_>>();
            change.record("emails", mails.iter().map(|m| m.to.clone()).collect::<Vec<_>>());
            let warnings = grants.iter().flat_map(|(g, covered)| covered.iter().map(|d| (g.grant.id, *d))).collect();
            match self.store.warn_grants(warnings, now, mails, change).await {
                Ok(()) => run.grants_warned += grants.len(),
                // Another scheduler gave these warnings first.
                Err(StoreError::Conflict { constraint: constraint::GRANT_WARNED }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn remind_invitations(&self, run: &mut ScheduleRun) -> ServiceResult<()> {
        let now = self.now();
        for item in self.store.invitations_to_remind(now, BATCH).await? {
            let inv = &item.invitation;
            let Some(to) = item.sent_to.clone() else { continue };
            let (subject, body) = notices::reminder(inv.locale, &item.partner, item.provider.as_ref(), inv.expires_at);
            let mail = NewMail {
                id: Uuid::now_v7(),
                organization_id: inv.partner_org_id,
                kind: MailKind::InvitationReminder,
                invitation_id: Some(inv.id),
                to: to.clone(),
                locale: inv.locale,
                from_name: item.partner.name.clone(),
                subject,
                body,
                created_at: now,
            };
            let change = self.scheduled(
                "email.queued",
                json!({"type": "invitation", "id": inv.id}),
                inv.customer_id,
                json!({"to": to, "kind": "invitation_reminder", "email_id": mail.id, "expires_at": rfc3339(inv.expires_at)}),
                vec![inv.partner_org_id],
            );
            if self.store.remind_invitation(inv.id, now, mail, change).await? {
                run.reminders += 1;
            }
        }
        self.wake_mail();
        Ok(())
    }
}

/// Runs [`Service::run_schedule`] every [`SCHEDULE_EVERY`] while this process holds the
/// database's scheduler lease (taken or renewed before each pass; another process takes it
/// over once it lapses). A failed pass is logged and tried again next time.
pub fn spawn_scheduler(service: Service) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let holder = Uuid::now_v7();
        let mut every = tokio::time::interval(SCHEDULE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = service.now();
            match service.store.take_lease("scheduler", holder, now, now + LEASE).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduler lease could not be read");
                    continue;
                }
            }
            match service.run_schedule().await {
                Ok(run) if run != ScheduleRun::default() => tracing::info!(?run, "scheduled changes made"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the scheduler's pass failed"),
            }
        }
    })
}
