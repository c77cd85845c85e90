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
//! transaction: the events with their stored links, each claim with every
//! row the writer writes for it (its columns, tag, figure and wording
//! rows, and the counters), the request ids and the chain's end. Open
//! contradictions are written in a third reading, once every claim they
//! name is there. A restore that fails writes nothing, and a server on the
//! same schema sees all of it or none of it; it waits for the restore's
//! lock on the chain's end to write anything.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufReader, Write},
    path::Path,
    time::SystemTime,
};

use tokio_postgres::IsolationLevel;

use super::{Head, OpenError, PgStore, Writer, corrupt, counters, db, from_i64, to_i64};
use crate::{
    domain::Wording,
    error::{Error, StorageError},
    storage::{
        BackupSummary,
        backup::{BackupError, BackupReader, BackupWriter, Item, check},
        records::{ClaimRecord, EventRecord, HASH_LEN, StoredEvent},
    },
};

/// Rows a backup reads per statement.
const CHUNK: i64 = 1000;

/// Why a restore into PostgreSQL failed; nothing was written.
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
        let tx = self
            .block_on(
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start(),
            )
            .map_err(db("begin backup"))?;
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

impl Writer<'_> {
    /// Writes what `reader` holds (checked already) but the open
    /// contradictions and the chain's end.
    fn load<R: std::io::Read>(&self, reader: &mut BackupReader<R>) -> Result<(), RestoreError> {
        // Summed here, and written once: rows per story and state, not per
        // claim.
        let mut states: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut waiting: BTreeMap<(String, i16), i64> = BTreeMap::new();
        while let Some(item) = reader.next_item()? {
            match item {
                Item::Event { revision, stored } => {
                    let event = EventRecord::decode_stored(&stored)
                        .map_err(|e| corrupt("restore an event", e))?;
                    let split =
                        StoredEvent::split(&stored).map_err(|e| corrupt("restore an event", e))?;
                    self.exec(
                        "restore an event",
                        "INSERT INTO events (revision, claim_id, link, record) \
                         VALUES ($1, $2, $3, $4)",
                        &[
                            &to_i64(revision, "revision")?,
                            &event.claim_id.to_bytes().as_slice(),
                            &split.hash.as_slice(),
                            &split.body,
                        ],
                    )?;
                }
                Item::Claim(record) => {
                    let claim =
                        ClaimRecord::decode(&record).map_err(|e| corrupt("restore a claim", e))?;
                    let state = ClaimRecord::from(&claim).state;
                    self.write_claim(None, &claim, &record, &state)?;
                    self.write_once(&claim, &Wording::of(claim.statement.as_str()))?;
                    let (claim_states, claim_waiting) = counters(&claim, &state);
                    for key in claim_states {
                        *states.entry(key).or_default() += 1;
                    }
                    for key in claim_waiting {
                        *waiting.entry(key).or_default() += 1;
                    }
                }
                Item::Request { key, record } => {
                    // The check made sure of `caller NUL id` in UTF-8.
                    let (caller, id) = std::str::from_utf8(&key)
                        .ok()
                        .and_then(|key| key.split_once('\0'))
                        .ok_or_else(|| corrupt("restore a request id", "malformed key"))?;
                    self.exec(
                        "restore a request id",
                        "INSERT INTO requests (caller, request_id, record) VALUES ($1, $2, $3)",
                        &[&caller, &id, &record],
                    )?;
                }
            }
        }
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
}

#[cfg(test)]
mod tests;
