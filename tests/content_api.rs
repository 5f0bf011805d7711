//! A user's round trips through a real daemon: add, cat, gateway (path and trustless), pins,
//! GC and CAR, and every bad input the foundation promises to refuse cleanly. Each body runs
//! on the fs and on the s3 block store (`every_storage!` at the end).

mod common;

use common::{bytes, sha256_hex, Storage, TestNode};
use reqwest::StatusCode;

async fn error_reason(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"].is_string(),
        "error body carries a message: {body}"
    );
    (status, body["error"].as_str().unwrap().to_string())
}

async fn added_file_comes_back_byte_identical_through_api_and_gateway(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let data = bytes(3 * 1024 * 1024 + 17, 1);
    let added = node.add(data.clone(), "").await;
    let cid = added["cid"].as_str().unwrap();
    assert!(
        cid.starts_with("bafy"),
        "CIDv1 dag-pb root for a multi-chunk file: {cid}"
    );
    assert_eq!(added["size"], data.len() as u64);

    let cat = node
        .http
        .get(node.api(&format!("/cat/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&cat.bytes().await.unwrap()), sha256_hex(&data));

    let path = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(path.status(), StatusCode::OK);
    assert_eq!(sha256_hex(&path.bytes().await.unwrap()), sha256_hex(&data));
    node.stop().await;
}

async fn trustless_gateway_serves_verifiable_raw_blocks_and_cars(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let data = bytes(2 * 1024 * 1024 + 5, 2);
    let cid = node.add_cid(data.clone(), "").await;

    let raw = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}")))
        .header("accept", "application/vnd.ipld.raw")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "application/vnd.ipld.raw");
    let block = raw.bytes().await.unwrap();
    let parsed = cairn::content::parse_cid(&cid).unwrap();
    cairn::content::Block::verified(parsed, block).expect("raw block hashes to its CID");

    let car = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}?format=car")))
        .send()
        .await
        .unwrap();
    assert_eq!(car.status(), StatusCode::OK);
    let car = car.bytes().await.unwrap();

    // The CAR imports into a second node and yields the same bytes.
    let other = TestNode::start_on(storage).await;
    let imported = other
        .http
        .post(other.api("/car"))
        .bearer_auth(other.token())
        .body(car.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        imported.status(),
        StatusCode::OK,
        "{}",
        imported.text().await.unwrap()
    );
    let cat = other
        .http
        .get(other.api(&format!("/cat/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&cat.bytes().await.unwrap()), sha256_hex(&data));
    node.stop().await;
    other.stop().await;
}

async fn gc_collects_unpinned_blocks_and_never_pinned_ones(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let kept = node.add_cid(bytes(1_500_000, 3), "").await;
    let dropped = node.add_cid(bytes(1_500_000, 4), "").await;
    let unpin = node
        .http
        .delete(node.api(&format!("/pins/{dropped}")))
        .bearer_auth(node.token())
        .send()
        .await
        .unwrap();
    assert_eq!(unpin.status(), StatusCode::OK);

    let report: serde_json::Value = node
        .http
        .post(node.api("/gc"))
        .bearer_auth(node.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        report["removed_blocks"], 3,
        "two leaves and the root of the unpinned file"
    );

    let gone = node
        .http
        .get(node.api(&format!("/cat/{dropped}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let still = node
        .http
        .get(node.api(&format!("/cat/{kept}")))
        .send()
        .await
        .unwrap();
    assert_eq!(still.bytes().await.unwrap().len(), 1_500_000);
    assert_eq!(
        node.daemon.node().content().store().used_bytes(),
        node.daemon.node().db().used_bytes().await.unwrap()
    );
    node.stop().await;
}

#[tokio::test]
async fn a_node_on_the_memory_backend_serves_and_collects_without_touching_disk() {
    let node = TestNode::start_with(|c| {
        c.storage.backend = cairn::config::StorageBackend::Memory;
        c.storage.quota = Some(4 << 20);
    })
    .await;
    assert_eq!(
        node.daemon.node().content().store().backend().name(),
        "memory"
    );
    let data = bytes(1_500_000, 41);
    let cid = node.add_cid(data.clone(), "?pin=false").await;
    let back = node
        .http
        .get(node.api(&format!("/cat/{cid}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&back), sha256_hex(&data));
    assert_eq!(node.stored_files(), 0, "no block file on disk");
    let used = node.daemon.node().content().store().used_bytes();
    assert!(used >= data.len() as u64);
    assert_eq!(used, node.daemon.node().db().used_bytes().await.unwrap());

    // The same quota as on disk: a file that does not fit is refused.
    let response = node
        .http
        .post(node.api("/add"))
        .bearer_auth(node.token())
        .body(bytes(3 * 1024 * 1024, 42))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(response).await,
        (StatusCode::INSUFFICIENT_STORAGE, "store_full".into())
    );
    assert_eq!(node.daemon.node().content().store().used_bytes(), used);

    node.http
        .post(node.api("/gc"))
        .bearer_auth(node.token())
        .send()
        .await
        .unwrap();
    assert_eq!(node.daemon.node().content().store().used_bytes(), 0);
    assert_eq!(node.daemon.node().db().used_bytes().await.unwrap(), 0);
    node.stop().await;
}

async fn malformed_and_unsupported_cids_are_refused_with_reasons(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let bad = node
        .http
        .get(node.gateway("/ipfs/not-a-cid"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(bad).await,
        (StatusCode::BAD_REQUEST, "malformed_cid".into())
    );
    // A valid CID with the dag-json codec (0x0129), which Cairn does not store.
    let dag_json = cid::Cid::new_v1(0x0129, cairn::content::HashAlg::Sha2_256.digest(b"{}"));
    let unknown = node
        .http
        .get(node.api(&format!("/cat/{dag_json}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(unknown).await,
        (StatusCode::BAD_REQUEST, "unsupported_codec".into())
    );
    node.stop().await;
}

async fn gateway_refuses_path_traversal(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let cid = node.add_cid(b"hello".to_vec(), "").await;
    for path in [
        format!("/ipfs/{cid}/../etc/passwd"),
        format!("/ipfs/{cid}/%2e%2e/x"),
        format!("/ipfs/{cid}/./x"),
    ] {
        let response = node.http.get(node.gateway(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    node.stop().await;
}

async fn write_calls_need_the_token(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let missing = node
        .http
        .post(node.api("/add"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(missing).await,
        (StatusCode::UNAUTHORIZED, "missing_token".into())
    );
    let wrong = node
        .http
        .post(node.api("/gc"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(wrong).await,
        (StatusCode::UNAUTHORIZED, "bad_token".into())
    );
    assert_eq!(node.stored_files(), 0, "nothing was written");
    node.stop().await;
}

async fn car_with_a_block_that_does_not_match_its_cid_is_refused_and_nothing_kept(
    storage: Storage,
) {
    let source = TestNode::start_on(storage).await;
    let cid = source.add_cid(bytes(2_200_000, 5), "").await;
    let car = source
        .http
        .get(source.api(&format!("/car/{cid}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();

    let node = TestNode::start_on(storage).await;
    let mut tampered = car.clone();
    let last = tampered.len() - 10;
    tampered[last] ^= 0xff;
    let response = node
        .http
        .post(node.api("/car"))
        .bearer_auth(node.token())
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(response).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch".into())
    );
    assert_eq!(node.stored_files(), 0);
    assert_eq!(node.daemon.node().db().block_count().await.unwrap(), 0);

    let truncated = car[..car.len() - 1000].to_vec();
    let response = node
        .http
        .post(node.api("/car"))
        .bearer_auth(node.token())
        .body(truncated)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(node.stored_files(), 0);
    assert!(node
        .daemon
        .node()
        .db()
        .list_pins()
        .await
        .unwrap()
        .is_empty());
    source.stop().await;
    node.stop().await;
}

async fn upload_cut_mid_stream_leaves_nothing_behind(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let first = bytes(1 << 20, 6);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(first.clone()),
        Ok(first),
        Err(std::io::Error::other("client went away")),
    ];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let result = node
        .http
        .post(node.api("/add"))
        .bearer_auth(node.token())
        .body(body)
        .send()
        .await;
    assert!(result.is_err() || !result.unwrap().status().is_success());
    // The server sees the cut, rolls back, and the store is as before.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while node.stored_files() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(node.stored_files(), 0);
    assert_eq!(node.daemon.node().content().store().used_bytes(), 0);
    assert!(node
        .daemon
        .node()
        .db()
        .list_pins()
        .await
        .unwrap()
        .is_empty());
    node.stop().await;
}

async fn a_full_store_refuses_the_add_and_keeps_nothing_partial(storage: Storage) {
    let node = TestNode::start_on_with(storage, |c| c.storage.quota = Some(1 << 20)).await;
    let response = node
        .http
        .post(node.api("/add"))
        .bearer_auth(node.token())
        .body(bytes(3 * 1024 * 1024, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(response).await,
        (StatusCode::INSUFFICIENT_STORAGE, "store_full".into())
    );
    assert_eq!(node.stored_files(), 0);
    assert_eq!(node.daemon.node().content().store().used_bytes(), 0);
    // A small file still fits afterwards: the failed add released its reservation.
    node.add(b"small".to_vec(), "").await;
    node.stop().await;
}

async fn directory_upload_serves_listing_and_files_by_path(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new())
                .file_name("site")
                .mime_str("application/x-directory")
                .unwrap(),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"<h1>hi</h1>".to_vec()).file_name("site/index.html"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"body{}".to_vec()).file_name("site/css/a.css"),
        )
        // Over axum's default 2 MB extractor limit: uploads are bounded by the quota only.
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes(3_000_000, 8)).file_name("site/big.bin"),
        );
    let added: serde_json::Value = node
        .http
        .post(node.api("/add"))
        .bearer_auth(node.token())
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cid = added["cid"].as_str().unwrap();
    let index = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(index.text().await.unwrap(), "<h1>hi</h1>");
    let css = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}/css/a.css")))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.text().await.unwrap(), "body{}");
    let listing = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}/css")))
        .send()
        .await
        .unwrap();
    assert!(listing.text().await.unwrap().contains("a.css"));

    let evil = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("../escape"),
    );
    let response = node
        .http
        .post(node.api("/add"))
        .bearer_auth(node.token())
        .multipart(evil)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_reason(response).await,
        (StatusCode::BAD_REQUEST, "bad_path".into())
    );
    node.stop().await;
}

async fn health_and_prometheus_metrics_are_served(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    node.add(b"counted".to_vec(), "").await;
    let health: serde_json::Value = node
        .http
        .get(format!("{}/health", node.daemon.info.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = node
        .http
        .get(format!("{}/metrics", node.daemon.info.api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("cairn_added_bytes_total 7"), "{metrics}");
    assert!(metrics.contains("cairn_pins 1"), "{metrics}");
    node.stop().await;
}

every_storage!(
    added_file_comes_back_byte_identical_through_api_and_gateway,
    trustless_gateway_serves_verifiable_raw_blocks_and_cars,
    gc_collects_unpinned_blocks_and_never_pinned_ones,
    malformed_and_unsupported_cids_are_refused_with_reasons,
    gateway_refuses_path_traversal,
    write_calls_need_the_token,
    car_with_a_block_that_does_not_match_its_cid_is_refused_and_nothing_kept,
    upload_cut_mid_stream_leaves_nothing_behind,
    a_full_store_refuses_the_add_and_keeps_nothing_partial,
    directory_upload_serves_listing_and_files_by_path,
    health_and_prometheus_metrics_are_served,
);
