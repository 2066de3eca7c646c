//! Policy text to rules: two front ends (HCL through `hcl-edit`, JSON
//! through `serde_json`) produce the same neutral [`Block`]s, and one
//! function ([`rule`]) checks a block and turns it into a [`PathRule`].
//!
//! Vault parses policies with HCL 1; Coffer with HCL 2, which reads the
//! policies people write (blocks, lists, strings, the three comment styles)
//! alike. HCL 1 oddities that HCL 2 refuses (two attributes on one line,
//! `path "a" = { ... }`, commas between attributes, a key repeated in one
//! block, which OpenBao adds up) are syntax errors here.

use std::collections::HashSet;

use hcl::edit::expr::Expression;
use hcl::edit::structure::{BlockLabel, Body, Structure};
use hcl::edit::Span;

use super::{Capabilities, Capability, PathRule, Pattern, PatternKind, PolicyError};

/// Parses a policy's text into its rules, in order.
///
/// Linear in the text's length: blocks keep the byte offset of their
/// span, and an offset becomes a line and column only for the one error
/// reported (counting lines for every block made 20k blocks take 15 s).
pub(super) fn parse(text: &str) -> Result<Vec<PathRule>, PolicyError> {
    if text.trim().is_empty() {
        return Err(PolicyError::new("the policy is empty"));
    }
    let blocks = if text.trim_start().starts_with('{') {
        json_blocks(text)?
    } else {
        hcl_blocks(text)?
    };
    blocks.into_iter().map(|block| rule(text, block)).collect()
}

/// Keys Vault (or OpenBao) accepts in a path block that restrict more than
/// capabilities do. Coffer does not enforce them, so it refuses them.
const UNSUPPORTED_KEYS: &[&str] = &[
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "mfa_methods",
    "control_group",
    "subscribe_event_types",
    "pagination_limit",
    "expiration",
    "list_scan_response_keys_filter_path",
];

/// Capabilities Vault (`subscribe`) or OpenBao (`scan`) has and Coffer
/// does not.
const UNSUPPORTED_CAPABILITIES: &[&str] = &["scan", "subscribe"];

/// A line and column, both from 1.
type Position = Option<(usize, usize)>;

/// Where something starts in the policy's text, as a byte offset (none in
/// JSON, whose values serde does not locate); turned into a [`Position`]
/// by [`position`] only when an error is reported.
type Offset = Option<usize>;

/// One `path "<pattern>" { ... }`, as written.
struct Block {
    pattern: String,
    at: Offset,
    attributes: Vec<Attribute>,
}

/// One `key = value` inside a path block.
struct Attribute {
    key: String,
    at: Offset,
    value: Value,
}

