//! `--preload N`: a store filled before the server starts, by this process
//! itself through [`Store::import`] (many claims per transaction, one
//! durable flush per chunk) instead of N SubmitClaim calls; the server then
//! opens it with `serve --data-dir`. The directory is temporary, removed
//! when the [`Preloaded`] is dropped.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use serde::Serialize;

use crate::{
    cli::error::ClientError,
    domain::{
        Attribution, Claim, ClaimId, NewClaim, Priority, Slug, SourceName, Statement, UserName,
    },
    storage::{SledStore, Store, StoreConfig},
};

/// Claims made and imported at a time: bounds the memory of the claims and
/// of the events waiting for their flush.
const CHUNK: u64 = 50_000;
/// Stories the preloaded claims are spread over: the run's, and others.
const STORIES: u64 = 4;
/// Sources of the preloaded claims, in turn.
const SOURCES: [&str; 3] = ["Bench Gazette", "Harbour Herald", "Port Authority"];

/// What preloading took and left on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Preload {
    pub claims: u64,
    pub seconds: f64,
    pub claims_per_second: f64,
    /// The sizes of the data directory's files after the import's flush,
    /// divided by the claims.
    pub bytes_per_claim: f64,
}

/// A preloaded store in a temporary directory.
pub struct Preloaded {
    dir: tempfile::TempDir,
    pub figures: Preload,
}

