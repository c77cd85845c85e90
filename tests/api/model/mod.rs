//! The workflow checked against a model: random runs of operations by
//! random people (submit, take, review, release, reassign, evidence of
//! every stance and source, rulings, reopening, withdrawal, leases renewed
//! and run out on a paused clock, stale etags, retried request ids, links)
//! go to the real desk and to a reference model written from the README
//! (`reference.rs`, which shares no rule with `src/domain`). After every
//! step both must agree on the answer (code and `ErrorInfo` reason), on
//! every claim (state, assignee, label, evidence, lease, links and whether
//! its etag changed: a new one never repeats an old one) and on the counts
//! of each state; at the end of the run, on every claim's history (the
//! type and actor of each event), with revisions gap-free across claims.
//!
//! The gate is applied by the harness: each operation is checked against
//! the served policy table, and against the model's own table of least
//! roles, before it can reach the desk.
//!
//! 128 runs of up to 43 operations by default (a few seconds);
//! `PROPTEST_CASES=5000 cargo test --locked --test api model` for a long
//! run. Failures found are kept in `tests/api/model/regressions.txt` and
//! tried first on every run.

use std::time::Duration;

use claimdesk::domain;
use proptest::{
    prelude::*,
    test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner},
};

mod harness;
mod ops;
mod reference;

use harness::{Answered, Harness, code_and_reason};
use ops::Op;
use reference::{Answer, LinkStatus, Model, State};

/// Runs by default: within CI's time on two cores.
const DEFAULT_CASES: u32 = 128;
/// The most operations of a run after its first submissions.
const MAX_OPS: usize = 40;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/api/model/regressions.txt",
        ))),
        ..Config::default()
    }
}

#[test]
fn the_desk_agrees_with_the_model_of_the_readme_after_every_step() {
    let mut runner = TestRunner::new(config());
    let result = runner.run(&ops::run(MAX_OPS), |run| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime")
            .block_on(check(run))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Runs `ops` on a fresh desk and on the model, comparing after each step.
async fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut desk = Harness::start().await;
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let expected = model.step(op);
        let answered = desk.run(op).await;
        let context = || format!("step {step}: {op:?}");
        // The claim answered, and its etag: it must be the claim as it is
        // once the step is over.
        let mut answered_etag = None;
        match (&expected, answered) {
            (Err((code, reason)), Err(status)) => {
                let (got_code, got_reason) = code_and_reason(&status);
                prop_assert_eq!(
                    (*code, *reason),
                    (got_code, got_reason.as_str()),
                    "{}: {}",
                    context(),
                    status.message()
                );
            }
            (Err(refusal), Ok(answered)) => {
                return Err(TestCaseError::fail(format!(
                    "{}: the model refuses with {refusal:?}, the desk answered {}",
                    context(),
                    desk.describe(&answered)
                )));
            }
            (Ok(answer), Err(status)) => {
                return Err(TestCaseError::fail(format!(
                    "{}: the model answers {answer:?}, the desk refused with {:?}: {}",
                    context(),
                    code_and_reason(&status),
                    status.message()
                )));
            }
            (Ok(answer), Ok(answered)) => {
                match (answer, answered) {
                    (Answer::Claim(c), Answered::Claim(claim)) => {
                        if *c == desk.claims.len() {
                            // A new claim: the run learns its id and etag.
                            desk.claims.push(harness::Seen {
                                id: claim.id,
                                etags: vec![claim.etag()],
                            });
                        }
                        prop_assert_eq!(
                            desk.place(claim.id),
                            Some(*c),
                            "{}: the desk answered another claim",
                            context()
                        );
                        answered_etag = Some((*c, claim.etag()));
                    }
                    (Answer::Expired(n), Answered::Expired(m)) => {
                        prop_assert_eq!(*n, m, "{}: leases expired", context());
                    }
                    (Answer::Nothing, Answered::Nothing) => {}
                    (answer, answered) => {
                        return Err(TestCaseError::fail(format!(
                            "{}: the model answers {answer:?}, the desk {}",
                            context(),
                            desk.describe(&answered)
                        )));
                    }
                }
            }
        }
        compare_claims(&mut desk, &model, &context()).await?;
        if let Some((c, etag)) = answered_etag {
            prop_assert_eq!(
                Some(&etag),
                desk.claims[c].etags.last(),
                "{}: the claim answered is not the claim as it is now",
                context()
            );
        }
        let counts = desk.desk.queue_stats(None).await.expect("queue stats");
        let states: Vec<State> = counts.states.iter().map(|(s, _)| model_state(*s)).collect();
        let counted: Vec<u64> = counts.states.iter().map(|(_, n)| *n).collect();
        prop_assert_eq!(
            counted,
            model.state_counts(&states),
            "{}: queue stats of {:?}",
            context(),
            states
        );
    }
    compare_histories(&desk, &model).await
}

