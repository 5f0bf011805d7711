//! The `s3` block store's bad inputs, each against a real S3 server on 127.0.0.1: a config
//! with an unknown backend or no bucket, object storage unreachable (or without the bucket) at
//! start, and object storage going away in the middle of an add. (The content suite itself
//! runs on s3 as well: `tests/content_api.rs`, `tests/crash.rs`.)

mod common;

use cairn::blockstore::Blockstore;
use cairn::config::{Config, DataDir};
use cairn::node::Daemon;
use cid::Cid;
use common::s3_server::{S3Server, BUCKET};
use common::{bytes, sha256_hex, Storage, TestNode};
use reqwest::StatusCode;

/// A data dir whose config `edit` made, ready to start.
fn data_dir(edit: impl FnOnce(&mut Config)) -> (tempfile::TempDir, DataDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("repo"));
    let mut config = Config::new(true);
    config.swarm.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    edit(&mut config);
    data.init(&config).unwrap();
    (dir, data)
}

/// `cairn daemon` on `data`: it must refuse to start; returns its stderr.
fn daemon_refuses(data: &DataDir) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("daemon")
        .env("CAIRN_PATH", data.root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the daemon started: {stderr}");
    assert!(
        !data.daemon_path().exists(),
        "a refused start leaves no daemon.json"
    );
    stderr
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_an_unknown_backend_or_no_bucket_is_refused_naming_the_key() {
    let (_dir, data) = data_dir(|_| {});
    let path = data.root().join("config.toml");
    let written = std::fs::read_to_string(&path).unwrap();
    for (storage, key, reason) in [
        (
            "[storage]\nbackend = \"tape\"\n",
            "storage.backend",
            "unknown variant `tape`",
        ),
        (
            "[storage]\nbackend = \"s3\"\n",
            "storage.s3.bucket",
            "needs the bucket",
        ),
        (
            "[storage]\nbackend = \"s3\"\n\n[storage.s3]\nendpoint = \"http://127.0.0.1:9\"\n",
            "storage.s3.bucket",
            "needs the bucket",
        ),
    ] {
        std::fs::write(&path, written.replacen("[storage]\n", storage, 1)).unwrap();
        let stderr = daemon_refuses(&data);
        assert!(
            stderr.contains(key) && stderr.contains(reason),
            "{storage}: {stderr}"
        );
        match Daemon::start(data.clone()).await {
            Err(cairn::node::NodeError::Config(cairn::config::ConfigError::BadValue {
                key: Some(k),
                ..
            })) => assert_eq!(k, key),
            Err(other) => panic!("{storage}: expected a config error, got {other}"),
            Ok(_) => panic!("{storage}: the daemon started"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_unreachable_or_without_the_bucket_at_start_refuses_the_daemon() {
    common::s3_server::set_credentials_env();
    let server = S3Server::start();
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    for (endpoint, bucket) in [
        (unreachable.clone(), BUCKET),
        (server.endpoint(), "no-such-bucket"),
    ] {
        let (_dir, data) = data_dir(|c| {
            c.storage.backend = cairn::config::StorageBackend::S3;
            c.storage.s3 = Some(cairn::config::S3Settings {
                bucket: Some(bucket.into()),
                endpoint: Some(endpoint.clone()),
                ..Default::default()
            });
        });
        let location = format!("{endpoint}/{bucket}");
        let started = tokio::time::Instant::now();
        match Daemon::start(data.clone()).await {
            Err(e) => {
                let message = e.to_string();
                assert!(
                    matches!(
                        &e,
                        cairn::node::NodeError::Blockstore(
                            cairn::blockstore::BlockstoreError::ObjectStore { .. }
                        )
                    ),
                    "{message}"
                );
                assert!(
                    message.contains(&format!("object storage {location} failed")),
                    "{message}"
                );
            }
            Ok(_) => panic!("a daemon started on storage it cannot use ({location})"),
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the refusal came within the client's short retries"
        );
        let stderr = daemon_refuses(&data);
        assert!(
            stderr.contains(&format!("object storage {location} failed")),
            "{stderr}"
        );
    }
    assert_eq!(server.puts(), 0, "a refused start wrote nothing");
}

/// Every block row, as (CID, size).
async fn rows(node: &TestNode) -> Vec<(Cid, u64)> {
    let page = node
        .daemon
        .node()
        .db()
        .blocks_page(None, 100_000)
        .await
        .unwrap();
    page.into_iter().map(|(_, cid, size)| (cid, size)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_going_away_mid_add_fails_it_cleanly_and_the_retry_succeeds() {
    let node = TestNode::start_on(Storage::S3).await;
    let kept = bytes(300_000, 20);
    let kept_cid = node.add_cid(kept.clone(), "").await;
    let rows_before = rows(&node).await;
    let used_before = node.daemon.node().content().store().used_bytes();
    assert_eq!(node.stored_files(), rows_before.len());

    // 1 MiB chunks: 5 MiB is 5 leaves and a root. The server goes away when the third block's
    // PUT arrives, two blocks into the add.
    let data = bytes(5 << 20, 21);
    let server = node.s3.as_ref().unwrap();
    server.stop_after_puts(2);
    let response = node
        .http
        .post(node.api("/add"))
        .bearer_auth(node.token())
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("object storage is unreachable"),
        "{body}"
    );

    // Nothing of the failed add is recorded: no row, no pin. The two blocks whose PUT landed
    // could not be rolled back (the storage was gone): they are held in the bucket, so the
    // store counts them, without a row.
    assert_eq!(rows(&node).await, rows_before);
    let pins = node.daemon.node().db().list_pins().await.unwrap();
    assert_eq!(pins.len(), 1, "only the first add's pin");
    assert_eq!(
        node.daemon.node().content().store().used_bytes(),
        used_before + (2 << 20)
    );
    assert_eq!(node.stored_files(), rows_before.len() + 2);
    // While the storage is away, reads fail with the same clear reason, not as missing.
    let cat = node
        .http
        .get(node.api(&format!("/cat/{kept_cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cat.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Back: the same add succeeds, with the CID the bytes always had.
    let mut node = node;
    node.s3.as_mut().unwrap().restart().await;
    let expected = node.add(data.clone(), "?only-hash=true").await["cid"]
        .as_str()
        .unwrap()
        .to_string();
    let cid = node.add_cid(data.clone(), "").await;
    assert_eq!(cid, expected);
    for (cid, bytes) in [(&cid, &data), (&kept_cid, &kept)] {
        let back = node
            .http
            .get(node.api(&format!("/cat/{cid}")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(sha256_hex(&back), sha256_hex(bytes));
    }
    let recorded = rows(&node).await;
    let sum: u64 = recorded.iter().map(|(_, s)| s).sum();
    assert_eq!(
        recorded.len(),
        rows_before.len() + 6,
        "every block recorded"
    );
    assert_eq!(node.daemon.node().content().store().used_bytes(), sum);
    assert_eq!(node.daemon.node().db().used_bytes().await.unwrap(), sum);
    assert_eq!(node.stored_files(), recorded.len());

    // And the next start finds the store and the database in agreement.
    let node = node.restart().await;
    let report = &node.daemon.reconciled;
    assert_eq!(
        (
            report.rows,
            report.rows_removed,
            report.damaged,
            report.adopted,
            report.orphans_removed,
            report.used_bytes
        ),
        (recorded.len() as u64, 0, 0, 0, 0, sum),
        "{report:?}"
    );
    node.stop().await;
}

/// A fresh, empty PostgreSQL database on the server `CAIRN_TEST_POSTGRES_URL` names, or `None`
/// when none is configured (CI always configures one: it fails without).
async fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("CAIRN_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set CAIRN_TEST_POSTGRES_URL so PostgreSQL with object storage is tested"
        );
        eprintln!("CAIRN_TEST_POSTGRES_URL unset: PostgreSQL with object storage not run");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("cairn_s3_{:016x}", rand::random::<u64>());
    let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_on_postgresql_and_object_storage_keeps_nothing_in_its_data_dir_but_keys() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let node = TestNode::start_on_with(Storage::S3, |c| c.database_url = Some(url.clone())).await;
    let data = bytes(3 << 20, 30);
    let cid = node.add_cid(data.clone(), "").await;
    let loose = node.add_cid(bytes(100_000, 31), "?pin=false").await;
    assert!(
        !node.repo().join("blocks").exists() && !node.repo().join("cairn.db").exists(),
        "no block file and no SQLite database in the data dir"
    );
    assert_eq!(node.stored_files(), 4 + 1);

    // GC deletes the unpinned block's object; the pinned file survives a restart, on a
    // reconcile that finds the database and the bucket in agreement.
    let gc: serde_json::Value = node
        .http
        .post(node.api("/gc"))
        .bearer_auth(node.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gc["removed_blocks"], 1, "{gc}");
    assert_eq!(node.stored_files(), 4);
    let node = node.restart().await;
    let report = &node.daemon.reconciled;
    assert_eq!(
        (
            report.rows,
            report.rows_removed,
            report.damaged,
            report.adopted,
            report.orphans_removed
        ),
        (4, 0, 0, 0, 0),
        "{report:?}"
    );
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
    let store = node.daemon.node().content().store().clone();
    assert!(!store.has(&loose.parse().unwrap()).await.unwrap());
    let used = store.used_bytes();
    assert_eq!(used, node.daemon.node().db().used_bytes().await.unwrap());
    assert_eq!(used, report.used_bytes);
    assert!(used > 3 << 20, "the leaves and the root");
    node.stop().await;
}
