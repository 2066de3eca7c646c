//! The `pkcs11` backend: keys in an HSM reached through the PKCS#11
//! library a `kms_library "pkcs11"` stanza names, by `cryptoki`.
//!
//! - A library is loaded and initialised once per process ([`Libraries`]):
//!   PKCS#11 allows one `C_Initialize` per application, and every managed
//!   key on it shares that context.
//! - Opening a key ([`open`], blocking: the caller runs it off the
//!   runtime's workers, under a deadline) finds its token (by `slot` or
//!   `token_label`), logs in, finds the key pair (by `key_label` and/or
//!   `key_id`) or generates it when `allow_generate_key` allows, reads its
//!   public half, and checks it fits the `mechanism`. The opened key keeps
//!   its session as the first of its pool (`key.rs`).
//! - The PIN: PKCS#11 logs in per application and token, not per session,
//!   so once any session is logged in, `C_Login` answers
//!   `CKR_USER_ALREADY_LOGGED_IN` whatever PIN it is given. The PIN of the
//!   login that succeeded is remembered (as a SHA-256, per token) and a
//!   second key on the same token must give the same one, else 400. Each
//!   token has its own lock around its login, so a hung token holds up
//!   only the keys that open on it.

mod key;
mod params;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism as P11Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, KeyType as P11KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};

use crate::config::KmsLibrary;
use crate::crypto::{KeyType, PublicKey};
use crate::keys::managed::ManagedKeyError;
use crate::kms::device::DeviceKey;
use crate::kms::record::Generic;

pub use self::key::Pkcs11Device;
use self::params::Curve;
pub use self::params::{Params, FIELDS};

/// Every PKCS#11 library this process loaded, by path: each is loaded and
/// initialised once, whoever asks (managed keys, the seal).
static LOADED: Mutex<Option<HashMap<PathBuf, Pkcs11>>> = Mutex::new(None);

/// The context of the library at `path`, loaded and initialised once per
/// process; an error naming the path if it does not load.
pub fn context_for(path: &Path) -> Result<Pkcs11, String> {
    let mut loaded = LOADED
        .lock()
        .map_err(|_| "the PKCS#11 library table is poisoned".to_string())?;
    let loaded = loaded.get_or_insert_with(HashMap::new);
    if let Some(context) = loaded.get(path) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(path)
        .map_err(|e| format!("cannot load the PKCS#11 library {}: {e}", path.display()))?;
    match context.initialize(CInitializeArgs::OsThreads) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(format!(
                "cannot initialise the PKCS#11 library {}: {e}",
                path.display()
            ))
        }
    }
    loaded.insert(path.to_path_buf(), context.clone());
    Ok(context)
}

/// Logs `session` in with `pin`; a token already logged in by this process
/// is accepted as it is (the seal's own session: its PIN is the operator's
/// configuration, checked when that login was made).
pub fn log_in(session: &Session, pin: &str) -> Result<(), String> {
    match session.login(UserType::User, Some(&AuthPin::new(pin.to_string()))) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(format!("logging in to the HSM failed: {e}")),
    }
}

/// A token's login: the SHA-256 of the PIN it is logged in with, if any.
type TokenLogin = Mutex<Option<[u8; 32]>>;

/// The configured PKCS#11 libraries, each loaded on first use.
pub struct Libraries {
    configured: HashMap<String, PathBuf>,
    /// Per (library, slot): the SHA-256 of the PIN the token is logged in
    /// with (see the module's doc).
    /// Each token's lock is held across its `C_Login` (so the check and
    /// the record are one step), and only that token's: a hung token holds
    /// up no other.
    logins: Mutex<HashMap<(String, u64), Arc<TokenLogin>>>,
}

impl Libraries {
    /// The libraries of the server's `kms_library` stanzas.
    pub fn new(configured: &[KmsLibrary]) -> Self {
        Libraries {
            configured: configured
                .iter()
                .map(|l| (l.name.clone(), l.library.clone()))
                .collect(),
            logins: Mutex::new(HashMap::new()),
        }
    }

    /// The context of library `name`, loaded and initialised once.
    fn context(&self, name: &str) -> Result<Pkcs11, ManagedKeyError> {
        let path = self.configured.get(name).ok_or_else(|| {
            ManagedKeyError::Invalid(format!(
                "no kms_library \"pkcs11\" named {name:?} in the server's configuration"
            ))
        })?;
        context_for(path)
            .map_err(|e| ManagedKeyError::Invalid(format!("kms_library {name:?}: {e}")))
    }

