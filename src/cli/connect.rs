//! How the client commands reach the server: [`ConnectArgs`], shared by
//! every one of them, and [`ConnectArgs::connect`]: plaintext for an
//! `http://` server, TLS for `https://` (trusting `--ca-cert`, or the
//! system's roots without it), with a client certificate for mutual TLS,
//! and on every call the caller: `authorization: Bearer …` with a token,
//! `x-claimdesk-user` for a server without tokens.

use std::{path::PathBuf, time::Duration};

use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri},
};
use tonic_health::pb::health_client::HealthClient;

use super::error::ClientError;
use crate::{
    grpc::identity::USER_HEADER,
    pb::claim_service_client::ClaimServiceClient,
    tls::{PemFile, PemFileRole, error_chain},
};

/// How to reach the server and who is calling; shared by every client
/// command.
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
    /// Who you are to a server without a tokens file (open mode), sent as
    /// `x-claimdesk-user`; such a server calls you `anonymous` without it.
    /// A server with tokens knows you by your token and ignores it.
    #[arg(long, env = "CLAIMDESK_USER", value_name = "NAME", global = true)]
    pub user: Option<String>,
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

/// The client of the claim service, naming the caller on every call.
pub type Client = ClaimServiceClient<InterceptedService<Channel, Caller>>;
/// The client of the standard health service.
pub type Health = HealthClient<InterceptedService<Channel, Caller>>;

/// How long connecting (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call may take, connection included (for a stream: until its
/// first answer).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often an idle connection is checked with an HTTP/2 PING, so that a
/// watch notices a server that went away without closing it.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer accepted (a server sends at most 16 MiB by default).
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// A connection to the server.
#[derive(Clone)]
pub struct Connection {
    channel: InterceptedService<Channel, Caller>,
    /// The server as given, for messages.
    pub server: String,
}

impl Connection {
    /// The claim service over this connection.
    pub fn claims(&self) -> Client {
        ClaimServiceClient::new(self.channel.clone()).max_decoding_message_size(MAX_ANSWER_BYTES)
    }

    /// The health service over this connection.
    pub fn health(&self) -> Health {
        HealthClient::new(self.channel.clone())
    }
}

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
            .timeout(CALL_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT);
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

    /// The token and the user as metadata, checked.
    fn caller(&self) -> Result<Caller, ClientError> {
        let authorization = match &self.token {
            None => None,
            Some(token) => {
                let mut value = visible_ascii(&format!("Bearer {token}"))
                    .filter(|_| !token.is_empty() && !token.contains(' '))
                    .ok_or_else(|| {
                        ClientError::Usage(
                            "--token must be visible ASCII characters, no spaces".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let user = match &self.user {
            None => None,
            Some(user) => Some(
                visible_ascii(user)
                    .filter(|_| !user.is_empty() && !user.contains(' '))
                    .ok_or_else(|| {
                        ClientError::Usage(format!(
                            "--user {user:?} must be visible ASCII characters, no spaces"
                        ))
                    })?,
            ),
        };
        Ok(Caller {
            authorization,
            user,
        })
    }

    /// Connects to the server.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let caller = self.caller()?;
        let endpoint = self.endpoint()?;
        if caller.authorization.is_some() && endpoint.uri().scheme_str() == Some("http") {
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
        Ok(Connection {
            channel: InterceptedService::new(channel, caller),
            server: self.server.clone(),
        })
    }
}

/// `text` as metadata if it is visible ASCII with spaces.
fn visible_ascii(text: &str) -> Option<AsciiMetadataValue> {
    let printable = text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    MetadataValue::try_from(text).ok().filter(|_| printable)
}

/// Names the caller on every call: `authorization: Bearer <token>` with a
/// token, `x-claimdesk-user` with a user (nothing without either).
#[derive(Clone)]
pub struct Caller {
    authorization: Option<AsciiMetadataValue>,
    user: Option<AsciiMetadataValue>,
}

impl Interceptor for Caller {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        if let Some(value) = &self.user {
            request.metadata_mut().insert(USER_HEADER, value.clone());
        }
        Ok(request)
    }
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
        let mut caller = connect_args(&["--token", "s3cret-Token_1"])
            .caller()
            .expect("a valid token");
        let request = caller.call(Request::new(())).expect("intercepted");
        let value = request
            .metadata()
            .get("authorization")
            .expect("authorization metadata");
        assert_eq!(value, "Bearer s3cret-Token_1");
        assert!(value.is_sensitive());

        let mut none = connect_args(&[]).caller().expect("no token");
        let request = none.call(Request::new(())).expect("intercepted");
        assert!(request.metadata().get("authorization").is_none());
        assert!(request.metadata().get(USER_HEADER).is_none());

        for bad in ["", "line\nbreak", "caf\u{e9}", "two words"] {
            let error = connect_args(&["--token", bad])
                .caller()
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(matches!(error, ClientError::Usage(_)), "{error:?}");
            assert!(!error.to_string().contains(bad) || bad.is_empty());
        }
    }

    #[test]
    fn the_user_is_sent_as_the_open_mode_metadata() {
        let mut caller = connect_args(&["--user", "kim.checker"])
            .caller()
            .expect("a valid user");
        let request = caller.call(Request::new(())).expect("intercepted");
        assert_eq!(
            request.metadata().get(USER_HEADER).expect("user metadata"),
            "kim.checker"
        );
        assert!(request.metadata().get("authorization").is_none());
        for bad in ["", "kim\nchecker", "k\u{e9}m", "kim checker"] {
            let error = connect_args(&["--user", bad])
                .caller()
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(matches!(error, ClientError::Usage(_)), "{error:?}");
        }
    }
}
