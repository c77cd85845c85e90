//! Lease expiry at the desk, with tokio's clock paused (no sleeping). These
//! tests drive the `Desk` directly, without gRPC.

use super::*;

/// A desk over a fresh store with the default 15-minute lease. Fields drop
/// in order: the desk (and its store) before the directory.
struct PausedDesk {
    desk: Desk,
    _dir: TempDir,
}

async fn paused_desk() -> PausedDesk {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let store = open_sled_store(dir.path()).await;
    let desk = Desk::new(Arc::new(store), DeskConfig { lease: LEASE });
    PausedDesk { desk, _dir: dir }
}

fn user(name: &str) -> UserName {
    UserName::parse(name).expect("a valid user name")
}

/// `name` acting as a checker.
fn checker(name: &UserName) -> Actor {
    Actor::new(name.clone(), Role::Checker)
}

/// A claim about a fictional dam, built with the domain's parse functions.
fn dam_claim(statement: &str) -> domain::NewClaim {
    domain::NewClaim {
        statement: Statement::parse(statement).expect("a valid statement"),
        attribution: domain::Attribution {
            source: SourceName::parse("Valley Courier").expect("a valid source"),
            relayed_from: Vec::new(),
            url: None,
        },
        story: Slug::parse("valley-dam").expect("a valid slug"),
        tags: vec![Slug::parse("water").expect("a valid slug")],
        priority: domain::Priority::Urgent,
        deadline: None,
    }
}

fn verify_command() -> Command {
    Command::Verify {
        note: Note::parse("the water board's gauge agrees").expect("a valid note"),
        acknowledge_contradictions: false,
    }
}

fn supporting_evidence(desk: &Desk) -> Command {
    Command::AddEvidence {
        id: desk.new_evidence_id(),
        evidence: domain::NewEvidence {
            url: None,
            summary: Note::parse("Gauge readings for the week").expect("a valid note"),
            source: SourceName::parse("Regional Water Board").expect("a valid source"),
            stance: domain::Stance::Supports,
        },
    }
}

/// `text` submitted as a claim about the dam by an editor.
async fn submit_dam(desk: &Desk, text: &str) -> domain::Claim {
    desk.submit(dam_claim(text), user("editor-ines"), None)
        .await
        .expect("the claim is submitted")
}

/// The next claim of the queue, taken by `name` as a checker.
async fn take_as(desk: &Desk, name: &UserName) -> domain::Claim {
    desk.take_next(QueueQuery::default(), checker(name))
        .await
        .expect("the claim is taken")
}

/// `command` on claim `id` by `name` as a checker, without an etag.
async fn act(
    desk: &Desk,
    id: ClaimId,
    command: Command,
    name: &UserName,
) -> Result<domain::Claim, Error> {
    desk.change(id, command, checker(name), String::new()).await
}

/// The first hundred events of claim `id`.
async fn history_of(desk: &Desk, id: ClaimId) -> Vec<domain::Event> {
    desk.events(id, 0, 100).await.expect("the history").items
}

/// Checks that claim `id` waits in the queue again, unassigned and unleased.
async fn assert_back_in_queue(desk: &Desk, id: ClaimId) {
    let back = desk.get(id).await.expect("the claim exists");
    assert_eq!(
        (back.state, back.assignee, back.lease),
        (domain::State::Unverified, None, None)
    );
}

/// A paused desk on which `statement`, submitted as a claim about the dam,
/// was taken from the queue by checker-kofi: the desk, kofi and the claim as
/// taken.
async fn taken_by_kofi(statement: &str) -> (PausedDesk, UserName, domain::Claim) {
    let fixture = paused_desk().await;
    let kofi = user("checker-kofi");
    let submitted = submit_dam(&fixture.desk, statement).await;
    let taken = take_as(&fixture.desk, &kofi).await;
    assert_eq!(taken.id, submitted.id, "the claim submitted is taken");
    (fixture, kofi, taken)
}

/// Returns every claim whose lease ran out to the queue: how many.
async fn expire(desk: &Desk) -> usize {
    desk.expire_due_leases().await.expect("expiry runs")
}

/// Claim `id` as stored.
async fn stored(desk: &Desk, id: ClaimId) -> domain::Claim {
    desk.get(id).await.expect("the claim exists")
}

