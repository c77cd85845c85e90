//! Backups of the PostgreSQL store, and restores into an empty one, in the
//! format of [`crate::storage::backup`], which the sled store writes and
//! reads as well: a backup of either store restores into the other.
//!
//! A backup reads one snapshot (a read-only `REPEATABLE READ`
//! transaction): the chain's end, whose revision `R` is the copy's, then
//! the events up to `R`, the claims and the request ids, each in chunks of
//! [`CHUNK`] rows read after the last key of the chunk before (the primary
//! keys' order is the format's), so that neither the database nor the
//! store holds more than a chunk at once. Writers are not held: whatever
//! commits meanwhile is not in the snapshot.
//!
//! A restore writes into a schema that holds no desk yet. It checks the
//! whole backup first ([`check`]: its checksum, its audit chain, that it is
//! one consistent copy), then reads it again and writes it in one
//! transaction: the events with their stored links; each claim, its record
//! as the backup holds it, with every row the writer writes for it (its
//! columns, tag, figure and wording rows as [`Columns`] and [`figure_rows`]
//! make them, and the counters, summed); the request ids; the chain's end.
//! Rows go a batch at a time (at most [`RESTORE_BATCH`] items or
//! [`RESTORE_BATCH_BYTES`] of records), a statement per table, so that
//! neither a statement per row nor the whole backup in memory is needed.
//! Open contradictions are written in a third reading, once every claim
//! they name is there (their rows refer to both claims). A restore that
//! fails writes nothing, and a server on the same schema sees all of it or
//! none of it: it waits for the restore's lock on the chain's end to write
//! anything.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufReader, Write},
    path::Path,
    time::SystemTime,
};

use super::{
    Columns, Head, OpenError, PgStore, Writer, corrupt, counters, db, figure_rows, from_i64, to_i64,
};
use crate::{
    domain::{Claim, Wording},
    error::{Error, StorageError},
    storage::{
        BackupSummary,
        backup::{BackupError, BackupReader, BackupWriter, Item, check},
        records::{ClaimRecord, EventRecord, HASH_LEN, StoredEvent},
    },
};

/// Rows a backup reads per statement.
const CHUNK: i64 = 1000;

/// Why a restore into PostgreSQL failed; none of the backup was written.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(
        "the database already holds a desk (its history is at revision {revision}): a restore \
         writes only into a schema that holds no claim and no event"
    )]
    NotEmpty { revision: u64 },
    #[error(transparent)]
    Store(#[from] Error),
}

fn write_failed(e: std::io::Error) -> Error {
    StorageError::new("write the backup", e).into()
}

/// The chain's link `bytes` as stored.
fn link(bytes: &[u8], context: &'static str) -> Result<[u8; HASH_LEN], Error> {
    <[u8; HASH_LEN]>::try_from(bytes).map_err(|_| corrupt(context, "bad chain link"))
}

impl PgStore {
    /// [`Store::backup`](crate::storage::Store::backup): a copy of the
    /// store at the revision its snapshot holds (see the module
    /// documentation), written to `out` as it is read.
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupSummary, Error> {
        let mut client = self.client()?;
        let tx = self.snapshot(&mut client, "begin backup")?;
        let head = self
            .block_on(tx.query_one("SELECT last_revision, last_link FROM chain_head", &[]))
            .map_err(db("read chain"))?;
        let revision = from_i64(head.get(0), "read chain")?;
        let last_hash = link(head.get(1), "read chain")?;
        let mut backup = BackupWriter::start(out, revision, last_hash, SystemTime::now())
            .map_err(write_failed)?;

        let up_to: i64 = head.get(0);
        let mut after = 0i64;
        loop {
            let rows = self
                .block_on(tx.query(
                    "SELECT revision, link, record FROM events \
                     WHERE revision > $1 AND revision <= $2 ORDER BY revision LIMIT $3",
                    &[&after, &up_to, &CHUNK],
                ))
                .map_err(db("read history"))?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.get(0);
            for row in &rows {
                let stored = StoredEvent::join(&link(row.get(1), "read history")?, row.get(2));
                backup
                    .event(from_i64(row.get(0), "read history")?, &stored)
                    .map_err(write_failed)?;
            }
        }

        // No id is shorter than 16 bytes, so every one follows the empty one.
        let mut after: Vec<u8> = Vec::new();
        loop {
            let rows = self
                .block_on(tx.query(
                    "SELECT id, record FROM claims WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&after, &CHUNK],
                ))
                .map_err(db("read claims"))?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.get(0);
            for row in &rows {
                backup.claim(row.get(1)).map_err(write_failed)?;
            }
        }

        // Callers hold no NUL byte, so `(caller, request_id)` in bytewise
        // order is the order of the keys `caller NUL request_id`.
        let mut after: Option<(String, String)> = None;
        loop {
            let rows = match &after {
                None => self.block_on(tx.query(
                    "SELECT caller, request_id, record FROM requests \
                     ORDER BY caller, request_id LIMIT $1",
                    &[&CHUNK],
                )),
                Some((caller, id)) => self.block_on(tx.query(
                    "SELECT caller, request_id, record FROM requests \
                     WHERE (caller, request_id) > ($1, $2) ORDER BY caller, request_id LIMIT $3",
                    &[caller, id, &CHUNK],
                )),
            }
            .map_err(db("read request ids"))?;
            let Some(last) = rows.last() else {
                break;
            };
            after = Some((last.get(0), last.get(1)));
            for row in &rows {
                let (caller, id): (&str, &str) = (row.get(0), row.get(1));
                let key = [caller.as_bytes(), &[0], id.as_bytes()].concat();
                backup.request(&key, row.get(2)).map_err(write_failed)?;
            }
        }
        let summary = backup.finish().map_err(write_failed)?;
        self.block_on(tx.commit()).map_err(db("end backup"))?;
        tracing::info!(
            revision = summary.revision,
            claims = summary.claims,
            events = summary.events,
            bytes = summary.bytes,
            "backup taken"
        );
        Ok(summary)
    }

