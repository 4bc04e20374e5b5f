//! The response cache of the hottest tenant reads (issue 9): the customer list and one
//! customer, rendered once and served as bytes while nothing they show can have changed.
//!
//! An entry is served only when
//! - its key matches: the caller's organization and the request's path and query (what the
//!   answer depends on; the caller's roles only decide whether it may have it, which is checked
//!   on every request, before the cache is looked at);
//! - the organization versions read with the session on THIS request (one statement, see
//!   `Service::authenticate_versions`) equal those the entry was rendered at: every change that
//!   may alter the answer bumps one of them in its own transaction, through whichever server
//!   process it came, so the next read through any process misses;
//! - the service clock is before the entry's `valid_until`, the first instant at which the
//!   answer changes by time alone (a grant it shows expiring).
//!
//! Bounded: at most [`MAX_ENTRIES`] entries and [`MAX_BYTES`] bytes of bodies; past either, the
//! oldest entries go first.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use partnerhub_domain::{Action, OrganizationId};
use partnerhub_service::Caller;
use partnerhub_store::Versions;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use time::OffsetDateTime;
use uuid::Uuid;

/// Entries held at most.
pub(crate) const MAX_ENTRIES: usize = 4096;
/// Bytes of bodies held at most (a page of 500 customers with grants is about 300 KB).
pub(crate) const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    org: OrganizationId,
    uri: String,
}

struct Entry {
    versions: Versions,
    valid_until: Option<OffsetDateTime>,
    content_type: HeaderValue,
    body: Bytes,
    /// When it was put, to tell it from a newer entry of the same key in `order`.
    seq: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    /// Keys by age, oldest first, with the `seq` they were put at (stale ones are skipped).
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    seq: u64,
}

/// Rendered answers, bounded (see the module).
pub(crate) struct ResponseCache {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::new(MAX_ENTRIES, MAX_BYTES)
    }
}

impl ResponseCache {
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self { inner: Mutex::new(Inner::default()), max_entries, max_bytes }
    }

    fn get(&self, key: &Key, versions: Versions, now: OffsetDateTime) -> Option<(HeaderValue, Bytes)> {
        let inner = self.inner.lock().ok()?;
        let e = inner.map.get(key)?;
        (e.versions == versions && e.valid_until.is_none_or(|t| now < t)).then(|| (e.content_type.clone(), e.body.clone()))
    }

    fn put(&self, key: Key, versions: Versions, valid_until: Option<OffsetDateTime>, content_type: HeaderValue, body: Bytes) {
        if body.len() > self.max_bytes / 8 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else { return };
        inner.seq += 1;
        let seq = inner.seq;
        inner.bytes += body.len();
        if let Some(old) = inner.map.insert(key.clone(), Entry { versions, valid_until, content_type, body, seq }) {
            inner.bytes -= old.body.len();
        }
        inner.order.push_back((key, seq));
        if inner.order.len() > 2 * self.max_entries {
            // Keys put again left their older places behind: drop those.
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, at)| map.get(k).is_some_and(|e| e.seq == *at));
        }
        while inner.map.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some((old, at)) = inner.order.pop_front() else { break };
            if inner.map.get(&old).is_some_and(|e| e.seq == at)
                && let Some(e) = inner.map.remove(&old)
            {
                inner.bytes -= e.body.len();
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }
}

/// A cacheable read under way: the caller (authenticated on this very request), the versions
/// read with the session, and the entry's key. As an extractor it takes the place of `Auth`,
/// in the same order (401 before any other refusal); the route's path id, if it has one, is the
/// organization watched besides the caller's.
pub(crate) struct CachedRead {
    caller: Caller,
    versions: Versions,
    key: Key,
}

impl FromRequestParts<AppState> for CachedRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let watch = axum::extract::Path::<Uuid>::from_request_parts(parts, s).await.ok().map(|p| OrganizationId(p.0));
        let token = crate::extract::bearer_of(&parts.headers).ok_or(partnerhub_service::ServiceError::Unauthenticated)?;
        let (caller, versions) = s.service.authenticate_versions(token, watch).await?;
        let org = caller.org_id();
        let uri = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        Ok(Self { caller, versions, key: Key { org, uri } })
    }
}

