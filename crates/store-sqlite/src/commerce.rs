//! Commerce: offers, orders, subscriptions, licenses and customer users managed through
//! grants (nothing yet).

use crate::SqliteStore;
use partnerhub_store::CommerceStore;

impl CommerceStore for SqliteStore {}
