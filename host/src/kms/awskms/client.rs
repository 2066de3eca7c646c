//! The AWS KMS client and the opened key (see the module's doc in
//! `mod.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;
use aws_smithy_types::timeout::TimeoutConfig;
use zeroize::Zeroizing;

use super::Params;
use crate::api::ApiError;
use crate::crypto::{
    ecdsa_from_der, CryptoError, ExternalSignature, HashAlgorithm, KeyFuture, KeyHandle, KeyType,
    PublicKey, SignOptions,
};
use crate::keys::managed::ManagedKeyError;
use crate::kms::device::{Device, DeviceKey, DigestSignature, Scheme};
use crate::kms::record::{Generic, Secret};
use crate::kms::remote;
use crate::seal::auto::{bounded, AwsSeal, SealType, WrapFuture, Wrapper};

/// The longest one KMS call may take, and to connect.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// An AWS KMS key's signing (`kms::device::DeviceKey` makes it a key
/// handle).
pub struct AwsDevice {
    client: Client,
    key_id: String,
    key_type: KeyType,
}

impl fmt::Debug for AwsDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsDevice")
            .field("key_id", &self.key_id)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A failed call: the service's answer is the caller's mistake (400), a
/// call that did not reach it or timed out is 503.
fn sdk_error<E, R>(what: &str, e: SdkError<E, R>) -> ManagedKeyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("error");
            let message = err.message().unwrap_or_default();
            ManagedKeyError::Invalid(format!("AWS KMS refused {what}: {code}: {message}"))
        }
        other => ManagedKeyError::Unavailable(format!(
            "AWS KMS could not be reached for {what}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        )),
    }
}

async fn client(params: &Params) -> Client {
    client_for(
        &params.region,
        params
            .access_key
            .as_deref()
            .zip(params.secret_key.as_ref().map(Secret::expose)),
        params.endpoint.as_deref(),
    )
    .await
}

/// A client for `region`, with these keys (else the environment's chain)
/// and endpoint (else AWS's).
async fn client_for(region: &str, keys: Option<(&str, &str)>, endpoint: Option<&str>) -> Client {
    let mut config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some((access, secret)) = keys {
        config = config.credentials_provider(Credentials::new(
            access.to_string(),
            secret.to_string(),
            None,
            None,
            "coffer",
        ));
    } else {
        config = config.credentials_provider(
            aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .region(Region::new(region.to_string()))
                .build()
                .await,
        );
    }
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint.to_string());
    }
    Client::from_conf(config.build())
}

/// The key spec `params` ask to generate.
fn spec(params: &Params) -> Result<KeySpec, ManagedKeyError> {
    Ok(
        match (
            params.key_type.as_str(),
            params.key_bits,
            params.curve.as_deref(),
        ) {
            ("RSA", 2048, _) => KeySpec::Rsa2048,
            ("RSA", 3072, _) => KeySpec::Rsa3072,
            ("RSA", 4096, _) => KeySpec::Rsa4096,
            ("ECDSA", _, Some("P256")) => KeySpec::EccNistP256,
            ("ECDSA", _, Some("P384")) => KeySpec::EccNistP384,
            ("ECDSA", _, Some("P521")) => KeySpec::EccNistP521,
            _ => {
                return Err(ManagedKeyError::Invalid(
                    "key_type, key_bits and curve do not name a key AWS KMS can make".into(),
                ))
            }
        },
    )
}

