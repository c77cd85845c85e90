//! The batch under way, recorded whole before its transaction, so that a
//! transaction that fails half-way is never recovered half-way.
//!
//! sled 0.34 makes a transaction atomic on recovery with a batch manifest
//! that it seals once every write of the transaction has been logged. When
//! a write fails in the middle (a full disk: a blob file or the log cannot
//! be written), the manifest is dropped unsealed, and the writes logged
//! before the failure are recovered on their own: a claim could come back
//! with its new evidence and without the event that records it, under a
//! revision the next write would take again.
//!
//! So the writer first inserts every write of the batch as one value under
//! [`META_PENDING_BATCH`] (one insert, recovered whole or not at all), then
//! runs the transaction. sled recovers a prefix of its log, and the record
//! comes before the transaction's writes: if any of them is recovered, so
//! is the record, and opening the store applies it again, making the batch
//! whole. The transaction writes the trees in the order of [`T::ALL`],
//! `meta` last: a batch whose writes to `meta` (its revision and the chain's
//! last link) are all in place reached its end, and is left as it is, even
//! if something else of it is missing (that is an edit of the stored data
//! since, for `claimdesk audit` to find, not a cut). The record is removed
//! once the store has opened; each batch replaces the record of the one
//! before.

#[cfg(test)]
use std::cell::Cell;
use std::collections::BTreeMap;

use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError},
};

use super::{Trees, write::T};
use crate::error::StorageError;

/// Key in `meta` of the batch under way (or last written).
pub(super) const META_PENDING_BATCH: &[u8] = b"pending_batch";

/// What a batch writes, per tree in the order of [`T::ALL`]: the value of
/// each key, or `None` to remove it.
pub(super) type Staged = [BTreeMap<Vec<u8>, Option<sled::IVec>>; T::ALL.len()];

#[cfg(test)]
thread_local! {
    /// Cuts the next transaction [`write`] runs on this thread short, as a
    /// full disk does: the batch is recorded, the writes of its first tree
    /// (`claims`) are made, and the transaction fails.
    pub(super) static CUT_SHORT: Cell<bool> = const { Cell::new(false) };
}

/// Records `staged` under [`META_PENDING_BATCH`], then writes it in one
/// transaction.
pub(super) fn write(trees: &Trees, staged: &Staged) -> Result<(), StorageError> {
    trees
        .meta
        .insert(META_PENDING_BATCH, encode(staged))
        .map_err(|e| StorageError::failed("record write batch", e))?;
    #[cfg(test)]
    if CUT_SHORT.replace(false) {
        let mut first = Staged::default();
        first[T::Claims as usize] = staged[T::Claims as usize].clone();
        transact(trees, &first)?;
        return Err(StorageError::failed("write batch", "cut short by the test"));
    }
    transact(trees, staged)
}

/// What opening the store found of the last batch.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// No record: no batch since the last open.
    Nothing,
    /// The batch reached its end.
    Whole,
    /// The batch was cut short; its writes have been made.
    Completed,
}

/// Makes the last batch recorded whole, if a run ended in the middle of its
/// transaction, then removes its record.
pub(super) fn replay(trees: &Trees) -> Result<Found, StorageError> {
    let read = |e| StorageError::new("read pending batch", e);
    let Some(bytes) = trees.meta.get(META_PENDING_BATCH).map_err(read)? else {
        return Ok(Found::Nothing);
    };
    let staged = decode(&bytes)
        .map_err(|e| StorageError::new("read pending batch", format!("corrupt record: {e}")))?;
    // The writes to `meta` come last; a batch without any (it wrote no
    // event) is whole if all its writes are in place.
    let last = if staged[T::Meta as usize].is_empty() {
        &T::ALL[..]
    } else {
        &[T::Meta][..]
    };
    let mut whole = true;
    for &t in last {
        for (key, entry) in &staged[t as usize] {
            whole &= trees.get(t).get(key).map_err(read)? == *entry;
        }
    }
    if !whole {
        transact(trees, &staged)?;
    }
    // Logged after the writes it stands for: recovered only with them.
    trees
        .meta
        .remove(META_PENDING_BATCH)
        .map_err(|e| StorageError::new("remove pending batch", e))?;
    Ok(if whole {
        Found::Whole
    } else {
        Found::Completed
    })
}

/// Writes `staged` in one transaction, which reads nothing and so never
/// conflicts.
fn transact(trees: &Trees, staged: &Staged) -> Result<(), StorageError> {
    let result = (
        &trees.claims,
        &trees.index,
        &trees.events,
        &trees.events_by_claim,
        &trees.requests,
        &trees.counters,
        &trees.backups,
        &trees.meta,
    )
        .transaction(|views| {
            // In the order of `T`.
            let (claims, index, events, events_by_claim, requests, counters, backups, meta) = views;
            let views = [
                claims,
                index,
                events,
                events_by_claim,
                requests,
                counters,
                backups,
                meta,
            ];
            for t in T::ALL {
                for (key, entry) in &staged[t as usize] {
                    match entry {
                        Some(value) => views[t as usize].insert(key.as_slice(), value.clone())?,
                        None => views[t as usize].remove(key.as_slice())?,
                    };
                }
            }
            Ok::<_, ConflictableTransactionError<()>>(())
        });
    result.map_err(|e| match e {
        TransactionError::Abort(()) => {
            StorageError::failed("write batch", "the transaction was aborted")
        }
        TransactionError::Storage(e) => StorageError::failed("write batch", e),
    })
}