    /// Restores the backup in `file` into the database at `url` (in
    /// `schema` if given, else the connection's search path), whose schema
    /// must hold no desk: its history at revision 0 and no claim
    /// ([`RestoreError::NotEmpty`] otherwise). Opens the store as
    /// [`PgStore::open`] does (making the schema's tables if they are not
    /// there yet), checks the whole backup ([`check`]), and only then
    /// writes it, in one transaction (see the module documentation).
    pub fn restore(
        url: &str,
        schema: Option<&str>,
        file: &Path,
    ) -> Result<BackupSummary, RestoreError> {
        let open = || {
            File::open(file)
                .map(BufReader::new)
                .map_err(BackupError::Io)
        };
        let store = PgStore::open(url, schema)?;
        // Refused before the backup is read through, and again below,
        // under the chain's lock, for a change committed meanwhile.
        store.refuse_unless_empty(None)?;
        let summary = check(open()?)?;

        let mut client = store.client()?;
        let tx = store
            .block_on(client.transaction())
            .map_err(db("begin restore"))?;
        let write = Writer {
            store: &store,
            tx: &tx,
        };
        // Held to the commit: a change on the same schema waits for it,
        // then finds the restored chain's end.
        write.lock_head()?;
        store.refuse_unless_empty(Some(&write))?;
        let mut reader = BackupReader::open(open()?)?;
        write.load(&mut reader)?;
        let mut reader = BackupReader::open(open()?)?;
        while let Some(item) = reader.next_item()? {
            if let Item::Claim(record) = item {
                let claim =
                    ClaimRecord::decode(&record).map_err(|e| corrupt("restore a claim", e))?;
                write.write_contradictions(None, &claim)?;
            }
        }
        write.store_head(&Head {
            revision: reader.revision(),
            link: reader.last_hash(),
        })?;
        store
            .block_on(tx.commit())
            .map_err(db("commit the restore"))?;
        tracing::info!(
            revision = summary.revision,
            claims = summary.claims,
            events = summary.events,
            "store restored"
        );
        Ok(summary)
    }

    /// [`RestoreError::NotEmpty`] if the store holds an event or a claim,
    /// as read by `write`'s transaction if given.
    fn refuse_unless_empty(&self, write: Option<&Writer>) -> Result<(), RestoreError> {
        const SQL: &str = "SELECT last_revision, EXISTS (SELECT 1 FROM claims) FROM chain_head";
        let row = match write {
            Some(write) => self.block_on(write.tx.query_one(SQL, &[])),
            None => self.block_on(self.client()?.query_one(SQL, &[])),
        }
        .map_err(db("read chain"))?;
        let revision = from_i64(row.get(0), "read chain")?;
        if revision > 0 || row.get::<_, bool>(1) {
            return Err(RestoreError::NotEmpty { revision });
        }
        Ok(())
    }
}

