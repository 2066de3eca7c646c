//! Vault's ACL policy language: parsing a policy (`parse.rs`) and answering
//! "which capabilities does this token have on that path" for the union of a
//! token's policies (`acl.rs`).
//!
//! A policy is a list of `path "<pattern>" { capabilities = [...] }` blocks,
//! in HCL or in JSON. A pattern is exact, or ends in `*` (a prefix glob),
//! and any of its segments may be `+` (exactly one path segment). For one
//! path, an exact pattern wins; otherwise the single most specific matching
//! pattern wins (see [`Acl`]); its capabilities, merged over every policy
//! that names that same pattern, are the answer.
//!
//! Coffer enforces capabilities only. A policy that asks for anything else
//! Vault can enforce (parameter constraints, wrapping TTLs, MFA, control
//! groups, expirations, identity templates) is refused when it is parsed,
//! because ignoring such a restriction would grant more than it says.
//!
//! This module is pure: no storage, no tokens, no HTTP.

mod acl;
#[cfg(test)]
mod fuzz;
mod parse;

use std::fmt;

pub use acl::Acl;

/// One capability of Vault's ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Write a path that does not exist yet (POST/PUT when the engine says
    /// it does not exist).
    Create,
    /// Read a path (GET).
    Read,
    /// Write a path that exists (POST/PUT).
    Update,
    /// Partially update a path (PATCH).
    Patch,
    /// Delete a path (DELETE).
    Delete,
    /// List a path (LIST).
    List,
    /// Call a root-protected path (see [`needs_sudo`]), on top of the
    /// operation's own capability.
    Sudo,
    /// Nothing: a pattern that has `deny` grants nothing, whatever else
    /// names it.
    Deny,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const EVERY: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The capability's name in policies and in `sys/capabilities-self`.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
        }
    }

    /// The capability a policy spells `name` (exactly, lower case), if any.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::EVERY.into_iter().find(|c| c.name() == name)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities.
///
/// Besides the eight capabilities it carries one private mark, "root": only
/// [`Capabilities::ALL`] (what [`Acl::root`] answers) has it, so that
/// [`Capabilities::names`] can say `["root"]` for the root policy while a
/// policy that happens to grant every capability still lists them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

/// The private "root" mark (see [`Capabilities`]).
const ROOT_BIT: u16 = 1 << 8;

impl Capabilities {
    /// No capability at all.
    pub const NONE: Self = Capabilities(0);

    /// What the `root` policy has: every capability except `deny`, `sudo`
    /// included.
    pub const ALL: Self = Capabilities(
        Capability::Create.bit()
            | Capability::Read.bit()
            | Capability::Update.bit()
            | Capability::Patch.bit()
            | Capability::Delete.bit()
            | Capability::List.bit()
            | Capability::Sudo.bit()
            | ROOT_BIT,
    );

    /// Just `deny`.
    pub const DENY: Self = Capabilities(Capability::Deny.bit());

    /// The names in `sys/capabilities-self`'s order (alphabetical), the
    /// order in which [`Capabilities::names`] lists them.
    const NAME_ORDER: [Capability; 7] = [
        Capability::Create,
        Capability::Delete,
        Capability::List,
        Capability::Patch,
        Capability::Read,
        Capability::Sudo,
        Capability::Update,
    ];

    /// This set with `c` added. Adding [`Capability::Deny`] keeps the
    /// other bits: [`Capabilities::allows`] looks at `deny` first.
    #[must_use]
    pub const fn with(self, c: Capability) -> Self {
        Capabilities(self.0 | c.bit())
    }

    /// Whether `c` is in the set (`deny` included).
    pub const fn contains(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    /// What both sets grant: each capability that both allow (a `deny` in
    /// either denies everything).
    #[must_use]
    pub const fn both(self, other: Self) -> Self {
        if self.contains(Capability::Deny) || other.contains(Capability::Deny) {
            return Self::DENY;
        }
        Capabilities(self.0 & other.0)
    }

    /// Whether the set grants `c`: it contains `c` and not `deny`.
    pub const fn allows(self, c: Capability) -> bool {
        self.contains(c) && !self.contains(Capability::Deny)
    }

    /// Whether the set grants nothing (empty, or `deny`).
    pub const fn is_denied(self) -> bool {
        self.contains(Capability::Deny) || self.0 & !ROOT_BIT == 0
    }

    /// Whether this is what the root policy has ([`Capabilities::ALL`]).
    pub const fn is_root(self) -> bool {
        self.0 & ROOT_BIT != 0 && !self.contains(Capability::Deny)
    }

    /// The names `sys/capabilities-self` answers with, as OpenBao does:
    /// `["root"]` for the root policy, `["deny"]` when the set has `deny` or
    /// grants nothing, and otherwise the granted names in alphabetical
    /// order (`create, delete, list, patch, read, sudo, update`).
    pub fn names(self) -> Vec<&'static str> {
        if self.is_root() {
            return vec!["root"];
        }
        if self.is_denied() {
            return vec![Capability::Deny.name()];
        }
        Self::NAME_ORDER
            .into_iter()
            .filter(|c| self.contains(*c))
            .map(Capability::name)
            .collect()
    }