/// Per tree: the number of entries, then each entry as key length, key,
/// 0 (removed) or 1 (value length, value). Lengths are big-endian `u64`.
fn encode(staged: &Staged) -> Vec<u8> {
    let size: usize = staged
        .iter()
        .flat_map(|tree| tree.iter())
        .map(|(k, v)| 17 + k.len() + v.as_ref().map_or(0, |v| 8 + v.len()))
        .sum();
    fn put_len(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let mut out = Vec::with_capacity(size + 8 * staged.len());
    for tree in staged {
        put_len(&mut out, tree.len());
        for (key, entry) in tree {
            put_len(&mut out, key.len());
            out.extend_from_slice(key);
            match entry {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    put_len(&mut out, value.len());
                    out.extend_from_slice(value);
                }
            }
        }
    }
    out
}

fn decode(mut bytes: &[u8]) -> Result<Staged, &'static str> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
        if bytes.len() < n {
            return Err("truncated pending batch");
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }
    fn len(bytes: &mut &[u8]) -> Result<usize, &'static str> {
        let raw = take(bytes, 8)?;
        let n = u64::from_be_bytes(raw.try_into().map_err(|_| "bad length")?);
        usize::try_from(n).map_err(|_| "bad length")
    }
    let mut staged = Staged::default();
    for tree in &mut staged {
        for _ in 0..len(&mut bytes)? {
            let key_len = len(&mut bytes)?;
            let key = take(&mut bytes, key_len)?.to_vec();
            let entry = match take(&mut bytes, 1)? {
                [0] => None,
                [1] => {
                    let value_len = len(&mut bytes)?;
                    Some(sled::IVec::from(take(&mut bytes, value_len)?))
                }
                _ => return Err("bad entry kind"),
            };
            tree.insert(key, entry);
        }
    }
    if !bytes.is_empty() {
        return Err("trailing bytes after pending batch");
    }
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Staged {
        let mut staged = Staged::default();
        staged[T::Claims as usize].insert(b"a".to_vec(), Some(sled::IVec::from(&b"one"[..])));
        staged[T::Index as usize].insert(b"gone".to_vec(), None);
        staged[T::Meta as usize].insert(Vec::new(), Some(sled::IVec::from(&[][..])));
        staged
    }

    fn trees() -> (sled::Db, Trees) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = |name: &str| db.open_tree(name).unwrap();
        let trees = Trees {
            claims: tree("claims"),
            index: tree("index"),
            events: tree("events"),
            events_by_claim: tree("events_by_claim"),
            requests: tree("requests"),
            counters: tree("counters"),
            meta: tree("meta"),
            backups: tree("backups"),
        };
        (db, trees)
    }

    #[test]
    fn a_batch_cut_short_is_completed_from_its_record_and_a_whole_one_left_alone() {
        let (_db, trees) = trees();
        trees.index.insert(b"gone", &b"x"[..]).unwrap();
        CUT_SHORT.set(true);
        assert!(write(&trees, &sample()).unwrap_err().is_failed());
        // Only the claims were written.
        assert_eq!(
            trees.claims.get(b"a").unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert!(trees.index.get(b"gone").unwrap().is_some());

        assert_eq!(replay(&trees).unwrap(), Found::Completed);
        assert!(trees.index.get(b"gone").unwrap().is_none());
        assert_eq!(trees.meta.get(b"").unwrap().as_deref(), Some(&[][..]));
        assert!(trees.meta.get(META_PENDING_BATCH).unwrap().is_none());
        assert_eq!(replay(&trees).unwrap(), Found::Nothing);

        write(&trees, &sample()).unwrap();
        assert_eq!(replay(&trees).unwrap(), Found::Whole);
        assert!(trees.meta.get(META_PENDING_BATCH).unwrap().is_none());

        // A batch that reached its end is left as it is: what is missing
        // of it now was removed since, and is for the audit to find.
        write(&trees, &sample()).unwrap();
        trees.claims.remove(b"a").unwrap();
        assert_eq!(replay(&trees).unwrap(), Found::Whole);
        assert!(trees.claims.get(b"a").unwrap().is_none());
    }

    #[test]
    fn a_recorded_batch_decodes_to_what_was_staged() {
        let staged = sample();
        assert_eq!(decode(&encode(&staged)).unwrap(), staged);
        assert_eq!(
            decode(&encode(&Staged::default())).unwrap(),
            Staged::default()
        );
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let bytes = encode(&sample());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }
}
