//! TakeNextClaim: no claim handed out twice; order, filters, the empty
//! queue and invalid requests.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_checkers_taking_from_a_thousand_claims_get_every_claim_exactly_once() {
    const CLAIMS: usize = 1_000;
    const SUBMITTERS: usize = 50;
    const CHECKERS: usize = 8;
    let server = TestServer::spawn().await;
    let started = Instant::now();

    // Submitted concurrently; a fifth of them carry (distinct) deadlines.
    let deadline_base = SystemTime::now() + 24 * HOUR;
    let client = server.client().await;
    let mut submitters = JoinSet::new();
    for first in 0..SUBMITTERS {
        let mut client = client.clone();
        submitters.spawn(async move {
            let mut names = Vec::new();
            for n in (first..CLAIMS).step_by(SUBMITTERS) {
                let priority = PRIORITIES[n % 3];
                let deadline = (n % 5 == 0).then(|| deadline_base + (n as u32) * MINUTE);
                let claim = queue_claim(
                    "river-flood",
                    &format!("Sandbag wall number {n} held overnight at the mill bridge"),
                    priority,
                    deadline,
                    &[],
                );
                names.push(submit(&mut client, "editor-ines", claim).await.name);
            }
            names
        });
    }
    let mut submitted = HashSet::new();
    while let Some(names) = submitters.join_next().await {
        submitted.extend(names.expect("a submitter does not panic"));
    }
    assert_eq!(submitted.len(), CLAIMS, "every submission made a new claim");
    let submitted_after = started.elapsed();

    // Each checker on a connection of its own, until the queue is empty.
    let mut checkers = JoinSet::new();
    for c in 0..CHECKERS {
        let user = format!("checker-{c}");
        let mut client = server.client().await;
        checkers.spawn(async move {
            let mut taken = Vec::new();
            loop {
                match take_next(&mut client, &user, "", &[]).await {
                    Ok(claim) => taken.push(claim),
                    Err(status) => {
                        expect_queue_empty(Err(status));
                        return (user, taken);
                    }
                }
            }
        });
    }
    let mut by_checker = Vec::new();
    while let Some(result) = checkers.join_next().await {
        by_checker.push(result.expect("a checker does not panic"));
    }
    let taken_after = started.elapsed();

    let mut times_taken: HashMap<String, usize> = HashMap::new();
    for (user, taken) in &by_checker {
        for claim in taken {
            *times_taken.entry(claim.name.clone()).or_default() += 1;
            assert_eq!(claim.state(), claim::State::InReview, "{claim:?}");
            assert_eq!(&claim.assignee, user, "{} went to its taker", claim.name);
            assert_eq!(
                lease_of(claim),
                time(&claim.update_time) + LEASE,
                "{} is leased for the desk's lease from when it was taken",
                claim.name
            );
        }
        // The queue only shrank while they took: each checker's claims come
        // in queue order (priority, deadline with none last, submission).
        let order: Vec<_> = taken
            .iter()
            .map(|c| {
                let rank = PRIORITIES.iter().position(|p| *p == c.priority());
                let deadline = c.deadline.map(|d| time(&Some(d)));
                // No deadline sorts after every deadline.
                (rank, deadline.is_none(), deadline, c.name.clone())
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert!(order == sorted, "{user} took claims in queue order");
    }
    let duplicates: Vec<_> = times_taken.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "claims handed out twice: {duplicates:?}"
    );
    let handed_out: HashSet<String> = times_taken.into_keys().collect();
    assert_eq!(handed_out, submitted, "every claim was handed out");

    // The store agrees on who holds what.
    let mut client = server.client().await;
    for (user, taken) in &by_checker {
        let listed = list_all(
            &mut client,
            pb::ListClaimsRequest {
                assignee: user.clone(),
                page_size: 500,
                ..Default::default()
            },
        )
        .await;
        let listed: HashSet<String> = names(&listed).into_iter().collect();
        let taken: HashSet<String> = names(taken).into_iter().collect();
        assert_eq!(listed, taken, "the claims assigned to {user}");
    }
    let stats = queue_stats(&mut client, "").await;
    assert_stats(&stats, "", [0, 1_000, 0, 0, 0, 0], [0, 0, 0], None, 0);
    eprintln!(
        "1,000 claims submitted in {submitted_after:?}, all taken after {taken_after:?}; per checker: {:?}",
        by_checker
            .iter()
            .map(|(u, t)| (u.as_str(), t.len()))
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// 2. Order, filters, empty queue, invalid requests.

#[tokio::test]
async fn the_queue_serves_breaking_then_urgent_then_routine_then_earliest_deadline_then_oldest() {
    use claim::Priority::{Breaking, Routine, Unspecified, Urgent};
    let (_server, mut client) = TestServer::with_client().await;
    let base = SystemTime::now() + 24 * HOUR;
    // Submission order, deliberately scrambled.
    let plan: [(&str, claim::Priority, Option<u32>); 13] = [
        ("routine, no deadline, first", Routine, None),
        ("urgent, due in 3 h", Urgent, Some(180)),
        ("routine, due in 1 h", Routine, Some(60)),
        ("breaking, no deadline", Breaking, None),
        ("urgent, no deadline, first", Urgent, None),
        ("urgent, due in 2 h", Urgent, Some(120)),
        ("routine, no deadline, second", Routine, None),
        ("breaking, due in 5 h", Breaking, Some(300)),
        ("urgent, no deadline, second", Urgent, None),
        ("breaking, due in 4 h", Breaking, Some(240)),
        ("urgent, due in 2.5 h, first", Urgent, Some(150)),
        ("unspecified priority, no deadline", Unspecified, None),
        ("urgent, due in 2.5 h, second", Urgent, Some(150)),
    ];
    let mut label_of = HashMap::new();
    for ((label, priority, minutes), entry) in plan.into_iter().zip('a'..) {
        let deadline = minutes.map(|m| base + m * MINUTE);
        // Without the label's figures, which other entries would contradict.
        let statement = format!("The Gull Island ferry sailed on time (entry {entry})");
        let claim = submit_queued(&mut client, FERRY_STORY, &statement, priority, deadline).await;
        label_of.insert(claim.name, label);
    }

    let mut order = Vec::new();
    let mut first_taken = None;
    for _ in 0..plan.len() {
        let claim = take(&mut client, "checker-kofi").await;
        order.push(label_of[&claim.name]);
        first_taken.get_or_insert(claim);
    }
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &[]).await);

    assert_eq!(
        order,
        [
            "breaking, due in 4 h",
            "breaking, due in 5 h",
            "breaking, no deadline",
            "urgent, due in 2 h",
            "urgent, due in 2.5 h, first",
            "urgent, due in 2.5 h, second",
            "urgent, due in 3 h",
            "urgent, no deadline, first",
            "urgent, no deadline, second",
            "routine, due in 1 h",
            "routine, no deadline, first",
            "routine, no deadline, second",
            "unspecified priority, no deadline",
        ]
    );
    // Taking is a review start by the taker, in the history like any other.
    let first = first_taken.expect("a claim was taken");
    let history = events_of(&mut client, &first.name).await;
    let last = history.last().expect("the claim has a history");
    assert_eq!(last.r#type(), claim_event::Type::ReviewStarted);
    assert_eq!(last.actor, "checker-kofi");
    assert_eq!(last.from_state(), claim::State::Unverified);
    assert_eq!(last.to_state(), claim::State::InReview);
    assert_eq!(last.story, FERRY_STORY);
    assert_eq!(history.len(), 2, "submitted, then taken: {history:?}");
}

#[tokio::test]
async fn a_released_claim_goes_back_to_its_place_in_the_queue() {
    let (_server, mut client) = TestServer::with_client().await;
    let older = submit_ferry(&mut client, "The pier lights failed at nine").await;
    let newer = submit_ferry(&mut client, "The pier lights came back at ten").await;

    let taken = take(&mut client, "checker-kofi").await;
    assert_eq!(taken.name, older.name);
    let released = release(&mut client, "checker-kofi", &older.name).await;
    assert_eq!(released.state(), claim::State::Unverified);

    let again = take(&mut client, "checker-lena").await;
    assert_eq!(
        again.name, older.name,
        "the older claim is at the head again"
    );
    assert_eq!(again.assignee, "checker-lena");
    assert_eq!(take(&mut client, "checker-lena").await.name, newer.name);
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
}

#[tokio::test]
async fn a_story_filter_takes_only_claims_of_that_story() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let (_server, mut client) = TestServer::with_client().await;
    let mut submit_one = async |story: &str, statement: &str, priority| {
        submit_queued(&mut client, story, statement, priority, None)
            .await
            .name
    };
    let ferry_routine = submit_one(FERRY_STORY, "The night ferry was cancelled", Routine).await;
    let harbour_routine = submit_one(HARBOUR_ONLY_STORY, "Two cranes stood idle", Routine).await;
    let strike_breaking = submit_one(HARBOUR_STORY, "Pickets blocked gate four", Breaking).await;
    let harbour_urgent = submit_one(HARBOUR_ONLY_STORY, "A tanker waited offshore", Urgent).await;
    let ferry_breaking = submit_one(FERRY_STORY, "The car deck flooded", Breaking).await;

    let mut take_story =
        async |story: &str| take_next(&mut client, "checker-kofi", story, &[]).await;
    let first = take_story(HARBOUR_ONLY_STORY)
        .await
        .expect("a harbour claim waits");
    let second = take_story(HARBOUR_ONLY_STORY)
        .await
        .expect("a harbour claim waits");
    assert_eq!(
        [first.name.as_str(), second.name.as_str()],
        [harbour_urgent.as_str(), harbour_routine.as_str()],
        "the harbour claims in queue order, not those of harbour-strike"
    );
    assert!(first.story == HARBOUR_ONLY_STORY && second.story == HARBOUR_ONLY_STORY);
    expect_queue_empty(take_story(HARBOUR_ONLY_STORY).await);

    // The other stories are untouched and still in queue order.
    let mut rest = Vec::new();
    for _ in 0..3 {
        rest.push(take(&mut client, "checker-lena").await.name);
    }
    assert_eq!(rest, [strike_breaking, ferry_breaking, ferry_routine]);
}

