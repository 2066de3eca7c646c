//! The union of a token's policies, and Vault's rule for which pattern
//! decides a path.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Capabilities, Pattern, PatternKind, Policy};

/// The union of a token's policies, ready to answer "may this path get that
/// capability".
///
/// Rules naming the same pattern, in one policy or several, are merged: the
/// union of their capabilities, or just `deny` if any of them denies. Then,
/// for a path:
///
/// 1. a pattern without `+` or a trailing `*` equal to the path decides;
/// 2. otherwise, of the matching patterns, the one with the highest
///    priority decides, priority being, in order: the first `+` or `*` comes
///    later; it does not end in `*`; it has fewer `+` segments; it is longer
///    (trailing `*` not counted); it is greater byte by byte;
/// 3. no match: no capability.
///
/// Only the deciding pattern counts: a `deny` on `secret/private/*` beats a
/// `read` on `secret/*` for `secret/private/x`, and a `read` on
/// `secret/private/x` (an exact pattern) beats that `deny` in turn.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    /// Patterns without `+` or trailing `*`, by path.
    exact: HashMap<String, Capabilities>,
    /// The other patterns, highest priority first.
    globs: Vec<Glob>,
}

#[derive(Debug, Clone)]
struct Glob {
    pattern: Pattern,
    capabilities: Capabilities,
}

impl Acl {
    /// The ACL of a token holding `policies` (never the root ACL, whatever
    /// the policies' names: that is [`Acl::root`]).
    pub fn new(policies: &[Arc<Policy>]) -> Acl {
        let mut merged: BTreeMap<&str, (&Pattern, Capabilities)> = BTreeMap::new();
        for rule in policies.iter().flat_map(|p| p.rules.iter()) {
            merged
                .entry(rule.pattern.text.as_str())
                .and_modify(|(_, caps)| *caps = caps.merge(rule.capabilities))
                .or_insert((&rule.pattern, rule.capabilities));
        }
        let mut acl = Acl::default();
        for (text, (pattern, capabilities)) in merged {
            match pattern.kind {
                PatternKind::Exact => {
                    acl.exact.insert(text.to_string(), capabilities);
                }
                PatternKind::Prefix { .. } | PatternKind::Segments { .. } => {
                    acl.globs.push(Glob {
                        pattern: pattern.clone(),
                        capabilities,
                    });
                }
            }
        }
        acl.globs
            .sort_by(|a, b| priority(&b.pattern).cmp(&priority(&a.pattern)));
        acl
    }

    /// The `root` policy's ACL: every capability on every path, `sudo`
    /// included.
    pub fn root() -> Acl {
        Acl {
            root: true,
            ..Acl::default()
        }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The capabilities on `path` (no leading `/`; any is ignored) for
    /// every operation but LIST: [`Capabilities::ALL`] for root, else what
    /// the deciding pattern grants, else [`Capabilities::NONE`].
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ALL;
        }
        let path = path.trim_start_matches('/');
        self.exact_rule(path)
            .or_else(|| self.glob_rule(path))
            .unwrap_or(Capabilities::NONE)
    }

    /// The capabilities on `path` as Vault computes them for a LIST request
    /// and for `sys/capabilities` and `sys/capabilities-self`: like
    /// [`Acl::capabilities`], except that a path ending in `/` is also
    /// decided by the patterns for the path without it (an exact pattern
    /// first, then the others, each only if nothing matched the path as
    /// given). Vault adds the `/` to a LIST request's path before it
    /// checks, so `path "secret/app" { capabilities = ["list"] }` and
    /// `path "secret/app/*" {...}` both allow `LIST secret/app`: a LIST
    /// handler should pass `secret/app/`; `sys/capabilities-self` passes the
    /// path as the client gave it.
    pub fn list_capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ALL;
        }
        let path = path.trim_start_matches('/');
        let trimmed = path.strip_suffix('/');
        self.exact_rule(path)
            .or_else(|| trimmed.and_then(|t| self.exact_rule(t)))
            .or_else(|| self.glob_rule(path))
            .or_else(|| trimmed.and_then(|t| self.glob_rule(t)))
            .unwrap_or(Capabilities::NONE)
    }

    fn exact_rule(&self, path: &str) -> Option<Capabilities> {
        self.exact.get(path).copied()
    }

    /// The highest-priority glob matching `path`.
    fn glob_rule(&self, path: &str) -> Option<Capabilities> {
        let segments: Vec<&str> = path.split('/').collect();
        self.globs
            .iter()
            .find(|glob| matches(&glob.pattern.kind, path, &segments))
            .map(|glob| glob.capabilities)
    }
}

