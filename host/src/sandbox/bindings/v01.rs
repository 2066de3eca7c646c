//! The bindings of `wit/coffer-engine@0.1.0` (see the parent module for
//! the options).

wasmtime::component::bindgen!({
    path: "../wit/coffer-engine@0.1.0",
    world: "coffer:engine/engine",
    imports: {
        "coffer:engine/crypto.[static]private-key.generate": async | trappable,
        "coffer:engine/crypto.[static]private-key.import": async | trappable,
        "coffer:engine/crypto.[method]private-key.export": async | trappable,
        "coffer:engine/crypto.[method]private-key.sign": async | trappable,
        "coffer:engine/crypto.[method]private-key.decrypt-oaep": async | trappable,
        "coffer:engine/crypto.[method]public-key.verify": async | trappable,
        "coffer:engine/crypto.[method]public-key.encrypt-oaep": async | trappable,
        "coffer:engine/crypto.hash": async | trappable,
        "coffer:engine/crypto.aes-key-wrap-pad": async | trappable,
        "coffer:engine/crypto.aes-key-unwrap-pad": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "coffer:engine/crypto.private-key": crate::sandbox::host::crypto::PrivateKeyHandle,
        "coffer:engine/crypto.public-key": crate::sandbox::host::crypto::PublicKeyHandle,
    },
});

pub use coffer::engine::types::{
    Body, Error as EngineError, Operation, RawBody, Request as EngineRequest,
    Response as EngineResponse,
};
