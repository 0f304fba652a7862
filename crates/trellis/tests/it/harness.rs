//! Starting and stopping `trellis` processes, and a small HTTP helper.

use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_trellis");
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn trellis(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TRELLIS_PASSPHRASE")
        .env_remove("TRELLIS_API")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A child process killed with SIGKILL when dropped.
pub struct Proc {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(args: &[&str], log: &Path) -> Proc {
        let err = std::fs::File::create(log).unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// Reads stdout lines until one contains `needle`; returns every line read.
    pub fn wait_for_line(&self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(needle);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no line containing {needle:?} within {within:?}; got {seen:#?}"),
            }
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _already_dead_is_fine = self.child.kill();
        let _reaped_or_not = self.child.wait();
    }
}

/// Waits for a node to write its API URL and answer /v1/status.
pub fn wait_for_api(data_dir: &Path) -> String {
    let deadline = Instant::now() + DEADLINE;
    let file: PathBuf = data_dir.join("api.url");
    loop {
        if let Ok(url) = std::fs::read_to_string(&file) {
            if get(&url, "/v1/status").is_ok() {
                return url;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node at {} did not come up",
            data_dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn get(base: &str, path: &str) -> Result<Value, String> {
    runtime().block_on(async {
        let r = reqwest::get(format!("{base}{path}")).await.map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(format!("{status}: {v}"))
        }
    })
}

pub fn units(v: &Value) -> u64 {
    v.as_str().unwrap().parse().unwrap()
}

/// POSTs a signed transaction; its id, or the error body.
pub fn post(url: &str, tx: &trellis_ledger::Transaction) -> Result<trellis_primitives::Hash, String> {
    use trellis_primitives::Encode as _;
    runtime().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/txs"))
            .header("content-type", "application/octet-stream")
            .body(tx.to_bytes())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        v["tx_id"]
            .as_str()
            .ok_or(v.to_string())?
            .parse()
            .map_err(|_| "bad id".to_string())
    })
}

/// A devnet in `dir` on free ports with 50 ms blocks: the process, what it printed up to
/// "Ctrl-C stops it", and its API URL.
pub fn start_devnet(dir: &Path, log: &Path) -> (Proc, Vec<String>, String) {
    let devnet = Proc::spawn(
        &[
            "devnet",
            "--dir",
            dir.to_str().unwrap(),
            "--api-listen",
            "127.0.0.1:0",
            "--ingest-listen",
            "127.0.0.1:0",
            "--air-listen",
            "127.0.0.1:0",
            "--block-interval-ms",
            "50",
        ],
        log,
    );
    let lines = devnet.wait_for_line("Ctrl-C stops it", DEADLINE);
    let url = lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("API:")
                .map(|r| r.split_whitespace().next().unwrap().to_string())
        })
        .unwrap();
    (devnet, lines, url)
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Rewrites, in a report archive directory, the reports `device` sent during `received` that
/// `alter` changes (it returns whether it did), keeping the old signature: what a tampered
/// archive looks like. Whether anything was altered.
pub fn alter_reports(
    archive: &Path,
    received: std::ops::Range<u64>,
    device: &trellis_primitives::DeviceAddress,
    mut alter: impl FnMut(&mut trellis_proto::report::Kind) -> bool,
) -> bool {
    use prost::Message;
    use std::io::{Read, Write};
    let mut segments: Vec<_> = std::fs::read_dir(archive.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let key = device.key().0.to_vec();
    let mut altered_any = false;
    for path in segments {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        let mut frames = Vec::new();
        let mut cursor = raw.as_slice();
        while !cursor.is_empty() {
            frames.push(trellis_proto::LoggedReport::decode_length_delimited(&mut cursor).unwrap());
        }
        let mut changed = false;
        for frame in frames
            .iter_mut()
            .filter(|f| received.contains(&f.received_ms) && f.report.as_ref().unwrap().device == key)
        {
            let signed = frame.report.as_mut().unwrap();
            let mut report = trellis_proto::Report::decode(signed.body.as_slice()).unwrap();
            if report.kind.as_mut().is_some_and(&mut alter) {
                signed.body = report.encode_to_vec();
                changed = true;
            }
        }
        if !changed {
            continue;
        }
        altered_any = true;
        let mut out = Vec::new();
        for frame in &frames {
            frame.encode_length_delimited(&mut out).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&out).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
    }
    altered_any
}
