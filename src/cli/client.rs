//! Client commands of `claimdesk`: `claim get` and `queue stats`, calling a
//! running server.
//!
//! Every client command takes the same connection options,
//! [`ConnectArgs`], and connects with [`ConnectArgs::connect`]: plaintext
//! for an `http://` server, TLS for `https://` (trusting `--ca-cert`, or the
//! system's roots without it), with a client certificate for mutual TLS,
//! and an API token sent as `authorization: Bearer …` on every call.
//!
//! Answers are printed to stdout as JSON (field names as in the protos,
//! enums by name, times in RFC 3339). Exit status: 0 on success, 1 when the
//! server answered with an error (the gRPC code, message and `ErrorInfo`
//! reason go to stderr), 2 when the call could not be made or got no
//! answer: bad options or files, no connection, or a connection refused or
//! broken during the call (e.g. a client certificate refused at the TLS
//! handshake, which TLS 1.3 reports only after the client's side of it).
//!
//! Over 600 lines only with its unit tests (the code is about 500).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use serde_json::{Value, json};
use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri},
};
use tonic_types::StatusExt;

use crate::{
    pb::{self, claim_service_client::ClaimServiceClient},
    tls::{PemFile, PemFileRole, TlsError, error_chain},
};

/// How to reach the server; shared by every client command.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Server to call: `http://HOST:PORT`, or `https://HOST:PORT` for TLS.
    #[arg(
        long,
        env = "CLAIMDESK_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL",
        global = true
    )]
    pub server: String,
    /// API token, sent as `authorization: Bearer TOKEN` with every call.
    #[arg(
        long,
        env = "CLAIMDESK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    pub token: Option<String>,
    /// CA certificates (PEM) to trust for the server's certificate, instead
    /// of the system's roots. https only.
    #[arg(long, env = "CLAIMDESK_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one (mutual TLS);
    /// with --client-key. https only.
    #[arg(
        long,
        env = "CLAIMDESK_CLIENT_CERT",
        value_name = "FILE",
        global = true
    )]
    pub client_cert: Option<PathBuf>,
    /// Private key of the client certificate (PEM).
    #[arg(long, env = "CLAIMDESK_CLIENT_KEY", value_name = "FILE", global = true)]
    pub client_key: Option<PathBuf>,
    /// Name the server's certificate must be valid for, instead of the host
    /// of --server. https only.
    #[arg(
        long,
        env = "CLAIMDESK_TLS_SERVER_NAME",
        value_name = "NAME",
        global = true
    )]
    pub tls_server_name: Option<String>,
}

/// The client of the claim service, with the token on every call.
pub type Client = ClaimServiceClient<InterceptedService<Channel, Bearer>>;

