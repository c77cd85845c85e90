//! The listings, counts, leases, import and size of [`PgStore`] against a
//! real PostgreSQL (see the store's tests, whose helpers these use),
//! compared with the sled store's answers to the same calls.

use std::time::Duration;

use tokio_postgres::NoTls;

use super::{PgStore, list_statement};
use crate::{
    domain::{Claim, ClaimId, Command, End, LinkId, Slug, SourceName, State, UserName},
    error::Error,
    storage::{
        AuditReport, ClaimFilter, Page, PageLimit, SledStore, SourceKey, Store,
        postgres::{
            store::tests::{
                LIMITS, Sql, changes, command, figured_claim, index_rows, note, sled_store, start,
                varied_claim, with_store,
            },
            tests::plan_uses,
        },
        records::{ClaimRecord, Record},
    },
};

/// Submits `claims` to both stores, in order.
fn submit_both(pg: &PgStore, sled: &SledStore, claims: impl IntoIterator<Item = Claim>) {
    for claim in claims {
        pg.submit(claim.clone(), None).unwrap();
        Store::submit(sled, claim, None).unwrap();
    }
}

/// Applies each of `changes` to both stores, which must agree.
fn update_both(pg: &PgStore, sled: &SledStore, changes: Vec<(ClaimId, crate::storage::Change)>) {
    for (id, change) in changes {
        let ours = pg.update(id, change.clone());
        let theirs = Store::update(sled, id, change);
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    }
}

/// [`changes`] of claims 0 to 8, then a reassignment, so that claims are in
/// several states with two assignees.
fn varied_changes() -> Vec<(ClaimId, crate::storage::Change)> {
    let mut all: Vec<_> = changes()
        .into_iter()
        .map(|(n, change)| (varied_claim(n).id, change))
        .collect();
    all.push((
        varied_claim(5).id,
        command(
            || Command::Reassign {
                to: UserName::parse("jo.lee").unwrap(),
                lease: Duration::from_secs(300),
                note: note("yours"),
            },
            20,
        ),
    ));
    all
}

/// The size of claim `n`'s record as first submitted.
fn record_size(n: u16) -> usize {
    ClaimRecord::from(&varied_claim(n)).encode().len()
}

fn filter(
    story: Option<&str>,
    state: Option<State>,
    source: Option<&str>,
    assignee: Option<&str>,
) -> ClaimFilter {
    ClaimFilter {
        story: story.map(|s| Slug::parse(s).unwrap()),
        state,
        source: source.map(|s| SourceKey::of(&SourceName::parse(s).unwrap())),
        assignee: assignee.map(|a| UserName::parse(a).unwrap()),
    }
}

/// Filters of every kind, alone and together, some matching nothing.
fn filters() -> Vec<ClaimFilter> {
    vec![
        ClaimFilter::default(),
        filter(Some("story-1"), None, None, None),
        filter(Some("story-9"), None, None, None),
        filter(None, Some(State::Unverified), None, None),
        filter(None, Some(State::InReview), None, None),
        filter(None, Some(State::Inconclusive), None, None),
        filter(None, Some(State::Withdrawn), None, None),
        filter(None, Some(State::Verified), None, None),
        filter(None, None, Some("Harbour Gazette"), None),
        // The same source, in other letters.
        filter(None, None, Some("HARBOUR GAZETTE"), None),
        filter(None, None, Some("Nobody Said"), None),
        filter(None, None, None, Some("cy.chief")),
        filter(None, None, None, Some("jo.lee")),
        filter(None, None, None, Some("ed.morgan")),
        filter(Some("story-0"), Some(State::Unverified), None, None),
        filter(Some("story-2"), None, Some("Port Radio"), None),
        filter(None, Some(State::InReview), None, Some("cy.chief")),
        filter(
            Some("story-2"),
            Some(State::InReview),
            Some("Port Radio"),
            Some("cy.chief"),
        ),
        filter(Some("story-1"), Some(State::Withdrawn), None, None),
    ]
}