/// Items a restore writes per statement at most, and the bytes of records
/// past which it writes them sooner: what it holds in memory at once.
const RESTORE_BATCH: usize = 1000;
const RESTORE_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Rows of the restore not yet written, column by column: each table's
/// rows go in one statement (`INSERT ... SELECT * FROM unnest(...)` of
/// the columns as arrays), claims before the rows that refer to them.
#[derive(Default)]
struct Batch {
    items: usize,
    bytes: usize,
    events: EventRows,
    claims: ClaimRows,
    tags: TagRows,
    figures: FigureRows,
    wordings: WordingRows,
    requests: RequestRows,
}

#[derive(Default)]
struct EventRows {
    revision: Vec<i64>,
    claim_id: Vec<Vec<u8>>,
    link: Vec<Vec<u8>>,
    record: Vec<Vec<u8>>,
}

#[derive(Default)]
struct ClaimRows {
    id: Vec<Vec<u8>>,
    record: Vec<Vec<u8>>,
    revision: Vec<i64>,
    story: Vec<String>,
    state: Vec<String>,
    source_key: Vec<String>,
    assignee: Vec<Option<String>>,
    priority_rank: Vec<i16>,
    deadline: Vec<Option<Vec<u8>>>,
    lease_expires_ns: Vec<Option<i64>>,
}

#[derive(Default)]
struct TagRows {
    claim_id: Vec<Vec<u8>>,
    tag: Vec<String>,
    story: Vec<String>,
    priority_rank: Vec<i16>,
    deadline: Vec<Option<Vec<u8>>>,
}

#[derive(Default)]
struct FigureRows {
    story: Vec<String>,
    figure_key: Vec<String>,
    claim_id: Vec<Vec<u8>>,
    figure: Vec<Vec<u8>>,
}

#[derive(Default)]
struct WordingRows {
    claim_id: Vec<Vec<u8>>,
    story: Vec<String>,
    wording_key: Vec<String>,
}

#[derive(Default)]
struct RequestRows {
    caller: Vec<String>,
    request_id: Vec<String>,
    record: Vec<Vec<u8>>,
}

impl Batch {
    fn is_full(&self) -> bool {
        self.items >= RESTORE_BATCH || self.bytes >= RESTORE_BATCH_BYTES
    }

    fn count(&mut self, bytes: usize) {
        self.items += 1;
        self.bytes += bytes;
    }

    /// An event, with its stored link.
    fn event(&mut self, revision: u64, stored: &[u8]) -> Result<(), Error> {
        let event =
            EventRecord::decode_stored(stored).map_err(|e| corrupt("restore an event", e))?;
        let split = StoredEvent::split(stored).map_err(|e| corrupt("restore an event", e))?;
        self.count(stored.len());
        let events = &mut self.events;
        events.revision.push(to_i64(revision, "revision")?);
        events.claim_id.push(event.claim_id.to_bytes().to_vec());
        events.link.push(split.hash.to_vec());
        events.record.push(split.body.to_vec());
        Ok(())
    }

    /// A claim stored as `record`, with its tag, figure and wording rows
    /// ([`Columns`] and [`figure_rows`], as the writer makes them).
    fn claim(&mut self, claim: &Claim, state: &str, record: Vec<u8>) -> Result<(), Error> {
        let columns = Columns::of(claim)?;
        self.count(record.len());
        let id = claim.id.to_bytes().to_vec();
        let story = columns.story.to_owned();
        for tag in columns.queued_tags {
            let tags = &mut self.tags;
            tags.claim_id.push(id.clone());
            tags.tag.push(tag.as_str().to_owned());
            tags.story.push(story.clone());
            tags.priority_rank.push(columns.priority_rank);
            tags.deadline.push(columns.deadline.clone());
        }
        for (key, figure) in figure_rows(claim) {
            let figures = &mut self.figures;
            figures.story.push(story.clone());
            figures.figure_key.push(key);
            figures.claim_id.push(id.clone());
            figures.figure.push(figure);
        }
        let wordings = &mut self.wordings;
        wordings.claim_id.push(id.clone());
        wordings.story.push(story.clone());
        wordings
            .wording_key
            .push(Wording::of(claim.statement.as_str()).key());
        let claims = &mut self.claims;
        claims.id.push(id);
        claims.record.push(record);
        claims.revision.push(columns.revision);
        claims.story.push(story);
        claims.state.push(state.to_owned());
        claims
            .source_key
            .push(claim.attribution.source.normalized());
        claims.assignee.push(columns.assignee.map(str::to_owned));
        claims.priority_rank.push(columns.priority_rank);
        claims.deadline.push(columns.deadline);
        claims.lease_expires_ns.push(columns.lease_expires_ns);
        Ok(())
    }

