//! Commerce: offers, orders, subscriptions, licenses and customer users managed through
//! grants (nothing yet).

use crate::PgStore;
use partnerhub_store::CommerceStore;

impl CommerceStore for PgStore {}
