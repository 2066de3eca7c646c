//! Path patterns, matched segment by segment: no regexes, no declaration
//! order. Literal segments beat captures, captures beat a `{rest*}`.

use std::cmp::Ordering;

/// A parsed path pattern such as `keys/{name}`, `export/{type}/{name}/{version?}`
/// or `{path*}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

/// One `/`-separated piece of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: matches one non-empty segment.
    Capture(String),
    /// `{name?}`: matches one non-empty segment or nothing; last only.
    Optional(String),
    /// `{name*}`: matches the rest of the path, slashes included, possibly
    /// empty; last only.
    Rest(String),
}

/// The captures of a match, in pattern order.
pub type Captures = Vec<(String, String)>;

// Rank of one matched path segment; lower is more specific.
const RANK_LITERAL: u8 = 0;
const RANK_CAPTURE: u8 = 1;
const RANK_REST: u8 = 2;

impl Pattern {
    /// Parses `text`. Errors name the problem: empty or duplicate captures,
    /// `?` or `*` anywhere but the last segment, braces inside a literal.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_matches('/');
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let pieces: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let count = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let last = i + 1 == count;
            let segment = if let Some(inner) =
                piece.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                let (name, segment) = if let Some(name) = inner.strip_suffix('?') {
                    (name, Segment::Optional(name.to_owned()))
                } else if let Some(name) = inner.strip_suffix('*') {
                    (name, Segment::Rest(name.to_owned()))
                } else {
                    (inner, Segment::Capture(inner.to_owned()))
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("pattern '{text}': bad capture name '{{{inner}}}'"));
                }
                if names.contains(&name) {
                    return Err(format!("pattern '{text}': capture '{name}' appears twice"));
                }
                if !last && !matches!(segment, Segment::Capture(_)) {
                    return Err(format!(
                        "pattern '{text}': '{{{inner}}}' must be the last segment"
                    ));
                }
                names.push(name);
                segment
            } else {
                if piece.is_empty() || piece.contains(['{', '}', '?', '*']) {
                    return Err(format!("pattern '{text}': bad segment '{piece}'"));
                }
                Segment::Literal(piece.to_owned())
            };
            segments.push(segment);
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The first segment's text when it is a literal: a path whose first
    /// segment is another text cannot match. `Engine::route` skips most
    /// patterns by it, without splitting the path once per pattern.
    pub(crate) fn first_literal(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// The names of the captures, in order.
    pub fn capture_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Literal(_) => None,
            Segment::Capture(n) | Segment::Optional(n) | Segment::Rest(n) => Some(n.as_str()),
        })
    }

    /// Matches `path` (no leading slash). A single trailing slash is ignored
    /// except by a `{rest*}` capture, which keeps it (a kv list of `a/b/`).
    /// Returns the captures and the match's rank (for most-specific-first).
    pub(crate) fn matches(&self, path: &str) -> Option<(Captures, Vec<u8>)> {
        let path = path.strip_prefix('/').unwrap_or(path);
        let mut captures = Vec::new();
        let mut rank = Vec::new();
        let mut rest = path;
        for (i, segment) in self.segments.iter().enumerate() {
            if let Segment::Rest(name) = segment {
                // Each remaining path segment counts once in the rank.
                rank.extend(rest.split('/').filter(|s| !s.is_empty()).map(|_| RANK_REST));
                captures.push((name.clone(), rest.to_owned()));
                return Some((captures, rank));
            }
            let last = i + 1 == self.segments.len();
            let (piece, remainder) = match rest.split_once('/') {
                Some((piece, remainder)) => (piece, remainder),
                None => (rest, ""),
            };
            match segment {
                Segment::Literal(lit) => {
                    if piece != lit {
                        return None;
                    }
                    rank.push(RANK_LITERAL);
                }
                Segment::Capture(name) | Segment::Optional(name) => {
                    if piece.is_empty() {
                        if matches!(segment, Segment::Optional(_)) && last && remainder.is_empty() {
                            return Some((captures, rank));
                        }
                        return None;
                    }
                    rank.push(RANK_CAPTURE);
                    captures.push((name.clone(), piece.to_owned()));
                }
                Segment::Rest(_) => return None,
            }
            rest = remainder;
        }
        // Everything consumed, or only a trailing slash left.
        if rest.is_empty() {
            Some((captures, rank))
        } else {
            None
        }
    }

    /// The rank a path of `len` segments would get, per segment, with the
    /// literal texts, or `None` if no such path can match.
    fn shape(&self, len: usize) -> Option<Vec<(u8, Option<&str>)>> {
        let mut out = Vec::with_capacity(len);
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => out.push((RANK_LITERAL, Some(l.as_str()))),
                Segment::Capture(_) => out.push((RANK_CAPTURE, None)),
                Segment::Optional(_) => {
                    if out.len() < len {
                        out.push((RANK_CAPTURE, None));
                    }
                }
                Segment::Rest(_) => {
                    while out.len() < len {
                        out.push((RANK_REST, None));
                    }
                }
            }
        }
        (out.len() == len).then_some(out)
    }

    /// Whether some path matches both patterns with equal specificity, so
    /// that neither wins by the most-specific-first rule.
    pub fn ambiguous_with(&self, other: &Pattern) -> bool {
        let longest = self.segments.len().max(other.segments.len()) + 1;
        (0..=longest).any(|len| match (self.shape(len), other.shape(len)) {
            (Some(a), Some(b)) => a.iter().zip(&b).all(|((ra, la), (rb, lb))| {
                ra == rb
                    && match (la, lb) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    }
            }),
            _ => false,
        })
    }
}

