//! The Azure Key Vault client and the opened key (see `mod.rs`).

use std::fmt;
use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::Secret;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, KeyClientSignOptions, KeyType as AzureKeyType, SignParameters,
    SignatureAlgorithm,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};

use super::Params;
use crate::crypto::{
    CryptoError, ExternalSignature, HashAlgorithm, KeyFuture, KeyHandle, PublicKey, SignOptions,
};
use crate::keys::managed::ManagedKeyError;
use crate::kms::device::{Device, DeviceKey, DigestSignature, Scheme};
use crate::kms::record::Generic;
use crate::kms::remote;

/// An Azure Key Vault key's signing (`kms::device::DeviceKey` makes it a
/// key handle).
pub struct AzureDevice {
    client: KeyClient,
    key_name: String,
    version: Option<String>,
}

impl fmt::Debug for AzureDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureDevice")
            .field("key_name", &self.key_name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A failed call: an answer from the vault is a 400 naming it; no answer
/// (or Entra ID's refusal of the credentials) is said as it is.
fn azure_error(what: &str, e: &azure_core::Error) -> ManagedKeyError {
    // The whole chain: the retry policy wraps what went wrong.
    let mut chain = e.to_string();
    let mut credential = matches!(e.kind(), ErrorKind::Credential);
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        chain.push_str(": ");
        chain.push_str(&inner.to_string());
        if let Some(az) = inner.downcast_ref::<azure_core::Error>() {
            credential |= matches!(az.kind(), ErrorKind::Credential);
        }
        source = inner.source();
    }
    if credential {
        return ManagedKeyError::Invalid(format!(
            "Entra ID refused the credentials for {what}: {chain}"
        ));
    }
    match (e.http_status(), e.kind()) {
        (Some(StatusCode::Unauthorized | StatusCode::Forbidden), _) => ManagedKeyError::Invalid(
            format!("Azure Key Vault refused the credentials for {what}: {chain}"),
        ),
        (Some(status), _) => ManagedKeyError::Invalid(format!(
            "Azure Key Vault answered {what} with {status}: {chain}"
        )),
        (None, ErrorKind::Connection | ErrorKind::Io) => ManagedKeyError::Unavailable(format!(
            "Azure Key Vault could not be reached for {what}: {chain}"
        )),
        (None, _) => {
            ManagedKeyError::Unavailable(format!("Azure Key Vault failed {what}: {chain}"))
        }
    }
}

fn client(params: &Params) -> Result<KeyClient, ManagedKeyError> {
    let invalid = |e: azure_core::Error| ManagedKeyError::Invalid(format!("Azure settings: {e}"));
    let cloud = match (&params.authority_host, params.environment.as_str()) {
        (Some(host), _) => {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = host.clone();
            Some(Arc::new(CloudConfiguration::from(custom)))
        }
        (None, "AZUREUSGOVERNMENTCLOUD") => Some(Arc::new(CloudConfiguration::AzureGovernment)),
        (None, "AZURECHINACLOUD") => Some(Arc::new(CloudConfiguration::AzureChina)),
        (None, _) => Some(Arc::new(CloudConfiguration::AzurePublic)),
    };
    // A few quick retries, not the SDK's minute of them: an unreachable
    // vault must be a 503 within the call's deadline.
    let retry = RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(200),
        max_retries: 2,
        max_total_elapsed: azure_core::time::Duration::seconds(5),
        max_delay: azure_core::time::Duration::seconds(2),
    });
    let client_options = ClientOptions {
        cloud,
        retry,
        ..ClientOptions::default()
    };
    let credential = ClientSecretCredential::new(
        &params.tenant_id,
        params.client_id.clone(),
        Secret::new(params.client_secret.expose().to_string()),
        Some(ClientSecretCredentialOptions {
            client_options: client_options.clone(),
        }),
    )
    .map_err(invalid)?;
    let options = KeyClientOptions {
        client_options,
        // A vault at a custom URL (a private cloud, the tests' server)
        // answers challenges for its own resource, not *.vault.azure.net.
        verify_challenge_resource: Some(params.endpoint.is_none()),
        ..KeyClientOptions::default()
    };
    KeyClient::new(&params.vault_url(), credential, Some(options)).map_err(invalid)
}

