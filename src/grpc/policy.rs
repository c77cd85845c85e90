//! Who may call what, deny by default: [`POLICY`] has one entry per RPC the
//! server offers, naming the least role it needs; [`Policy::admit`] checks
//! it before any handler runs (the server calls it for every call). A method without an entry is refused, so a new
//! RPC is unreachable until it is given one (and a test fails until then).
//!
//! The rules that depend on the claim itself (withdrawing another's claim,
//! releasing another checker's) are the domain's: see
//! [`crate::domain::Claim::apply`].

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tonic::{Code, Status, body::Body};
use tracing::Span;

use super::{
    identity::{Authentication, Refused, Unauthenticated},
    status::{ROLE_REQUIRED, status, truncated},
};
use crate::domain::Role;

/// What a method asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, without a token: health checks (load balancers, probes) and
    /// reflection (the API's shape is public).
    Anyone,
    /// An authenticated caller whose role includes this one.
    Role(Role),
}

const SERVICE: &str = "/claimdesk.v1.ClaimService/";

/// The policy: every method of the server, by path, and what it needs.
pub const POLICY: &[(&str, Requirement)] = {
    use Requirement::{Anyone, Role as R};
    use Role::{Checker, Chief, Editor};
    &[
        // Reading: editors and up.
        ("/claimdesk.v1.ClaimService/GetClaim", R(Editor)),
        ("/claimdesk.v1.ClaimService/ListClaims", R(Editor)),
        ("/claimdesk.v1.ClaimService/ListClaimEvents", R(Editor)),
        ("/claimdesk.v1.ClaimService/GetQueueStats", R(Editor)),
        ("/claimdesk.v1.ClaimService/WatchClaimEvents", R(Editor)),
        ("/claimdesk.v1.ClaimService/ListConflicts", R(Editor)),
        ("/claimdesk.v1.ClaimService/BackupDesk", R(Chief)),
        // Submitting and sourcing: editors and up.
        ("/claimdesk.v1.ClaimService/SubmitClaim", R(Editor)),
        ("/claimdesk.v1.ClaimService/AddEvidence", R(Editor)),
        // Editors withdraw only what they submitted (the domain checks).
        ("/claimdesk.v1.ClaimService/WithdrawClaim", R(Editor)),
        // Reviewing: checkers and up.
        ("/claimdesk.v1.ClaimService/TakeNextClaim", R(Checker)),
        ("/claimdesk.v1.ClaimService/StartReview", R(Checker)),
        // Relating claims, and confirming or rejecting suggestions.
        ("/claimdesk.v1.ClaimService/LinkClaims", R(Checker)),
        ("/claimdesk.v1.ClaimService/ResolveLink", R(Checker)),
        // Only the assignee, or a chief (the domain checks).
        ("/claimdesk.v1.ClaimService/ReleaseClaim", R(Checker)),
        ("/claimdesk.v1.ClaimService/RenewLease", R(Checker)),
        ("/claimdesk.v1.ClaimService/VerifyClaim", R(Checker)),
        ("/claimdesk.v1.ClaimService/DisputeClaim", R(Checker)),
        (
            "/claimdesk.v1.ClaimService/MarkClaimInconclusive",
            R(Checker),
        ),
        // Overruling: chiefs.
        ("/claimdesk.v1.ClaimService/ReopenClaim", R(Chief)),
        ("/claimdesk.v1.ClaimService/ReassignClaim", R(Chief)),
        // Infrastructure.
        ("/grpc.health.v1.Health/Check", Anyone),
        ("/grpc.health.v1.Health/Watch", Anyone),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Anyone,
        ),
        (
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            Anyone,
        ),
    ]
};

/// [`POLICY`] by path.
#[derive(Debug)]
pub struct Policy {
    by_path: HashMap<&'static str, Requirement>,
    authentication: Authentication,
    /// Calls refused since start as not authenticated, by
    /// [`Unauthenticated::ALL`].
    unauthenticated: [AtomicU64; Unauthenticated::ALL.len()],
}

impl Policy {
    pub fn new(authentication: Authentication) -> Arc<Self> {
        Arc::new(Self {
            by_path: POLICY.iter().copied().collect(),
            authentication,
            unauthenticated: Default::default(),
        })
    }

    /// How the server knows its callers.
    pub fn authentication(&self) -> &Authentication {
        &self.authentication
    }

    /// Calls refused since start as not authenticated, by reason (the
    /// `ErrorInfo` reason of the refusal), every reason listed.
    pub fn authentication_failures(&self) -> Vec<(&'static str, u64)> {
        Unauthenticated::ALL
            .iter()
            .zip(&self.unauthenticated)
            .map(|(why, count)| (why.reason(), count.load(Ordering::Relaxed)))
            .collect()
    }

    /// What the method at `path` needs; `None`: it has no entry.
    pub fn requirement(&self, path: &str) -> Option<Requirement> {
        self.by_path.get(path).copied()
    }