/// Opens (or, if allowed, makes) the key `params` names.
pub async fn open(
    name: String,
    params: Params,
    generic: Generic,
) -> Result<Arc<dyn KeyHandle>, ManagedKeyError> {
    remote(async move {
        let client = client(&params).await;
        let public = match client.get_public_key().key_id(&params.kms_key).send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(e))
                if e.err().is_not_found_exception() && generic.allow_generate_key =>
            {
                let made = client
                    .create_key()
                    .key_spec(spec(&params)?)
                    .key_usage(KeyUsageType::SignVerify)
                    .description(format!("Coffer managed key {name}"))
                    .send()
                    .await
                    .map_err(|e| sdk_error("CreateKey", e))?;
                let id = made
                    .key_metadata()
                    .map(|m| m.key_id().to_string())
                    .ok_or_else(|| {
                        ManagedKeyError::Unavailable("CreateKey gave no key id".into())
                    })?;
                client
                    .create_alias()
                    .alias_name(&params.kms_key)
                    .target_key_id(&id)
                    .send()
                    .await
                    .map_err(|e| sdk_error("CreateAlias", e))?;
                tracing::info!(alias = %params.kms_key, "generated a managed key in AWS KMS");
                client
                    .get_public_key()
                    .key_id(&id)
                    .send()
                    .await
                    .map_err(|e| sdk_error("GetPublicKey", e))?
            }
            Err(e) => return Err(sdk_error("GetPublicKey", e)),
        };
        if public.key_usage() != Some(&KeyUsageType::SignVerify) {
            return Err(ManagedKeyError::Invalid(format!(
                "AWS KMS key {:?} is not a SIGN_VERIFY key",
                params.kms_key
            )));
        }
        let der = public
            .public_key()
            .ok_or_else(|| ManagedKeyError::Unavailable("GetPublicKey gave no key".into()))?;
        let key_type = match public.key_spec() {
            Some(KeySpec::Rsa2048) => KeyType::Rsa2048,
            Some(KeySpec::Rsa3072) => KeyType::Rsa3072,
            Some(KeySpec::Rsa4096) => KeyType::Rsa4096,
            Some(KeySpec::EccNistP256) => KeyType::EcdsaP256,
            Some(KeySpec::EccNistP384) => KeyType::EcdsaP384,
            Some(KeySpec::EccNistP521) => KeyType::EcdsaP521,
            other => {
                return Err(ManagedKeyError::Invalid(format!(
                    "AWS KMS key {:?} is {other:?}: only RSA and NIST ECC keys can be managed keys",
                    params.kms_key
                )))
            }
        };
        if (params.key_type == "RSA") != key_type.rsa_bits().is_some() {
            return Err(ManagedKeyError::Invalid(format!(
                "AWS KMS key {:?} is {key_type}, not key_type {}",
                params.kms_key, params.key_type
            )));
        }
        let public_key = PublicKey::import(key_type, der.as_ref())
            .map_err(|e| ManagedKeyError::Invalid(format!("the key's public half: {e}")))?;
        let key_id = public
            .key_id()
            .map(str::to_string)
            .unwrap_or_else(|| params.kms_key.clone());
        let device = AwsDevice {
            client,
            key_id,
            key_type,
        };
        Ok(Arc::new(DeviceKey::new(&name, public_key, generic, device)) as Arc<dyn KeyHandle>)
    })
    .await
    .map_err(|e| ManagedKeyError::Unavailable(e.to_string()))?
}

/// AWS KMS's name for a signature of `signature` by a `key_type` key; a
/// 400 for what it has none for (each curve pairs with one hash).
fn algorithm(
    key_type: KeyType,
    signature: &DigestSignature,
) -> Result<SigningAlgorithmSpec, CryptoError> {
    use HashAlgorithm::{Sha256, Sha384, Sha512};
    use SigningAlgorithmSpec as S;
    Ok(match (signature.scheme, key_type, signature.hash) {
        (Scheme::Ecdsa, KeyType::EcdsaP256, Sha256) => S::EcdsaSha256,
        (Scheme::Ecdsa, KeyType::EcdsaP384, Sha384) => S::EcdsaSha384,
        (Scheme::Ecdsa, KeyType::EcdsaP521, Sha512) => S::EcdsaSha512,
        (Scheme::Pkcs1, _, Sha256) => S::RsassaPkcs1V15Sha256,
        (Scheme::Pkcs1, _, Sha384) => S::RsassaPkcs1V15Sha384,
        (Scheme::Pkcs1, _, Sha512) => S::RsassaPkcs1V15Sha512,
        (Scheme::Pss, _, Sha256) => S::RsassaPssSha256,
        (Scheme::Pss, _, Sha384) => S::RsassaPssSha384,
        (Scheme::Pss, _, Sha512) => S::RsassaPssSha512,
        (scheme, key_type, hash) => {
            return Err(CryptoError::new(format!(
                "AWS KMS cannot sign {scheme:?} with {hash} by a {key_type} key"
            )))
        }
    })
}

