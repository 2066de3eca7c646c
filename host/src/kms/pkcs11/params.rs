//! A `pkcs11` managed key's parameters, by the seed's names: parsed from
//! a request (over the stored ones, for an update) and shown with the PIN
//! redacted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::fields::{opt_bool, opt_string, opt_u64};
use crate::kms::record::{key_bits_field, text_field, Generic, Secret};

/// Every field a `pkcs11` key takes besides the generic ones.
pub const FIELDS: [&str; 11] = [
    "library",
    "slot",
    "token_label",
    "pin",
    "key_label",
    "key_id",
    "mechanism",
    "key_bits",
    "curve",
    "force_rw_session",
    "max_parallel",
];

/// The most sessions one key keeps open (`max_parallel`).
pub const MAX_PARALLEL: u64 = 1024;

/// The mechanisms the seed lists, by their PKCS#11 codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mechanism {
    /// `0x0001` CKM_RSA_PKCS.
    RsaPkcs,
    /// `0x000D` CKM_RSA_PKCS_PSS.
    RsaPkcsPss,
    /// `0x0009` CKM_RSA_PKCS_OAEP.
    RsaPkcsOaep,
    /// `0x1041` CKM_ECDSA.
    Ecdsa,
}

impl Mechanism {
    /// Its PKCS#11 code.
    pub fn code(self) -> u64 {
        match self {
            Mechanism::RsaPkcs => 0x0001,
            Mechanism::RsaPkcsPss => 0x000D,
            Mechanism::RsaPkcsOaep => 0x0009,
            Mechanism::Ecdsa => 0x1041,
        }
    }

    /// Whether its keys are RSA keys (else EC).
    pub fn is_rsa(self) -> bool {
        self != Mechanism::Ecdsa
    }

    /// The hexadecimal string (`"0x1041"`) or number a request gives.
    fn parse(value: &Value) -> Result<Self, ApiError> {
        let code = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => {
                let s = s.trim();
                match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => s.parse().ok(),
                }
            }
            _ => None,
        };
        [
            Mechanism::RsaPkcs,
            Mechanism::RsaPkcsPss,
            Mechanism::RsaPkcsOaep,
            Mechanism::Ecdsa,
        ]
        .into_iter()
        .find(|m| Some(m.code()) == code)
        .ok_or_else(|| {
            ApiError::bad(format!(
                "unsupported \"mechanism\" {value}: use 0x0001 (CKM_RSA_PKCS), 0x000D (CKM_RSA_PKCS_PSS), 0x0009 (CKM_RSA_PKCS_OAEP) or 0x1041 (CKM_ECDSA)"
            ))
        })
    }
}

/// An EC key's curve (`curve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
}

impl Curve {
    /// Its name in `curve`.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P256",
            Curve::P384 => "P384",
            Curve::P521 => "P521",
        }
    }

    fn parse(name: &str) -> Result<Self, ApiError> {
        match name.to_uppercase().replace('-', "").as_str() {
            "P256" => Ok(Curve::P256),
            "P384" => Ok(Curve::P384),
            "P521" => Ok(Curve::P521),
            _ => Err(ApiError::bad(format!(
                "unsupported \"curve\" {name:?}: use P256, P384 or P521"
            ))),
        }
    }
}

/// A `pkcs11` key's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The `kms_library` stanza's name (lowercase).
    pub library: String,
    /// The slot, if given.
    pub slot: Option<u64>,
    /// The token's label, if given.
    pub token_label: Option<String>,
    /// The user PIN. Stored behind the barrier, never shown.
    pub pin: Secret,
    /// The key's label, if given.
    pub key_label: Option<String>,
    /// The key's CKA_ID, if given: hexadecimal, as given.
    pub key_id: Option<String>,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// RSA key size for generation (0: none given).
    pub key_bits: u64,
    /// EC curve for generation.
    pub curve: Option<Curve>,
    /// Open read-write sessions for everything.
    pub force_rw_session: bool,
    /// Sessions (so operations) in flight at once.
    pub max_parallel: u64,
}

