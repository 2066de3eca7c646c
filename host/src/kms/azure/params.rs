//! An `azurekeyvault` managed key's parameters, by the seed's names, plus
//! two of Coffer's for clouds the `environment` list does not name (and the
//! tests' local server): `endpoint`, the vault's URL, and `authority_host`,
//! Entra ID's. Parsed from a request (over the stored ones, for an update)
//! and shown with the client secret redacted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::kms::record::{key_bits_field, secret_field, text_field, url_field, Generic, Secret};

/// Every field an `azurekeyvault` key takes besides the generic ones.
pub const FIELDS: [&str; 11] = [
    "tenant_id",
    "client_id",
    "client_secret",
    "environment",
    "vault_name",
    "key_name",
    "resource",
    "key_type",
    "key_bits",
    "endpoint",
    "authority_host",
];

/// An `azurekeyvault` key's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The Entra ID tenant.
    pub tenant_id: String,
    /// The application's client id.
    pub client_id: String,
    /// Its secret. Stored behind the barrier, never shown.
    pub client_secret: Secret,
    /// `AZUREPUBLICCLOUD` (default), `AZUREUSGOVERNMENTCLOUD` or
    /// `AZURECHINACLOUD`.
    pub environment: String,
    /// The vault.
    pub vault_name: String,
    /// The key.
    pub key_name: String,
    /// The vault's DNS suffix (`vault.azure.net`).
    pub resource: String,
    /// `RSA-HSM` (or `RSA`).
    pub key_type: String,
    /// RSA size for generation (0: none given).
    pub key_bits: u64,
    /// The vault's URL, instead of `https://<vault_name>.<resource>`.
    pub endpoint: Option<String>,
    /// Entra ID's URL, instead of the environment's.
    pub authority_host: Option<String>,
}

impl Params {
    /// The parameters a request gives, over `previous` (an update).
    pub fn from_request(
        data: &Map<String, Value>,
        previous: Option<&Params>,
        generic: &Generic,
    ) -> Result<Params, ApiError> {
        let text = |field: &str, old: Option<&String>| text_field(data, field, old);
        let required = |field: &str, old: Option<&String>| -> Result<String, ApiError> {
            text(field, old)?.ok_or_else(|| ApiError::bad(format!("\"{field}\" is required")))
        };
        let tenant_id = required("tenant_id", previous.map(|p| &p.tenant_id))?;
        let client_id = required("client_id", previous.map(|p| &p.client_id))?;
        let client_secret =
            secret_field(data, "client_secret", previous.map(|p| &p.client_secret))?
                .ok_or_else(|| ApiError::bad("\"client_secret\" is required"))?;
        let environment = text("environment", previous.map(|p| &p.environment))?
            .map(|e| e.to_uppercase())
            .unwrap_or_else(|| "AZUREPUBLICCLOUD".into());
        if ![
            "AZUREPUBLICCLOUD",
            "AZUREUSGOVERNMENTCLOUD",
            "AZURECHINACLOUD",
        ]
        .contains(&environment.as_str())
        {
            return Err(ApiError::bad(format!(
                "unsupported \"environment\" {environment:?}: use AZUREPUBLICCLOUD, AZUREUSGOVERNMENTCLOUD or AZURECHINACLOUD (or authority_host)"
            )));
        }
        let vault_name = required("vault_name", previous.map(|p| &p.vault_name))?;
        let key_name = required("key_name", previous.map(|p| &p.key_name))?;
        let resource = text("resource", previous.map(|p| &p.resource))?
            .unwrap_or_else(|| "vault.azure.net".into());
        let key_type = text("key_type", previous.map(|p| &p.key_type))?
            .map(|t| t.to_uppercase())
            .ok_or_else(|| ApiError::bad("\"key_type\" is required: RSA-HSM"))?;
        if key_type != "RSA-HSM" && key_type != "RSA" {
            return Err(ApiError::bad(format!(
                "unsupported \"key_type\" {key_type:?}: use RSA-HSM"
            )));
        }
        let key_bits = key_bits_field(data, previous.map(|p| p.key_bits))?;
        if generic.allow_generate_key && key_bits == 0 {
            return Err(ApiError::bad(
                "\"key_bits\" is required with allow_generate_key",
            ));
        }
        // Azure's clients speak only TLS.
        let url = |field: &str, old: Option<&String>| url_field(data, field, old, true);
        let endpoint = url("endpoint", previous.and_then(|p| p.endpoint.as_ref()))?;
        let authority_host = url(
            "authority_host",
            previous.and_then(|p| p.authority_host.as_ref()),
        )?;
        Ok(Params {
            tenant_id,
            client_id,
            client_secret,
            environment,
            vault_name,
            key_name,
            resource,
            key_type,
            key_bits,
            endpoint,
            authority_host,
        })
    }

    /// The vault's URL.
    pub fn vault_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.{}", self.vault_name, self.resource))
    }

    /// Adds the read's fields.
    pub fn show(&self, out: &mut Map<String, Value>) {
        for (field, value) in [
            ("tenant_id", &self.tenant_id),
            ("client_id", &self.client_id),
            ("environment", &self.environment),
            ("vault_name", &self.vault_name),
            ("key_name", &self.key_name),
            ("resource", &self.resource),
            ("key_type", &self.key_type),
        ] {
            out.insert(field.into(), value.clone().into());
        }
        out.insert("client_secret".into(), "redacted".into());
        out.insert("key_bits".into(), self.key_bits.into());
        out.insert(
            "endpoint".into(),
            self.endpoint.clone().unwrap_or_default().into(),
        );
        out.insert(
            "authority_host".into(),
            self.authority_host.clone().unwrap_or_default().into(),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_parse_and_mistakes_are_named() {
        let base = json!({"tenant_id": "t", "client_id": "c", "client_secret": "s",
                          "vault_name": "v", "key_name": "k", "key_type": "rsa-hsm"});
        let p = Params::from_request(base.as_object().unwrap(), None, &Generic::default()).unwrap();
        assert_eq!(p.vault_url(), "https://v.vault.azure.net");
        assert_eq!(p.key_type, "RSA-HSM");
        let mut shown = Map::new();
        p.show(&mut shown);
        assert_eq!(shown["client_secret"], "redacted");
        for (change, named) in [
            (json!({"tenant_id": null}), "tenant_id"),
            (json!({"key_type": "EC"}), "key_type"),
            (json!({"environment": "mars"}), "environment"),
            (json!({"endpoint": "http://127.0.0.1"}), "https"),
            (json!({"key_bits": 1024}), "key_bits"),
        ] {
            let data = crate::kms::record::changed(&base, &change);
            let e = Params::from_request(&data, None, &Generic::default()).unwrap_err();
            assert!(e.messages()[0].contains(named), "{change}: {e:?}");
        }
    }
}