/// How long connecting (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl ConnectArgs {
    /// The endpoint these options describe. Reads the PEM files; no
    /// network.
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let uri: Uri = self
            .server
            .parse()
            .map_err(|e| ClientError::Usage(format!("--server {:?}: {e}", self.server)))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(ClientError::Usage(format!(
                    "--server {:?} must start with http:// or https://",
                    self.server
                )));
            }
        };
        if uri.host().is_none() {
            return Err(ClientError::Usage(format!(
                "--server {:?} names no host",
                self.server
            )));
        }
        let endpoint = Endpoint::from(uri)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        if !tls {
            let given = [
                ("--ca-cert", self.ca_cert.is_some()),
                ("--client-cert", self.client_cert.is_some()),
                ("--client-key", self.client_key.is_some()),
                ("--tls-server-name", self.tls_server_name.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
                return Err(ClientError::Usage(format!(
                    "{flag} is for TLS, but --server {} is plaintext: use https://",
                    self.server
                )));
            }
            return Ok(endpoint);
        }
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_cert {
            Some(path) => {
                let ca = PemFile::read(PemFileRole::CaCert, path)?;
                ca.trust_anchors()?;
                config.ca_certificate(Certificate::from_pem(&ca.pem))
            }
            None => config.with_native_roots(),
        };
        match (&self.client_cert, &self.client_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                let cert = PemFile::read(PemFileRole::ClientCert, cert)?;
                cert.certificates()?;
                let key = PemFile::read(PemFileRole::ClientKey, key)?;
                key.private_key()?;
                config = config.identity(Identity::from_pem(&cert.pem, &key.pem));
            }
            (Some(_), None) => {
                return Err(ClientError::Usage(
                    "--client-cert was given without --client-key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ClientError::Usage(
                    "--client-key was given without --client-cert".into(),
                ));
            }
        }
        if let Some(name) = &self.tls_server_name {
            config = config.domain_name(name);
        }
        endpoint.tls_config(config).map_err(|e| {
            let roots = if self.ca_cert.is_none() {
                " (without --ca-cert, the system's CA certificates are trusted)"
            } else {
                ""
            };
            ClientError::Usage(format!("cannot set up TLS{roots}: {}", error_chain(&e)))
        })
    }

    /// The token as metadata, checked.
    fn bearer(&self) -> Result<Bearer, ClientError> {
        let Some(token) = &self.token else {
            return Ok(Bearer(None));
        };
        // Visible ASCII, as a bearer token is (RFC 6750 allows less).
        let usable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
        let mut value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {token}"))
            .ok()
            .filter(|_| usable)
            .ok_or_else(|| {
                ClientError::Usage("--token must be visible ASCII characters, no spaces".into())
            })?;
        value.set_sensitive(true);
        Ok(Bearer(Some(value)))
    }

    /// Connects to the server.
    pub async fn connect(&self) -> Result<Client, ClientError> {
        let bearer = self.bearer()?;
        let endpoint = self.endpoint()?;
        if bearer.0.is_some() && endpoint.uri().scheme_str() == Some("http") {
            let host = endpoint.uri().host().unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                eprintln!(
                    "claimdesk: warning: the token goes to {} unencrypted; use https://",
                    self.server
                );
            }
        }
        let channel = endpoint.connect().await.map_err(|e| ClientError::Connect {
            server: self.server.clone(),
            reason: error_chain(&e),
        })?;
        Ok(ClaimServiceClient::with_interceptor(channel, bearer))
    }
}

/// Adds `authorization: Bearer <token>` to every call (nothing without a
/// token).
#[derive(Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    /// The connection failed during the call (refused at the TLS
    /// handshake, reset): whether the server acted on it is unknown.
    #[error("{method}: no answer from {server}: {reason}")]
    NoAnswer {
        method: &'static str,
        server: String,
        reason: String,
    },
    #[error("{method} failed: {}", describe_status(.status))]
    Call {
        method: &'static str,
        status: Box<Status>,
    },
}

impl ClientError {
    /// The error of `method` on `server` failing with `status`.
    pub fn call(method: &'static str, server: &str) -> impl FnOnce(Status) -> Self {
        move |status| match std::error::Error::source(&status) {
            // Not an answer of the server but of the connection under the
            // call.
            Some(source) if source.is::<tonic::transport::Error>() => Self::NoAnswer {
                method,
                server: server.to_owned(),
                reason: error_chain(source),
            },
            _ => Self::Call {
                method,
                status: Box::new(status),
            },
        }
    }

    /// The exit status for this error: 1 if the server answered with an
    /// error, 2 if the call could not be made or got no answer.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Call { .. } => ExitCode::from(1),
            Self::Usage(_) | Self::Tls(_) | Self::Connect { .. } | Self::NoAnswer { .. } => {
                ExitCode::from(2)
            }
        }
    }
}

/// `CODE: message`, then the `ErrorInfo` reason and metadata, and the causes
/// of a transport failure, one per line.
fn describe_status(status: &Status) -> String {
    let mut text = format!("{}: {}", code_name(status.code()), status.message());
    if let Some(info) = status.get_error_details().error_info() {
        text.push_str(&format!("\n  reason: {}", info.reason));
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        for (key, value) in metadata {
            text.push_str(&format!("\n  {key}: {value}"));
        }
    }
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(&format!("\n  cause: {}", error_chain(source)));
    }
    text
}

/// The canonical name of a gRPC code, as in the gRPC docs and grpcurl.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

// ---------------------------------------------------------------------------
// Commands.

