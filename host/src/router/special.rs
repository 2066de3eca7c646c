//! An engine's special paths (contract 0.2's `describe`): the paths of its
//! mount served without a token, and those that need `sudo`. Parsed and
//! checked once, when the mount is made or loaded ([`SpecialPaths::parse`]);
//! matched on every request to the mount ([`SpecialPaths::classify`]).
//!
//! Syntax (Vault's): relative to the mount, no leading `/`, segments split
//! by `/`, none empty, `.` or `..`; a segment `+` matches any one segment;
//! a `*` may only end the pattern and matches any rest (`cert/*`, `ocsp*`).
//! A pattern declared twice in one list, or an unauthenticated and a sudo
//! pattern that some path matches both, is refused: what a path needs must
//! never depend on which list is read first.

use std::collections::BTreeSet;

/// What a path of the mount needs besides the operation's capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Special {
    /// Served without a token (the caller is "unauthenticated").
    pub unauthenticated: bool,
    /// Needs `sudo` in the caller's policy on the path.
    pub sudo: bool,
}

/// One checked pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    text: String,
    tokens: Vec<Token>,
}

/// A pattern as a sequence of character classes; `star` repeats it any
/// number of times (zero included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    class: Class,
    star: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// This character.
    Char(char),
    /// Any character but `/`.
    Segment,
    /// Any character.
    Any,
}

impl Class {
    fn meets(self, other: Class) -> bool {
        match (self, other) {
            (Class::Any, _) | (_, Class::Any) | (Class::Segment, Class::Segment) => true,
            (Class::Char(c), Class::Segment) | (Class::Segment, Class::Char(c)) => c != '/',
            (Class::Char(a), Class::Char(b)) => a == b,
        }
    }
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let bad = |why: &str| Err(format!("special path {text:?} is malformed: {why}"));
        if text.is_empty() {
            return bad("it is empty");
        }
        if text.starts_with('/') {
            return bad("it starts with '/'");
        }
        if text.chars().any(char::is_control) {
            return bad("it contains control characters");
        }
        let (body, rest) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return bad("'*' may only end it");
        }
        let mut tokens = Vec::new();
        let segments: Vec<&str> = body.split('/').collect();
        let last = segments.len() - 1;
        for (i, segment) in segments.iter().enumerate() {
            // `cert/*` leaves an empty last segment before its `*`, and
            // `*` alone one empty segment: both fine.
            let open_end = rest && i == last;
            if segment.is_empty() && !open_end {
                return bad("it has an empty segment");
            }
            if *segment == "." || *segment == ".." {
                return bad("it has a '.' or '..' segment");
            }
            if segment.contains('+') && *segment != "+" {
                return bad("'+' must be a whole segment");
            }
            if i > 0 {
                tokens.push(Token {
                    class: Class::Char('/'),
                    star: false,
                });
            }
            if *segment == "+" {
                tokens.push(Token {
                    class: Class::Segment,
                    star: false,
                });
                tokens.push(Token {
                    class: Class::Segment,
                    star: true,
                });
            } else {
                tokens.extend(segment.chars().map(|c| Token {
                    class: Class::Char(c),
                    star: false,
                }));
            }
        }
        if rest {
            tokens.push(Token {
                class: Class::Any,
                star: true,
            });
        }
        Ok(Pattern {
            text: text.to_string(),
            tokens,
        })
    }

    /// Whether some path matches both patterns (a search over pairs of
    /// positions, at most `len(a) × len(b)` states).
    fn overlaps(a: &[Token], b: &[Token]) -> bool {
        let mut seen = BTreeSet::new();
        let mut todo = vec![(0usize, 0usize)];
        while let Some((i, j)) = todo.pop() {
            if !seen.insert((i, j)) {
                continue;
            }
            if i == a.len() && j == b.len() {
                return true;
            }
            let (ta, tb) = (a.get(i), b.get(j));
            // A starred token may match nothing more.
            if ta.is_some_and(|t| t.star) {
                todo.push((i + 1, j));
            }
            if tb.is_some_and(|t| t.star) {
                todo.push((i, j + 1));
            }
            // Both read one character both classes allow; a starred token
            // stays to read more. (Two starred tokens reading together
            // change nothing: the skips above cover them.)
            if let (Some(x), Some(y)) = (ta, tb) {
                if x.class.meets(y.class) {
                    let next = (
                        if x.star { i } else { i + 1 },
                        if y.star { j } else { j + 1 },
                    );
                    if next != (i, j) {
                        todo.push(next);
                    }
                }
            }
        }
        false
    }

    fn matches(&self, path: &str) -> bool {
        let literal: Vec<Token> = path
            .chars()
            .map(|c| Token {
                class: Class::Char(c),
                star: false,
            })
            .collect();
        Pattern::overlaps(&self.tokens, &literal)
    }
}

