//! The one integration-test binary: HTTP end to end against a real server on port 0 with a
//! fresh SQLite database per test, plus tests that start the real `partnerhub` binary.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly, which is what a test wants"
)]

mod support;

mod abuse;
mod accounts;
mod admin;
mod audit;
mod authz;
mod bench_seed;
mod browser;
mod browser_story;
mod crash;
mod errors;
mod first_hour;
mod flows;
mod hardening;
mod idempotency;
mod isolation;
mod licenses;
mod links;
mod mfa;
mod openapi;
mod orders;
mod own_tenant;
mod paging;
mod pg;
mod portal_account;
mod portal_commerce;
mod portal_crawl;
mod portal_customer;
mod portal_customers;
mod portal_html;
mod race;
mod removal;
mod response_cache;
mod schedule;
mod smtp;
mod smtpd;
mod story;
mod subscriptions;
mod tenant_users;
mod webhook_receiver;
mod webhooks;
mod webhooks_pg;