/// `claimdesk claim …`
#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: ClaimCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClaimCommand {
    /// Print a claim as JSON.
    Get {
        /// The claim: `claims/{id}`, or just the id.
        name: String,
    },
}

/// `claimdesk queue …`
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// Print the queue's statistics (GetQueueStats) as JSON.
    Stats {
        /// Only claims of this story.
        #[arg(long)]
        story: Option<String>,
    },
}

/// Runs `claimdesk claim …`.
pub fn claim(args: ClaimArgs) -> ExitCode {
    run(async move {
        let mut client = args.connect.connect().await?;
        match args.command {
            ClaimCommand::Get { name } => {
                let name = if name.contains('/') {
                    name
                } else {
                    format!("claims/{name}")
                };
                let claim = client
                    .get_claim(pb::GetClaimRequest { name })
                    .await
                    .map_err(ClientError::call("GetClaim", &args.connect.server))?
                    .into_inner();
                Ok(claim_json(&claim))
            }
        }
    })
}

/// Runs `claimdesk queue …`.
pub fn queue(args: QueueArgs) -> ExitCode {
    run(async move {
        let mut client = args.connect.connect().await?;
        match args.command {
            QueueCommand::Stats { story } => {
                let stats = client
                    .get_queue_stats(pb::GetQueueStatsRequest {
                        story: story.unwrap_or_default(),
                    })
                    .await
                    .map_err(ClientError::call("GetQueueStats", &args.connect.server))?
                    .into_inner();
                Ok(queue_stats_json(&stats))
            }
        }
    })
}

/// Runs a command on a runtime of its own; prints its answer to stdout or
/// its error to stderr.
pub(crate) fn run(command: impl Future<Output = Result<Value, ClientError>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("claimdesk: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(command) {
        Ok(answer) => {
            let text = serde_json::to_string_pretty(&answer).expect("JSON values serialise");
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("claimdesk: {e}");
            e.exit_code()
        }
    }
}

// ---------------------------------------------------------------------------
// JSON.

/// An enum field by name, or its number if this build does not know it.
fn enum_name<E: TryFrom<i32>>(value: i32, name: impl Fn(E) -> &'static str) -> Value {
    E::try_from(value).map_or(json!(value), |e| json!(name(e)))
}

fn timestamp(t: Option<&prost_types::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_string()))
}

/// The claim as printed by `claim get`.
pub fn claim_json(claim: &pb::Claim) -> Value {
    let state = |s: pb::claim::State| s.as_str_name();
    let priority = |p: pb::claim::Priority| p.as_str_name();
    let stance = |s: pb::evidence::Stance| s.as_str_name();
    json!({
        "name": claim.name,
        "statement": claim.statement,
        "attribution": claim.attribution.as_ref().map(|a| json!({
            "source": a.source,
            "relayed_from": a.relayed_from,
            "url": a.url,
        })),
        "story": claim.story,
        "tags": claim.tags,
        "priority": enum_name(claim.priority, priority),
        "deadline": timestamp(claim.deadline.as_ref()),
        "state": enum_name(claim.state, state),
        "label": claim.label,
        "assignee": claim.assignee,
        "lease_expire_time": timestamp(claim.lease_expire_time.as_ref()),
        "submitted_by": claim.submitted_by,
        "verdict_note": claim.verdict_note,
        "evidence_count": claim.evidence.len(),
        "evidence": claim.evidence.iter().map(|e| json!({
            "id": e.id,
            "source": e.source,
            "stance": enum_name(e.stance, stance),
            "url": e.url,
            "summary": e.summary,
            "added_by": e.added_by,
            "add_time": timestamp(e.add_time.as_ref()),
        })).collect::<Vec<_>>(),
        "create_time": timestamp(claim.create_time.as_ref()),
        "update_time": timestamp(claim.update_time.as_ref()),
        "etag": claim.etag,
    })
}

