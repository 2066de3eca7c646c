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
use zeroize::Zeroizing;

use super::Params;
use crate::crypto::{
    prepare_external, Cipher, Cost, CryptoError, ExternalSignature, HashAlgorithm, KeyFuture,
    KeyHandle, KeyKind, KeyType, Operation, PrivateKeyFormat, PublicKey, SignOptions,
};
use crate::keys::managed::ManagedKeyError;
use crate::kms::record::{Generic, Usage};
use crate::kms::remote;

/// An opened Azure Key Vault key.
pub struct AzureKey {
    name: String,
    client: KeyClient,
    key_name: String,
    version: Option<String>,
    key_type: KeyType,
    public: PublicKey,
    generic: Generic,
}

impl fmt::Debug for AzureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureKey")
            .field("name", &self.name)
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
        Secret::new(params.client_secret.clone()),
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
        Ok(Arc::new(AzureKey {
            name,
            client,
            key_name: params.key_name.clone(),
            version,
            key_type: public.key_type(),
            public,
            generic,
        }) as Arc<dyn KeyHandle>)
    })
    .await
    .map_err(|e| ManagedKeyError::Unavailable(e.to_string()))?
}

/// Azure's name for a signature of `prepared`, and what it signs.
fn algorithm(
    prepared: &ExternalSignature,
    salt_given: bool,
) -> Result<(SignatureAlgorithm, Vec<u8>), CryptoError> {
    use HashAlgorithm::{Sha256, Sha384, Sha512};
    let unsupported = |what: String| {
        Err(CryptoError::new(format!(
            "Azure Key Vault cannot sign {what}"
        )))
    };
    match prepared {
        ExternalSignature::RsaPkcs1 {
            hash: Some(hash),
            encoded,
        } => {
            let alg = match hash {
                Sha256 => SignatureAlgorithm::Rs256,
                Sha384 => SignatureAlgorithm::Rs384,
                Sha512 => SignatureAlgorithm::Rs512,
                other => return unsupported(format!("PKCS#1 v1.5 with {other}")),
            };
            let digest = encoded
                .get(encoded.len().saturating_sub(hash.output_len())..)
                .unwrap_or_default();
            Ok((alg, digest.to_vec()))
        }
        ExternalSignature::RsaPss {
            hash,
            digest,
            salt_len,
        } => {
            if salt_given && *salt_len != hash.output_len() {
                return unsupported(format!(
                    "PSS with a {salt_len}-byte salt: its salt is as long as the hash"
                ));
            }
            let alg = match hash {
                Sha256 => SignatureAlgorithm::Ps256,
                Sha384 => SignatureAlgorithm::Ps384,
                Sha512 => SignatureAlgorithm::Ps512,
                other => return unsupported(format!("PSS with {other}")),
            };
            Ok((alg, digest.clone()))
        }
        ExternalSignature::RsaPkcs1 { hash: None, .. } => {
            unsupported("PKCS#1 v1.5 without a hash".into())
        }
        ExternalSignature::Ecdsa { .. } => unsupported("ECDSA: its keys here are RSA".into()),
    }
}

impl KeyHandle for AzureKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Asymmetric(self.key_type)
    }

    fn cost(&self, _operation: Operation, _input_len: usize) -> Cost {
        Cost::Remote
    }

    fn public_key(&self) -> Option<PublicKey> {
        Some(self.public.clone())
    }

    fn sign(self: Arc<Self>, message: Vec<u8>, options: SignOptions) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            if !self.generic.allows(Usage::Sign) {
                return Err(CryptoError::new(format!(
                    "managed key {:?} does not allow \"sign\" (its usages)",
                    self.name
                )));
            }
            let prepared = prepare_external(self.key_type, &message, &options)?;
            let (alg, digest) = algorithm(&prepared, options.salt_length.is_some())?;
            let this = Arc::clone(&self);
            let signed = remote(async move {
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
                    .map_err(|e| match azure_error("Sign", &e) {
                        ManagedKeyError::Unavailable(m) => CryptoError::unavailable(m),
                        other => CryptoError::new(other.to_string()),
                    })?
                    .into_model()
                    .map_err(|e| CryptoError::unavailable(format!("Azure's signature: {e}")))?;
                result
                    .result
                    .ok_or_else(|| CryptoError::unavailable("Azure Key Vault gave no signature"))
            })
            .await
            .map_err(|e| CryptoError::unavailable(e.to_string()))??;
            Ok(signed)
        })
    }

    fn encrypt(self: Arc<Self>, _plaintext: Vec<u8>, _cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Box::pin(async {
            Err(CryptoError::new(
                "an Azure Key Vault managed key only signs",
            ))
        })
    }

    fn decrypt(self: Arc<Self>, _ciphertext: Vec<u8>, _cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Box::pin(async {
            Err(CryptoError::new(
                "an Azure Key Vault managed key only signs",
            ))
        })
    }

    fn wrap(self: Arc<Self>, _key: Zeroizing<Vec<u8>>) -> KeyFuture<Vec<u8>> {
        Box::pin(async {
            Err(CryptoError::new(
                "an Azure Key Vault managed key only signs",
            ))
        })
    }

    fn unwrap_key(self: Arc<Self>, _wrapped: Vec<u8>) -> KeyFuture<Zeroizing<Vec<u8>>> {
        Box::pin(async {
            Err(CryptoError::new(
                "an Azure Key Vault managed key only signs",
            ))
        })
    }

    fn export(&self, _format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::new("a managed key is never exported"))
    }
}
