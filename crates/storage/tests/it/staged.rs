//! Staged uploads against a real node: a piece sent before its deal is kept only under a valid
//! grant and only once a deal places it here with the root the provider computed; everything
//! else is refused with a reason and leaves neither a file nor reserved room behind.

use super::provider::{code, key, metric, put_half, serve, stored_file, Chain};
use std::time::Duration;
use trellis_primitives::{AccountAddress, DeviceAddress};
use trellis_storage::{
    protocol::{StageGrant, STAGE_HEADER},
    provider::{disk::footprint, PieceId, Provider},
};

const CHAIN: &str = "storage-test";

fn grant(client: &str, provider: &str, nonce: [u8; 16], index: u16, len: u64) -> StageGrant {
    StageGrant {
        client: AccountAddress::from(key(client).public()),
        provider: DeviceAddress::from(key(provider).public()),
        nonce,
        index,
        len,
    }
}

/// PUTs `body` to the staging route for `g`, with `header` as the grant (none if `None`).
async fn stage(url: &str, g: &StageGrant, header: Option<String>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .put(format!("{url}/v1/staged/{}/{}", hex::encode(g.nonce), g.index))
        .body(body);
    if let Some(h) = header {
        request = request.header(STAGE_HEADER, h);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

async fn commit(url: &str, deal: impl std::fmt::Display, index: u16) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/pieces/{deal}/{index}/commit"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

fn tmp_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("tmp")).unwrap().count()
}

/// Waits until the provider's staging gauge reads `n`.
async fn staged_gauge(url: &str, n: usize) {
    metric(url, &format!("trellis_provider_staged_pieces {n}")).await;
}

