//! Names of parties through the API: another spelling of a source (invisible
//! characters, lookalike letters of other scripts, fullwidth forms) is the
//! same source for verification and for listing, and names that show
//! nothing or reorder text are refused.

use claimdesk::pb::{self, Attribution, claim};
use tonic::Code;

use crate::helpers::*;

/// Spellings of [`HARBOUR_SOURCE`] that a reader cannot tell from it, and
/// that share its comparison key.
const HARBOUR_SPELLINGS: [&str; 4] = [
    // A zero-width space inside.
    "Harbour Ga\u{200b}zette",
    // Cyrillic `а` and `е`.
    "H\u{430}rbour Gaz\u{435}tte",
    // Fullwidth letters.
    "Ｈａｒｂｏｕｒ Ｇａｚｅｔｔｅ",
    // Mathematical bold, and a soft hyphen.
    "𝐇𝐚𝐫𝐛𝐨𝐮𝐫 Gaz\u{ad}ette",
];

/// Spellings with capitals of other scripts that look Latin but whose small
/// forms do not (Greek `Η`, Cyrillic `Н`): the same party for verification,
/// by the key of the spelling as displayed.
const HARBOUR_CAPITAL_LOOKALIKES: [&str; 2] = ["\u{397}arbour Gazette", "\u{41d}ARBOUR GAZETTE"];

/// Submits the harbour claim, takes it into review as tomas and adds
/// supporting evidence from `source`.
async fn in_review_supported_by(client: &mut Client, source: &str) -> pb::Claim {
    let submitted = submit(client, "maria", harbour_claim()).await;
    start_review(client, "tomas", &submitted.name).await;
    add_evidence(
        client,
        "tomas",
        &submitted.name,
        supports(source, "They confirm it"),
    )
    .await
}

/// Verifying `claim` is refused for want of independent evidence, and the
/// claim stays as it was.
async fn assert_not_verifiable(client: &mut Client, claim: &pb::Claim, spelling: &str) {
    let (status, _) = expect_error(
        verify_result(client, &claim.name).await,
        Code::FailedPrecondition,
        "NO_INDEPENDENT_EVIDENCE",
    );
    assert!(!status.message().is_empty(), "{spelling:?}");
    let after = get(client, &claim.name).await;
    assert_eq!(&after, claim, "{spelling:?}: the claim is unchanged");
    assert_eq!(after.state(), claim::State::InReview, "{spelling:?}");
}

#[tokio::test]
async fn support_from_another_spelling_of_the_claims_source_does_not_verify_it() {
    let (_server, mut client) = TestServer::with_client().await;
    for spelling in HARBOUR_SPELLINGS
        .into_iter()
        .chain(HARBOUR_CAPITAL_LOOKALIKES)
    {
        let claim = in_review_supported_by(&mut client, spelling).await;
        assert_eq!(
            claim.evidence[0].source, spelling,
            "the evidence keeps its spelling for display"
        );
        assert_not_verifiable(&mut client, &claim, spelling).await;
    }

    // The same path verifies with an independent source, so the refusals
    // above are about the names.
    let claim = in_review_supported_by(&mut client, "Port Authority").await;
    let verified = verify_result(&mut client, &claim.name)
        .await
        .expect("independent support verifies");
    assert_eq!(verified.label, "verified");
}

#[tokio::test]
async fn support_from_another_spelling_of_a_relayed_source_does_not_verify_it() {
    let (_server, mut client) = TestServer::with_client().await;
    assert_eq!(HARBOUR_RELAY, "union officials");
    for spelling in [
        "union offic\u{456}als",
        "UNION\u{2060} OFFICIALS.",
        "Union \u{41e}fficials",
        "ｕｎｉｏｎ ｏｆｆｉｃｉａｌｓ",
    ] {
        let claim = in_review_supported_by(&mut client, spelling).await;
        assert_not_verifiable(&mut client, &claim, spelling).await;
    }
}

#[tokio::test]
async fn a_source_made_only_of_zero_width_spaces_is_invalid() {
    let (_server, mut client) = TestServer::with_client().await;
    let mut claim = harbour_claim();
    claim.attribution = Some(Attribution {
        source: "\u{200b}\u{200b}".to_owned(),
        relayed_from: vec!["\u{feff}".to_owned(), HARBOUR_RELAY.to_owned()],
        url: String::new(),
    });
    let result = submit_with_id(&mut client, "maria", claim, "").await;
    expect_invalid_fields(
        result,
        &[
            "claim.attribution.source",
            "claim.attribution.relayed_from[0]",
        ],
    );
    assert_nothing_stored(&mut client).await;
}

#[tokio::test]
async fn a_bidi_override_in_an_evidence_source_is_invalid() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let claim = start_review(&mut client, "tomas", &submitted.name).await;
    for source in [
        "Port \u{202e}ytirohtuA",
        "Port\u{2067} Authority",
        "Port\u{2028}Authority",
    ] {
        let support = Some(supports(source, "Gate logs agree"));
        let result = try_add_evidence(&mut client, "tomas", &claim.name, support, "").await;
        expect_invalid_fields(result, &["evidence.source"]);
    }
    assert_reads_back(&mut client, &claim, "no evidence added").await;
}

#[tokio::test]
async fn listing_by_source_finds_a_claim_under_a_lookalike_spelling() {
    let (_server, mut client, harbour) = TestServer::with_harbour_claim().await;
    let soldiers = border_claim("About 2,000 soldiers reached the river", "Kestrel Radio");
    let border = submit(&mut client, "maria", soldiers).await;
    let bridge = border_claim(
        "The bridge was closed at noon",
        "K\u{435}strel\u{200d} Radio",
    );
    let lookalike = submit(&mut client, "maria", bridge).await;

    for spelling in HARBOUR_SPELLINGS {
        let found = list_by_source(&mut client, spelling).await;
        assert_eq!(names(&found), [harbour.name.as_str()], "{spelling:?}");
    }
    let found = list_by_source(&mut client, "kestrel radio").await;
    assert_eq!(
        names(&found),
        [border.name.clone(), lookalike.name.clone()],
        "a claim stored under a lookalike spelling is found by the plain one"
    );
}

#[tokio::test]
async fn reassigning_a_claim_to_a_lookalike_of_the_system_is_invalid() {
    let (_server, mut client, submitted) = TestServer::with_harbour_claim().await;
    let claim = start_review(&mut client, "tomas", &submitted.name).await;
    for assignee in ["\u{455}ystem", "s\u{443}stem", "sys\u{200b}tem", "SYSTEM"] {
        let result = client
            .reassign_claim(as_user(
                pb::ReassignClaimRequest {
                    name: claim.name.clone(),
                    assignee: assignee.to_owned(),
                    etag: String::new(),
                    note: "Handing over".to_owned(),
                },
                "chief",
            ))
            .await;
        expect_invalid_fields(result, &["assignee"]);
    }
    assert_reads_back(&mut client, &claim, "still tomas's").await;
}
