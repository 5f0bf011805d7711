//! Local exposure: owner-only files whatever the umask, and an API that answers only requests
//! addressed to this node and, from browsers, only its own pages.
//!
//! This binary sets the process umask to 000 (the loosest there is) for all its tests.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::TestNode;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_and_its_secrets_are_owner_only_under_umask_000() {
    // SAFETY: umask only swaps the process's file-creation mask; no memory is involved.
    unsafe { libc::umask(0) };
    let node = TestNode::start().await;
    node.add_cid(b"a file so the database has rows".to_vec(), "")
        .await;
    let repo = node.repo();
    assert_eq!(mode(&repo), 0o700, "data dir");
    for name in [
        "config.toml",
        "cairn.db",
        "identity.key",
        "api.token",
        "repo.lock",
        "daemon.json",
    ] {
        assert_eq!(mode(&repo.join(name)), 0o600, "{name}");
    }
    for name in ["cairn.db-wal", "cairn.db-shm"] {
        if repo.join(name).exists() {
            assert_eq!(mode(&repo.join(name)) & 0o077, 0, "{name}");
        }
    }
    // A data dir loosened by hand is tightened at the next start.
    let node = {
        std::fs::set_permissions(
            repo.join("config.toml"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        node.restart().await
    };
    assert_eq!(mode(&repo.join("config.toml")), 0o600);
    assert_eq!(mode(&repo), 0o700);
    node.stop().await;
}

async fn get(node: &TestNode, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut request = node.http.get(format!("{}{path}", node.daemon.info.api));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_or_origin_is_refused_with_a_reason() {
    let node = TestNode::start().await;
    let port = node.daemon.info.api.rsplit(':').next().unwrap().to_string();
    let reads = [
        "/api/v1/deals",
        "/api/v1/pay/channels",
        "/api/v1/pay/balance",
        "/api/v1/pins",
        "/metrics",
        "/",
    ];

    // DNS rebinding: a foreign name that now points at 127.0.0.1.
    let evil_host = format!("evil.example:{port}");
    for path in reads {
        let (status, body) = get(&node, path, &[("host", &evil_host)]).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["error"], "forbidden_host", "{path}: {body}");
    }
    // A page on another site reading through the browser.
    for origin in [
        "http://evil.example",
        "null",
        "https://127.0.0.1.evil.example",
    ] {
        for path in reads {
            let (status, body) = get(&node, path, &[("origin", origin)]).await;
            assert_eq!(status, 403, "{origin} {path}");
            assert_eq!(body["error"], "forbidden_origin", "{origin} {path}: {body}");
        }
    }
    // A write from a foreign page is refused before its token is even looked at.
    let response = node
        .http
        .post(node.api("/gc"))
        .bearer_auth(node.token())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Local names, the bound address and the node's own pages are served.
    let local = format!("localhost:{port}");
    let own_page = format!("http://127.0.0.1:{port}");
    for headers in [
        vec![],
        vec![("host", local.as_str())],
        vec![("host", "[::1]")],
        vec![("origin", own_page.as_str())],
        vec![("origin", "http://localhost:3000")],
    ] {
        for path in reads {
            let (status, _) = get(&node, path, &headers).await;
            assert_eq!(status, 200, "{headers:?} {path}");
        }
    }
    // The gateway serves content to anyone: it is not the API.
    let cid = node.add_cid(b"public".to_vec(), "").await;
    let response = node
        .http
        .get(node.gateway(&format!("/ipfs/{cid}")))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_host_is_allowed() {
    let node = TestNode::start_with(|c| c.api.allowed_hosts = vec!["cairn.internal".into()]).await;
    let (status, _) = get(&node, "/api/v1/pins", &[("host", "cairn.internal:443")]).await;
    assert_eq!(status, 200);
    let (status, body) = get(&node, "/api/v1/pins", &[("host", "other.internal")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden_host"))
    );
    node.stop().await;
}
