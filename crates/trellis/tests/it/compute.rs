//! The compute market with real processes: a devnet with four `trellis agent compute`
//! providers on loopback; frames rendered in tiles and checked pixel for pixel against a local
//! render, credits reconciled to the unit; a provider killed mid-job, its run reassigned; a
//! lazy provider and a fuel inflater caught by replay, slashed, and their jobs run elsewhere;
//! bad modules, scenes and budgets refused before anything is paid.

use crate::harness::{get, start_devnet, stderr, stdout, trellis, units, Proc, DEADLINE};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use trellis_kernels::render::{self, Tile, DEMO_SCENE};

const PASS: (&str, &str) = ("TRELLIS_PASSPHRASE", "devnet");
const TRL: u64 = 100_000_000;

fn wallet(dir: &Path, name: &str) -> String {
    dir.join(format!("wallets/{name}.json")).to_str().unwrap().to_string()
}

fn wallet_cmd(dir: &Path, api: &str, args: &[&str]) {
    let keystore = wallet(dir, if args[0] == "burn" { "consumer" } else { "operator" });
    let mut all = vec!["wallet"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--keystore", &keystore, "--api", api]);
    let out = trellis(&all, &[PASS]);
    assert!(out.status.success(), "wallet {args:?} failed: {}", stderr(&out));
}

/// A small frame: `tiles` tiles of a 48×32 render of the demo scene.
fn render_args<'a>(dir: &'a Path, api: &'a str, out: &'a Path, tiles: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "compute",
        "render",
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--tiles",
        tiles,
    ]
    .iter()
    .chain(&[
        "--width",
        "48",
        "--height",
        "32",
        "--samples",
        "2",
        "--depth",
        "4",
        "--quiet",
    ])
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--keystore".to_string(),
        wallet(dir, "consumer"),
        "--api".to_string(),
        api.to_string(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run(args: &[String]) -> std::process::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    trellis(&refs, &[PASS])
}

/// The frame the market must produce, rendered here.
fn local_frame() -> Vec<u8> {
    let whole = Tile::grid(48, 32, 1, 2, 4, 1)[0];
    render::run(&whole.encode(DEMO_SCENE.as_bytes())).unwrap()
}

fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn consumer_jobs(api: &str, consumer: &str) -> Vec<Value> {
    get(api, &format!("/v1/accounts/{consumer}/jobs")).unwrap()["jobs"]
        .as_array()
        .unwrap()
        .clone()
}

fn credits(api: &str, account: &str) -> u64 {
    units(&get(api, &format!("/v1/accounts/{account}")).unwrap()["account"]["credits"])
}

fn status(job: &Value) -> String {
    let s = &job["job"]["status"];
    match s["state"].as_str().unwrap() {
        "failed" => format!("failed:{}", s["reason"].as_str().unwrap()),
        other => other.to_string(),
    }
}

/// A devnet compute agent: its device address, data directory and URL.
struct Agent {
    address: String,
    dir: PathBuf,
}

fn agents(dir: &Path) -> Vec<Agent> {
    (0..4)
        .map(|i| {
            let data = dir.join("agents").join(format!("device-compute-{i}"));
            let log = std::fs::read_to_string(dir.join("agents").join(format!("device-compute-{i}.log"))).unwrap();
            let line = log.lines().find(|l| l.starts_with("compute provider ")).unwrap();
            Agent {
                address: line.split_whitespace().nth(2).unwrap().to_string(),
                dir: data,
            }
        })
        .collect()
}

fn kill(agent: &Agent) {
    let pattern = format!("--dir {}", agent.dir.display());
    let status = std::process::Command::new("pkill")
        .args(["-KILL", "-f", "--", &pattern])
        .status()
        .unwrap();
    assert!(status.success(), "no process matched {pattern}");
}

