//! Contract 0.2's `http.request` resource: one request as the engine sees
//! it, built by the sandbox from its [`CallRequest`] for each call
//! (`handle` owns it, `exists` borrows it). Every getter returns a copy.
//! Traps: a stale or foreign handle.
//!
//! [`CallRequest`]: crate::sandbox::CallRequest

use wasmtime::component::Resource;

use crate::sandbox::bindings::v02::coffer::engine::http::{
    Caller, Host, HostRequest, RequestParts, TokenCaller,
};
use crate::sandbox::bindings::v02::coffer::engine::types::Operation;
use crate::sandbox::{CallRequest, InstanceState};

/// The data behind a `request` resource.
pub struct RequestData {
    /// What is asked (changed from `update` to `create` between `exists`
    /// and `handle` when the target does not exist).
    pub operation: Operation,
    path: String,
    body: bytes::Bytes,
    content_type: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    caller: Caller,
    mount_path: String,
    mount_options: String,
    id: String,
}

impl RequestData {
    /// The engine's view of `request`: its raw body (or, for a request
    /// whose body was read as JSON, that text) and the headers the mount's
    /// engine asked for.
    pub fn new(request: &CallRequest, operation: Operation) -> Self {
        let (body, content_type, headers) = match &request.raw {
            Some(raw) => (
                raw.bytes.clone(),
                raw.content_type.clone(),
                raw.headers.clone(),
            ),
            None => (
                bytes::Bytes::from(request.data.clone().into_bytes()),
                None,
                Vec::new(),
            ),
        };
        RequestData {
            operation,
            path: request.path.clone(),
            body,
            content_type,
            query: request.query.clone(),
            headers,
            caller: match &request.caller {
                Some(c) => Caller::Token(TokenCaller {
                    display_name: c.display_name().to_owned(),
                    policies: c.policies(),
                    accessor: c.accessor().to_owned(),
                }),
                None => Caller::Unauthenticated,
            },
            mount_path: request.mount_path.clone(),
            mount_options: request.mount_options.clone(),
            id: request.id.to_string(),
        }
    }
}

impl Host for InstanceState {}

impl HostRequest for InstanceState {
    fn operation(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Operation> {
        Ok(self.table.get(&this)?.operation)
    }

    fn path(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.path.clone())
    }

    fn body(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&this)?.body.to_vec())
    }

    fn content_type(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&this)?.content_type.clone())
    }

    fn query(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.table.get(&this)?.query.clone())
    }

    fn headers(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.table.get(&this)?.headers.clone())
    }

    fn caller(&mut self, this: Resource<RequestData>) -> wasmtime::Result<Caller> {
        Ok(self.table.get(&this)?.caller.clone())
    }

    fn mount_path(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.mount_path.clone())
    }

    fn mount_options(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.mount_options.clone())
    }

    fn id(&mut self, this: Resource<RequestData>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.id.clone())
    }

    fn parts(&mut self, this: Resource<RequestData>) -> wasmtime::Result<RequestParts> {
        let r = self.table.get(&this)?;
        Ok(RequestParts {
            operation: r.operation,
            path: r.path.clone(),
            body: r.body.to_vec(),
            content_type: r.content_type.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            caller: r.caller.clone(),
            mount_path: r.mount_path.clone(),
            mount_options: r.mount_options.clone(),
            id: r.id.clone(),
        })
    }

    fn drop(&mut self, this: Resource<RequestData>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