/// The values a path block's keys can have; anything else is `Other`,
/// named for the error message.
enum Value {
    String(String),
    List(Vec<Value>),
    Other(&'static str),
}

/// Checks one block (of `text`) and makes its rule.
fn rule(text: &str, block: Block) -> Result<PathRule, PolicyError> {
    let Block {
        pattern,
        at,
        attributes,
    } = block;
    let pattern =
        parse_pattern(&pattern).map_err(|message| PolicyError::at(position(text, at), message))?;
    let quoted = format!("{:?}", pattern.text);
    let mut capabilities = Capabilities::NONE;
    for Attribute { key, at, value } in attributes {
        let fail = |message: String| {
            PolicyError::at(position(text, at), format!("path {quoted}: {message}"))
        };
        match key.as_str() {
            "capabilities" => {
                let Value::List(items) = value else {
                    return Err(fail(format!(
                        "\"capabilities\" must be a list of strings, not {}",
                        value.describe()
                    )));
                };
                for item in items {
                    let Value::String(name) = item else {
                        return Err(fail(format!(
                            "\"capabilities\" must be a list of strings, not a list holding {}",
                            item.describe()
                        )));
                    };
                    capabilities = capabilities.with(capability(&name).map_err(fail)?);
                }
            }
            "policy" => {
                let Value::String(name) = value else {
                    return Err(fail(format!(
                        "\"policy\" must be a string, not {}",
                        value.describe()
                    )));
                };
                capabilities = capabilities.merge(old_policy(&name).map_err(fail)?);
            }
            "comment" => {}
            key if UNSUPPORTED_KEYS.contains(&key) => {
                return Err(fail(format!(
                    "{key:?} is not supported by Coffer, which enforces capabilities only"
                )));
            }
            key => return Err(fail(format!("invalid key {key:?}"))),
        }
    }
    Ok(PathRule {
        pattern,
        capabilities: capabilities.normalized(),
    })
}

/// One name from a `capabilities` list.
fn capability(name: &str) -> Result<Capability, String> {
    if let Some(c) = Capability::from_name(name) {
        return Ok(c);
    }
    if UNSUPPORTED_CAPABILITIES.contains(&name) {
        return Err(format!("capability {name:?} is not supported by Coffer"));
    }
    Err(format!("invalid capability {name:?}"))
}

/// The deprecated `policy = "..."` form, mapped as Vault maps it.
fn old_policy(name: &str) -> Result<Capabilities, String> {
    use Capability::*;
    let caps: &[Capability] = match name {
        "deny" => &[Deny],
        "read" => &[Read, List],
        "write" => &[Create, Read, Update, Delete, List],
        "sudo" => &[Create, Read, Update, Delete, List, Sudo],
        _ => return Err(format!("invalid policy {name:?}")),
    };
    Ok(caps.iter().copied().collect())
}

/// A block's pattern: leading `/` stripped, then classified.
fn parse_pattern(written: &str) -> Result<Pattern, String> {
    let text = written.strip_prefix('/').unwrap_or(written).to_string();
    if text.contains("+*") {
        return Err(format!(
            "path {text:?}: invalid use of wildcards ('+*' is forbidden)"
        ));
    }
    if text.contains("{{") {
        return Err(format!(
            "path {text:?}: templated policies ({{{{identity...}}}}) are not supported by Coffer"
        ));
    }
    let (body, prefix) = match text.strip_suffix('*') {
        Some(body) => (body, true),
        None => (text.as_str(), false),
    };
    let kind = if body.split('/').any(|part| part == "+") {
        PatternKind::Segments {
            parts: body
                .split('/')
                .map(|part| (part != "+").then(|| part.to_string()))
                .collect(),
            prefix,
        }
    } else if prefix {
        PatternKind::Prefix {
            prefix: body.to_string(),
        }
    } else {
        PatternKind::Exact
    };
    Ok(Pattern { text, kind })
}

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Other(what) => what,
        }
    }
}

// ---- HCL ----

/// The path blocks of an HCL policy.
fn hcl_blocks(text: &str) -> Result<Vec<Block>, PolicyError> {
    let body: Body = hcl::edit::parser::parse_body(text).map_err(|e| {
        let location = e.location();
        PolicyError::at(
            Some((location.line(), location.column())),
            e.message().to_string(),
        )
    })?;
    let mut blocks = Vec::new();
    for structure in body.iter() {
        let at = offset(structure.span());
        let block = match structure {
            Structure::Attribute(attribute) => {
                return Err(top_level_key(
                    position(text, at),
                    attribute.key.value().as_str(),
                ));
            }
            Structure::Block(block) => block,
        };
        let ident = block.ident.value().as_str();
        if ident != "path" {
            return Err(top_level_key(position(text, at), ident));
        }
        let pattern = match block.labels.as_slice() {
            [BlockLabel::String(label)] => label.value().to_string(),
            [BlockLabel::Ident(label)] => label.value().as_str().to_string(),
            [] => {
                return Err(PolicyError::at(
                    position(text, at),
                    "a path block needs its pattern: path \"<pattern>\" { ... }",
                ))
            }
            [_, second, ..] => {
                return Err(PolicyError::at(
                    position(text, offset(second.span())),
                    "a path block takes one pattern, not several",
                ))
            }
        };
        let mut attributes = Vec::new();
        for inner in block.body.iter() {
            let at = offset(inner.span());
            match inner {
                Structure::Attribute(attribute) => attributes.push(Attribute {
                    key: attribute.key.value().as_str().to_string(),
                    at,
                    value: hcl_value(&attribute.value),
                }),
                Structure::Block(nested) => {
                    return Err(PolicyError::at(
                        position(text, at),
                        format!(
                            "path {pattern:?}: invalid key {:?}",
                            nested.ident.value().as_str()
                        ),
                    ))
                }
            }
        }
        blocks.push(Block {
            pattern,
            at: offset(block.span()),
            attributes,
        });
    }
    Ok(blocks)
}