/// Starts the agent's device again as a fresh process (optionally cheating) and publishes its
/// new URL on chain.
fn restart(dir: &Path, api: &str, agent: &Agent, price: &str, misbehave: &str, log: &Path) -> Proc {
    let url_file = agent.dir.join("provider.url");
    let _ = std::fs::remove_file(&url_file);
    let seed = dir
        .join("agents")
        .join(format!("{}.seed", agent.dir.file_name().unwrap().to_str().unwrap()));
    let proc = Proc::spawn(
        &[
            "agent",
            "compute",
            "--key-file",
            seed.to_str().unwrap(),
            "--dir",
            agent.dir.to_str().unwrap(),
            "--price",
            price,
            "--listen",
            "127.0.0.1:0",
            "--node",
            api,
            "--misbehave",
            misbehave,
        ],
        log,
    );
    proc.wait_for_line("compute provider", DEADLINE);
    let url = std::fs::read_to_string(&url_file).unwrap();
    wallet_cmd(dir, api, &["endpoint", "--device", &agent.address, "--url", url.trim()]);
    proc
}

fn device(api: &str, address: &str) -> Value {
    get(api, &format!("/v1/devices/{address}")).unwrap()["device"].clone()
}

fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_compute_market_pays_honest_work_reassigns_crashes_and_slashes_cheats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let (_devnet, _, api) = start_devnet(&dir, &tmp.path().join("devnet.log"));
    wallet_cmd(&dir, &api, &["burn", "--amount", "5"]);
    let show = trellis(
        &["wallet", "show", "--keystore", &wallet(&dir, "consumer"), "--api", &api],
        &[PASS],
    );
    let consumer = stdout(&show)
        .split_whitespace()
        .find(|w| w.starts_with("tr1"))
        .unwrap()
        .to_string();
    let agents = agents(&dir);
    let expected = local_frame();

    // A wallet without credits cannot escrow a job: refused on chain with the reason.
    let frame = tmp.path().join("frame.png");
    let mut broke = render_args(&dir, &api, &frame, "1", &[]);
    let at = broke.iter().position(|a| a == "--keystore").unwrap();
    broke[at + 1] = wallet(&dir, "faucet");
    let out = run(&broke);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("insufficient_credits"), "{}", stderr(&out));

    // 1. Honest providers, every tile replayed: the picture is the local render, and what the
    // consumer's credits lost is exactly what the jobs paid, which is what was spent.
    let (credits_before, spent_before) = (
        credits(&api, &consumer),
        units(&get(&api, "/v1/supply").unwrap()["supply"]["credits_spent"]),
    );
    let out = run(&render_args(&dir, &api, &frame, "4", &["--sample-ppm", "1000000"]));
    assert!(out.status.success(), "render failed: {}", stderr(&out));
    assert!(
        stdout(&out).contains("4 tiles replayed by a verifier"),
        "{}",
        stdout(&out)
    );
    let (w, h, pixels) = read_png(&frame);
    assert_eq!((w, h), (48, 32));
    assert!(pixels == expected, "the market's frame differs from the local render");
    let jobs = consumer_jobs(&api, &consumer);
    assert_eq!(jobs.len(), 4);
    assert!(
        jobs.iter().all(|j| j["job"]["status"]["verified"] == Value::Bool(true)),
        "{jobs:#?}"
    );
    let paid: u64 = jobs.iter().map(|j| units(&j["job"]["paid"])).sum();
    assert!(paid > 0);
    assert_eq!(
        credits_before - credits(&api, &consumer),
        paid,
        "credits lost = credits paid, to the unit"
    );
    let spent = units(&get(&api, "/v1/supply").unwrap()["supply"]["credits_spent"]) - spent_before;
    assert_eq!(spent, paid, "credits paid are credits spent");

    // 2. The cheapest provider is killed mid-job: its run moves to the next provider after
    // the deadline, and the job still completes.
    let big = tmp.path().join("big.png");
    let mut args = render_args(
        &dir,
        &api,
        &big,
        "1",
        &["--deadline-blocks", "100", "--sample-ppm", "50000"],
    );
    for (flag, value) in [("--width", "96"), ("--height", "64"), ("--samples", "200")] {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1] = value.to_string();
    }
    let refs: Vec<String> = args;
    let consumer_bin = std::thread::spawn(move || run(&refs));
    let mut victim = String::new();
    wait_until("the big job assigned and uploaded", DEADLINE, || {
        let all = consumer_jobs(&api, &consumer);
        let Some(job) = all.iter().find(|j| !jobs.iter().any(|o| o["id"] == j["id"])) else {
            return false;
        };
        victim = job["job"]["runs"][0]["provider"].as_str().unwrap().to_string();
        let agent = agents.iter().find(|a| a.address == victim).unwrap();
        agent
            .dir
            .join("blobs")
            .read_dir()
            .map(|d| d.count() >= 2)
            .unwrap_or(false)
    });
    let victim_agent = agents.iter().find(|a| a.address == victim).unwrap();
    kill(victim_agent);
    let out = consumer_bin.join().unwrap();
    assert!(out.status.success(), "render after a crash failed: {}", stderr(&out));
    let all = consumer_jobs(&api, &consumer);
    let crashed = all
        .iter()
        .find(|j| j["job"]["excluded"].as_array().is_some_and(|e| !e.is_empty()))
        .expect("a reassigned job");
    assert_eq!(crashed["job"]["excluded"][0].as_str().unwrap(), victim);
    assert_ne!(crashed["job"]["runs"][0]["provider"].as_str().unwrap(), victim);
    assert_eq!(status(crashed), "settled");

    // 3. The crashed machine comes back as a lazy computer (wrong output) at the lowest ask:
    // the next job goes to it, the replay and the arbiter convict it, it loses its collateral,
    // and the tile is rendered elsewhere, still pixel-exact.
    let lazy = restart(
        &dir,
        &api,
        victim_agent,
        "1",
        "wrong-output",
        &tmp.path().join("lazy.log"),
    );
    let stake_before = units(&device(&api, &victim)["stake"]);
    assert_eq!(stake_before, 100 * TRL);
    let one = tmp.path().join("one.png");
    let out = run(&render_args(&dir, &api, &one, "1", &["--sample-ppm", "1000000"]));
    assert!(
        out.status.success(),
        "render with a lazy provider failed: {}",
        stderr(&out)
    );
    let d = device(&api, &victim);
    assert_eq!(
        (units(&d["stake"]), units(&d["slashed"])),
        (0, 100 * TRL),
        "the lazy computer lost its collateral"
    );
    let whole = Tile::grid(48, 32, 1, 2, 4, 1)[0];
    let (_, _, pixels) = read_png(&one);
    assert!(
        pixels == render::run(&whole.encode(DEMO_SCENE.as_bytes())).unwrap(),
        "the re-run tile is wrong"
    );
    let all = consumer_jobs(&api, &consumer);
    let fraud: Vec<&Value> = all.iter().filter(|j| status(j) == "failed:fraud").collect();
    assert_eq!(fraud.len(), 1, "one job convicted the lazy computer");
    assert_eq!(fraud[0]["job"]["runs"][0]["provider"].as_str().unwrap(), victim);
    assert_eq!(
        units(&fraud[0]["job"]["escrow"]),
        0,
        "the failed job's escrow went back"
    );
    drop(lazy);

    // 4. A provider that computes honestly but claims more fuel is caught the same way.
    let inflater = agents.iter().find(|a| a.address != victim).unwrap();
    kill(inflater);
    let _inflate = restart(
        &dir,
        &api,
        inflater,
        "1",
        "inflate-fuel",
        &tmp.path().join("inflate.log"),
    );
    let two = tmp.path().join("two.png");
    let out = run(&render_args(&dir, &api, &two, "1", &["--sample-ppm", "1000000"]));
    assert!(
        out.status.success(),
        "render with a fuel inflater failed: {}",
        stderr(&out)
    );
    assert_eq!(
        units(&device(&api, &inflater.address)["stake"]),
        0,
        "the fuel inflater lost its collateral"
    );
    let (_, _, pixels) = read_png(&two);
    assert!(pixels == render::run(&whole.encode(DEMO_SCENE.as_bytes())).unwrap());

    // 5. What providers earned feeds the compute pool: the first job's epoch pays compute
    // devices from it, and anyone can check the units against the chain.
    let first_epoch = get(&api, &format!("/v1/jobs/{}", jobs[0]["id"].as_str().unwrap())).unwrap()["job"]
        ["posted_height"]
        .as_u64()
        .unwrap()
        / 120;
    let earned = get(&api, &format!("/v1/epochs/{first_epoch}")).unwrap()["compute_earned"]
        .as_array()
        .unwrap()
        .len();
    assert!(earned > 0, "no compute earnings recorded in epoch {first_epoch}");
    let rewards = dir.join("node/rewards");
    wait_until("that epoch's rewards settled", 2 * DEADLINE, || {
        rewards.join(format!("epoch-{first_epoch}.json")).exists()
    });
    let result = get(&api, &format!("/v1/rewards/{first_epoch}")).unwrap();
    let archive: Value =
        serde_json::from_slice(&std::fs::read(rewards.join(format!("epoch-{first_epoch}.json"))).unwrap()).unwrap();
    let compute_shares = archive["inputs"]["shares"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pool"] == "compute")
        .count();
    assert_eq!(compute_shares, earned, "one compute share per earning device: {result}");
    let audit = trellis(
        &[
            "rewards",
            "audit",
            "--epoch",
            &first_epoch.to_string(),
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
}

#[test]
fn bad_modules_scenes_and_budgets_are_refused_before_anything_is_paid() {
    let tmp = tempfile::tempdir().unwrap();
    let bad_scene = tmp.path().join("bad.txt");
    std::fs::write(
        &bad_scene,
        "camera from 0 1 -4 to 0 0 0 fov 40\nsphere 0 0 0 1 plasma\n",
    )
    .unwrap();
    let keystore = tmp.path().join("none.json");
    let ks = keystore.to_str().unwrap();
    let out = trellis(
        &[
            "compute",
            "render",
            bad_scene.to_str().unwrap(),
            "--out",
            "x.png",
            "--keystore",
            ks,
            "--api",
            "http://127.0.0.1:9",
        ],
        &[PASS],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("line 2: unknown material `plasma`"),
        "{}",
        stderr(&out)
    );

    let module = tmp.path().join("clock.wasm");
    let wat = r#"(module (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
        (memory (export "memory") 1) (func (export "alloc") (param i32) (result i32) i32.const 0))"#;
    std::fs::write(&module, wat::parse_str(wat).unwrap()).unwrap();
    let input = tmp.path().join("in.bin");
    std::fs::write(&input, b"x").unwrap();
    let args_entry = |m: &Path, entry: &str, i: &Path| {
        trellis(
            &[
                "compute",
                "run",
                "--module",
                m.to_str().unwrap(),
                "--entry",
                entry,
                "--input",
                i.to_str().unwrap(),
                "--out",
                "o",
                "--keystore",
                ks,
                "--api",
                "http://127.0.0.1:9",
            ],
            &[PASS],
        )
    };
    let args = |m: &Path, i: &Path| args_entry(m, "run", i);
    let out = args(&module, &input);
    assert!(
        stderr(&out).contains("imports `wasi_snapshot_preview1::clock_time_get`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&module, b"\0asm garbage").unwrap();
    assert!(stderr(&args(&module, &input)).contains("not a job module"));
    std::fs::write(&module, trellis_compute::kernels::GUEST_WASM).unwrap();
    let huge = tmp.path().join("huge.bin");
    std::fs::write(&huge, vec![0u8; trellis_compute::limits::MAX_INPUT_BYTES + 1]).unwrap();
    assert!(stderr(&args(&module, &input)).contains("has no entry `run(i32, i32) -> i64`"));
    let out = args_entry(&module, "render", &huge);
    assert!(stderr(&out).contains("jobs take at most"), "{}", stderr(&out));
}
