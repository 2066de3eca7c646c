//! Crash safety (design invariant 3: one request's writes commit together
//! or not at all). A server killed with SIGKILL in the middle of a load
//! keeps every write it acknowledged and holds no torn value; an engine call
//! that writes and then fails (trap, deadline, memory cap, error answer)
//! leaves nothing of its writes stored, before or after a restart.
//!
//! Not covered: power loss or a lying disk (a kill leaves the kernel's page
//! cache intact, so this shows what the process guarantees, with redb's
//! immediate durability, not what the hardware does), and a kill inside a
//! barrier rotation or a mount-table change (host writes, not engine calls).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{install_engine, Client, ConfigDir, Response, Server, MISBEHAVE_WASM};

/// Concurrent clients during the load; even ones write kv, odd ones rotate
/// transit keys.
const CLIENTS: usize = 8;
/// Keys each kv client owns (written round-robin).
const KV_KEYS: usize = 3;
/// Keys each transit client owns (rotated round-robin).
const TRANSIT_KEYS: usize = 2;
/// The largest random padding of a kv value: values range from a few bytes
/// to tens of KB, so a value torn across pages or writes would show.
const MAX_PAD: usize = 48 * 1024;
/// The server is killed once this many operations were acknowledged (and
/// every client has had at least one), or at [`LOAD_LIMIT`].
const OPS_BEFORE_KILL: usize = 120;
/// The bound on one load phase. Reaching it is not a failure unless some
/// client got nothing acknowledged by then (the kill would not have hit a
/// load from all clients).
const LOAD_LIMIT: Duration = Duration::from_secs(15);

/// SIGKILL during a load of kv writes and transit rotations from 8 clients,
/// twice in a row, each time followed by a restart on the same redb file and
/// an unseal: every acknowledged write is found (a key's stored sequence
/// number is at least the last acknowledged one), nothing is stored that was
/// never sent (at most the last attempted one), every value is whole and is
/// exactly the one written under that number (self-checking digest), every
/// transit key's `latest_version` lies between its acknowledged and its
/// attempted rotations, and every ciphertext made under an acknowledged
/// version still decrypts.
#[test]
fn acknowledged_writes_survive_kills_under_load() {
    let dir = ConfigDir::new("");
    let (mut server, keys) = Server::config_ready(&dir);
    let c = server.client();
    c.mount("kv", "kv");
    c.mount("transit", "transit");
    let mut owned: Vec<Owned> = (0..CLIENTS)
        .map(|client| {
            if client % 2 == 0 {
                Owned::Kv(
                    (0..KV_KEYS)
                        .map(|k| KvKey::new(format!("c{client}/k{k}")))
                        .collect(),
                )
            } else {
                Owned::Transit(
                    (0..TRANSIT_KEYS)
                        .map(|k| {
                            let name = format!("c{client}-k{k}");
                            c.post(&format!("transit/keys/{name}"), &json!({}))
                                .expect(200);
                            TransitKey::new(name)
                        })
                        .collect(),
                )
            }
        })
        .collect();

    for round in 1..=2 {
        owned = load_then_kill(server, owned, round);
        server = Server::config_unsealed(&dir, &keys);
        let c = server.client();
        for keys in &mut owned {
            match keys {
                Owned::Kv(keys) => keys.iter_mut().for_each(|k| k.verify(&c, round)),
                Owned::Transit(keys) => keys.iter_mut().for_each(|k| k.verify(&c, round)),
            }
        }
    }
}

