//! The portal: server-rendered pages over the same service as the API (no second business
//! logic, no second authorization), in French and English, working without JavaScript.
//!
//! - `i18n`: the languages, and the words shared by every page (roles, states, dates);
//! - `layout`: the frame of every page, the error pages, the stylesheet and script;
//! - `session`: the session cookie and the form token (CSRF) every POST carries;
//! - one module per area, each with its own `Words` in both languages.

mod account;
pub(crate) mod i18n;
mod invite;
pub(crate) mod layout;
mod partners;
pub(crate) mod session;
mod tenant;

use crate::AppState;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().merge(account::routes()).merge(invite::routes()).merge(partners::routes()).merge(tenant::routes())
}
