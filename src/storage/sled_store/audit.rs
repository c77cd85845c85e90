//! The audit walk of the event log's hash chain.

use super::{META_LAST_HASH, META_LAST_REVISION, SledStore, storage};
use crate::{
    error::Error,
    storage::{AuditReport, records::ChainWalk},
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
        let mut walk = ChainWalk::default();
        for entry in self.trees.events.iter() {
            let (key, value) = entry.map_err(storage("read history"))?;
            let Ok(key) = <[u8; 8]>::try_from(key.as_ref()) else {
                return broken(
                    walk.next_revision(),
                    "an event is stored under a malformed key",
                );
            };
            let revision = u64::from_be_bytes(key);
            if let Err(reason) = walk.step(revision, &value) {
                return broken(walk.next_revision(), reason);
            }
        }
        let expected = walk.next_revision();
        let previous = walk.last_link();
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
