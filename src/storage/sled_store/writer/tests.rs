//! Batches applied as the writer applies them, with the ops of each chosen
//! by the test: what the ops of one batch see of each other, and what a
//! failing op leaves behind.

use std::{
    sync::mpsc,
    time::{Duration, SystemTime},
};

use super::*;
use crate::{
    domain::{Actor, Command, Note, Priority, Role, UserName},
    error::Error,
    storage::{
        AuditReport, Fingerprint, PageLimit, Store,
        sled_store::{SledStore, StoreConfig, tests::claim},
        step,
    },
};

type Answer<T> = mpsc::Receiver<Result<T, Error>>;

fn submit(claim: Claim, request: Option<RequestKey>) -> (Op, Answer<Submitted>) {
    let (reply, answer) = mpsc::sync_channel(1);
    let op = Op::Submit {
        claim: Box::new(New::of(claim)),
        request,
        reply,
    };
    (op, answer)
}

fn update(id: ClaimId, change: Change) -> (Op, Answer<(Claim, Vec<Event>)>) {
    let (reply, answer) = mpsc::sync_channel(1);
    (Op::Update { id, change, reply }, answer)
}

/// What a take answers: the claim taken, if any, and its events.
type Taken = Option<(Claim, Vec<Event>)>;

fn take() -> (Op, Answer<Taken>) {
    let (reply, answer) = mpsc::sync_channel(1);
    let checker = Actor::new(UserName::parse("cy.checker").unwrap(), Role::Checker);
    let change: Change = step(move |claim: &Claim| {
        claim.apply(
            Command::StartReview {
                lease: Duration::from_secs(600),
            },
            &checker,
            claim.update_time + Duration::from_secs(1),
        )
    });
    let op = Op::TakeNext {
        query: QueueQuery::default(),
        change,
        reply,
    };
    (op, answer)
}

fn request(fingerprint: u8) -> RequestKey {
    RequestKey {
        caller: "ed.morgan".into(),
        id: "paste-1".into(),
        fingerprint: Fingerprint {
            current: [fingerprint; 32],
            v1: [fingerprint; 32],
        },
    }
}

fn answer<T>(answer: Answer<T>) -> Result<T, Error> {
    answer.try_recv().expect("the writer answered")
}

fn taken_id(answer_of_take: Answer<Taken>) -> ClaimId {
    answer(answer_of_take)
        .unwrap()
        .expect("a claim was waiting")
        .0
        .id
}

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

#[test]
fn the_ops_of_one_batch_see_the_effect_of_those_before_them() {
    let (_dir, store) = open();
    for n in 1..=3 {
        store.submit(claim(n), None).unwrap();
    }
    let mut urgent = claim(9);
    urgent.priority = Priority::Urgent;

    let (take_1, taken_1) = take();
    let (take_2, taken_2) = take();
    let (submit_urgent, urgent_submitted) = submit(urgent.clone(), None);
    let (take_3, taken_3) = take();
    let (first_paste, pasted) = submit(claim(10), Some(request(1)));
    let (same_paste, replayed) = submit(claim(11), Some(request(1)));
    let (other_paste, reused) = submit(claim(12), Some(request(2)));
    let (verify_waiting, refused) = update(
        claim(3).id,
        step(|claim: &Claim| {
            let chief = Actor::new(UserName::parse("di.chief").unwrap(), Role::Chief);
            let note = Note::parse("Confirmed by the port authority").unwrap();
            claim.apply(
                Command::Verify {
                    note,
                    acknowledge_contradictions: false,
                },
                &chief,
                SystemTime::now(),
            )
        }),
    );
    let (missing, not_found) = update(claim(200).id, step(|_: &Claim| unreachable!()));
    WriteSide::of(&store).apply(vec![
        take_1,
        take_2,
        submit_urgent,
        take_3,
        first_paste,
        same_paste,
        other_paste,
        verify_waiting,
        missing,
    ]);

    // Two takes in one batch take two claims, in queue order; a take
    // after a more urgent submission in the same batch takes that one.
    assert_eq!(taken_id(taken_1), claim(1).id);
    assert_eq!(taken_id(taken_2), claim(2).id);
    assert!(matches!(
        answer(urgent_submitted),
        Ok(Submitted::Created(_))
    ));
    assert_eq!(taken_id(taken_3), urgent.id);
    // A retry in the same batch replays the claim its first paste made.
    let Ok(Submitted::Created(made)) = answer(pasted) else {
        panic!("the first paste creates its claim");
    };
    assert_eq!(answer(replayed).unwrap(), Submitted::Replayed(made));
    assert!(matches!(answer(reused), Err(Error::RequestIdReused(_))));
    assert!(matches!(answer(refused), Err(Error::Rule(_))));
    assert!(matches!(answer(not_found), Err(Error::NotFound(_))));

    // Revisions follow the order of the ops, without gaps for the ops
    // that wrote nothing; the chain and the indexes agree.
    let events = store.events_since(0, u64::MAX, 100).unwrap();
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (1..=8).collect::<Vec<_>>());
    let claims_of_batch: Vec<ClaimId> = events[3..].iter().map(|e| e.claim_id).collect();
    assert_eq!(
        claims_of_batch,
        vec![claim(1).id, claim(2).id, urgent.id, urgent.id, claim(10).id]
    );
    assert_eq!(store.audit().unwrap(), AuditReport::Intact { events: 8 });
    let next = store
        .take_next(&QueueQuery::default(), take_change())
        .unwrap()
        .unwrap();
    assert_eq!(next.0.id, claim(3).id, "the queue lost none and kept none");
}