impl CachedRead {
    /// The caller, once allowed to do `action` (checked on every request, hit or miss).
    pub(crate) fn require(&self, action: Action) -> Result<&Caller, ApiError> {
        self.caller.require(action)?;
        Ok(&self.caller)
    }

    /// The cached answer, if one is still good.
    pub(crate) fn hit(&self, s: &AppState) -> Option<Response> {
        let (content_type, body) = s.cache.get(&self.key, self.versions, s.service.now())?;
        Some(([(header::CONTENT_TYPE, content_type)], body).into_response())
    }

    /// Renders `value` as JSON, keeps it until `valid_until` (or until a version moves), and
    /// answers it.
    pub(crate) fn keep<T: serde::Serialize>(self, s: &AppState, value: &T, valid_until: Option<OffsetDateTime>) -> Response {
        let body = match serde_json::to_vec(value) {
            Ok(b) => Bytes::from(b),
            Err(e) => return ApiError::from(partnerhub_service::ServiceError::Internal(e.to_string())).into_response(),
        };
        let content_type = HeaderValue::from_static("application/json");
        s.cache.put(self.key, self.versions, valid_until, content_type.clone(), body.clone());
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> Key {
        Key { org: OrganizationId(uuid::Uuid::from_u128(n as u128)), uri: "/api/v1/customers".into() }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs)
    }

    const V1: Versions = Versions { caller: 1, watched: 0, epoch: 0 };
    const JSON: HeaderValue = HeaderValue::from_static("application/json");

    #[test]
    fn an_entry_serves_only_its_key_its_versions_and_before_its_end() {
        let c = ResponseCache::new(16, 1 << 20);
        c.put(key(1), V1, Some(at(100)), JSON, Bytes::from_static(b"one"));
        assert_eq!(c.get(&key(1), V1, at(99)).map(|(_, b)| b), Some(Bytes::from_static(b"one")));
        assert!(c.get(&key(1), V1, at(100)).is_none(), "expired at its instant");
        assert!(c.get(&key(1), Versions { caller: 2, watched: 0, epoch: 0 }, at(0)).is_none(), "another version of the caller");
        assert!(c.get(&key(1), Versions { caller: 1, watched: 5, epoch: 0 }, at(0)).is_none(), "another version of the watched");
        assert!(c.get(&key(1), Versions { caller: 1, watched: 0, epoch: 1 }, at(0)).is_none(), "another epoch");
        assert!(c.get(&key(2), V1, at(0)).is_none(), "another organization");
        let other_uri = Key { uri: "/api/v1/customers?limit=5".into(), ..key(1) };
        assert!(c.get(&other_uri, V1, at(0)).is_none(), "another query");
        c.put(key(3), V1, None, JSON, Bytes::from_static(b"three"));
        assert!(c.get(&key(3), V1, at(i32::MAX as i64)).is_some(), "nothing expiring: good until a version moves");
    }

    #[test]
    fn it_stays_within_its_entries_and_bytes() {
        let c = ResponseCache::new(8, 1000);
        for n in 0..100 {
            c.put(key(n), V1, None, JSON, Bytes::from(vec![b'x'; 100]));
            let inner = c.inner.lock().unwrap();
            assert!(inner.map.len() <= 8 && inner.bytes <= 1000 && inner.order.len() <= 16, "{n}");
        }
        // The newest stay, the oldest went.
        assert!(c.get(&key(99), V1, at(0)).is_some());
        assert!(c.get(&key(0), V1, at(0)).is_none());
        // The same key put again and again holds one entry, and its bytes are counted once.
        for _ in 0..100 {
            c.put(key(7), V1, None, JSON, Bytes::from(vec![b'y'; 100]));
        }
        assert!(c.len() <= 8);
        assert!(c.inner.lock().unwrap().bytes <= 1000);
        // A body larger than an eighth of the budget is not kept.
        c.put(key(500), V1, None, JSON, Bytes::from(vec![b'z'; 200]));
        assert!(c.get(&key(500), V1, at(0)).is_none());
    }
}
