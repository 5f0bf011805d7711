//! The status page (`/`) in a real browser: two daemons, connected, the client pinning content
//! and holding a deal with the provider, which the client challenges every second. Headless
//! Chromium loads each node's page and the test reads what the page shows from the DOM: every
//! section has an `id` and a `data-status`, every figure its raw value in `data-value`.
//!
//! Chromium is required: without `/usr/bin/chromium` the test fails and says how to install it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bytes, TestNode};
use reqwest::StatusCode;

const CHROMIUM: &str = "/usr/bin/chromium";
/// A page load takes a second or two; a browser still running after this is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
/// Virtual time the page's scripts get before the DOM is dumped: two polls and a bit.
const VIRTUAL_TIME_MS: u32 = 5_000;

/// Fails, never skips, when Chromium is missing, and says how to install it.
fn require_chromium() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "this test loads the status page in headless Chromium, and {CHROMIUM} is missing: \
         install Debian's package with `apt-get install -y chromium` (.ci/run does)"
    );
}

/// Runs headless Chromium on `url` and returns the DOM after the page has run for
/// `VIRTUAL_TIME_MS` of virtual time. Blocking: call it from `spawn_blocking`.
fn rendered_dom(url: &str) -> String {
    require_chromium();
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a hung browser is killed with all of its helpers.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {CHROMIUM}: {e}"));
    let pid = child.id();
    let (done, output) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match output.recv_timeout(BROWSER_TIMEOUT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            panic!("Chromium did not finish loading {url} within {BROWSER_TIMEOUT:?}; killed");
        }
    };
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "Chromium failed on {url} ({}):\n{}",
        output.status,
        tail(&String::from_utf8_lossy(&output.stderr), 3000)
    );
    dom
}