/// Every page of every filter after each of `afters`, under each of
/// `limits`, from `list`.
fn listings(
    list: impl Fn(&ClaimFilter, Option<ClaimId>, PageLimit) -> Result<Page<Claim>, Error>,
    afters: &[Option<ClaimId>],
    limits: &[PageLimit],
) -> Vec<String> {
    let mut seen = Vec::new();
    for filter in filters() {
        for &after in afters {
            for &limit in limits {
                seen.push(format!(
                    "{filter:?} {after:?} {limit:?}: {:?}",
                    list(&filter, after, limit)
                ));
            }
        }
    }
    seen
}

#[test]
fn listings_read_as_the_sled_store_reads_them() {
    with_store(|pg, _| {
        let (_dir, sled) = sled_store();
        submit_both(pg, &sled, (0..30).map(varied_claim));
        update_both(pg, &sled, varied_changes());
        let afters = [
            None,
            Some(ClaimId::from_bytes([0; 16])),
            Some(varied_claim(5).id),
            Some(varied_claim(17).id),
            Some(varied_claim(29).id),
            Some(ClaimId::from_bytes([0xff; 16])),
        ];
        // Pages of about three claims by their bytes, and of three by count.
        let mut limits = LIMITS.to_vec();
        limits.push(PageLimit {
            items: 100,
            bytes: 3 * record_size(0),
        });
        limits.push(PageLimit {
            items: 3,
            bytes: usize::MAX,
        });
        let ours = listings(|f, a, l| pg.list(f, a, l), &afters, &limits);
        let theirs = listings(|f, a, l| Store::list(&sled, f, a, l), &afters, &limits);
        for (ours, theirs) in ours.iter().zip(&theirs) {
            assert_eq!(ours, theirs);
        }
        assert_eq!(ours.len(), theirs.len());

        // The filters select what they say, and the pages cut where asked.
        let everything = PageLimit {
            items: usize::MAX,
            bytes: usize::MAX,
        };
        let all = pg
            .list(&ClaimFilter::default(), None, everything)
            .unwrap()
            .items;
        assert_eq!(all.len(), 30);
        for filter in filters() {
            let listed = pg.list(&filter, None, everything).unwrap();
            let expected: Vec<&Claim> = all.iter().filter(|c| filter.matches(c)).collect();
            assert_eq!(listed.items.iter().collect::<Vec<_>>(), expected);
            assert!(!listed.more);
        }
        for assignee in ["cy.chief", "jo.lee"] {
            let assigned = filter(None, None, None, Some(assignee));
            assert!(
                !pg.list(&assigned, None, everything)
                    .unwrap()
                    .items
                    .is_empty()
            );
        }
        let by_bytes = pg.list(&ClaimFilter::default(), None, limits[4]).unwrap();
        assert!(by_bytes.more);
        assert!((2..=4).contains(&by_bytes.items.len()), "{by_bytes:?}");
        let one_byte = pg
            .list(&ClaimFilter::default(), Some(all[3].id), LIMITS[2])
            .unwrap();
        assert_eq!(one_byte.items, vec![all[4].clone()]);
        assert!(one_byte.more);
    });
}

/// Checks that a listing by one filter, whose value a small share of the
/// claims has (one story, source or checker of many, a state few claims
/// are in), reads that filter's index in id order, planned for its values
/// as the store's listings are.
#[test]
fn a_listing_by_one_filter_reads_its_index_without_sorting() {
    with_store(|_, sql| {
        let cases = [
            (ClaimFilter::default(), "", "claims_pkey"),
            (
                filter(Some("story-1"), None, None, None),
                ", 'story-1'",
                "claims_by_story",
            ),
            (
                filter(None, Some(State::InReview), None, None),
                ", 'in_review'",
                "claims_by_state",
            ),
            (
                filter(None, None, Some("Source 7"), None),
                ", 'source 7'",
                "claims_by_source",
            ),
            (
                filter(None, None, None, Some("checker-7")),
                ", 'checker-7'",
                "claims_by_assignee",
            ),
        ];
        explain(sql, |client| async move {
            // What planning an unnamed statement for its values does.
            client
                .batch_execute("SET plan_cache_mode = force_custom_plan")
                .await
                .unwrap();
            for (n, (filter, value, index)) in cases.iter().enumerate() {
                client
                    .batch_execute(&format!("PREPARE list_{n} AS {}", list_statement(filter)))
                    .await
                    .unwrap();
                // The first page, and one from the middle of the ids.
                for after in ["\\x", "\\x00000000000000000000000000001388"] {
                    let execute = format!("EXECUTE list_{n}('{after}'::bytea, 11{value})");
                    plan_uses(&client, &execute, index).await;
                }
            }
        });
    });
}

