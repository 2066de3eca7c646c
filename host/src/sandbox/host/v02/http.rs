//! Contract 0.2's `http.request` resource: one request as the engine sees
//! it, sharing the sandbox's [`CallRequest`] (`exists` and `handle` borrow
//! the resource; the sandbox deletes it). Every getter returns a copy.
//! Traps: a stale or foreign handle.
//!
//! [`CallRequest`]: crate::sandbox::CallRequest

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::sandbox::bindings::v02::coffer::engine::http::{
    Caller, Host, HostRequest, RequestParts, TokenCaller,
};
use crate::sandbox::bindings::v02::coffer::engine::types::Operation;
use crate::sandbox::{CallRequest, InstanceState};

/// The data behind a `request` resource: the sandbox's request, shared
/// (each getter copies only what it returns).
pub struct RequestData {
    /// What is asked (changed from `update` to `create` between `exists`
    /// and `handle` when the target does not exist).
    pub operation: Operation,
    request: Arc<CallRequest>,
}

impl RequestData {
    /// `request` as the engine sees it, asked as `operation`.
    pub fn new(request: Arc<CallRequest>, operation: Operation) -> Self {
        RequestData { operation, request }
    }

    /// The raw body, or for a request whose body was read as JSON, that
    /// text.
    fn body(&self) -> Vec<u8> {
        match &self.request.raw {
            Some(raw) => raw.bytes.to_vec(),
            None => self.request.data.as_bytes().to_vec(),
        }
    }

    fn content_type(&self) -> Option<String> {
        self.request
            .raw
            .as_ref()
            .and_then(|r| r.content_type.clone())
    }
}

impl Host for InstanceState {}

impl HostRequest for InstanceState {
    fn operation(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Operation> {
        Ok(self.table.get(&this)?.operation)
    }

    fn path(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.request.path.clone())
    }

    fn body(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&this)?.body())
    }

    fn content_type(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&this)?.content_type())
    }

    fn query(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.table.get(&this)?.request.query.clone())
    }

    fn headers(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .table
            .get(&this)?
            .request
            .raw
            .as_ref()
            .map(|r| r.headers.clone())
            .unwrap_or_default())
    }

    fn caller(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Caller> {
        Ok(match &self.table.get(&this)?.request.caller {
            Some(c) => Caller::Token(TokenCaller {
                display_name: c.display_name().to_owned(),
                policies: c.policies(),
                accessor: c.accessor().to_owned(),
            }),
            None => Caller::Unauthenticated,
        })
    }

    fn mount_path(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.request.mount_path.clone())
    }

    fn mount_options(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.request.mount_options.clone())
    }

    fn id(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.request.id.to_string())
    }

    fn parts(&mut self, this: Resource<RequestData>) -> wasmtime::Result<RequestParts> {
        let r = self.table.get(&this)?;
        Ok(RequestParts {
            operation: r.operation,
            path: r.request.path.clone(),
            body: r.body(),
            content_type: r.content_type(),
            query: r.request.query.clone(),
        })
    }

    fn drop(&mut self, this: Resource<RequestData>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
