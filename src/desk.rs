//! The operations of the verification desk, as the transport calls them:
//! each one runs the storage work on tokio's blocking pool (sled blocks) and,
//! for a change, returns only once the change is durable.
//!
//! Knows the domain and the [`Store`] trait; knows neither protobuf nor sled.

use std::{
    sync::{Arc, Mutex},
    time::SystemTime,
};

use sha2::{Digest, Sha256};

use crate::{
    domain::{Claim, ClaimId, Command, Event, NewClaim, UserName},
    error::Error,
    storage::{ClaimFilter, Page, RequestKey, Store, Submitted},
};

/// The verification desk: submits, reads and changes claims.
#[derive(Clone)]
pub struct Desk {
    store: Arc<dyn Store>,
    ids: Arc<Mutex<ulid::Generator>>,
}

impl Desk {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            ids: Arc::new(Mutex::new(ulid::Generator::new())),
        }
    }

    /// A fresh id: time-ordered, and strictly increasing within this process
    /// even for ids made in the same millisecond.
    fn next_id(&self) -> ulid::Ulid {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.generate()
            .unwrap_or_else(|overflow| overflow.commit_overflow_increment())
    }

    /// Runs blocking store work off the async workers. A panic in it becomes
    /// [`Error::Internal`] rather than taking the server down.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::Internal(format!("storage task failed: {e}")))?
    }

    /// Submits a claim by `by`. With a request id, a retry of the same
    /// request by the same caller returns the claim made the first time.
    /// Request ids are scoped to their caller: editors' tools cannot collide
    /// with, or probe, each other's.
    pub async fn submit(
        &self,
        new: NewClaim,
        by: UserName,
        request_id: Option<String>,
    ) -> Result<Claim, Error> {
        let request = request_id.map(|id| RequestKey {
            caller: by.as_str().to_owned(),
            fingerprint: fingerprint(&new),
            id,
        });
        let claim = Claim::submitted(
            ClaimId::from_ulid(self.next_id()),
            new,
            by,
            SystemTime::now(),
        );
        let submitted = self
            .blocking(move |store| store.submit(claim, request.as_ref()))
            .await?;
        // A replayed claim may come from a request still waiting for its own
        // flush: wait for durability in both cases.
        self.store.durable().wait().await?;
        Ok(match submitted {
            Submitted::Created(claim) | Submitted::Replayed(claim) => claim,
        })
    }

    pub async fn get(&self, id: ClaimId) -> Result<Claim, Error> {
        self.blocking(move |store| store.get(id)?.ok_or(Error::NotFound(id)))
            .await
    }

    pub async fn list(
        &self,
        filter: ClaimFilter,
        after: Option<ClaimId>,
        limit: usize,
    ) -> Result<Page<Claim>, Error> {
        self.blocking(move |store| store.list(&filter, after, limit))
            .await
    }

    /// Applies `command` by `actor` to a claim, if `etag` is empty or still
    /// current.
    pub async fn change(
        &self,
        id: ClaimId,
        command: Command,
        actor: UserName,
        etag: String,
    ) -> Result<Claim, Error> {
        let (claim, _event) = self
            .blocking(move |store| {
                store.update(id, &|claim: &Claim| {
                    claim.check_etag(&etag)?;
                    claim.apply(command.clone(), &actor, SystemTime::now())
                })
            })
            .await?;
        self.store.durable().wait().await?;
        Ok(claim)
    }

    /// New evidence needs an id before the command is built.
    pub fn new_evidence_id(&self) -> ulid::Ulid {
        self.next_id()
    }

    pub async fn events(
        &self,
        id: ClaimId,
        after: u64,
        limit: usize,
    ) -> Result<Page<Event>, Error> {
        self.blocking(move |store| store.events(id, after, limit))
            .await
    }

    /// Resolves once everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), Error> {
        self.store.durable().wait().await
    }
}

/// SHA-256 over every submitted field, each length-prefixed so that no two
/// different claims encode alike.
fn fingerprint(new: &NewClaim) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(new.statement.as_str().as_bytes());
    field(new.attribution.source.as_str().as_bytes());
    field(&(new.attribution.relayed_from.len() as u64).to_be_bytes());
    for r in &new.attribution.relayed_from {
        field(r.as_str().as_bytes());
    }
    field(
        new.attribution
            .url
            .as_ref()
            .map_or("", |u| u.as_str())
            .as_bytes(),
    );
    field(new.story.as_str().as_bytes());
    field(&(new.tags.len() as u64).to_be_bytes());
    for t in &new.tags {
        field(t.as_str().as_bytes());
    }
    field(format!("{:?}", new.priority).as_bytes());
    field(
        format!(
            "{:?}",
            new.deadline
                .map(|d| d.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
        )
        .as_bytes(),
    );
    h.finalize().into()
}