impl Device for AwsDevice {
    fn sign(
        self: Arc<Self>,
        prepared: ExternalSignature,
        options: SignOptions,
    ) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            let signature = DigestSignature::of(prepared, &options, "AWS KMS")?;
            let spec = algorithm(self.key_type, &signature)?;
            let digest = signature.digest;
            let this = Arc::clone(&self);
            let signed = remote(async move {
                this.client
                    .sign()
                    .key_id(&this.key_id)
                    .message(Blob::new(digest))
                    .message_type(MessageType::Digest)
                    .signing_algorithm(spec)
                    .send()
                    .await
            })
            .await
            .map_err(|e| CryptoError::unavailable(e.to_string()))?
            .map_err(|e| CryptoError::from(sdk_error("Sign", e)))?;
            let signature = signed
                .signature()
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| CryptoError::unavailable("AWS KMS gave no signature"))?;
            if self.key_type.rsa_bits().is_some() {
                Ok(signature)
            } else {
                ecdsa_from_der(self.key_type, &signature, options.encoding)
            }
        })
    }
}

/// The `awskms` seal: the root key encrypted by a symmetric KMS key, with
/// the encryption context `coffer=root-key`.
pub struct AwsSealWrapper {
    settings: AwsSeal,
}

impl AwsSealWrapper {
    /// The wrapper of a `seal "awskms"` stanza.
    pub fn new(settings: AwsSeal) -> Self {
        AwsSealWrapper { settings }
    }
}

/// The seal's view of a failed KMS call: always a 503 (the server cannot
/// unseal), naming AWS's code when it answered.
fn seal_error<E, R>(what: &str, e: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    ApiError::Unavailable(format!("the awskms seal: {}", sdk_error(what, e)))
}

/// The seal's client.
async fn seal_client(s: &AwsSeal) -> Client {
    let keys = s
        .access_key
        .as_deref()
        .zip(s.secret_key.as_ref().map(Secret::expose));
    client_for(&s.region, keys, s.endpoint.as_deref()).await
}

impl Wrapper for AwsSealWrapper {
    fn seal_type(&self) -> SealType {
        SealType::Awskms
    }

    fn wrap(&self, root_key: Zeroizing<Vec<u8>>) -> WrapFuture<Vec<u8>> {
        let s = self.settings.clone();
        Box::pin(bounded(async move {
            remote(async move {
                let client = seal_client(&s).await;
                let out = client
                    .encrypt()
                    .key_id(&s.kms_key_id)
                    .plaintext(Blob::new(root_key.to_vec()))
                    .encryption_context("coffer", "root-key")
                    .send()
                    .await
                    .map_err(|e| seal_error("Encrypt", e))?;
                out.ciphertext_blob()
                    .map(|b| b.as_ref().to_vec())
                    .ok_or_else(|| {
                        ApiError::Unavailable("the awskms seal: Encrypt gave nothing".into())
                    })
            })
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
        }))
    }

    fn unwrap(&self, blob: Vec<u8>) -> WrapFuture<Zeroizing<Vec<u8>>> {
        let s = self.settings.clone();
        Box::pin(bounded(async move {
            remote(async move {
                let client = seal_client(&s).await;
                let out = client
                    .decrypt()
                    .key_id(&s.kms_key_id)
                    .ciphertext_blob(Blob::new(blob))
                    .encryption_context("coffer", "root-key")
                    .send()
                    .await
                    .map_err(|e| seal_error("Decrypt", e))?;
                out.plaintext()
                    .map(|b| Zeroizing::new(b.as_ref().to_vec()))
                    .ok_or_else(|| {
                        ApiError::Unavailable("the awskms seal: Decrypt gave nothing".into())
                    })
            })
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
        }))
    }
}
