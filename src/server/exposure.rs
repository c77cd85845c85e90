//! The open-mode guard: without tokens, callers are not authenticated, so
//! `serve` listens only on loopback unless the operator says otherwise.

use std::net::SocketAddr;

use super::StartError;

/// Who can reach a server on a given address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Only this host (127.0.0.0/8, ::1).
    Loopback,
    /// Other hosts too; callers authenticate with tokens.
    Network,
    /// Other hosts too, and the operator allowed unauthenticated callers.
    NetworkAnonymous,
}

/// Whether `serve` may listen on `listen`. With tokens (`authenticated`),
/// any address. Without, callers are not authenticated (anyone may name
/// any user in `x-claimdesk-user`), so only a loopback address is allowed,
/// unless `allow_anonymous` says that serving unknown callers on the
/// network is intended.
pub fn exposure(
    listen: SocketAddr,
    authenticated: bool,
    allow_anonymous: bool,
) -> Result<Exposure, StartError> {
    // `::ffff:127.0.0.1` is loopback too.
    if listen.ip().to_canonical().is_loopback() {
        Ok(Exposure::Loopback)
    } else if authenticated {
        Ok(Exposure::Network)
    } else if allow_anonymous {
        Ok(Exposure::NetworkAnonymous)
    } else {
        Err(StartError::AnonymousOnNetwork { addr: listen })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("a socket address")
    }

    #[test]
    fn loopback_addresses_are_served_without_allow_anonymous() {
        for listen in [
            "127.0.0.1:50051",
            "127.0.0.1:0",
            "127.1.2.3:50051",
            "[::1]:50051",
            "[::ffff:127.0.0.1]:50051",
        ] {
            for (authenticated, allow_anonymous) in
                [(false, false), (false, true), (true, false), (true, true)]
            {
                assert_eq!(
                    exposure(addr(listen), authenticated, allow_anonymous).expect(listen),
                    Exposure::Loopback,
                    "{listen}"
                );
            }
        }
    }

    #[test]
    fn network_addresses_are_refused_without_allow_anonymous_naming_the_address_and_flag() {
        for listen in [
            "0.0.0.0:50051",
            "0.0.0.0:0",
            "[::]:50051",
            "192.168.1.20:50051",
            "10.0.0.7:50051",
            "[2001:db8::1]:50051",
            "[::ffff:10.0.0.7]:50051",
            "128.0.0.1:50051",
        ] {
            let error = exposure(addr(listen), false, false).expect_err(listen);
            assert!(
                matches!(error, StartError::AnonymousOnNetwork { addr: a } if a == addr(listen)),
                "{listen}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(listen), "{message}");
            assert!(message.contains("--allow-anonymous"), "{message}");
            assert!(message.contains("not authenticated"), "{message}");
            assert!(message.contains("--tokens-file"), "{message}");
        }
    }

    #[test]
    fn network_addresses_are_served_with_tokens_or_allow_anonymous() {
        for listen in ["0.0.0.0:50051", "[::]:0", "192.168.1.20:50051"] {
            assert_eq!(
                exposure(addr(listen), false, true).expect(listen),
                Exposure::NetworkAnonymous,
                "{listen}"
            );
            for allow_anonymous in [false, true] {
                assert_eq!(
                    exposure(addr(listen), true, allow_anonymous).expect(listen),
                    Exposure::Network,
                    "{listen}"
                );
            }
        }
    }
}