/// One load phase: starts the clients on `server`, waits until enough was
/// acknowledged, kills the server (SIGKILL) while they are still sending,
/// and returns what each client owns with its acknowledged and attempted
/// state.
fn load_then_kill(server: Server, owned: Vec<Owned>, round: u32) -> Vec<Owned> {
    let killed = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicUsize>> =
        Arc::new((0..CLIENTS).map(|_| AtomicUsize::new(0)).collect());
    let clients: Vec<_> = owned
        .into_iter()
        .enumerate()
        .map(|(index, keys)| {
            let c = server.client();
            let killed = Arc::clone(&killed);
            let acked = Arc::clone(&acked);
            thread::spawn(move || run_client(&c, keys, &killed, &acked[index]))
        })
        .collect();

    let started = Instant::now();
    loop {
        let counts: Vec<usize> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
        let total: usize = counts.iter().sum();
        let everyone = counts.iter().all(|&n| n > 0);
        // A client stops before the kill only on a failure, which its join
        // below reports.
        if clients.iter().any(|c| c.is_finished()) {
            break;
        }
        if (everyone && total >= OPS_BEFORE_KILL) || started.elapsed() > LOAD_LIMIT {
            assert!(
                everyone,
                "round {round}: some client had nothing acknowledged within {LOAD_LIMIT:?} \
                 (acknowledged per client: {counts:?})"
            );
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    // Set before the kill: a transport error seen while it is unset is a
    // failure, not the crash.
    killed.store(true, Ordering::SeqCst);
    server.kill();
    let loaded = started.elapsed();

    let owned: Vec<Owned> = clients
        .into_iter()
        .enumerate()
        .map(|(index, handle)| match handle.join() {
            Ok(Ok(keys)) => keys,
            Ok(Err(e)) => panic!("round {round}, client {index}: {e}"),
            Err(_) => panic!("round {round}, client {index} panicked"),
        })
        .collect();
    // Shown when the test fails: how much load the kill cut into.
    let in_flight: usize = owned
        .iter()
        .map(|o| match o {
            Owned::Kv(keys) => keys
                .iter()
                .filter(|k| k.attempted.seq > k.acked.seq)
                .count(),
            Owned::Transit(keys) => keys.iter().filter(|k| k.attempted > k.acked).count(),
        })
        .sum();
    let per_client: Vec<usize> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let total: usize = per_client.iter().sum();
    eprintln!(
        "round {round}: killed after {loaded:?} and {total} acknowledged operations \
         (per client {per_client:?}); {in_flight} writes unanswered"
    );
    owned
}

/// Sends operations on the client's own keys, round-robin, until a
/// transport error (the kill); returns the keys with what was acknowledged
/// and attempted. An unexpected answer, or a transport error before the
/// kill, is an `Err`.
fn run_client(
    c: &Client,
    mut owned: Owned,
    killed: &AtomicBool,
    acked: &AtomicUsize,
) -> Result<Owned, String> {
    let mut rng = rand::thread_rng();
    let mut turn = 0usize;
    loop {
        let step = match &mut owned {
            Owned::Kv(keys) => {
                let i = turn % keys.len();
                keys[i].write(c, &mut rng)
            }
            Owned::Transit(keys) => {
                let i = turn % keys.len();
                keys[i].rotate_and_encrypt(c, &mut rng)
            }
        };
        match step {
            Ok(()) => {
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Err(Failure::Transport(e)) => {
                if killed.load(Ordering::SeqCst) {
                    return Ok(owned);
                }
                return Err(format!("transport error before the kill: {e}"));
            }
            Err(Failure::Answer(e)) => return Err(e),
        }
        turn += 1;
    }
}

/// What one client owns.
enum Owned {
    Kv(Vec<KvKey>),
    Transit(Vec<TransitKey>),
}

/// Why an operation was not acknowledged.
enum Failure {
    /// No complete answer: the server is gone (or something else broke the
    /// connection, which only the kill may do).
    Transport(String),
    /// An answer other than the expected one.
    Answer(String),
}

/// Sends a JSON POST; a transport error is [`Failure::Transport`].
fn post(c: &Client, path: &str, body: &Value) -> Result<Response, Failure> {
    c.try_send("POST", path, &[], Some(body.to_string().into_bytes()))
        .map_err(Failure::Transport)
}

/// A kv write as recorded by its client: sequence number (0: none) and the
/// digest of the value written under it.
#[derive(Clone, Default)]
struct Written {
    seq: u64,
    digest: String,
}

/// One kv key and the writes its client sent.
struct KvKey {
    path: String,
    /// The last write answered 204.
    acked: Written,
    /// The last write sent (equal to `acked`, or one further when the kill
    /// cut its answer off).
    attempted: Written,
}

impl KvKey {
    fn new(name: String) -> KvKey {
        KvKey {
            path: format!("kv/{name}"),
            acked: Written::default(),
            attempted: Written::default(),
        }
    }

    /// Writes the next sequence number with a random padding.
    fn write(&mut self, c: &Client, rng: &mut impl Rng) -> Result<(), Failure> {
        let seq = self.attempted.seq + 1;
        let len = rng.gen_range(0..=MAX_PAD);
        let pad: String = (0..len)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect();
        let digest = digest(&self.path, seq, &pad);
        self.attempted = Written {
            seq,
            digest: digest.clone(),
        };
        let r = post(
            c,
            &self.path,
            &json!({ "seq": seq, "pad": pad, "digest": digest }),
        )?;
        if r.status != 204 {
            return Err(Failure::Answer(format!(
                "write {} #{seq}: {} {}",
                self.path, r.status, r.body
            )));
        }
        self.acked = self.attempted.clone();
        Ok(())
    }

    /// After a restart: the stored value is whole and is the acknowledged
    /// write or the attempted one; the key then starts over from it.
    fn verify(&mut self, c: &Client, round: u32) {
        let what = format!("round {round}, {}", self.path);
        let r = c.get(&self.path);
        let stored = match r.status {
            404 => Written::default(),
            200 => {
                let data = r.data();
                let seq = data["seq"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{what}: no seq in {}", r.body));
                let pad = data["pad"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: no pad"));
                let digest = data["digest"].as_str().unwrap_or_default().to_string();
                assert_eq!(
                    digest,
                    self::digest(&self.path, seq, pad),
                    "{what}: torn value at seq {seq} (its digest does not match its content)"
                );
                Written { seq, digest }
            }
            status => panic!("{what}: read answered {status}: {}", r.body),
        };
        assert!(
            stored.seq >= self.acked.seq,
            "{what}: acknowledged write #{} lost; stored #{}",
            self.acked.seq,
            stored.seq
        );
        assert!(
            stored.seq <= self.attempted.seq,
            "{what}: stored #{} was never sent (last sent #{})",
            stored.seq,
            self.attempted.seq
        );
        let expected = if stored.seq == self.acked.seq {
            &self.acked
        } else {
            &self.attempted
        };
        assert_eq!(
            stored.digest, expected.digest,
            "{what}: #{} is not the value written as #{}",
            stored.seq, expected.seq
        );
        self.acked = stored.clone();
        self.attempted = stored;
    }
}

/// The self-check of a kv value: sha256 of its key, number and padding.
fn digest(path: &str, seq: u64, pad: &str) -> String {
    hex::encode(Sha256::digest(format!("{path}\n{seq}\n{pad}")))
}

/// One transit key and the rotations its client sent.
struct TransitKey {
    name: String,
    /// The latest version an answered rotation made (1 after creation).
    acked: u64,
    /// The latest version a sent rotation would make.
    attempted: u64,
    /// `(ciphertext, plaintext)` pairs, each encrypted under an acknowledged
    /// version.
    sealed: Vec<(String, String)>,
}

impl TransitKey {
    fn new(name: String) -> TransitKey {
        TransitKey {
            name,
            acked: 1,
            attempted: 1,
            sealed: Vec::new(),
        }
    }

    /// Rotates, then encrypts a random plaintext under the new version.
    fn rotate_and_encrypt(&mut self, c: &Client, rng: &mut impl Rng) -> Result<(), Failure> {
        self.attempted = self.acked + 1;
        let r = post(c, &format!("transit/keys/{}/rotate", self.name), &json!({}))?;
        let latest = (r.status == 200)
            .then(|| r.data()["latest_version"].as_u64())
            .flatten();
        if latest != Some(self.attempted) {
            return Err(Failure::Answer(format!(
                "rotate {} to v{}: {} {}",
                self.name, self.attempted, r.status, r.body
            )));
        }
        self.acked = self.attempted;

        let bytes: Vec<u8> = (0..rng.gen_range(1..=64)).map(|_| rng.gen()).collect();
        let plaintext = base64::engine::general_purpose::STANDARD.encode(bytes);
        let r = post(
            c,
            &format!("transit/encrypt/{}", self.name),
            &json!({ "plaintext": plaintext }),
        )?;
        let data = if r.status == 200 {
            r.data()
        } else {
            Value::Null
        };
        let ciphertext = data["ciphertext"].as_str().unwrap_or_default();
        if data["key_version"].as_u64() != Some(self.acked)
            || !ciphertext.starts_with(&format!("vault:v{}:", self.acked))
        {
            return Err(Failure::Answer(format!(
                "encrypt under {} v{}: {} {}",
                self.name, self.acked, r.status, r.body
            )));
        }
        self.sealed.push((ciphertext.to_string(), plaintext));
        Ok(())
    }

    /// After a restart: the latest version lies between the acknowledged and
    /// the attempted one, exists, and every saved ciphertext decrypts; the
    /// key then starts over from the stored version.
    fn verify(&mut self, c: &Client, round: u32) {
        let what = format!("round {round}, transit key {}", self.name);
        let data = c.read(&format!("transit/keys/{}", self.name));
        let latest = data["latest_version"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: no latest_version in {data}"));
        assert!(
            latest >= self.acked,
            "{what}: acknowledged rotation to v{} lost; latest is v{latest}",
            self.acked
        );
        assert!(
            latest <= self.attempted,
            "{what}: v{latest} was never asked for (last asked v{})",
            self.attempted
        );
        assert!(
            data["keys"].get(latest.to_string()).is_some(),
            "{what}: latest v{latest} has no key: {data}"
        );
        for (ciphertext, plaintext) in &self.sealed {
            let r = c.post(
                &format!("transit/decrypt/{}", self.name),
                &json!({ "ciphertext": ciphertext }),
            );
            assert_eq!(r.status, 200, "{what}: decrypt {ciphertext}: {}", r.body);
            assert_eq!(
                r.data()["plaintext"].as_str(),
                Some(plaintext.as_str()),
                "{what}: {ciphertext} decrypts to something else"
            );
        }
        self.acked = latest;
        self.attempted = latest;
    }
}

/// Deadline and memory cap for the misbehaving calls: short, so that the
/// loop ends quickly.
const LIMITS: &str = "engine_call_timeout = \"1s\"\nengine_memory_limit = \"64MiB\"\n";

/// A call that writes and then traps, runs past its deadline, exhausts its
/// memory or answers an error leaves nothing of its write stored, neither
/// right after (read through the same mount) nor after a SIGKILL and
/// restart; writes that succeed before and after are stored (so the reads
/// can tell present from absent), and the mount keeps committing.
#[test]
fn failed_calls_leave_nothing_stored() {
    let dir = ConfigDir::new(LIMITS);
    let (server, keys) = Server::config_ready(&dir);
    let c = server.client();
    install_engine(&c, &dir.plugin_dir(), MISBEHAVE_WASM, "misbehave");
    c.mount("bad", "misbehave");
    c.post("bad/put/before", &json!({})).expect_no_content();

    // (path, key it writes before failing, status of the failure)
    let failing = [
        ("write-trap", "t", 500),
        ("write-loop", "l", 500),
        ("write-alloc", "a", 500),
        ("write-fail", "f", 400),
    ];
    for (path, key, status) in failing {
        let r = c.post(&format!("bad/{path}"), &json!({}));
        assert_eq!(r.status, status, "bad/{path}: {}", r.body);
        let r = c.get(&format!("bad/get/{key}"));
        assert_eq!(
            r.status, 404,
            "bad/{path} failed, yet its write of {key:?} is stored: {}",
            r.body
        );
    }
    c.post("bad/put/after", &json!({})).expect_no_content();
    let expect_stored = |c: &Client, key: &str| {
        assert_eq!(
            c.read(&format!("bad/get/{key}")),
            json!({ "value": { "written_as": key } })
        );
    };
    expect_stored(&c, "before");
    expect_stored(&c, "after");

    server.kill();
    let server = Server::config_unsealed(&dir, &keys);
    let c = server.client();
    for (path, key, _) in failing {
        let r = c.get(&format!("bad/get/{key}"));
        assert_eq!(
            r.status, 404,
            "after a restart, the write of {key:?} by the failed bad/{path} is stored: {}",
            r.body
        );
    }
    expect_stored(&c, "before");
    expect_stored(&c, "after");
}