#[tokio::test]
async fn a_tags_filter_takes_claims_carrying_any_of_the_tags_in_queue_order() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let (_server, mut client) = TestServer::with_client().await;
    let mut submit_one = async |statement: &str, priority, tags: &[&str]| {
        submit_tagged(&mut client, FERRY_STORY, statement, priority, tags)
            .await
            .name
    };
    let weather = submit_one("Fog closed the crossing", Routine, &["weather"]).await;
    let labour_ports = submit_one("Deckhands walked out", Routine, &["labour", "ports"]).await;
    let casualties = submit_one("Two passengers were hurt", Breaking, &["casualties"]).await;
    let untagged = submit_one("The timetable changed", Urgent, &[]).await;
    let weather_labour = submit_one(
        "Crews refused to sail in the gale",
        Urgent,
        &["weather", "labour"],
    )
    .await;
    let ports = submit_one("The east pier closed", Breaking, &["ports"]).await;

    let mut taken = Vec::new();
    for _ in 0..3 {
        let claim = take_next(&mut client, "checker-kofi", "", &["labour", "weather"])
            .await
            .expect("a claim with one of the tags waits");
        taken.push(claim.name);
    }
    assert_eq!(
        taken,
        [
            weather_labour.clone(),
            weather.clone(),
            labour_ports.clone()
        ],
        "urgent first, then the routine ones in submission order; a claim with both tags once"
    );
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["labour", "weather"]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["weather"]).await);

    // `ports` is left only on the claim that carries nothing else.
    let port = take_next(&mut client, "checker-kofi", "", &["ports"])
        .await
        .expect("a ports claim");
    assert_eq!(port.name, ports);
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["ports"]).await);

    // The rest is untouched.
    assert_eq!(take(&mut client, "checker-lena").await.name, casualties);
    assert_eq!(take(&mut client, "checker-lena").await.name, untagged);
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
}

