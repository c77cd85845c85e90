//! The listings, counts and leases of [`PgStore`], its import of many
//! claims, and its size, as inherent methods with the signatures and
//! semantics of the [`Store`](crate::storage::Store) methods of the same
//! names.
//!
//! Each read is one statement, which sees one snapshot, but the queue's
//! counts: their statements run in one read-only `REPEATABLE READ`
//! transaction, so that they agree with each other. A page is read row by
//! row as the server sends it, and reading stops at the first row that
//! does not fit the page's limit ([`PageLimit::is_full`], which counts the
//! bytes of the records read, as the sled store does), so a page of large
//! claims holds no more of them in memory than the limit allows.

use std::{collections::HashSet, fmt::Write as _, pin::pin, time::SystemTime};

use deadpool_postgres::Object;
use tokio_postgres::{Row, types::ToSql};
use tokio_stream::StreamExt as _;

use super::{PgStore, Writer, claim_id, corrupt, db, from_i64, rank, time_bytes};
use crate::{
    domain::{Claim, ClaimId, LinkId, Priority, Slug, State, UserName, Wording},
    error::Error,
    storage::{
        ClaimFilter, Conflict, Page, PageLimit, QueueCounts, SourceKey,
        records::{self, ClaimRecord},
    },
};

/// Claims [`PgStore::import`] writes per transaction (fewer in unit tests,
/// so that a few hundred claims span several, as in the sled store).
const IMPORT_BATCH: usize = if cfg!(test) { 64 } else { 1000 };

/// A page of a story's open contradictions with both claims: `$1` the
/// story, `$2` the link id the page follows, `$3` the rows to read.
const CONFLICTS: &str = "SELECT k.link_id, s.record, o.record FROM open_contradictions k \
     JOIN claims s ON s.id = k.subject_id JOIN claims o ON o.id = k.object_id \
     WHERE k.story = $1 AND k.link_id > $2 ORDER BY k.link_id LIMIT $3";

/// The oldest unverified claim: the first of `claims_by_state`'s range.
const OLDEST_WAITING: &str =
    "SELECT record FROM claims WHERE state = 'unverified' ORDER BY id LIMIT 1";

/// The oldest unverified claim of story `$1`: the first of
/// `claims_story_waiting`'s range.
const OLDEST_WAITING_OF_STORY: &str = "SELECT record FROM claims WHERE story = $1 \
     AND state = 'unverified' ORDER BY id LIMIT 1";

/// The unverified and in-review claims whose deadline is before `$1`: the
/// start of `claims_deadlines`.
const OVERDUE: &str = "SELECT count(*) FROM claims WHERE deadline < $1 \
     AND deadline IS NOT NULL AND state IN ('unverified', 'in_review')";

/// [`OVERDUE`] of story `$1`, before `$2`: the start of the story's range
/// of `claims_story_deadlines`.
const OVERDUE_OF_STORY: &str = "SELECT count(*) FROM claims WHERE story = $1 AND deadline < $2 \
     AND deadline IS NOT NULL AND state IN ('unverified', 'in_review')";

/// At most `$2` claims whose lease expires by `$1`: the start of
/// `claims_leases`.
const LEASES_DUE: &str = "SELECT id FROM claims WHERE lease_expires_ns IS NOT NULL \
     AND lease_expires_ns <= $1 ORDER BY lease_expires_ns, id LIMIT $2";

/// The filters of a listing given in `filter`, each as its column and its
/// value, in the order of [`list_statement`]'s parameters.
fn filter_values(filter: &ClaimFilter) -> Vec<(&'static str, &str)> {
    [
        ("story", filter.story.as_ref().map(Slug::as_str)),
        ("state", filter.state.map(records::state_name)),
        ("source_key", filter.source.as_ref().map(SourceKey::as_str)),
        ("assignee", filter.assignee.as_ref().map(UserName::as_str)),
    ]
    .into_iter()
    .filter_map(|(column, value)| value.map(|v| (column, v)))
    .collect()
}

