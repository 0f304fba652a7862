//! The storage network with real processes: a devnet with eight `trellis agent storage`
//! providers on loopback, files stored and fetched with `trellis store`, providers killed,
//! and providers that delete or corrupt what they hold caught by the auditor, slashed, and
//! repaired around.

use crate::harness::{get, start_devnet, stderr, stdout, trellis, DEADLINE};
use rand::{RngCore, SeedableRng};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

const PASS: (&str, &str) = ("TRELLIS_PASSPHRASE", "devnet");

fn consumer(dir: &Path) -> String {
    dir.join("wallets/consumer.json").to_str().unwrap().to_string()
}

/// Burns `trl` of the consumer's TRL for credits.
fn buy_credits(dir: &Path, api: &str, trl: &str) {
    let out = trellis(
        &[
            "wallet",
            "burn",
            "--keystore",
            &consumer(dir),
            "--api",
            api,
            "--amount",
            trl,
        ],
        &[PASS],
    );
    assert!(out.status.success(), "burn failed: {}", stderr(&out));
}

fn random_file(path: &Path, len: usize, seed: u64) -> blake3::Hash {
    let mut bytes = vec![0u8; len];
    rand_chacha::ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    std::fs::write(path, &bytes).unwrap();
    blake3::hash(&bytes)
}

