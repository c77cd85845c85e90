//! The audit walk of the event log's hash chain.

use super::{META_LAST_HASH, META_LAST_REVISION, SledStore, storage};
use crate::{
    error::Error,
    storage::{
        AuditReport,
        records::{self, EventRecord, HASH_LEN, StoredEvent},
    },
};

impl SledStore {
    /// Walks the whole event log from revision 1: each event must sit under
    /// its own revision, without gaps, and its chain link must be the hash
    /// of the previous link and its body. Reports the first event that
    /// fails, or how many check out.
    pub fn audit(&self) -> Result<AuditReport, Error> {
        let broken = |revision, reason: &str| {
            Ok(AuditReport::Broken {
                revision,
                reason: reason.to_owned(),
            })
        };
        let mut previous = [0u8; HASH_LEN];
        let mut expected = 1u64;
        for entry in self.trees.events.iter() {
            let (key, value) = entry.map_err(storage("read history"))?;
            let Ok(key) = <[u8; 8]>::try_from(key.as_ref()) else {
                return broken(expected, "an event is stored under a malformed key");
            };
            let revision = u64::from_be_bytes(key);
            if revision != expected {
                return broken(expected, "the event is missing");
            }
            let Ok(stored) = StoredEvent::split(&value) else {
                return broken(revision, "the event is truncated");
            };
            if records::chain_hash(&previous, stored.body) != stored.hash {
                return broken(
                    revision,
                    "the event's hash does not match its content and the previous event",
                );
            }
            match EventRecord::decode(stored.body) {
                Ok(event) if event.revision == revision => {}
                Ok(_) => return broken(revision, "the event names another revision"),
                Err(_) => return broken(revision, "the event cannot be read"),
            }
            previous = stored.hash;
            expected += 1;
        }
        let last = self
            .trees
            .meta
            .get(META_LAST_REVISION)
            .map_err(storage("read revision"))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        if last >= expected {
            return broken(expected, "the event is missing");
        }
        let last_hash = self
            .trees
            .meta
            .get(META_LAST_HASH)
            .map_err(storage("read chain"))?;
        if expected > 1 && last_hash.as_deref() != Some(&previous[..]) {
            return broken(
                expected - 1,
                "the chain's recorded end does not match the last event",
            );
        }
        Ok(AuditReport::Intact {
            events: expected - 1,
        })
    }
}