/// Tells the desk to shut down and waits for its lease `sweeper` to end.
async fn stop_sweeper(desk: &Desk, sweeper: tokio::task::JoinHandle<()>) {
    desk.begin_shutdown();
    sweeper.await.expect("the sweeper ends without panicking");
}

/// Checks that `expired` happened within a second after `expires`, when the
/// lease (`lease` names it) ran out.
#[track_caller]
fn assert_expired_when_due(expired: &domain::Event, expires: SystemTime, lease: &str) {
    assert!(
        expires <= expired.time && expired.time < expires + Duration::from_secs(1),
        "expired at {:?}, {lease} ran out at {expires:?}",
        expired.time
    );
}

#[track_caller]
fn expect_lease_expired(result: Result<domain::Claim, Error>, holder: &str) {
    match result {
        Err(Error::Rule(DomainError::LeaseExpired { holder: h })) if h.as_str() == holder => {}
        other => panic!("expected LeaseExpired for {holder}, got {other:?}"),
    }
}

#[track_caller]
fn count(counts: &QueueCounts, state: domain::State) -> u64 {
    let matching: Vec<_> = counts.states.iter().filter(|(s, _)| *s == state).collect();
    assert_eq!(matching.len(), 1, "{state:?} is counted once in {counts:?}");
    matching[0].1
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_ran_out_stops_its_holder_and_expiring_it_returns_the_claim_to_the_queue() {
    let (fixture, kofi, taken) =
        taken_by_kofi("The spillway gates opened twice in one night").await;
    let desk = &fixture.desk;
    let lease = taken.lease.expect("a taken claim is leased");
    assert_eq!(lease.expires, taken.update_time + LEASE);
    // Enough evidence that only the lease can stop a ruling.
    let ready = act(desk, taken.id, supporting_evidence(desk), &kofi)
        .await
        .expect("the holder adds evidence");

    tokio::time::advance(16 * MINUTE).await;

    // Refused at once, before anything has returned the claim to the queue.
    expect_lease_expired(
        act(desk, taken.id, verify_command(), &kofi).await,
        "checker-kofi",
    );
    assert_eq!(
        stored(desk, taken.id).await,
        ready,
        "the refused ruling changed nothing, and nothing expired the lease yet"
    );

    assert_eq!(expire(desk).await, 1);
    let back = stored(desk, taken.id).await;
    assert_eq!(back.state, domain::State::Unverified);
    assert_eq!(back.assignee, None);
    assert_eq!(back.lease, None);
    assert_eq!(
        back.update_time,
        ready.update_time + 16 * MINUTE,
        "expired at the desk's now"
    );
    let history = history_of(desk, taken.id).await;
    let last = history.last().expect("a history");
    assert_eq!(last.action, domain::Action::ExpireLease);
    assert_eq!(last.actor.as_str(), "system");
    assert_eq!(last.from, Some(domain::State::InReview));
    assert_eq!(last.to, domain::State::Unverified);
    assert_eq!(last.time, back.update_time);
    assert_eq!(
        history.len(),
        4,
        "submit, take, evidence, expiry: {history:?}"
    );
    assert_eq!(expire(desk).await, 0, "nothing is left to expire");

    let counts = desk.queue_stats(None).await.expect("queue stats");
    assert_eq!(count(&counts, domain::State::Unverified), 1);
    assert_eq!(count(&counts, domain::State::InReview), 0);

    // The old holder is told why, whatever they try.
    expect_lease_expired(
        act(desk, taken.id, verify_command(), &kofi).await,
        "checker-kofi",
    );
    expect_lease_expired(
        act(desk, taken.id, Command::RenewLease, &kofi).await,
        "checker-kofi",
    );

    // Another checker takes it again, and may rule on it.
    let lena = user("checker-lena");
    let retaken = desk
        .take_next(QueueQuery::default(), checker(&lena))
        .await
        .expect("the claim waits again");
    assert_eq!(retaken.id, taken.id);
    assert_eq!(retaken.assignee, Some(lena.clone()));
    assert_eq!(
        retaken.lease.map(|l| l.expires),
        Some(back.update_time + LEASE),
        "a fresh lease from now"
    );
    expect_lease_expired(
        act(desk, taken.id, verify_command(), &kofi).await,
        "checker-kofi",
    );
    let verified = act(desk, taken.id, verify_command(), &lena)
        .await
        .expect("the new holder rules");
    assert_eq!(verified.state, domain::State::Verified);
}

#[tokio::test(start_paused = true)]
async fn a_lease_has_not_run_out_after_fourteen_minutes() {
    let (fixture, kofi, taken) = taken_by_kofi("The reservoir rose a metre in a day").await;
    let desk = &fixture.desk;

    tokio::time::advance(14 * MINUTE).await;

    assert_eq!(expire(desk).await, 0);
    assert_eq!(stored(desk, taken.id).await, taken);
    let counts = desk.queue_stats(None).await.expect("queue stats");
    assert_eq!(count(&counts, domain::State::InReview), 1);
    // The holder still holds it: acting works, and renews.
    let renewed = act(desk, taken.id, Command::RenewLease, &kofi)
        .await
        .expect("the holder still holds the lease");
    assert_eq!(
        renewed.lease.map(|l| l.expires),
        Some(taken.update_time + 29 * MINUTE)
    );
}

#[tokio::test(start_paused = true)]
async fn a_renewal_at_minute_ten_moves_the_expiry_to_minute_twenty_five() {
    let (fixture, kofi, taken) = taken_by_kofi("Cracks appeared in the north wall").await;
    let desk = &fixture.desk;
    let start = taken.update_time;

    tokio::time::advance(10 * MINUTE).await;
    let renewed = act(desk, taken.id, Command::RenewLease, &kofi)
        .await
        .expect("the holder renews");
    assert_eq!(renewed.update_time, start + 10 * MINUTE);
    assert_eq!(renewed.lease.map(|l| l.expires), Some(start + 25 * MINUTE));
    let history = history_of(desk, taken.id).await;
    let last = history.last().expect("a history");
    assert_eq!(last.action, domain::Action::RenewLease);
    assert_eq!(last.actor, kofi);
    assert_eq!(
        (last.from, last.to),
        (Some(domain::State::InReview), domain::State::InReview)
    );

    // Past the first expiry (minute 15), not yet the second.
    tokio::time::advance(6 * MINUTE).await;
    assert_eq!(expire(desk).await, 0, "minute 16");
    tokio::time::advance(8 * MINUTE).await;
    assert_eq!(expire(desk).await, 0, "minute 24");
    assert_eq!(stored(desk, taken.id).await, renewed);

    tokio::time::advance(MINUTE).await;
    assert_eq!(expire(desk).await, 1, "minute 25");
    assert_back_in_queue(desk, taken.id).await;
}

#[tokio::test(start_paused = true)]
async fn acting_on_a_lease_that_ran_out_does_not_revive_it() {
    let (fixture, kofi, taken) = taken_by_kofi("The dam keeper left his post").await;
    let desk = &fixture.desk;
    let expired_at = taken.lease.expect("a lease").expires;

    tokio::time::advance(16 * MINUTE).await;

    // The old holder's evidence is refused, or at least does not extend a
    // lease that has run out.
    match act(desk, taken.id, supporting_evidence(desk), &kofi).await {
        Err(Error::Rule(DomainError::LeaseExpired { .. })) => {}
        Ok(claim) => assert_eq!(
            claim.lease.map(|l| l.expires),
            Some(expired_at),
            "evidence from the holder of a lease that ran out renewed it"
        ),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
    // Someone else's evidence is welcome, and renews nothing either.
    let by_other = act(
        desk,
        taken.id,
        supporting_evidence(desk),
        &user("checker-lena"),
    )
    .await
    .expect("anyone may add evidence");
    assert_eq!(by_other.lease.map(|l| l.expires), Some(expired_at));

    assert_eq!(expire(desk).await, 1);
    assert_back_in_queue(desk, taken.id).await;
}

/// The real store, counting the sweeper's passes (each begins by looking
/// for due leases) and failing every update while `fail_updates` is on.
struct SweptStore {
    fail_updates: AtomicBool,
    passes: AtomicUsize,
    pass_started: Notify,
}

impl SweptStore {
    async fn open(dir: &std::path::Path) -> Arc<Intercepted<Self>> {
        Arc::new(Intercepted {
            inner: open_sled_store(dir).await,
            hooks: Self {
                fail_updates: AtomicBool::new(false),
                passes: AtomicUsize::new(0),
                pass_started: Notify::new(),
            },
        })
    }

    /// Waits until the sweeper has begun `n` passes in all.
    async fn wait_for_passes(&self, n: usize) {
        while self.passes.load(Ordering::SeqCst) < n {
            self.pass_started.notified().await;
        }
    }
}

impl Intercept for SweptStore {
    fn before(&self, call: Call) -> Result<(), Error> {
        match call {
            Call::Update(_) if self.fail_updates.load(Ordering::SeqCst) => Err(Error::Storage(
                StorageError::new("injected", "the disk is read-only"),
            )),
            Call::LeasesDue => {
                self.passes.fetch_add(1, Ordering::SeqCst);
                self.pass_started.notify_one();
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The next event of `events` (a desk watcher); under paused time the
/// runtime moves the clock on to the sweeper's next wake-up while waiting.
async fn next_desk_event(events: &mut claimdesk::desk::EventStream) -> domain::Event {
    events
        .recv()
        .await
        .expect("the watch goes on")
        .expect("the watch does not fail")
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_returns_a_claim_to_the_queue_as_soon_as_its_lease_runs_out() {
    let fixture = paused_desk().await;
    let desk = &fixture.desk;
    let submitted = submit_dam(desk, "The turbines stopped at dawn").await;
    let mut events = desk
        .watch(0, EventFilter::default())
        .expect("revision 0 is never ahead");
    assert_eq!(
        next_desk_event(&mut events).await.action,
        domain::Action::Submit
    );
    let taken = take_as(desk, &user("checker-kofi")).await;
    let expires = taken.lease.expect("a lease").expires;
    assert_eq!(
        next_desk_event(&mut events).await.action,
        domain::Action::StartReview
    );
    // Started only now: under paused time, a sweeper already asleep would let
    // the runtime jump the clock to its wake-up while a write waits for the
    // disk (the real server's test covers a sweeper woken by a take).
    let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());

    // Nobody advances the clock: the paused runtime jumps to the sweeper's
    // wake-up as soon as everything else waits.
    let expired = next_desk_event(&mut events).await;
    assert_eq!(expired.action, domain::Action::ExpireLease);
    assert_eq!(expired.claim_id, submitted.id);
    assert_eq!(expired.actor.as_str(), "system");
    assert_expired_when_due(&expired, expires, "the lease");
    assert_back_in_queue(desk, submitted.id).await;
    stop_sweeper(desk, sweeper).await;
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_waits_for_a_renewed_lease_to_run_out() {
    let (fixture, kofi, taken) = taken_by_kofi("The fish ladder was blocked").await;
    let desk = &fixture.desk;
    let first_expiry = taken.lease.expect("a lease").expires;
    // Asleep until the first expiry (see the test above for why only now).
    let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());

    tokio::time::advance(10 * MINUTE).await;
    let renewed = act(desk, taken.id, Command::RenewLease, &kofi)
        .await
        .expect("the holder renews");
    let expires = renewed.lease.expect("a lease").expires;
    assert!(
        expires >= first_expiry + 10 * MINUTE,
        "the renewal moved the expiry"
    );

    let mut events = desk
        .watch(renewed.revision, EventFilter::default())
        .expect("the renewal is stored");
    let expired = next_desk_event(&mut events).await;
    assert_eq!(expired.action, domain::Action::ExpireLease, "{expired:?}");
    assert_expired_when_due(
        &expired,
        expires,
        &format!("the renewed lease (the first ran out at {first_expiry:?})"),
    );
    stop_sweeper(desk, sweeper).await;
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_does_not_spin_while_storage_refuses_to_expire_leases() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let store = SweptStore::open(dir.path()).await;
    let desk = Desk::new(store.clone(), DeskConfig { lease: LEASE });
    submit_dam(&desk, "The sluice gate jammed open").await;
    let taken = take_as(&desk, &user("checker-kofi")).await;
    let expires = taken.lease.expect("a lease").expires;

    store.hooks.fail_updates.store(true, Ordering::SeqCst);
    let sweeper = tokio::spawn(desk.clone().run_lease_sweeper());
    // One pass at start, one when the lease runs out (it fails), then
    // retries: 18 of them must not all happen in the same instant.
    store.hooks.wait_for_passes(20).await;
    let retried_for = desk.now().duration_since(expires).unwrap_or_default();
    assert!(
        retried_for >= Duration::from_secs(5),
        "the sweeper retried 18 times within {retried_for:?} of the failure: it spins"
    );
    stop_sweeper(&desk, sweeper).await;
    drop(desk);
    drop(store);
}
