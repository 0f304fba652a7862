//! SIGKILL under load loses nothing the node reported committed, and the database replays.

use crate::harness::{get, post, stdout, trellis, wait_for_api, Proc};
use std::{collections::BTreeMap, path::Path};
use trellis_ledger::{Genesis, GenesisAccount, Transaction, TxBody, TxKind};
use trellis_primitives::{AccountAddress, Amount, Hash, Keypair};

const SENDERS: usize = 8;
const KILL_CYCLES: usize = 3;
/// Committed transactions to confirm before each kill.
const CONFIRM_PER_CYCLE: usize = 60;

fn sender(i: usize) -> Keypair {
    Keypair::from_seed([i as u8 + 1; 32])
}

fn write_setup(dir: &Path) -> std::path::PathBuf {
    let admin = Keypair::from_seed([200; 32]);
    let accounts = (0..SENDERS)
        .map(|i| GenesisAccount {
            address: sender(i).public().into(),
            balance: Amount::from_units(1 << 40),
        })
        .collect();
    let mut genesis = Genesis::single_authority("crash-test", admin.public(), accounts);
    genesis.params.min_fee = Amount::from_units(10);
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string(&genesis).unwrap()).unwrap();
    let config = dir.join("node.toml");
    let data = dir.join("data");
    std::fs::write(
        &config,
        format!("data_dir = {data:?}\ngenesis = {genesis_path:?}\napi_listen = \"127.0.0.1:0\"\nblock_interval_ms = 15\nempty_blocks = false\n"),
    )
    .unwrap();
    config
}

fn start(config: &Path, data: &Path, log: &Path) -> (Proc, String) {
    let _stale_url_may_be_absent = std::fs::remove_file(data.join("api.url"));
    let proc = Proc::spawn(&["node", "run", "--config", config.to_str().unwrap()], log);
    let url = wait_for_api(data);
    (proc, url)
}

/// (height, index, receipt status) of a committed transaction.
type Committed = (u64, u64, String);

fn committed(url: &str, id: &Hash) -> Option<Committed> {
    let v = get(url, &format!("/v1/txs/{id}")).ok()?;
    (v["status"] == "committed").then(|| {
        (
            v["height"].as_u64().unwrap(),
            v["index"].as_u64().unwrap(),
            v["receipt"]["status"].as_str().unwrap().to_string(),
        )
    })
}

#[test]
fn sigkill_under_load_loses_no_committed_transaction_and_replays_to_the_same_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_setup(dir.path());
    let data = dir.path().join("data");
    let recipient: AccountAddress = Keypair::from_seed([99; 32]).public().into();
    let mut confirmed: BTreeMap<Hash, Committed> = BTreeMap::new();
    let mut nonces = [0u64; SENDERS];

    for cycle in 0..KILL_CYCLES {
        let (mut node, url) = start(&config, &data, &dir.path().join(format!("node-{cycle}.log")));
        // Everything confirmed before earlier kills is still there, at the same place.
        for (id, before) in &confirmed {
            assert_eq!(
                committed(&url, id).as_ref(),
                Some(before),
                "cycle {cycle}: tx {id} changed or vanished"
            );
        }
        // Resume nonces from the chain: transactions in flight at the kill may or may not have made it.
        for (i, nonce) in nonces.iter_mut().enumerate() {
            let address: AccountAddress = sender(i).public().into();
            *nonce = get(&url, &format!("/v1/accounts/{address}")).unwrap()["account"]["nonce"]
                .as_u64()
                .unwrap();
        }
        let mut in_flight: Vec<Hash> = Vec::new();
        let mut confirmed_this_cycle = 0;
        let mut round = 0u64;
        while confirmed_this_cycle < CONFIRM_PER_CYCLE {
            for (i, nonce) in nonces.iter_mut().enumerate() {
                let body = TxBody {
                    chain_id: "crash-test".into(),
                    signer: sender(i).public().into(),
                    nonce: *nonce,
                    fee: Amount::from_units(10),
                    kind: TxKind::Transfer {
                        to: recipient,
                        amount: Amount::from_units(1 + round),
                    },
                };
                if let Ok(id) = post(&url, &Transaction::sign(body, &sender(i))) {
                    *nonce += 1;
                    in_flight.push(id);
                }
            }
            round += 1;
            in_flight.retain(|id| match committed(&url, id) {
                Some(c) => {
                    confirmed.insert(*id, c);
                    confirmed_this_cycle += 1;
                    false
                }
                None => true,
            });
            assert!(round < 2_000, "node stopped committing");
        }
        // Kill while transactions are still in flight.
        node.kill9();
    }

    // A last restart: everything confirmed is there; then stop and replay the database offline.
    let (mut node, url) = start(&config, &data, &dir.path().join("node-final.log"));
    for (id, before) in &confirmed {
        assert_eq!(
            committed(&url, id).as_ref(),
            Some(before),
            "final: tx {id} changed or vanished"
        );
    }
    let status = get(&url, "/v1/status").unwrap();
    let root = status["state_root"].as_str().unwrap().to_string();
    node.kill9();
    let out = trellis(&["chain", "verify", "--data-dir", data.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.starts_with("OK: replayed"), "{text}");
    assert!(
        text.contains(&root),
        "replayed root differs from the node's: {text} vs {root}"
    );
    assert!(confirmed.len() >= KILL_CYCLES * CONFIRM_PER_CYCLE);
}
