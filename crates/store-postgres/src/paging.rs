//! Keyset pages of the lists that have no other order than a text key then the id (or the id
//! alone): the total and the page in one statement, cursors as the SQLite store writes them.

use crate::db;
use crate::rows::{decode_cursor, encode_cursor, get};
use partnerhub_store::*;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// `SELECT {cols} FROM {from}`, paged along `text` (an SQL expression, sorted byte by byte as
/// SQLite's BINARY does), then `id` (a uuid column); or `id` alone when `text` is `None`.
pub(crate) struct Keyset<'a> {
    pub cols: &'a str,
    pub from: &'a str,
    pub text: Option<&'a str>,
    pub id: &'a str,
}

impl Keyset<'_> {
    /// Fetches the page after `page.cursor`, where `filter` pushes the whole WHERE clause, and
    /// maps each row; `cursor_of` names an item's keys.
    pub(crate) async fn fetch<T>(
        &self,
        conn: &mut PgConnection,
        filter: impl Fn(&mut QueryBuilder<Postgres>),
        page: &PageQuery,
        map: impl Fn(&PgRow) -> StoreResult<T>,
        cursor_of: impl Fn(&T) -> (String, Uuid),
    ) -> StoreResult<Page<T>> {
        let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
        let (cols, from) = (self.cols, self.from);
        let text = self.text.unwrap_or("''");
        let mut b = QueryBuilder::<Postgres>::new(format!("SELECT t.total, p.* FROM (SELECT count(*) AS total FROM {from}"));
        filter(&mut b);
        b.push(format!(
            ") AS t LEFT JOIN LATERAL (SELECT {cols}, ({text}) COLLATE \"C\" AS page_key, {id} AS page_id FROM {from}",
            id = self.id
        ));
        filter(&mut b);
        if let Some((k, id)) = after {
            match self.text {
                Some(t) => b.push(format!(" AND (({t}) COLLATE \"C\", {}) > (", self.id)).push_bind(k).push(", ").push_bind(id).push(")"),
                None => b.push(format!(" AND {} > ", self.id)).push_bind(id),
            };
        }
        b.push(format!(" ORDER BY ({text}) COLLATE \"C\", {}", self.id));
        // SQLite reads a negative LIMIT as none.
        b.push(" LIMIT ").push_bind((page.limit + 1 >= 0).then_some(page.limit + 1));
        b.push(") AS p ON true ORDER BY p.page_key, p.page_id");
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