fn take_change() -> Change {
    let (op, _) = take();
    match op {
        Op::TakeNext { change, .. } => change,
        _ => unreachable!(),
    }
}

#[test]
fn an_op_that_panics_fails_alone_and_leaves_nothing_behind() {
    let (_dir, store) = open();
    let (before, _) = submit(claim(1), None);
    WriteSide::of(&store).apply(vec![before]);
    let durable_before = store.durable_revision();

    let (first, first_done) = submit(claim(2), None);
    let (panics, panicked) = update(claim(1).id, step(|_: &Claim| panic!("a rule that panics")));
    let (taken, taken_answer) = take();
    let (last, last_done) = submit(claim(3), None);
    WriteSide::of(&store).apply(vec![first, panics, taken, last]);

    assert!(answer(first_done).is_ok());
    assert!(matches!(answer(panicked), Err(Error::Internal(_))));
    assert_eq!(taken_id(taken_answer), claim(1).id);
    assert!(answer(last_done).is_ok());
    let revisions: Vec<u64> = store
        .events_since(0, u64::MAX, 100)
        .unwrap()
        .iter()
        .map(|e| e.revision)
        .collect();
    assert_eq!(revisions, vec![1, 2, 3, 4]);
    assert_eq!(store.audit().unwrap(), AuditReport::Intact { events: 4 });
    let page = store
        .events(
            claim(1).id,
            0,
            PageLimit {
                items: 10,
                bytes: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(
        page.items.len(),
        2,
        "submitted, then taken: {:?}",
        page.items
    );
    store.durable().wait_blocking().unwrap();
    assert!(store.durable_revision() > durable_before);
}

#[test]
fn a_batch_after_a_failed_flush_is_refused_whole() {
    let (_dir, store) = open();
    let side = WriteSide::of(&store);
    side.failed.store(true, Ordering::Release);
    let (op, refused) = submit(claim(1), None);
    side.apply(vec![op]);
    let error = answer(refused).unwrap_err();
    assert!(error.is_store_failure(), "{error:?}");
    assert!(store.get(claim(1).id).unwrap().is_none());
}

#[test]
fn a_batch_whose_transaction_fails_fails_the_store_and_is_whole_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path());
    let store = SledStore::open(&config).unwrap();
    let Submitted::Created(first) = store.submit(claim(1), None).unwrap() else {
        panic!("a new claim");
    };
    store.durable().wait_blocking().unwrap();

    // The transaction fails after writing the claim, before its event.
    let side = WriteSide::of(&store);
    crate::storage::sled_store::pending::CUT_SHORT.set(true);
    let (op, refused) = submit(claim(2), None);
    side.apply(vec![op]);
    let error = answer(refused).unwrap_err();
    assert!(error.is_store_failure(), "{error:?}");
    // Every later write is refused, and no read shows the half-written
    // claim; what was durable reads as before.
    let error = store.submit(claim(3), None).unwrap_err();
    assert!(error.is_store_failure(), "{error:?}");
    let error = store.get(claim(2).id).unwrap_err();
    assert!(error.is_store_failure(), "{error:?}");
    assert_eq!(store.get(first.id).unwrap(), Some(first));
    drop(side);
    drop(store);

    // Reopened, the store holds the refused batch whole: claim and event.
    let store = SledStore::open(&config).unwrap();
    let second = store.get(claim(2).id).unwrap().expect("the batch is whole");
    let limit = PageLimit {
        items: 10,
        bytes: 1 << 20,
    };
    let events = store.events(second.id, 0, limit).unwrap().items;
    assert_eq!(
        events.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![second.revision]
    );
    assert_eq!(store.audit().unwrap(), AuditReport::Intact { events: 2 });
    let Submitted::Created(third) = store.submit(claim(3), None).unwrap() else {
        panic!("a new claim");
    };
    assert_eq!(third.revision, 3);
}