impl Params {
    /// The parameters a request gives, over `previous` (an update).
    pub fn from_request(
        data: &Map<String, Value>,
        previous: Option<&Params>,
        generic: &Generic,
    ) -> Result<Params, ApiError> {
        let text = |field: &str, old: Option<&String>| text_field(data, field, old);
        let library = text("library", previous.map(|p| &p.library))?
            .map(|l| l.to_lowercase())
            .ok_or_else(|| ApiError::bad("\"library\" is required: the name of a kms_library stanza in the server's configuration"))?;
        let slot = match data.get("slot") {
            None | Some(Value::Null) => previous.and_then(|p| p.slot),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(_) => Some(
                opt_u64(data, "slot")?
                    .ok_or_else(|| ApiError::bad("\"slot\" must be a decimal slot number"))?,
            ),
        };
        let token_label = text("token_label", previous.and_then(|p| p.token_label.as_ref()))?;
        if slot.is_none() && token_label.is_none() {
            return Err(ApiError::bad("\"slot\" or \"token_label\" is required"));
        }
        let pin = match text("pin", None)? {
            Some(pin) => Secret::new(pin),
            None => previous
                .map(|p| p.pin.clone())
                .ok_or_else(|| ApiError::bad("\"pin\" is required"))?,
        };
        let key_label = text("key_label", previous.and_then(|p| p.key_label.as_ref()))?;
        let key_id = text("key_id", previous.and_then(|p| p.key_id.as_ref()))?;
        if let Some(id) = &key_id {
            parse_key_id(id)?;
        }
        if key_label.is_none() && key_id.is_none() {
            return Err(ApiError::bad("\"key_label\" or \"key_id\" is required"));
        }
        let mechanism = match data.get("mechanism") {
            None | Some(Value::Null) => previous
                .map(|p| p.mechanism)
                .ok_or_else(|| ApiError::bad("\"mechanism\" is required"))?,
            Some(value) => Mechanism::parse(value)?,
        };
        let key_bits = key_bits_field(data, previous.map(|p| p.key_bits))?;
        let curve = match opt_string(data, "curve")? {
            Some(c) if c.trim().is_empty() => None,
            Some(c) => Some(Curve::parse(c.trim())?),
            None => previous.and_then(|p| p.curve),
        };
        let force_rw_session = match opt_bool(data, "force_rw_session")? {
            Some(b) => b,
            None => previous.is_some_and(|p| p.force_rw_session),
        };
        let max_parallel = match opt_u64(data, "max_parallel")? {
            Some(n) => n,
            None => previous.map(|p| p.max_parallel).unwrap_or(1),
        };
        if !(1..=MAX_PARALLEL).contains(&max_parallel) {
            return Err(ApiError::bad(format!(
                "\"max_parallel\" must be between 1 and {MAX_PARALLEL}"
            )));
        }
        if generic.allow_generate_key {
            if mechanism.is_rsa() && key_bits == 0 {
                return Err(ApiError::bad(
                    "\"key_bits\" is required with allow_generate_key for an RSA mechanism",
                ));
            }
            if !mechanism.is_rsa() && curve.is_none() {
                return Err(ApiError::bad(
                    "\"curve\" is required with allow_generate_key for CKM_ECDSA",
                ));
            }
        }
        Ok(Params {
            library,
            slot,
            token_label,
            pin,
            key_label,
            key_id,
            mechanism,
            key_bits,
            curve,
            force_rw_session,
            max_parallel,
        })
    }

    /// The key's CKA_ID as bytes, if given.
    pub fn key_id_bytes(&self) -> Option<Vec<u8>> {
        self.key_id.as_deref().and_then(|id| parse_key_id(id).ok())
    }

    /// The PIN, in memory that is wiped after use.
    pub fn pin(&self) -> Zeroizing<String> {
        Zeroizing::new(self.pin.expose().to_string())
    }

