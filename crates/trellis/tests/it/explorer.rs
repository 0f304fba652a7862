//! The explorer in real headless Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver) against a running `trellis devnet`: the map draws the API's hexes, clicking through
//! to a hotspot shows its earnings breakdown with the API's numbers, a cheater's rejected report
//! shows its reason, unknown ids get a "not found" page, and the live block counter moves.
//! Screenshots go to `target/tmp/explorer-screenshots/`.

use crate::harness::{get, start_devnet, stderr, trellis, DEADLINE};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _already_dead_is_fine = self.0.kill();
        let _reaped_or_not = self.0.wait();
    }
}

fn start_driver(log: &Path) -> (Driver, String) {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: the explorer test drives Debian's Chromium \
             (`apt-get install chromium chromium-driver`; .ci/run installs them)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Driver(child), url)
}

/// A browser session with blocking helpers (each waits for its element, up to [`DEADLINE`]).
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Client,
    shots: PathBuf,
}

impl Browser {
    fn open(driver: &str, profile: &Path, shots: PathBuf) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let client = rt
            .block_on(ClientBuilder::rustls().unwrap().capabilities(caps).connect(driver))
            .unwrap();
        std::fs::create_dir_all(&shots).unwrap();
        Browser { rt, client, shots }
    }

    fn goto(&self, url: &str) {
        self.rt.block_on(self.client.goto(url)).unwrap();
    }

    /// Waits until `css` matches, then returns the rendered text of every match. Read in one
    /// script call, so a live re-render between finding and reading cannot leave it stale.
    fn texts(&self, css: &str) -> Vec<String> {
        self.all(css, "innerText")
    }

    /// `property` (a DOM property, or `attr:<name>`) of every element matching `css`, waiting
    /// until at least one matches.
    fn all(&self, css: &str, property: &str) -> Vec<String> {
        let script = "const [css, p] = arguments; return Array.from(document.querySelectorAll(css)).map((e) => \
                      p.startsWith('attr:') ? (e.getAttribute(p.slice(5)) ?? '') : String(e[p] ?? ''));";
        let deadline = Instant::now() + DEADLINE;
        loop {
            let v = self
                .rt
                .block_on(self.client.execute(script, vec![json!(css), json!(property)]))
                .unwrap();
            let found: Vec<String> = serde_json::from_value(v).unwrap();
            if !found.is_empty() {
                return found;
            }
            assert!(Instant::now() < deadline, "nothing matched {css:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's text contains `needle`.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let t = self.texts(css).join("\n");
            if t.contains(needle) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} never contained {needle:?}; it says {t:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        self.all(css, &format!("attr:{attr}"))
    }

    /// The shown page has rendered (an `h1`) and shows no leaked non-values.
    fn assert_clean(&self, what: &str) {
        self.texts("main h1");
        let text = self.texts("main").join("\n");
        for junk in ["undefined", "NaN", "null", "[object"] {
            assert!(!text.contains(junk), "{what} shows {junk:?}:\n{text}");
        }
    }

    /// Picks the map's layer (`""` for all devices) as a user would, through its select.
    fn map_layer(&self, value: &str) {
        self.rt
            .block_on(self.client.execute(
                "const s = document.getElementById('map-layer'); s.value = arguments[0]; \
                 s.dispatchEvent(new Event('change'));",
                vec![json!(value)],
            ))
            .unwrap();
    }

    fn click(&self, css: &str) {
        self.texts(css);
        self.rt.block_on(async {
            self.client
                .find(Locator::Css(css))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        });
    }

    fn js(&self, script: &str) -> Value {
        self.rt.block_on(self.client.execute(script, vec![])).unwrap()
    }

    fn screenshot(&self, name: &str) {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    fn resize(&self, w: u32, h: u32) {
        self.rt.block_on(self.client.set_window_size(w, h)).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _session_ends_with_the_driver_anyway = self.rt.block_on(client.close());
    }
}

/// The number a text ends with ("… at resolution 6." → 6).
fn last_number<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.rsplit(' ').next().unwrap().trim_end_matches('.').parse().unwrap()
}

/// The string `field` of every object in the JSON array `list`, sorted.
fn sorted_strings(list: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// The device named `name` in the devnet's start-up output.
fn named(lines: &[String], name: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(name).map(|r| r.trim().to_string()))
        .unwrap_or_else(|| panic!("devnet printed no {name}"))
}

#[test]
fn explorer_in_chromium_shows_the_map_earnings_and_rejected_reports_of_a_running_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-screenshots");
    let (_driver, driver_url) = start_driver(&dir.path().join("chromedriver.log"));
    let (_devnet, lines, url) = start_devnet(&dir.path().join("devnet"), &dir.path().join("devnet.log"));
    let hotspot = named(&lines, "hotspot");
    let forger = named(&lines, "cheater-rssi-forger");

    // Wait until an epoch paid the honest hotspot (settled: archived, posted, claimed).
    let deadline = Instant::now() + DEADLINE;
    while !(1..20).any(|e| {
        get(&url, &format!("/v1/manifests/{e}")).is_ok_and(|m| m["manifest"]["claimed"] == m["manifest"]["total"])
            && get(&url, &format!("/v1/rewards/{e}/devices/{hotspot}")).is_ok()
    }) {
        assert!(Instant::now() < deadline, "no epoch paid the hotspots");
        std::thread::sleep(Duration::from_millis(200));
    }

    let b = Browser::open(&driver_url, &dir.path().join("profile"), shots.clone());

    // The map draws exactly the API's hexes at the resolution it chose.
    b.goto(&format!("{url}/map"));
    b.texts("polygon.hex");
    let res: u8 = last_number(&b.wait_text("#map-summary", "resolution"));
    let mut drawn = b.attrs("polygon.hex", "data-cell");
    drawn.sort();
    let api_map = get(&url, &format!("/v1/map?res={res}")).unwrap();
    let served = sorted_strings(&api_map["cells"], "cell");
    assert!(!served.is_empty(), "{api_map}");
    assert_eq!(drawn, served, "the map draws the API's hexes");
    b.screenshot("map");

    // The coverage-scale layer colours hotspot hexes by the HIP-17 scale the API gives for the
    // newest archived epoch (re-read if an epoch was archived in between).
    let mut compared = false;
    for _ in 0..5 {
        b.map_layer("scale");
        let summary = b.wait_text("#map-summary", "Coverage scale from epoch");
        let shown_epoch: u64 = last_number(&summary);
        let cells = b.attrs("polygon.hex", "data-cell");
        let scales = b.attrs("polygon.hex", "data-scale");
        let api = get(&url, &format!("/v1/map?res={res}&class=hotspot")).unwrap();
        if api["scale_epoch"] != shown_epoch {
            continue;
        }
        let expected: std::collections::BTreeMap<String, String> = api["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let min = &c["coverage_scale_ppm"]["min"];
                (
                    c["cell"].as_str().unwrap().to_string(),
                    if min.is_null() { String::new() } else { min.to_string() },
                )
            })
            .collect();
        let shown: std::collections::BTreeMap<String, String> = cells.into_iter().zip(scales).collect();
        assert_eq!(shown, expected, "scale layer vs API (epoch {shown_epoch})");
        assert!(
            shown.values().any(|v| !v.is_empty()),
            "some hotspot hex has a scale: {shown:?}"
        );
        compared = true;
        break;
    }
    assert!(compared, "the scale epoch kept moving");
    b.screenshot("map-coverage-scale");
    b.map_layer("");
    let deadline = Instant::now() + DEADLINE;
    while b.texts("#map-summary")[0].contains("Coverage scale") {
        assert!(Instant::now() < deadline, "the map never left the scale layer");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Click the hotspot's hex, then the hotspot in the hex's device list.
    let location = get(&url, &format!("/v1/devices/{hotspot}")).unwrap()["device"]["location"]["location"]
        .as_str()
        .unwrap()
        .to_string();
    let parent = h3o::CellIndex::try_from(
        location
            .parse::<trellis_primitives::Location>()
            .unwrap()
            .parent_index(res)
            .unwrap(),
    )
    .unwrap()
    .to_string();
    b.click(&format!("polygon.hex[data-cell='{parent}']"));
    b.wait_text("#hex-panel", &parent);
    b.assert_clean("the map with a hex selected");
    b.screenshot("map-hex-selected");
    // The hex's list is the API's list of devices in that cell, and the cells' counts add up to
    // every located device.
    let mut listed = b.attrs("#hex-devices a", "title");
    listed.sort();
    let in_cell = get(&url, &format!("/v1/devices?cell={parent}")).unwrap();
    let expected = sorted_strings(&in_cell["devices"], "address");
    assert!(expected.contains(&hotspot), "{in_cell}");
    assert_eq!(listed, expected);
    let all = get(&url, "/v1/devices?limit=1000").unwrap();
    let located = all["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["location"].is_null())
        .count() as u64;
    let in_hexes: u64 = api_map["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["total"].as_u64().unwrap())
        .sum();
    assert_eq!(
        in_hexes + api_map["unlocated"].as_u64().unwrap(),
        all["devices"].as_array().unwrap().len() as u64
    );
    assert_eq!(in_hexes, located);
    b.click(&format!("#hex-devices a[href='/devices/{hotspot}']"));

    // Its earnings breakdown: every row equals the API's share and payout for that epoch.
    b.texts("#earnings tr.earning");
    b.assert_clean("the hotspot's page");
    b.screenshot("device-hotspot");
    let epochs = b.attrs("#earnings tr.earning", "data-epoch");
    let pools = b.attrs("#earnings tr.earning", "data-pool");
    let row_units = b.texts("#earnings tr.earning td[data-field=units]");
    let row_counted = b.texts("#earnings tr.earning td[data-field=counted]");
    let row_pool_units = b.texts("#earnings tr.earning td[data-field=pool_units]");
    let row_paid = b.attrs("#earnings tr.earning td:last-child", "data-units");
    let plain = |n: &Value| {
        let n = n.as_u64().unwrap();
        // The page groups thousands with commas (en-US).
        let s = n.to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        out
    };
    let mut paid_rows = 0;
    for i in 0..epochs.len() {
        let api = get(&url, &format!("/v1/rewards/{}/devices/{hotspot}", epochs[i])).unwrap();
        let share = api["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["pool"] == pools[i].as_str())
            .unwrap();
        let payout = api["payouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pool"] == pools[i].as_str())
            .unwrap();
        assert_eq!(row_units[i], plain(&share["units"]), "units, epoch {}", epochs[i]);
        assert_eq!(row_counted[i], plain(&share["breakdown"]["counted_reports"]));
        assert_eq!(row_pool_units[i], plain(&payout["pool_units"]));
        assert_eq!(
            row_paid[i],
            payout["amount"].as_str().unwrap(),
            "paid, epoch {}",
            epochs[i]
        );
        paid_rows += usize::from(payout["amount"].as_str().unwrap() != "0");
    }
    assert!(paid_rows > 0, "the hotspot was paid in some epoch: {epochs:?}");

    // The RSSI forger: its rejected reports appear with their reason, as the API gives them.
    b.goto(&format!("{url}/devices/{forger}"));
    let heading = b.wait_text("section h2", "Recent reports (epoch");
    let epoch: u64 = heading
        .split("Recent reports (epoch ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let reasons = b.texts(".verdict-invalid .reason");
    let api_reports = get(&url, &format!("/v1/rewards/{epoch}/devices/{forger}/reports")).unwrap();
    let api_reasons: Vec<String> = api_reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"]["valid"] == false)
        .map(|r| r["verdict"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.iter().any(|r| r == "rssi_above_free_space"), "{reasons:?}");
    assert_eq!(reasons.len(), api_reasons.len().min(200));
    for r in &reasons {
        assert!(
            api_reasons.contains(r),
            "{r} is not a reason the API gave: {api_reasons:?}"
        );
    }
    b.wait_text("#earnings", "witness_rssi_above_free_space");
    b.screenshot("device-forger");

    // The stuck weather station: its quality of data as the free catalogue route gives it.
    let stuck = named(&lines, "sensor-stuck");
    b.goto(&format!("{url}/devices/{stuck}"));
    let heading = b.wait_text("section h2", "Quality of data (epoch");
    let epoch: u64 = heading
        .split("Quality of data (epoch ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .parse()
        .unwrap();
    let api_qod = get(&url, &format!("/data/v1/streams/{stuck}?epoch={epoch}")).unwrap();
    let qod = b.wait_text("#qod", "Quality of data");
    assert!(
        qod.contains(&format!(
            "{} valid of {}",
            api_qod["qod"]["valid"], api_qod["qod"]["readings"]
        )),
        "{qod}"
    );
    assert_eq!(api_qod["qod"]["qod_ppm"], 0, "{api_qod}");
    assert!(qod.contains("0.0 %"), "{qod}");
    assert!(b.texts("code.reason").iter().any(|r| r == "flatline:temperature"));
    b.screenshot("device-stuck-sensor");

    // Unknown and malformed ids, and a path that is no page: clear messages, not a blank page.
    let unknown = trellis_primitives::DeviceAddress::from(unregistered_key()).to_string();
    b.goto(&format!("{url}/devices/{unknown}"));
    let msg = b.wait_text(".notfound", "Not found");
    assert!(msg.contains("is not registered"), "{msg}");
    b.screenshot("device-unknown");
    b.goto(&format!("{url}/devices/not-an-address"));
    assert!(b
        .wait_text(".notfound", "Not a valid id")
        .contains("invalid device address"));
    b.goto(&format!("{url}/no/such/page"));
    b.wait_text(".notfound", "No such page");
    b.goto(&format!("{url}/blocks/999999999"));
    b.wait_text(".notfound", "no block at height 999999999");

    // Every section renders without leaked non-values (empty states included).
    for page in [
        "/",
        "/devices",
        "/devices?class=storage",
        "/blocks",
        "/blocks/1",
        "/epochs",
        "/epochs/1",
        "/storage",
    ] {
        b.goto(&format!("{url}{page}"));
        b.assert_clean(page);
    }
    b.goto(&format!("{url}/epochs/1"));
    let posted = get(&url, "/v1/manifests/1").unwrap();
    b.wait_text("main", posted["manifest"]["root"].as_str().unwrap());
    b.wait_text("#audit-status", "matches the posted root");
    // The compute pool's units, as the API gives them, on the newest epoch that has any (or
    // epoch 1, empty).
    let current = get(&url, "/v1/status").unwrap()["epoch"].as_u64().unwrap();
    let (shown_epoch, verified) = (1..current)
        .rev()
        .map(|e| {
            (
                e,
                get(&url, &format!("/v1/epochs/{e}")).unwrap()["compute_verified"].clone(),
            )
        })
        .find(|(_, v)| v.as_array().is_some_and(|a| !a.is_empty()))
        .unwrap_or_else(|| (1, get(&url, "/v1/epochs/1").unwrap()["compute_verified"].clone()));
    let expected: Vec<String> = verified
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["units"].as_str().map_or_else(|| x["units"].to_string(), String::from))
        .collect();
    b.goto(&format!("{url}/epochs/{shown_epoch}"));
    b.wait_text("section h2", "Compute pool");
    if expected.is_empty() {
        b.wait_text("#compute-verified", "No replay-confirmed compute work");
    } else {
        assert_eq!(
            b.attrs("#compute-verified td[data-units]", "data-units"),
            expected,
            "compute pool units of epoch {shown_epoch}"
        );
    }
    let storage_device = named(&lines, "storage");
    b.goto(&format!("{url}/devices/{storage_device}"));
    b.wait_text("main", "Storage provider");
    b.assert_clean("a storage provider's page");
    let owner = get(&url, &format!("/v1/devices/{hotspot}")).unwrap()["device"]["owner"]
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&format!("{url}/accounts/{owner}"));
    b.wait_text("main", &hotspot[..10]);
    b.assert_clean("the hotspot owner's page");

    // A transaction's page.
    // The newest block with transactions (devices report through ingest, so most blocks are
    // empty): page back through /v1/blocks.
    let mut before = String::new();
    let busy = loop {
        let page = get(&url, &format!("/v1/blocks?limit=100{before}")).unwrap();
        let found = page["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["tx_count"].as_u64().unwrap() > 0)
            .map(|x| x["height"].as_u64().unwrap());
        if let Some(height) = found {
            break height;
        }
        let next = page["next"].as_u64().expect("a block with transactions");
        before = format!("&before={next}");
    };
    let tx_id = get(&url, &format!("/v1/blocks/{busy}")).unwrap()["tx_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&format!("{url}/blocks/{busy}"));
    b.wait_text("main", "success");
    b.assert_clean("a block with transactions");
    b.goto(&format!("{url}/txs/{tx_id}"));
    b.wait_text("main", "committed");
    b.assert_clean("a transaction's page");

    // Compute: render two tiles on the market, every one replayed; the compute view lists the
    // API's providers and jobs, a job's page its runs and the verifier's matching commitment.
    let wallets = dir.path().join("devnet").join("wallets");
    let pass = [("TRELLIS_PASSPHRASE", "devnet")];
    let consumer = wallets.join("consumer.json");
    let ks = consumer.to_str().unwrap();
    let burn = trellis(
        &["wallet", "burn", "--keystore", ks, "--amount", "5", "--api", &url],
        &pass,
    );
    assert!(burn.status.success(), "{}", stderr(&burn));
    let frame = dir.path().join("frame.png");
    #[rustfmt::skip]
    let render = trellis(
        &["compute", "render", "demo", "--out", frame.to_str().unwrap(), "--tiles", "2", "--width", "16",
          "--height", "12", "--samples", "1", "--depth", "2", "--sample-ppm", "1000000", "--quiet",
          "--keystore", ks, "--api", &url],
        &pass,
    );
    assert!(render.status.success(), "{}", stderr(&render));
    b.goto(&format!("{url}/compute"));
    b.wait_text("main h1", "Compute");
    let providers = get(&url, "/v1/compute/providers").unwrap()["providers"]
        .as_array()
        .unwrap()
        .len();
    assert!(providers > 0);
    let rows = b.texts("main section[aria-label=Providers] tbody tr").len();
    assert_eq!(rows, providers);
    let jobs = get(&url, "/v1/jobs").unwrap();
    let shown = b.attrs("main section[aria-label=Jobs] tbody tr td:first-child a", "title");
    let listed: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, listed, "the compute view lists the API's jobs, newest first");
    assert_eq!(listed.len(), 2);
    b.assert_clean("the compute page");
    b.goto(&format!("{url}/jobs/{}", listed[0]));
    b.wait_text("main", "settled, replay verified");
    let job = get(&url, &format!("/v1/jobs/{}", listed[0])).unwrap();
    let verifier = &job["job"]["verifications"][0];
    let shown = b.attrs("main section[aria-label=Verification] tbody td code", "title");
    assert_eq!(shown[0], verifier[1]["commitment"].as_str().unwrap(), "{job}");
    assert_eq!(shown[0], job["job"]["runs"][0]["claim"]["commitment"].as_str().unwrap());
    // The rendered tile, read from the provider that ran it, pixel for pixel.
    let settled = job["job"]["status"]["commitment"].as_str().unwrap();
    b.wait_text("main section[aria-label='Rendered tile']", "settled commitment");
    assert_eq!(b.attrs("canvas#tile", "data-commitment"), vec![settled.to_string()]);
    let run = job["job"]["runs"][0]["provider"].as_str().unwrap();
    let endpoint = get(&url, "/v1/compute/providers").unwrap()["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == run)
        .unwrap()["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let record = get(&endpoint, &format!("/v1/jobs/{}/result", listed[0])).unwrap();
    let drawn = b.js(
        "const c = document.getElementById('tile'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let s = ''; for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) s += d[i + k].toString(16).padStart(2, '0'); return s;",
    );
    assert_eq!(
        drawn.as_str().unwrap(),
        record["outcome"]["bytes"].as_str().unwrap(),
        "the tile's pixels"
    );
    b.assert_clean("a job's page");
    b.screenshot("job");
    b.goto(&format!("{url}/economy"));
    b.texts(".chart rect.bar-minted");
    b.assert_clean("the economy page");
    b.screenshot("economy");

    // Live: the block counter follows the SSE stream.
    b.goto(&format!("{url}/blocks"));
    let first = live_height(&b);
    let deadline = Instant::now() + DEADLINE;
    while live_height(&b) <= first {
        assert!(
            Instant::now() < deadline,
            "the live block counter never moved past {first}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Phone width: the device page reflows without sideways scrolling of the page itself.
    b.resize(390, 844);
    b.goto(&format!("{url}/devices/{hotspot}"));
    b.texts("#earnings tr.earning");
    let overflow = b.js("return document.documentElement.scrollWidth - window.innerWidth");
    assert!(
        overflow.as_i64().unwrap() <= 1,
        "page is wider than the phone: {overflow}"
    );
    b.screenshot("device-phone");
    println!("screenshots in {}", shots.display());
}

/// A public key nobody registered.
fn unregistered_key() -> trellis_primitives::PublicKey {
    trellis_primitives::Keypair::from_seed([0xEE; 32]).public()
}

fn live_height(b: &Browser) -> u64 {
    let t = b.wait_text("#live-text", "block #");
    t.rsplit('#').next().unwrap().replace(',', "").trim().parse().unwrap()
}
