//! The layers of ARCHITECTURE.md, checked: which source files may name
//! which crates and modules. Reads the code (comments left out) as text.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Every `.rs` file under `src/`, relative to the crate root, with its code
/// lines (comment lines left out).
fn sources() -> Vec<(String, Vec<String>)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<String>)>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .expect("a source directory")
            .map(|e| e.expect("an entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).expect("a source file");
                let code = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(str::to_owned)
                    .collect();
                let name = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((name, code));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("src"), root, &mut out);
    assert!(out.len() > 20, "the sources are found: {}", out.len());
    out
}

/// Files under `prefix` whose code names any of `forbidden`, with the line.
fn offences(prefix: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, lines) in sources() {
        if !file.starts_with(prefix) {
            continue;
        }
        for line in &lines {
            for word in forbidden {
                if names(line, word) {
                    found.push(format!("{file}: `{word}` in {}", line.trim()));
                }
            }
        }
    }
    found
}

/// Whether `line` names `word` as a path or identifier (not as part of a
/// longer identifier, nor inside a string).
fn names(line: &str, word: &str) -> bool {
    let code = line.split('"').step_by(2).collect::<Vec<_>>().join(" ");
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && (word.ends_with(':') || !ident(after))
    })
}

/// The names of the transport: the gRPC crates and the generated messages.
const TRANSPORT: &[&str] = &["tonic", "prost", "pb::"];

/// The modules that use the storage.
const ABOVE_STORAGE: &[&str] = &["crate::grpc", "crate::desk", "crate::server", "crate::cli"];

/// Checks that no code under `prefix` names any word of `forbidden`.
#[track_caller]
fn assert_names_none_of(prefix: &str, forbidden: &[&[&str]]) {
    let found = offences(prefix, &forbidden.concat());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_domain_does_no_io_and_knows_no_transport_storage_or_clock() {
    assert_names_none_of(
        "src/domain/",
        &[
            TRANSPORT,
            &["sled", "tokio", "crate::storage", "crate::clock"],
            ABOVE_STORAGE,
            &["std::fs", "std::net", "SystemTime::now", "Instant::now"],
        ],
    );
}

/// Checks that only code under one of `allowed` names any of `words`.
#[track_caller]
fn assert_named_only_under(allowed: &[&str], words: &[&str]) {
    let found: Vec<_> = offences("src/", words)
        .into_iter()
        .filter(|o| !allowed.iter().any(|a| o.starts_with(a)))
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_storage_knows_sled() {
    assert_named_only_under(&["src/storage/"], &["sled"]);
}

/// The PostgreSQL client and its pool: the PostgreSQL store's own, not
/// even the rest of the storage's.
#[test]
fn only_the_postgres_store_knows_the_postgres_crates() {
    assert_named_only_under(
        &["src/storage/postgres/"],
        &["tokio_postgres", "deadpool_postgres"],
    );
}

#[test]
fn only_the_server_wiring_knows_the_metrics_crate() {
    assert_named_only_under(&["src/server/metrics"], &["prometheus_client", "axum"]);
}

#[test]
fn the_storage_knows_neither_protobuf_nor_the_layers_above_it() {
    assert_names_none_of("src/storage/", &[TRANSPORT, ABOVE_STORAGE]);
}

#[test]
fn the_desk_knows_neither_protobuf_nor_sled() {
    assert_names_none_of(
        "src/desk",
        &[TRANSPORT, &["sled", "crate::grpc", "crate::server"]],
    );
}

/// Protobuf messages are made and read in `src/grpc`, by the client
/// commands and by the test server's client; the server's wiring names the
/// generated service to serve it.
#[test]
fn protobuf_messages_are_known_only_to_the_transport_and_the_client_commands() {
    let allowed = [
        "src/grpc/",
        "src/cli/",
        "src/server",
        "src/testing.rs",
        "src/lib.rs",
    ];
    assert_named_only_under(&allowed, &["pb::", "prost"]);
}

/// The commands on a data directory (`audit verify`, `token new`) are not
/// clients of the API.
#[test]
fn the_offline_commands_know_no_protobuf() {
    let found = offences("src/cli/mod.rs", &["pb::", "prost", "tonic"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_check_finds_what_it_looks_for() {
    assert!(names("use sled::Tree;", "sled"));
    assert!(names("let t: sled::Db = x;", "sled"));
    assert!(!names("let sledge = 1;", "sled"));
    assert!(!names(r#"println!("sled");"#, "sled"));
    assert!(names("use crate::storage::Store;", "crate::storage"));
    assert!(names("x = pb::Claim::default();", "pb::"));
    assert!(!offences("src/storage/", &["sled"]).is_empty());
    assert!(names("use deadpool_postgres::Pool;", "deadpool_postgres"));
    assert!(!offences("src/storage/postgres/", &["tokio_postgres"]).is_empty());
}
