//! Per-instance state: values an engine keeps between the calls one
//! instance answers (caches of parsed records, handles), typed, one per
//! type, made with `Default` on first use.
//!
//! An instance is one engine table (`Engine`): in wasm the host keeps an
//! instance warm for many calls and may run several at once, each with its
//! own state; natively each `TestEngine` has its own. State is a cache, not
//! storage: an instance may be dropped at any time, and what one instance
//! holds the others do not see, so it must always be checked against
//! storage (e.g. by `Storage::generation`) before it is trusted.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The state of one instance (see the module doc).
#[derive(Default)]
pub struct State {
    values: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
}

impl State {
    /// This instance's `T`, made with `T::default()` on first use. The
    /// `Rc` may be kept across other uses of the context; borrow the
    /// `RefCell` only as long as needed.
    pub fn get<T: Default + 'static>(&self) -> Rc<RefCell<T>> {
        let mut values = self.values.borrow_mut();
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Rc::new(RefCell::new(T::default())) as Rc<dyn Any>);
        match Rc::clone(value).downcast::<RefCell<T>>() {
            Ok(typed) => typed,
            // The map's key is the value's type: this does not happen; a
            // fresh value keeps the call working if it ever did.
            Err(_) => Rc::new(RefCell::new(T::default())),
        }
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.values.try_borrow().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("State").field("values", &count).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type_made_once() {
        let state = State::default();
        state.get::<Vec<u32>>().borrow_mut().push(7);
        state.get::<Vec<u32>>().borrow_mut().push(8);
        *state.get::<u64>().borrow_mut() += 1;
        assert_eq!(*state.get::<Vec<u32>>().borrow(), [7, 8]);
        assert_eq!(*state.get::<u64>().borrow(), 1);
        assert_eq!(*State::default().get::<u64>().borrow(), 0);
    }
}
