//! The bindings of `wit/coffer-engine@0.2.0` (see the parent module for
//! the options). Async, as in 0.1, are the imports that may compute for
//! long: every `keys` operation that uses key material (a managed key's
//! may wait on its backend), `public-key.verify` and `encrypt-oaep`, and
//! `crypto.hash`; storage, clock, log and the request's getters stay
//! synchronous.

wasmtime::component::bindgen!({
    path: "../wit/coffer-engine@0.2.0",
    world: "coffer:engine/engine@0.2.0",
    imports: {
        "coffer:engine/crypto.hash": async | trappable,
        "coffer:engine/keys.[static]key.generate": async | trappable,
        "coffer:engine/keys.[static]key.open": async | trappable,
        "coffer:engine/keys.[static]key.import": async | trappable,
        "coffer:engine/keys.[static]key.unwrap": async | trappable,
        "coffer:engine/keys.[static]key.managed": async | trappable,
        "coffer:engine/keys.[method]key.seal": async | trappable,
        "coffer:engine/keys.[method]key.derive": async | trappable,
        "coffer:engine/keys.[method]key.sign": async | trappable,
        "coffer:engine/keys.[method]key.verify": async | trappable,
        "coffer:engine/keys.[method]key.encrypt": async | trappable,
        "coffer:engine/keys.[method]key.decrypt": async | trappable,
        "coffer:engine/keys.[method]key.encrypt-batch": async | trappable,
        "coffer:engine/keys.[method]key.decrypt-batch": async | trappable,
        "coffer:engine/keys.[method]key.decrypt-oaep": async | trappable,
        "coffer:engine/keys.[method]key.hmac": async | trappable,
        "coffer:engine/keys.[method]key.export": async | trappable,
        "coffer:engine/keys.[method]key.backup": async | trappable,
        "coffer:engine/keys.[method]key.wrap-for": async | trappable,
        "coffer:engine/keys.[method]public-key.verify": async | trappable,
        "coffer:engine/keys.[method]public-key.encrypt-oaep": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "coffer:engine/http.request": crate::sandbox::host::v02::http::RequestData,
        "coffer:engine/keys.key": crate::sandbox::host::v02::keys::KeyData,
        "coffer:engine/keys.public-key": crate::sandbox::host::crypto::PublicKeyHandle,
    },
});
