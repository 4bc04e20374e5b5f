//! `/users`: the users of the reader's own organization (partner or customer), their roles in
//! words; create one (a temporary password shown once), change roles, reset a password, delete
//! — the same service calls as `/api/v1/users`, which decide who may.

use super::extract::{Form, Path, Query};
use super::i18n;
use super::layout::{self, html_response, page};
use super::session::Portal;
use super::session::urlencode;
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use partnerhub_domain::{Action, Locale, Role, UserId, allowed};
use partnerhub_service::ServiceError;
use partnerhub_store::{Page, PageQuery, User};
use serde::Deserialize;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}/roles", post(change_roles))
        .route("/users/{id}/reset-password", post(reset_password))
        .route("/users/{id}/delete", post(delete))
}

struct Words {
    title: &'static str,
    lead: &'static str,
    name: &'static str,
    email: &'static str,
    roles: &'static str,
    since: &'static str,
    actions: &'static str,
    you: &'static str,
    must_change: &'static str,
    new_user: &'static str,
    create: &'static str,
    change_roles: &'static str,
    reset: &'static str,
    reset_hint: &'static str,
    delete: &'static str,
    delete_confirm: &'static str,
    global_admin_warning: &'static str,
    created_title: &'static str,
    created_lead: &'static str,
    reset_title: &'static str,
    reset_lead: &'static str,
    temporary_password: &'static str,
    copy: &'static str,
    copied: &'static str,
    back: &'static str,
    none: &'static str,
    count_one: &'static str,
    count: &'static str,
    next_page: &'static str,
    first_page: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "Users",
            lead: "The people of your organization who sign in to partnerhub, and their roles.",
            name: "Name",
            email: "E-mail",
            roles: "Roles",
            since: "Since",
            actions: "Actions",
            you: "(you)",
            must_change: "Must choose a password at next sign-in",
            new_user: "Add a user",
            create: "Add the user",
            change_roles: "Save name and roles",
            reset: "Reset password",
            reset_hint: "Gives a temporary password and ends the user's sessions.",
            delete: "Delete",
            delete_confirm: "I confirm deleting this user",
            global_admin_warning: "Global admin gives every right over your organization, its users included. Give it to few people.",
            created_title: "User added",
            created_lead: "Give this temporary password to the user by a safe channel. It is shown only this once; at the first sign-in the user chooses a password of their own.",
            reset_title: "Password reset",
            reset_lead: "The user's sessions have ended. Give this temporary password by a safe channel; it is shown only this once.",
            temporary_password: "Temporary password",
            copy: "Copy",
            copied: "Copied",
            back: "Back to the users",
            none: "No user.",
            count_one: "user",
            count: "users",
            next_page: "Next page",
            first_page: "First page",
        },
        Locale::Fr => &Words {
            title: "Utilisateurs",
            lead: "Les personnes de votre organisation qui se connectent à partnerhub, et leurs rôles.",
            name: "Nom",
            email: "Adresse e-mail",
            roles: "Rôles",
            since: "Depuis le",
            actions: "Actions",
            you: "(vous)",
            must_change: "Doit choisir un mot de passe à la prochaine connexion",
            new_user: "Ajouter un utilisateur",
            create: "Ajouter l'utilisateur",
            change_roles: "Enregistrer le nom et les rôles",
            reset: "Réinitialiser le mot de passe",
            reset_hint: "Donne un mot de passe temporaire et met fin aux sessions de l'utilisateur.",
            delete: "Supprimer",
            delete_confirm: "Je confirme la suppression de cet utilisateur",
            global_admin_warning: "Le rôle Administrateur général donne tous les droits sur votre organisation, utilisateurs compris. Réservez-le à peu de personnes.",
            created_title: "Utilisateur ajouté",
            created_lead: "Transmettez ce mot de passe temporaire à l'utilisateur par un moyen sûr. Il n'est affiché qu'une fois ; à la première connexion, l'utilisateur choisit son propre mot de passe.",
            reset_title: "Mot de passe réinitialisé",
            reset_lead: "Les sessions de l'utilisateur sont terminées. Transmettez ce mot de passe temporaire par un moyen sûr ; il n'est affiché qu'une fois.",
            temporary_password: "Mot de passe temporaire",
            copy: "Copier",
            copied: "Copié",
            back: "Retour aux utilisateurs",
            none: "Aucun utilisateur.",
            count_one: "utilisateur",
            count: "utilisateurs",
            next_page: "Page suivante",
            first_page: "Première page",
        },
    }
}

fn is_global_admin(p: &Portal) -> bool {
    p.principal().user.roles.contains(&Role::GlobalAdmin)
}

fn can_manage(p: &Portal) -> bool {
    let pr = p.principal();
    allowed(pr.organization.kind, &pr.user.roles, Action::UsersManage)
}

