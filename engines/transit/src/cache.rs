//! `cache-config`: how many key policies an instance keeps parsed.

use coffer_sdk::prelude::*;
use serde_json::json;

use crate::policy::cache;

/// The smallest bounded size (Vault's).
const MIN_SIZE: usize = 10;

/// `cache-config`.
pub fn path() -> Path {
    Path::new("cache-config")
        .read(read)
        .update(write)
        .synopsis("Configures the size of the key policy cache.")
}

#[derive(Fields)]
struct Config {
    /// Number of keys kept parsed per instance: 0 for no bound, else at least 10.
    size: usize,
}

fn read(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::data(json!({"size": cache::read_size(ctx)?})))
}

fn write(ctx: &mut Ctx<'_>, f: Config) -> Result<Response, Error> {
    if f.size != 0 && f.size < MIN_SIZE {
        return Err(Error::invalid(format!(
            "size must be 0 or a value greater or equal to {MIN_SIZE}"
        )));
    }
    ctx.storage()
        .put_json(cache::CONFIG_KEY, &json!({"size": f.size}))?;
    cache::resize(ctx, f.size);
    Ok(Response::data(json!({"size": f.size})))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn size_is_validated_stored_and_honoured() {
        let mut t = transit();
        assert_eq!(data(t.read("cache-config")), json!({"size": 0}));
        assert!(t
            .write("cache-config", json!({"size": 5}))
            .unwrap_err()
            .message()
            .contains("greater or equal to 10"));
        assert_eq!(
            data(t.write("cache-config", json!({"size": 10}))),
            json!({"size": 10})
        );
        assert_eq!(data(t.read("cache-config")), json!({"size": 10}));
        for i in 0..15 {
            data(t.write(&format!("keys/k{i}"), json!({})));
        }
        for i in 0..15 {
            data(t.write(&format!("encrypt/k{i}"), json!({"plaintext": "aGk="})));
        }
        // Every key still works; the cache holds at most 10.
        for i in 0..15 {
            data(t.read(&format!("keys/k{i}")));
        }
    }
}