#[tokio::test]
async fn story_and_tags_together_take_only_claims_of_that_story_with_one_of_the_tags() {
    use claim::Priority::{Breaking, Routine, Urgent};
    let (_server, mut client) = TestServer::with_client().await;
    let mut submit_one = async |story: &str, statement: &str, priority, tags: &[&str]| {
        submit_tagged(&mut client, story, statement, priority, tags)
            .await
            .name
    };
    let harbour_ports = submit_one(
        HARBOUR_ONLY_STORY,
        "Berth six reopened",
        Routine,
        &["ports"],
    )
    .await;
    let strike_ports =
        submit_one(HARBOUR_STORY, "Berth two stayed shut", Breaking, &["ports"]).await;
    let harbour_labour = submit_one(
        HARBOUR_ONLY_STORY,
        "Pilots joined the union",
        Breaking,
        &["labour"],
    )
    .await;
    let harbour_both = submit_one(
        HARBOUR_ONLY_STORY,
        "Pilots blocked berth six",
        Urgent,
        &["ports", "labour"],
    )
    .await;
    let harbour_untagged =
        submit_one(HARBOUR_ONLY_STORY, "The harbour fee rose", Breaking, &[]).await;

    let mut take_from = async |story: &str, tags: &[&str]| {
        take_next(&mut client, "checker-kofi", story, tags).await
    };
    let first = take_from(HARBOUR_ONLY_STORY, &["ports"])
        .await
        .expect("a claim waits");
    let second = take_from(HARBOUR_ONLY_STORY, &["ports"])
        .await
        .expect("a claim waits");
    assert_eq!([first.name, second.name], [harbour_both, harbour_ports]);
    expect_queue_empty(take_from(HARBOUR_ONLY_STORY, &["ports"]).await);
    expect_queue_empty(take_from(FERRY_STORY, &["labour"]).await);

    let labour = take_from(HARBOUR_ONLY_STORY, &["ports", "labour"])
        .await
        .expect("a claim waits");
    assert_eq!(labour.name, harbour_labour);
    expect_queue_empty(take_from(HARBOUR_ONLY_STORY, &["ports", "labour"]).await);

    assert_eq!(
        take_from(HARBOUR_ONLY_STORY, &[])
            .await
            .expect("a claim waits")
            .name,
        harbour_untagged
    );
    assert_eq!(
        take_from("", &["ports"]).await.expect("a claim waits").name,
        strike_ports
    );
    expect_queue_empty(take_from("", &[]).await);
}

