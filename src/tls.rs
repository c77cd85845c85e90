//! TLS of `claimdesk serve`: the server's certificate and key, and for
//! mutual TLS the CA whose certificates clients must present.
//!
//! Files are read and checked when the server starts ([`TlsArgs::load`],
//! [`TlsConfig::load`]): a missing, unreadable or malformed file, or a key
//! that does not belong to the certificate, stops `serve` with an error
//! naming the file, rather than failing every handshake later. The TLS
//! itself is tonic's (rustls with the `ring` provider); a handshake that
//! fails (no client certificate, one from another CA, a plaintext client)
//! ends that connection only.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use rustls::{
    RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The TLS flags of `claimdesk serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Certificate chain of the server (PEM, the server's certificate
    /// first). With --tls-key, the server speaks only TLS.
    #[arg(long, env = "CLAIMDESK_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of the server's certificate (PEM: PKCS#8, PKCS#1 or
    /// SEC1).
    #[arg(long, env = "CLAIMDESK_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that clients' certificates must be signed by:
    /// mutual TLS. Clients without such a certificate are refused at the
    /// handshake. Needs --tls-cert and --tls-key.
    #[arg(long, env = "CLAIMDESK_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS configuration the flags ask for: `None` for plaintext, or the
    /// files read and checked.
    pub fn load(&self) -> Result<Option<TlsConfig>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) if self.tls_client_ca.is_some() => Err(TlsError::ClientCaWithoutTls),
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsError::Incomplete {
                given: "--tls-cert (CLAIMDESK_TLS_CERT)",
                missing: "--tls-key (CLAIMDESK_TLS_KEY)",
            }),
            (None, Some(_)) => Err(TlsError::Incomplete {
                given: "--tls-key (CLAIMDESK_TLS_KEY)",
                missing: "--tls-cert (CLAIMDESK_TLS_CERT)",
            }),
            (Some(cert), Some(key)) => {
                TlsConfig::load(cert, key, self.tls_client_ca.as_deref()).map(Some)
            }
        }
    }
}

/// A checked TLS configuration of the server: hand it to
/// [`crate::server::Server::tls`].
#[derive(Clone)]
pub struct TlsConfig {
    server: ServerTlsConfig,
    /// Where the certificate came from, for the start-up log.
    cert: String,
    /// Where the client CA came from, if clients must present certificates.
    client_ca: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert", &self.cert)
            .field("client_ca", &self.client_ca)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// How long a client may take to complete the TLS handshake; then the
    /// connection is closed, so silent connections do not pile up.
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Reads and checks the PEM files: the server's certificate chain, its
    /// private key and, for mutual TLS, the CA certificates clients'
    /// certificates must be signed by.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsError> {
        let cert = PemFile::read(PemFileRole::ServerCert, cert)?;
        let key = PemFile::read(PemFileRole::ServerKey, key)?;
        let client_ca = client_ca
            .map(|path| PemFile::read(PemFileRole::ClientCa, path))
            .transpose()?;
        Self::new(&cert, &key, client_ca.as_ref())
    }

    /// As [`TlsConfig::load`], from PEM text in memory.
    pub fn from_pem(cert: &[u8], key: &[u8], client_ca: Option<&[u8]>) -> Result<Self, TlsError> {
        let in_memory = |role, pem: &[u8]| PemFile {
            role,
            name: "(in memory)".to_owned(),
            pem: pem.to_vec(),
        };
        Self::new(
            &in_memory(PemFileRole::ServerCert, cert),
            &in_memory(PemFileRole::ServerKey, key),
            client_ca
                .map(|pem| in_memory(PemFileRole::ClientCa, pem))
                .as_ref(),
        )
    }

    fn new(cert: &PemFile, key: &PemFile, client_ca: Option<&PemFile>) -> Result<Self, TlsError> {
        cert.certificates()?;
        key.private_key()?;
        let mut server = ServerTlsConfig::new()
            .identity(Identity::from_pem(&cert.pem, &key.pem))
            .timeout(Self::HANDSHAKE_TIMEOUT);
        if let Some(ca) = client_ca {
            ca.trust_anchors()?;
            server = server.client_ca_root(Certificate::from_pem(&ca.pem));
        }
        // What the server will do with it at start: building the acceptor
        // checks that the key belongs to the certificate and that rustls
        // takes both.
        tonic::transport::Server::builder()
            .tls_config(server.clone())
            .map_err(|e| TlsError::Rejected {
                cert: cert.name.clone(),
                key: key.name.clone(),
                reason: error_chain(&e),
            })?;
        Ok(Self {
            server,
            cert: cert.name.clone(),
            client_ca: client_ca.map(|ca| ca.name.clone()),
        })
    }

    /// Whether clients must present a certificate signed by the client CA.
    pub fn is_mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    /// The configuration for tonic's server.
    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        self.server.clone()
    }

    /// Logs at start whether the server speaks TLS, and whether clients
    /// must present certificates.
    pub(crate) fn log_mode(tls: Option<&Self>) {
        match tls {
            None => tracing::info!("TLS off: plaintext HTTP/2"),
            Some(Self {
                cert,
                client_ca: None,
                ..
            }) => tracing::info!(
                cert = cert.as_str(),
                "TLS on; clients are not asked for certificates"
            ),
            Some(Self {
                cert,
                client_ca: Some(client_ca),
                ..
            }) => tracing::info!(
                cert = cert.as_str(),
                client_ca = client_ca.as_str(),
                "mutual TLS on: clients must present a certificate signed by the client CA"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{given} was given without {missing}: TLS needs both the certificate and its key")]
    Incomplete {
        given: &'static str,
        missing: &'static str,
    },
    #[error(
        "--tls-client-ca (CLAIMDESK_TLS_CLIENT_CA) needs --tls-cert and --tls-key: client \
         certificates are checked only over TLS"
    )]
    ClientCaWithoutTls,
    #[error("cannot read {role} {path}: {source}")]
    Read {
        role: PemFileRole,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{role} {name} is not usable: {reason}")]
    Invalid {
        role: PemFileRole,
        name: String,
        reason: String,
    },
    #[error("the TLS certificate {cert} and key {key} are refused: {reason}")]
    Rejected {
        cert: String,
        key: String,
        reason: String,
    },
}

/// What a PEM file is for, as error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemFileRole {
    ServerCert,
    ServerKey,
    ClientCa,
    CaCert,
    ClientCert,
    ClientKey,
}

impl fmt::Display for PemFileRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerCert => "the TLS certificate (--tls-cert)",
            Self::ServerKey => "the TLS key (--tls-key)",
            Self::ClientCa => "the client CA (--tls-client-ca)",
            Self::CaCert => "the CA certificate (--ca-cert)",
            Self::ClientCert => "the client certificate (--client-cert)",
            Self::ClientKey => "the client key (--client-key)",
        })
    }
}

/// The text of a PEM file and what it is for.
pub(crate) struct PemFile {
    role: PemFileRole,
    /// The path, for messages.
    name: String,
    pub(crate) pem: Vec<u8>,
}

impl PemFile {
    pub(crate) fn read(role: PemFileRole, path: &Path) -> Result<Self, TlsError> {
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            role,
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            role,
            name: path.display().to_string(),
            pem,
        })
    }

    fn invalid(&self, reason: impl Into<String>) -> TlsError {
        TlsError::Invalid {
            role: self.role,
            name: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// The certificates of the file, at least one.
    pub(crate) fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&self.pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.invalid(format!("bad PEM: {e}")))?;
        if certs.is_empty() {
            return Err(self.invalid("no PEM CERTIFICATE in it"));
        }
        Ok(certs)
    }

    /// Checks that the file holds a private key.
    pub(crate) fn private_key(&self) -> Result<(), TlsError> {
        PrivateKeyDer::from_pem_slice(&self.pem)
            .map(drop)
            .map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    self.invalid("no PEM PRIVATE KEY (PKCS#8, PKCS#1 or SEC1) in it")
                }
                e => self.invalid(format!("bad PEM: {e}")),
            })
    }

    /// Checks that every certificate of the file can be trusted as a CA.
    pub(crate) fn trust_anchors(&self) -> Result<(), TlsError> {
        let mut roots = RootCertStore::empty();
        for (i, cert) in self.certificates()?.into_iter().enumerate() {
            roots.add(cert).map_err(|e| {
                self.invalid(format!("certificate {} is not a usable CA: {e}", i + 1))
            })?;
        }
        Ok(())
    }
}

/// An error and its causes, `: `-separated (tonic's transport errors say
/// little on their own).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    use super::*;

    struct Pki {
        ca: String,
        cert: String,
        key: String,
    }

    fn pki() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA");
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca)
            .expect("server certificate");
        Pki {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    }

    fn args(cert: Option<&Path>, key: Option<&Path>, client_ca: Option<&Path>) -> TlsArgs {
        TlsArgs {
            tls_cert: cert.map(Path::to_owned),
            tls_key: key.map(Path::to_owned),
            tls_client_ca: client_ca.map(Path::to_owned),
        }
    }

    #[test]
    fn no_flags_means_plaintext() {
        assert!(TlsArgs::default().load().expect("no flags").is_none());
    }

    #[test]
    fn a_certificate_without_its_key_or_a_key_without_its_certificate_is_refused() {
        let file = Path::new("/nonexistent/server.pem");
        let message = args(Some(file), None, None)
            .load()
            .expect_err("a certificate alone")
            .to_string();
        assert!(message.starts_with("--tls-cert"), "{message}");
        assert!(message.contains("without --tls-key"), "{message}");
        let message = args(None, Some(file), None)
            .load()
            .expect_err("a key alone")
            .to_string();
        assert!(message.starts_with("--tls-key"), "{message}");
        assert!(message.contains("without --tls-cert"), "{message}");
        let error = args(None, None, Some(file))
            .load()
            .expect_err("a client CA alone");
        assert!(
            matches!(error, TlsError::ClientCaWithoutTls),
            "{error:?}: {error}"
        );
    }

    #[test]
    fn good_files_load_with_and_without_a_client_ca() {
        let pki = pki();
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = write(dir.path(), "server.pem", &pki.cert);
        let key = write(dir.path(), "server.key", &pki.key);
        let ca = write(dir.path(), "ca.pem", &pki.ca);

        let tls = args(Some(&cert), Some(&key), None)
            .load()
            .expect("TLS loads")
            .expect("TLS on");
        assert!(!tls.is_mutual());
        let mtls = args(Some(&cert), Some(&key), Some(&ca))
            .load()
            .expect("mutual TLS loads")
            .expect("TLS on");
        assert!(mtls.is_mutual());
        assert_eq!(
            mtls.client_ca.as_deref(),
            Some(ca.display().to_string().as_str())
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let pki = pki();
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = write(dir.path(), "server.pem", &pki.cert);
        let missing = dir.path().join("nowhere.key");
        let message = TlsConfig::load(&cert, &missing, None)
            .expect_err("no key file")
            .to_string();
        assert!(message.contains("--tls-key"), "{message}");
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn files_of_the_wrong_kind_or_broken_pem_are_named_with_the_reason() {
        let pki = pki();
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = write(dir.path(), "server.pem", &pki.cert);
        let key = write(dir.path(), "server.key", &pki.key);
        let ca = write(dir.path(), "ca.pem", &pki.ca);
        let truncated = write(dir.path(), "truncated.pem", &pki.cert[..pki.cert.len() / 2]);
        let garbage = write(
            dir.path(),
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        );

        let cases: [(&Path, &Path, Option<&Path>, &Path, &str); 5] = [
            // The key given as the certificate and the other way round.
            (&key, &key, None, &key, "no PEM CERTIFICATE"),
            (&cert, &cert, None, &cert, "no PEM PRIVATE KEY"),
            (&truncated, &key, None, &truncated, "bad PEM"),
            (&cert, &key, Some(&key), &key, "no PEM CERTIFICATE"),
            (&cert, &key, Some(&garbage), &garbage, "not a usable CA"),
        ];
        for (cert, key, client_ca, named, reason) in cases {
            let error = TlsConfig::load(cert, key, client_ca).expect_err(reason);
            let message = error.to_string();
            assert!(matches!(error, TlsError::Invalid { .. }), "{error:?}");
            assert!(
                message.contains(&named.display().to_string()),
                "{message} names {}",
                named.display()
            );
            assert!(message.contains(reason), "{message}: {reason}");
        }
        // The CA file is not the certificate.
        assert!(TlsConfig::load(&cert, &key, Some(&ca)).is_ok());
    }

    #[test]
    fn a_key_that_does_not_belong_to_the_certificate_is_refused() {
        let pki = pki();
        let other = KeyPair::generate().expect("another key").serialize_pem();
        let error = TlsConfig::from_pem(pki.cert.as_bytes(), other.as_bytes(), None)
            .expect_err("a mismatched key");
        assert!(matches!(error, TlsError::Rejected { .. }), "{error:?}");
        let message = error.to_string().to_lowercase();
        assert!(message.contains("key"), "{message}");
        assert!(message.contains("match"), "{message}");
    }
}
