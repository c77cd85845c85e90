//! Commands of the `claimdesk` binary other than `serve`: `audit verify`
//! and `token new` here, and the client commands, which call a running
//! server: `claim`, `queue`, `conflicts`, `events`, `health` (and `demo`,
//! which runs the desk through a short story, and `bench`, which measures a
//! server).
//!
//! The client commands share their options (`connect`: server, caller,
//! TLS; `output`: for people or JSON), their errors and exit statuses
//! (`error`) and their printing (`output`).

pub mod backup;
pub mod bench;
pub mod claim;
pub mod claimreview;
pub mod conflicts;
pub mod connect;
pub mod demo;
pub mod error;
pub mod events;
pub mod health;
pub mod inputs;
pub mod output;
pub mod queue;

use std::{path::Path, process::ExitCode};

use error::ClientError;

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

/// Runs a client command on a runtime of its own (one thread); prints its
/// error, if any, on one line of stderr and exits with the status of its
/// kind.
pub(crate) fn run(command: impl Future<Output = Result<(), ClientError>>) -> ExitCode {
    run_on(tokio::runtime::Builder::new_current_thread(), command)
}

/// [`run`] on a runtime with a worker thread per core, for commands that
/// make many calls at once (`bench`).
pub(crate) fn run_multi_threaded(
    command: impl Future<Output = Result<(), ClientError>>,
) -> ExitCode {
    run_on(tokio::runtime::Builder::new_multi_thread(), command)
}

fn run_on(
    mut builder: tokio::runtime::Builder,
    command: impl Future<Output = Result<(), ClientError>>,
) -> ExitCode {
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("claimdesk: cannot start the async runtime: {e}");
            return error::Exit::Other.into();
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A reader that went away (`| head`) needs no message.
            let reader_gone = matches!(&e, ClientError::Output(io)
                if io.kind() == std::io::ErrorKind::BrokenPipe);
            if !reader_gone {
                eprintln!("claimdesk: {e}");
            }
            e.exit().into()
        }
    }
}