/// Opens (or, if allowed, makes) the key `params` names.
pub async fn open(
    name: String,
    params: Params,
    generic: Generic,
) -> Result<Arc<dyn KeyHandle>, ManagedKeyError> {
    remote(async move {
        let client = client(&params)?;
        let key = match client.get_key(&params.key_name, None).await {
            Ok(response) => response,
            Err(e) if e.http_status() == Some(StatusCode::NotFound) && generic.allow_generate_key => {
                let create = CreateKeyParameters {
                    kty: Some(AzureKeyType::RsaHsm),
                    key_size: Some(i32::try_from(params.key_bits).unwrap_or(2048)),
                    ..CreateKeyParameters::default()
                };
                let content = create
                    .try_into()
                    .map_err(|e: azure_core::Error| ManagedKeyError::Invalid(e.to_string()))?;
                let made = client
                    .create_key(&params.key_name, content, None)
                    .await
                    .map_err(|e| azure_error("CreateKey", &e))?;
                tracing::info!(key = %params.key_name, "generated a managed key in Azure Key Vault");
                made
            }
            Err(e) => return Err(azure_error("GetKey", &e)),
        }
        .into_model()
        .map_err(|e| ManagedKeyError::Unavailable(format!("Azure Key Vault's key: {e}")))?;
        let jwk = key
            .key
            .ok_or_else(|| ManagedKeyError::Unavailable("Azure Key Vault gave no key".into()))?;
        let (Some(n), Some(e)) = (jwk.n.as_deref(), jwk.e.as_deref()) else {
            return Err(ManagedKeyError::Invalid(format!(
                "Azure key {:?} is not an RSA key ({:?})",
                params.key_name, jwk.kty
            )));
        };
        let public = PublicKey::rsa_from_parts(n, e)
            .map_err(|e| ManagedKeyError::Invalid(format!("Azure key {:?}: {e}", params.key_name)))?;
        // The key's version, from its id: `https://<vault>/keys/<name>/<version>`.
        let version = jwk
            .kid
            .as_deref()
            .and_then(|kid| kid.rsplit('/').next())
            .filter(|v| !v.is_empty() && *v != params.key_name)
            .map(str::to_string);
        let device = AzureDevice {
            client,
            key_name: params.key_name.clone(),
            version,
        };
        Ok(Arc::new(DeviceKey::new(&name, public, generic, device)) as Arc<dyn KeyHandle>)
    })
    .await
    .map_err(|e| ManagedKeyError::Unavailable(e.to_string()))?
}

/// Azure's name for `signature` (its keys here are RSA keys).
fn algorithm(signature: &DigestSignature) -> Result<SignatureAlgorithm, CryptoError> {
    use HashAlgorithm::{Sha256, Sha384, Sha512};
    Ok(match (signature.scheme, signature.hash) {
        (Scheme::Pkcs1, Sha256) => SignatureAlgorithm::Rs256,
        (Scheme::Pkcs1, Sha384) => SignatureAlgorithm::Rs384,
        (Scheme::Pkcs1, Sha512) => SignatureAlgorithm::Rs512,
        (Scheme::Pss, Sha256) => SignatureAlgorithm::Ps256,
        (Scheme::Pss, Sha384) => SignatureAlgorithm::Ps384,
        (Scheme::Pss, Sha512) => SignatureAlgorithm::Ps512,
        (scheme, hash) => {
            return Err(CryptoError::new(format!(
                "Azure Key Vault cannot sign {scheme:?} with {hash}"
            )))
        }
    })
}

impl Device for AzureDevice {
    fn sign(
        self: Arc<Self>,
        prepared: ExternalSignature,
        options: SignOptions,
    ) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            let signature = DigestSignature::of(prepared, &options, "Azure Key Vault")?;
            let alg = algorithm(&signature)?;
            let digest = signature.digest;
            let this = Arc::clone(&self);
            remote(async move {
                let parameters = SignParameters {
                    algorithm: Some(alg),
                    value: Some(digest),
                };
                let content = parameters
                    .try_into()
                    .map_err(|e: azure_core::Error| CryptoError::new(e.to_string()))?;
                let options = KeyClientSignOptions {
                    key_version: this.version.clone(),
                    ..KeyClientSignOptions::default()
                };
                let result = this
                    .client
                    .sign(&this.key_name, content, Some(options))
                    .await
                    .map_err(|e| CryptoError::from(azure_error("Sign", &e)))?
                    .into_model()
                    .map_err(|e| CryptoError::unavailable(format!("Azure's signature: {e}")))?;
                result
                    .result
                    .ok_or_else(|| CryptoError::unavailable("Azure Key Vault gave no signature"))
            })
            .await
            .map_err(|e| CryptoError::unavailable(e.to_string()))?
        })
    }
}
