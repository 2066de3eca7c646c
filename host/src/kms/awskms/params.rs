//! An `awskms` managed key's parameters, by the seed's names: parsed from a
//! request (over the stored ones, for an update) and shown with the secret
//! key redacted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::kms::record::{key_bits_field, secret_field, text_field, url_field, Generic, Secret};

/// Every field an `awskms` key takes besides the generic ones.
pub const FIELDS: [&str; 8] = [
    "access_key",
    "secret_key",
    "endpoint",
    "region",
    "kms_key",
    "key_type",
    "key_bits",
    "curve",
];

/// The region when none is given (the seed's default).
pub const DEFAULT_REGION: &str = "us-east-1";

/// An `awskms` key's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The access key id; none: the environment's credential chain.
    pub access_key: Option<String>,
    /// The secret access key. Stored behind the barrier, never shown.
    pub secret_key: Option<Secret>,
    /// A custom endpoint (LocalStack, a VPC endpoint).
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
    /// The key: an id, an ARN or an alias (`alias/...`).
    pub kms_key: String,
    /// `RSA` or `ECDSA` (uppercase).
    pub key_type: String,
    /// RSA size for generation (0: none given).
    pub key_bits: u64,
    /// ECDSA curve for generation (`P256`, `P384`, `P521`).
    pub curve: Option<String>,
}

impl Params {
    /// The parameters a request gives, over `previous` (an update).
    pub fn from_request(
        data: &Map<String, Value>,
        previous: Option<&Params>,
        generic: &Generic,
    ) -> Result<Params, ApiError> {
        let text = |field: &str, old: Option<&String>| text_field(data, field, old);
        let access_key = text("access_key", previous.and_then(|p| p.access_key.as_ref()))?;
        let secret_key = secret_field(
            data,
            "secret_key",
            previous.and_then(|p| p.secret_key.as_ref()),
        )?;
        if access_key.is_some() != secret_key.is_some() {
            return Err(ApiError::bad(
                "\"access_key\" and \"secret_key\" go together: give both, or neither for the environment's credentials",
            ));
        }
        let endpoint = url_field(
            data,
            "endpoint",
            previous.and_then(|p| p.endpoint.as_ref()),
            false,
        )?;
        let region = text("region", previous.map(|p| &p.region))?
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let kms_key = text("kms_key", previous.map(|p| &p.kms_key))?
            .ok_or_else(|| ApiError::bad("\"kms_key\" is required: the key's id, ARN or alias"))?;
        let key_type = text("key_type", previous.map(|p| &p.key_type))?
            .map(|t| t.to_uppercase())
            .ok_or_else(|| ApiError::bad("\"key_type\" is required: RSA or ECDSA"))?;
        if key_type != "RSA" && key_type != "ECDSA" {
            return Err(ApiError::bad(format!(
                "unsupported \"key_type\" {key_type:?}: use RSA or ECDSA"
            )));
        }
        let key_bits = key_bits_field(data, previous.map(|p| p.key_bits))?;
        let curve = text("curve", previous.and_then(|p| p.curve.as_ref()))?
            .map(|c| c.to_uppercase().replace('-', ""));
        if let Some(c) = &curve {
            if !["P256", "P384", "P521"].contains(&c.as_str()) {
                return Err(ApiError::bad(format!(
                    "unsupported \"curve\" {c:?}: use P256, P384 or P521"
                )));
            }
        }
        if key_type == "RSA" && key_bits == 0 && generic.allow_generate_key {
            return Err(ApiError::bad(
                "\"key_bits\" is required for an RSA key with allow_generate_key",
            ));
        }
        if key_type == "ECDSA" && curve.is_none() {
            return Err(ApiError::bad(
                "\"curve\" is required for an ECDSA key: P256, P384 or P521",
            ));
        }
        if generic.allow_generate_key && !kms_key.starts_with("alias/") {
            return Err(ApiError::bad(
                "with allow_generate_key, \"kms_key\" must be an alias (alias/...), which names the key made",
            ));
        }
        Ok(Params {
            access_key,
            secret_key,
            endpoint,
            region,
            kms_key,
            key_type,
            key_bits,
            curve,
        })
    }

    /// Adds the read's fields.
    pub fn show(&self, out: &mut Map<String, Value>) {
        out.insert(
            "access_key".into(),
            self.access_key.clone().unwrap_or_default().into(),
        );
        out.insert(
            "secret_key".into(),
            if self.secret_key.is_some() {
                "redacted"
            } else {
                ""
            }
            .into(),
        );
        out.insert(
            "endpoint".into(),
            self.endpoint.clone().unwrap_or_default().into(),
        );
        out.insert("region".into(), self.region.clone().into());
        out.insert("kms_key".into(), self.kms_key.clone().into());
        out.insert("key_type".into(), self.key_type.clone().into());
        out.insert("key_bits".into(), self.key_bits.into());
        out.insert(
            "curve".into(),
            self.curve.clone().unwrap_or_default().into(),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(data: Value, generic: &Generic) -> Result<Params, ApiError> {
        Params::from_request(data.as_object().unwrap(), None, generic)
    }

    #[test]
    fn fields_parse_and_mistakes_are_named() {
        let generic = Generic::default();
        let p = parse(
            json!({"access_key": "AK", "secret_key": "SK", "kms_key": "alias/x",
                   "key_type": "ecdsa", "curve": "p-256"}),
            &generic,
        )
        .unwrap();
        assert_eq!(
            (p.region.as_str(), p.key_type.as_str()),
            ("us-east-1", "ECDSA")
        );
        assert_eq!(p.curve.as_deref(), Some("P256"));
        let mut shown = Map::new();
        p.show(&mut shown);
        assert_eq!(shown["secret_key"], "redacted");
        for (data, named) in [
            (
                json!({"kms_key": "k", "key_type": "RSA", "access_key": "A"}),
                "secret_key",
            ),
            (json!({"key_type": "RSA"}), "kms_key"),
            (json!({"kms_key": "k"}), "key_type"),
            (json!({"kms_key": "k", "key_type": "DSA"}), "key_type"),
            (json!({"kms_key": "k", "key_type": "ECDSA"}), "curve"),
            (
                json!({"kms_key": "k", "key_type": "RSA", "key_bits": 1024}),
                "key_bits",
            ),
            (
                json!({"kms_key": "k", "key_type": "RSA", "endpoint": "localhost"}),
                "endpoint",
            ),
        ] {
            let e = parse(data.clone(), &generic).unwrap_err();
            assert!(e.messages()[0].contains(named), "{data}: {e:?}");
        }
        let generating = Generic {
            allow_generate_key: true,
            ..Generic::default()
        };
        let e = parse(
            json!({"kms_key": "1234", "key_type": "RSA", "key_bits": 2048}),
            &generating,
        )
        .unwrap_err();
        assert!(e.messages()[0].contains("alias"), "{e:?}");
    }
}
