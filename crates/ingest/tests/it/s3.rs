//! The report archive in an S3-compatible bucket: a real S3 API server (moto, installed by
//! `.ci/run`) on loopback, real signed HTTP requests from `object_store`.

use super::{config, device, fixture_with_store, heartbeat, post};
use prost::Message as _;
use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use trellis_ingest::{log::read_all, S3Archive};

struct S3Server {
    child: Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _already_gone_is_fine = self.child.kill();
        let _reaped_or_not = self.child.wait();
    }
}

fn start_s3() -> S3Server {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start moto_server ({e}): install it with `python3 -m pip install 'moto[server]'` (.ci/run does)")
        });
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    S3Server { child, endpoint }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_roll_into_an_s3_bucket_under_the_prefix() {
    let server = start_s3();
    // Dummy credentials: the server checks the signature's shape, not the secret.
    std::env::set_var("AWS_ACCESS_KEY_ID", "trellis-test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "trellis-test-secret");
    let created = reqwest::Client::new()
        .put(format!("{}/reports", server.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "bucket: {}", created.status());
    let s3 = S3Archive {
        bucket: "reports".into(),
        prefix: "ingest/test".into(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint.clone()),
        allow_http: true,
    };
    let mut insecure = s3.clone();
    insecure.allow_http = false;
    let dir = tempfile::tempdir().unwrap();
    let mut refused = config(dir.path());
    refused.archive_s3 = Some(insecure);
    assert!(refused.validate().unwrap_err().contains("allow_http"));

    let f = fixture_with_store(|c| c.archive_s3 = Some(s3.clone())).await;
    let sent: Vec<Vec<u8>> = (1..=4).map(|n| heartbeat(&device(n), u64::from(n))).collect();
    for body in &sent {
        assert_eq!(post(&f.url, body.clone()).await.0, 202);
    }
    f.ingest.shutdown().await.unwrap();
    // Nothing went to the local archive directory; everything is in the bucket under the prefix.
    assert!(!f.dir.path().join("archive").exists());
    let frames = read_all(s3.store().unwrap().as_ref()).await.unwrap();
    let got: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| f.report.as_ref().unwrap().encode_to_vec())
        .collect();
    assert_eq!(got, sent);
    let listing = reqwest::get(format!("{}/reports?list-type=2", server.endpoint))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains("<Key>ingest/test/"), "{listing}");
}