    /// The union of two sets; if either has `deny`, just `deny` (how Vault
    /// merges two rules for the same pattern).
    #[must_use]
    pub const fn merge(self, other: Self) -> Self {
        Capabilities(self.0 | other.0).normalized()
    }

    /// `deny` alone if the set has `deny`, else the set.
    const fn normalized(self) -> Self {
        if self.contains(Capability::Deny) {
            Capabilities::DENY
        } else {
            self
        }
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Capabilities::NONE, Capabilities::with)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        if self.0 & ROOT_BIT != 0 {
            set.entry(&"root");
        }
        for c in Capability::EVERY {
            if self.contains(c) {
                set.entry(&c.name());
            }
        }
        set.finish()
    }
}

/// The largest policy text a client may write: 1 MiB, about 20,000 `path`
/// blocks of one capability each (Vault has no cap of its own besides the
/// request size). Parsing is linear, and a policy at the cap parses in
/// about 0.2 s in a release build; the cap keeps that bound. Stored
/// policies are not checked again when they are read.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// A parsed policy: its name, the text it was parsed from, and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    name: String,
    raw: String,
    rules: Vec<PathRule>,
}

impl Policy {
    /// Parses a policy's text (HCL, or JSON when it starts with `{`).
    ///
    /// The name is kept as given: checking it (and refusing to overwrite
    /// `root`) is the policy store's job.
    pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
        let rules = parse::parse(text)?;
        Ok(Policy {
            name: name.to_string(),
            raw: text.to_string(),
            rules,
        })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text the policy was parsed from, as given.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// One `path` block: a pattern and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PathRule {
    pattern: Pattern,
    capabilities: Capabilities,
}

/// A path pattern, leading `/` stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// The pattern as merged and compared: leading `/` stripped, trailing
    /// `*` kept.
    text: String,
    /// How it matches.
    kind: PatternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternKind {
    /// No `+` segment, no trailing `*`: the path must be equal.
    Exact,
    /// A trailing `*` and no `+` segment: the path must start with `prefix`.
    Prefix { prefix: String },
    /// At least one `+` segment (and perhaps a trailing `*`).
    Segments {
        /// The pattern without its trailing `*`, split at `/`; `None` is a
        /// `+`, which matches any one segment.
        parts: Vec<Option<String>>,
        /// Whether a trailing `*` was stripped: the last part is then a
        /// prefix of its segment, and further segments may follow.
        prefix: bool,
    },
}

/// Why a policy was refused. Its `Display` is the message for a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Where in the text, if known: (line, column), both from 1.
    position: Option<(usize, usize)>,
    message: String,
}

impl PolicyError {
    fn new(message: impl Into<String>) -> Self {
        PolicyError {
            position: None,
            message: message.into(),
        }
    }

    fn at(position: Option<(usize, usize)>, message: impl Into<String>) -> Self {
        PolicyError {
            position,
            message: message.into(),
        }
    }