#[tokio::test]
async fn taking_from_an_empty_queue_fails_with_queue_empty() {
    let (_server, mut client) = TestServer::with_client().await;
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &[]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", FERRY_STORY, &["weather"]).await);

    // Claims that do not wait are not in the queue: in review, ruled on,
    // withdrawn.
    let reviewed = submit_ferry(&mut client, "The ferry ran aground").await;
    let withdrawn = submit_ferry(&mut client, "The ferry was sold").await;
    withdraw(
        &mut client,
        "editor-ines",
        &withdrawn.name,
        "the sale was a rumour",
    )
    .await;
    take(&mut client, "checker-kofi").await;
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
    add_evidence(&mut client, "checker-kofi", &reviewed.name, supporting()).await;
    verify(
        &mut client,
        "checker-kofi",
        &reviewed.name,
        "confirmed by the authority",
    )
    .await;
    expect_queue_empty(take_next(&mut client, "checker-lena", "", &[]).await);
}

#[tokio::test]
async fn a_filter_that_matches_nothing_fails_with_queue_empty_and_takes_nothing() {
    let (_server, mut client) = TestServer::with_client().await;
    let waiting = submit_tagged(
        &mut client,
        FERRY_STORY,
        "The fares doubled overnight",
        claim::Priority::Urgent,
        &["fares"],
    )
    .await;

    expect_queue_empty(take_next(&mut client, "checker-kofi", "no-such-story", &[]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", "", &["no-such-tag"]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", HARBOUR_STORY, &["fares"]).await);
    expect_queue_empty(take_next(&mut client, "checker-kofi", FERRY_STORY, &["weather"]).await);
    // A story whose slug begins with the claim's is another story.
    expect_queue_empty(take_next(&mut client, "checker-kofi", "lakeside", &[]).await);

    assert_eq!(
        get(&mut client, &waiting.name).await,
        waiting,
        "nothing was taken"
    );
}

#[tokio::test]
async fn taking_with_an_invalid_story_tag_or_caller_is_rejected_naming_each_field() {
    let (_server, mut client) = TestServer::with_client().await;
    let waiting = submit_ferry(&mut client, "The ferry skipped Heron Point").await;

    let mut try_take = async |user: &str, story: &str, tags: &[&str]| {
        take_next(&mut client, user, story, tags).await
    };
    expect_invalid_fields(
        try_take("checker-kofi", "Lakeside Ferry", &[]).await,
        &["story"],
    );
    expect_invalid_fields(
        try_take("checker-kofi", "", &["Weather"]).await,
        &["tags[0]"],
    );
    expect_invalid_fields(
        try_take("checker-kofi", "", &["weather", "high winds", ""]).await,
        &["tags[1]", "tags[2]"],
    );
    expect_invalid_fields(
        try_take("checker-kofi", "lakeside_ferry", &["WEATHER"]).await,
        &["story", "tags[0]"],
    );
    let too_many: Vec<String> = (0..21).map(|i| format!("tag-{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    expect_invalid_fields(try_take("checker-kofi", "", &too_many).await, &["tags"]);
    // Nobody takes claims as the system.
    expect_invalid_fields(try_take("system", "", &[]).await, &["x-claimdesk-user"]);

    assert_eq!(
        get(&mut client, &waiting.name).await,
        waiting,
        "nothing was taken"
    );
}
