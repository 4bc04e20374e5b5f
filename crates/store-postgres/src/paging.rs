//! Keyset pages of the lists ordered by one of a few kinds of key, then the id: the total and
//! the page in one statement, the keys and their cursors those of the SQLite store's
//! `paging.rs` (the cursor encodings themselves are in `partnerhub_store::codec`).

use crate::db;
use crate::rows::{cursor_time, decode_cursor, encode_cursor, get};
use partnerhub_store::codec::{parse_time_key, parse_time_text_key};
use partnerhub_store::*;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// What a list is ordered by before its id (a uuid column) breaks ties. Text is compared byte
/// by byte (`COLLATE "C"`), as SQLite's BINARY does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    /// The id alone, ascending; the cursor's key is empty.
    Id,
    /// A text expression, then the id, ascending.
    Text(&'a str),
    /// A time column, a text expression, then the id, ascending; the cursor's key is
    /// `codec::time_text_key`.
    TimeText(&'a str, &'a str),
    /// A time column then the id, both descending: newest first; the cursor's key is
    /// `codec::time_key`.
    NewestFirst(&'a str),
}

/// `SELECT {cols} FROM {from}`, paged along `key` then `id`.
pub(crate) struct Keyset<'a> {
    pub cols: &'a str,
    pub from: &'a str,
    pub key: Key<'a>,
    pub id: &'a str,
}

/// Where the page starts, decoded from the cursor.
enum After {
    Id(Uuid),
    Text(String, Uuid),
    TimeText(i64, String, Uuid),
    Time(i64, Uuid),
}

impl Keyset<'_> {
    /// Fetches the page after `page.cursor`, where `filter` pushes the whole WHERE clause, and
    /// maps each row; `cursor_of` names an item's key and id as its cursor holds them.
    pub(crate) async fn fetch<T>(
        &self,
        conn: &mut PgConnection,
        filter: impl Fn(&mut QueryBuilder<Postgres>),
        page: &PageQuery,
        map: impl Fn(&PgRow) -> StoreResult<T>,
        cursor_of: impl Fn(&T) -> (String, Uuid),
    ) -> StoreResult<Page<T>> {
        let after = match page.cursor.as_deref().map(decode_cursor).transpose()? {
            None => None,
            Some((k, id)) => Some(match self.key {
                Key::Id => After::Id(id),
                Key::Text(_) => After::Text(k, id),
                Key::TimeText(..) => {
                    let (us, text) = parse_time_text_key(&k)?;
                    After::TimeText(us, text, id)
                }
                Key::NewestFirst(_) => After::Time(parse_time_key(&k)?, id),
            }),
        };
        let (cols, from, id) = (self.cols, self.from, self.id);
        // The sort keys as columns of the page (`page_k1`, `page_k2`, `page_id`), the inner
        // order and the outer one.
        let (keys, inner, outer) = match self.key {
            Key::Id => (String::new(), id.to_owned(), "p.page_id"),
            Key::Text(t) => (format!(", ({t}) COLLATE \"C\" AS page_k1"), format!("({t}) COLLATE \"C\", {id}"), "p.page_k1, p.page_id"),
            Key::TimeText(tm, t) => (
                format!(", {tm} AS page_k1, ({t}) COLLATE \"C\" AS page_k2"),
                format!("{tm}, ({t}) COLLATE \"C\", {id}"),
                "p.page_k1, p.page_k2, p.page_id",
            ),
            Key::NewestFirst(tm) => (format!(", {tm} AS page_k1"), format!("{tm} DESC, {id} DESC"), "p.page_k1 DESC, p.page_id DESC"),
        };
        let mut b = QueryBuilder::<Postgres>::new(format!("SELECT t.total, p.* FROM (SELECT count(*) AS total FROM {from}"));
        filter(&mut b);
        b.push(format!(") AS t LEFT JOIN LATERAL (SELECT {cols}{keys}, {id} AS page_id FROM {from}"));
        filter(&mut b);
        match (after, self.key) {
            (Some(After::Id(after)), _) => {
                b.push(format!(" AND {id} > ")).push_bind(after);
            }
            (Some(After::Text(k, after)), Key::Text(t)) => {
                b.push(format!(" AND (({t}) COLLATE \"C\", {id}) > (")).push_bind(k).push(", ").push_bind(after).push(")");
            }
            (Some(After::TimeText(us, k, after)), Key::TimeText(tm, t)) => {
                b.push(format!(" AND ({tm}, ({t}) COLLATE \"C\", {id}) > ("))
                    .push_bind(cursor_time(us))
                    .push(", ")
                    .push_bind(k)
                    .push(", ")
                    .push_bind(after)
                    .push(")");
            }
            (Some(After::Time(us, after)), Key::NewestFirst(tm)) => {
                b.push(format!(" AND ({tm}, {id}) < (")).push_bind(cursor_time(us)).push(", ").push_bind(after).push(")");
            }
            _ => {}
        }
        b.push(format!(" ORDER BY {inner}"));
        // SQLite reads a negative LIMIT as none.
        b.push(" LIMIT ").push_bind((page.limit + 1 >= 0).then_some(page.limit + 1));
        b.push(format!(") AS p ON true ORDER BY {outer}"));
        let rows = b.build().fetch_all(&mut *conn).await.map_err(db)?;
        let total: i64 = match rows.first() {
            Some(r) => get(r, "total")?,
            None => 0,
        };
        let mut found = Vec::with_capacity(rows.len());
        for r in &rows {
            if get::<Option<Uuid>>(r, "page_id")?.is_some() {
                found.push(r);
            }
        }
        let more = found.len() as i64 > page.limit;
        let items = found.into_iter().take(page.limit.max(0) as usize).map(map).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if more {
            items.last().map(|i| {
                let (k, id) = cursor_of(i);
                encode_cursor(&k, id)
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor, total })
    }
}