#[test]
fn a_change_waiting_for_a_held_up_writer_is_answered_once_the_store_fails() {
    let (_dir, store) = open();
    let Submitted::Created(stored) = store.submit(claim(1), None).unwrap() else {
        panic!("a new claim");
    };
    // A change that holds the writer until the test lets it go, as a
    // database call held up by a failing disk would.
    let (entered, writer_held) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let checker = Actor::new(UserName::parse("cy.checker").unwrap(), Role::Checker);
    let change: Change = step(move |claim: &Claim| {
        entered.send(()).unwrap();
        let _ = released.lock().unwrap().recv();
        claim.apply(
            Command::StartReview {
                lease: Duration::from_secs(600),
            },
            &checker,
            claim.update_time + Duration::from_secs(1),
        )
    });
    std::thread::scope(|scope| {
        let (answered, answer) = mpsc::channel();
        let store = &store;
        scope.spawn(move || answered.send(store.update(stored.id, change)).unwrap());
        writer_held.recv().unwrap();
        WriteSide::of(store).failed.store(true, Ordering::Release);
        // Only a guard against a test that hangs; the answer comes at once.
        let result = answer.recv_timeout(Duration::from_secs(30));
        drop(release);
        let error = result
            .expect("answered while the writer is held")
            .unwrap_err();
        assert!(error.is_store_failure(), "{error:?}");
    });
}

/// Claim `n` saying `statement`, attributed to `source`.
fn saying(n: u8, statement: &str, source: &str) -> Claim {
    let mut claim = claim(n);
    claim.statement = crate::domain::Statement::parse(statement).unwrap();
    claim.attribution.source = crate::domain::SourceName::parse(source).unwrap();
    claim.figures = crate::domain::extract(statement);
    claim
}

#[test]
fn claims_of_one_batch_that_contradict_each_other_are_linked_in_it() {
    let (_dir, store) = open();
    let (first, first_answer) = submit(
        saying(
            1,
            "About 9,000 dock workers joined the strike",
            "Harbour Gazette",
        ),
        None,
    );
    let (second, second_answer) = submit(
        saying(
            2,
            "Only 2,000 dock workers joined the strike",
            "Port Authority",
        ),
        None,
    );
    WriteSide::of(&store).apply(vec![first, second]);
    let Ok(Submitted::Created(second)) = answer(second_answer) else {
        panic!("the second claim is stored");
    };
    let Ok(Submitted::Created(first)) = answer(first_answer) else {
        panic!("the first claim is stored");
    };
    assert_eq!(
        second.links.len(),
        1,
        "the batch's own first claim is found"
    );
    let link = &second.links[0];
    assert_eq!(
        (link.other, link.status),
        (first.id, crate::domain::LinkStatus::Suggested)
    );
    // Submit 1, submit 2, then the link on each: revisions 1 to 4, the link
    // named after the first of its two events.
    assert_eq!(link.id, 3);
    let stored_first = store.get(first.id).unwrap().unwrap();
    assert_eq!(stored_first.link(3).map(|l| l.other), Some(second.id));
    assert_eq!(stored_first.revision, 4);
    let page = store
        .conflicts(
            &first.story,
            None,
            PageLimit {
                items: 10,
                bytes: usize::MAX,
            },
        )
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        (page.items[0].subject.id, page.items[0].object.id),
        (second.id, first.id)
    );
    let after = store
        .conflicts(
            &first.story,
            Some(3),
            PageLimit {
                items: 10,
                bytes: usize::MAX,
            },
        )
        .unwrap();
    assert!(after.items.is_empty() && !after.more);
}

#[test]
fn withdrawn_claims_and_claims_without_room_for_a_link_are_not_linked() {
    let (_dir, store) = open();
    let withdrawn = saying(
        1,
        "About 9,000 dock workers joined the strike",
        "Harbour Gazette",
    );
    store.submit(withdrawn.clone(), None).unwrap();
    store
        .update(
            withdrawn.id,
            step(|claim: &Claim| {
                let chief = Actor::new(UserName::parse("di.chief").unwrap(), Role::Chief);
                claim.apply(
                    Command::Withdraw {
                        reason: Note::parse("Dropped").unwrap(),
                    },
                    &chief,
                    SystemTime::now(),
                )
            }),
        )
        .unwrap();
    let Submitted::Created(new) = store
        .submit(
            saying(
                2,
                "Only 2,000 dock workers joined the strike",
                "Port Authority",
            ),
            None,
        )
        .unwrap()
    else {
        panic!("stored");
    };
    assert!(new.links.is_empty(), "{:?}", new.links);

    // A claim holding as many links as it may is left out too.
    let mut full = saying(
        3,
        "About 9,000 dock workers joined the strike",
        "Harbour Gazette",
    );
    let corroborates = |i: u64| crate::domain::Link {
        id: 1_000 + i,
        other: claim(4).id,
        relation: crate::domain::Relation::Corroborates,
        end: crate::domain::End::Subject,
        status: crate::domain::LinkStatus::Confirmed,
        note: Note::default(),
        created_by: UserName::parse("di.chief").unwrap(),
        create_time: SystemTime::now(),
        resolution: None,
        basis: Vec::new(),
    };
    full.links = (0..crate::domain::MAX_LINKS_PER_CLAIM as u64)
        .map(corroborates)
        .collect();
    store.import(vec![full]).unwrap();
    let Submitted::Created(newer) = store
        .submit(
            saying(
                5,
                "Barely 2,000 dock workers joined the strike",
                "Port Police",
            ),
            None,
        )
        .unwrap()
    else {
        panic!("stored");
    };
    assert!(newer.links.is_empty(), "{:?}", newer.links);
}