impl Preloaded {
    /// The data directory to serve.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

/// Makes a temporary store of `count` small claims, a quarter of them in
/// `story` (the run's) and the rest in three stories beside it, submitted
/// by `user`.
pub async fn preload(count: u64, story: &str, user: &str) -> Result<Preloaded, ClientError> {
    let failed = |e: &dyn std::fmt::Display| ClientError::Failed(format!("cannot preload: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("claimdesk-bench-preload.")
        .tempdir()
        .map_err(|e| failed(&e))?;
    let made = Made::new(count, story, user).map_err(|e| failed(&e))?;
    let path = dir.path().join("data");
    let started = Instant::now();
    let filled = path.clone();
    tokio::task::spawn_blocking(move || fill(&filled, count, &made))
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = directory_bytes(&path).map_err(|e| failed(&e))?;
    Ok(Preloaded {
        dir,
        figures: Preload {
            claims: count,
            seconds,
            claims_per_second: count as f64 / seconds,
            bytes_per_claim: bytes as f64 / count as f64,
        },
    })
}

/// Imports `count` claims `made` into a new store at `path`, a chunk at a
/// time, and closes it. Blocks: the store's methods do.
fn fill(path: &Path, count: u64, made: &Made) -> Result<(), String> {
    let store = SledStore::open(&StoreConfig::new(path)).map_err(|e| e.to_string())?;
    let closed = store.on_close();
    let mut first = 0;
    while first < count {
        let last = count.min(first + CHUNK);
        let claims = (first..last)
            .map(|n| made.claim(n))
            .collect::<Result<Vec<_>, _>>()?;
        store.import(claims).map_err(|e| e.to_string())?;
        first = last;
    }
    drop(store);
    // The directory is released once the store is closed; the server
    // opens it next.
    if let Some(closed) = closed {
        let _ = closed.blocking_recv();
    }
    Ok(())
}

/// The claims to preload, each made from its number alone (the same
/// numbers make the same claims but for the times, which end a minute
/// before the run).
struct Made {
    stories: Vec<Slug>,
    user: UserName,
    sources: Vec<SourceName>,
    tags: [Slug; 2],
    /// When claim 0 was submitted; claim n a millisecond per n later.
    start: SystemTime,
}

impl Made {
    fn new(count: u64, story: &str, user: &str) -> Result<Self, String> {
        let stories = (0..STORIES)
            .map(|n| match n {
                0 => Slug::parse(story),
                _ => Slug::parse(&format!("{story}-{n}")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("story: {e}"))?;
        let sources = SOURCES
            .iter()
            .map(|s| SourceName::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("source: {e}"))?;
        let slug = |s| Slug::parse(s).map_err(|e| format!("tag: {e}"));
        Ok(Self {
            stories,
            user: UserName::parse(user).map_err(|e| format!("user: {e}"))?,
            sources,
            tags: [slug("economy")?, slug("transport")?],
            start: SystemTime::now() - Duration::from_secs(60) - Duration::from_millis(count),
        })
    }

    /// Claim `n`: a statement of about 70 characters, a story, source,
    /// priority and tags in turn, a deadline on one in ten.
    fn claim(&self, n: u64) -> Result<Claim, String> {
        let submitted = self.start + Duration::from_millis(n);
        let pick = |len: usize| usize::try_from(n % len as u64).unwrap_or(0);
        let tags = [n.is_multiple_of(3), n.is_multiple_of(5)]
            .into_iter()
            .zip(&self.tags)
            .filter(|(has, _)| *has)
            .map(|(_, tag)| tag.clone())
            .collect();
        let new = NewClaim {
            // One figure, as most claims have: it is stored with the claim
            // and in the figure index, and counts in the bytes per claim.
            statement: Statement::parse(&format!(
                "Preloaded claim {n:08}: about 9,000 dock workers joined the strike"
            ))
            .map_err(|e| format!("statement: {e}"))?,
            attribution: Attribution {
                source: self.sources[pick(self.sources.len())].clone(),
                relayed_from: Vec::new(),
                url: None,
            },
            story: self.stories[pick(self.stories.len())].clone(),
            tags,
            priority: match n % 10 {
                9 => Priority::Breaking,
                7 | 8 => Priority::Urgent,
                _ => Priority::Routine,
            },
            deadline: (n % 10 == 3).then(|| submitted + Duration::from_secs(7 * 24 * 3600)),
        };
        let since_1970 = submitted
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let id =
            ulid::Ulid::from_parts(u64::try_from(since_1970).unwrap_or(u64::MAX), u128::from(n));
        Ok(Claim::submitted(
            ClaimId::from_ulid(id),
            new,
            self.user.clone(),
            submitted,
        ))
    }
}

/// The sizes of the files under `dir`, in bytes.
fn directory_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += directory_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preloaded_claims_are_small_varied_and_in_submission_order() {
        let made = Made::new(100, "bench-1", "bench").unwrap();
        let claims: Vec<Claim> = (0..100).map(|n| made.claim(n).unwrap()).collect();
        assert!(claims.windows(2).all(|pair| pair[0].id < pair[1].id));
        for claim in &claims {
            let chars = claim.statement.as_str().chars().count();
            assert!((60..=75).contains(&chars), "{chars}");
        }
        let in_run = claims.iter().filter(|c| c.story.as_str() == "bench-1");
        assert_eq!(in_run.count(), 25);
        assert!(claims.iter().any(|c| c.priority == Priority::Breaking));
        assert!(claims.iter().any(|c| c.tags.len() == 2));
        assert!(claims.iter().any(|c| c.deadline.is_some()));
        assert_eq!(made.claim(42), made.claim(42));
        assert_eq!(made.claim(42).unwrap().statement.as_str().len(), 68);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_preloaded_store_holds_every_claim_and_its_size() {
        let preloaded = preload(120, "bench-1", "bench").await.unwrap();
        assert_eq!(preloaded.figures.claims, 120);
        assert!(preloaded.figures.bytes_per_claim > 0.0);
        assert!(preloaded.figures.claims_per_second > 0.0);
        let data_dir = preloaded.data_dir();
        let (counts, in_run) = tokio::task::spawn_blocking(move || {
            let store = SledStore::open(&StoreConfig::new(data_dir)).unwrap();
            let now = SystemTime::now();
            (
                store.queue_stats(None, now).unwrap(),
                store.queue_stats(Some("bench-1"), now).unwrap(),
            )
        })
        .await
        .unwrap();
        let stored: u64 = counts.states.iter().map(|(_, n)| n).sum();
        assert_eq!(stored, 120);
        assert_eq!(in_run.waiting.iter().map(|(_, n)| n).sum::<u64>(), 30);
    }
}
