//! Server-rendered pages. For now, the invitation page behind every invitation URL.

mod invite;

use crate::AppState;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    invite::routes()
}