/// Vault's order among non-exact patterns: greater is preferred.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Priority<'a> {
    /// Where the first `+` (or, for a plain glob, the `*`) is.
    first_wildcard: usize,
    /// Not ending in `*`.
    not_prefix: bool,
    /// Fewer `+` segments.
    fewer_wildcards: Reverse<usize>,
    /// The pattern without its trailing `*`: longer, then greater.
    length: usize,
    text: &'a str,
}

fn priority(pattern: &Pattern) -> Priority<'_> {
    let text = pattern.text.strip_suffix('*').unwrap_or(&pattern.text);
    let (first_wildcard, not_prefix, wildcards) = match &pattern.kind {
        PatternKind::Exact => (text.len(), true, 0),
        PatternKind::Prefix { prefix } => (prefix.len(), false, 0),
        PatternKind::Segments { parts, prefix } => (
            text.find('+').unwrap_or(text.len()),
            !prefix,
            parts.iter().filter(|p| p.is_none()).count(),
        ),
    };
    Priority {
        first_wildcard,
        not_prefix,
        fewer_wildcards: Reverse(wildcards),
        length: text.len(),
        text,
    }
}

/// Whether a non-exact pattern matches `path`, whose `/`-separated
/// segments are `segments`.
fn matches(kind: &PatternKind, path: &str, segments: &[&str]) -> bool {
    match kind {
        PatternKind::Exact => false,
        PatternKind::Prefix { prefix } => path.starts_with(prefix.as_str()),
        PatternKind::Segments { parts, prefix } => {
            if segments.len() < parts.len() || (!prefix && segments.len() != parts.len()) {
                return false;
            }
            let last = parts.len().saturating_sub(1);
            parts
                .iter()
                .zip(segments)
                .enumerate()
                .all(|(i, (part, segment))| match part {
                    None => true,
                    Some(literal) if literal == segment => true,
                    Some(literal) => *prefix && i == last && segment.starts_with(literal.as_str()),
                })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The ACL of policies given as text.
    fn acl(policies: &[&str]) -> Acl {
        let parsed: Vec<Arc<Policy>> = policies
            .iter()
            .enumerate()
            .map(|(i, text)| Arc::new(Policy::parse(&format!("p{i}"), text).unwrap()))
            .collect();
        Acl::new(&parsed)
    }

    /// The capability names `acl` gives `path` (non-LIST).
    fn names(acl: &Acl, path: &str) -> Vec<&'static str> {
        acl.capabilities(path).names()
    }

    #[test]
    fn an_exact_pattern_matches_only_its_path() {
        let acl = acl(&[r#"path "secret/foo" { capabilities = ["read"] }"#]);
        assert_eq!(names(&acl, "secret/foo"), ["read"]);
        for other in ["secret/food", "secret/foo/bar", "secret/fo", "secret", ""] {
            assert_eq!(names(&acl, other), ["deny"], "{other}");
        }
    }

    #[test]
    fn a_trailing_star_matches_every_path_with_that_prefix() {
        let acl = acl(&[r#"
path "secret/bar/*" { capabilities = ["read"] }
path "secret/zip-*" { capabilities = ["list"] }
"#]);
        assert_eq!(names(&acl, "secret/bar/zip"), ["read"]);
        assert_eq!(names(&acl, "secret/bar/zip/zap"), ["read"]);
        assert_eq!(names(&acl, "secret/bar/"), ["read"]);
        assert_eq!(names(&acl, "secret/bars/zip"), ["deny"]);
        assert_eq!(names(&acl, "secret/bar"), ["deny"]);
        assert_eq!(names(&acl, "secret/zip-zap"), ["list"]);
        assert_eq!(names(&acl, "secret/zip-zap/zong"), ["list"]);
        assert_eq!(names(&acl, "secret/zip/zap"), ["deny"]);
    }

    #[test]
    fn a_plus_matches_exactly_one_segment() {
        let acl = acl(&[r#"
path "secret/+/teamb" { capabilities = ["read"] }
path "secret/+/+/teamc" { capabilities = ["list"] }
"#]);
        assert_eq!(names(&acl, "secret/foo/teamb"), ["read"]);
        assert_eq!(names(&acl, "secret/bar/teamb"), ["read"]);
        assert_eq!(names(&acl, "secret/teamb"), ["deny"]);
        assert_eq!(names(&acl, "secret/foo/bar/teamb"), ["deny"]);
        assert_eq!(names(&acl, "secret/foo/teamb/x"), ["deny"]);
        assert_eq!(names(&acl, "secret/foo/bar/teamc"), ["list"]);
        assert_eq!(names(&acl, "secret/foo/teamc"), ["deny"]);
        // Even an empty one, as in OpenBao.
        assert_eq!(names(&acl, "secret//teamb"), ["read"]);
    }

    #[test]
    fn a_plus_pattern_may_end_in_a_prefix_glob() {
        let acl = acl(&[r#"
path "transit/+/app*" { capabilities = ["update"] }
path "kv/+/*" { capabilities = ["read"] }
"#]);
        assert_eq!(names(&acl, "transit/encrypt/app"), ["update"]);
        assert_eq!(names(&acl, "transit/encrypt/apple/v2"), ["update"]);
        assert_eq!(names(&acl, "transit/encrypt/ap"), ["deny"]);
        assert_eq!(names(&acl, "transit/app"), ["deny"]);
        assert_eq!(names(&acl, "kv/team/x"), ["read"]);
        assert_eq!(names(&acl, "kv/team/"), ["read"]);
        assert_eq!(names(&acl, "kv/team"), ["deny"]);
    }

    #[test]
    fn an_exact_match_beats_every_glob() {
        let acl = acl(&[r#"
path "secret/*" { capabilities = ["read", "list"] }
path "secret/+" { capabilities = ["update"] }
path "secret/locked" { capabilities = ["deny"] }
path "secret/open" { capabilities = ["create"] }
"#]);
        assert_eq!(names(&acl, "secret/locked"), ["deny"]);
        assert_eq!(names(&acl, "secret/open"), ["create"]);
        assert_eq!(names(&acl, "secret/other"), ["update"]);
    }

    #[test]
    fn rule_1_a_later_first_wildcard_wins() {
        let acl = acl(&[r#"
path "secret/*" { capabilities = ["read"] }
path "secret/foo/*" { capabilities = ["list"] }
path "secret/+/bar" { capabilities = ["update"] }
"#]);
        assert_eq!(names(&acl, "secret/x"), ["read"]);
        assert_eq!(names(&acl, "secret/foo/x"), ["list"]);
        // secret/foo/* (glob at 11) beats secret/+/bar (+ at 7).
        assert_eq!(names(&acl, "secret/foo/bar"), ["list"]);
        assert_eq!(names(&acl, "secret/baz/bar"), ["update"]);
        // OpenBao: t/a* (glob at 3) beats t/+ (+ at 2).
        let acl = super::tests::acl(&[r#"
path "t/a*" { capabilities = ["read"] }
path "t/+" { capabilities = ["update"] }
"#]);
        assert_eq!(names(&acl, "t/ab"), ["read"]);
        assert_eq!(names(&acl, "t/b"), ["update"]);
    }

    #[test]
    fn rule_2_not_ending_in_star_wins() {
        let acl = acl(&[r#"
path "secret/*" { capabilities = ["read"] }
path "secret/+/bar" { capabilities = ["update"] }
path "s/*" { capabilities = ["read"] }
path "s/+" { capabilities = ["list"] }
"#]);
        // Both wildcards at 7; secret/+/bar does not end in *.
        assert_eq!(names(&acl, "secret/foo/bar"), ["update"]);
        assert_eq!(names(&acl, "s/x"), ["list"]);
        assert_eq!(names(&acl, "s/x/y"), ["read"]);
    }

    #[test]
    fn rule_3_fewer_plus_segments_win() {
        let acl = acl(&[r#"
path "secret/+/bar/+" { capabilities = ["read"] }
path "secret/+/+/+" { capabilities = ["list"] }
path "secret/*" { capabilities = ["update"] }
path "secret/+/+/foo/*" { capabilities = ["delete"] }
"#]);
        assert_eq!(names(&acl, "secret/x/bar/y"), ["read"]);
        assert_eq!(names(&acl, "secret/x/baz/y"), ["list"]);
        // Vault's docs: secret/* beats secret/+/+/foo/* (same first
        // wildcard, both globs, zero + segments against two).
        assert_eq!(names(&acl, "secret/a/b/foo/c"), ["update"]);
    }

    #[test]
    fn rule_4_the_longer_pattern_wins() {
        let acl = acl(&[r#"
path "secret/+/bar/b*" { capabilities = ["read"] }
path "secret/+/bar/ba*" { capabilities = ["list"] }
"#]);
        assert_eq!(names(&acl, "secret/x/bar/baz"), ["list"]);
        assert_eq!(names(&acl, "secret/x/bar/bz"), ["read"]);
    }

    #[test]
    fn rule_5_the_greater_pattern_wins() {
        let acl = acl(&[r#"
path "a/+/c/+" { capabilities = ["read"] }
path "a/+/+/d" { capabilities = ["list"] }
"#]);
        // Same first +, neither a glob, two + each, same length: "a/+/c/+"
        // is greater than "a/+/+/d" ('c' > '+').
        assert_eq!(names(&acl, "a/b/c/d"), ["read"]);
    }

    #[test]
    fn the_order_of_rules_and_policies_does_not_matter() {
        let a = r#"path "secret/*" { capabilities = ["read"] }"#;
        let b = r#"path "secret/+/bar" { capabilities = ["update"] }"#;
        for acl in [acl(&[a, b]), acl(&[b, a])] {
            assert_eq!(names(&acl, "secret/foo/bar"), ["update"]);
        }
    }

    #[test]
    fn only_the_deciding_pattern_counts() {
        let acl = acl(&[
            r#"path "secret/*" { capabilities = ["read", "update"] }"#,
            r#"path "secret/app/*" { capabilities = ["list"] }"#,
        ]);
        // secret/app/* decides, and grants list only: no read from secret/*.
        assert_eq!(names(&acl, "secret/app/x"), ["list"]);
    }

    #[test]
    fn the_same_pattern_in_several_policies_is_merged() {
        let acl = acl(&[
            r#"path "secret/app/*" { capabilities = ["read"] }"#,
            r#"path "secret/app/*" { capabilities = ["list"] }"#,
            "path \"secret/app/*\" {\n  policy = \"write\"\n}\npath \"secret/app/*\" { capabilities = [\"patch\"] }\n",
        ]);
        assert_eq!(
            names(&acl, "secret/app/x"),
            ["create", "delete", "list", "patch", "read", "update"]
        );
    }

    #[test]
    fn deny_in_one_policy_beats_a_grant_in_another_for_the_same_pattern() {
        for order in [[0, 1], [1, 0]] {
            let texts = [
                r#"path "secret/app/*" { capabilities = ["read", "list", "sudo"] }"#,
                r#"path "secret/app/*" { capabilities = ["deny"] }"#,
            ];
            let acl = acl(&[texts[order[0]], texts[order[1]]]);
            assert_eq!(acl.capabilities("secret/app/x"), Capabilities::DENY);
        }
    }

    #[test]
    fn deny_on_a_narrower_pattern_beats_a_broader_grant() {
        let acl = acl(&[
            r#"path "secret/*" { capabilities = ["read", "list"] }"#,
            "path \"secret/private/*\" { capabilities = [\"deny\"] }\n\
             path \"secret/private/shared\" { capabilities = [\"read\"] }\n",
        ]);
        assert_eq!(names(&acl, "secret/public/x"), ["list", "read"]);
        assert_eq!(names(&acl, "secret/private/x"), ["deny"]);
        assert!(!acl
            .capabilities("secret/private/x")
            .allows(crate::auth::policy::Capability::Read));
        // An exact pattern is narrower still.
        assert_eq!(names(&acl, "secret/private/shared"), ["read"]);
    }

    #[test]
    fn no_match_is_no_capability() {
        let acl = acl(&[r#"path "secret/*" { capabilities = ["read"] }"#]);
        assert_eq!(acl.capabilities("transit/keys/app"), Capabilities::NONE);
        assert_eq!(Acl::new(&[]).capabilities("secret/x"), Capabilities::NONE);
    }

    #[test]
    fn a_leading_slash_in_the_path_is_ignored() {
        let acl = acl(&[r#"path "/secret/x" { capabilities = ["read"] }"#]);
        assert_eq!(names(&acl, "secret/x"), ["read"]);
        assert_eq!(names(&acl, "/secret/x"), ["read"]);
        assert_eq!(names(&acl, "//secret/x"), ["read"]);
    }

    #[test]
    fn root_has_everything_and_says_root() {
        let root = Acl::root();
        assert!(root.is_root());
        for path in ["sys/seal", "secret/x", "", "auth/token/accessors"] {
            assert_eq!(root.capabilities(path), Capabilities::ALL);
            assert_eq!(root.list_capabilities(path), Capabilities::ALL);
            assert_eq!(root.capabilities(path).names(), ["root"]);
            assert!(root
                .capabilities(path)
                .allows(crate::auth::policy::Capability::Sudo));
        }
    }

    #[test]
    fn a_policy_named_root_is_not_the_root_acl() {
        let policy = Policy::parse("root", r#"path "a" { capabilities = ["read"] }"#).unwrap();
        let acl = Acl::new(&[Arc::new(policy)]);
        assert!(!acl.is_root());
        assert_eq!(names(&acl, "b"), ["deny"]);
    }

    #[test]
    fn list_requests_also_match_the_path_without_its_trailing_slash() {
        let acl = acl(&[r#"
path "m/foo" { capabilities = ["list"] }
path "n/+" { capabilities = ["read"] }
path "o/" { capabilities = ["update"] }
path "o" { capabilities = ["delete"] }
path "p/*" { capabilities = ["create"] }
"#]);
        assert_eq!(acl.list_capabilities("m/foo/").names(), ["list"]);
        assert_eq!(acl.list_capabilities("m/foo").names(), ["list"]);
        assert_eq!(acl.list_capabilities("n/x/").names(), ["read"]);
        // An exact pattern for the path as given comes first.
        assert_eq!(acl.list_capabilities("o/").names(), ["update"]);
        assert_eq!(acl.list_capabilities("p/").names(), ["create"]);
        // Other operations do not get that fallback.
        assert_eq!(names(&acl, "m/foo/"), ["deny"]);
        assert_eq!(names(&acl, "n/x/"), ["deny"]);
    }

    #[test]
    fn a_list_path_prefers_an_exact_pattern_without_the_slash_over_a_glob() {
        let acl = acl(&[r#"
path "kv/app" { capabilities = ["list"] }
path "kv/*" { capabilities = ["deny"] }
"#]);
        assert_eq!(acl.list_capabilities("kv/app/").names(), ["list"]);
    }

    /// What OpenBao 2.7.2's `sys/capabilities-self` answered for tokens
    /// holding these policies (recorded by hand against `bao server -dev`).
    #[test]
    fn agrees_with_openbao_on_a_recorded_case() {
        let p1 = r#"
path "secret/*" { capabilities = ["create","read","update","patch","delete","list","sudo"] }
path "secret/foo/*" { capabilities = ["read"] }
path "secret/+/bar" { capabilities = ["list"] }
path "secret/exact" { capabilities = ["update"] }
path "secret/denied/*" { capabilities = ["deny"] }
path "m/foo" { capabilities = ["list"] }
path "n/+" { capabilities = ["read"] }
path "q/a*b/c" { capabilities = ["read"] }
path "r/+x/c" { capabilities = ["read"] }
path "s/+" { capabilities = ["read"] }
path "s/*" { capabilities = ["update"] }
path "t/a*" { capabilities = ["read"] }
path "t/+" { capabilities = ["update"] }
"#;
        let p2 = r#"
path "secret/foo/*" { capabilities = ["deny"] }
path "secret/exact" { capabilities = ["read"] }
"#;
        let p3 = r#"path "secret/foo/*" { capabilities = ["list"] }"#;
        let all = vec![
            "create", "delete", "list", "patch", "read", "sudo", "update",
        ];
        let common: Vec<(&str, Vec<&str>)> = vec![
            ("/secret/x", all.clone()),
            ("m/foo", vec!["list"]),
            ("m/foo/", vec!["list"]),
            ("n/x", vec!["read"]),
            ("n/x/", vec!["read"]),
            ("nothing", vec!["deny"]),
            ("q/a*b/c", vec!["read"]),
            ("q/axb/c", vec!["deny"]),
            ("r/+x/c", vec!["read"]),
            ("r/yx/c", vec!["deny"]),
            ("s/x", vec!["read"]),
            ("secret/denied", all.clone()),
            ("secret/denied/x", vec!["deny"]),
            ("secret/x", all.clone()),
            ("secret/zz/bar", vec!["list"]),
            ("t/a", vec!["read"]),
            ("t/ab", vec!["read"]),
        ];
        let first = acl(&[p1, p3]);
        let second = acl(&[p1, p2, p3]);
        for (path, expected) in &common {
            assert_eq!(&first.list_capabilities(path).names(), expected, "{path}");
            assert_eq!(&second.list_capabilities(path).names(), expected, "{path}");
        }
        for (path, expected) in [
            ("secret/exact", vec!["update"]),
            ("secret/exact/", vec!["update"]),
            ("secret/foo/bar", vec!["list", "read"]),
            ("secret/foo/x", vec!["list", "read"]),
        ] {
            assert_eq!(first.list_capabilities(path).names(), expected, "{path}");
        }
        for (path, expected) in [
            ("secret/exact", vec!["read", "update"]),
            ("secret/exact/", vec!["read", "update"]),
            ("secret/foo/bar", vec!["deny"]),
            ("secret/foo/x", vec!["deny"]),
        ] {
            assert_eq!(second.list_capabilities(path).names(), expected, "{path}");
        }
    }

    #[test]
    fn priority_is_a_total_order_over_distinct_patterns() {
        let texts = [
            "secret/*",
            "secret/+",
            "secret/+/*",
            "secret/+/bar",
            "secret/foo/*",
            "*",
            "+",
            "+/+",
            "secret/+/ba*",
            "secret/+/b*",
        ];
        let patterns: Vec<Pattern> = texts
            .iter()
            .map(|t| {
                Policy::parse("p", &format!("path \"{t}\" {{}}\n"))
                    .unwrap()
                    .rules[0]
                    .pattern
                    .clone()
            })
            .collect();
        for a in &patterns {
            for b in &patterns {
                assert_eq!(priority(a) == priority(b), a.text == b.text);
            }
        }
    }
    /// Vault's procedure, followed literally, as a reference: an exact rule;
    /// else, among the longest matching plain glob and every matching `+`
    /// pattern, the greatest by Vault's comparison, step by step.
    fn reference(rules: &[(String, Capabilities)], path: &str) -> Capabilities {
        let path = path.trim_start_matches('/');
        let mut merged: BTreeMap<String, Capabilities> = BTreeMap::new();
        for (text, caps) in rules {
            let entry = merged.entry(text.clone()).or_insert(*caps);
            *entry = entry.merge(*caps);
        }
        if let Some(caps) = merged.get(path) {
            if !text_has_plus(path) && !path.ends_with('*') {
                return *caps;
            }
        }
        // (first wildcard, is prefix, wildcards, stripped text, caps)
        let mut candidates: Vec<(usize, bool, usize, String, Capabilities)> = Vec::new();
        let longest_glob = merged
            .iter()
            .filter(|(text, _)| text.ends_with('*') && !text_has_plus(text))
            .map(|(text, caps)| (text.trim_end_matches_once('*'), *caps))
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some((prefix, caps)) = longest_glob {
            candidates.push((prefix.len(), true, 0, prefix, caps));
        }
        let path_parts: Vec<&str> = path.split('/').collect();
        'patterns: for (text, caps) in merged.iter().filter(|(t, _)| text_has_plus(t)) {
            let is_prefix = text.ends_with('*');
            let body = text.trim_end_matches_once('*');
            let parts: Vec<&str> = body.split('/').collect();
            if path_parts.len() < parts.len() || (!is_prefix && parts.len() != path_parts.len()) {
                continue;
            }
            let mut wildcards = 0;
            for (i, part) in parts.iter().enumerate() {
                if *part == "+" {
                    wildcards += 1;
                } else if *part != path_parts[i]
                    && !(is_prefix && i == parts.len() - 1 && path_parts[i].starts_with(part))
                {
                    continue 'patterns;
                }
            }
            let first = text.find('+').unwrap();
            candidates.push((first, is_prefix, wildcards, body, *caps));
        }
        let lower = |a: &(usize, bool, usize, String, Capabilities),
                     b: &(usize, bool, usize, String, Capabilities)| {
            if a.0 != b.0 {
                return a.0 < b.0;
            }
            if a.1 != b.1 {
                return a.1;
            }
            if a.2 != b.2 {
                return a.2 > b.2;
            }
            if a.3.len() != b.3.len() {
                return a.3.len() < b.3.len();
            }
            a.3 < b.3
        };
        let mut best: Option<&(usize, bool, usize, String, Capabilities)> = None;
        for c in &candidates {
            if best.is_none_or(|b| lower(b, c)) {
                best = Some(c);
            }
        }
        best.map_or(Capabilities::NONE, |b| b.4)
    }

    fn text_has_plus(text: &str) -> bool {
        text.trim_end_matches_once('*').split('/').any(|p| p == "+")
    }

    trait TrimOnce {
        fn trim_end_matches_once(&self, c: char) -> String;
    }

    impl TrimOnce for str {
        fn trim_end_matches_once(&self, c: char) -> String {
            self.strip_suffix(c).unwrap_or(self).to_string()
        }
    }

    #[test]
    fn matching_agrees_with_vaults_procedure_on_random_policies() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        use crate::auth::policy::Capability;

        const PARTS: &[&str] = &["a", "b", "ab", "+", ""];
        const PATH_PARTS: &[&str] = &["a", "b", "ab", "abc", "ba", ""];
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..3_000 {
            let mut rules = Vec::new();
            let mut text = String::new();
            for _ in 0..rng.gen_range(1..12) {
                let n = rng.gen_range(1..4);
                let mut pattern: Vec<&str> = (0..n)
                    .map(|_| PARTS[rng.gen_range(0..PARTS.len())])
                    .collect();
                let mut pattern_text = pattern.join("/");
                if rng.gen_bool(0.5) {
                    if pattern_text.ends_with('+') {
                        pattern.push("");
                        pattern_text = pattern.join("/");
                    }
                    pattern_text.push('*');
                }
                let caps: Capabilities = Capability::EVERY
                    .into_iter()
                    .filter(|_| rng.gen_bool(0.3))
                    .collect();
                let caps = caps.normalized();
                let names: Vec<String> = Capability::EVERY
                    .into_iter()
                    .filter(|c| caps.contains(*c))
                    .map(|c| format!("{:?}", c.name()))
                    .collect();
                text.push_str(&format!(
                    "path {:?} {{\n  capabilities = [{}]\n}}\n",
                    pattern_text,
                    names.join(", ")
                ));
                // Policy::parse strips a leading `/`; the reference sees
                // the pattern as stripped.
                let stripped = pattern_text.strip_prefix('/').unwrap_or(&pattern_text);
                rules.push((stripped.to_string(), caps));
            }
            let acl = Acl::new(&[Arc::new(Policy::parse("p", &text).unwrap())]);
            for _ in 0..20 {
                let n = rng.gen_range(1..5);
                let path: Vec<&str> = (0..n)
                    .map(|_| PATH_PARTS[rng.gen_range(0..PATH_PARTS.len())])
                    .collect();
                let path = path.join("/");
                assert_eq!(
                    acl.capabilities(&path),
                    reference(&rules, &path),
                    "path {path:?} under\n{text}"
                );
            }
        }
    }
}
