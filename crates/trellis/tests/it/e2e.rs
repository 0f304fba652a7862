//! `trellis devnet` in the background; the CLI creates a wallet, transfers, burns for credits,
//! stakes; the API shows exactly the results.

use crate::harness::{alter_reports, copy_dir, get, start_devnet, stderr, stdout, trellis, units, DEADLINE};

const DEVNET_PASS: (&str, &str) = ("TRELLIS_PASSPHRASE", "devnet");

#[test]
fn devnet_wallet_transfer_burn_stake_show_up_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let devnet_dir = dir.path().join("devnet");
    // Held (not `_`) so the devnet runs until the end of the test.
    let (_devnet, lines, url) = start_devnet(&devnet_dir, &dir.path().join("devnet.log"));
    let storage_device = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("storage").map(|r| r.trim().to_string()))
        .unwrap();
    let wallets = devnet_dir.join("wallets");
    let faucet = wallets.join("faucet.json");
    let operator = wallets.join("operator.json");
    let api = ["--api", url.as_str()];

    let status = get(&url, "/v1/status").unwrap();
    assert_eq!(status["chain_id"], "trellis-devnet");
    // An epoch every hotspot agent ran through from its start, with a whole epoch before it in
    // the location fit's window: 32 agent processes may take seconds to start on a busy machine.
    let first_full_epoch = status["epoch"].as_u64().unwrap() + 2;
    let min_fee = units(&get(&url, "/v1/params").unwrap()["params"]["min_fee"]);
    let price = 1_500_000u64; // devnet genesis price, micro-USD per TRL
    let credit_price = get(&url, "/v1/params").unwrap()["params"]["credit_price_micro_usd"]
        .as_u64()
        .unwrap();

    // A new wallet, funded by the faucet.
    let alice_ks = dir.path().join("alice.json");
    let out = trellis(
        &["wallet", "new", "--keystore", alice_ks.to_str().unwrap()],
        &[("TRELLIS_PASSPHRASE", "alice pw")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let alice = stdout(&out).trim().to_string();
    assert!(alice.starts_with("tr1"));
    let bob = {
        let ks = dir.path().join("bob.json");
        let out = trellis(
            &["wallet", "new", "--keystore", ks.to_str().unwrap()],
            &[("TRELLIS_PASSPHRASE", "bob pw")],
        );
        stdout(&out).trim().to_string()
    };
    let mut args = vec![
        "wallet",
        "transfer",
        "--keystore",
        faucet.to_str().unwrap(),
        "--to",
        &alice,
        "--amount",
        "50",
    ];
    args.extend(api);
    let out = trellis(&args, &[DEVNET_PASS]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("committed in block"), "{}", stdout(&out));

    // Alice transfers, burns for credits; the operator stakes on its storage device.
    let alice_env = [("TRELLIS_PASSPHRASE", "alice pw")];
    let ks = alice_ks.to_str().unwrap();
    for args in [
        vec!["wallet", "transfer", "--keystore", ks, "--to", &bob, "--amount", "5.25"],
        vec!["wallet", "burn", "--keystore", ks, "--amount", "2"],
    ] {
        let mut args = args.clone();
        args.extend(api);
        let out = trellis(&args, &alice_env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let stake_before = units(&get(&url, &format!("/v1/devices/{storage_device}")).unwrap()["device"]["stake"]);
    let mut args = vec![
        "wallet",
        "stake",
        "--keystore",
        operator.to_str().unwrap(),
        "--device",
        &storage_device,
        "--amount",
        "7",
    ];
    args.extend(api);
    let out = trellis(&args, &[DEVNET_PASS]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Overdraft: included, fails, costs only the fee; the CLI says so and exits non-zero.
    let mut args = vec!["wallet", "transfer", "--keystore", ks, "--to", &bob, "--amount", "1000"];
    args.extend(api);
    let out = trellis(&args, &alice_env);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("insufficient_balance"), "{}", stderr(&out));

    // The API shows exactly the results.
    const TRL: u64 = 100_000_000;
    let alice_acct = &get(&url, &format!("/v1/accounts/{alice}")).unwrap()["account"];
    assert_eq!(
        units(&alice_acct["balance"]),
        50 * TRL - 525 * TRL / 100 - 2 * TRL - 3 * min_fee
    );
    assert_eq!(alice_acct["nonce"], 3);
    assert_eq!(units(&alice_acct["credits"]), 2 * TRL * price / (TRL * credit_price));
    assert_eq!(
        units(&get(&url, &format!("/v1/accounts/{bob}")).unwrap()["account"]["balance"]),
        525 * TRL / 100
    );
    let stake_after = units(&get(&url, &format!("/v1/devices/{storage_device}")).unwrap()["device"]["stake"]);
    assert_eq!(stake_after, stake_before + 7 * TRL);

    // wallet show and chain status read the same node.
    let out = trellis(&["wallet", "show", "--keystore", ks, "--api", &url], &[]);
    assert!(stdout(&out).contains(&alice), "{}", stdout(&out));
    let out = trellis(&["chain", "status", "--api", &url], &[]);
    assert!(stdout(&out).contains("trellis-devnet"), "{}", stdout(&out));

    // Rewards: the oracle settles epoch 0 (120 blocks of 50 ms) and anyone can audit it.
    let deadline = std::time::Instant::now() + DEADLINE;
    let manifest = loop {
        if let Ok(m) = get(&url, "/v1/manifests/0") {
            if m["manifest"]["claimed"] == m["manifest"]["total"] {
                break m;
            }
        }
        assert!(std::time::Instant::now() < deadline, "epoch 0 was never settled");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let archive = devnet_dir.join("node").join("rewards");
    let audit = |args: &[&str]| {
        trellis(
            &[&["rewards", "audit", "--epoch", "0", "--api", &url, "--archive"], args].concat(),
            &[],
        )
    };
    let out = audit(&[archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let root = manifest["manifest"]["root"].as_str().unwrap();
    assert_eq!(stdout(&out).trim(), format!("MATCH epoch 0 root {root}"));
    let served = get(&url, "/v1/rewards/0").unwrap();
    assert_eq!(served["manifest"]["root"], root);
    assert_eq!(
        units(&served["manifest"]["total"]),
        units(&manifest["manifest"]["total"])
    );

    // The epoch's burn total on chain is what the oracle used for net emission.
    let epoch0 = get(&url, "/v1/epochs/0").unwrap();
    assert_eq!(epoch0["complete"], true);
    assert!(
        units(&epoch0["burned"]) > 0,
        "devnet setup burned onboarding fees and credits: {epoch0}"
    );

    // Alter one archived report (a share the oracle never saw) in a copy: the audit names it.
    let altered_dir = dir.path().join("altered");
    std::fs::create_dir_all(&altered_dir).unwrap();
    let mut archived: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("epoch-0.json")).unwrap()).unwrap();
    archived["inputs"]["shares"] = serde_json::json!([{
        "device": storage_device,
        "owner": alice,
        "pool": "storage",
        "units": 5,
        "breakdown": { "counted_reports": 1, "rejected_reports": {}, "factors": [] }
    }]);
    std::fs::write(altered_dir.join("epoch-0.json"), serde_json::to_vec(&archived).unwrap()).unwrap();
    let out = audit(&[altered_dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).starts_with(&format!("MISMATCH epoch 0: device {storage_device}")),
        "{}",
        stdout(&out)
    );

    // Coverage: the simulated hotspots' beacons and witnesses went through ingest; a later epoch
    // pays them from the coverage pool, and the API explains why.
    let hotspot = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("hotspot").map(|r| r.trim().to_string()))
        .unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    let (epoch, breakdown) = 'found: loop {
        for e in first_full_epoch..first_full_epoch + 20 {
            // Settled means archived, posted and every claim paid (the archive is written first).
            let settled = get(&url, &format!("/v1/manifests/{e}"))
                .is_ok_and(|m| m["manifest"]["claimed"] == m["manifest"]["total"]);
            if let (true, Ok(b)) = (settled, get(&url, &format!("/v1/rewards/{e}/devices/{hotspot}"))) {
                break 'found (e, b);
            }
        }
        assert!(std::time::Instant::now() < deadline, "no epoch paid the hotspots");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let share = &breakdown["shares"][0];
    assert_eq!(share["pool"], "coverage");
    assert!(share["units"].as_u64().unwrap() > 0, "{breakdown}");
    assert!(
        share["breakdown"]["counted_reports"].as_u64().unwrap() > 0,
        "{breakdown}"
    );
    assert!(units(&breakdown["payouts"][0]["amount"]) > 0, "{breakdown}");
    // The RSSI forger is caught by free-space path loss on every witness and, having no valid
    // witness of others, fails reciprocity for its beacons too: it earns nothing.
    let forger = lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("cheater-rssi-forger")
                .map(|r| r.trim().to_string())
        })
        .unwrap();
    let f = get(&url, &format!("/v1/rewards/{epoch}/devices/{forger}")).unwrap();
    assert_eq!(f["shares"][0]["units"], 0, "{f}");
    assert!(
        f["shares"][0]["breakdown"]["rejected_reports"]["witness_rssi_above_free_space"]
            .as_u64()
            .unwrap()
            > 0,
        "{f}"
    );
    assert!(f["payouts"].as_array().unwrap().is_empty(), "{f}");
    // The other cheaters, in the same epoch. Among devnet's 24 honest hotspots every statistical
    // check has neighbours to work with; measured over epochs 1-15 of a devnet run, each of
    // them earned 0 in every epoch, each for its own reason (before, with 3 honest hotspots:
    // spoofer ~45 %, Sybils ~79 %, ring ~100 % of an honest hotspot).
    let coverage_share = |name: &str| -> serde_json::Value {
        let device = lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(name).map(|r| r.trim().to_string()))
            .unwrap();
        let b = get(&url, &format!("/v1/rewards/{epoch}/devices/{device}")).unwrap();
        b["shares"][0].clone()
    };
    let caught = [
        // Heard by its neighbours far louder than 39 km allows.
        ("cheater-location-spoofer", "beacon_location_inconsistent"),
        // One site, three identities asserted 2.5-3 km from it: the location fit puts each back.
        ("cheater-sybil-0", "beacon_located_elsewhere"),
        ("cheater-sybil-1", "beacon_located_elsewhere"),
        ("cheater-sybil-2", "beacon_located_elsewhere"),
        // 60-90 km apart with made-up RSSI: far louder than the region's measured path loss.
        ("cheater-ring-0", "beacon_location_inconsistent"),
        ("cheater-ring-1", "beacon_location_inconsistent"),
        ("cheater-ring-2", "beacon_location_inconsistent"),
    ];
    for (name, reason) in caught {
        let s = coverage_share(name);
        assert_eq!(s["units"], 0, "{name} earned: {s}");
        assert!(
            s["breakdown"]["rejected_reports"][reason].as_u64().unwrap_or(0) > 0,
            "{name} not refused for {reason}: {s}"
        );
    }
    let sybil_reports = get(
        &url,
        &format!(
            "/v1/rewards/{epoch}/devices/{}/reports",
            lines
                .iter()
                .find_map(|l| l.trim().strip_prefix("cheater-sybil-1").map(|r| r.trim().to_string()))
                .unwrap()
        ),
    )
    .unwrap();
    assert!(
        sybil_reports["reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["verdict"]["reason"] == "same_owner"),
        "the cluster's witnesses of each other are refused: {sybil_reports}"
    );
    // And which reports, exactly, with their verdicts.
    let r = get(&url, &format!("/v1/rewards/{epoch}/devices/{forger}/reports")).unwrap();
    let reports = r["reports"].as_array().unwrap();
    assert!(
        reports
            .iter()
            .any(|x| x["kind"] == "witness" && x["verdict"]["reason"] == "rssi_above_free_space"),
        "{r}"
    );
    let honest_reports = get(&url, &format!("/v1/rewards/{epoch}/devices/{hotspot}/reports")).unwrap();
    assert!(
        honest_reports["reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["verdict"]["valid"] == true),
        "{honest_reports}"
    );
    let verdicts = std::fs::read_to_string(archive.join(format!("verdicts-{epoch}.json"))).unwrap();
    assert!(
        verdicts.contains("\"Ok\""),
        "verdict file lists valid reports: {verdicts}"
    );
    let out = trellis(
        &[
            "rewards",
            "audit",
            "--epoch",
            &epoch.to_string(),
            "--api",
            &url,
            "--archive",
            archive.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success() && stdout(&out).starts_with("MATCH"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // The full audit re-runs the coverage verifier over the raw device reports.
    let reports = devnet_dir.join("ingest").join("archive");
    let full_audit = |reports: &std::path::Path| {
        trellis(
            &[
                "rewards",
                "audit",
                "--epoch",
                &epoch.to_string(),
                "--api",
                &url,
                "--archive",
                archive.to_str().unwrap(),
                "--reports",
                reports.to_str().unwrap(),
            ],
            &[],
        )
    };
    let out = full_audit(&reports);
    assert!(
        out.status.success() && stdout(&out).starts_with("MATCH"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Alter one archived witness report of that epoch in a copy (a forged RSSI) and audit again.
    let altered = dir.path().join("altered-reports");
    copy_dir(&reports, &altered);
    let len = get(&url, "/v1/params").unwrap()["params"]["epoch_len_blocks"]
        .as_u64()
        .unwrap();
    let ts = |h: u64| {
        get(&url, &format!("/v1/blocks/{h}")).unwrap()["block"]["header"]["timestamp_ms"]
            .as_u64()
            .unwrap()
    };
    let range = ts(epoch * len)..ts((epoch + 1) * len);
    let honest: trellis_primitives::DeviceAddress = hotspot.parse().unwrap();
    // An RSSI no radio could receive at any asserted distance: at least one of the honest
    // hotspot's witnesses was valid, so the recomputed shares must differ from the archived ones.
    let paid_epoch_witness = alter_reports(&altered, range, &honest, |kind| match kind {
        trellis_proto::report::Kind::Witness(w) => {
            w.rssi_centi_dbm = 2_000; // +20 dBm
            true
        }
        _ => false,
    });
    assert!(paid_epoch_witness, "found a witness report to alter");
    let out = full_audit(&altered);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("recomputed from the reports"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    crate::sensors::check_devnet_sensors(&url, &lines, &devnet_dir, dir.path());
}
