//! The command line itself: help that teaches, errors that say what is wrong.

use crate::harness::{stderr, stdout, trellis};

#[test]
fn every_subcommand_has_help_with_an_example() {
    for args in [
        vec!["devnet", "--help"],
        vec!["node", "run", "--help"],
        vec!["wallet", "transfer", "--help"],
        vec!["wallet", "new", "--help"],
        vec!["chain", "verify", "--help"],
        vec!["bench", "ledger", "--help"],
        vec!["bench", "ingest", "--help"],
        vec!["bench", "coverage", "--help"],
        vec!["bench", "rewards", "--help"],
        vec!["rewards", "audit", "--help"],
        vec!["sim", "tokenomics", "--help"],
        vec!["sim", "network", "--help"],
        vec!["agent", "sensor", "--help"],
        vec!["data", "get", "--help"],
        vec!["data", "buy", "--help"],
        vec!["bench", "sensor", "--help"],
        vec!["bench", "sim", "--help"],
    ] {
        let out = trellis(&args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("Example"),
            "{args:?} help lacks an example:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn transfer_idle_limits_out_of_range_are_refused_before_any_network_call() {
    let id = "00".repeat(32);
    let out = trellis(&["store", "get", &id, "/nonexistent/out", "--idle-timeout", "0"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid value '0' for '--idle-timeout <SECS>': 0 is not in 1..=86400"),
        "{}",
        stderr(&out)
    );
    let out = trellis(
        &["store", "put", "/nonexistent/file"],
        &[("TRELLIS_TRANSFER_IDLE_SECS", "soon")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid value 'soon' for '--idle-timeout <SECS>'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_deal_of_no_epochs_and_a_directory_as_output_are_refused_before_any_network_call() {
    let out = trellis(&["store", "put", "/nonexistent/file", "--epochs", "0"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid value '0' for '--epochs <EPOCHS>'"),
        "{}",
        stderr(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let id = "00".repeat(32);
    let out = trellis(
        &[
            "store",
            "get",
            &id,
            dir.path().to_str().unwrap(),
            "--force",
            "--keystore",
            "/nonexistent.json",
            "--api",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is a directory; name the file to write"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_provider_on_every_interface_without_a_public_url_is_refused_before_any_network_call() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    let common = [
        "agent",
        "storage",
        "--dir",
        dir,
        "--key-file",
        "/nonexistent/key",
        "--node",
        "http://127.0.0.1:9",
    ];
    // The default listen address is every interface.
    let out = trellis(&common, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("listening on 0.0.0.0:8650, every interface")
            && stderr(&out).contains("pass --public-url http://HOST:8650"),
        "{}",
        stderr(&out)
    );
    let out = trellis(&[&common[..], &["--listen", "[::]:9000"]].concat(), &[]);
    assert!(
        stderr(&out).contains("pass --public-url http://HOST:9000"),
        "{}",
        stderr(&out)
    );
    // With the URL given, it gets as far as the key file.
    let out = trellis(
        &[&common[..], &["--public-url", "http://provider.example:8650"]].concat(),
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/key"), "{}", stderr(&out));
}

#[test]
fn bad_amount_and_address_are_refused_before_any_network_call() {
    let out = trellis(
        &[
            "wallet",
            "transfer",
            "--keystore",
            "/nonexistent",
            "--to",
            "tr1nope",
            "--amount",
            "1",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a bech32m address"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("k.json");
    let out = trellis(
        &["wallet", "new", "--keystore", ks.to_str().unwrap()],
        &[("TRELLIS_PASSPHRASE", "pw")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let addr = stdout(&out).trim().to_string();
    let out = trellis(
        &[
            "wallet",
            "transfer",
            "--keystore",
            ks.to_str().unwrap(),
            "--to",
            &addr,
            "--amount",
            "1.000000001",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at most 8 decimal places"), "{}", stderr(&out));
}

#[test]
fn node_refuses_config_with_an_invalid_field_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!("data_dir = {:?}\nblock_interval_ms = 1\n", dir.path().join("d")),
    )
    .unwrap();
    let out = trellis(&["node", "run", "--config", cfg.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("block_interval_ms"), "{}", stderr(&out));
    std::fs::write(&cfg, format!("data_dir = {:?}\n", dir.path().join("d"))).unwrap();
    let out = trellis(&["node", "run", "--config", cfg.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no genesis is configured"), "{}", stderr(&out));
}

#[test]
fn invalid_genesis_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.toml");
    std::fs::write(
        &genesis,
        "chain_id = \"Bad Id\"\ntimestamp_ms = 0\n[admins]\nthreshold = 1\nmembers = []\n[oracles]\nthreshold = 1\nmembers = []\n",
    )
    .unwrap();
    let cfg = dir.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!("data_dir = {:?}\ngenesis = {:?}\n", dir.path().join("d"), genesis),
    )
    .unwrap();
    let out = trellis(&["node", "run", "--config", cfg.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chain_id"), "{}", stderr(&out));
}

#[test]
fn wrong_passphrase_is_reported_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("k.json");
    let out = trellis(
        &["wallet", "new", "--keystore", ks.to_str().unwrap()],
        &[("TRELLIS_PASSPHRASE", "right")],
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&ks).unwrap();
    assert!(text.contains("argon2id") && text.contains("xchacha20poly1305"));
    let out = trellis(
        &[
            "wallet",
            "burn",
            "--keystore",
            ks.to_str().unwrap(),
            "--amount",
            "1",
            "--api",
            "http://127.0.0.1:9",
        ],
        &[("TRELLIS_PASSPHRASE", "wrong")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wrong passphrase"), "{}", stderr(&out));
    let again = trellis(
        &["wallet", "new", "--keystore", ks.to_str().unwrap()],
        &[("TRELLIS_PASSPHRASE", "x")],
    );
    assert!(!again.status.success(), "must not overwrite an existing key file");
}

#[test]
fn tokenomics_simulation_writes_csv_and_svg_per_scenario_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let run = || {
        trellis(
            &[
                "sim",
                "tokenomics",
                "--years",
                "3",
                "--out",
                out,
                "--net-emission-cap-trl",
                "100",
            ],
            &[],
        )
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));
    for scenario in ["constant", "growth", "shock"] {
        let csv = std::fs::read_to_string(dir.path().join(format!("tokenomics-{scenario}.csv"))).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "month,emitted_trl,burned_trl,net_emission_trl,supply_trl,demand_usd_per_day"
        );
        assert_eq!(lines.count(), 36);
        let svg = std::fs::read_to_string(dir.path().join(format!("tokenomics-{scenario}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    }
    let before = std::fs::read(dir.path().join("tokenomics-shock.svg")).unwrap();
    assert!(run().status.success());
    assert_eq!(
        std::fs::read(dir.path().join("tokenomics-shock.svg")).unwrap(),
        before,
        "same inputs, same bytes"
    );
    let bad = trellis(&["sim", "tokenomics", "--scenario", "boom", "--out", out], &[]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown scenario"), "{}", stderr(&bad));
    let bad = trellis(&["sim", "tokenomics", "--price-usd", "0", "--out", out], &[]);
    assert!(stderr(&bad).contains("greater than zero"), "{}", stderr(&bad));
}

#[test]
fn network_simulation_refuses_impossible_parameters_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, why) in [
        (vec!["--epochs", "0"], "--epochs must be in 1..=10000"),
        (vec!["--cheater-bps", "9000"], "--cheater-bps is at most 5000"),
        (vec!["--sample-ppm", "2000000"], "--sample-ppm at most 1000000"),
        (
            vec![
                "--hotspots",
                "0",
                "--stations",
                "0",
                "--meters",
                "0",
                "--storage",
                "0",
                "--compute",
                "0",
            ],
            "at least one device",
        ),
    ] {
        let bad = trellis(&[&["sim", "network", "--out", out][..], &args[..]].concat(), &[]);
        assert!(!bad.status.success(), "{args:?}");
        assert!(stderr(&bad).contains(why), "{args:?}: {}", stderr(&bad));
    }
    assert!(!dir.path().join("network-report.md").exists(), "nothing written");
}

#[test]
fn wallet_import_reproduces_the_address_of_a_known_seed_and_rejects_bad_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let seed = [42u8; 32];
    let seed_file = dir.path().join("seed.hex");
    std::fs::write(&seed_file, format!("{}\n", hex::encode(seed))).unwrap();
    let ks = dir.path().join("imported.json");
    let out = trellis(
        &[
            "wallet",
            "import",
            "--keystore",
            ks.to_str().unwrap(),
            "--seed-file",
            seed_file.to_str().unwrap(),
        ],
        &[("TRELLIS_PASSPHRASE", "pw")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = trellis_primitives::AccountAddress::from(trellis_primitives::Keypair::from_seed(seed).public());
    assert_eq!(stdout(&out).trim(), expected.to_string());
    let out = trellis(
        &[
            "wallet",
            "show",
            "--keystore",
            ks.to_str().unwrap(),
            "--api",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert!(stdout(&out).contains(&expected.to_string()));
    std::fs::write(&seed_file, "abcd").unwrap();
    let out = trellis(
        &[
            "wallet",
            "import",
            "--keystore",
            dir.path().join("x.json").to_str().unwrap(),
            "--seed-file",
            seed_file.to_str().unwrap(),
        ],
        &[("TRELLIS_PASSPHRASE", "pw")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("64 hex digits"), "{}", stderr(&out));
}