/// Claims of 100 stories and 200 sources, 2% of them unverified, 0.3% in
/// review (leased), the others ruled, all but the unverified assigned to
/// one of 100 checkers, a fifth with a deadline: rows for the planner to
/// weigh its indexes by (their records are not read).
const PLANNED_CLAIMS: &str = "INSERT INTO claims (id, record, revision, story, state, \
     source_key, assignee, priority_rank, deadline, lease_expires_ns) \
     SELECT decode(lpad(to_hex(i), 32, '0'), 'hex'), '\\x00', i, 'story-' || i % 100, \
     CASE WHEN i % 100 < 2 THEN 'unverified' WHEN i % 1000 IN (2, 3, 4) THEN 'in_review' \
     ELSE (ARRAY['verified', 'disputed', 'inconclusive', 'withdrawn'])[1 + i % 4] END, \
     'source ' || i % 200, CASE WHEN i % 100 >= 2 THEN 'checker-' || i % 100 END, i % 3, \
     CASE WHEN i % 5 = 0 THEN decode(lpad(to_hex(i), 32, '0'), 'hex') END, \
     CASE WHEN i % 1000 IN (2, 3, 4) THEN i END \
     FROM generate_series(1, 10000) AS i; \
     ANALYZE claims";

/// Runs `body` with a connection to the test's schema, whose claims are
/// [`PLANNED_CLAIMS`], on which the planner avoids sequential scans (the
/// plans asked about are those of tables far larger).
fn explain<F, Fut>(sql: &Sql, body: F)
where
    F: FnOnce(tokio_postgres::Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&sql.url, NoTls)
            .await
            .expect("connected");
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "SET search_path = {}; {PLANNED_CLAIMS}; SET enable_seqscan = off",
                sql.schema
            ))
            .await
            .expect("set");
        body(client).await;
        let _ = connection.await;
    });
}

/// Every page of the contradictions of two stories (one has none) after each
/// of `afters`, under each of `limits`, from `conflicts`.
fn conflict_pages(
    conflicts: impl Fn(
        &Slug,
        Option<LinkId>,
        PageLimit,
    ) -> Result<Page<crate::storage::Conflict>, Error>,
    afters: &[Option<LinkId>],
    limits: &[PageLimit],
) -> Vec<String> {
    let mut seen = Vec::new();
    for story in ["troops", "story-0"] {
        let story = Slug::parse(story).unwrap();
        for &after in afters {
            for &limit in limits {
                seen.push(format!(
                    "{story:?} {after:?} {limit:?}: {:?}",
                    conflicts(&story, after, limit)
                ));
            }
        }
    }
    seen
}