    /// Lets the call through, with its caller's [`crate::domain::Actor`]
    /// in its extensions and a span naming them to run it in (`None` for
    /// methods open to anyone), or says why not. The server calls this for
    /// every call before its handler, without reading the request.
    pub fn admit(&self, request: &mut http::Request<Body>) -> Result<Option<Span>, Status> {
        let path = request.uri().path();
        let needed = match self.requirement(path) {
            Some(Requirement::Anyone) => return Ok(None),
            Some(Requirement::Role(role)) => role,
            None => return Err(no_policy(path)),
        };
        let (actor, credential) = match self.authentication.authenticate(request.headers()) {
            Ok(authenticated) => authenticated,
            Err(Refused::Unauthenticated(why)) => {
                self.unauthenticated[why as usize].fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    method = path,
                    reason = why.reason(),
                    "call refused: not authenticated"
                );
                return Err(unauthenticated(why));
            }
            Err(Refused::Invalid(error)) => return Err(error.into()),
        };
        if !actor.role.includes(needed) {
            tracing::info!(
                method = path,
                user = actor.name.as_str(),
                role = actor.role.as_str(),
                needed = needed.as_str(),
                "call refused: role"
            );
            return Err(role_required(path, needed));
        }
        // The handler's logs name the caller (never the token).
        let span = tracing::info_span!(
            "caller",
            user = actor.name.as_str(),
            role = actor.role.as_str()
        );
        request.extensions_mut().insert(actor);
        if let Some(credential) = credential {
            request.extensions_mut().insert(credential);
        }
        Ok(Some(span))
    }
}

fn unauthenticated(why: Unauthenticated) -> Status {
    status(Code::Unauthenticated, why.reason(), why.to_string(), &[])
}

fn role_required(path: &str, role: Role) -> Status {
    let method = path.strip_prefix(SERVICE).unwrap_or(path);
    status(
        Code::PermissionDenied,
        ROLE_REQUIRED,
        format!("{method} needs the role {role} or above"),
        &[
            ("role", role.as_str().to_owned()),
            ("method", method.to_owned()),
        ],
    )
}

fn no_policy(path: &str) -> Status {
    // Any path a client makes up comes here, as long as its headers allow:
    // only its beginning goes to the log and back.
    let path = truncated(path, MAX_UNKNOWN_PATH_BYTES);
    tracing::warn!(
        method = %path,
        "call refused: the method has no access policy"
    );
    status(
        Code::PermissionDenied,
        "NO_POLICY",
        format!("{path} has no access policy on this server; refused"),
        &[("method", path.into_owned())],
    )
}

/// Most bytes of an unknown method's path logged and sent back.
const MAX_UNKNOWN_PATH_BYTES: usize = 128;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tonic_types::StatusExt;

    use super::*;
    use crate::grpc;

    #[test]
    fn every_method_of_the_server_has_exactly_one_policy_entry() {
        let served: HashSet<String> = grpc::served_methods().into_iter().map(|m| m.path).collect();
        let mut listed = HashSet::new();
        for (path, _) in POLICY {
            assert!(listed.insert(*path), "{path} is listed twice");
            assert!(
                served.contains(*path),
                "{path} is not a method of the server"
            );
        }
        for path in &served {
            assert!(
                listed.contains(path.as_str()),
                "{path} has no access policy: add it to POLICY"
            );
        }
    }

    #[test]
    fn the_claim_service_needs_a_role_for_every_method_and_only_infrastructure_is_open() {
        for (path, requirement) in POLICY {
            if path.starts_with(SERVICE) {
                assert!(matches!(requirement, Requirement::Role(_)), "{path}");
            } else {
                assert_eq!(*requirement, Requirement::Anyone, "{path}");
            }
        }
    }

    #[test]
    fn a_method_without_an_entry_is_refused_before_authentication() {
        let policy = Policy::new(Authentication::Open);
        let mut request = http::Request::builder()
            .uri("/claimdesk.v1.ClaimService/DeleteEverything")
            .body(Body::empty())
            .expect("a request");
        let status = policy.admit(&mut request).expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(
            status
                .get_error_details()
                .error_info()
                .map(|i| i.reason.as_str()),
            Some("NO_POLICY")
        );
    }

    #[test]
    fn an_unknown_method_is_named_back_only_in_part() {
        let policy = Policy::new(Authentication::Open);
        let path = format!("/claimdesk.v1.ClaimService/{}", "A".repeat(10_000));
        let mut request = http::Request::builder()
            .uri(path.as_str())
            .body(Body::empty())
            .expect("a request");
        let status = policy.admit(&mut request).expect_err("refused");
        assert!(status.message().len() < 256, "{}", status.message());
        let details = status.get_error_details();
        let method = &details.error_info().expect("an ErrorInfo").metadata["method"];
        assert!(method.len() <= MAX_UNKNOWN_PATH_BYTES, "{method}");
        assert!(path.starts_with(method.trim_end_matches('…')));
    }
}
