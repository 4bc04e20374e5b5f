//! The portal: server-rendered pages over the same service as the API (no second business
//! logic, no second authorization), in French and English, working without JavaScript.
//!
//! - `i18n`: the languages, and the words shared by every page (roles, states, dates);
//! - `layout`: the frame of every page, the error pages, the stylesheet and script;
//! - `session`: the session cookie and the form token (CSRF) every POST carries;
//! - `extract`: `Form`, `Query` and `Path` whose refusals are the portal's error page;
//! - one module per area, each with its own `Words` in both languages.

mod account;
mod audit;
mod commerce;
mod customers;
pub(crate) mod extract;
pub(crate) mod i18n;
mod invitations;
mod invite;
pub(crate) mod layout;
mod links;
mod partners;
mod reference;
mod removal;
mod security;
pub(crate) mod session;
mod tenant;
mod users;

use crate::AppState;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(account::routes())
        .merge(invite::routes())
        .merge(removal::routes())
        .merge(commerce::routes())
        .merge(audit::routes())
        .merge(users::routes())
        .merge(links::routes())
        .merge(security::routes())
        .merge(reference::routes())
        .merge(customers::routes())
        .merge(invitations::routes())
        .merge(partners::routes())
        .merge(tenant::routes())
}
