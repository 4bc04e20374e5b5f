//! Commerce: offers, orders, subscriptions, licenses and the customer users managed through
//! grants will live here.

use async_trait::async_trait;

/// Commerce; nothing yet.
#[async_trait]
pub trait CommerceStore: Send + Sync {}
