//! A four-validator BFT testnet of real `trellis node` processes on loopback: transfers submitted
//! to any validator are finalized everywhere; with one validator SIGKILLed the other three keep
//! finalizing; restarted, it catches up to the same blocks and state root.

use crate::harness::{get, post, stdout, trellis, wait_for_api, Proc, DEADLINE};
use std::{
    path::Path,
    time::{Duration, Instant},
};
use trellis_ledger::{Transaction, TxBody, TxKind};
use trellis_primitives::{AccountAddress, Amount, Hash, Keypair};

const VALIDATORS: usize = 4;

fn faucet(dir: &Path) -> Keypair {
    let text = std::fs::read_to_string(dir.join("faucet.seed")).unwrap();
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).unwrap();
    Keypair::from_seed(seed)
}

fn transfer(from: &Keypair, to: &Keypair, nonce: u64) -> Transaction {
    let body = TxBody {
        chain_id: "trellis-testnet".into(),
        signer: from.public().into(),
        nonce,
        fee: Amount::from_units(1_000),
        kind: TxKind::Transfer {
            to: to.public().into(),
            amount: Amount::from_units(1_000_000),
        },
    };
    Transaction::sign(body, from)
}

fn start(dir: &Path, i: usize, incarnation: usize) -> (Proc, String) {
    let vdir = dir.join(format!("v{i}"));
    let data = vdir.join("data");
    let _stale_url_may_be_absent = std::fs::remove_file(data.join("api.url"));
    let config = vdir.join("node.toml");
    let proc = Proc::spawn(
        &["node", "run", "--config", config.to_str().unwrap()],
        &vdir.join(format!("node-{incarnation}.log")),
    );
    (proc, wait_for_api(&data))
}

fn height(url: &str) -> u64 {
    get(url, "/v1/status")
        .map(|v| v["height"].as_u64().unwrap())
        .unwrap_or(0)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE * 2;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn committed(url: &str, id: &Hash) -> bool {
    get(url, &format!("/v1/txs/{id}")).is_ok_and(|v| v["status"] == "committed")
}

fn block_hash(url: &str, h: u64) -> String {
    get(url, &format!("/v1/blocks/{h}")).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

fn balance(url: &str, key: &Keypair) -> u64 {
    let address = AccountAddress::from(key.public());
    let v = get(url, &format!("/v1/accounts/{address}")).unwrap();
    crate::harness::units(&v["account"]["balance"])
}

#[test]
fn testnet_finalizes_survives_a_kill_and_the_restarted_validator_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tn");
    let init = trellis(
        &[
            "testnet",
            "--validators",
            "4",
            "--dir",
            root.to_str().unwrap(),
            "--block-interval-ms",
            "100",
            "--init-only",
        ],
        &[],
    );
    assert!(init.status.success(), "{}", crate::harness::stderr(&init));
    assert!(stdout(&init).contains("faucet"));
    let mut procs = Vec::new();
    let mut urls = Vec::new();
    for i in 0..VALIDATORS {
        let (p, url) = start(&root, i, 0);
        procs.push(Some(p));
        urls.push(url);
    }
    let status = get(&urls[0], "/v1/status").unwrap();
    assert!(
        status["finality"].as_str().unwrap().contains("4 validators"),
        "{status}"
    );
    wait_until("first blocks on every validator", || {
        urls.iter().all(|u| height(u) >= 3)
    });

    // Transfers submitted to different validators are gossiped and finalized everywhere.
    let faucet = faucet(&root);
    let alice = Keypair::from_seed([7; 32]);
    let mut ids = Vec::new();
    for nonce in 0..8u64 {
        let url = &urls[nonce as usize % VALIDATORS];
        ids.push(post(url, &transfer(&faucet, &alice, nonce)).unwrap());
    }
    wait_until("8 transfers final on all validators", || {
        urls.iter().all(|u| ids.iter().all(|id| committed(u, id)))
    });
    for url in &urls {
        assert_eq!(balance(url, &alice), 8_000_000);
    }

    // SIGKILL validator 3: the other three are a quorum and keep finalizing.
    procs[3].as_mut().unwrap().kill9();
    procs[3] = None;
    let before = height(&urls[0]);
    for nonce in 8..12u64 {
        ids.push(post(&urls[1], &transfer(&faucet, &alice, nonce)).unwrap());
    }
    wait_until("progress without validator 3", || {
        urls[..3].iter().all(|u| height(u) >= before + 20) && ids.iter().all(|id| committed(&urls[0], id))
    });

    // Restarted, it syncs what it missed and agrees block by block.
    let (p, url) = start(&root, 3, 1);
    procs[3] = Some(p);
    urls[3] = url;
    let target = height(&urls[0]);
    wait_until("validator 3 catching up", || height(&urls[3]) >= target);
    assert_eq!(balance(&urls[3], &alice), 12_000_000);
    let common = urls.iter().map(|u| height(u)).min().unwrap();
    for h in (0..=common).step_by(7).chain([common]) {
        let hashes: Vec<String> = urls.iter().map(|u| block_hash(u, h)).collect();
        assert!(hashes.iter().all(|x| *x == hashes[0]), "height {h}: {hashes:?}");
    }
    let roots: Vec<String> = urls
        .iter()
        .map(|u| get(u, &format!("/v1/blocks/{common}")).unwrap()["block"]["header"]["state_root"].to_string())
        .collect();
    assert!(roots.iter().all(|r| *r == roots[0]), "{roots:?}");
    drop(procs);

    // Every validator's database replays from genesis to the same root.
    for i in 0..VALIDATORS {
        let data = root.join(format!("v{i}")).join("data");
        let out = trellis(&["chain", "verify", "--data-dir", data.to_str().unwrap()], &[]);
        assert!(out.status.success(), "validator {i}: {}", crate::harness::stderr(&out));
    }
}
