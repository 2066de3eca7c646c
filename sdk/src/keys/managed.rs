//! A managed key as a request named it, for an engine to store beside
//! what uses it: `managed_key_name` or `managed_key_id`, the two forms
//! Vault's engines take. The host opens either (and checks the mount may
//! use the key); an engine cannot learn the other form, so it keeps the
//! one it was given.

use serde::{Deserialize, Serialize};

use super::Key;
use crate::Error;

/// A managed key (`sys/managed-keys`) by name or by id (see the module's
/// doc). Serialized as `{"name": ...}` or `{"id": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedRef {
    /// `managed_key_name`.
    Name(String),
    /// `managed_key_id`.
    Id(String),
}

impl ManagedRef {
    /// The reference a request's `managed_key_name` and `managed_key_id`
    /// give (the name first; blank values are not given); none if neither.
    pub fn from_fields(name: Option<&str>, id: Option<&str>) -> Option<Self> {
        let given = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        given(name)
            .map(ManagedRef::Name)
            .or_else(|| given(id).map(ManagedRef::Id))
    }

    /// Opens the key ([`Key::managed`]).
    pub fn open(&self) -> Result<Key, Error> {
        Key::managed(self.value())
    }

    /// The field it came from (`managed_key_name` or `managed_key_id`), to
    /// show it back under.
    pub fn field(&self) -> &'static str {
        match self {
            ManagedRef::Name(_) => "managed_key_name",
            ManagedRef::Id(_) => "managed_key_id",
        }
    }

    /// The name or id.
    pub fn value(&self) -> &str {
        match self {
            ManagedRef::Name(v) | ManagedRef::Id(v) => v,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_name_comes_first_and_blanks_are_not_given() {
        assert_eq!(
            ManagedRef::from_fields(Some(" hsm "), Some("1234")),
            Some(ManagedRef::Name("hsm".into()))
        );
        assert_eq!(
            ManagedRef::from_fields(Some(""), Some("1234")),
            Some(ManagedRef::Id("1234".into()))
        );
        assert_eq!(ManagedRef::from_fields(None, Some("  ")), None);
        let r = ManagedRef::Id("u".into());
        assert_eq!((r.field(), r.value()), ("managed_key_id", "u"));
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"id":"u"}"#);
        // Natively there are no managed keys: the host's 403.
        assert!(r.open().is_err());
    }
}
