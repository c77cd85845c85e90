//! Takes from the queue, changes of two claims, and the live feed, each
//! checked against the sled store or across two stores on one schema (two
//! replicas).

use std::{
    collections::BTreeSet,
    sync::{Arc, Barrier, Mutex},
    time::Duration,
};

use super::super::{
    PgStore,
    tests::{chief, command, sled_store, start, varied_claim, with_store},
};
use crate::{
    domain::{Claim, ClaimId, Command, End, LinkStatus, Relation, Slug, State, link_claims},
    error::Error,
    storage::{Change, PairChange, QueueQuery, Store, step},
};

fn review() -> Change {
    command(
        || Command::StartReview {
            lease: Duration::from_secs(600),
        },
        1,
    )
}

fn query(story: Option<&str>, tags: &[&str]) -> QueueQuery {
    QueueQuery {
        story: story.map(|s| Slug::parse(s).unwrap()),
        tags: tags.iter().map(|t| Slug::parse(t).unwrap()).collect(),
    }
}

/// The ids `take` returns until the queue is empty.
fn take_all(take: impl Fn() -> Option<Claim>) -> Vec<ClaimId> {
    std::iter::from_fn(take).map(|c| c.id).collect()
}

#[test]
fn takes_follow_the_queue_order_of_the_sled_store() {
    with_store(|pg, _| {
        let (_dir, sled) = sled_store();
        for n in 0..40 {
            pg.submit(varied_claim(n), None).unwrap();
            sled.submit(varied_claim(n), None).unwrap();
        }
        let queries = [
            query(Some("story-1"), &["economy"]),
            query(None, &["transport", "economy"]),
            query(Some("story-2"), &[]),
            query(None, &[]),
        ];
        for query in &queries {
            let ours = take_all(|| {
                pg.take_next(query, review())
                    .unwrap()
                    .map(|(claim, events)| {
                        assert_eq!(claim.state, State::InReview);
                        assert_eq!(events.last().map(|e| e.revision), Some(claim.revision));
                        claim
                    })
            });
            let theirs = take_all(|| sled.take_next(query, review()).unwrap().map(|t| t.0));
            assert_eq!(ours, theirs, "{query:?}");
            assert!(!ours.is_empty(), "{query:?} took nothing");
        }
        assert!(pg.take_next(&query(None, &[]), review()).unwrap().is_none());
        for n in 0..40 {
            let id = varied_claim(n).id;
            assert_eq!(pg.get(id).unwrap(), sled.get(id).unwrap());
        }
    });
}

#[test]
fn a_take_the_rules_refuse_writes_nothing() {
    with_store(|pg, sql| {
        pg.submit(varied_claim(1), None).unwrap();
        let refuse: Change = step(|claim: &Claim| {
            claim.apply(
                Command::Release {
                    note: crate::domain::Note::parse("not in review").unwrap(),
                },
                &chief(),
                start(),
            )
        });
        let refused = pg.take_next(&query(None, &[]), refuse);
        assert!(matches!(refused, Err(Error::Rule(_))), "{refused:?}");
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some("1".into())]]
        );
        assert!(pg.take_next(&query(None, &[]), review()).unwrap().is_some());
    });
}

#[test]
fn takes_through_two_stores_at_once_get_each_claim_once() {
    with_store(|pg, sql| {
        let other = PgStore::open(&sql.url, Some(&sql.schema)).expect("a second store");
        let claims = 60u16;
        for n in 0..claims {
            pg.submit(varied_claim(n), None).unwrap();
        }
        let stores: [&PgStore; 2] = [pg, &other];
        let taken = Mutex::new(Vec::new());
        let threads = 8;
        let barrier = Barrier::new(threads);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (store, taken, barrier) = (stores[t % 2], &taken, &barrier);
                // Half take from a tag queue, half from the whole queue.
                let query = if t % 4 == 0 {
                    query(None, &["economy", "transport"])
                } else {
                    query(None, &[])
                };
                scope.spawn(move || {
                    barrier.wait();
                    while let Some((claim, _)) = store.take_next(&query, review()).unwrap() {
                        taken.lock().unwrap().push(claim.id);
                    }
                });
            }
        });
        let taken = taken.into_inner().unwrap();
        let once: BTreeSet<ClaimId> = taken.iter().copied().collect();
        assert_eq!(once.len(), taken.len(), "a claim was taken twice");
        assert_eq!(taken.len(), usize::from(claims), "a claim was left");
        assert_eq!(
            sql.rows(
                "SELECT count(*)::text FROM claims WHERE state = 'in_review' \
                 AND lease_expires_ns IS NOT NULL"
            ),
            vec![vec![Some(claims.to_string())]]
        );
        assert!(matches!(
            pg.audit().unwrap(),
            crate::storage::AuditReport::Intact { events } if events == 2 * u64::from(claims)
        ));
    });
}