fn hcl_value(expression: &Expression) -> Value {
    match expression {
        Expression::String(s) => Value::String(s.value().to_string()),
        Expression::Array(array) => Value::List(array.iter().map(hcl_value).collect()),
        Expression::Null(_) => Value::Other("null"),
        Expression::Bool(_) => Value::Other("a boolean"),
        Expression::Number(_) => Value::Other("a number"),
        Expression::Object(_) => Value::Other("an object"),
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            Value::Other("a template")
        }
        _ => Value::Other("an expression"),
    }
}

/// The error for a top-level `key = ...` or a block other than `path`.
fn top_level_key(at: Position, key: &str) -> PolicyError {
    if key == "name" {
        PolicyError::at(
            at,
            "invalid key \"name\": a policy's name is given by its URL, not its text",
        )
    } else {
        PolicyError::at(
            at,
            format!("invalid key {key:?}: a policy holds only path blocks"),
        )
    }
}

/// Where a span starts.
fn offset(span: Option<std::ops::Range<usize>>) -> Offset {
    span.map(|span| span.start)
}

/// The line and column (from 1; the column counts characters) of a byte
/// offset into `text`. Reads the text up to the offset: call it once per
/// error, not once per block.
fn position(text: &str, offset: Offset) -> Position {
    let before = text.get(..offset?)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((line, column))
}

// ---- JSON ----

