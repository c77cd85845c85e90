use super::*;
use crate::storage::{
    Fingerprint,
    records::{RequestRecord, hex},
};
use crate::storage::{
    Store,
    sled_store::{
        StoreConfig,
        tests::{claim, distinct_statement, new_claim},
    },
    step,
};

/// Claims of three stories, every priority, some tags and deadlines,
/// with ids in submission order.
fn varied_claims(count: u8) -> Vec<Claim> {
    use std::time::{Duration, SystemTime};

    use crate::domain::{Priority, Slug, UserName};
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_000);
    (0..count)
        .map(|n| {
            let mut new = new_claim();
            new.statement = distinct_statement(n.into());
            new.story = Slug::parse(&format!("story-{}", n % 3)).unwrap();
            new.priority =
                [Priority::Routine, Priority::Urgent, Priority::Breaking][usize::from(n % 5 % 3)];
            if n % 4 == 0 {
                new.tags = vec![Slug::parse("economy").unwrap()];
            }
            if n % 7 == 0 {
                new.deadline = Some(start + Duration::from_secs(3600 - u64::from(n)));
            }
            let mut id = [0; 16];
            id[15] = n;
            id[0] = 1;
            Claim::submitted(
                ClaimId::from_bytes(id),
                new,
                UserName::parse("ed.morgan").unwrap(),
                start + Duration::from_secs(u64::from(n)),
            )
        })
        .collect()
}

/// Every key and value of every tree of `store`, but the record of the last
/// batch (see `pending.rs`): the batches differ.
fn contents(store: &SledStore) -> Vec<Vec<(sled::IVec, sled::IVec)>> {
    [
        &store.trees.claims,
        &store.trees.index,
        &store.trees.events,
        &store.trees.events_by_claim,
        &store.trees.requests,
        &store.trees.counters,
        &store.trees.meta,
    ]
    .iter()
    .map(|tree| {
        tree.iter()
            .map(Result::unwrap)
            .filter(|(key, _)| key != super::super::pending::META_PENDING_BATCH)
            .collect()
    })
    .collect()
}

/// Several transactions' worth of `IMPORT_BATCH`.
const IMPORT_BATCH_TEST_CLAIMS: u8 = 250;

#[test]
fn importing_claims_stores_what_submitting_them_one_by_one_stores() {
    use std::time::{Duration, SystemTime};

    use crate::{
        domain::{Actor, Command, Role, UserName},
        storage::{AuditReport, ClaimFilter, PageLimit},
    };
    let claims = varied_claims(IMPORT_BATCH_TEST_CLAIMS);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let submitted = SledStore::open(&StoreConfig::new(dirs[0].path())).unwrap();
    let imported = SledStore::open(&StoreConfig::new(dirs[1].path())).unwrap();
    for claim in &claims {
        assert!(matches!(
            submitted.submit(claim.clone(), None).unwrap(),
            Submitted::Created(_)
        ));
    }
    let mut feed = imported.subscribe();
    imported.import(claims.clone()).unwrap();

    assert_eq!(contents(&imported), contents(&submitted));
    let all = PageLimit {
        items: usize::MAX,
        bytes: usize::MAX,
    };
    let listed = imported.list(&ClaimFilter::default(), None, all).unwrap();
    assert_eq!(listed.items.len(), claims.len());
    assert_eq!(
        listed,
        submitted.list(&ClaimFilter::default(), None, all).unwrap()
    );
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_124_000);
    for story in [None, Some("story-1")] {
        assert_eq!(
            imported.queue_stats(story, now).unwrap(),
            submitted.queue_stats(story, now).unwrap()
        );
    }
    let last = u64::from(IMPORT_BATCH_TEST_CLAIMS);
    let events = imported.events_since(0, last, usize::MAX).unwrap();
    assert_eq!(events.len(), claims.len());
    assert_eq!(events, submitted.events_since(0, last, usize::MAX).unwrap());
    assert_eq!(imported.durable_revision(), last, "durable when it returns");
    let published: Vec<Event> = std::iter::from_fn(|| feed.events.try_recv().ok())
        .map(|event| (*event).clone())
        .collect();
    assert_eq!(published, events, "published like any write");
    for store in [&imported, &submitted] {
        assert_eq!(store.audit().unwrap(), AuditReport::Intact { events: last });
    }

    let checker = Actor::new(UserName::parse("cy.checker").unwrap(), Role::Checker);
    let take: Change = step(move |claim: &Claim| {
        claim.apply(
            Command::StartReview {
                lease: Duration::from_secs(600),
            },
            &checker,
            now,
        )
    });
    let order = |store: &SledStore| {
        std::iter::from_fn(|| {
            store
                .take_next(&QueueQuery::default(), take.clone())
                .unwrap()
                .map(|(claim, _)| claim.id)
        })
        .collect::<Vec<_>>()
    };
    let taken = order(&imported);
    assert_eq!(taken.len(), claims.len());
    assert_eq!(taken, order(&submitted));
}

#[test]
fn importing_a_claim_stored_already_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    let claims = varied_claims(3);
    store.import(claims[..2].to_vec()).unwrap();
    let again = store.import(claims[1..].to_vec());
    assert!(matches!(again, Err(Error::Internal(message)) if message.contains("stored already")));
    assert_eq!(
        store.durable_revision(),
        2,
        "the failed batch wrote nothing"
    );
    assert_eq!(store.get(claims[2].id).unwrap(), None);
}

fn key(fingerprint: Fingerprint) -> RequestKey {
    RequestKey {
        caller: "ed.morgan".to_owned(),
        id: "retry-1".to_owned(),
        fingerprint,
    }
}

#[test]
fn a_retry_of_a_request_stored_by_an_earlier_release_replays_its_claim() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    let fingerprint = crate::fingerprint::submission(&new_claim(), "ed.morgan");
    let Submitted::Created(first) = store.submit(claim(1), None).unwrap() else {
        panic!("a new claim");
    };
    // What an earlier release stored for the request that made `first`:
    // a version 1 fingerprint and no version field.
    let legacy = format!(
        r#"{{"format":1,"claim_id":"{}","fingerprint":"{}"}}"#,
        first.id,
        hex(&fingerprint.v1)
    );
    store
        .trees
        .requests
        .insert(key(fingerprint).storage_key(), legacy.as_bytes())
        .unwrap();

    let retried = store.submit(claim(2), Some(&key(fingerprint))).unwrap();
    assert_eq!(retried, Submitted::Replayed(first));

    let mut other = fingerprint;
    other.v1[0] ^= 1;
    assert!(matches!(
        store.submit(claim(3), Some(&key(other))),
        Err(Error::RequestIdReused(_))
    ));
}

#[test]
fn new_request_ids_are_stored_with_the_current_fingerprint_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    let fingerprint = crate::fingerprint::submission(&new_claim(), "ed.morgan");
    let Submitted::Created(first) = store.submit(claim(1), Some(&key(fingerprint))).unwrap() else {
        panic!("a new claim");
    };
    let stored = store
        .trees
        .requests
        .get(key(fingerprint).storage_key())
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.first(),
        Some(&3),
        "a record in the current binary format"
    );
    let stored = RequestRecord::decode(&stored).unwrap();
    assert_eq!(stored.format, records::FORMAT);
    assert_eq!(stored.fingerprint_version, Some(2));
    assert_eq!(stored.fingerprint, hex(&fingerprint.current));
    assert_eq!(
        store.submit(claim(2), Some(&key(fingerprint))).unwrap(),
        Submitted::Replayed(first)
    );
}