/// The statement of a listing with `filter`: `$1` is the id the page
/// follows (the empty `bytea`, which every id follows, for the first
/// page), `$2` the rows to read, then the value of each filter given
/// ([`filter_values`]). Planned for its values (see [`page_rows`]), a
/// single filter whose value few claims have (a story, a source, a
/// checker, a state such as in review) reads that filter's index
/// (`claims_by_story`, `claims_by_state`, `claims_by_source`,
/// `claims_by_assignee`, each in id order), no filter the primary key,
/// from the page's id on; for a value most claims have, the planner may
/// read the primary key and skip the others, a page then reading a few
/// rows more than it holds. Several filters are left to the planner,
/// which ANDs their indexes or filters the rows of the most selective.
fn list_statement(filter: &ClaimFilter) -> String {
    let mut sql = String::from("SELECT record FROM claims WHERE id > $1");
    for (n, (column, _)) in filter_values(filter).iter().enumerate() {
        write!(sql, " AND {column} = ${}", n + 3).expect("writing to a string");
    }
    sql.push_str(" ORDER BY id LIMIT $2");
    sql
}

/// The rows a page of at most `items` entries reads: one more tells
/// whether more follow.
fn rows_for(items: usize) -> i64 {
    i64::try_from(items).unwrap_or(i64::MAX).saturating_add(1)
}

/// The rows of a page of `limit`, read from the rows of `sql` as they
/// arrive, each counting the bytes `size` says; whether more follow (a row
/// was left out because the page was full). The rows after it are not
/// read: the connection drops them as the server sends them.
///
/// The statement is not one of the connection's prepared statements but
/// planned for the values of each call: the share of the claims a filter's
/// value has differs by orders from one value to another, and so does the
/// part of an index after the page's start, which a generic plan (the one
/// a prepared statement comes to use after a few runs) cannot weigh; it
/// would read the primary key, skipping rows, for a value few claims have.
async fn page_rows(
    client: &Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    limit: PageLimit,
    size: impl Fn(&Row) -> usize,
) -> Result<(Vec<Row>, bool), tokio_postgres::Error> {
    let params = params.iter().map(|p| *p as &dyn ToSql);
    let mut rows = pin!(client.query_raw(sql, params).await?);
    let mut page = Vec::new();
    let mut bytes = 0;
    while let Some(row) = rows.next().await.transpose()? {
        if limit.is_full(page.len(), bytes) {
            return Ok((page, true));
        }
        bytes += size(&row);
        page.push(row);
    }
    Ok((page, false))
}

/// `t` as the nanoseconds the lease column holds, a time past a bigint's
/// range taken as its last value (which no stored lease exceeds).
fn lease_ns(t: SystemTime) -> i64 {
    i64::try_from(records::to_ns(t)).unwrap_or(i64::MAX)
}

fn decode_claim(bytes: &[u8], context: &'static str) -> Result<Claim, Error> {
    ClaimRecord::decode(bytes).map_err(|e| corrupt(context, e))
}