/// The role checkboxes of the reader's organization kind, `checked` ticked.
/// The role checkboxes of the reader's organization kind, `checked` ticked; `global_admin`
/// only for a reader who holds it (the service refuses anyone else giving it).
fn role_boxes(p: &Portal, prefix: &str, checked: &[Role]) -> Markup {
    let kind = p.principal().organization.kind;
    let global = is_global_admin(p);
    html! {
        @for r in kind.roles().iter().filter(|r| global || **r != Role::GlobalAdmin) {
            label.check {
                input type="checkbox" name="roles" value=(r.as_str()) id=(format!("{prefix}-{}", r.as_str())) checked[checked.contains(r)];
                " " (i18n::role(p.lang, *r))
            }
        }
    }
}

/// One page of the users, with the links to the next page and back to the first; `paged`
/// when this is not the first page.
fn list_body(p: &Portal, users: &Page<User>, paged: bool, error: Option<&str>, form: Option<&NewForm>) -> Markup {
    let w = words(p.lang);
    let me = p.principal().user.id;
    let manage = can_manage(p);
    let (total, users, next_cursor) = (users.total, &users.items, &users.next_cursor);
    html! {
        p { (w.lead) }
        @if let Some(e) = error { p.errors role="alert" { (e) } }
        p.muted id="user-count" { (total) " " (if total == 1 { w.count_one } else { w.count }) }
        @if users.is_empty() { p.muted { (w.none) } } @else {
            table id="users" {
                thead { tr { th { (w.name) } th { (w.email) } th { (w.roles) } th { (w.since) } @if manage { th { (w.actions) } } } }
                tbody {
                    @for u in users {
                        tr id=(format!("user-{}", u.id.0)) {
                            td data-label=(w.name) {
                                bdi { (u.display_name) }
                                @if u.id == me { " " span.muted { (w.you) } }
                            }
                            td data-label=(w.email) { bdi { (u.email) } }
                            td data-label=(w.roles) {
                                (u.roles.iter().map(|r| i18n::role(p.lang, *r)).collect::<Vec<_>>().join(", "))
                                @if u.password_change_required { br; span.muted { (w.must_change) } }
                            }
                            td data-label=(w.since) { (i18n::date(p.lang, u.created_at)) }
                            @if manage {
                                td data-label=(w.actions) {
                                    @if is_global_admin(p) || !u.roles.contains(&Role::GlobalAdmin) { details {
                                        summary { (w.actions) }
                                        form.stack method="post" action=(format!("/users/{}/roles", u.id.0)) {
                                            input type="hidden" name="csrf" value=(p.form_token);
                                            label { (w.name) input type="text" name="display_name" required maxlength="200" value=(u.display_name); }
                                            fieldset {
                                                legend { (w.roles) }
                                                (role_boxes(p, &format!("role-{}", u.id.0), &u.roles))
                                            }
                                            button type="submit" name="change-roles" { (w.change_roles) }
                                        }
                                        @if u.id != me {
                                            form.stack method="post" action=(format!("/users/{}/reset-password", u.id.0)) {
                                                input type="hidden" name="csrf" value=(p.form_token);
                                                p.muted { (w.reset_hint) }
                                                button.secondary type="submit" name="reset-password" { (w.reset) }
                                            }
                                            form.stack method="post" action=(format!("/users/{}/delete", u.id.0)) {
                                                input type="hidden" name="csrf" value=(p.form_token);
                                                label.check { input type="checkbox" name="confirm" value="yes" required; " " (w.delete_confirm) }
                                                button.danger type="submit" name="delete" { (w.delete) }
                                            }
                                        }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.actions {
            @if paged { a href="/users" id="first-page" { (w.first_page) } }
            @if let Some(next) = &next_cursor { " " a href=(format!("/users?cursor={}", urlencode(next))) id="next-page" { (w.next_page) } }
        }
        @if manage {
            section.card id="new-user" {
                h2 { (w.new_user) }
                form.stack method="post" action="/users" {
                    input type="hidden" name="csrf" value=(p.form_token);
                    label { (w.name) input type="text" name="display_name" required maxlength="200" value=(form.map(|f| f.display_name.as_str()).unwrap_or_default()); }
                    label { (w.email) input type="email" name="email" required autocomplete="off" value=(form.map(|f| f.email.as_str()).unwrap_or_default()); }
                    fieldset {
                        legend { (w.roles) }
                        (role_boxes(p, "new-role", &form.map(|f| f.parsed_roles()).unwrap_or_default()))
                    }
                    @if is_global_admin(p) { p.warning { (w.global_admin_warning) } }
                    button type="submit" id="create-user" { (w.create) }
                }
            }
        }
    }
}

/// The first page of the users, with a form's error (the form as typed, when there is one).
async fn render_list(s: &AppState, p: &Portal, status: StatusCode, error: Option<&str>, form: Option<&NewForm>) -> Response {
    render_page(s, p, status, error, form, None).await
}

/// A page of the users: the one after `cursor`, or the first.
async fn render_page(
    s: &AppState,
    p: &Portal,
    status: StatusCode,
    error: Option<&str>,
    form: Option<&NewForm>,
    cursor: Option<String>,
) -> Response {
    let query = |cursor| PageQuery { limit: PageQuery::DEFAULT_LIMIT, cursor };
    let result = match s.service.list_users(&p.caller, query(cursor.clone())).await {
        // A stale or forged cursor: the first page rather than an error.
        Err(ServiceError::Validation(_)) if cursor.is_some() => s.service.list_users(&p.caller, query(None)).await,
        r => r,
    };
    match result {
        Ok(users) => html_response(status, page(p.lang, Some(p), words(p.lang).title, list_body(p, &users, cursor.is_some(), error, form))),
        Err(e) => layout::error_page(p.lang, e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list(State(s): State<AppState>, portal: Portal, Query(q): Query<ListQuery>) -> Response {
    let cursor = q.cursor.filter(|c| !c.is_empty() && c.len() <= 2048);
    render_page(&s, &portal, StatusCode::OK, None, None, cursor).await
}

/// A form's fields, `roles` repeated (the form is read by hand: `serde_urlencoded` does not
/// gather repeated keys).
#[derive(Default)]
struct NewForm {
    csrf: String,
    email: String,
    display_name: String,
    roles: Vec<String>,
}

impl NewForm {
    fn parse(pairs: Vec<(String, String)>) -> Self {
        let mut f = NewForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "email" => f.email = v,
                "display_name" => f.display_name = v,
                "roles" => f.roles.push(v),
                _ => {}
            }
        }
        f
    }
    fn parsed_roles(&self) -> Vec<Role> {
        self.roles.iter().filter_map(|r| Role::parse(r)).collect()
    }
}

fn shown_once(p: &Portal, title: &str, lead: &str, password: &str, who: &User) -> Response {
    let w = words(p.lang);
    let body = html! {
        p.notice { (lead) }
        p { bdi { (who.display_name) } " · " bdi { (who.email) } }
        label { (w.temporary_password) input id="temporary-password" type="text" readonly value=(password); }
        p.actions {
            button type="button" data-copy="temporary-password" data-copied-label=(w.copied) { (w.copy) }
            a href="/users" id="back-to-users" { (w.back) }
        }
    };
    html_response(StatusCode::OK, page(p.lang, Some(p), title, body))
}

async fn create(State(s): State<AppState>, portal: Portal, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let f = NewForm::parse(pairs);
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let w = words(portal.lang);
    match s
        .service
        .create_user_with_temporary_password(&portal.caller, f.email.trim().to_owned(), f.display_name.trim().to_owned(), f.roles.clone())
        .await
    {
        Ok((user, password)) => shown_once(&portal, w.created_title, w.created_lead, &password, &user),
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            render_list(&s, &portal, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg), Some(&f)).await
        }
        // An e-mail already used: the form again, as typed, saying so.
        Err(ServiceError::Conflict(c)) => {
            render_list(&s, &portal, StatusCode::CONFLICT, Some(super::i18n::conflict(portal.lang, c)), Some(&f)).await
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

fn user_id(id: &str) -> Option<UserId> {
    Uuid::parse_str(id).ok().map(UserId)
}

fn not_found(p: &Portal) -> Response {
    layout::error_page(p.lang, ServiceError::NotFound)
}

async fn change_roles(
    State(s): State<AppState>,
    portal: Portal,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = NewForm::parse(pairs);
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Some(id) = user_id(&id) else { return not_found(&portal) };
    // The name only when the form has it (an older form, or a script, may send roles alone).
    let name = Some(f.display_name.trim().to_owned()).filter(|n| !n.is_empty());
    match s.service.update_user(&portal.caller, id, Some(f.roles), name).await {
        Ok(_) => Redirect::to("/users").into_response(),
        Err(ServiceError::Validation(e)) => {
            let msg = super::i18n::invalid(portal.lang, &e);
            render_list(&s, &portal, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg), None).await
        }
        Err(ServiceError::Conflict(c)) => {
            render_list(&s, &portal, StatusCode::CONFLICT, Some(super::i18n::conflict(portal.lang, c)), None).await
        }
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn reset_password(
    State(s): State<AppState>,
    portal: Portal,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = NewForm::parse(pairs);
    if let Err(r) = portal.check_form(&s.service, &f.csrf) {
        return r;
    }
    let Some(id) = user_id(&id) else { return not_found(&portal) };
    let w = words(portal.lang);
    let password = match s.service.reset_user_password(&portal.caller, id).await {
        Ok(p) => p,
        Err(e) => return layout::error_page(portal.lang, e),
    };
    match s.service.user(&portal.caller, id).await {
        Ok(u) => shown_once(&portal, w.reset_title, w.reset_lead, &password, &u),
        Err(e) => layout::error_page(portal.lang, e),
    }
}

async fn delete(State(s): State<AppState>, portal: Portal, Path(id): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let csrf = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
    if let Err(r) = portal.check_form(&s.service, csrf) {
        return r;
    }
    let Some(id) = user_id(&id) else { return not_found(&portal) };
    match s.service.delete_user(&portal.caller, id).await {
        Ok(()) => Redirect::to("/users").into_response(),
        Err(e) => layout::error_page(portal.lang, e),
    }
}
