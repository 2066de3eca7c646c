//! The functions `#[coffer_sdk::engine]`'s export glue calls: WIT types in,
//! WIT types out, over the host's storage and clock.

use crate::bindings::coffer::engine::types as wit;
use crate::clock::HostClock;
use crate::request::Call;
use crate::storage::HostStorage;
use crate::Engine;

/// The `handle` export.
pub fn handle(engine: &Engine, request: wit::Request) -> Result<wit::Response, wit::Error> {
    let call = Call::try_from(request)?;
    Ok(engine
        .handle_call(&mut HostStorage, &HostClock, call)?
        .into())
}

/// The `exists` export.
pub fn exists(engine: &Engine, request: wit::Request) -> Result<Option<bool>, wit::Error> {
    let call = Call::try_from(request)?;
    Ok(engine.exists_call(&mut HostStorage, &HostClock, call)?)
}

/// The `periodic` export.
pub fn periodic(
    engine: &Engine,
    mount_path: String,
    mount_options: String,
) -> Result<(), wit::Error> {
    let options = match serde_json::from_str::<serde_json::Value>(&mount_options) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    Ok(engine.run_periodic(&mut HostStorage, &HostClock, &mount_path, options)?)
}
