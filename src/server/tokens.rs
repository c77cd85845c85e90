//! How `serve` knows its callers: the tokens file, loaded at start and
//! re-read on SIGHUP.

use std::path::PathBuf;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::StartError;
use crate::{auth::Tokens, grpc::identity::Authentication};

/// Loads the tokens file, if one is given, and re-reads it on each SIGHUP
/// from then on; without one, callers are not authenticated
/// ([`Authentication::Open`]) and a SIGHUP is only logged. Call it from
/// within a Tokio runtime, before serving.
pub fn authentication(tokens_file: Option<PathBuf>) -> Result<Authentication, StartError> {
    let tokens = tokens_file.map(Tokens::load).transpose()?;
    // Installed before serving: SIGHUP's default action ends the process.
    let hangups = signal(SignalKind::hangup()).map_err(StartError::Hangup)?;
    tokio::spawn(reload_on_hangup(hangups, tokens.clone()));
    Ok(tokens.map_or(Authentication::Open, Authentication::Tokens))
}

/// Re-reads the tokens file on each SIGHUP. A file that fails to load
/// (one listing no tokens without saying `allow_no_tokens = true` among
/// them) is reported and the tokens in force stay.
async fn reload_on_hangup(mut hangups: Signal, tokens: Option<Tokens>) {
    while hangups.recv().await.is_some() {
        let Some(tokens) = &tokens else {
            tracing::info!("SIGHUP received; no tokens file to reload (open mode)");
            continue;
        };
        let path = tokens.path().display().to_string();
        let reloading = tokens.clone();
        match tokio::task::spawn_blocking(move || reloading.reload()).await {
            Ok(Ok(0)) => tracing::warn!(
                tokens_file = path,
                tokens = 0,
                "tokens reloaded: none (allow_no_tokens), every call needing a token is refused"
            ),
            Ok(Ok(count)) => tracing::info!(tokens_file = path, tokens = count, "tokens reloaded"),
            Ok(Err(e)) => tracing::error!(
                tokens_file = path,
                "tokens not reloaded, the tokens in force stay: {e}"
            ),
            Err(e) => tracing::error!(tokens_file = path, "tokens not reloaded: {e}"),
        }
    }
}
