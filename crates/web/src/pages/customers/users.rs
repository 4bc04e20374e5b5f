//! The customer record's Users tab: the partner creates, resets, edits and deletes the
//! customer's users as its grants allow, through the service calls of
//! `/api/v1/customers/{id}/users`.

use super::*;

pub(super) fn user_roles(l: Locale, u: &User) -> String {
    if u.roles.is_empty() {
        return words(l).none_role.to_owned();
    }
    u.roles.iter().map(|r| i18n::role(l, *r)).collect::<Vec<_>>().join(", ")
}

pub(super) fn create_user_form(p: &Portal, customer: Uuid, error: Option<&str>) -> Markup {
    let (l, w) = (p.lang, words(p.lang));
    html! {
        section.card {
            h2 { (w.create_user) }
            @if let Some(e) = error { p.errors role="alert" { (w.refused) " " (e) } }
            form.stack method="post" action=(format!("/customers/{customer}/users")) id="create-user-form" {
                input type="hidden" name="csrf" value=(p.form_token);
                label { (w.email) input type="email" name="email" required autocomplete="off"; }
                label { (w.display_name) input type="text" name="display_name" required maxlength="200"; }
                fieldset {
                    legend { (w.user_roles) }
                    @for r in OrgKind::Customer.roles() {
                        label.check { input type="checkbox" name="roles" value=(r.as_str()); span { (i18n::role(l, *r)) } }
                    }
                }
                button type="submit" id="create-user" name="create" { (w.create) }
            }
        }
    }
}

pub(super) async fn users_tab(s: &AppState, p: &Portal, d: &CustomerDetail) -> Markup {
    let (l, w) = (p.lang, words(p.lang));
    let id = d.summary.id;
    let users = match s.service.tenant_users(&p.caller, id, PageQuery { limit: 500, cursor: None }).await {
        Ok(u) => u,
        Err(e) if refused(&e) => return refusal(w.users_refused),
        Err(_) => return refusal(layout::words(l).unavailable),
    };
    html! {
        @if users.items.is_empty() {
            p { (w.no_users) }
        } @else {
            table id="tenant-users" {
                thead { tr { th { (w.display_name) } th { (w.email) } th { (w.roles) } th {} } }
                tbody {
                    @for u in &users.items {
                        tr {
                            td { (u.display_name) }
                            td { (u.email) }
                            td { (user_roles(l, u)) }
                            td {
                                a.button.secondary href=(format!("/customers/{}/users/{}/edit", id.0, u.id.0)) id=(format!("edit-user-{}", u.id.0)) { (w.edit) }
                                " "
                                form.inline method="post" action=(format!("/customers/{}/users/{}/reset-password", id.0, u.id.0)) {
                                    input type="hidden" name="csrf" value=(p.form_token);
                                    button.secondary type="submit" name="reset" id=(format!("reset-{}", u.id.0)) { (w.reset_password) }
                                }
                                " "
                                (delete_user_form(p, id.0, u.id.0))
                            }
                        }
                    }
                }
            }
        }
        (create_user_form(p, id.0, None))
    }
}

pub(super) fn password_page(p: &Portal, customer: Uuid, email: &str, password: &str) -> Response {
    let w = words(p.lang);
    let body = html! {
        p.notice { (w.temporary_password_lead) }
        p { (email) }
        p { code id="temporary-password" { (password) } " "
            button.secondary type="button" data-copy="temporary-password" data-copied-label=(w.copied) { (w.copy) } }
        p { a.button href=(format!("/customers/{customer}?tab=users")) id="back" { (w.back) } }
    };
    html_response(StatusCode::OK, page(p.lang, Some(p), w.temporary_password, body))
}