async fn render(url: String) -> Page {
    Page(
        tokio::task::spawn_blocking(move || rendered_dom(&url))
            .await
            .unwrap(),
    )
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// A dumped DOM, read by element ids and attributes.
struct Page(String);

impl Page {
    /// The start tag containing `needle` (an attribute, say), if any.
    fn tag_with(&self, needle: &str) -> Option<&str> {
        let at = self.0.find(needle)?;
        let start = self.0[..at].rfind('<')?;
        let end = at + self.0[at..].find('>')?;
        Some(&self.0[start..=end])
    }

    /// An attribute of the element with this id.
    fn attr(&self, id: &str, name: &str) -> String {
        let tag = self
            .tag_with(&format!(r#" id="{id}""#))
            .unwrap_or_else(|| panic!("the page has no #{id}:\n{}", self.0));
        attr_of(tag, name).unwrap_or_else(|| panic!("#{id} has no {name}: {tag}"))
    }

    /// `data-value` of the element with this id.
    fn value(&self, id: &str) -> String {
        self.attr(id, "data-value")
    }

    fn number(&self, id: &str) -> u64 {
        let value = self.value(id);
        value
            .parse()
            .unwrap_or_else(|_| panic!("#{id} shows {value:?}, not a number"))
    }

    fn status(&self, section: &str) -> String {
        self.attr(section, "data-status")
    }
}

fn attr_of(tag: &str, name: &str) -> Option<String> {
    let key = format!(r#" {name}=""#);
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(tag[at..at + len].to_string())
}

async fn get_json(node: &TestNode, path: &str) -> serde_json::Value {
    let response = node.http.get(node.api(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

async fn post_json(node: &TestNode, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = node
        .http
        .post(node.api(path))
        .bearer_auth(node.token())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
    body
}

const GIB: u64 = 1 << 30;

/// The page's files, as the node embeds them.
const PAGE: [&str; 3] = [
    include_str!("../src/api/status/status.html"),
    include_str!("../src/api/status/status.js"),
    include_str!("../src/api/status/status.css"),
];

/// A node offering 1 GiB to deals of any length from 1 s, challenged as often as every 1 s.
async fn provider() -> TestNode {
    let node = TestNode::start().await;
    post_json(
        &node,
        "/provider/ask",
        serde_json::json!({
            "price_per_gib_month": 1000,
            "min_duration_secs": 1,
            "max_duration_secs": 365 * 86_400,
            "max_piece_size": GIB,
            "capacity": GIB,
            "min_challenge_period_secs": 1,
            "ttl_secs": 3600,
        }),
    )
    .await;
    node
}

/// Which state a section of the page must be in, given how its endpoint answers now: the
/// keeper and payment endpoints may or may not exist on this build, and the page must cope
/// either way.
async fn expected_status(node: &TestNode, path: &str) -> &'static str {
    let response = node.http.get(node.api(path)).send().await.unwrap();
    if response.status().is_success() {
        "ok"
    } else {
        "unavailable"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_shows_peers_pins_deals_proofs_and_capacity() {
    require_chromium();
    let provider = provider().await;
    let client = TestNode::start().await;
    let connect = client
        .http
        .post(client.api("/swarm/connect"))
        .query(&[("addr", provider.tcp_addr())])
        .bearer_auth(client.token())
        .send()
        .await
        .unwrap();
    assert_eq!(connect.status(), StatusCode::OK);
    let cid = client.add_cid(bytes(700_000, 91), "").await;
    let deal = post_json(
        &client,
        "/deals",
        serde_json::json!({
            "cid": cid,
            "provider": provider.daemon.node().peer_id().to_string(),
            "duration_secs": 3600,
            "challenge_period_secs": 1,
            "wait_secs": 30,
        }),
    )
    .await;
    assert_eq!(deal["state"], "active", "{deal}");
    let deal_id = deal["id"].as_str().unwrap().to_string();

    // Wait (bounded) for the client's first challenge of the provider to pass.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let shown = get_json(&client, &format!("/deals/{deal_id}")).await;
        if shown["proofs_passed"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no challenge passed within 15 s: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (client_page, provider_page) = tokio::join!(
        render(format!("{}/", client.daemon.info.api)),
        render(format!("{}/", provider.daemon.info.api)),
    );

    // The client's page.
    let page = &client_page;
    for section in ["node", "peers", "pins", "capacity", "deals", "proofs"] {
        assert_eq!(page.status(section), "ok", "section #{section}");
    }
    assert_eq!(
        page.value("node-id"),
        client.daemon.node().peer_id().to_string()
    );
    assert!(page.number("address-count") >= 1);
    assert_eq!(page.number("peer-count"), 1);
    assert!(page
        .tag_with(&format!(
            r#"data-peer="{}""#,
            provider.daemon.node().peer_id()
        ))
        .is_some());
    let pins = get_json(&client, "/pins").await["pins"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(pins, 1);
    assert_eq!(page.number("pin-count"), pins);
    assert!(page.tag_with(&format!(r#"data-cid="{cid}""#)).is_some());

    assert_eq!(page.number("deal-count"), 1);
    let row = page
        .tag_with(&format!(r#"data-deal-id="{deal_id}""#))
        .expect("the deal has a row");
    assert_eq!(attr_of(row, "data-role").as_deref(), Some("client"));
    assert_eq!(attr_of(row, "data-state").as_deref(), Some("active"));
    let active = page
        .tag_with(r#"data-state="active" data-value"#)
        .expect("deals are counted by state");
    assert_eq!(attr_of(active, "data-value").as_deref(), Some("1"));

    assert!(page.number("proofs-passed") >= 1);
    assert!(
        page.attr("proof-chart", "data-points")
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(page.tag_with(r#"data-series="passed""#).is_some());

    let status = get_json(&client, "/status").await;
    assert_eq!(
        page.number("stored-bytes"),
        status["storage"]["stored_bytes"].as_u64().unwrap()
    );
    assert!(page.number("stored-bytes") >= 700_000);
    assert_eq!(page.value("capacity-offered"), "", "the client offers none");

    for (section, path) in [
        ("keeper", "/keeps"),
        ("earnings", "/pay/balance"),
        ("channels", "/pay/channels"),
    ] {
        assert_eq!(
            page.status(section),
            expected_status(&client, path).await,
            "section #{section}"
        );
    }
    assert!(page.attr("updated", "data-polls").parse::<u64>().unwrap() >= 1);

    // The provider's page: the same deal from the other side, and the capacity it holds.
    let page = &provider_page;
    assert_eq!(
        page.value("node-id"),
        provider.daemon.node().peer_id().to_string()
    );
    assert_eq!(page.number("peer-count"), 1);
    let row = page
        .tag_with(&format!(r#"data-deal-id="{deal_id}""#))
        .expect("the provider lists the deal");
    assert_eq!(attr_of(row, "data-role").as_deref(), Some("provider"));
    assert_eq!(attr_of(row, "data-state").as_deref(), Some("active"));
    assert_eq!(page.status("capacity"), "ok");
    let status = get_json(&provider, "/status").await;
    let reserved = status["provider"]["reserved"].as_u64().unwrap();
    assert!(reserved > 0, "the deal holds capacity: {status}");
    assert_eq!(page.number("capacity-offered"), GIB);
    assert_eq!(page.number("capacity-used"), reserved);
    assert_eq!(page.number("capacity-free"), GIB - reserved);

    client.stop().await;
    provider.stop().await;
}

#[tokio::test]
async fn the_page_is_served_on_the_api_port_with_its_assets() {
    let node = TestNode::start().await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/status.js", "text/javascript; charset=utf-8"),
        ("/status.css", "text/css; charset=utf-8"),
    ] {
        let response = node
            .http
            .get(format!("{}{path}", node.daemon.info.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
    }
    node.stop().await;
}

#[tokio::test]
async fn status_reports_stored_bytes_and_the_capacity_offered() {
    let node = TestNode::start().await;
    let empty = get_json(&node, "/status").await;
    assert_eq!(empty["storage"]["stored_bytes"], 0);
    assert_eq!(empty["storage"]["blocks"], 0);
    assert!(empty["provider"].is_null(), "no ask, no capacity: {empty}");

    node.add(bytes(300_000, 92), "").await;
    let stored = get_json(&node, "/status").await;
    assert!(stored["storage"]["stored_bytes"].as_u64().unwrap() >= 300_000);
    assert!(stored["storage"]["blocks"].as_u64().unwrap() >= 1);
    node.stop().await;

    let provider = provider().await;
    let offered = get_json(&provider, "/status").await;
    assert_eq!(
        offered["provider"],
        serde_json::json!({"offered": GIB, "reserved": 0, "free": GIB})
    );
    provider.stop().await;
}

/// The page against a stand-in API: the keeper and payment endpoints answer with the shapes
/// they are specified to have, every other endpoint fails. Each failing section must say so, and the
/// others must still be drawn.
#[tokio::test(flavor = "multi_thread")]
async fn failing_endpoints_mark_only_their_sections_unavailable() {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;

    require_chromium();
    let balance = serde_json::json!({"peers": [
        {"peer": "12D3KooWPeerA", "earned": 700, "spent": 0, "owed_to_us": 50, "we_owe": 0},
        {"peer": "12D3KooWPeerB", "earned": 0, "spent": 300, "owed_to_us": 0, "we_owe": 20},
    ]});
    let channels = serde_json::json!({"channels": [
        {"id": "chan-1", "role": "payer", "peer": "12D3KooWPeerB", "deposit": 1000,
         "paid": 300, "remaining": 700, "pending": 20, "state": "open"},
    ]});
    let keeps = serde_json::json!({"keeps": [
        {"id": "keep-1", "cid": "bafkreikept", "status": "pinning", "healthy": 2,
         "policy": {"replicas": 3}, "at_risk": 1, "shortfall": 0, "paid": 40},
    ]});
    let canned = |body: serde_json::Value| get(move || async move { axum::Json(body) });
    let mut api = axum::Router::new()
        .route("/api/v1/keeps", canned(keeps))
        .route("/api/v1/pay/balance", canned(balance))
        .route("/api/v1/pay/channels", canned(channels));
    for (path, content_type, body) in [
        ("/", "text/html; charset=utf-8", PAGE[0]),
        ("/status.js", "text/javascript; charset=utf-8", PAGE[1]),
        ("/status.css", "text/css; charset=utf-8", PAGE[2]),
    ] {
        api = api.route(
            path,
            get(move || async move { ([(CONTENT_TYPE, content_type)], body) }),
        );
    }
    let api = api.fallback(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken on purpose") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, api).await });

    let page = render(url).await;
    for section in ["node", "peers", "pins", "capacity", "deals", "proofs"] {
        assert_eq!(page.status(section), "unavailable", "section #{section}");
    }
    assert_eq!(page.status("keeper"), "ok");
    assert_eq!(page.number("keep-count"), 1);
    let row = page
        .tag_with(r#"data-keep-id="keep-1""#)
        .expect("the keep has a row");
    assert_eq!(attr_of(row, "data-status").as_deref(), Some("pinning"));
    assert!(
        page.0.contains("<td>2 of 3</td>"),
        "healthy replicas of those wanted"
    );
    assert_eq!(page.status("earnings"), "ok");
    assert_eq!(page.number("earned-total"), 700);
    assert_eq!(page.number("spent-total"), 300);
    assert_eq!(page.number("owed-total"), 50);
    assert_eq!(page.number("owing-total"), 20);
    assert_eq!(page.attr("earnings-chart", "data-peers"), "2");
    assert!(page.tag_with(r#"data-earned="700""#).is_some());
    assert!(page.tag_with(r#"data-spent="300""#).is_some());
    assert_eq!(page.status("channels"), "ok");
    assert_eq!(page.number("channel-count"), 1);
    let row = page
        .tag_with(r#"data-channel-id="chan-1""#)
        .expect("the channel has a row");
    assert_eq!(attr_of(row, "data-state").as_deref(), Some("open"));
    assert!(page.attr("updated", "data-polls").parse::<u64>().unwrap() >= 2);
    server.abort();
}