#[test]
fn contradictions_read_as_the_sled_store_reads_them() {
    with_store(|pg, _| {
        let (_dir, sled) = sled_store();
        submit_both(pg, &sled, (0..12).map(figured_claim));
        submit_both(pg, &sled, (100..103).map(varied_claim));
        // A claim in review shows as it is now in the pages.
        update_both(
            pg,
            &sled,
            vec![(
                figured_claim(2).id,
                command(
                    || Command::StartReview {
                        lease: Duration::from_secs(60),
                    },
                    1,
                ),
            )],
        );
        let everything = PageLimit {
            items: usize::MAX,
            bytes: usize::MAX,
        };
        let troops = Slug::parse("troops").unwrap();
        let all = pg.conflicts(&troops, None, everything).unwrap();
        assert!(!all.more);
        assert!(all.items.len() >= 3, "{} contradictions", all.items.len());
        for conflict in &all.items {
            assert_eq!(conflict.link.end, End::Subject);
            assert!(conflict.link.is_open_contradiction());
            assert_eq!(conflict.link.other, conflict.object.id);
            assert_eq!(
                Some(&conflict.subject),
                pg.get(conflict.subject.id).unwrap().as_ref()
            );
        }
        let ids: Vec<LinkId> = all.items.iter().map(|c| c.link.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "oldest first");

        let mut afters: Vec<Option<LinkId>> = ids.iter().map(|&id| Some(id)).collect();
        afters.extend([
            None,
            Some(0),
            Some(ids[0] - 1),
            Some(i64::MAX as u64),
            Some(u64::MAX),
        ]);
        let mut limits = LIMITS.to_vec();
        limits.push(PageLimit {
            items: 100,
            bytes: 3 * ClaimRecord::from(&all.items[0].subject).encode().len(),
        });
        let ours = conflict_pages(|s, a, l| pg.conflicts(s, a, l), &afters, &limits);
        let theirs = conflict_pages(|s, a, l| Store::conflicts(&sled, s, a, l), &afters, &limits);
        for (ours, theirs) in ours.iter().zip(&theirs) {
            assert_eq!(ours, theirs);
        }
        assert_eq!(ours.len(), theirs.len());

        // Paging one at a time walks them all.
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = pg.conflicts(&troops, after, LIMITS[0]).unwrap();
            walked.extend(page.items.iter().map(|c| c.link.id));
            after = walked.last().copied();
            if !page.more {
                break;
            }
        }
        assert_eq!(walked, ids);
    });
}

/// Changes beyond [`varied_changes`] that put claims with deadlines in
/// review, rule on one and withdraw another.
fn deadline_changes() -> Vec<(ClaimId, crate::storage::Change)> {
    let review = || Command::StartReview {
        lease: Duration::from_secs(600),
    };
    vec![
        (varied_claim(14).id, command(review, 30)),
        (varied_claim(21).id, command(review, 31)),
        (varied_claim(0).id, command(review, 32)),
        (
            varied_claim(21).id,
            command(
                || Command::MarkInconclusive {
                    note: note("no records"),
                },
                33,
            ),
        ),
        (
            varied_claim(28).id,
            command(
                || Command::Withdraw {
                    reason: note("retracted"),
                },
                34,
            ),
        ),
    ]
}

#[test]
fn queue_counts_read_as_the_sled_store_counts_them() {
    with_store(|pg, _| {
        let (_dir, sled) = sled_store();
        submit_both(pg, &sled, (0..30).map(varied_claim));
        update_both(pg, &sled, varied_changes());
        update_both(pg, &sled, deadline_changes());
        // The deadlines are at 3600 - n seconds for every n divisible by
        // 7: before, between and at them, and long after.
        let secs = [0, 3571, 3572, 3580, 3593, 3600, 3601, 1_000_000];
        for story in [
            None,
            Some("story-0"),
            Some("story-1"),
            Some("story-2"),
            Some("story-9"),
        ] {
            for &s in &secs {
                let now = start() + Duration::from_secs(s);
                let ours = pg.queue_stats(story, now).unwrap();
                let theirs = Store::queue_stats(&sled, story, now).unwrap();
                assert_eq!(ours, theirs, "{story:?} at {s}");
            }
        }

        // The counts are those of the claims as they are.
        let all: Vec<Claim> = (0..30)
            .map(|n| pg.get(varied_claim(n).id).unwrap().unwrap())
            .collect();
        let late = start() + Duration::from_secs(1_000_000);
        let counts = pg.queue_stats(None, late).unwrap();
        let open = |c: &&Claim| matches!(c.state, State::Unverified | State::InReview);
        let overdue = all
            .iter()
            .filter(open)
            .filter(|c| c.deadline.is_some())
            .count();
        assert_eq!(counts.overdue, overdue as u64);
        assert!(
            all.iter()
                .any(|c| c.state == State::InReview && c.deadline.is_some()),
            "a claim in review is overdue"
        );
        for (state, count) in &counts.states {
            assert_eq!(
                *count,
                all.iter().filter(|c| c.state == *state).count() as u64,
                "{state:?}"
            );
        }
        let waiting: Vec<&Claim> = all
            .iter()
            .filter(|c| c.state == State::Unverified)
            .collect();
        assert_eq!(
            counts.waiting.iter().map(|(_, n)| n).sum::<u64>(),
            waiting.len() as u64
        );
        assert_eq!(counts.oldest_waiting, Some(waiting[0].create_time));
        assert_ne!(waiting[0].id, all[0].id, "claim 0 is in review");
        let at_start = pg.queue_stats(Some("story-0"), start()).unwrap();
        assert_eq!(at_start.overdue, 0);
    });
}

