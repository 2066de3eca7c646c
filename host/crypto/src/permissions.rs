//! What a key's bytes may do besides being used: leave the host.
//!
//! A key's [`Permissions`] are fixed when it is made and travel with it
//! (inside its sealed blob). They only widen: [`Permissions::with`] gives
//! a new set, and a key handle given a permission is a new handle
//! (`SoftwareKey::permit`); nothing takes one away.

use std::fmt;

use super::{unknown, CryptoError};

/// One permission, named as `keys.wit` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `export`: the key's bytes may leave through `export` and `wrap-for`.
    Export,
    /// `plaintext-backup`: through `backup`.
    PlaintextBackup,
}

impl Permission {
    /// Every permission, in `keys.wit`'s order.
    pub const ALL: [Self; 2] = [Self::Export, Self::PlaintextBackup];

    /// Its `keys.wit` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::PlaintextBackup => "plaintext-backup",
        }
    }

    /// The permission `name` names; an unknown one is an error naming it.
    pub fn from_name(name: &str) -> Result<Self, CryptoError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| unknown("key permission", name, Self::ALL.map(Self::name)))
    }

    /// Its bit in [`Permissions::bits`].
    fn bit(self) -> u8 {
        match self {
            Self::Export => 1,
            Self::PlaintextBackup => 2,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Permission`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u8);

impl Permissions {
    /// No permission: the key's bytes never leave the host.
    pub const NONE: Self = Self(0);

    /// Parses `keys.wit`'s list of names (repeats allowed); the first
    /// unknown name is an error naming it.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, CryptoError> {
        names.iter().try_fold(Self::NONE, |set, name| {
            Permission::from_name(name.as_ref()).map(|p| set.with(p))
        })
    }

    /// Whether `permission` is in the set.
    pub fn allows(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// The set with `permission` added.
    #[must_use]
    pub fn with(self, permission: Permission) -> Self {
        Self(self.0 | permission.bit())
    }

    /// The names of the permissions in the set, in `keys.wit`'s order.
    pub fn names(self) -> Vec<&'static str> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.allows(*p))
            .map(Permission::name)
            .collect()
    }

    /// The set as one byte (bit 0 `export`, bit 1 `plaintext-backup`), as
    /// a sealed blob keeps it.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// The set [`Permissions::bits`] wrote; none if a bit is unknown.
    pub(crate) fn from_bits(bits: u8) -> Option<Self> {
        let all = Permission::ALL.into_iter().fold(0, |b, p| b | p.bit());
        (bits & !all == 0).then_some(Self(bits))
    }
}

impl From<Permission> for Permissions {
    fn from(permission: Permission) -> Self {
        Self::NONE.with(permission)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parse_print_and_widen() {
        let none = Permissions::parse::<&str>(&[]).unwrap();
        assert_eq!(none, Permissions::NONE);
        assert!(!none.allows(Permission::Export));
        assert!(none.names().is_empty());

        let export = Permissions::parse(&["export", "export"]).unwrap();
        assert!(export.allows(Permission::Export));
        assert!(!export.allows(Permission::PlaintextBackup));
        assert_eq!(export.names(), ["export"]);

        let both = export.with(Permission::PlaintextBackup);
        assert_eq!(both.names(), ["export", "plaintext-backup"]);
        assert_eq!(
            Permissions::parse(&["plaintext-backup", "export"]).unwrap(),
            both
        );
        // Widening is idempotent and never narrows.
        assert_eq!(both.with(Permission::Export), both);
        assert_eq!(export, Permissions::from(Permission::Export));
    }

    #[test]
    fn an_unknown_permission_is_an_error_naming_it() {
        let err = Permissions::parse(&["export", "Export"]).unwrap_err();
        assert_eq!(
            err.message(),
            "unknown key permission `Export`: expected one of export, plaintext-backup"
        );
        assert!(Permissions::parse(&[""]).is_err());
        assert!(Permissions::parse(&["backup"]).is_err());
    }

    #[test]
    fn bits_round_trip_and_unknown_bits_are_refused() {
        for bits in 0..=3u8 {
            assert_eq!(Permissions::from_bits(bits).unwrap().bits(), bits);
        }
        for bits in 4..=255u8 {
            assert_eq!(Permissions::from_bits(bits), None, "{bits}");
        }
    }
}
