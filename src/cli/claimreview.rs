//! `claimdesk export claimreview`: the desk's rulings on the claims of a
//! story as schema.org [`ClaimReview`](https://schema.org/ClaimReview)
//! JSON-LD, the form fact-checkers publish their verdicts in.
//!
//! The properties follow the required and recommended lists of Google's
//! "Fact check (ClaimReview) structured data" documentation
//! (<https://developers.google.com/search/docs/appearance/structured-data/factcheck>):
//!
//! - `ClaimReview`: required `claimReviewed`, `reviewRating`, `url`;
//!   recommended `author` (with `name` and `url`) and `itemReviewed`. We add
//!   `datePublished`, schema.org's date of the review.
//! - `Claim` (the `itemReviewed`): recommended `appearance`, `author`,
//!   `datePublished`, `firstAppearance`.
//! - `Rating` (the `reviewRating`): required `alternateName`; recommended
//!   `bestRating`, `ratingValue`, `worstRating` (and `name`, which the
//!   documentation itself says to replace with `alternateName`, so it is
//!   left out).
//!
//! How a claim maps:
//!
//! - `claimReviewed`: the statement.
//! - `itemReviewed`: a `Claim` whose `author` is the attribution's source as
//!   an `Organization`; `appearance` the attribution's URL, when it has
//!   one; `datePublished` when the claim was submitted (the proto knows no
//!   earlier date of the claim: the source said it then at the latest). The
//!   relay chain (`relayed_from`, nearest first) becomes `isBasedOn`: the
//!   source's claim is based on the same claim made by whoever told it,
//!   which is based on the claim of whoever told them, and so on, each an
//!   `Organization` as author of a nested `Claim`. `firstAppearance` is
//!   left out: the attribution's URL is where the source said it, which is
//!   not known to be the first appearance (a relayed claim appeared before).
//! - `reviewRating`: a `Rating` on the scale below, `alternateName` the
//!   label the server computes (the wording copy may use).
//! - `author`: the publishing organisation (`--publisher`, and
//!   `--publisher-url` if given).
//! - `datePublished`: when the ruling was made. A ruled claim (verified,
//!   disputed or inconclusive) can only leave its state, never change within
//!   it (see the state machine in `domain/lifecycle.rs` and its test
//!   `a_ruled_claim_changes_only_by_leaving_its_state`), so its
//!   `update_time` is the time of its ruling, without reading its history.
//! - `url`: with `--base-url`, the base URL with the claim's id as a last
//!   path segment. Google requires it; without a base URL it is left out,
//!   and a consumer takes the URL of the page the markup is on.
//!
//! The rating scale is 1 (worst) to 5 (best), the scale most fact-checkers'
//! numeric ratings use, from false to true:
//!
//! | State | `ratingValue` | Why |
//! | --- | --- | --- |
//! | disputed | 1 | refuted by evidence: false |
//! | inconclusive | 3 | checked, but could not be independently verified: neither confirmed nor refuted, the middle of the scale |
//! | verified | 5 | supported by evidence from a source independent of the claim's: true |
//!
//! 2 and 4 stay unused: the desk gives no "mostly false" or "mostly true"
//! rulings. Claims without a ruling (unverified or in review, including
//! reopened ones waiting for a new ruling) and withdrawn claims are not
//! exported; a claim in a state this build does not know is not either.
//!
//! The output is one JSON document: an array of ClaimReview objects, in
//! submission order, each with its own `@context` so that each can also be
//! published on its own; `[]` for a story without rulings.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use serde_json::{Map, Value, json};
use url::Url;

use crate::{
    cli::{
        connect::{Client, ConnectArgs},
        error::ClientError,
        output::emit,
        run,
    },
    pb::{self, claim::State},
};

/// The lowest value of the rating scale.
pub const WORST_RATING: u8 = 1;
/// The highest value of the rating scale.
pub const BEST_RATING: u8 = 5;

/// Claims asked for per ListClaims page: the most the server gives.
const PAGE_SIZE: i32 = 500;

/// `claimdesk export claimreview`
#[derive(Debug, clap::Args)]
pub struct ClaimReviewArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The story whose rulings to export.
    #[arg(long)]
    pub story: String,
    /// The organisation publishing the reviews (their `author`).
    #[arg(long, env = "CLAIMDESK_PUBLISHER", value_name = "NAME")]
    pub publisher: String,
    /// The publisher's web site (the `url` of the reviews' `author`).
    #[arg(long, env = "CLAIMDESK_PUBLISHER_URL", value_name = "URL")]
    pub publisher_url: Option<String>,
    /// Where the reviews are published: each review's `url` is this URL
    /// with the claim's id appended as a path segment.
    #[arg(long, env = "CLAIMDESK_CLAIMREVIEW_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Write the JSON to FILE (replaced at once, never left half written)
    /// instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Who publishes the reviews and where: what the mapping needs besides the
/// claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    publisher: String,
    publisher_url: Option<Url>,
    base_url: Option<Url>,
}

impl Publication {
    /// Checks the publisher's name and the URLs: a name with a visible
    /// character and no control characters; `http` or `https` URLs; a base
    /// URL a path segment can be appended to (no query or fragment).
    pub fn new(
        publisher: &str,
        publisher_url: Option<&str>,
        base_url: Option<&str>,
    ) -> Result<Self, String> {
        let publisher = publisher.trim();
        if publisher.is_empty() {
            return Err("--publisher must name the publishing organisation".into());
        }
        if publisher.chars().any(char::is_control) {
            return Err("--publisher must be one line without control characters".into());
        }
        let publisher_url = publisher_url
            .map(|raw| web_url("--publisher-url", raw))
            .transpose()?;
        let base_url = base_url
            .map(|raw| {
                let url = web_url("--base-url", raw)?;
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(format!(
                        "--base-url {raw:?} must have no query or fragment: the claim's id is \
                         appended to its path"
                    ));
                }
                Ok(url)
            })
            .transpose()?;
        Ok(Self {
            publisher: publisher.to_owned(),
            publisher_url,
            base_url,
        })
    }

    /// The URL of the review of the claim with `id`, if a base URL is set.
    fn review_url(&self, id: &str) -> Option<Url> {
        let mut url = self.base_url.clone()?;
        // An http(s) URL with a host always has path segments.
        url.path_segments_mut().ok()?.pop_if_empty().push(id);
        Some(url)
    }
}

/// `raw` as an absolute `http` or `https` URL with a host.
fn web_url(flag: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{flag} {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(format!("{flag} {raw:?} must be an http:// or https:// URL"));
    }
    Ok(url)
}

/// The rating of a ruled state on the 1..5 scale, `None` for a state
/// without a ruling.
pub fn rating_value(state: State) -> Option<u8> {
    match state {
        State::Disputed => Some(1),
        State::Inconclusive => Some(3),
        State::Verified => Some(5),
        State::Unspecified | State::Unverified | State::InReview | State::Withdrawn => None,
    }
}

/// An `Organization` named `name`.
fn organization(name: &str) -> Value {
    json!({ "@type": "Organization", "name": name })
}

/// The claim reviewed: made by `source`, based on the claim of each party in
/// `relayed` (nearest first) in turn.
fn claim_made_by(source: &str, relayed: &[String]) -> Map<String, Value> {
    let mut claim = Map::new();
    claim.insert("@type".into(), json!("Claim"));
    claim.insert("author".into(), organization(source));
    if let Some((nearest, further)) = relayed.split_first() {
        claim.insert(
            "isBasedOn".into(),
            Value::Object(claim_made_by(nearest, further)),
        );
    }
    claim
}

/// The ClaimReview of `claim`, or `None` if it has no current ruling.
///
/// Fields the server always sets (the attribution, the times) are left out
/// of the review if an answer lacks them, never made up.
pub fn claim_review(claim: &pb::Claim, publication: &Publication) -> Option<Value> {
    let rating = State::try_from(claim.state).ok().and_then(rating_value)?;

    let mut item = Map::new();
    item.insert("@type".into(), json!("Claim"));
    if let Some(attribution) = &claim.attribution {
        item.extend(claim_made_by(
            &attribution.source,
            &attribution.relayed_from,
        ));
        if !attribution.url.is_empty() {
            item.insert("appearance".into(), json!(attribution.url));
        }
    }
    if let Some(submitted) = &claim.create_time {
        item.insert("datePublished".into(), json!(submitted.to_string()));
    }

    let mut author = organization(&publication.publisher);
    if let (Some(url), Value::Object(author)) = (&publication.publisher_url, &mut author) {
        author.insert("url".into(), json!(url.as_str()));
    }

    let mut review = Map::new();
    review.insert("@context".into(), json!("https://schema.org"));
    review.insert("@type".into(), json!("ClaimReview"));
    review.insert("claimReviewed".into(), json!(claim.statement));
    review.insert("itemReviewed".into(), Value::Object(item));
    review.insert(
        "reviewRating".into(),
        json!({
            "@type": "Rating",
            "ratingValue": rating,
            "bestRating": BEST_RATING,
            "worstRating": WORST_RATING,
            "alternateName": claim.label,
        }),
    );
    review.insert("author".into(), author);
    if let Some(ruled) = &claim.update_time {
        review.insert("datePublished".into(), json!(ruled.to_string()));
    }
    let id = claim.name.rsplit('/').next().unwrap_or(&claim.name);
    if let Some(url) = publication.review_url(id) {
        review.insert("url".into(), json!(url.as_str()));
    }
    Some(Value::Object(review))
}