fn put(dir: &Path, api: &str, file: &Path, extra: &[&str]) -> String {
    let out = put_output(dir, api, file, extra);
    assert!(out.status.success(), "store put failed: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn put_output(dir: &Path, api: &str, file: &Path, extra: &[&str]) -> std::process::Output {
    let keystore = consumer(dir);
    let mut args = vec![
        "store",
        "put",
        file.to_str().unwrap(),
        "--keystore",
        &keystore,
        "--api",
        api,
        "--epochs",
        "100",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    trellis(&args, &[PASS])
}

fn fetch(dir: &Path, api: &str, id: &str, out_path: &Path) -> std::process::Output {
    trellis(
        &[
            "store",
            "get",
            id,
            out_path.to_str().unwrap(),
            "--keystore",
            &consumer(dir),
            "--api",
            api,
            "--quiet",
        ],
        &[PASS],
    )
}

fn deal(api: &str, id: &str) -> Value {
    get(api, &format!("/v1/deals/{id}")).unwrap()
}

fn provider_dir(dir: &Path, address: &str) -> PathBuf {
    // Devnet names provider data directories after their demo keys; find the one serving
    // `address` through its log's first line.
    for i in 0..8 {
        let name = format!("device-storage-{i}");
        let log = std::fs::read_to_string(dir.join("agents").join(format!("{name}.log"))).unwrap_or_default();
        if log.contains(address) {
            return dir.join("agents").join(name);
        }
    }
    panic!("no devnet provider serves {address}");
}

fn kill_provider(dir: &Path, address: &str) {
    signal_provider(dir, address, "-KILL");
}

/// Sends `signal` (`-KILL`, `-STOP`, `-CONT`) to the provider process of `address`.
fn signal_provider(dir: &Path, address: &str, signal: &str) {
    let data = provider_dir(dir, address);
    let pattern = format!("--dir {}", data.display());
    let status = std::process::Command::new("pkill")
        .args([signal, "-f", "--", &pattern])
        .status()
        .unwrap();
    assert!(status.success(), "no process matched {pattern}");
}

/// Runs `f` while the provider of `address` hangs (SIGSTOP: its sockets still accept, nothing
/// comes back).
fn while_hung<T>(dir: &Path, address: &str, f: impl FnOnce() -> T) -> T {
    signal_provider(dir, address, "-STOP");
    let result = f();
    signal_provider(dir, address, "-CONT");
    result
}

/// Asserts the command succeeded and said `what` on stderr.
fn succeeded_saying(out: &std::process::Output, what: &str) {
    assert!(out.status.success(), "failed: {}", stderr(out));
    assert!(stderr(out).contains(what), "expected {what:?} in: {}", stderr(out));
}

fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_100_mib_file_on_8_providers_survives_losing_5_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let (_devnet, _, api) = start_devnet(&dir, &tmp.path().join("devnet.log"));
    buy_credits(&dir, &api, "5");
    let file = tmp.path().join("big.bin");
    let hash = random_file(&file, 100 << 20, 5);
    let id = put(&dir, &api, &file, &[]);

    let d = deal(&api, &id);
    let terms = &d["deal"]["terms"];
    let pieces = terms["pieces"].as_array().unwrap();
    let (k, n) = (terms["data_shards"].as_u64().unwrap() as usize, pieces.len());
    assert_eq!((k, n), (3, 8), "eight providers give a 3-of-8 coding");
    let mut providers: Vec<&str> = pieces.iter().map(|p| p["provider"].as_str().unwrap()).collect();
    providers.sort();
    providers.dedup();
    assert_eq!(providers.len(), 8, "every piece on its own provider");
    let listed = get(
        &api,
        &format!("/v1/accounts/{}/deals", d["deal"]["client"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(listed["deals"][0]["id"].as_str(), Some(id.as_str()));

    // A provider that hangs (stopped: its socket accepts, nothing comes back) while a file is
    // stored: its upload is given up on after the idle limit, and with no spare provider (the
    // file goes to all eight) the file is stored on the other seven, readable, the lost piece
    // left to repair.
    let small = tmp.path().join("small.bin");
    random_file(&small, 300_000, 6);
    let stored = while_hung(&dir, pieces[0]["provider"].as_str().unwrap(), || {
        put_output(&dir, &api, &small, &["--idle-timeout", "2"])
    });
    succeeded_saying(&stored, "could not be placed; the file is readable (7 of 8 pieces)");

    // A provider that hangs (stopped: its socket accepts, nothing comes back) holding a data
    // piece: the download of that piece is raced by a spare once it has received nothing for a
    // while, and the file comes back from the others.
    let out_path = tmp.path().join("back.bin");
    let out = while_hung(&dir, pieces[1]["provider"].as_str().unwrap(), || {
        fetch(&dir, &api, &id, &out_path)
    });
    succeeded_saying(&out, "piece 1: nothing received for 3 s; fetching piece 3 beside it");
    assert_eq!(
        blake3::hash(&std::fs::read(&out_path).unwrap()),
        hash,
        "downloaded bytes differ"
    );
    std::fs::remove_file(&out_path).unwrap();

    // Kill n − k providers: the first five pieces' (data pieces among them).
    for p in &pieces[..n - k] {
        kill_provider(&dir, p["provider"].as_str().unwrap());
    }
    let out = fetch(&dir, &api, &id, &out_path);
    assert!(out.status.success(), "store get failed: {}", stderr(&out));
    let back = std::fs::read(&out_path).unwrap();
    assert_eq!(back.len(), 100 << 20);
    assert_eq!(blake3::hash(&back), hash, "downloaded bytes differ");

    // The survivors served whole pieces under the client's orders and claim them: each is paid
    // ceil(piece bytes × its egress price / GiB) from the client's credits, and the reward
    // engine pays those credits first, at the epoch's credit value.
    let piece_len = terms["piece_len"].as_u64().unwrap();
    let paid_per_piece = (piece_len * 700).div_ceil(1 << 30);
    let client = d["deal"]["client"].as_str().unwrap().to_string();
    for p in &pieces[n - k + 1..] {
        let provider = p["provider"].as_str().unwrap();
        wait_until("the survivors' egress claims", DEADLINE, || {
            egress_of(&api, provider).is_some_and(|(_, bytes, _)| bytes == piece_len)
        });
        let (epoch, bytes, credits) = egress_of(&api, provider).unwrap();
        assert_eq!((bytes, credits), (piece_len, paid_per_piece), "{provider}");
        let rewards = dir.join("node/rewards");
        wait_until("the claim epoch's rewards", DEADLINE, || {
            rewards.join(format!("epoch-{epoch}.json")).exists()
        });
        let summary = get(&api, &format!("/v1/epochs/{epoch}")).unwrap();
        let earned: u64 = summary["storage_earned"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["device"] == provider)
            .map(|e| e["credits"].as_str().unwrap().parse().unwrap())
            .unwrap();
        assert!(earned >= credits, "egress is part of the provider's earnings");
        let value = &summary["credit_value"];
        let units = |f: &str| value[f].as_u64().unwrap();
        let expected = earned * units("credit_price_micro_usd") * 100_000_000 / units("micro_usd_per_trl");
        let breakdown = get(&api, &format!("/v1/rewards/{epoch}/devices/{provider}")).unwrap();
        let for_credits: u64 = breakdown["payouts"][0]["for_credits"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(for_credits, expected, "{breakdown}");
    }
    let account = get(&api, &format!("/v1/accounts/{client}")).unwrap();
    assert!(account["account"]["credits"].as_str().is_some(), "{account}");

    // One more loss is one too many: a clear refusal, not a wrong file. One of the two left
    // also lies: it changed a byte and rewrote its tree file to match, so its
    // integrity check on read passes and it serves bytes that miss the deal's root. The client
    // reports it, and the piece's next audit asks for every chunk a challenge allows.
    kill_provider(&dir, pieces[n - k]["provider"].as_str().unwrap());
    let corrupt = pieces[n - 1]["provider"].as_str().unwrap();
    let stored = provider_dir(&dir, corrupt).join("pieces").join(&id);
    let piece_file = stored.join(format!("{}.piece", n - 1));
    let mut bytes = std::fs::read(&piece_file).unwrap();
    bytes[1_000] ^= 0x01;
    let forged = trellis_storage::PieceTree::of(&bytes);
    std::fs::write(&piece_file, bytes).unwrap();
    std::fs::write(stored.join(format!("{}.tree", n - 1)), forged.sidecar_bytes()).unwrap();
    let refused = fetch(&dir, &api, &id, &tmp.path().join("never.bin"));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("of the 3 pieces needed") && stderr(&refused).contains("reporting it"),
        "{}",
        stderr(&refused)
    );
    assert!(!tmp.path().join("never.bin").exists());
    let reports = deal(&api, &id)["reports"].clone();
    assert_eq!(reports.as_array().map(Vec::len), Some(1), "{reports}");
    assert_eq!(
        (reports[0]["index"].as_u64(), reports[0]["provider"].as_str()),
        (Some(n as u64 - 1), Some(corrupt))
    );
    let reported_epoch = reports[0]["epoch"].as_u64().unwrap();
    let audits = dir.join(format!("node/rewards/storage-audits-{reported_epoch}.json"));
    wait_until("the reported piece's audit", DEADLINE, || audits.exists());
    let record: Value = serde_json::from_slice(&std::fs::read(&audits).unwrap()).unwrap();
    let audited = record["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["deal"] == id.as_str() && p["index"] == n as u64 - 1)
        .cloned()
        .unwrap();
    assert_eq!(audited["reported"], true, "{audited}");
    assert_eq!(audited["chunks"].as_array().map(Vec::len), Some(64), "{audited}");
    // Anyone can recompute the challenge from the file: the epoch's last block hash and the
    // auditor's signature of it (which nobody else could know before the auditor asked).
    use trellis_storage::audit::{challenge_for, challenge_seed, seed_message};
    let entropy: trellis_primitives::Hash = record["entropy"].as_str().unwrap().parse().unwrap();
    let (signer, signature): (trellis_primitives::PublicKey, trellis_primitives::Signature) =
        serde_json::from_value(record["seed_signature"].clone()).unwrap();
    assert_eq!(signer.verify(seed_message(&entropy).as_bytes(), &signature), Ok(()));
    let verifiers = get(&api, "/v1/status").unwrap()["verifiers"].clone();
    assert!(
        verifiers
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == &serde_json::to_value(signer).unwrap()),
        "{verifiers}"
    );
    let deal_id: trellis_primitives::Hash = id.parse().unwrap();
    let piece_len = audited["piece_len"].as_u64().unwrap();
    let seeded = challenge_for(
        &challenge_seed(&entropy, &signature),
        &deal_id,
        n as u16 - 1,
        piece_len,
        64,
    );
    let chunks: Vec<u64> = serde_json::from_value(audited["chunks"].clone()).unwrap();
    assert_eq!(chunks, seeded.chunks);
    let public_only = challenge_for(&entropy, &deal_id, n as u16 - 1, piece_len, 64);
    assert_ne!(
        chunks, public_only.chunks,
        "the block hash alone told the provider the chunks"
    );
}

#[test]
fn providers_that_delete_or_corrupt_pieces_are_caught_slashed_and_repaired_around() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let (_devnet, _, api) = start_devnet(&dir, &tmp.path().join("devnet.log"));
    buy_credits(&dir, &api, "1");
    let file = tmp.path().join("small.bin");
    // Small enough that each piece is one 4 KiB chunk: every challenge hits the flipped byte.
    let hash = random_file(&file, 8_000, 9);
    let id = put(&dir, &api, &file, &["--pieces", "6", "--data-pieces", "2"]);
    let before = deal(&api, &id);
    let pieces = before["deal"]["terms"]["pieces"].as_array().unwrap().clone();
    assert_eq!(pieces.len(), 6);
    let deleter = pieces[0]["provider"].as_str().unwrap().to_string();
    let flipper = pieces[1]["provider"].as_str().unwrap().to_string();

    // Every piece passes an audit first: the providers have proven holding them, so a later
    // "not stored" is their own failure, not a piece that never arrived.
    wait_until("the first settled epoch", 2 * DEADLINE, || {
        deal(&api, &id)["deal"]["settled_epochs"].as_u64().unwrap() >= 1
    });
    let proven_all = |d: &Value| d["deal"]["paid"] != "0" && d["deal"]["paid"] != 0;
    assert!(proven_all(&deal(&api, &id)), "nothing paid after the first epoch");
    let piece_file = |provider: &str, index: usize| {
        provider_dir(&dir, provider)
            .join("pieces")
            .join(&id)
            .join(format!("{index}.piece"))
    };
    std::fs::remove_file(piece_file(&deleter, 0)).unwrap();
    let flip = piece_file(&flipper, 1);
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&flip, bytes).unwrap();

    let provider = |address: &str| -> Value {
        get(&api, "/v1/providers").unwrap()["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["address"] == address)
            .cloned()
            .unwrap()
    };
    wait_until("both cheaters slashed and their pieces repaired", 3 * DEADLINE, || {
        let d = deal(&api, &id);
        let moved = |i: usize, from: &str| d["deal"]["terms"]["pieces"][i]["provider"].as_str() != Some(from);
        let slashed = |a: &str| provider(a)["slashed"].as_str().is_some_and(|s| s != "0");
        moved(0, &deleter) && moved(1, &flipper) && slashed(&deleter) && slashed(&flipper)
    });
    // The repairs are listed as piece moves to the deal's current providers.
    let now = deal(&api, &id);
    let moves = get(&api, "/v1/storage/moves?blocks=10000").unwrap();
    for index in [0u64, 1] {
        let to = &now["deal"]["terms"]["pieces"][index as usize]["provider"];
        assert!(
            moves["moves"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["deal"] == id.as_str() && m["index"] == index && &m["provider"] == to),
            "piece {index} moved to {to}: {moves}"
        );
    }
    for cheater in [&deleter, &flipper] {
        let p = provider(cheater);
        assert!(p["reputation"]["failed"].as_u64().unwrap() >= 1, "{p}");
        assert!(p["reputation_ppm"].as_u64().unwrap() < 1_000_000, "{p}");
        assert!(
            p["stake"].as_str().unwrap() != "10000000000",
            "collateral untouched: {p}"
        );
    }
    // An honest provider of the same deal keeps a clean record.
    let honest = provider(pieces[2]["provider"].as_str().unwrap());
    assert_eq!(
        (honest["reputation"]["failed"].as_u64(), honest["slashed"].as_str()),
        (Some(0), Some("0")),
        "{honest}"
    );
    // The audit record names the verdicts.
    let audits: Vec<Value> = std::fs::read_dir(dir.join("node/rewards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("storage-audits-"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    let verdict_of = |index: u64| -> Vec<String> {
        audits
            .iter()
            .flat_map(|a| a["pieces"].as_array().unwrap().clone())
            .filter(|p| p["deal"] == id.as_str() && p["index"] == index && p["verdict"]["result"] != "passed")
            .map(|p| p["verdict"]["result"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(verdict_of(0).contains(&"not_stored".to_string()), "{:?}", verdict_of(0));
    assert!(verdict_of(1).contains(&"bad_answer".to_string()), "{:?}", verdict_of(1));

    // The file still downloads intact, now from the repaired placement.
    let out_path = tmp.path().join("back.bin");
    let out = fetch(&dir, &api, &id, &out_path);
    assert!(out.status.success(), "store get failed: {}", stderr(&out));
    assert_eq!(blake3::hash(&std::fs::read(&out_path).unwrap()), hash);
    // The repaired pieces pass later audits: the deal keeps settling with all six proven.
    let settled = deal(&api, &id)["deal"]["settled_epochs"].as_u64().unwrap();
    wait_until("a settlement after the repair", 2 * DEADLINE, || {
        deal(&api, &id)["deal"]["settled_epochs"].as_u64().unwrap() > settled + 1
    });

    // Anyone with the archive recomputes the storage pool's units from the verdict files: the
    // epoch in which the cheaters failed matches the manifest on chain.
    let rewards = dir.join("node/rewards");
    let failed_epoch = audits
        .iter()
        .find(|a| {
            a["pieces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["verdict"]["result"] == "not_stored")
        })
        .map(|a| a["epoch"].as_u64().unwrap())
        .unwrap();
    wait_until("that epoch's rewards settled", DEADLINE, || {
        rewards.join(format!("epoch-{failed_epoch}.json")).exists()
    });
    let audit = trellis(
        &[
            "rewards",
            "audit",
            "--epoch",
            &failed_epoch.to_string(),
            "--archive",
            rewards.to_str().unwrap(),
            "--api",
            &api,
        ],
        &[],
    );
    assert!(
        audit.status.success() && stdout(&audit).lines().any(|l| l.starts_with("MATCH epoch")),
        "{}{}",
        stdout(&audit),
        stderr(&audit)
    );
    // Pool units wait HOLD_EPOCHS before they are paid: the deleter's last pass was still held
    // when its piece went missing, so the epoch that pays it pays it nothing, while an honest
    // provider of the same deal is paid for the same epoch's proof.
    let last_pass = audits
        .iter()
        .filter(|a| {
            a["pieces"].as_array().unwrap().iter().any(|p| {
                p["deal"] == id.as_str()
                    && p["index"] == 0
                    && p["provider"] == deleter.as_str()
                    && p["verdict"]["result"] == "passed"
            })
        })
        .map(|a| a["epoch"].as_u64().unwrap())
        .max()
        .expect("the deleter passed before deleting");
    let pays = last_pass + trellis_storage::audit::HOLD_EPOCHS;
    let archive = rewards.join(format!("epoch-{pays}.json"));
    wait_until("the held epoch's rewards settled", DEADLINE, || archive.exists());
    let archive: Value = serde_json::from_slice(&std::fs::read(&archive).unwrap()).unwrap();
    let storage_shares: Vec<Value> = archive["inputs"]["shares"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pool"] == "storage")
        .cloned()
        .collect();
    let storage_units = |device: &str| -> Option<u64> {
        storage_shares
            .iter()
            .find(|s| s["device"] == device)
            .map(|s| s["units"].as_u64().unwrap())
    };
    assert_eq!(storage_units(&deleter), Some(0), "{storage_shares:?}");
    let honest_provider = pieces[2]["provider"].as_str().unwrap();
    assert!(
        storage_units(honest_provider).is_some_and(|u| u > 0),
        "{storage_shares:?}"
    );

    // `store ls` lists it under its local name; `store rm` closes it and refunds the escrow.
    let keystore = consumer(&dir);
    let ls = trellis(&["store", "ls", "--keystore", &keystore, "--api", &api], &[]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    let line = stdout(&ls).lines().find(|l| l.starts_with(&id)).map(str::to_owned);
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("small.bin") && l.contains("2/6")),
        "{}",
        stdout(&ls)
    );
    let credits = |c: &Value| c["account"]["credits"].as_str().unwrap().parse::<u64>().unwrap();
    let account = d_client(&api, &id);
    let before_rm = credits(&get(&api, &format!("/v1/accounts/{account}")).unwrap());
    let escrow: u64 = deal(&api, &id)["deal"]["escrow"].as_str().unwrap().parse().unwrap();
    // Only the deal's client may close it, and only a deal that exists.
    let operator = dir.join("wallets/operator.json").to_str().unwrap().to_string();
    let not_mine = trellis(&["store", "rm", &id, "--keystore", &operator, "--api", &api], &[PASS]);
    assert!(!not_mine.status.success());
    assert!(
        stderr(&not_mine).contains("only its client can close it"),
        "{}",
        stderr(&not_mine)
    );
    let unknown = "ab".repeat(32);
    let missing = trellis(
        &["store", "rm", &unknown, "--keystore", &keystore, "--api", &api],
        &[PASS],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains(&format!("no open storage deal {unknown}")),
        "{}",
        stderr(&missing)
    );
    assert!(
        get(&api, &format!("/v1/deals/{id}")).is_ok(),
        "a refused rm closed the deal"
    );
    let rm = trellis(&["store", "rm", &id, "--keystore", &keystore, "--api", &api], &[PASS]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(get(&api, &format!("/v1/deals/{id}")).is_err(), "the deal is still open");
    let after_rm = credits(&get(&api, &format!("/v1/accounts/{account}")).unwrap());
    // Less what settlement and the close pay providers (a settlement landing between reading
    // the escrow and closing, and the running epoch so far): a few credits per epoch here.
    assert!(
        after_rm > before_rm && after_rm + 20 >= before_rm + escrow,
        "escrow {escrow} not refunded: {before_rm} -> {after_rm}"
    );
    // A file of several segments (three here): every piece streams to its provider in step as
    // the segments are coded, staged until the deal lands; it comes back whole.
    let streamed = tmp.path().join("streamed.bin");
    let streamed_hash = random_file(&streamed, 9 << 20, 6);
    let streamed_id = put(&dir, &api, &streamed, &[]);
    let streamed_pieces = deal(&api, &streamed_id)["deal"]["terms"]["pieces"]
        .as_array()
        .map(Vec::len);
    assert!(streamed_pieces.is_some_and(|n| n >= 4), "{streamed_pieces:?}");
    let streamed_back = tmp.path().join("streamed-back.bin");
    let out = fetch(&dir, &api, &streamed_id, &streamed_back);
    assert!(out.status.success(), "store get failed: {}", stderr(&out));
    assert_eq!(blake3::hash(&std::fs::read(&streamed_back).unwrap()), streamed_hash);
}

/// The newest epoch in which `provider` claimed egress: (epoch, bytes, credits).
fn egress_of(api: &str, provider: &str) -> Option<(u64, u64, u64)> {
    let current = get(api, "/v1/status").unwrap()["epoch"].as_u64().unwrap();
    (0..=current).rev().find_map(|e| {
        let summary = get(api, &format!("/v1/epochs/{e}")).ok()?;
        let entry = summary["egress"]
            .as_array()?
            .iter()
            .find(|x| x["device"] == provider)?
            .clone();
        let credits = entry["credits"].as_str()?.parse().ok()?;
        Some((e, entry["bytes"].as_u64()?, credits))
    })
}

fn d_client(api: &str, id: &str) -> String {
    deal(api, id)["deal"]["client"].as_str().unwrap().to_string()
}
