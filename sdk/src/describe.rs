//! The engine's self-description (contract 0.2's `handler.describe`),
//! built from the path table: the one source for what the host enforces
//! (unauthenticated and sudo paths, the request headers passed on) and what
//! it shows (`?help=1`, OpenAPI). Plain Rust types, so native tests can
//! look at them; the 0.2 glue converts them.

use crate::engine::Path;
use crate::fields::{FieldSchema, FieldType};
use crate::pattern::{Pattern, Segment};
use crate::{Engine, Operation};

/// What [`Engine::describe`] gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description {
    /// Every path, in declaration order.
    pub paths: Vec<PathInfo>,
    /// Paths served without a token, as Vault globs relative to the mount
    /// (`ca`, `cert/+/raw`, `crl/*`).
    pub unauthenticated: Vec<String>,
    /// Paths that need `sudo`, in the same syntax.
    pub sudo: Vec<String>,
    /// Request headers the engine wants (lower-case names).
    pub headers: Vec<String>,
}

/// One path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    /// The pattern, in the SDK's syntax (`keys/{name}/rotate`).
    pub pattern: String,
    /// One line on what it is for.
    pub synopsis: String,
    /// Longer help.
    pub description: String,
    /// The operations it takes, each with its one-line summary.
    pub operations: Vec<(Operation, String)>,
    /// Its fields: every handler's, each name once (the first declaration).
    pub fields: Vec<FieldInfo>,
}

/// One field of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// Its wire name.
    pub name: String,
    /// Vault's type name (`string`, `int`, `bool`, `duration`,
    /// `comma-string-slice`, `map`, `slice`, `any`).
    pub kind: &'static str,
    /// What it means.
    pub description: String,
    /// Its default as JSON text.
    pub default: Option<String>,
    /// Whether a request must give it (a capture always is).
    pub required: bool,
    /// The values it takes, when a fixed set.
    pub allowed: Vec<String>,
    /// Whether it is a capture of the pattern.
    pub in_path: bool,
}

/// The name contract 0.2's `field-info.kind` gives a field type. Base64
/// and enum fields are strings on the wire (an enum's `allowed` lists its
/// values).
pub fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String | FieldType::Base64 | FieldType::Enum => "string",
        FieldType::Bool => "bool",
        FieldType::Int => "int",
        FieldType::Duration => "duration",
        FieldType::CommaList => "comma-string-slice",
        FieldType::Map => "map",
        FieldType::Slice => "slice",
        FieldType::Any => "any",
    }
}

/// The Vault globs a pattern stands for: a literal stays, `{name}` is
/// `+`, an optional last `{name?}` gives the pattern with and without it,
/// and a `{rest*}` ends the glob with `*` (a pattern that is only a rest
/// is `*`).
pub fn globs(pattern: &Pattern) -> Vec<String> {
    let mut pieces: Vec<&str> = Vec::new();
    for segment in pattern.segments() {
        match segment {
            Segment::Literal(l) => pieces.push(l),
            Segment::Capture(_) => pieces.push("+"),
            Segment::Optional(_) => {
                let without = pieces.join("/");
                pieces.push("+");
                return vec![without, pieces.join("/")];
            }
            Segment::Rest(_) => {
                pieces.push("*");
                return vec![pieces.join("/")];
            }
        }
    }
    vec![pieces.join("/")]
}

/// Whether `path` matches the Vault glob `glob`: `+` is one whole
/// non-empty segment, a trailing `*` any rest (the glob before it is then a
/// prefix, whose last piece may end inside a segment).
pub fn glob_matches(glob: &str, path: &str) -> bool {
    let (body, prefix) = match glob.strip_suffix('*') {
        Some(body) => (body, true),
        None => (glob, false),
    };
    let wanted: Vec<&str> = body.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    let whole = |g: &str, p: &str| (g == "+" && !p.is_empty()) || g == p;
    if !prefix {
        return wanted.len() == got.len() && wanted.iter().zip(&got).all(|(g, p)| whole(g, p));
    }
    let Some((last, first)) = wanted.split_last() else {
        return true;
    };
    got.len() >= wanted.len()
        && first.iter().zip(&got).all(|(g, p)| whole(g, p))
        && got
            .get(first.len())
            .is_some_and(|p| p.starts_with(last) || (*last == "+" && !p.is_empty()))
}

