//! Keyset pages of the lists ordered by one of a few kinds of key, then the id: the total
//! over the filter and the page after the cursor. The keys and their cursors are those of the
//! PostgreSQL store's `paging.rs` (the cursor encodings themselves are in
//! `partnerhub_store::codec`).

use crate::rows::{decode_cursor, encode_cursor};
use crate::{all, blob, paged, scalar_i64};
use partnerhub_store::codec::{parse_time_key, parse_time_text_key};
use partnerhub_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, Row, params_from_iter};
use uuid::Uuid;

/// What a list is ordered by before its id breaks ties.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    /// The id alone, ascending; the cursor's key is empty.
    Id,
    /// A text expression (BINARY: byte by byte), then the id, ascending.
    Text(&'a str),
    /// A time column (microseconds), a text expression, then the id, ascending; the cursor's
    /// key is `codec::time_text_key`.
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

impl Keyset<'_> {
    /// The page after `page.cursor`, where `filter` is the whole WHERE clause (with plain `?`
    /// for `args`); `cursor_of` names an item's key and id as its cursor holds them.
    pub(crate) fn fetch<T>(
        &self,
        c: &Connection,
        filter: &str,
        args: Vec<Sql>,
        page: &PageQuery,
        map: impl FnMut(&Row<'_>) -> StoreResult<T>,
        cursor_of: impl Fn(&T) -> (String, Uuid),
    ) -> StoreResult<Page<T>> {
        let (cols, from, id) = (self.cols, self.from, self.id);
        let total = scalar_i64(c, &format!("SELECT count(*) FROM {from}{filter}"), params_from_iter(args.iter()))?;
        let mut sql = format!("SELECT {cols} FROM {from}{filter}");
        let mut args = args;
        if let Some((k, after)) = page.cursor.as_deref().map(decode_cursor).transpose()? {
            match self.key {
                Key::Id => {
                    sql.push_str(&format!(" AND {id} > ?"));
                    args.push(blob(after));
                }
                Key::Text(t) => {
                    sql.push_str(&format!(" AND ({t}, {id}) > (?, ?)"));
                    args.extend([Sql::Text(k), blob(after)]);
                }
                Key::TimeText(tm, t) => {
                    let (us, text) = parse_time_text_key(&k)?;
                    sql.push_str(&format!(" AND ({tm}, {t}, {id}) > (?, ?, ?)"));
                    args.extend([Sql::Integer(us), Sql::Text(text), blob(after)]);
                }
                Key::NewestFirst(tm) => {
                    let us = parse_time_key(&k)?;
                    sql.push_str(&format!(" AND ({tm}, {id}) < (?, ?)"));
                    args.extend([Sql::Integer(us), blob(after)]);
                }
            }
        }
        let order = match self.key {
            Key::Id => id.to_owned(),
            Key::Text(t) => format!("{t}, {id}"),
            Key::TimeText(tm, t) => format!("{tm}, {t}, {id}"),
            Key::NewestFirst(tm) => format!("{tm} DESC, {id} DESC"),
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT ?"));
        args.push(Sql::Integer(page.limit + 1));
        let items = all(c, &sql, params_from_iter(args.iter()), map)?;
        Ok(paged(items, page.limit, total, |i| {
            let (k, id) = cursor_of(i);
            encode_cursor(&k, id)
        }))
    }
}