/// Creates a user in the customer's tenant; answers its temporary password, shown this once
/// (not a redirect: the password must not travel in a URL).
pub(super) async fn create_user(
    State(s): State<AppState>,
    portal: Portal,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    if let Err(r) = portal.check_form(&s.service, &get("csrf")) {
        return r;
    }
    let d = match customer_or_page(&s, &portal, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let input = NewTenantUserInput {
        email: get("email"),
        display_name: get("display_name"),
        roles: f.iter().filter(|(k, _)| k == "roles").map(|(_, v)| v.clone()).collect(),
    };
    match s.service.create_tenant_user(&portal.caller, d.summary.id, input).await {
        Ok((u, password)) => password_page(&portal, d.summary.id.0, &u.email, &password),
        Err(e @ (ServiceError::Validation(_) | ServiceError::Conflict(_) | ServiceError::Forbidden)) => {
            let status = if matches!(e, ServiceError::Forbidden) { StatusCode::FORBIDDEN } else { StatusCode::UNPROCESSABLE_ENTITY };
            let msg = match &e {
                ServiceError::Forbidden => words(portal.lang).users_refused.to_owned(),
                ServiceError::Validation(errors) => super::i18n::invalid(portal.lang, errors),
                _ => layout::words(portal.lang).conflict.to_owned(),
            };
            let body = html! { (tabs(portal.lang, d.summary.id.0, Tab::Users)) (create_user_form(&portal, d.summary.id.0, Some(&msg))) };
            html_response(status, page(portal.lang, Some(&portal), &d.summary.name, body))
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

pub(super) async fn reset_password(
    State(s): State<AppState>,
    portal: Portal,
    Path((id, user_id)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let (d, u) = match customer_user(&s, &portal, &id, &user_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match s.service.reset_tenant_user_password(&portal.caller, d.summary.id, u.id).await {
        Ok(password) => password_page(&portal, d.summary.id.0, &u.email, &password),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

pub(super) fn delete_user_form(p: &Portal, customer: Uuid, user: Uuid) -> Markup {
    let w = words(p.lang);
    html! {
        form.inline method="post" action=(format!("/customers/{customer}/users/{user}/delete")) {
            input type="hidden" name="csrf" value=(p.form_token);
            label.check { input type="checkbox" name="confirm" value="yes" id=(format!("confirm-delete-{user}")); span { (w.delete_confirm) } }
            button.danger type="submit" name="delete" id=(format!("delete-user-{user}")) { (w.delete) }
        }
    }
}

/// The edit page of one user of the customer: name and roles, and the deletion.
pub(super) fn edit_page(p: &Portal, d: &CustomerDetail, u: &User, status: StatusCode, error: Option<&str>) -> Response {
    let (l, w) = (p.lang, words(p.lang));
    let (customer, user) = (d.summary.id.0, u.id.0);
    let body = html! {
        (tabs(l, customer, Tab::Users))
        section.card {
            h2 { (w.edit_title) }
            p { (u.email) }
            @if let Some(e) = error { p.errors role="alert" { (w.refused) " " (e) } }
            form.stack method="post" action=(format!("/customers/{customer}/users/{user}/edit")) id="edit-user-form" {
                input type="hidden" name="csrf" value=(p.form_token);
                label { (w.display_name) input type="text" name="display_name" id="edit-display-name" required maxlength="200" value=(u.display_name); }
                fieldset {
                    legend { (w.user_roles) }
                    @for r in OrgKind::Customer.roles() {
                        label.check { input type="checkbox" name="roles" value=(r.as_str()) checked[u.roles.contains(r)]; span { (i18n::role(l, *r)) } }
                    }
                }
                button type="submit" id="save-user" name="save" { (w.save) }
            }
        }
        section.card {
            h2 { (w.delete_title) }
            (delete_user_form(p, customer, user))
        }
        p { a href=(format!("/customers/{customer}?tab=users")) id="back" { (w.back) } }
    };
    html_response(status, page(l, Some(p), w.edit_title, body))
}

/// The customer and one of its users, or the page that says why not.
pub(super) async fn customer_user(s: &AppState, p: &Portal, id: &str, user_id: &str) -> Result<(CustomerDetail, User), Response> {
    let d = customer_or_page(s, p, id).await?;
    let Ok(user) = Uuid::parse_str(user_id) else { return Err(layout::error_page(p.lang, ServiceError::NotFound)) };
    // Every page: a tenant of more than one page of users still finds its later ones.
    let users = partnerhub_service::every_page(|q| s.service.tenant_users(&p.caller, d.summary.id, q))
        .await
        .map_err(|e| layout::error_page(p.lang, e))?;
    match users.into_iter().find(|u| u.id.0 == user) {
        Some(u) => Ok((d, u)),
        None => Err(layout::message_page(p.lang, StatusCode::NOT_FOUND, words(p.lang).no_user)),
    }
}

/// A refusal of a change to a user, in the reader's words, with its status.
pub(super) fn user_refusal(l: Locale, e: &ServiceError) -> Option<(StatusCode, String)> {
    let w = words(l);
    match e {
        ServiceError::Forbidden => Some((StatusCode::FORBIDDEN, w.users_refused.to_owned())),
        // The tenant keeps a global admin (said of the customer here); an e-mail is one user's only.
        ServiceError::Conflict(Conflict::LastGlobalAdmin) => Some((StatusCode::CONFLICT, w.last_global_admin.to_owned())),
        ServiceError::Conflict(c) => Some((StatusCode::CONFLICT, i18n::conflict(l, *c).to_owned())),
        ServiceError::Validation(errors) => Some((StatusCode::UNPROCESSABLE_ENTITY, i18n::invalid(l, errors))),
        _ => None,
    }
}

pub(super) async fn edit_user_page(State(s): State<AppState>, portal: Portal, Path((id, user_id)): Path<(String, String)>) -> Response {
    match customer_user(&s, &portal, &id, &user_id).await {
        Ok((d, u)) => edit_page(&portal, &d, &u, StatusCode::OK, None),
        Err(r) => r,
    }
}

/// Changes a user's name and roles: the service call of `PATCH /api/v1/customers/{id}/users/{user_id}`.
pub(super) async fn edit_user(
    State(s): State<AppState>,
    portal: Portal,
    Path((id, user_id)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    if let Err(r) = portal.check_form(&s.service, &get("csrf")) {
        return r;
    }
    let (d, u) = match customer_user(&s, &portal, &id, &user_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let roles: Vec<String> = f.iter().filter(|(k, _)| k == "roles").map(|(_, v)| v.clone()).collect();
    match s.service.update_tenant_user(&portal.caller, d.summary.id, u.id, Some(roles), Some(get("display_name"))).await {
        Ok(_) => Redirect::to(&format!("/customers/{}?tab=users", d.summary.id.0)).into_response(),
        Err(e) => match user_refusal(portal.lang, &e) {
            Some((status, msg)) => edit_page(&portal, &d, &u, status, Some(&msg)),
            None => layout::error_page(portal.lang, e),
        },
    }
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// Deletes a user (their sessions end, their licenses are released): the service call of
/// `DELETE /api/v1/customers/{id}/users/{user_id}`, once the box is ticked.
pub(super) async fn delete_user(
    State(s): State<AppState>,
    portal: Portal,
    Path((id, user_id)): Path<(String, String)>,
    Form(f): Form<DeleteForm>,
) -> Response {
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let (d, u) = match customer_user(&s, &portal, &id, &user_id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if f.confirm != "yes" {
        return edit_page(&portal, &d, &u, StatusCode::UNPROCESSABLE_ENTITY, Some(words(portal.lang).delete_unconfirmed));
    }
    match s.service.delete_tenant_user(&portal.caller, d.summary.id, u.id).await {
        Ok(()) => Redirect::to(&format!("/customers/{}?tab=users", d.summary.id.0)).into_response(),
        Err(e) => match user_refusal(portal.lang, &e) {
            Some((status, msg)) => edit_page(&portal, &d, &u, status, Some(&msg)),
            None => layout::error_page(portal.lang, e),
        },
    }
}