/// The counts are read in one snapshot: while changes move claims between
/// states, every answer's counts add up.
#[test]
fn queue_counts_agree_with_each_other_while_claims_change() {
    const CLAIMS: u16 = 8;
    const ROUNDS: u64 = 30;
    with_store(|pg, _| {
        for n in 0..CLAIMS {
            pg.submit(varied_claim(n), None).unwrap();
        }
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for round in 0..ROUNDS {
                    for n in 0..CLAIMS {
                        let id = varied_claim(n).id;
                        let review = || Command::StartReview {
                            lease: Duration::from_secs(60),
                        };
                        pg.update(id, command(review, round)).unwrap();
                        pg.update(id, command(|| Command::Release { note: note("") }, round))
                            .unwrap();
                    }
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
                let counts = pg.queue_stats(None, start()).unwrap();
                let states: u64 = counts.states.iter().map(|(_, n)| n).sum();
                assert_eq!(states, u64::from(CLAIMS), "{counts:?}");
                let unverified = counts.states[0].1;
                assert_eq!(counts.states[0].0, State::Unverified);
                let waiting: u64 = counts.waiting.iter().map(|(_, n)| n).sum();
                assert_eq!(waiting, unverified, "{counts:?}");
                reads += 1;
            }
        });
    });
}

#[test]
fn leases_read_as_the_sled_store_reads_them() {
    with_store(|pg, _| {
        let (_dir, sled) = sled_store();
        submit_both(pg, &sled, (0..10).map(varied_claim));
        assert_eq!(pg.next_lease_expiry().unwrap(), None);
        assert_eq!(
            pg.leases_due(start() + Duration::from_secs(1 << 40), 10)
                .unwrap(),
            vec![]
        );
        let review = |secs: u64| {
            move || Command::StartReview {
                lease: Duration::from_secs(secs),
            }
        };
        // Claims 3 and 6 expire at the same moment: by id, then.
        update_both(
            pg,
            &sled,
            vec![
                (varied_claim(6).id, command(review(600), 0)),
                (varied_claim(2).id, command(review(60), 1)),
                (varied_claim(3).id, command(review(600), 0)),
                (varied_claim(8).id, command(review(3600), 2)),
                (varied_claim(9).id, command(review(30), 3)),
                (
                    varied_claim(9).id,
                    command(|| Command::Release { note: note("") }, 4),
                ),
            ],
        );
        let expiry = |secs: u64| start() + Duration::from_secs(3600 + secs);
        let nows = [
            start(),
            expiry(61) - Duration::from_nanos(1),
            expiry(61),
            expiry(600),
            expiry(3602),
            start() + Duration::from_secs(1 << 40),
        ];
        for now in nows {
            for limit in [0, 1, 2, 3, 10] {
                assert_eq!(
                    pg.leases_due(now, limit).unwrap(),
                    Store::leases_due(&sled, now, limit).unwrap(),
                    "{now:?} {limit}"
                );
            }
        }
        assert_eq!(
            pg.leases_due(expiry(600), 10).unwrap(),
            [2, 3, 6].map(|n| varied_claim(n).id)
        );
        assert_eq!(
            pg.leases_due(expiry(61) - Duration::from_nanos(1), 10)
                .unwrap(),
            vec![]
        );
        assert_eq!(pg.next_lease_expiry().unwrap(), Some(expiry(61)));
        assert_eq!(
            pg.next_lease_expiry().unwrap(),
            Store::next_lease_expiry(&sled).unwrap()
        );
        // The first lease given back, the next one comes first.
        update_both(
            pg,
            &sled,
            vec![(
                varied_claim(2).id,
                command(|| Command::Release { note: note("") }, 5),
            )],
        );
        assert_eq!(pg.next_lease_expiry().unwrap(), Some(expiry(600)));
        assert_eq!(
            pg.next_lease_expiry().unwrap(),
            Store::next_lease_expiry(&sled).unwrap()
        );
    });
}