/// The queue statistics as printed by `queue stats`.
pub fn queue_stats_json(stats: &pb::QueueStats) -> Value {
    let state = |s: pb::claim::State| s.as_str_name();
    let priority = |p: pb::claim::Priority| p.as_str_name();
    json!({
        "story": stats.story,
        "state_counts": stats.state_counts.iter().map(|c| json!({
            "state": enum_name(c.state, state),
            "count": c.count,
        })).collect::<Vec<_>>(),
        "waiting_counts": stats.waiting_counts.iter().map(|c| json!({
            "priority": enum_name(c.priority, priority),
            "count": c.count,
        })).collect::<Vec<_>>(),
        "oldest_waiting_age": stats.oldest_waiting_age.as_ref().map(ToString::to_string),
        "oldest_waiting_submit_time": timestamp(stats.oldest_waiting_submit_time.as_ref()),
        "overdue_count": stats.overdue_count,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        connect: ConnectArgs,
    }

    fn connect_args(args: &[&str]) -> ConnectArgs {
        Cli::try_parse_from(std::iter::once("claimdesk").chain(args.iter().copied()))
            .expect("valid flags")
            .connect
    }

    fn usage_error(args: &[&str]) -> String {
        match connect_args(args).endpoint() {
            Err(ClientError::Usage(message)) => message,
            Err(e) => panic!("{args:?}: not a usage error: {e:?}"),
            Ok(_) => panic!("{args:?}: accepted"),
        }
    }

    #[test]
    fn the_server_must_be_an_http_or_https_url() {
        for server in ["127.0.0.1:50051", "ftp://127.0.0.1:50051", "http://"] {
            let message = usage_error(&["--server", server]);
            assert!(message.contains(server), "{message}");
        }
        assert!(
            connect_args(&["--server", "http://localhost:50051"])
                .endpoint()
                .is_ok()
        );
    }

    #[test]
    fn tls_options_with_a_plaintext_server_are_refused_by_name() {
        for flag in [
            "--ca-cert",
            "--client-cert",
            "--client-key",
            "--tls-server-name",
        ] {
            let message = usage_error(&["--server", "http://127.0.0.1:50051", flag, "x"]);
            assert!(message.starts_with(flag), "{message}");
            assert!(message.contains("https://"), "{message}");
        }
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_the_other_way_round() {
        let https = ["--server", "https://127.0.0.1:50051"];
        let message = usage_error(&[&https[..], &["--client-cert", "c.pem"]].concat());
        assert!(message.contains("without --client-key"), "{message}");
        let message = usage_error(&[&https[..], &["--client-key", "k.pem"]].concat());
        assert!(message.contains("without --client-cert"), "{message}");
    }

    #[test]
    fn an_unreadable_ca_file_is_named() {
        let error = connect_args(&[
            "--server",
            "https://127.0.0.1:50051",
            "--ca-cert",
            "/nonexistent/ca.pem",
        ])
        .endpoint()
        .expect_err("no such file");
        let message = error.to_string();
        assert!(matches!(error, ClientError::Tls(_)), "{error:?}");
        assert!(message.contains("/nonexistent/ca.pem"), "{message}");
        assert!(message.contains("--ca-cert"), "{message}");
    }

    #[test]
    fn the_token_is_sent_as_a_sensitive_bearer_authorization() {
        let mut bearer = connect_args(&["--token", "s3cret-Token_1"])
            .bearer()
            .expect("a valid token");
        let request = bearer.call(Request::new(())).expect("intercepted");
        let value = request
            .metadata()
            .get("authorization")
            .expect("authorization metadata");
        assert_eq!(value, "Bearer s3cret-Token_1");
        assert!(value.is_sensitive());

        let mut none = connect_args(&[]).bearer().expect("no token");
        let request = none.call(Request::new(())).expect("intercepted");
        assert!(request.metadata().get("authorization").is_none());

        for bad in ["", "line\nbreak", "caf\u{e9}"] {
            let error = connect_args(&["--token", bad])
                .bearer()
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(matches!(error, ClientError::Usage(_)), "{error:?}");
            assert!(!error.to_string().contains(bad) || bad.is_empty());
        }
    }

    #[test]
    fn a_claim_prints_with_names_for_enums_and_rfc_3339_times() {
        let claim = pb::Claim {
            name: "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            statement: "About 9,000 dock workers joined the strike".into(),
            attribution: Some(pb::Attribution {
                source: "Harbour Gazette".into(),
                relayed_from: vec!["union officials".into()],
                url: String::new(),
            }),
            story: "harbour-strike".into(),
            state: pb::claim::State::InReview.into(),
            priority: pb::claim::Priority::Urgent.into(),
            label: "unverified (per Harbour Gazette)".into(),
            assignee: "kim.checker".into(),
            evidence: vec![
                pb::Evidence {
                    source: "Port Authority".into(),
                    stance: pb::evidence::Stance::Supports.into(),
                    ..Default::default()
                },
                pb::Evidence::default(),
            ],
            create_time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            etag: "\"3\"".into(),
            ..Default::default()
        };
        let json = claim_json(&claim);
        assert_eq!(json["name"], claim.name);
        assert_eq!(json["statement"], claim.statement);
        assert_eq!(json["attribution"]["source"], "Harbour Gazette");
        assert_eq!(json["attribution"]["relayed_from"][0], "union officials");
        assert_eq!(json["story"], "harbour-strike");
        assert_eq!(json["state"], "STATE_IN_REVIEW");
        assert_eq!(json["priority"], "PRIORITY_URGENT");
        assert_eq!(json["label"], "unverified (per Harbour Gazette)");
        assert_eq!(json["assignee"], "kim.checker");
        assert_eq!(json["etag"], "\"3\"");
        assert_eq!(json["evidence_count"], 2);
        assert_eq!(json["evidence"][0]["stance"], "STANCE_SUPPORTS");
        assert_eq!(json["create_time"], "2027-01-15T08:00:00Z");
        assert_eq!(json["deadline"], Value::Null);

        let unknown = pb::Claim {
            state: 99,
            ..Default::default()
        };
        assert_eq!(claim_json(&unknown)["state"], 99);
    }

    #[test]
    fn queue_stats_print_counts_by_name_and_the_age_as_a_duration() {
        let stats = pb::QueueStats {
            story: "harbour-strike".into(),
            state_counts: vec![pb::queue_stats::StateCount {
                state: pb::claim::State::Unverified.into(),
                count: 3,
            }],
            waiting_counts: vec![pb::queue_stats::PriorityCount {
                priority: pb::claim::Priority::Breaking.into(),
                count: 1,
            }],
            oldest_waiting_age: Some(prost_types::Duration {
                seconds: 90,
                nanos: 500_000_000,
            }),
            oldest_waiting_submit_time: None,
            overdue_count: 2,
        };
        let json = queue_stats_json(&stats);
        assert_eq!(json["story"], "harbour-strike");
        assert_eq!(json["state_counts"][0]["state"], "STATE_UNVERIFIED");
        assert_eq!(json["state_counts"][0]["count"], 3);
        assert_eq!(json["waiting_counts"][0]["priority"], "PRIORITY_BREAKING");
        assert_eq!(json["oldest_waiting_age"], "90.500s");
        assert_eq!(json["oldest_waiting_submit_time"], Value::Null);
        assert_eq!(json["overdue_count"], 2);
    }

    #[test]
    fn a_failed_call_names_the_code_message_and_reason() {
        let status = Status::with_error_details(
            tonic::Code::NotFound,
            "no claim claims/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            tonic_types::ErrorDetails::with_error_info(
                "CLAIM_NOT_FOUND",
                "claimdesk.v1",
                [(
                    "name".to_owned(),
                    "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned(),
                )],
            ),
        );
        let error = ClientError::call("GetClaim", "http://127.0.0.1:50051")(status);
        let text = error.to_string();
        assert!(
            text.starts_with(
                "GetClaim failed: NOT_FOUND: no claim claims/01ARZ3NDEKTSV4RRFFQ69G5FAV"
            ),
            "{text}"
        );
        assert!(text.contains("\n  reason: CLAIM_NOT_FOUND"), "{text}");
        assert!(
            text.contains("\n  name: claims/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            "{text}"
        );
        assert_eq!(error.exit_code(), ExitCode::from(1));
        assert_eq!(
            ClientError::Usage(String::new()).exit_code(),
            ExitCode::from(2)
        );
    }
}