/// Problems with a special-path glob, as the host would refuse it: empty,
/// a leading `/`, an empty, `.` or `..` segment.
pub(crate) fn glob_problems(glob: &str) -> Option<String> {
    let body = glob.strip_suffix('*').unwrap_or(glob);
    let trimmed = body.strip_suffix('/').unwrap_or(body);
    let bad = glob.is_empty()
        || glob.starts_with('/')
        || (!trimmed.is_empty()
            && trimmed
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."));
    bad.then(|| format!("special path {glob:?} is malformed"))
}

impl Engine {
    /// The engine's description (contract 0.2's `describe`).
    pub fn describe(&self) -> Description {
        let mut d = Description {
            headers: self.request_header_names().to_vec(),
            ..Description::default()
        };
        for path in self.paths() {
            let Ok(pattern) = path.pattern() else {
                continue;
            };
            d.paths.push(path_info(path, pattern));
            if path.is_unauthenticated() {
                d.unauthenticated.extend(globs(pattern));
            }
            if path.needs_sudo() {
                d.sudo.extend(globs(pattern));
            }
        }
        d
    }
}

fn path_info(path: &Path, pattern: &Pattern) -> PathInfo {
    let captures: Vec<&str> = pattern.capture_names().collect();
    let mut fields: Vec<FieldInfo> = Vec::new();
    let schemas = Operation::ALL
        .into_iter()
        .filter_map(|op| path.fields(op))
        .chain(path.exists_fields());
    for schema in schemas {
        for f in schema {
            if !fields.iter().any(|known| known.name == f.name) {
                fields.push(field_info(f, captures.contains(&f.name)));
            }
        }
    }
    PathInfo {
        pattern: pattern.as_str().to_owned(),
        synopsis: path.synopsis_text().to_owned(),
        description: path.description_text().to_owned(),
        operations: path
            .operations()
            .into_iter()
            .map(|op| (op, path.summary_text(op).to_owned()))
            .collect(),
        fields,
    }
}

fn field_info(f: &FieldSchema, in_path: bool) -> FieldInfo {
    FieldInfo {
        name: f.name.to_owned(),
        kind: kind_name(f.kind),
        description: f.description.to_owned(),
        default: f.default.as_ref().map(ToString::to_string),
        required: f.required || in_path,
        allowed: f.allowed_values.iter().map(|v| (*v).to_owned()).collect(),
        in_path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str) -> Vec<String> {
        globs(&Pattern::parse(p).unwrap())
    }

    #[test]
    fn patterns_become_globs() {
        assert_eq!(g("ca/pem"), ["ca/pem"]);
        assert_eq!(g("cert/{serial}/raw"), ["cert/+/raw"]);
        assert_eq!(g("issuer/{name}/{kind?}"), ["issuer/+", "issuer/+/+"]);
        assert_eq!(g("crl/{rest*}"), ["crl/*"]);
        assert_eq!(g("{path*}"), ["*"]);
    }

    #[test]
    fn globs_match_as_vault_does() {
        assert!(glob_matches("ca", "ca"));
        assert!(!glob_matches("ca", "ca/pem"));
        assert!(glob_matches("cert/+/raw", "cert/01/raw"));
        assert!(!glob_matches("cert/+/raw", "cert//raw"));
        assert!(!glob_matches("cert/+/raw", "cert/01/raw/x"));
        assert!(glob_matches("crl/*", "crl/"));
        assert!(glob_matches("crl/*", "crl/a/b"));
        assert!(!glob_matches("crl/*", "crl"));
        assert!(glob_matches("crl*", "crl-x"));
        assert!(glob_matches("*", "anything/at/all"));
        assert!(glob_matches("issuer/+/*", "issuer/a/pem"));
        assert!(!glob_matches("issuer/+/*", "issuer/a"));
    }

    #[test]
    fn malformed_globs_are_named() {
        for bad in ["", "/ca", "a//b", "a/./b", "../x", "a/.."] {
            assert!(glob_problems(bad).is_some(), "{bad}");
        }
        for good in ["ca", "crl/*", "*", "cert/+/raw", "crl*"] {
            assert_eq!(glob_problems(good), None, "{good}");
        }
    }
}