/// A mount's special paths, checked.
#[derive(Clone, Debug, Default)]
pub struct SpecialPaths {
    unauthenticated: Vec<Pattern>,
    sudo: Vec<Pattern>,
}

impl SpecialPaths {
    /// Checks an engine's declared lists; the error names the path.
    pub fn parse(unauthenticated: &[String], sudo: &[String]) -> Result<SpecialPaths, String> {
        let list = |texts: &[String], which: &str| -> Result<Vec<Pattern>, String> {
            let mut seen = BTreeSet::new();
            texts
                .iter()
                .map(|t| {
                    if !seen.insert(t.as_str()) {
                        return Err(format!("special path {t:?} is declared twice as {which}"));
                    }
                    Pattern::parse(t)
                })
                .collect()
        };
        let unauthenticated = list(unauthenticated, "unauthenticated")?;
        let sudo = list(sudo, "sudo")?;
        for u in &unauthenticated {
            if let Some(s) = sudo
                .iter()
                .find(|s| Pattern::overlaps(&u.tokens, &s.tokens))
            {
                return Err(if u.text == s.text {
                    format!("special path {:?} is both unauthenticated and sudo", u.text)
                } else {
                    format!(
                        "special path {:?} (unauthenticated) overlaps {:?} (sudo): a path would be both",
                        u.text, s.text
                    )
                });
            }
        }
        Ok(SpecialPaths {
            unauthenticated,
            sudo,
        })
    }

    /// What `path` (inside the mount) needs.
    pub fn classify(&self, path: &str) -> Special {
        Special {
            unauthenticated: self.unauthenticated.iter().any(|p| p.matches(path)),
            sudo: self.sudo.iter().any(|p| p.matches(path)),
        }
    }

    /// Whether there are none (a 0.1 engine's, or an engine that declares none).
    pub fn is_empty(&self) -> bool {
        self.unauthenticated.is_empty() && self.sudo.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn paths(u: &[&str], s: &[&str]) -> Result<SpecialPaths, String> {
        let v = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        SpecialPaths::parse(&v(u), &v(s))
    }

    #[test]
    fn patterns_match_as_vault_globs() {
        let p = paths(
            &["ca", "ca/pem", "cert/*", "issuer/+/pem", "ocsp*"],
            &["root", "keys/+/rotate"],
        )
        .unwrap();
        let unauth = |x: &str| p.classify(x).unauthenticated;
        let sudo = |x: &str| p.classify(x).sudo;
        for yes in [
            "ca",
            "ca/pem",
            "cert/",
            "cert/12",
            "cert/a/b",
            "issuer/x/pem",
            "ocsp",
            "ocsp/abc",
        ] {
            assert!(unauth(yes), "{yes}");
        }
        for no in [
            "ca/",
            "ca/pem/x",
            "cax",
            "cert",
            "issuer/x/y/pem",
            "issuer//pem",
            "issuer/x/pemx",
            "root",
        ] {
            assert!(!unauth(no), "{no}");
        }
        assert!(sudo("root") && sudo("keys/a/rotate"));
        assert!(!sudo("root/x") && !sudo("keys/a/b/rotate") && !sudo("keys//rotate"));
        assert!(paths(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn malformed_patterns_are_refused_naming_the_path() {
        for bad in [
            "", "/ca", "ca//pem", "ca/", "a*/b", "*a", "a/./b", "a/../b", "a+b/c", "x\u{0}",
        ] {
            let e = paths(&[bad], &[]).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
            let e = paths(&[], &[bad]).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
        }
        for good in ["*", "a*", "a/*", "+", "+/+", "a/+/*", "a.b/c..d"] {
            paths(&[good], &[]).unwrap();
        }
    }

    #[test]
    fn duplicates_and_overlaps_are_refused() {
        assert!(paths(&["ca", "ca"], &[]).unwrap_err().contains("twice"));
        assert!(paths(&[], &["x", "x"]).unwrap_err().contains("twice"));
        assert!(paths(&["ca"], &["ca"]).unwrap_err().contains("both"));
        for (u, s) in [
            ("cert/*", "cert/+"),
            ("+/pem", "ca/*"),
            ("*", "root"),
            ("a+", "a*"),
            ("issuer/+/pem", "issuer/default/*"),
        ] {
            let u = if u == "a+" { "a/+" } else { u };
            let s = if s == "a*" { "a/x*" } else { s };
            let e = paths(&[u], &[s]).unwrap_err();
            assert!(e.contains("overlaps"), "{u} {s}: {e}");
        }
        for (u, s) in [
            ("ca", "cax"),
            ("cert/*", "certs"),
            ("issuer/+/pem", "issuer/+/der"),
            ("a/+", "a"),
        ] {
            paths(&[u], &[s]).unwrap();
        }
    }
}
