//! Genesis documents: a valid TOML starts the fixture chain; every broken rule is refused with
//! `GenesisError::Invalid` naming the field.

use crate::fixtures::{addr, genesis, key, CHAIN_ID, GENESIS_ISSUED, MIN_FEE, PRICE, SUBMITTERS, USERS};
use trellis_ledger::{Genesis, GenesisError, MemStore, StateRead, Store};
use trellis_primitives::Amount;

/// Knobs of [`document`]; `Doc::default()` is the fixture genesis.
struct Doc {
    chain_id: String,
    admin_threshold: u32,
    oracle_threshold: u32,
    /// `(account name, balance)`, in document order.
    accounts: Vec<(&'static str, u64)>,
}

impl Default for Doc {
    fn default() -> Self {
        let users = USERS.iter().map(|u| (*u, 1_000 * 100_000_000));
        let submitters = SUBMITTERS.iter().map(|s| (*s, 10 * 100_000_000));
        Doc {
            chain_id: CHAIN_ID.into(),
            admin_threshold: 2,
            oracle_threshold: 2,
            accounts: users.chain(submitters).collect(),
        }
    }
}

fn members(prefix: &str) -> String {
    let keys: Vec<String> = (1..=3)
        .map(|i| format!("\"{}\"", key(&format!("{prefix}{i}")).public()))
        .collect();
    keys.join(", ")
}

/// The fixture genesis written out as TOML, as an operator would.
fn document(doc: &Doc) -> String {
    let mut text = format!(
        r#"chain_id = "{chain_id}"
timestamp_ms = 1000
verifiers = ["{verifier}"]
initial_price_micro_usd_per_trl = {PRICE}

[params]
min_fee = "{MIN_FEE}"
epoch_len_blocks = 5
onboard_fee = "100000000"
location_fee_credits = "1000000"
credit_price_micro_usd = 10
price_max_age_blocks = 3600
unbonding_delay_blocks = 3
max_manifest_total = "100000000000000"
max_block_txs = 10000
storage_min_collateral = "100000000"

[admins]
threshold = {admin_threshold}
members = [{admins}]

[oracles]
threshold = {oracle_threshold}
members = [{oracles}]

[[makers]]
key = "{maker}"
name = "Maker"
"#,
        chain_id = doc.chain_id,
        verifier = key("verifier").public(),
        admin_threshold = doc.admin_threshold,
        admins = members("admin"),
        oracle_threshold = doc.oracle_threshold,
        oracles = members("oracle"),
        maker = key("maker").public(),
    );
    for (name, balance) in &doc.accounts {
        text.push_str(&format!(
            "\n[[accounts]]\naddress = \"{}\"\nbalance = \"{balance}\"\n",
            addr(name)
        ));
    }
    text
}

/// Parses `doc`, expecting `GenesisError::Invalid`; returns its message.
fn invalid(doc: &Doc) -> String {
    match Genesis::from_toml(&document(doc)) {
        Err(GenesisError::Invalid(message)) => message,
        other => panic!("expected GenesisError::Invalid, got {other:?}"),
    }
}

#[test]
fn the_fixture_genesis_as_toml_parses_to_the_same_document_and_state_root() {
    let parsed = Genesis::from_toml(&document(&Doc::default())).unwrap();
    let mut expected = genesis();
    expected.normalise();
    assert_eq!(parsed, expected);
    let (mut from_toml, _) = parsed.into_ledger(MemStore::new()).unwrap();
    let (mut from_code, _) = genesis().into_ledger(MemStore::new()).unwrap();
    assert_eq!(from_toml.store_mut().root(), from_code.store_mut().root());
    assert_eq!(from_toml.tip(), from_code.tip());
    assert_eq!(from_toml.store().supply().unwrap().issued.units(), GENESIS_ISSUED);
    assert_eq!(
        from_toml.store().account(&addr("alice")).unwrap().balance,
        Amount::from_units(1_000 * 100_000_000)
    );
}

#[test]
fn a_committee_threshold_above_its_member_count_is_invalid_and_names_the_committee() {
    let message = invalid(&Doc {
        admin_threshold: 4,
        ..Doc::default()
    });
    assert_eq!(message, "admins threshold must be in 1..=3, found 4");
    let message = invalid(&Doc {
        oracle_threshold: 0,
        ..Doc::default()
    });
    assert_eq!(message, "oracles threshold must be in 1..=3, found 0");
}

#[test]
fn a_duplicate_account_is_invalid_and_names_accounts() {
    let mut doc = Doc::default();
    doc.accounts.push(("alice", 5));
    let message = invalid(&doc);
    assert_eq!(message, format!("accounts: duplicate address {}", addr("alice")));
}

#[test]
fn a_zero_balance_is_invalid_and_names_the_balance() {
    let mut doc = Doc::default();
    doc.accounts[1].1 = 0;
    let message = invalid(&doc);
    assert_eq!(
        message,
        format!("accounts: balance of {} must be greater than zero", addr("bob"))
    );
}

#[test]
fn a_bad_chain_id_is_invalid_and_names_chain_id() {
    for bad in ["Not Valid".to_string(), String::new(), "UPPER".into(), "a".repeat(33)] {
        let message = invalid(&Doc {
            chain_id: bad.clone(),
            ..Doc::default()
        });
        assert!(message.starts_with("chain_id: "), "{bad:?}: {message}");
    }
}

#[test]
fn struct_level_rules_name_their_field_and_bad_toml_is_a_parse_error() {
    let check = |g: Genesis, field: &str| {
        let err = g.validate().unwrap_err();
        assert!(
            matches!(&err, GenesisError::Invalid(m) if m.contains(field)),
            "{err} should name {field}"
        );
    };
    let base = genesis();
    let mut g = base.clone();
    g.params.epoch_len_blocks = 0;
    check(g, "epoch_len_blocks");
    let mut g = base.clone();
    g.initial_price_micro_usd_per_trl = Some(0);
    check(g, "initial_price_micro_usd_per_trl");
    let mut g = base.clone();
    g.verifiers.push(g.verifiers[0]);
    check(g, "verifiers");
    let mut g = base.clone();
    g.makers.push(g.makers[0].clone());
    check(g, "makers");
    let mut g = base;
    g.accounts[0].balance = Amount::from_units(u64::MAX);
    check(g, "accounts: total supply");
    assert!(matches!(Genesis::from_toml("chain_id = 5"), Err(GenesisError::Parse(m)) if m.contains("chain_id")));
    // A store that already holds state cannot take a genesis.
    let (ledger, _) = genesis().into_ledger(MemStore::new()).unwrap();
    let used = ledger.store().clone();
    assert_eq!(genesis().into_ledger(used).unwrap_err(), GenesisError::StoreNotEmpty);
}