/// The history of every claim against the model's, once the run is over:
/// the type and actor of each event, and revisions numbered from 1 without
/// a gap across all claims.
async fn compare_histories(desk: &Harness, model: &Model) -> Result<(), TestCaseError> {
    let mut revisions = Vec::new();
    for (c, expected) in model.claims.iter().enumerate() {
        let events = desk
            .desk
            .events(desk.claims[c].id, 0, 1000)
            .await
            .expect("the history")
            .items;
        revisions.extend(events.iter().map(|e| e.revision));
        let history: Vec<(String, String)> = events
            .into_iter()
            .map(|e| {
                let event = claimdesk::grpc::convert::event_to_pb(e);
                (event.r#type().as_str_name().to_owned(), event.actor)
            })
            .collect();
        let expected: Vec<(String, String)> = expected
            .history
            .iter()
            .map(|(t, a)| ((*t).to_owned(), (*a).to_owned()))
            .collect();
        prop_assert_eq!(history, expected, "the history of claim {}", c);
    }
    revisions.sort_unstable();
    let gap_free: Vec<u64> = (1..=revisions.len() as u64).collect();
    prop_assert_eq!(revisions, gap_free, "revisions across all claims");
    Ok(())
}

/// Every claim of the run as the desk has it against the model's.
async fn compare_claims(
    desk: &mut Harness,
    model: &Model,
    context: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(desk.claims.len(), model.claims.len(), "{}: claims", context);
    for (c, expected) in model.claims.iter().enumerate() {
        let claim = desk.read(c).await;
        let what = format!("{context}: claim {c}");
        prop_assert_eq!(model_state(claim.state), expected.state, "{}: state", what);
        prop_assert_eq!(
            claim.assignee.as_ref().map(|a| a.as_str()),
            expected.assignee,
            "{}: assignee",
            what
        );
        prop_assert_eq!(claim.label(), expected.label(), "{}: label", what);
        prop_assert_eq!(
            claim.evidence.len(),
            expected.evidence.len(),
            "{}: evidence",
            what
        );
        let lease = claim.lease.map(|l| {
            l.expires
                .duration_since(desk.start)
                .unwrap_or(Duration::ZERO)
        });
        prop_assert_eq!(lease, expected.lease_expires, "{}: lease", what);
        // Which end is the subject matters only for the directed relations.
        let links: Vec<_> = claim
            .links
            .iter()
            .map(|l| {
                let relation = ops_relation(l.relation);
                let directed = relation.is_directed();
                let status = match l.status {
                    domain::LinkStatus::Suggested => LinkStatus::Suggested,
                    domain::LinkStatus::Confirmed => LinkStatus::Confirmed,
                    domain::LinkStatus::Rejected => LinkStatus::Rejected,
                };
                let subject = directed && l.end == domain::End::Subject;
                (desk.place(l.other), relation, status, subject)
            })
            .collect();
        let expected_links: Vec<_> = expected
            .links
            .iter()
            .map(|l| {
                let subject = l.relation.is_directed() && l.subject;
                (Some(l.other), l.relation, l.status, subject)
            })
            .collect();
        prop_assert_eq!(links, expected_links, "{}: links", what);
        // The etag changes exactly when the model says the claim changed,
        // and never to one the claim had before.
        let etag = claim.etag();
        let seen = &mut desk.claims[c];
        let versions = seen.etags.len() - 1;
        if expected.version == versions {
            prop_assert_eq!(
                &etag,
                seen.etags.last().expect("an etag"),
                "{}: the etag changed",
                what
            );
        } else {
            prop_assert_eq!(
                expected.version,
                versions + 1,
                "{}: the claim changed more than once in one step",
                what
            );
            prop_assert!(
                !seen.etags.contains(&etag),
                "{}: etag {} again (had {:?})",
                what,
                etag,
                seen.etags
            );
            seen.etags.push(etag);
        }
    }
    Ok(())
}

fn ops_relation(r: domain::Relation) -> ops::Relation {
    match r {
        domain::Relation::Contradicts => ops::Relation::Contradicts,
        domain::Relation::Corroborates => ops::Relation::Corroborates,
        domain::Relation::Duplicates => ops::Relation::Duplicates,
        domain::Relation::Supersedes => ops::Relation::Supersedes,
    }
}

fn model_state(s: domain::State) -> State {
    match s {
        domain::State::Unverified => State::Unverified,
        domain::State::InReview => State::InReview,
        domain::State::Verified => State::Verified,
        domain::State::Disputed => State::Disputed,
        domain::State::Inconclusive => State::Inconclusive,
        domain::State::Withdrawn => State::Withdrawn,
    }
}
