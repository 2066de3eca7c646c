//! The Cloud KMS client and the opened key (see `mod.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use google_cloud_gax::retry_policy::LimitedAttemptCount;
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::crypto_key::CryptoKeyPurpose;
use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionAlgorithm;
use google_cloud_kms_v1::model::{CryptoKey, CryptoKeyVersionTemplate, Digest};

use super::Params;
use crate::crypto::{
    ecdsa_from_der, CryptoError, ExternalSignature, HashAlgorithm, KeyFuture, KeyHandle, KeyType,
    PublicKey, SignOptions,
};
use crate::keys::managed::ManagedKeyError;
use crate::kms::device::{Device, DeviceKey, DigestSignature, Scheme};
use crate::kms::record::Generic;
use crate::kms::remote;

/// The longest one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Cloud KMS key version's signing (`kms::device::DeviceKey` makes it a
/// key handle).
pub struct GcpDevice {
    client: KeyManagementService,
    version_name: String,
    key_type: KeyType,
    hash: HashAlgorithm,
    pss: bool,
}

impl fmt::Debug for GcpDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpDevice")
            .field("version_name", &self.version_name)
            .finish_non_exhaustive()
    }
}

/// A failed call: Cloud KMS's answer (or its refusal of the credentials)
/// is a 400; a call that did not reach it is a 503.
fn gcp_error(what: &str, e: &google_cloud_kms_v1::Error) -> ManagedKeyError {
    if e.is_authentication() || matches!(e.http_status_code(), Some(401 | 403)) {
        return ManagedKeyError::Invalid(format!(
            "Google Cloud KMS refused the credentials for {what}: {e}"
        ));
    }
    if let Some(status) = e.http_status_code() {
        return ManagedKeyError::Invalid(format!(
            "Google Cloud KMS answered {what} with {status}: {e}"
        ));
    }
    if e.is_connect() || e.is_io() || e.is_timeout() || e.is_transport() || e.is_exhausted() {
        return ManagedKeyError::Unavailable(format!(
            "Google Cloud KMS could not be reached for {what}: {e}"
        ));
    }
    ManagedKeyError::Invalid(format!("Google Cloud KMS failed {what}: {e}"))
}