#[tokio::test]
async fn staged_pieces_are_kept_only_under_a_grant_and_a_deal_with_their_root() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 50_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, provider): (String, Provider) = serve(&chain, dir.path(), 1 << 30).await;
    let piece = file.pieces[0].clone();
    let len = piece.len() as u64;
    let nonce = file.terms.nonce;
    let good = grant("alice", "p1", nonce, 0, len);
    let signed = |g: &StageGrant, by: &str, chain: &str| Some(g.sign(chain, &key(by)).header());

    // Refusals before a byte is kept.
    let (status, v) = stage(&url, &good, None, piece.clone()).await;
    assert_eq!((status, code(&v)), (401, "grant_required"));
    let (status, v) = stage(&url, &good, Some("not hex".into()), piece.clone()).await;
    assert_eq!((status, code(&v)), (400, "invalid_grant"));
    let (status, v) = stage(&url, &good, signed(&good, "alice", "another-chain"), piece.clone()).await;
    assert_eq!(
        (status, code(&v)),
        (403, "bad_grant_signature"),
        "a grant for another chain"
    );
    let (status, v) = stage(&url, &good, signed(&good, "bob", CHAIN), piece.clone()).await;
    assert_eq!(
        (status, code(&v)),
        (403, "bad_grant_signature"),
        "signed by someone else"
    );
    let elsewhere = grant("alice", "p2", nonce, 0, len);
    let (status, v) = stage(&url, &elsewhere, signed(&elsewhere, "alice", CHAIN), piece.clone()).await;
    assert_eq!((status, code(&v)), (403, "wrong_provider"));
    let (status, v) = stage(&url, &good, signed(&good, "alice", CHAIN), piece[1..].to_vec()).await;
    assert_eq!((status, code(&v)), (400, "wrong_length"), "{v}");
    // bob's account has tokens but no credits: it could never open the deal.
    let bobs = grant("bob", "p1", nonce, 0, len);
    let (status, v) = stage(&url, &bobs, signed(&bobs, "bob", CHAIN), piece.clone()).await;
    assert_eq!((status, code(&v)), (402, "no_credits"), "{v}");
    // A grant for piece 0 sent to piece 1's path.
    let wrong_path = reqwest::Client::new()
        .put(format!("{url}/v1/staged/{}/1", hex::encode(nonce)))
        .header(STAGE_HEADER, good.sign(CHAIN, &key("alice")).header())
        .body(piece.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_path.status().as_u16(), 400);
    let v: serde_json::Value = wrong_path.json().await.unwrap();
    assert_eq!(code(&v), "grant_mismatch");
    let (_, v) = commit(&url, &file.id, 1).await;
    assert_eq!(code(&v), "not_assigned", "piece 1 is p2's");
    assert_eq!(provider.store().used(), 0);

    // A commit naming no deal or piece at all.
    let (status, v) = commit(&url, "not-a-deal", 0).await;
    assert_eq!((status, code(&v)), (400, "invalid_parameter"), "{v}");

    // Nothing staged yet: the commit says what to do instead.
    let (status, v) = commit(&url, &file.id, 0).await;
    assert_eq!((status, code(&v)), (404, "not_staged"), "{v}");

    // Bytes that are not the deal's piece are staged (the deal is not known yet) but never kept.
    let mut flipped = piece.clone();
    flipped[7] ^= 1;
    let (status, v) = stage(&url, &good, signed(&good, "alice", CHAIN), flipped).await;
    assert_eq!(status, 201, "{v}");
    assert_ne!(v["root"], serde_json::json!(file.terms.pieces[0].root), "{v}");
    assert_eq!(provider.store().used(), footprint(len), "a staged piece holds its room");
    staged_gauge(&url, 1).await;
    let (status, v) = commit(&url, &file.id, 0).await;
    assert_eq!((status, code(&v)), (422, "wrong_commitment"), "{v}");
    assert_eq!(provider.store().used(), 0, "the refused piece gave its room back");
    assert_eq!(tmp_files(dir.path()), 0, "the refused piece left a file");
    staged_gauge(&url, 0).await;

    // A body that stops short of its declared length is dropped at once.
    let grant_header = format!("{STAGE_HEADER}: {}\r\n", good.sign(CHAIN, &key("alice")).header());
    put_half(
        &url,
        &format!("/v1/staged/{}/0", hex::encode(nonce)),
        &grant_header,
        &piece,
    )
    .await;
    // Counted once its request has ended: the thirteenth refusal (eight stagings and four commits
    // above).
    metric(&url, "trellis_provider_uploads_total{result=\"refused\"} 13").await;
    assert_eq!(
        (tmp_files(dir.path()), provider.store().used()),
        (0, 0),
        "a truncated staging kept its file or room"
    );

    // A staged piece no deal claims in time is deleted and its room given back.
    provider.set_stage_ttl(Duration::from_millis(100));
    let (status, _) = stage(&url, &good, signed(&good, "alice", CHAIN), piece.clone()).await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(200)).await;
    provider.collect_garbage().await;
    staged_gauge(&url, 0).await;
    assert_eq!((provider.store().used(), tmp_files(dir.path())), (0, 0));
    let (status, v) = commit(&url, &file.id, 0).await;
    assert_eq!(
        (status, code(&v)),
        (404, "not_staged"),
        "an expired piece cannot be kept"
    );

    // The real thing: staged, the root reported, kept on commit, visible as a stored piece.
    provider.set_stage_ttl(trellis_storage::provider::STAGE_TTL);
    let (status, v) = stage(&url, &good, signed(&good, "alice", CHAIN), piece.clone()).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["root"], serde_json::json!(file.terms.pieces[0].root), "{v}");
    let (status, v) = commit(&url, &file.id, 0).await;
    assert_eq!(status, 201, "{v}");
    let id = PieceId {
        deal: file.id,
        index: 0,
    };
    assert!(provider.store().has(&id));
    assert_eq!(provider.store().used(), footprint(len));
    assert_eq!(tmp_files(dir.path()), 0);
    let (status, v) = commit(&url, &file.id, 0).await;
    assert_eq!((status, v["already"].as_bool()), (200, Some(true)));
    let stored = std::fs::read(dir.path().join(format!("pieces/{}/0.piece", file.id))).unwrap();
    assert!(stored == piece, "the kept piece is not the bytes sent");

    // One client may hold at most half a provider's room in staged pieces: on a provider with
    // room for the piece but not twice over, alice's staging is refused before a byte is kept.
    let small = tempfile::tempdir().unwrap();
    let room = footprint(len) + len / 2;
    assert!(room / trellis_storage::provider::STAGE_SHARE_DIVISOR < len);
    let (small_url, small_provider) = serve(&chain, small.path(), room).await;
    let (status, v) = stage(&small_url, &good, signed(&good, "alice", CHAIN), piece.clone()).await;
    assert_eq!((status, code(&v)), (429, "staging_quota"), "{v}");
    assert_eq!((small_provider.store().used(), tmp_files(small.path())), (0, 0));
}
