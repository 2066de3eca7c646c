//! Property tests of the policy parser and the ACL built from its rules
//! (issue #9's fuzzing on stable Rust, with proptest): arbitrary text,
//! token soup, and generated policies (HCL and JSON) both as written and
//! mutated. Properties: nothing panics; what a client writes is either a
//! policy or a 400 (`PolicyStore::parse_new`); a generated policy parses
//! back to the rules it was generated from; an exact pattern decides its
//! own path.
//!
//! An ordinary test run tries a few hundred cases per property;
//! `PROPTEST_CASES` (`just fuzz`) sets how many.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::{Acl, Capabilities, Capability, Policy};
use crate::auth::policies::PolicyStore;

use crate::fuzz_cases as cases;

/// What a client's write of `text` comes to: a policy or a 400.
fn check_client_text(text: &str) -> Result<Option<Policy>, TestCaseError> {
    match PolicyStore::parse_new("p", text) {
        Ok(policy) => Ok(Some(policy.policy().clone())),
        Err(e) => {
            prop_assert_eq!(e.status(), 400, "{:?}", e);
            Ok(None)
        }
    }
}

/// Pieces policies are made of, and pieces that break them.
const TOKENS: &[&str] = &[
    "path",
    " ",
    "\n",
    "\"",
    "\"a/+/b*\"",
    "{",
    "}",
    "[",
    "]",
    "=",
    ",",
    "capabilities",
    "policy",
    "\"read\"",
    "\"deny\"",
    "#",
    "//",
    "/*",
    "*/",
    "${",
    "%{",
    "<<EOF\n",
    "<<-EOF\n",
    "EOF",
    "\\",
    "é",
    "\u{0}",
    "1.5e999",
    "0x",
    "(",
    ")",
    "?",
    ":",
    "for",
    "in",
    "null",
    "true",
    "-",
    "!",
    ".",
    "*",
    "+",
    "/",
    "\r",
    "\t",
    "name",
    "\"\\u00",
    "\"\\ud800\"",
    "{\"path\":",
    "{{identity.entity.id}}",
];

/// One generated `path` block.
#[derive(Debug, Clone)]
struct GenBlock {
    /// The pattern as written (perhaps with a leading `/`).
    pattern: String,
    /// The `capabilities` list, if written.
    capabilities: Option<Vec<&'static str>>,
    /// The deprecated `policy` key, if written.
    policy: Option<&'static str>,
    /// Whether a `comment` key is written.
    comment: bool,
}

const CAPABILITIES: &[&str] = &[
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny",
];
const OLD_POLICIES: &[&str] = &["deny", "read", "write", "sudo"];

/// Patterns: segments of letters, `+`, dots, UTF-8, perhaps a leading `/`
/// and a trailing `*` (never `+*` or `{{`, which are refused).
fn pattern() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec![
        "secret", "app", "a", "+", "keys", "é", "x.y", "-", "ap*p", "",
    ]);
    (
        any::<bool>(),
        prop::collection::vec(segment, 1..5),
        any::<bool>(),
    )
        .prop_map(|(slash, segments, glob)| {
            let mut text = String::new();
            if slash {
                text.push('/');
            }
            text.push_str(&segments.join("/"));
            if glob && !text.ends_with('+') {
                text.push('*');
            }
            text
        })
}

fn block() -> impl Strategy<Value = GenBlock> {
    (
        pattern(),
        prop::option::of(prop::collection::vec(
            prop::sample::select(CAPABILITIES),
            0..5,
        )),
        prop::option::of(prop::sample::select(OLD_POLICIES)),
        any::<bool>(),
    )
        .prop_map(|(pattern, capabilities, policy, comment)| GenBlock {
            pattern,
            capabilities,
            policy,
            comment,
        })
}

fn quoted(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|c| format!("{c:?}")).collect();
    format!("[{}]", items.join(", "))
}

/// The blocks as HCL, one attribute a line, with comments of each style.
fn hcl(blocks: &[GenBlock]) -> String {
    let mut text = String::from("# generated\n");
    for b in blocks {
        text.push_str(&format!("path {:?} {{\n", b.pattern));
        if let Some(caps) = &b.capabilities {
            text.push_str(&format!("  capabilities = {}\n", quoted(caps)));
        }
        if let Some(old) = b.policy {
            text.push_str(&format!("  policy = {old:?} // old style\n"));
        }
        if b.comment {
            text.push_str("  /* why */ comment = \"because\"\n");
        }
        text.push_str("}\n");
    }
    text
}

/// The blocks as a JSON policy (the list form, so patterns may repeat).
fn json(blocks: &[GenBlock]) -> String {
    let items: Vec<String> = blocks
        .iter()
        .map(|b| {
            let mut keys = Vec::new();
            if let Some(caps) = &b.capabilities {
                keys.push(format!("\"capabilities\": {}", quoted(caps)));
            }
            if let Some(old) = b.policy {
                keys.push(format!("\"policy\": {old:?}"));
            }
            if b.comment {
                keys.push("\"comment\": \"because\"".to_string());
            }
            format!("{{{:?}: {{{}}}}}", b.pattern, keys.join(", "))
        })
        .collect();
    format!("{{\"path\": [{}]}}", items.join(", "))
}