    /// Logs `session` (on `slot` of `library`) in with `pin`, or checks
    /// `pin` against the login already there.
    fn login(
        &self,
        library: &str,
        slot: Slot,
        session: &Session,
        pin: &str,
    ) -> Result<(), ManagedKeyError> {
        let digest: [u8; 32] = Sha256::digest(pin.as_bytes()).into();
        let key = (library.to_string(), slot.id());
        let token = self
            .logins
            .lock()
            .map_err(|_| {
                ManagedKeyError::Unavailable("the PKCS#11 login table is poisoned".into())
            })?
            .entry(key)
            .or_default()
            .clone();
        let mut login = token.lock().map_err(|_| {
            ManagedKeyError::Unavailable("the PKCS#11 login table is poisoned".into())
        })?;
        let wrong = || ManagedKeyError::Invalid("the HSM refused the PIN: it is wrong".into());
        match session.login(UserType::User, Some(&AuthPin::new(pin.to_string()))) {
            Ok(()) => {
                *login = Some(digest);
                Ok(())
            }
            Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => match login.as_ref() {
                Some(known) if constant_time_eq(known, &digest) => Ok(()),
                _ => Err(wrong()),
            },
            Err(P11Error::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            )) => Err(wrong()),
            Err(P11Error::Pkcs11(RvError::PinLocked, _)) => Err(ManagedKeyError::Invalid(
                "the HSM's user PIN is locked".into(),
            )),
            Err(e) => Err(device(format!("logging in to the HSM failed: {e}"))),
        }
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A device failure: the HSM is there but does not do the work (503).
fn device(message: String) -> ManagedKeyError {
    ManagedKeyError::Unavailable(message)
}

/// Opens the key `params` names (see the module's doc). Blocking.
pub fn open(
    libraries: &Arc<Libraries>,
    name: &str,
    params: &Params,
    generic: &Generic,
) -> Result<DeviceKey<Pkcs11Device>, ManagedKeyError> {
    let context = libraries.context(&params.library)?;
    let slot = find_slot(&context, params)?;
    let session = if params.force_rw_session || generic.allow_generate_key {
        context.open_rw_session(slot)
    } else {
        context.open_ro_session(slot)
    }
    .map_err(|e| device(format!("cannot open a session on the HSM: {e}")))?;
    libraries.login(&params.library, slot, &session, &params.pin())?;
    let (private, public) = match find_pair(&session, params)? {
        Some(pair) => pair,
        None if generic.allow_generate_key => generate(&session, params)?,
        None => {
            return Err(ManagedKeyError::Invalid(format!(
                "the HSM holds no private key with {}, and allow_generate_key is false",
                describe(params)
            )))
        }
    };
    let (key_type, public_key) = read_public(&session, private, public)?;
    if params.mechanism.is_rsa() != key_type.rsa_bits().is_some() {
        return Err(ManagedKeyError::Invalid(format!(
            "the HSM's key with {} is {key_type}, which mechanism {:#06x} cannot use",
            describe(params),
            params.mechanism.code()
        )));
    }
    let device = Pkcs11Device::new(
        key::Pool::new(context, slot, params, session),
        private,
        key_type,
    );
    Ok(DeviceKey::new(name, public_key, generic.clone(), device))
}

/// The slot `slot` or `token_label` names, holding a token.
fn find_slot(context: &Pkcs11, params: &Params) -> Result<Slot, ManagedKeyError> {
    find_slot_by(context, params.slot, params.token_label.as_deref())
}

/// The slot numbered `slot_id` and/or holding the token labelled
/// `token_label`.
pub fn find_slot_by(
    context: &Pkcs11,
    slot_id: Option<u64>,
    token_label: Option<&str>,
) -> Result<Slot, ManagedKeyError> {
    let slots = context
        .get_slots_with_token()
        .map_err(|e| device(format!("cannot list the HSM's slots: {e}")))?;
    for slot in slots {
        if slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let Some(label) = token_label else {
            return Ok(slot);
        };
        let info = context
            .get_token_info(slot)
            .map_err(|e| device(format!("cannot read the HSM's token: {e}")))?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(ManagedKeyError::Invalid(match (slot_id, token_label) {
        (Some(slot), Some(label)) => {
            format!("slot {slot} holds no token labelled {label:?}")
        }
        (Some(slot), None) => format!("no slot {slot} with a token in the HSM"),
        (None, label) => format!(
            "no token labelled {:?} in the HSM",
            label.unwrap_or_default()
        ),
    }))
}

/// "label "x" and id 0a0b": what identifies the key, for messages.
fn describe(params: &Params) -> String {
    match (&params.key_label, &params.key_id) {
        (Some(l), Some(i)) => format!("label {l:?} and id {i}"),
        (Some(l), None) => format!("label {l:?}"),
        (None, Some(i)) => format!("id {i}"),
        (None, None) => "no label or id".into(),
    }
}

/// The attributes that pick the key's objects of `class`.
fn template(params: &Params, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(label) = &params.key_label {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = params.key_id_bytes() {
        t.push(Attribute::Id(id));
    }
    t
}

/// The private key and (if present) its public key object; none if the
/// token has no such private key, an error if it has several.
fn find_pair(
    session: &Session,
    params: &Params,
) -> Result<Option<(ObjectHandle, Option<ObjectHandle>)>, ManagedKeyError> {
    let find = |class| {
        session
            .find_objects(&template(params, class))
            .map_err(|e| device(format!("cannot search the HSM: {e}")))
    };
    let private = find(ObjectClass::PRIVATE_KEY)?;
    let private = match private.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => {
            return Err(ManagedKeyError::Invalid(format!(
                "the HSM holds {} private keys with {}: give key_id (or a label only one has)",
                private.len(),
                describe(params)
            )))
        }
    };
    let public = find(ObjectClass::PUBLIC_KEY)?.first().copied();
    Ok(Some((private, public)))
}

/// Generates the key pair `params` describe (the seed's "best effort").
fn generate(
    session: &Session,
    params: &Params,
) -> Result<(ObjectHandle, Option<ObjectHandle>), ManagedKeyError> {
    let Some(label) = &params.key_label else {
        return Err(ManagedKeyError::Invalid(format!(
            "the HSM holds no key with {}, and a key can be generated only under a key_label",
            describe(params)
        )));
    };
    if params.key_id.is_some() {
        return Err(ManagedKeyError::Invalid(format!(
            "the HSM holds no key with {}: key ids are the HSM's, so a key to generate is named by key_label alone",
            describe(params)
        )));
    }
    let id =
        crate::crypto::random_bytes(16).map_err(|e| ManagedKeyError::Unavailable(e.to_string()))?;
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
            Attribute::Private(private),
        ]
    };
    let mut public = common(false);
    let mut private = common(true);
    private.extend([
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
    ]);
    public.push(Attribute::Verify(true));
    let mechanism = if params.mechanism.is_rsa() {
        let bits = params.key_bits;
        public.extend([
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        ]);
        if params.mechanism == params::Mechanism::RsaPkcsOaep {
            private.push(Attribute::Decrypt(true));
            public.push(Attribute::Encrypt(true));
        }
        P11Mechanism::RsaPkcsKeyPairGen
    } else {
        let curve = params.curve.unwrap_or(Curve::P256);
        public.push(Attribute::EcParams(curve_oid(curve).to_vec()));
        P11Mechanism::EccKeyPairGen
    };
    let (public, private) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| {
            ManagedKeyError::Invalid(format!("the HSM could not generate the key: {e}"))
        })?;
    tracing::info!(label = %label, "generated a managed key in the HSM");
    Ok((private, Some(public)))
}