/// A confirmed link from `a` to `b`, as the desk makes one.
fn link(b: ClaimId) -> PairChange {
    PairChange {
        other: Arc::new(move |_| Ok(b)),
        apply: Arc::new(move |a, b, link| {
            link_claims(
                a,
                b,
                link,
                Relation::Contradicts,
                End::Subject,
                LinkStatus::Confirmed,
                crate::domain::Note::parse("the figures differ").unwrap(),
                Default::default(),
                &chief(),
                start() + Duration::from_secs(5000),
            )
        }),
    }
}

#[test]
fn pairs_store_what_the_sled_store_stores_and_cross_pairs_do_not_deadlock() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        for n in 0..6 {
            pg.submit(varied_claim(n), None).unwrap();
            sled.submit(varied_claim(n), None).unwrap();
        }
        let id = |n| varied_claim(n).id;
        let ours = pg.update_pair(id(0), link(id(3))).unwrap();
        let theirs = sled.update_pair(id(0), link(id(3))).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(
            pg.events_since(0, 100, 100).unwrap(),
            sled.events_since(0, 100, 100).unwrap()
        );
        let missing = pg.update_pair(id(1), link(ClaimId::from_bytes([7; 16])));
        assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
        assert!(matches!(
            pg.update_pair(ClaimId::from_bytes([7; 16]), link(id(1))),
            Err(Error::NotFound(_))
        ));
        // Pairs begun from both ends at once, through two stores: each
        // queues for the other; none fails.
        let other = PgStore::open(&sql.url, Some(&sql.schema)).unwrap();
        let barrier = Barrier::new(4);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let store = if t % 2 == 0 { pg } else { &other };
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..5 {
                        let (a, b) = if t % 2 == 0 {
                            (id(4), id(5))
                        } else {
                            (id(5), id(4))
                        };
                        match store.update_pair(a, link(b)) {
                            Ok(_) | Err(Error::Rule(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                });
            }
        });
        assert!(matches!(
            pg.audit().unwrap(),
            crate::storage::AuditReport::Intact { .. }
        ));
    });
}

#[test]
fn a_second_store_feeds_its_watchers_every_event_committed_through_the_first() {
    with_store(|pg, sql| {
        pg.submit(varied_claim(0), None).unwrap();
        let other = PgStore::open(&sql.url, Some(&sql.schema)).unwrap();
        assert_eq!(other.durable_revision(), 1);
        let mut feed = other.subscribe();
        assert_eq!(feed.durable_revision, 1);
        for n in 1..30 {
            pg.submit(varied_claim(n), None).unwrap();
        }
        pg.update(varied_claim(3).id, review()).unwrap();
        // Resolves once this store has published what was committed before.
        other.durable().wait_blocking().unwrap();
        let last = other.durable_revision();
        assert!(last >= 31, "published up to {last}");
        let mut seen = Vec::new();
        while let Ok(event) = feed.events.try_recv() {
            seen.push(event.revision);
        }
        assert_eq!(seen, (2..=last).collect::<Vec<_>>());
        assert_eq!(
            other.events_since(1, last, 1000).unwrap(),
            pg.events_since(1, last, 1000).unwrap()
        );
        // A writer's own change is published before its durability
        // resolves.
        let (claim, _) = other.update(varied_claim(4).id, review()).unwrap();
        other.durable_for(claim.revision).wait_blocking().unwrap();
        assert!(other.durable_revision() >= claim.revision);
        assert_eq!(feed.events.try_recv().unwrap().revision, claim.revision);
        assert_eq!(other.reachable().map(|r| *r.borrow()), Some(true));
    });
}