/// What a block grants, by Vault's rules, computed independently of the
/// parser: the union of the listed capabilities and the old policy's, or
/// just `deny` if either has it.
fn expected(b: &GenBlock) -> Capabilities {
    let mut caps: Vec<Capability> = b
        .capabilities
        .iter()
        .flatten()
        .filter_map(|c| Capability::from_name(c))
        .collect();
    let old: &[Capability] = match b.policy {
        Some("deny") => &[Capability::Deny],
        Some("read") => &[Capability::Read, Capability::List],
        Some("write") => &[
            Capability::Create,
            Capability::Read,
            Capability::Update,
            Capability::Delete,
            Capability::List,
        ],
        Some("sudo") => &[
            Capability::Create,
            Capability::Read,
            Capability::Update,
            Capability::Delete,
            Capability::List,
            Capability::Sudo,
        ],
        _ => &[],
    };
    caps.extend_from_slice(old);
    if caps.contains(&Capability::Deny) {
        Capabilities::DENY
    } else {
        caps.into_iter().collect()
    }
}

fn stripped(pattern: &str) -> &str {
    pattern.strip_prefix('/').unwrap_or(pattern)
}

/// One edit of a text, kept UTF-8: insert, remove or replace a character,
/// or splice in a token.
#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, char),
    Remove(prop::sample::Index),
    Replace(prop::sample::Index, char),
    Splice(prop::sample::Index, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop::sample::select(vec![
        '"', '{', '}', '[', ']', '=', ',', '\n', '#', '/', '*', '+', '\\', '$', '%', '\0', 'é',
        ' ', 'a',
    ]);
    let ch = prop_oneof![interesting, any::<char>()];
    prop_oneof![
        (any::<prop::sample::Index>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<prop::sample::Index>().prop_map(Edit::Remove),
        (any::<prop::sample::Index>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        (
            any::<prop::sample::Index>(),
            prop::sample::select(TOKENS.to_vec())
        )
            .prop_map(|(i, t)| Edit::Splice(i, t)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len();
        match e {
            Edit::Insert(i, c) => chars.insert(i.index(len + 1), *c),
            Edit::Remove(i) if len > 0 => {
                chars.remove(i.index(len));
            }
            Edit::Replace(i, c) if len > 0 => {
                let at = i.index(len);
                chars[at] = *c;
            }
            Edit::Splice(i, t) => {
                let at = i.index(len + 1);
                chars.splice(at..at, t.chars());
            }
            Edit::Remove(_) | Edit::Replace(..) => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_text_is_a_policy_or_a_400(text in any::<String>()) {
        check_client_text(&text)?;
    }

    #[test]
    fn token_soup_is_a_policy_or_a_400(
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)
    ) {
        check_client_text(&tokens.concat())?;
    }

    #[test]
    fn generated_policies_parse_to_what_they_say(
        blocks in prop::collection::vec(block(), 0..8),
        as_json in any::<bool>(),
    ) {
        let text = if as_json { json(&blocks) } else { hcl(&blocks) };
        let policy = check_client_text(&text)?;
        // Every generated policy is valid.
        let Some(policy) = policy else {
            return Err(TestCaseError::fail(format!("refused: {text}")));
        };
        prop_assert_eq!(policy.rules.len(), blocks.len());
        for (rule, b) in policy.rules.iter().zip(&blocks) {
            prop_assert_eq!(&rule.pattern.text, stripped(&b.pattern));
            prop_assert_eq!(rule.capabilities, expected(b), "{}", text);
        }

        // The ACL: an exact pattern decides its own path, with the merge
        // of every block naming it.
        let acl = Acl::new(&[Arc::new(policy)]);
        let mut merged: BTreeMap<&str, Capabilities> = BTreeMap::new();
        for b in &blocks {
            let p = stripped(&b.pattern);
            let caps = expected(b);
            merged
                .entry(p)
                .and_modify(|c| *c = c.merge(caps))
                .or_insert(caps);
        }
        for (pattern, caps) in merged {
            // A pattern still starting with `/` once one is stripped
            // (`//a`) names no path: paths are checked without one.
            let exact = !pattern.ends_with('*')
                && !pattern.split('/').any(|s| s == "+")
                && !pattern.starts_with('/');
            if exact {
                prop_assert_eq!(acl.capabilities(pattern), caps, "{}", pattern);
            }
        }
    }

    #[test]
    fn mutated_policies_are_a_policy_or_a_400(
        blocks in prop::collection::vec(block(), 1..5),
        as_json in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..6),
        paths in prop::collection::vec(pattern(), 0..4),
    ) {
        let text = if as_json { json(&blocks) } else { hcl(&blocks) };
        let mutated = apply(&text, &edits);
        if let Some(policy) = check_client_text(&mutated)? {
            // Whatever parsed builds an ACL that answers for any path.
            let acl = Acl::new(&[Arc::new(policy)]);
            for path in &paths {
                let _ = acl.capabilities(path);
                let _ = acl.list_capabilities(path);
            }
        }
    }
}

/// Not a test of time: prints how long policies of 20,000 and 200,000
/// blocks take to parse and to build their ACL (issue #9 measured 15 s and
/// more than 5 minutes before parsing was made linear). Run with
/// `cargo test -p coffer-host --release --lib policy::fuzz::measure -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_large_policies() {
    for blocks in [20_000, 200_000] {
        let text: String = (0..blocks)
            .map(|i| format!("path \"secret/app/{i:06}/*\" {{ capabilities = [\"read\"] }}\n"))
            .collect();
        let started = std::time::Instant::now();
        let policy = Policy::parse("big", &text).unwrap();
        let parsed = started.elapsed();
        let acl = Acl::new(&[Arc::new(policy)]);
        let built = started.elapsed() - parsed;
        assert_eq!(
            acl.capabilities("secret/app/000001/x"),
            Capabilities::NONE.with(Capability::Read)
        );
        println!(
            "{blocks} blocks, {} bytes: parse {parsed:?}, ACL {built:?}",
            text.len()
        );
    }
}