/// Most specific first: compares two match ranks.
pub(crate) fn more_specific(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, path: &str) -> Option<Vec<(String, String)>> {
        Pattern::parse(p).ok()?.matches(path).map(|(c, _)| c)
    }

    fn c(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn matches_by_segment() {
        assert_eq!(caps("keys/{name}", "keys/app"), c(&[("name", "app")]));
        assert_eq!(caps("keys/{name}", "keys/app/"), c(&[("name", "app")]));
        assert_eq!(caps("keys/{name}", "keys/"), None);
        assert_eq!(caps("keys/{name}", "keys/a/b"), None);
        assert_eq!(caps("keys", "keys/"), c(&[]));
        assert_eq!(
            caps("export/{type}/{name}/{version?}", "export/k/app"),
            c(&[("type", "k"), ("name", "app")])
        );
        assert_eq!(
            caps("export/{type}/{name}/{version?}", "export/k/app/3"),
            c(&[("type", "k"), ("name", "app"), ("version", "3")])
        );
        assert_eq!(caps("{path*}", ""), c(&[("path", "")]));
        assert_eq!(caps("{path*}", "a/b/"), c(&[("path", "a/b/")]));
        assert_eq!(caps("data/{path*}", "data/a/b"), c(&[("path", "a/b")]));
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "{a}/{a}", "{a?}/b", "{a*}/b", "a/{}", "a{b}", "a//b", "{a-b}", "a/?",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ambiguity() {
        let p = |s| Pattern::parse(s).unwrap();
        assert!(p("keys/{name}").ambiguous_with(&p("keys/{id}")));
        assert!(p("a/{x}/{y?}").ambiguous_with(&p("a/{x}/{z}")));
        assert!(p("{a*}").ambiguous_with(&p("{b*}")));
        assert!(!p("keys/{name}").ambiguous_with(&p("keys/{name}/rotate")));
        assert!(!p("keys/{name}").ambiguous_with(&p("{path*}")));
        assert!(!p("keys/config").ambiguous_with(&p("keys/{name}")));
        assert!(!p("a/b").ambiguous_with(&p("a/c")));
    }

    #[test]
    fn ranks_prefer_literals() {
        let lit = Pattern::parse("keys/config")
            .unwrap()
            .matches("keys/config")
            .unwrap()
            .1;
        let cap = Pattern::parse("keys/{name}")
            .unwrap()
            .matches("keys/config")
            .unwrap()
            .1;
        let rest = Pattern::parse("{path*}")
            .unwrap()
            .matches("keys/config")
            .unwrap()
            .1;
        assert_eq!(more_specific(&lit, &cap), Ordering::Less);
        assert_eq!(more_specific(&cap, &rest), Ordering::Less);
    }
}