    /// The line and column (both from 1) the error is about, if known.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed to parse policy: ")?;
        if let Some((line, column)) = self.position {
            write!(f, "line {line}, column {column}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Vault's `default` policy, trimmed to the paths Coffer serves. Every token
/// but root gets it unless it is created with `no_default_policy`.
pub const DEFAULT_POLICY: &str = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}
"#;

/// Root-protected paths: besides the operation's own capability, they need
/// `sudo`. `*` at the end is a prefix; otherwise the path must be equal.
///
/// OpenBao's list (the `sys` backend's and the token store's
/// `PathsSpecial.Root`, plus `sys/seal` and `sys/step-down`, which OpenBao
/// checks in their handlers), kept whole even where Coffer has no such
/// endpoint yet, so that a path added later is protected from its first
/// commit.
const SUDO_PATHS: &[&str] = &[
    "auth/token/accessors*",
    "auth/token/revoke-orphan",
    "auth/token/revoke-orphan/*",
    "sys/audit",
    "sys/audit/*",
    "sys/auth/*",
    "sys/config/auditing/*",
    "sys/config/cors",
    "sys/config/ui/headers/*",
    "sys/internal/inspect/*",
    "sys/leases",
    "sys/leases/lookup/*",
    "sys/leases/revoke-force/*",
    "sys/leases/revoke-prefix/*",
    "sys/plugins/catalog/*",
    "sys/raw",
    "sys/raw/*",
    "sys/remount",
    "sys/revoke-force/*",
    "sys/revoke-prefix/*",
    "sys/rotate",
    "sys/rotate/keyring",
    "sys/rotate/root",
    "sys/seal",
    "sys/step-down",
];

/// Whether `path` (no leading `/`) is root-protected: a token needs `sudo`
/// on it besides the operation's capability (root has both).
///
/// Matched as Vault's router does: the longest entry of the list that is a
/// prefix of the path decides; a `*` entry then matches, an exact one only
/// if it is the whole path.
pub fn needs_sudo(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    let mut best: Option<(&str, bool)> = None;
    for entry in SUDO_PATHS {
        let (key, is_prefix) = match entry.strip_suffix('*') {
            Some(key) => (key, true),
            None => (*entry, false),
        };
        if path.starts_with(key) && best.is_none_or(|(b, _)| key.len() > b.len()) {
            best = Some((key, is_prefix));
        }
    }
    match best {
        Some((_, true)) => true,
        Some((key, false)) => key == path,
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_as_openbao_sorts_them() {
        let caps: Capabilities = [
            Capability::Update,
            Capability::Sudo,
            Capability::Read,
            Capability::Patch,
            Capability::List,
            Capability::Delete,
            Capability::Create,
        ]
        .into_iter()
        .collect();
        assert_eq!(
            caps.names(),
            ["create", "delete", "list", "patch", "read", "sudo", "update"]
        );
        assert_eq!(
            Capabilities::NONE
                .with(Capability::Read)
                .with(Capability::List)
                .names(),
            ["list", "read"]
        );
    }

    #[test]
    fn names_say_deny_when_nothing_is_granted_and_root_for_root() {
        assert_eq!(Capabilities::NONE.names(), ["deny"]);
        assert_eq!(Capabilities::DENY.names(), ["deny"]);
        assert_eq!(
            Capabilities::NONE
                .with(Capability::Read)
                .with(Capability::Deny)
                .names(),
            ["deny"]
        );
        assert_eq!(Capabilities::ALL.names(), ["root"]);
    }

    #[test]
    fn every_capability_granted_by_a_policy_is_not_root() {
        let every: Capabilities = Capability::EVERY
            .into_iter()
            .filter(|c| *c != Capability::Deny)
            .collect();
        assert_ne!(every, Capabilities::ALL);
        assert!(!every.is_root());
        assert_eq!(every.names().len(), 7);
    }

    #[test]
    fn all_grants_everything_but_deny() {
        for c in Capability::EVERY {
            let expected = c != Capability::Deny;
            assert_eq!(Capabilities::ALL.contains(c), expected, "{c}");
            assert_eq!(Capabilities::ALL.allows(c), expected, "{c}");
            assert!(!Capabilities::NONE.contains(c));
        }
    }

    #[test]
    fn deny_in_a_set_allows_nothing() {
        let caps = Capabilities::NONE
            .with(Capability::Read)
            .with(Capability::Deny);
        assert!(caps.contains(Capability::Read));
        assert!(!caps.allows(Capability::Read));
        assert!(caps.is_denied());
    }

    #[test]
    fn merging_is_a_union_unless_one_side_denies() {
        let read = Capabilities::NONE.with(Capability::Read);
        let list = Capabilities::NONE.with(Capability::List);
        assert_eq!(read.merge(list), read.with(Capability::List));
        assert_eq!(read.merge(Capabilities::DENY), Capabilities::DENY);
        assert_eq!(Capabilities::DENY.merge(read), Capabilities::DENY);
    }

    #[test]
    fn capability_names_round_trip() {
        for c in Capability::EVERY {
            assert_eq!(Capability::from_name(c.name()), Some(c));
        }
        assert_eq!(Capability::from_name("READ"), None);
        assert_eq!(Capability::from_name("root"), None);
    }

    #[test]
    fn root_protected_paths_need_sudo() {
        for path in [
            "sys/audit",
            "sys/audit/file",
            "sys/rotate",
            "sys/seal",
            "sys/step-down",
            "sys/plugins/catalog/secret/kv",
            "sys/plugins/catalog/",
            "sys/remount",
            "sys/raw",
            "sys/raw/core/mounts",
            "sys/auth/userpass",
            "sys/leases/revoke-prefix/transit/",
            "sys/leases/revoke-force/x",
            "auth/token/accessors",
            "auth/token/accessors/",
            "auth/token/revoke-orphan",
            "/sys/seal",
        ] {
            assert!(needs_sudo(path), "{path}");
        }
    }

    #[test]
    fn other_paths_do_not_need_sudo() {
        for path in [
            "sys/mounts",
            "sys/mounts/transit",
            "sys/auth",
            "sys/audit-hash/file",
            "sys/plugins/catalog",
            "sys/rotate/other",
            "sys/seal-status",
            "sys/sealed",
            "sys/raw-ish",
            "sys/policies/acl/admin",
            "sys/capabilities-self",
            "auth/token/lookup-self",
            "auth/token/revoke-orphanage",
            "transit/keys/app",
            "",
        ] {
            assert!(!needs_sudo(path), "{path}");
        }
    }

    #[test]
    fn the_default_policy_parses() {
        let policy = Policy::parse("default", DEFAULT_POLICY).unwrap();
        assert_eq!(policy.name(), "default");
        assert_eq!(policy.raw(), DEFAULT_POLICY);
        let acl = Acl::new(&[std::sync::Arc::new(policy)]);
        assert_eq!(acl.capabilities("auth/token/lookup-self").names(), ["read"]);
        assert_eq!(
            acl.capabilities("sys/capabilities-self").names(),
            ["update"]
        );
        assert_eq!(acl.capabilities("sys/mounts").names(), ["deny"]);
    }
}
