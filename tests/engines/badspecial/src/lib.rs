//! A contract-0.2 test engine whose description declares a malformed
//! special path (`ca//pem`, an empty segment): the host must refuse to
//! mount it with a 400 naming the path.
// The glue wit-bindgen generates is unsafe code (the canonical ABI); this
// crate writes none of its own.
#![allow(unsafe_code)]

#[allow(clippy::all, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "engine",
        path: "../../../wit/coffer-engine@0.2.0",
    });
}

use bindings::coffer::engine::http::{Request, Response};
use bindings::coffer::engine::types::Error;
use bindings::exports::coffer::engine::handler::{Description, Guest};

struct Engine;

impl Guest for Engine {
    fn handle(_request: &Request) -> Result<Response, Error> {
        Err(Error::NotFound(String::new()))
    }

    fn exists(_request: &Request) -> Result<Option<bool>, Error> {
        Ok(None)
    }

    fn periodic(_mount_path: String, _mount_options: String) -> Result<(), Error> {
        Ok(())
    }

    fn describe() -> Description {
        Description {
            paths: Vec::new(),
            unauthenticated: vec!["ca//pem".into()],
            sudo: Vec::new(),
            headers: Vec::new(),
        }
    }
}

bindings::export!(Engine with_types_in bindings);
