//! Who is calling. The one place that decides it, so authentication can
//! replace it without touching the handlers.

use tonic::Request;

use crate::{
    domain::{Invalid, UserName},
    error::Error,
};

/// Request metadata naming the caller.
pub const USER_HEADER: &str = "x-claimdesk-user";
/// The caller's name when the metadata is absent.
pub const ANONYMOUS: &str = "anonymous";

/// The caller of `request`: the `x-claimdesk-user` metadata, or
/// `anonymous` without it.
pub fn caller<T>(request: &Request<T>) -> Result<UserName, Error> {
    let Some(value) = request.metadata().get(USER_HEADER) else {
        return Ok(UserName::parse(ANONYMOUS).expect("the anonymous name is valid"));
    };
    let raw = value
        .to_str()
        .map_err(|_| Error::invalid(USER_HEADER, "must be printable ASCII"))?;
    UserName::parse(raw).map_err(|Invalid(d)| Error::invalid(USER_HEADER, d))
}