/// Every claim, the whole history and the counts of `store`, for
/// comparing stores.
fn contents(store: &dyn Store, ids: &[ClaimId]) -> Vec<String> {
    let mut seen: Vec<String> = ids
        .iter()
        .map(|&id| format!("{:?}", store.get(id)))
        .collect();
    seen.push(format!("{:?}", store.events_since(0, u64::MAX, usize::MAX)));
    seen.push(format!("{:?}", store.queue_stats(None, start())));
    seen
}

/// [`contents`] of a [`PgStore`], which does not implement [`Store`] yet.
fn pg_contents(pg: &PgStore, ids: &[ClaimId]) -> Vec<String> {
    let mut seen: Vec<String> = ids.iter().map(|&id| format!("{:?}", pg.get(id))).collect();
    seen.push(format!("{:?}", pg.events_since(0, u64::MAX, usize::MAX)));
    seen.push(format!("{:?}", pg.queue_stats(None, start())));
    seen
}

#[test]
fn importing_stores_what_submitting_one_by_one_stores() {
    const CLAIMS: u16 = 150;
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        let claims: Vec<Claim> = (0..CLAIMS).map(varied_claim).collect();
        let ids: Vec<ClaimId> = claims.iter().map(|c| c.id).collect();
        pg.import(claims.clone()).unwrap();
        for claim in &claims {
            Store::submit(&sled, claim.clone(), None).unwrap();
        }
        assert_eq!(pg_contents(pg, &ids), contents(&sled, &ids));
        assert_eq!(
            pg.audit().unwrap(),
            AuditReport::Intact {
                events: u64::from(CLAIMS)
            }
        );
        // Its rows are those submissions write.
        let rows = index_rows(sql);
        with_store(|submitted, submitted_sql| {
            for claim in &claims {
                submitted.submit(claim.clone(), None).unwrap();
            }
            assert_eq!(index_rows(submitted_sql), rows);
        });
        assert_eq!(
            sql.rows("SELECT count(*)::text FROM claim_wordings"),
            vec![vec![Some(CLAIMS.to_string())]],
        );
    });
}

#[test]
fn an_import_links_nothing_as_in_the_sled_store() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        let claims: Vec<Claim> = (0..12).map(figured_claim).collect();
        let ids: Vec<ClaimId> = claims.iter().map(|c| c.id).collect();
        pg.import(claims.clone()).unwrap();
        Store::import(&sled, claims).unwrap();
        assert_eq!(pg_contents(pg, &ids), contents(&sled, &ids));
        for &id in &ids {
            assert!(pg.get(id).unwrap().unwrap().links.is_empty());
        }
        assert_eq!(
            sql.rows("SELECT count(*)::text FROM open_contradictions"),
            vec![vec![Some("0".into())]]
        );
        // A claim submitted afterwards is compared with the imported ones.
        let Ok(crate::storage::Submitted::Created(linked)) = pg.submit(figured_claim(12), None)
        else {
            panic!("a new claim");
        };
        assert!(!linked.links.is_empty());
    });
}

