//! Whether a role allows a name: the common name and the SANs a request
//! asks for, checked by the role's rules as Vault checks them
//! (`allowed_domains` with bare, subdomain, glob and wildcard rules,
//! `localhost`, `allow_any_name`, `enforce_hostnames`), and the IP, URI
//! and other SANs by their own rules. A refusal names the name.

use std::net::IpAddr;

use coffer_sdk::prelude::*;

use crate::roles::Role;

/// Whether `name` is a host name: dot-separated labels of letters, digits
/// and inner hyphens.
pub fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// `pattern` with `*` matching any run of characters (ryanuber/go-glob).
pub fn glob(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The first of `names` the role refuses, if any.
pub fn first_refused<'a>(role: &Role, names: &'a [String]) -> Option<&'a str> {
    names.iter().find(|n| !allowed(role, n)).map(String::as_str)
}

fn allowed(role: &Role, name: &str) -> bool {
    let (mut host, email_domain) = match name.split_once('@') {
        Some((_, domain)) if !domain.contains('@') => (domain, Some(domain)),
        Some(_) => return false,
        None => (name, None),
    };
    let mut wildcard = false;
    if let Some(stripped) = host.strip_prefix("*.") {
        if !role.allow_wildcard_certificates || email_domain.is_some() {
            return false;
        }
        host = stripped;
        wildcard = true;
    } else if host.contains('*') && !role.allow_glob_domains && !role.allow_any_name {
        return false;
    }
    if role.enforce_hostnames && !is_hostname(host) {
        return false;
    }
    if role.allow_any_name {
        return true;
    }
    if role.allow_localhost
        && (matches!(name, "localhost" | "localdomain")
            || matches!(email_domain, Some("localhost" | "localdomain")))
    {
        return true;
    }
    for domain in role.allowed_domains.iter().filter(|d| !d.is_empty()) {
        if role.allow_bare_domains
            && (name.eq_ignore_ascii_case(domain)
                || email_domain.is_some_and(|e| e.eq_ignore_ascii_case(domain)))
        {
            return true;
        }
        if role.allow_subdomains {
            let suffix = format!(".{}", domain.to_ascii_lowercase());
            let lower = host.to_ascii_lowercase();
            if lower.ends_with(&suffix) || (wildcard && lower == domain.to_ascii_lowercase()) {
                return true;
            }
        }
        if role.allow_glob_domains && domain.contains('*') && glob(domain, name) {
            return true;
        }
    }
    false
}