    /// Adds the read's fields (the seed's sample shape).
    pub fn show(&self, out: &mut Map<String, Value>) {
        out.insert("library".into(), self.library.clone().into());
        out.insert("slot".into(), self.slot.unwrap_or(0).into());
        out.insert(
            "token_label".into(),
            self.token_label.clone().unwrap_or_default().into(),
        );
        out.insert("pin".into(), "redacted".into());
        out.insert(
            "key_label".into(),
            self.key_label.clone().unwrap_or_default().into(),
        );
        out.insert(
            "key_id".into(),
            self.key_id.clone().unwrap_or_default().into(),
        );
        out.insert("mechanism".into(), self.mechanism.code().into());
        out.insert("key_bits".into(), self.key_bits.into());
        out.insert(
            "curve".into(),
            self.curve.map(Curve::name).unwrap_or_default().into(),
        );
        out.insert("force_rw_session".into(), self.force_rw_session.into());
        out.insert("max_parallel".into(), self.max_parallel.into());
    }
}

/// A `key_id`: hexadecimal bytes, `0x` optional.
fn parse_key_id(id: &str) -> Result<Vec<u8>, ApiError> {
    let hex_digits = id
        .strip_prefix("0x")
        .or_else(|| id.strip_prefix("0X"))
        .unwrap_or(id);
    hex::decode(hex_digits)
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| {
            ApiError::bad(format!(
                "\"key_id\" {id:?} must be the key's CKA_ID in hexadecimal"
            ))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(data: Value, previous: Option<&Params>) -> Result<Params, ApiError> {
        let data = data.as_object().cloned().unwrap();
        Params::from_request(&data, previous, &Generic::default())
    }

    #[test]
    fn the_seeds_sample_parses_and_updates_keep_the_rest() {
        let p = parse(
            json!({"library": "SoftHSM", "slot": "693149389", "pin": "12345",
                   "key_label": "hsm-key1", "mechanism": "0x0001"}),
            None,
        )
        .unwrap();
        assert_eq!(p.library, "softhsm");
        assert_eq!(p.slot, Some(693149389));
        assert_eq!(p.mechanism, Mechanism::RsaPkcs);
        assert_eq!(p.max_parallel, 1);
        let q = parse(json!({"max_parallel": 4, "mechanism": 4161}), Some(&p)).unwrap();
        assert_eq!(q.pin.expose(), "12345");
        assert_eq!(format!("{:?}", q.pin), "redacted");
        assert_eq!(q.mechanism, Mechanism::Ecdsa);
        assert_eq!(q.max_parallel, 4);
        let mut shown = Map::new();
        q.show(&mut shown);
        assert_eq!(shown["pin"], "redacted");
        assert_eq!(shown["mechanism"], 0x1041);
    }

    #[test]
    fn mistakes_are_named() {
        let base =
            json!({"library": "h", "slot": 1, "pin": "1", "key_label": "k", "mechanism": "0x1041"});
        for (change, named) in [
            (json!({"library": null}), "\"library\""),
            (json!({"slot": null}), "\"token_label\""),
            (json!({"slot": "x"}), "\"slot\""),
            (json!({"pin": null}), "\"pin\""),
            (json!({"key_label": null}), "\"key_id\""),
            (json!({"key_id": "zz"}), "\"key_id\""),
            (json!({"mechanism": "0x0002"}), "mechanism"),
            (json!({"key_bits": 1024}), "key_bits"),
            (json!({"curve": "P-224"}), "curve"),
            (json!({"max_parallel": 0}), "max_parallel"),
        ] {
            let data = crate::kms::record::changed(&base, &change);
            let e = parse(Value::Object(data), None).unwrap_err();
            assert!(e.messages()[0].contains(named), "{change}: {e:?}");
        }
        let generic = Generic {
            allow_generate_key: true,
            ..Generic::default()
        };
        let data = base.as_object().cloned().unwrap();
        let e = Params::from_request(&data, None, &generic).unwrap_err();
        assert!(e.messages()[0].contains("\"curve\""), "{e:?}");
    }
}
