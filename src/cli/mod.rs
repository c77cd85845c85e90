//! Commands of the `claimdesk` binary other than `serve`.

pub mod claimreview;
pub mod client;

use std::{path::Path, process::ExitCode};

use crate::{
    auth,
    domain::{Role, UserName},
    storage::{AuditReport, SledStore, StoreConfig},
};

/// `claimdesk audit verify`: walks the audit chain of the store in
/// `data_dir` and says whether it is intact. Exit status 0 if it is, 1 if a
/// link is broken, 2 if the store cannot be read. The store must not be in
/// use by a server (run it on a stopped server or on a copy).
pub fn audit_verify(data_dir: &Path) -> ExitCode {
    if !SledStore::holds_store(data_dir) {
        eprintln!("{} holds no claimdesk store", data_dir.display());
        return ExitCode::from(2);
    }
    let report = SledStore::open(&StoreConfig {
        cache_capacity: 64 * 1024 * 1024,
        ..StoreConfig::new(data_dir)
    })
    .and_then(|store| store.audit());
    match report {
        Ok(AuditReport::Intact { events }) => {
            println!("audit chain intact: all {events} events check out");
            ExitCode::SUCCESS
        }
        Ok(AuditReport::Broken { revision, reason }) => {
            println!("audit chain broken at revision {revision}: {reason}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("cannot read the store in {}: {e}", data_dir.display());
            ExitCode::from(2)
        }
    }
}

/// `claimdesk token new`: prints a fresh token for `user` as `role` on the
/// first line of standard output and, on the second, the line that gives it
/// to them in the tokens file; how to use them goes to standard error. Exit
/// status 0, or 2 if the name is invalid or the system has no randomness.
pub fn token_new(user: &str, role: Role) -> ExitCode {
    let user = match UserName::parse(user) {
        Ok(user) => user,
        Err(e) => {
            eprintln!("invalid --user {user:?}: {e}");
            return ExitCode::from(2);
        }
    };
    let token = match auth::new_token() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("cannot draw a random token: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{token}");
    println!("{}", auth::tokens_file_line(&token, &user, role));
    eprintln!(
        "Give the token (first line) to {user} and keep it nowhere else; add the second line \
         under [tokens] in the tokens file and send the server SIGHUP to load it."
    );
    ExitCode::SUCCESS
}
