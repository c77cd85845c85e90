//! Who may act: the roles of the newsroom and the person behind a change.
//!
//! Which role each operation needs at least is decided where operations are
//! named (the API's policy table); the rules that depend on the claim itself
//! (an editor withdraws only what they submitted, only a chief releases or
//! reassigns another checker's claim) live in [`Claim::apply`].
//!
//! [`Claim::apply`]: super::Claim::apply

use std::{fmt, str::FromStr};

use super::fields::{Invalid, UserName};

/// A role, each including everything the one before it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Submits claims, adds evidence, withdraws their own claims, reads
    /// everything.
    Editor,
    /// An editor who also reviews: takes, releases and rules on claims.
    Checker,
    /// A checker who also reopens rulings, withdraws any claim, and
    /// releases or reassigns another checker's claim.
    Chief,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Editor, Role::Checker, Role::Chief];

    /// Whether this role may do what `needed` may.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::Checker => "checker",
            Role::Chief => "chief",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| Invalid("must be one of editor, checker, chief".to_owned()))
    }
}

/// The person (or the service itself) behind a change, with their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: UserName,
    pub role: Role,
}

impl Actor {
    pub fn new(name: UserName, role: Role) -> Self {
        Self { name, role }
    }

    /// The service itself (expiring leases): it may do anything the rules
    /// let the system do.
    pub fn system() -> Self {
        Self::new(UserName::system(), Role::Chief)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_before_it_and_not_the_ones_after() {
        assert!(Role::Editor.includes(Role::Editor));
        assert!(!Role::Editor.includes(Role::Checker));
        assert!(!Role::Editor.includes(Role::Chief));
        assert!(Role::Checker.includes(Role::Editor));
        assert!(Role::Checker.includes(Role::Checker));
        assert!(!Role::Checker.includes(Role::Chief));
        for role in Role::ALL {
            assert!(Role::Chief.includes(role));
        }
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        for raw in ["", "Editor", "admin", " chief", "checkers"] {
            assert!(raw.parse::<Role>().is_err(), "{raw:?}");
        }
    }
}