/// The DER OID of `curve`, as CKA_EC_PARAMS holds it.
fn curve_oid(curve: Curve) -> &'static [u8] {
    match curve {
        Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
    }
}

/// The key's type and public half, from the public key object (or, for
/// RSA, the private key's own modulus and exponent).
fn read_public(
    session: &Session,
    private: ObjectHandle,
    public: Option<ObjectHandle>,
) -> Result<(KeyType, PublicKey), ManagedKeyError> {
    let read = |object, kinds: &[AttributeType]| {
        session
            .get_attributes(object, kinds)
            .map_err(|e| device(format!("cannot read the key's attributes: {e}")))
    };
    let kind = read(private, &[AttributeType::KeyType])?;
    let key_type = match kind.first() {
        Some(Attribute::KeyType(k)) => *k,
        _ => return Err(device("the HSM did not say the key's type".into())),
    };
    let unusable =
        |why: String| ManagedKeyError::Invalid(format!("the HSM's key cannot be used: {why}"));
    if key_type == P11KeyType::RSA {
        let source = public.unwrap_or(private);
        let attributes = read(
            source,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )?;
        let (mut modulus, mut exponent) = (None, None);
        for a in attributes {
            match a {
                Attribute::Modulus(m) => modulus = Some(m),
                Attribute::PublicExponent(e) => exponent = Some(e),
                _ => {}
            }
        }
        let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
            return Err(unusable("its modulus cannot be read".into()));
        };
        let public =
            PublicKey::rsa_from_parts(&modulus, &exponent).map_err(|e| unusable(e.to_string()))?;
        return Ok((public.key_type(), public));
    }
    if key_type != P11KeyType::EC {
        return Err(unusable(format!(
            "key type {key_type} is neither RSA nor EC"
        )));
    }
    let Some(public) = public else {
        return Err(unusable(
            "the HSM holds no public key object beside it".into(),
        ));
    };
    let attributes = read(public, &[AttributeType::EcParams, AttributeType::EcPoint])?;
    let (mut params, mut point) = (None, None);
    for a in attributes {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let curve = [Curve::P256, Curve::P384, Curve::P521]
        .into_iter()
        .find(|c| params.as_deref() == Some(curve_oid(*c)))
        .ok_or_else(|| unusable("its curve is not P-256, P-384 or P-521".into()))?;
    let key_type = match curve {
        Curve::P256 => KeyType::EcdsaP256,
        Curve::P384 => KeyType::EcdsaP384,
        Curve::P521 => KeyType::EcdsaP521,
    };
    let point = point
        .as_deref()
        .and_then(|p| unwrap_octet_string(p).or(Some(p)))
        .ok_or_else(|| unusable("its EC point cannot be read".into()))?;
    let public = PublicKey::import(key_type, point).map_err(|e| unusable(e.to_string()))?;
    Ok((key_type, public))
}

/// CKA_EC_POINT is a DER OCTET STRING around the SEC1 point (some tokens
/// give the point bare): its contents, if it is one.
fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            (usize::from(len), rest)
        }
        _ => return None,
    };
    (rest.len() == len).then_some(rest)
}