/// Checks IP SANs against `allow_ip_sans` and `allowed_ip_sans_cidr`.
pub fn check_ips(role: &Role, ips: &[IpAddr]) -> Result<(), Error> {
    if ips.is_empty() {
        return Ok(());
    }
    if !role.allow_ip_sans {
        return Err(Error::invalid(format!(
            "IP Subject Alternative Names are not allowed in this role, but was provided {}",
            ips.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if role.allowed_ip_sans_cidr.is_empty() {
        return Ok(());
    }
    for ip in ips {
        let inside = role.allowed_ip_sans_cidr.iter().any(|c| in_cidr(ip, c));
        if !inside {
            return Err(Error::invalid(format!(
                "IP address {ip} is not within the allowed IP SAN ranges of this role"
            )));
        }
    }
    Ok(())
}

fn in_cidr(ip: &IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.trim().split_once('/') else {
        return cidr.trim().parse::<IpAddr>().is_ok_and(|n| &n == ip);
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let (a, b, width): (u128, u128, u32) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(*a).into(), u32::from(b).into(), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(*a), u128::from(b), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (a >> shift) == (b >> shift)
}

/// Checks URI SANs against `allowed_uri_sans` (globs).
pub fn check_uris(role: &Role, uris: &[String]) -> Result<(), Error> {
    if uris.is_empty() {
        return Ok(());
    }
    if role.allowed_uri_sans.is_empty() {
        return Err(Error::invalid(
            "URI Subject Alternative Names are not allowed in this role, but were provided via the API",
        ));
    }
    for uri in uris {
        if !role.allowed_uri_sans.iter().any(|p| glob(p, uri)) {
            return Err(Error::invalid(format!(
                "URI Subject Alternative Names were provided via the API which are not valid for this role: {uri}"
            )));
        }
    }
    Ok(())
}

/// Checks other SANs (`oid;UTF8:value`) against `allowed_other_sans`.
pub fn check_other(role: &Role, other: &[(String, String)]) -> Result<(), Error> {
    for (oid, value) in other {
        let ok = role.allowed_other_sans.iter().any(|a| {
            if a == "*" {
                return true;
            }
            match a.split_once(';') {
                Some((aoid, rest)) => {
                    let pattern = rest.split_once(':').map(|(_, v)| v).unwrap_or(rest);
                    aoid == oid && glob(pattern, value)
                }
                None => false,
            }
        });
        if !ok {
            return Err(Error::invalid(format!(
                "other SAN {oid};UTF8:{value} not allowed by this role"
            )));
        }
    }
    Ok(())
}

/// Parses `oid;UTF8:value` (or `utf-8`); a malformed one is a 400.
pub fn parse_other_san(text: &str) -> Result<(String, String), Error> {
    let bad = || {
        Error::invalid(format!(
            "invalid other SAN {text:?}: expected <oid>;UTF8:<value>"
        ))
    };
    let (oid, rest) = text.split_once(';').ok_or_else(bad)?;
    let (kind, value) = rest.split_once(':').ok_or_else(bad)?;
    if !matches!(kind.to_ascii_uppercase().as_str(), "UTF8" | "UTF-8") {
        return Err(Error::invalid(format!(
            "invalid other SAN {text:?}: only UTF8 values are supported"
        )));
    }
    der::asn1::ObjectIdentifier::new(oid.trim()).map_err(|_| bad())?;
    Ok((oid.trim().to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(json: serde_json::Value) -> Role {
        let mut base = serde_json::json!({
            "allow_any_name": false, "allow_bare_domains": false, "allow_glob_domains": false,
            "allow_globs_in_identity_templates": false, "allow_ip_sans": true,
            "allow_localhost": true, "allow_subdomains": false, "allow_token_displayname": false,
            "allow_wildcard_certificates": true, "allowed_domains": [],
            "allowed_domains_template": false, "allowed_ip_sans_cidr": [],
            "allowed_other_sans": [], "allowed_serial_numbers": [], "allowed_uri_sans": [],
            "allowed_uri_sans_template": false, "allowed_user_ids": [],
            "basic_constraints_valid_for_non_ca": false, "client_flag": true,
            "cn_validations": ["email", "hostname"], "code_signing_flag": false, "country": [],
            "email_protection_flag": false, "enforce_hostnames": true, "ext_key_usage": [],
            "ext_key_usage_oids": [], "generate_lease": false, "issuer_ref": "default",
            "key_bits": 2048, "key_type": "rsa", "key_usage": [], "locality": [], "max_ttl": 0,
            "no_store": false, "not_after": "", "not_after_bound": "permit", "not_before": "",
            "not_before_bound": "permit", "not_before_duration": 30, "organization": [], "ou": [],
            "policy_identifiers": [], "postal_code": [], "province": [], "require_cn": true,
            "server_flag": true, "signature_bits": 0, "street_address": [], "ttl": 0,
            "use_csr_common_name": true, "use_csr_sans": true, "use_pss": false
        });
        if let (Some(b), Some(o)) = (base.as_object_mut(), json.as_object()) {
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn ok(r: &Role, n: &str) -> bool {
        first_refused(r, &[n.to_owned()]).is_none()
    }

    #[test]
    fn domain_rules() {
        let r =
            role(serde_json::json!({"allowed_domains": ["example.com"], "allow_subdomains": true}));
        assert!(ok(&r, "a.example.com"));
        assert!(ok(&r, "*.example.com"));
        assert!(!ok(&r, "example.com"));
        assert!(!ok(&r, "a.example.org"));
        assert!(!ok(&r, "aexample.com"));
        assert!(ok(&r, "localhost"));
        let r = role(
            serde_json::json!({"allowed_domains": ["example.com"], "allow_bare_domains": true, "allow_localhost": false}),
        );
        assert!(ok(&r, "example.com"));
        assert!(ok(&r, "me@example.com"));
        assert!(!ok(&r, "a.example.com"));
        assert!(!ok(&r, "localhost"));
        let r = role(serde_json::json!({"allowed_domains": ["*.svc"], "allow_glob_domains": true}));
        assert!(ok(&r, "db.svc"));
        assert!(!ok(&r, "db.svc.evil"));
        let r = role(serde_json::json!({"allow_any_name": true}));
        assert!(ok(&r, "anything.at.all"));
        assert!(!ok(&r, "not a hostname"));
    }

    #[test]
    fn globs_and_cidrs() {
        assert!(glob("a*c", "abbbc"));
        assert!(!glob("a*c", "abbbd"));
        assert!(glob("*.x", "y.x"));
        assert!(in_cidr(&"10.1.2.3".parse().unwrap(), "10.0.0.0/8"));
        assert!(!in_cidr(&"11.1.2.3".parse().unwrap(), "10.0.0.0/8"));
        assert!(in_cidr(&"::1".parse().unwrap(), "::/0"));
        assert_eq!(
            parse_other_san("1.2.3.4;UTF8:hello").unwrap(),
            ("1.2.3.4".to_owned(), "hello".to_owned())
        );
        assert!(parse_other_san("1.2.3.4;INT:5").is_err());
    }
}