    /// A request id, whose key is `caller NUL id` in UTF-8 (as the check
    /// made sure).
    fn request(&mut self, key: &[u8], record: Vec<u8>) -> Result<(), Error> {
        let (caller, id) = std::str::from_utf8(key)
            .ok()
            .and_then(|key| key.split_once('\0'))
            .ok_or_else(|| corrupt("restore a request id", "malformed key"))?;
        self.count(key.len() + record.len());
        let requests = &mut self.requests;
        requests.caller.push(caller.to_owned());
        requests.request_id.push(id.to_owned());
        requests.record.push(record);
        Ok(())
    }
}

impl Writer<'_> {
    /// Writes what `reader` holds (checked already) but the open
    /// contradictions and the chain's end.
    fn load<R: std::io::Read>(&self, reader: &mut BackupReader<R>) -> Result<(), RestoreError> {
        // Summed here, and written once: rows per story and state, not per
        // claim.
        let mut states: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut waiting: BTreeMap<(String, i16), i64> = BTreeMap::new();
        let mut batch = Batch::default();
        while let Some(item) = reader.next_item()? {
            match item {
                Item::Event { revision, stored } => batch.event(revision, &stored)?,
                Item::Claim(record) => {
                    let claim =
                        ClaimRecord::decode(&record).map_err(|e| corrupt("restore a claim", e))?;
                    let state = ClaimRecord::from(&claim).state;
                    let (claim_states, claim_waiting) = counters(&claim, &state);
                    for key in claim_states {
                        *states.entry(key).or_default() += 1;
                    }
                    for key in claim_waiting {
                        *waiting.entry(key).or_default() += 1;
                    }
                    batch.claim(&claim, &state, record)?;
                }
                Item::Request { key, record } => batch.request(&key, record)?,
            }
            if batch.is_full() {
                self.write_batch(std::mem::take(&mut batch))?;
            }
        }
        self.write_batch(batch)?;
        for ((story, state), claims) in &states {
            self.exec(
                "write counters",
                "INSERT INTO state_counts (story, state, claims) VALUES ($1, $2, $3)",
                &[story, state, claims],
            )?;
        }
        for ((story, rank), claims) in &waiting {
            self.exec(
                "write counters",
                "INSERT INTO waiting_counts (story, priority_rank, claims) VALUES ($1, $2, $3)",
                &[story, rank, claims],
            )?;
        }
        Ok(())
    }

    /// Writes the rows of `batch`, a statement per table that has some.
    fn write_batch(&self, batch: Batch) -> Result<(), Error> {
        let e = &batch.events;
        if !e.revision.is_empty() {
            self.exec(
                "restore events",
                "INSERT INTO events (revision, claim_id, link, record) \
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[])",
                &[&e.revision, &e.claim_id, &e.link, &e.record],
            )?;
        }
        let c = &batch.claims;
        if !c.id.is_empty() {
            self.exec(
                "restore claims",
                "INSERT INTO claims (id, record, revision, story, state, source_key, assignee, \
                 priority_rank, deadline, lease_expires_ns) \
                 SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::text[], \
                 $5::text[], $6::text[], $7::text[], $8::smallint[], $9::bytea[], $10::bigint[])",
                &[
                    &c.id,
                    &c.record,
                    &c.revision,
                    &c.story,
                    &c.state,
                    &c.source_key,
                    &c.assignee,
                    &c.priority_rank,
                    &c.deadline,
                    &c.lease_expires_ns,
                ],
            )?;
        }
        let t = &batch.tags;
        if !t.claim_id.is_empty() {
            self.exec(
                "restore tag queues",
                "INSERT INTO claim_tags (claim_id, tag, story, priority_rank, deadline) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::smallint[], \
                 $5::bytea[])",
                &[&t.claim_id, &t.tag, &t.story, &t.priority_rank, &t.deadline],
            )?;
        }
        let f = &batch.figures;
        if !f.story.is_empty() {
            self.exec(
                "restore figure index",
                "INSERT INTO claim_figures (story, figure_key, claim_id, figure) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[])",
                &[&f.story, &f.figure_key, &f.claim_id, &f.figure],
            )?;
        }
        let w = &batch.wordings;
        if !w.claim_id.is_empty() {
            self.exec(
                "restore wording index",
                "INSERT INTO claim_wordings (claim_id, story, wording_key) \
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[])",
                &[&w.claim_id, &w.story, &w.wording_key],
            )?;
        }
        let r = &batch.requests;
        if !r.caller.is_empty() {
            self.exec(
                "restore request ids",
                "INSERT INTO requests (caller, request_id, record) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])",
                &[&r.caller, &r.request_id, &r.record],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