/// The credentials `params` name: a file's path or the JSON itself; else
/// `GOOGLE_CREDENTIALS` (the same forms) or the environment's default
/// (`GOOGLE_APPLICATION_CREDENTIALS`, the metadata server).
fn credentials(
    params: &Params,
) -> Result<google_cloud_auth::credentials::Credentials, ManagedKeyError> {
    let given = params
        .credentials
        .as_ref()
        .map(|c| c.expose().to_string())
        .or_else(|| {
            std::env::var("GOOGLE_CREDENTIALS")
                .ok()
                .filter(|v| !v.is_empty())
        });
    let invalid = |e: String| ManagedKeyError::Invalid(format!("\"credentials\": {e}"));
    let Some(given) = given else {
        return google_cloud_auth::credentials::Builder::default()
            .build()
            .map_err(|e| invalid(e.to_string()));
    };
    let text = if given.trim_start().starts_with('{') {
        given
    } else {
        // Not echoed: it may be a key pasted in another form.
        std::fs::read_to_string(&given).map_err(|e| {
            invalid(format!(
                "not JSON, and no file of that name can be read: {e}"
            ))
        })?
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    google_cloud_auth::credentials::service_account::Builder::new(json)
        .build()
        .map_err(|e| invalid(format!("not a service account's key: {e}")))
}

async fn client(params: &Params) -> Result<KeyManagementService, ManagedKeyError> {
    let mut builder = KeyManagementService::builder()
        .with_credentials(credentials(params)?)
        .with_retry_policy(LimitedAttemptCount::new(2))
        .with_attempt_timeout(ATTEMPT_TIMEOUT);
    if let Some(endpoint) = &params.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    builder
        .build()
        .await
        .map_err(|e| ManagedKeyError::Invalid(format!("Google Cloud KMS client: {e}")))
}

/// Opens (or, if allowed, makes) the key version `params` names.
pub async fn open(
    name: String,
    params: Params,
    generic: Generic,
) -> Result<Arc<dyn KeyHandle>, ManagedKeyError> {
    let (key_type, hash, pss) = params
        .algorithm()
        .ok_or_else(|| ManagedKeyError::Invalid(format!("algorithm {:?}", params.algorithm)))?;
    remote(async move {
        let client = client(&params).await?;
        let version_name = params.version_name();
        let read = client.get_public_key().set_name(&version_name).send().await;
        let public = match read {
            Ok(public) => public,
            Err(e) if e.http_status_code() == Some(404) && generic.allow_generate_key => {
                let key = CryptoKey::new()
                    .set_purpose(CryptoKeyPurpose::AsymmetricSign)
                    .set_version_template(
                        CryptoKeyVersionTemplate::new()
                            .set_algorithm(CryptoKeyVersionAlgorithm::from(params.algorithm.as_str())),
                    );
                client
                    .create_crypto_key()
                    .set_parent(params.key_ring_name())
                    .set_crypto_key_id(&params.crypto_key)
                    .set_crypto_key(key)
                    .send()
                    .await
                    .map_err(|e| gcp_error("CreateCryptoKey", &e))?;
                tracing::info!(key = %params.crypto_key, "generated a managed key in Google Cloud KMS");
                client
                    .get_public_key()
                    .set_name(&version_name)
                    .send()
                    .await
                    .map_err(|e| gcp_error("GetPublicKey", &e))?
            }
            Err(e) => return Err(gcp_error("GetPublicKey", &e)),
        };
        let algorithm = public.algorithm.name().unwrap_or_default().to_string();
        if algorithm != params.algorithm {
            return Err(ManagedKeyError::Invalid(format!(
                "Google Cloud KMS key version {version_name} is {algorithm}, not {}",
                params.algorithm
            )));
        }
        let public_key = PublicKey::import(key_type, public.pem.as_bytes())
            .map_err(|e| ManagedKeyError::Invalid(format!("the key's public half: {e}")))?;
        let device = GcpDevice {
            client,
            version_name,
            key_type,
            hash,
            pss,
        };
        Ok(Arc::new(DeviceKey::new(&name, public_key, generic, device)) as Arc<dyn KeyHandle>)
    })
    .await
    .map_err(|e| ManagedKeyError::Unavailable(e.to_string()))?
}

impl GcpDevice {
    /// The digest to send for `signature`: the key's algorithm fixes the
    /// hash and padding, so anything else is refused.
    fn digest(&self, signature: DigestSignature) -> Result<Vec<u8>, CryptoError> {
        if signature.hash != self.hash {
            return Err(CryptoError::new(format!(
                "this Google Cloud KMS key signs only with {} (its algorithm)",
                self.hash
            )));
        }
        if self.key_type.rsa_bits().is_some() && (signature.scheme == Scheme::Pss) != self.pss {
            return Err(CryptoError::new(format!(
                "this Google Cloud KMS key signs only with {} padding (its algorithm)",
                if self.pss { "PSS" } else { "PKCS#1 v1.5" }
            )));
        }
        Ok(signature.digest)
    }
}

impl Device for GcpDevice {
    fn sign(
        self: Arc<Self>,
        prepared: ExternalSignature,
        options: SignOptions,
    ) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            let digest =
                self.digest(DigestSignature::of(prepared, &options, "Google Cloud KMS")?)?;
            let this = Arc::clone(&self);
            let signed = remote(async move {
                let digest = match this.hash {
                    HashAlgorithm::Sha384 => Digest::new().set_sha384(digest),
                    HashAlgorithm::Sha512 => Digest::new().set_sha512(digest),
                    _ => Digest::new().set_sha256(digest),
                };
                this.client
                    .asymmetric_sign()
                    .set_name(&this.version_name)
                    .set_digest(digest)
                    .send()
                    .await
                    .map_err(|e| CryptoError::from(gcp_error("AsymmetricSign", &e)))
            })
            .await
            .map_err(|e| CryptoError::unavailable(e.to_string()))??;
            let signature = signed.signature.to_vec();
            if self.key_type.rsa_bits().is_some() {
                Ok(signature)
            } else {
                ecdsa_from_der(self.key_type, &signature, options.encoding)
            }
        })
    }
}