#[test]
fn importing_a_stored_id_fails_and_keeps_the_transactions_before() {
    with_store(|pg, sql| {
        let (_dir, sled) = sled_store();
        let stored = varied_claim(500);
        submit_both(pg, &sled, [stored.clone()]);
        // Claims 0 to 127 fill two transactions; the third holds the
        // stored id.
        let mut claims: Vec<Claim> = (0..200).map(varied_claim).collect();
        claims[130] = stored.clone();
        let ids: Vec<ClaimId> = (0..200).map(|n| varied_claim(n).id).collect();
        let ours = pg.import(claims.clone());
        let theirs = Store::import(&sled, claims);
        assert!(
            matches!(&ours, Err(Error::Internal(m)) if m.contains(&stored.id.to_string())),
            "{ours:?}"
        );
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        assert_eq!(pg_contents(pg, &ids), contents(&sled, &ids));
        for (n, &id) in ids.iter().enumerate() {
            assert_eq!(pg.get(id).unwrap().is_some(), n < 128, "claim {n}");
        }
        assert_eq!(pg.audit().unwrap(), AuditReport::Intact { events: 129 });
        assert_eq!(
            sql.rows("SELECT last_revision::text FROM chain_head"),
            vec![vec![Some("129".into())]]
        );
    });
}

#[test]
fn importing_an_id_twice_fails_and_writes_nothing_of_its_transaction() {
    with_store(|pg, sql| {
        let claims = vec![varied_claim(1), varied_claim(2), varied_claim(1)];
        let result = pg.import(claims);
        assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
        assert_eq!(pg.get(varied_claim(1).id).unwrap(), None);
        assert_eq!(pg.get(varied_claim(2).id).unwrap(), None);
        assert_eq!(
            sql.rows(
                "SELECT last_revision::text, (SELECT count(*) FROM events)::text FROM chain_head"
            ),
            vec![vec![Some("0".into()), Some("0".into())]]
        );
    });
}

#[test]
fn the_size_grows_with_an_import_and_counts_only_the_stores_schema() {
    with_store(|pg, _| {
        let empty = pg.size_on_disk().unwrap();
        // Every table and index has its first pages.
        assert!(empty > 0);
        pg.import((0..300).map(varied_claim).collect()).unwrap();
        let filled = pg.size_on_disk().unwrap();
        assert!(filled > empty, "{empty} then {filled}");
        // Another store of the same database grows apart. (Its own size
        // may still change a little: autovacuum may add the free space and
        // visibility maps of the counters' tables.)
        let grown = std::cell::Cell::new(0);
        with_store(|other, _| {
            other.import((0..300).map(varied_claim).collect()).unwrap();
            grown.set(other.size_on_disk().unwrap() - empty);
        });
        assert!(grown.get() > 0);
        let after = pg.size_on_disk().unwrap();
        assert!(
            after.abs_diff(filled) < grown.get() / 2,
            "{filled} then {after}, while the other grew by {}",
            grown.get()
        );
    });
}

/// The statements of the queue's counts read the partial indexes: the
/// oldest waiting claim is the first of an index range, and the overdue
/// count reads only the deadlines before now.
#[test]
fn queue_counts_read_the_waiting_and_deadline_indexes() {
    with_store(|_, sql| {
        explain(sql, |client| async move {
            for (query, index) in [
                (super::OLDEST_WAITING.to_owned(), "claims_by_state"),
                (
                    super::OLDEST_WAITING_OF_STORY.replace("$1", "'story-1'"),
                    "claims_story_waiting",
                ),
                (
                    super::OVERDUE.replace("$1", "'\\x01'::bytea"),
                    "claims_deadlines",
                ),
                (
                    super::OVERDUE_OF_STORY
                        .replace("$1", "'story-1'")
                        .replace("$2", "'\\x01'::bytea"),
                    "claims_story_deadlines",
                ),
                (
                    super::LEASES_DUE.replace("$1", "5").replace("$2", "10"),
                    "claims_leases",
                ),
                (
                    super::CONFLICTS
                        .replace("$1", "'story-1'")
                        .replace("$2", "3")
                        .replace("$3", "10"),
                    "open_contradictions_by_story",
                ),
            ] {
                plan_uses(&client, &query, index).await;
            }
        });
    });
}
