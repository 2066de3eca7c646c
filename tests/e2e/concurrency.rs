//! Concurrent calls on one mount are serializable (design.md, invariant 3):
//! 8 clients × 200 increments of one counter end at exactly 1600, and every
//! increment saw a distinct value.

use std::thread;

use serde_json::json;

use crate::harness::{install_engine, Server, COUNTER_WASM};

const CLIENTS: u64 = 8;
const PER_CLIENT: u64 = 200;

#[test]
fn concurrent_increments_are_serializable() {
    let server = Server::dev();
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), COUNTER_WASM, "counter");
    c.mount("ctr", "counter");

    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            // Each worker has its own connection pool (its own agent).
            let c = server.client();
            thread::spawn(move || {
                let mut seen = Vec::with_capacity(PER_CLIENT as usize);
                for _ in 0..PER_CLIENT {
                    let r = c.post("ctr/counter/x", &json!({}));
                    assert_eq!(r.status, 200, "increment: {}", r.body);
                    let value = r.data()["value"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("data.value is a number: {}", r.body));
                    seen.push(value);
                }
                seen
            })
        })
        .collect();
    let mut all: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();

    let total = CLIENTS * PER_CLIENT;
    assert_eq!(c.read("ctr/counter/x")["value"], json!(total));
    all.sort_unstable();
    let expected: Vec<u64> = (1..=total).collect();
    assert!(
        all == expected,
        "each increment must see a distinct value 1..={total}; duplicates or gaps: {:?}",
        duplicates_and_gaps(&all, total)
    );
    // Another counter in the same mount is untouched.
    let y = c.get("ctr/counter/y");
    if y.status == 200 {
        assert_eq!(y.data()["value"], json!(0), "{}", y.body);
    } else {
        y.expect(404);
    }
}

fn duplicates_and_gaps(sorted: &[u64], total: u64) -> (Vec<u64>, Vec<u64>) {
    let dups = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .take(20)
        .collect();
    let gaps = (1..=total)
        .filter(|v| sorted.binary_search(v).is_err())
        .take(20)
        .collect();
    (dups, gaps)
}