impl PgStore {
    /// [`Store::list`](crate::storage::Store::list): one range of the
    /// index of the filter given (or of the primary key, or the planner's
    /// choice of indexes for several filters) after the page's id, in id
    /// order, at most `limit.items + 1` rows read, and no row read past the
    /// one that finds the page full by the bytes of the records before it.
    pub fn list(
        &self,
        filter: &ClaimFilter,
        after: Option<ClaimId>,
        limit: PageLimit,
    ) -> Result<Page<Claim>, Error> {
        let sql = list_statement(filter);
        let after = after.map(|id| id.to_bytes().to_vec()).unwrap_or_default();
        let rows = rows_for(limit.items);
        let values = filter_values(filter);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&after, &rows];
        params.extend(values.iter().map(|(_, v)| v as &(dyn ToSql + Sync)));
        let client = self.client()?;
        let (rows, more) = self
            .block_on(page_rows(&client, &sql, &params, limit, |row| {
                row.get::<_, &[u8]>(0).len()
            }))
            .map_err(db("list claims"))?;
        let items = rows
            .iter()
            .map(|row| decode_claim(row.get(0), "list claims"))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, more })
    }

    /// [`Store::conflicts`](crate::storage::Store::conflicts): one range of
    /// `open_contradictions_by_story` after the page's link id, joined with
    /// the rows of both claims, at most `limit.items + 1` rows read; each
    /// counts the bytes of both claims' records, as in the sled store. The
    /// link is the subject claim's end of it; a row whose subject claim
    /// holds no such open contradiction is reported as damage (the row and
    /// the claim are written in one transaction and read in one snapshot).
    pub fn conflicts(
        &self,
        story: &Slug,
        after: Option<LinkId>,
        limit: PageLimit,
    ) -> Result<Page<Conflict>, Error> {
        // Link ids past a bigint's range are none.
        let after = after.map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
        let rows = rows_for(limit.items);
        let client = self.client()?;
        let (rows, more) = self
            .block_on(page_rows(
                &client,
                CONFLICTS,
                &[&story.as_str(), &after, &rows],
                limit,
                |row| row.get::<_, &[u8]>(1).len() + row.get::<_, &[u8]>(2).len(),
            ))
            .map_err(db("read contradictions"))?;
        let items = rows
            .iter()
            .map(|row| {
                let link = from_i64(row.get(0), "read contradictions")?;
                let subject = decode_claim(row.get(1), "read contradictions")?;
                let object = decode_claim(row.get(2), "read contradictions")?;
                let link = subject
                    .link(link)
                    .filter(|l| l.is_open_contradiction())
                    .cloned()
                    .ok_or_else(|| {
                        corrupt(
                            "read contradictions",
                            format!("claim {} has no open contradiction {link}", subject.id),
                        )
                    })?;
                Ok(Conflict {
                    link,
                    subject,
                    object,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Page { items, more })
    }

    /// [`Store::queue_stats`](crate::storage::Store::queue_stats): the
    /// counter rows of the story (`''`: of all), the first unverified claim
    /// by id (`claims_story_waiting`, or `claims_by_state` over all) and
    /// the count of the deadlines before `now` (`claims_story_deadlines`
    /// or `claims_deadlines`; its cost is the number of overdue claims, as
    /// in the sled store, which counts them all too), read in one snapshot
    /// (a read-only `REPEATABLE READ` transaction) so that the counts agree
    /// with each other.
    pub fn queue_stats(&self, story: Option<&str>, now: SystemTime) -> Result<QueueCounts, Error> {
        let counted = story.unwrap_or("");
        let now = time_bytes(now);
        let mut client = self.client()?;
        let tx = self.snapshot(&mut client, "begin queue counts")?;
        let (states, waiting, oldest, overdue) = self
            .block_on(async {
                let states = tx
                    .query(
                        "SELECT state, claims FROM state_counts WHERE story = $1",
                        &[&counted],
                    )
                    .await?;
                let waiting = tx
                    .query(
                        "SELECT priority_rank, claims FROM waiting_counts WHERE story = $1",
                        &[&counted],
                    )
                    .await?;
                let (oldest, overdue) = match story {
                    None => (
                        tx.query_opt(OLDEST_WAITING, &[]).await?,
                        tx.query_one(OVERDUE, &[&now]).await?,
                    ),
                    Some(story) => (
                        tx.query_opt(OLDEST_WAITING_OF_STORY, &[&story]).await?,
                        tx.query_one(OVERDUE_OF_STORY, &[&story, &now]).await?,
                    ),
                };
                Ok((states, waiting, oldest, overdue))
            })
            .map_err(db("read queue counts"))?;
        self.block_on(tx.commit()).map_err(db("end queue counts"))?;
        let states = State::ALL
            .into_iter()
            .map(|s| {
                let name = records::state_name(s);
                let count = states
                    .iter()
                    .find(|row| row.get::<_, &str>(0) == name)
                    .map_or(Ok(0), |row| from_i64(row.get(1), "read counters"))?;
                Ok((s, count))
            })
            .collect::<Result<_, Error>>()?;
        let waiting = [Priority::Breaking, Priority::Urgent, Priority::Routine]
            .into_iter()
            .map(|p| {
                let count = waiting
                    .iter()
                    .find(|row| row.get::<_, i16>(0) == rank(p))
                    .map_or(Ok(0), |row| from_i64(row.get(1), "read counters"))?;
                Ok((p, count))
            })
            .collect::<Result<_, Error>>()?;
        let oldest_waiting = oldest
            .map(|row| decode_claim(row.get(0), "read claim").map(|c| c.create_time))
            .transpose()?;
        Ok(QueueCounts {
            states,
            waiting,
            oldest_waiting,
            overdue: from_i64(overdue.get(0), "count deadlines")?,
        })
    }

    /// [`Store::leases_due`](crate::storage::Store::leases_due): the start
    /// of `claims_leases`, soonest expiry first, up to `now`.
    pub fn leases_due(&self, now: SystemTime, limit: usize) -> Result<Vec<ClaimId>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client()?;
        let rows = self
            .block_on(client.query(LEASES_DUE, &[&lease_ns(now), &limit]))
            .map_err(db("read leases"))?;
        rows.iter()
            .map(|row| claim_id(row.get(0), "read leases"))
            .collect()
    }

    /// [`Store::next_lease_expiry`](crate::storage::Store::next_lease_expiry):
    /// the first entry of `claims_leases`.
    pub fn next_lease_expiry(&self) -> Result<Option<SystemTime>, Error> {
        let client = self.client()?;
        let row = self
            .block_on(client.query_opt(
                "SELECT lease_expires_ns FROM claims WHERE lease_expires_ns IS NOT NULL \
                 ORDER BY lease_expires_ns LIMIT 1",
                &[],
            ))
            .map_err(db("read leases"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let ns = from_i64(row.get(0), "read leases")?;
        records::from_ns(u128::from(ns))
            .map(Some)
            .ok_or_else(|| corrupt("read leases", format!("lease expiry {ns} ns out of range")))
    }

    /// [`Store::import`](crate::storage::Store::import): `IMPORT_BATCH`
    /// claims per transaction, each holding the chain's lock as a
    /// submission does and writing each claim as a submission writes it
    /// (`Writer::write_new`: its revision, columns, index rows, counters
    /// and submission event), but with no suggested links, as in the sled
    /// store. A claim whose id is stored already, or given twice, fails
    /// its transaction, leaving those committed before it. Committed is
    /// durable here (see the module documentation of the store), so it
    /// returns once the last transaction has committed and its events are
    /// published to this process's watchers.
    pub fn import(&self, mut claims: Vec<Claim>) -> Result<(), Error> {
        let mut last = None;
        while !claims.is_empty() {
            let rest = claims.split_off(claims.len().min(IMPORT_BATCH));
            let batch = std::mem::replace(&mut claims, rest);
            last = Some(self.import_batch(batch)?);
        }
        match last {
            Some(revision) => self.durable_for(revision).wait_blocking(),
            None => Ok(()),
        }
    }

    /// One transaction of [`Self::import`]; the last revision it gave.
    fn import_batch(&self, claims: Vec<Claim>) -> Result<u64, Error> {
        let mut client = self.client()?;
        let tx = self
            .block_on(client.transaction())
            .map_err(db("begin import"))?;
        let write = Writer {
            store: self,
            tx: &tx,
        };
        let mut head = write.lock_head()?;
        // Read once the chain's lock is held: every claim committed before
        // is seen.
        let ids: Vec<[u8; 16]> = claims.iter().map(|c| c.id.to_bytes()).collect();
        let ids: Vec<&[u8]> = ids.iter().map(|id| id.as_slice()).collect();
        let stored = self
            .block_on(write.query("SELECT id FROM claims WHERE id = ANY($1)", &[&ids]))
            .map_err(db("read claims"))?;
        let mut seen = stored
            .iter()
            .map(|row| claim_id(row.get(0), "read claims"))
            .collect::<Result<HashSet<_>, _>>()?;
        for mut claim in claims {
            if !seen.insert(claim.id) {
                return Err(Error::Internal(format!(
                    "claim {} cannot be imported: it is stored already",
                    claim.id
                )));
            }
            let wording = Wording::of(claim.statement.as_str());
            write.write_new(&mut claim, &wording, &mut head)?;
        }
        write.store_head(&head)?;
        self.commit(tx, "commit import")?;
        Ok(head.revision)
    }

    /// [`Store::size_on_disk`](crate::storage::Store::size_on_disk): the
    /// sum of `pg_total_relation_size` (the table, its indexes and its
    /// TOAST data) of every table in the connection's current schema, the
    /// store's own, not the rest of the database.
    pub fn size_on_disk(&self) -> Result<u64, Error> {
        let client = self.client()?;
        let row = self
            .block_on(client.query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                &[],
            ))
            .map_err(db("measure the tables"))?;
        from_i64(row.get(0), "measure the tables")
    }
}

#[cfg(test)]
mod tests;
