//! The tamper-evident history: `claimdesk audit verify` walks the hash chain
//! of every event and names the first one that was changed or removed
//! behind the service's back.

use std::{path::Path, process::Command};

use claimdesk::pb::evidence::Stance;

use crate::helpers::{
    TestServer, add_evidence, evidence, harbour_claim, other_harbour_claim, sled_only,
    start_review, submit,
};

/// Runs `claimdesk audit verify` on `dir`: exit code and standard output.
fn audit_verify(dir: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_claimdesk"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .expect("the claimdesk binary runs");
    (
        output.status.code().expect("audit verify exits by itself"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Checks that `claimdesk audit verify` on `dir` exits with `code` and says
/// `verdict`.
#[track_caller]
pub(crate) fn assert_verdict(dir: &Path, code: i32, verdict: &str) {
    let (exit, out) = audit_verify(dir);
    assert_eq!(exit, code, "{out}");
    assert!(out.contains(verdict), "{out}");
}

/// The data directory of a stopped server whose history holds five events.
async fn history_of_five_events() -> tempfile::TempDir {
    let (server, mut client) = TestServer::with_client().await;
    let first = submit(&mut client, "ed.morgan", harbour_claim()).await;
    submit(&mut client, "ed.morgan", other_harbour_claim(0)).await;
    start_review(&mut client, "kim.checker", &first.name).await;
    let supporting = evidence("Port Lindell Authority", Stance::Supports, "Berths closed.");
    add_evidence(&mut client, "kim.checker", &first.name, supporting).await;
    let context = evidence("Shipping Register", Stance::Context, "Two ships diverted.");
    add_evidence(&mut client, "kim.checker", &first.name, context).await;
    drop(client);
    server
        .stop()
        .await
        .expect("the server owns its data directory")
}

/// Changes the stored event at `revision` with `edit`, bypassing the
/// service (as someone with access to the files could).
fn tamper(dir: &Path, revision: u64, edit: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>) {
    let db = sled::open(dir).expect("the stopped server's store opens");
    let events = db.open_tree("events").expect("the events tree exists");
    let key = revision.to_be_bytes();
    let stored = events
        .get(key)
        .expect("the event reads")
        .expect("the event exists")
        .to_vec();
    match edit(stored) {
        Some(changed) => events.insert(key, changed).expect("the event is rewritten"),
        None => events.remove(key).expect("the event is removed"),
    };
    db.flush().expect("the change is flushed");
}

/// `bytes` with the first `from` replaced by `to`, a name of the same length:
/// the edit keeps the record well-formed whatever its encoding (a binary
/// record counts the bytes of its strings), as a careful forger would.
fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "a same-length edit");
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} is in the stored event"));
    let mut changed = bytes.to_vec();
    changed[at..at + to.len()].copy_from_slice(to.as_bytes());
    changed
}

#[tokio::test]
async fn an_untouched_history_checks_out() {
    if sled_only("audit verify reads a data directory") {
        return;
    }
    let dir = history_of_five_events().await;
    assert_verdict(dir.path(), 0, "all 5 events check out");
}

#[tokio::test]
async fn an_edited_event_breaks_the_chain_at_its_revision() {
    if sled_only("audit verify reads a data directory") {
        return;
    }
    let dir = history_of_five_events().await;
    // Rewrite who took the claim for review (revision 3).
    tamper(dir.path(), 3, |stored| {
        Some(replace(&stored, "kim.checker", "sam.checker"))
    });
    assert_verdict(dir.path(), 1, "broken at revision 3");
}

#[tokio::test]
async fn an_edit_that_recomputes_its_own_hash_still_breaks_the_next_link() {
    if sled_only("audit verify reads a data directory") {
        return;
    }
    let dir = history_of_five_events().await;
    // A careful forger rewrites revision 2 and gives it a fresh hash over
    // the previous link and the new body; revision 3 still links to the old.
    let db = sled::open(dir.path()).unwrap();
    let events = db.open_tree("events").unwrap();
    let first = events.get(1u64.to_be_bytes()).unwrap().unwrap();
    let second = events.get(2u64.to_be_bytes()).unwrap().unwrap();
    let body = replace(&second[32..], "ed.morgan", "jo.forger");
    let mut link = sha2::Sha256::default();
    sha2::Digest::update(&mut link, &first[..32]);
    sha2::Digest::update(&mut link, &body);
    let hash: [u8; 32] = sha2::Digest::finalize(link).into();
    events
        .insert(2u64.to_be_bytes(), [&hash[..], &body].concat())
        .unwrap();
    db.flush().unwrap();
    drop(events);
    drop(db);

    assert_verdict(dir.path(), 1, "broken at revision 3");
}

#[tokio::test]
async fn a_removed_event_breaks_the_chain_at_its_revision() {
    if sled_only("audit verify reads a data directory") {
        return;
    }
    let dir = history_of_five_events().await;
    tamper(dir.path(), 4, |_| None);
    assert_verdict(dir.path(), 1, "broken at revision 4");
}

#[tokio::test]
async fn a_removed_last_event_is_noticed() {
    if sled_only("audit verify reads a data directory") {
        return;
    }
    let dir = history_of_five_events().await;
    tamper(dir.path(), 5, |_| None);
    assert_verdict(dir.path(), 1, "broken at revision 5");
}

#[tokio::test]
async fn a_directory_without_a_store_is_an_error_not_a_verdict() {
    if sled_only("audit verify reads a data directory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = audit_verify(dir.path());
    assert_eq!(code, 2);
    assert!(
        !dir.path().join("db").exists(),
        "verifying must not create a store"
    );
}