/// The path blocks of a JSON policy: `{"path": {"<pattern>": {...}, ...}}`,
/// or `{"path": [{"<pattern>": {...}}, ...]}`, as Vault's HCL 1 reads JSON.
/// A pattern named twice is two blocks (merged as in HCL); a key named
/// twice in one block is refused, as HCL 2 refuses it (`serde_json::Value`
/// would silently keep the last one).
fn json_blocks(text: &str) -> Result<Vec<Block>, PolicyError> {
    let root: Json = serde_json::from_str(text).map_err(|e| {
        PolicyError::at(
            Some((e.line(), e.column())),
            format!("invalid JSON: {}", json_message(&e)),
        )
    })?;
    let Json::Object(root) = root else {
        return Err(PolicyError::new("a JSON policy must be an object"));
    };
    let not_paths =
        || PolicyError::new("\"path\" must be an object of patterns, or a list of such objects");
    let mut blocks = Vec::new();
    for (key, value) in root {
        if key != "path" {
            return Err(top_level_key(None, &key));
        }
        let groups = match value {
            Json::Object(paths) => vec![paths],
            Json::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Json::Object(paths) => Ok(paths),
                    _ => Err(not_paths()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(not_paths()),
        };
        for (pattern, body) in groups.into_iter().flatten() {
            let Json::Object(body) = body else {
                return Err(PolicyError::new(format!(
                    "path {pattern:?}: must be an object of keys"
                )));
            };
            let mut attributes: Vec<Attribute> = Vec::new();
            let mut seen = HashSet::new();
            for (key, value) in body {
                if !seen.insert(key.clone()) {
                    return Err(PolicyError::new(format!(
                        "path {pattern:?}: key {key:?} is given twice"
                    )));
                }
                attributes.push(Attribute {
                    key,
                    at: None,
                    value: json_value(value),
                });
            }
            blocks.push(Block {
                pattern,
                at: None,
                attributes,
            });
        }
    }
    Ok(blocks)
}

/// A JSON value whose objects keep every key, in order, repeats included.
enum Json {
    Other(&'static str),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Other("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Other("a number"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}

fn json_value(value: Json) -> Value {
    match value {
        Json::String(s) => Value::String(s),
        Json::Array(items) => Value::List(items.into_iter().map(json_value).collect()),
        Json::Object(_) => Value::Other("an object"),
        Json::Other(what) => Value::Other(what),
    }
}

/// serde_json's message without its " at line L column C" tail (the
/// position is given separately).
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full.get(..i).unwrap_or(&full).to_string(),
        None => full,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Each rule as (pattern, capability names).
    fn rules(text: &str) -> Vec<(String, Vec<&'static str>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.pattern.text, r.capabilities.names()))
            .collect()
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn path_blocks_with_comments_in_every_style() {
        let text = r#"
# Read the app's secrets
path "secret/app/*" {
  capabilities = ["read", "list"]
}

// and encrypt with its key
path "transit/encrypt/app" { capabilities = ["update"] }

/* nothing
   else */
"#;
        assert_eq!(
            rules(text),
            [
                ("secret/app/*".to_string(), vec!["list", "read"]),
                ("transit/encrypt/app".to_string(), vec!["update"]),
            ]
        );
    }

    #[test]
    fn a_leading_slash_is_stripped() {
        assert_eq!(
            rules(r#"path "/secret/x" { capabilities = ["read"] }"#),
            [("secret/x".to_string(), vec!["read"])]
        );
    }

    #[test]
    fn lists_may_span_lines_and_end_in_a_comma() {
        let text = "path \"a\" {\n  capabilities = [\n    \"read\",\n    \"list\",\n  ]\n}\n";
        assert_eq!(rules(text), [("a".to_string(), vec!["list", "read"])]);
    }

    #[test]
    fn every_capability_is_spelled_as_in_vault() {
        let text = r#"path "a" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]
}"#;
        assert_eq!(
            rules(text)[0].1,
            ["create", "delete", "list", "patch", "read", "sudo", "update"]
        );
    }

    #[test]
    fn deny_beside_other_capabilities_is_just_deny() {
        let rule = &parse(r#"path "a" { capabilities = ["read", "deny", "list"] }"#).unwrap()[0];
        assert_eq!(rule.capabilities, Capabilities::DENY);
    }

    #[test]
    fn an_empty_capability_list_grants_nothing() {
        assert_eq!(
            rules(r#"path "a" { capabilities = [] }"#),
            [("a".to_string(), vec!["deny"])]
        );
        assert_eq!(rules("path \"a\" {}\n"), [("a".to_string(), vec!["deny"])]);
    }

    #[test]
    fn the_deprecated_policy_key_maps_as_in_vault() {
        let cases = [
            ("deny", vec!["deny"]),
            ("read", vec!["list", "read"]),
            ("write", vec!["create", "delete", "list", "read", "update"]),
            (
                "sudo",
                vec!["create", "delete", "list", "read", "sudo", "update"],
            ),
        ];
        for (old, expected) in cases {
            let text = format!("path \"a\" {{\n  policy = \"{old}\"\n}}\n");
            assert_eq!(rules(&text)[0].1, expected, "{old}");
        }
    }

    #[test]
    fn the_deprecated_policy_key_adds_to_capabilities() {
        let text = "path \"a\" {\n  policy = \"read\"\n  capabilities = [\"update\"]\n}\n";
        assert_eq!(rules(text)[0].1, ["list", "read", "update"]);
        let text = "path \"a\" {\n  policy = \"deny\"\n  capabilities = [\"update\"]\n}\n";
        assert_eq!(rules(text)[0].1, ["deny"]);
    }

    #[test]
    fn a_repeated_key_is_refused() {
        // OpenBao (HCL 1) adds the two lists up; HCL 2 refuses the repetition.
        let text = "path \"a\" {\n  capabilities = [\"read\"]\n  capabilities = [\"list\"]\n}\n";
        assert_eq!(
            error(text),
            "failed to parse policy: line 3, column 3: invalid attribute; expected unique \
             attribute key; found redefined attribute"
        );
    }

    #[test]
    fn a_comment_key_is_allowed() {
        let text = "path \"a\" {\n  comment = \"why\"\n  capabilities = [\"read\"]\n}\n";
        assert_eq!(rules(text)[0].1, ["read"]);
    }

    #[test]
    fn a_bare_label_is_a_pattern_too() {
        assert_eq!(
            rules("path secret {\n  capabilities = [\"read\"]\n}\n"),
            [("secret".to_string(), vec!["read"])]
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        assert_eq!(
            error("path \"a\" {\n  capabilities = [\"read\"\n}\n"),
            "failed to parse policy: line 3, column 1: expected `]`"
        );
        assert_eq!(
            error("path \"a\"\n  capabilities = [\"read\"]\n}\n"),
            "failed to parse policy: line 1, column 9: expected `{`"
        );
        let unclosed = error("# ok\npath \"a\" {\n  capabilities = [\"read\"]\n");
        assert!(
            unclosed.starts_with("failed to parse policy: line 3, column 27: "),
            "{unclosed}"
        );
        let two_on_a_line = error("path \"a\" { capabilities = [\"read\"] policy = \"write\" }");
        assert!(
            two_on_a_line.starts_with("failed to parse policy: line 1, column 36: "),
            "{two_on_a_line}"
        );
    }

    #[test]
    fn an_unknown_capability_is_named() {
        assert_eq!(
            error("path \"a\" {\n  capabilities = [\"read\", \"fly\"]\n}\n"),
            "failed to parse policy: line 2, column 3: path \"a\": invalid capability \"fly\""
        );
        assert_eq!(
            error(r#"path "a" { capabilities = ["READ"] }"#),
            "failed to parse policy: line 1, column 12: path \"a\": invalid capability \"READ\""
        );
        assert!(error(r#"path "a" { capabilities = ["root"] }"#)
            .ends_with("invalid capability \"root\""));
    }

    #[test]
    fn capabilities_coffer_lacks_are_refused_by_name() {
        for name in ["scan", "subscribe"] {
            let text = format!("path \"a\" {{ capabilities = [\"{name}\"] }}");
            assert!(
                error(&text).ends_with(&format!(
                    "path \"a\": capability \"{name}\" is not supported by Coffer"
                )),
                "{name}"
            );
        }
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        assert_eq!(
            error("path \"a\" {\n  capabilities = [\"read\"]\n\n    capabilites = [\"list\"]\n}\n"),
            "failed to parse policy: line 4, column 5: path \"a\": invalid key \"capabilites\""
        );
        assert_eq!(
            error("path \"a\" {\n  nested {\n  }\n}\n"),
            "failed to parse policy: line 2, column 3: path \"a\": invalid key \"nested\""
        );
    }

    #[test]
    fn restrictions_coffer_does_not_enforce_are_refused() {
        let values = [
            ("allowed_parameters", r#"{ "name" = [] }"#),
            ("denied_parameters", r#"{ "*" = [] }"#),
            ("required_parameters", r#"["name"]"#),
            ("min_wrapping_ttl", r#""1m""#),
            ("max_wrapping_ttl", r#""1h""#),
            ("mfa_methods", r#"["okta"]"#),
            ("subscribe_event_types", r#"["*"]"#),
            ("pagination_limit", "10"),
            ("expiration", r#""2030-01-01T00:00:00Z""#),
            ("list_scan_response_keys_filter_path", r#""{{ .key }}""#),
        ];
        for (key, value) in values {
            let text =
                format!("path \"a\" {{\n  capabilities = [\"read\"]\n  {key} = {value}\n}}\n");
            assert_eq!(
                error(&text),
                format!(
                    "failed to parse policy: line 3, column 3: path \"a\": \"{key}\" is not \
                     supported by Coffer, which enforces capabilities only"
                ),
            );
        }
        let control_group = "path \"a\" {\n  capabilities = [\"read\"]\n  control_group = {\n    ttl = \"4h\"\n  }\n}\n";
        assert!(error(control_group).contains("\"control_group\" is not supported by Coffer"));
    }

    #[test]
    fn a_name_or_other_top_level_key_is_refused() {
        assert_eq!(
            error("name = \"admin\"\npath \"a\" { capabilities = [\"read\"] }\n"),
            "failed to parse policy: line 1, column 1: invalid key \"name\": a policy's name is \
             given by its URL, not its text"
        );
        assert_eq!(
            error("path \"a\" { capabilities = [\"read\"] }\nfoo = \"x\"\n"),
            "failed to parse policy: line 2, column 1: invalid key \"foo\": a policy holds only \
             path blocks"
        );
        assert!(error("paths \"a\" {\n}\n").contains("invalid key \"paths\""));
        assert!(error("path = \"a\"\n").contains("invalid key \"path\""));
    }

    #[test]
    fn a_path_block_takes_exactly_one_pattern() {
        assert!(error("path {\n  capabilities = [\"read\"]\n}\n").contains("needs its pattern"));
        assert_eq!(
            error("path \"a\" \"b\" {\n  capabilities = [\"read\"]\n}\n"),
            "failed to parse policy: line 1, column 10: a path block takes one pattern, not several"
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_refused() {
        assert!(error(r#"path "a" { capabilities = "read" }"#)
            .ends_with("\"capabilities\" must be a list of strings, not a string"));
        assert!(error(r#"path "a" { capabilities = [1] }"#)
            .ends_with("\"capabilities\" must be a list of strings, not a list holding a number"));
        assert!(
            error(r#"path "a" { capabilities = ["${x}"] }"#).ends_with("a list holding a template")
        );
        assert!(error(r#"path "a" { policy = ["read"] }"#)
            .ends_with("\"policy\" must be a string, not a list"));
        assert!(error(r#"path "a" { policy = "bogus" }"#).ends_with("invalid policy \"bogus\""));
    }

    #[test]
    fn an_empty_policy_is_refused_but_comments_alone_are_a_policy() {
        assert_eq!(error(""), "failed to parse policy: the policy is empty");
        assert_eq!(
            error(" \n\t\n"),
            "failed to parse policy: the policy is empty"
        );
        assert_eq!(rules("# nothing yet\n"), []);
    }

    #[test]
    fn wildcards_glued_together_are_refused() {
        assert_eq!(
            error("\npath \"secret/+*\" { capabilities = [\"read\"] }"),
            "failed to parse policy: line 2, column 1: path \"secret/+*\": invalid use of \
             wildcards ('+*' is forbidden)"
        );
    }

    #[test]
    fn identity_templates_are_refused() {
        assert!(
            error(r#"path "secret/{{identity.entity.name}}/*" { capabilities = ["read"] }"#)
                .contains("templated policies ({{identity...}}) are not supported by Coffer")
        );
    }

    #[test]
    fn patterns_are_classified() {
        let kind = |text: &str| parse_pattern(text).unwrap().kind;
        assert_eq!(kind("secret/app"), PatternKind::Exact);
        assert_eq!(
            kind("secret/a*b"),
            PatternKind::Exact,
            "a * inside is a plain character"
        );
        assert_eq!(
            kind("secret/+x"),
            PatternKind::Exact,
            "+ counts only as a whole segment"
        );
        assert_eq!(
            kind("secret/app/*"),
            PatternKind::Prefix {
                prefix: "secret/app/".into()
            }
        );
        assert_eq!(kind("*"), PatternKind::Prefix { prefix: "".into() });
        assert_eq!(
            kind("secret/+/config"),
            PatternKind::Segments {
                parts: vec![Some("secret".into()), None, Some("config".into())],
                prefix: false
            }
        );
        assert_eq!(
            kind("+/keys/ap*"),
            PatternKind::Segments {
                parts: vec![None, Some("keys".into()), Some("ap".into())],
                prefix: true
            }
        );
    }

    #[test]
    fn json_policies_are_read_as_vault_reads_them() {
        let text =
            r#"{"path": {"secret/*": {"capabilities": ["read"]}, "kv/x": {"policy": "write"}}}"#;
        assert_eq!(
            rules(text),
            [
                ("secret/*".to_string(), vec!["read"]),
                (
                    "kv/x".to_string(),
                    vec!["create", "delete", "list", "read", "update"]
                ),
            ]
        );
        let listed =
            r#"{"path": [{"a": {"capabilities": ["list"]}}, {"b": {"capabilities": []}}]}"#;
        assert_eq!(rules(listed).len(), 2);
        // A pattern named twice is two rules (which the ACL merges), in order.
        let twice =
            r#"{"path": {"a": {"capabilities": ["deny"]}, "a": {"capabilities": ["read"]}}}"#;
        assert_eq!(
            rules(twice),
            [
                ("a".to_string(), vec!["deny"]),
                ("a".to_string(), vec!["read"])
            ]
        );
    }

    #[test]
    fn json_errors_say_where_or_what() {
        assert_eq!(
            error("{\"path\": {\"a\": {\"capabilities\": [\"read\"]}}"),
            "failed to parse policy: line 1, column 42: invalid JSON: EOF while parsing an object"
        );
        assert_eq!(
            error(r#"{"path": {"a": {"capabilities": ["fly"]}}}"#),
            "failed to parse policy: path \"a\": invalid capability \"fly\""
        );
        assert!(error(r#"{"name": "x"}"#).contains("invalid key \"name\""));
        assert!(error(r#"{"path": "a"}"#).contains("\"path\" must be an object"));
        assert!(error(r#"{"path": {"a": ["read"]}}"#).contains("must be an object of keys"));
        assert!(error(r#"{"path": {"a": {"allowed_parameters": {}}}}"#)
            .contains("not supported by Coffer"));
        assert_eq!(
            error(r#"{"path": {"a": {"capabilities": ["deny"], "capabilities": ["read"]}}}"#),
            "failed to parse policy: path \"a\": key \"capabilities\" is given twice"
        );
        assert!(parse("[1]").is_err(), "not JSON to us, and not HCL either");
        assert_eq!(rules("{}"), []);
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            error("path \"é\" {\n  capabilities = [\"read\"]\n}\npath \"ü\" { bad = 1 }\n"),
            "failed to parse policy: line 4, column 12: path \"ü\": invalid key \"bad\""
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for depth in [100, 10_000, 100_000] {
            let open = "[".repeat(depth);
            assert!(parse(&format!("path \"a\" {{ capabilities = {open} }}")).is_err());
            let braces = "{".repeat(depth);
            assert!(parse(&format!("path \"a\" {{ capabilities = {braces} }}")).is_err());
            let parens = "(".repeat(depth);
            assert!(parse(&format!("path \"a\" {{ capabilities = {parens} }}")).is_err());
            let blocks = "x {\n".repeat(depth);
            assert!(parse(&format!("path \"a\" {{\n{blocks}")).is_err());
            let json = format!("{{\"path\": {}", "[".repeat(depth));
            assert!(parse(&json).is_err());
        }
    }
}