/// The reviews of every ruled claim of `story`, in submission order,
/// following ListClaims' pages to the last.
async fn story_reviews(
    client: &mut Client,
    server: &str,
    story: &str,
    publication: &Publication,
) -> Result<Vec<Value>, ClientError> {
    let mut request = pb::ListClaimsRequest {
        story: story.to_owned(),
        page_size: PAGE_SIZE,
        ..Default::default()
    };
    let mut reviews = Vec::new();
    loop {
        let page = client
            .list_claims(request.clone())
            .await
            .map_err(ClientError::call("ListClaims", server))?
            .into_inner();
        reviews.extend(
            page.claims
                .iter()
                .filter_map(|claim| claim_review(claim, publication)),
        );
        if page.next_page_token.is_empty() {
            return Ok(reviews);
        }
        request.page_token = page.next_page_token;
    }
}

/// Writes `text` to `path` atomically: into a temporary file in the same
/// directory, synced, then renamed over `path` (and the directory synced),
/// so readers see the old file or the whole new one. The new file gets the
/// permissions a newly created file gets (0666 less the umask).
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".claimreview-").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Runs `claimdesk export claimreview`: the JSON-LD goes to stdout, or to
/// `--file`, in which case stdout gets what was written where.
pub fn export(args: ClaimReviewArgs) -> ExitCode {
    run(async move {
        let publication = Publication::new(
            &args.publisher,
            args.publisher_url.as_deref(),
            args.base_url.as_deref(),
        )
        .map_err(ClientError::Usage)?;
        // An empty story would be no filter at all: every story's rulings.
        if args.story.trim().is_empty() {
            return Err(ClientError::Usage("--story must name a story".into()));
        }
        let mut client = args.connect.connect().await?.claims();
        let reviews =
            story_reviews(&mut client, &args.connect.server, &args.story, &publication).await?;
        let document = Value::Array(reviews);
        let pretty = |value: &Value| {
            serde_json::to_string_pretty(value)
                .map_err(|e| ClientError::Failed(format!("cannot encode the reviews: {e}")))
        };
        let Some(path) = args.file else {
            return emit(&pretty(&document)?);
        };
        let mut text = pretty(&document)?;
        text.push('\n');
        write_atomically(&path, &text)
            .map_err(|e| ClientError::Failed(format!("cannot write {}: {e}", path.display())))?;
        emit(&pretty(&json!({
            "file": path.display().to_string(),
            "claim_reviews": document.as_array().map_or(0, Vec::len),
        }))?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn ruled(state: State, label: &str) -> pb::Claim {
        pb::Claim {
            name: "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            statement: "About 9,000 dock workers joined the strike".into(),
            attribution: Some(pb::Attribution {
                source: "Harbour Gazette".into(),
                relayed_from: vec!["union officials".into(), "a shop steward".into()],
                url: "https://harbour-gazette.example/strike".into(),
            }),
            story: "harbour-strike".into(),
            state: state.into(),
            label: label.into(),
            create_time: timestamp(1_800_000_000),
            update_time: timestamp(1_800_003_600),
            ..Default::default()
        }
    }

    fn publication() -> Publication {
        Publication::new(
            "Lindell Courier",
            Some("https://courier.example/"),
            Some("https://courier.example/fact-checks"),
        )
        .expect("a valid publication")
    }

    #[test]
    fn a_verified_claim_maps_to_every_property() {
        let review = claim_review(&ruled(State::Verified, "verified"), &publication())
            .expect("a ruled claim is reviewed");
        assert_eq!(
            review,
            json!({
                "@context": "https://schema.org",
                "@type": "ClaimReview",
                "claimReviewed": "About 9,000 dock workers joined the strike",
                "itemReviewed": {
                    "@type": "Claim",
                    "author": { "@type": "Organization", "name": "Harbour Gazette" },
                    "isBasedOn": {
                        "@type": "Claim",
                        "author": { "@type": "Organization", "name": "union officials" },
                        "isBasedOn": {
                            "@type": "Claim",
                            "author": { "@type": "Organization", "name": "a shop steward" },
                        },
                    },
                    "appearance": "https://harbour-gazette.example/strike",
                    "datePublished": "2027-01-15T08:00:00Z",
                },
                "reviewRating": {
                    "@type": "Rating",
                    "ratingValue": 5,
                    "bestRating": 5,
                    "worstRating": 1,
                    "alternateName": "verified",
                },
                "author": {
                    "@type": "Organization",
                    "name": "Lindell Courier",
                    "url": "https://courier.example/",
                },
                "datePublished": "2027-01-15T09:00:00Z",
                "url": "https://courier.example/fact-checks/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            })
        );
    }

    #[test]
    fn rulings_rate_disputed_1_inconclusive_3_verified_5() {
        let cases = [
            (State::Disputed, "disputed", 1),
            (
                State::Inconclusive,
                "could not be independently verified (per Harbour Gazette)",
                3,
            ),
            (State::Verified, "verified", 5),
        ];
        for (state, label, value) in cases {
            let review = claim_review(&ruled(state, label), &publication())
                .unwrap_or_else(|| panic!("{state:?} is exported"));
            let rating = &review["reviewRating"];
            assert_eq!(rating["ratingValue"], value, "{state:?}");
            assert_eq!(rating["alternateName"], label, "{state:?}");
            assert!(
                (WORST_RATING..=BEST_RATING).contains(&value),
                "{state:?} on the scale"
            );
        }
    }

    #[test]
    fn claims_without_a_current_ruling_are_not_exported() {
        for state in [
            State::Unspecified,
            State::Unverified,
            State::InReview,
            State::Withdrawn,
        ] {
            assert_eq!(
                claim_review(&ruled(state, "x"), &publication()),
                None,
                "{state:?}"
            );
        }
        let unknown = pb::Claim {
            state: 99,
            ..ruled(State::Verified, "verified")
        };
        assert_eq!(claim_review(&unknown, &publication()), None);
    }

    #[test]
    fn optional_parts_are_left_out_when_missing() {
        let claim = pb::Claim {
            attribution: Some(pb::Attribution {
                source: "Radio Lindell".into(),
                relayed_from: Vec::new(),
                url: String::new(),
            }),
            update_time: None,
            ..ruled(State::Disputed, "disputed")
        };
        let bare = Publication::new("Lindell Courier", None, None).expect("valid");
        let review = claim_review(&claim, &bare).expect("exported");
        let item = review["itemReviewed"].as_object().expect("an object");
        assert_eq!(item["author"]["name"], "Radio Lindell");
        assert!(!item.contains_key("isBasedOn"));
        assert!(!item.contains_key("appearance"));
        let review = review.as_object().expect("an object");
        assert!(!review.contains_key("url"));
        assert!(!review.contains_key("datePublished"));
        assert_eq!(
            review["author"],
            json!({ "@type": "Organization", "name": "Lindell Courier" })
        );

        let anonymous = pb::Claim {
            attribution: None,
            create_time: None,
            ..claim
        };
        let review = claim_review(&anonymous, &bare).expect("exported");
        assert_eq!(review["itemReviewed"], json!({ "@type": "Claim" }));
    }

    #[test]
    fn the_claim_id_is_appended_to_the_base_url_as_one_segment() {
        for base in [
            "https://courier.example/checks",
            "https://courier.example/checks/",
        ] {
            let publication = Publication::new("Courier", None, Some(base)).expect("valid");
            assert_eq!(
                publication.review_url("01ARZ").map(String::from).as_deref(),
                Some("https://courier.example/checks/01ARZ"),
                "{base}"
            );
        }
        let root = Publication::new("Courier", None, Some("http://courier.example")).expect("ok");
        assert_eq!(
            root.review_url("01ARZ").map(String::from).as_deref(),
            Some("http://courier.example/01ARZ")
        );
    }

    #[test]
    fn bad_publishers_and_urls_are_refused_by_flag() {
        for (publisher, publisher_url, base_url, flag) in [
            ("  ", None, None, "--publisher"),
            ("Courier\nDaily", None, None, "--publisher"),
            ("Courier", Some("courier.example"), None, "--publisher-url"),
            (
                "Courier",
                None,
                Some("ftp://courier.example/"),
                "--base-url",
            ),
            (
                "Courier",
                None,
                Some("mailto:desk@courier.example"),
                "--base-url",
            ),
            (
                "Courier",
                None,
                Some("https://courier.example/?page=1"),
                "--base-url",
            ),
            (
                "Courier",
                None,
                Some("https://courier.example/#checks"),
                "--base-url",
            ),
        ] {
            let message =
                Publication::new(publisher, publisher_url, base_url).expect_err("refused");
            assert!(message.starts_with(flag), "{message}");
        }
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("reviews.json");
        std::fs::write(&path, "old").expect("written");
        write_atomically(&path, "[]\n").expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "[]\n");
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(entries, [std::ffi::OsString::from("reviews.json")]);

        let missing = dir.path().join("no-such-dir").join("reviews.json");
        assert!(write_atomically(&missing, "[]").is_err());
    }
}
