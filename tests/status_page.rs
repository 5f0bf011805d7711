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
/// The narrowest window headless Chromium opens, in px.
const MIN_WINDOW: u32 = 500;
/// A phone's width, in CSS px.
const PHONE: u32 = 420;

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
    rendered_dom_at(url, None)
}

/// Like [`rendered_dom`], laid out `width` CSS pixels wide when given.
///
/// Headless Chromium makes no window narrower than 500 px, so a narrower layout is a 500 px
/// window zoomed (the profile's default zoom) until it is `width` CSS pixels wide: what a
/// phone that wide lays out, media queries included. The page reports `innerWidth`, which the
/// tests check.
fn rendered_dom_at(url: &str, width: Option<u32>) -> String {
    require_chromium();
    let profile = tempfile::tempdir().unwrap();
    if let Some(width) = width {
        // Chromium's zoom levels are powers of 1.2.
        let level = (f64::from(MIN_WINDOW) / f64::from(width)).ln() / 1.2f64.ln();
        let prefs = serde_json::json!({"partition": {"default_zoom_level": {"x": level}}});
        std::fs::create_dir_all(profile.path().join("Default")).unwrap();
        std::fs::write(
            profile.path().join("Default/Preferences"),
            prefs.to_string(),
        )
        .unwrap();
    }
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
        .args(width.map(|_| format!("--window-size={MIN_WINDOW},900")))
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

/// The page as a phone shows it: 420 px wide.
async fn render_narrow(url: String) -> Page {
    Page(
        tokio::task::spawn_blocking(move || rendered_dom_at(&url, Some(PHONE)))
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
    // 25 channels: three pages of 10.
    let channels: Vec<_> = (1..=25)
        .map(|i| {
            serde_json::json!({"id": format!("chan-{i}"), "role": "payer",
                "peer": "12D3KooWPeerB", "deposit": 1000, "paid": 300, "remaining": 700,
                "pending": 20, "state": "open"})
        })
        .collect();
    let channels = serde_json::json!({ "channels": channels });
    let keeps = serde_json::json!({"keeps": [
        {"id": "keep-1", "cid": "bafkreikept", "name": "photos", "status": "pinning",
         "healthy": 2, "policy": {"replicas": 3}, "at_risk": 1, "shortfall": 0, "paid": 40,
         "providers": [
            {"peer": "12D3KooWPeerC", "score": {"value": 0.5, "pass_rate": 1.0,
             "uptime": 0.5, "challenges": 12}},
            {"peer": "12D3KooWPeerC", "score": {"value": 0.9, "pass_rate": 1.0,
             "uptime": 0.9, "challenges": 12}},
            {"peer": "12D3KooWPeerD", "score": {"value": 0.25, "pass_rate": 0.5,
             "uptime": 0.5, "challenges": 4}},
         ]},
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
        page.0
            .contains(r#"<td data-label="Healthy replicas">2 of 3</td>"#),
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
    // The keep's name and request id, and each provider once at its best score.
    assert!(page.0.contains(r#"<td data-label="Name">photos</td>"#));
    assert!(page
        .0
        .contains(r#"<td data-label="Request id">keep-1</td>"#));
    assert_eq!(page.status("scores"), "ok");
    assert_eq!(page.number("score-count"), 2);
    assert!(page
        .tag_with(r#"data-peer="12D3KooWPeerC" data-score="0.9""#)
        .is_some());
    assert!(page
        .tag_with(r#"data-peer="12D3KooWPeerD" data-score="0.25""#)
        .is_some());
    assert!(
        page.0.contains("300 base units"),
        "amounts carry their unit"
    );
    assert_eq!(page.status("channels"), "ok");
    assert_eq!(page.number("channel-count"), 25);
    // A page of 10 rows, and a pager saying there are three.
    assert_eq!(page.0.matches("data-channel-id=").count(), 10);
    assert_eq!(page.value("channel-list-pager"), "3");
    assert_eq!(page.attr("channel-list-pager", "data-rows"), "25");
    assert!(page.tag_with(r#"data-channel-id="chan-11""#).is_none());
    let row = page
        .tag_with(r#"data-channel-id="chan-1""#)
        .expect("the channel has a row");
    assert_eq!(attr_of(row, "data-state").as_deref(), Some("open"));
    assert!(page.attr("updated", "data-polls").parse::<u64>().unwrap() >= 2);
    server.abort();
}

/// A client that accepts the high prices the dashboard test asks, so its payments count.
fn pricey_client(config: &mut cairn::config::Config) {
    config.pay.max_price_per_gib_month = 1 << 62;
}

async fn history(node: &TestNode) -> serde_json::Value {
    get_json(node, "/status/history?days=30").await
}

/// The dashboard after real traffic: a paid deal between two daemons that ran its course, its
/// channel closed and settled, and more challenges answered than any API page lists. Each
/// figure the page shows (at 420 px, with nothing overflowing) is the database's total.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_database_totals_after_a_paid_deal() {
    use cairn::db::ChallengeRow;
    use common::{eventually, json};

    require_chromium();
    let provider = provider().await;
    post_json(
        &provider,
        "/provider/ask",
        serde_json::json!({
            "price_per_gib_month": 1_000_000_000_000u64,
            "min_duration_secs": 1,
            "max_duration_secs": 365 * 86_400,
            "max_piece_size": GIB,
            "capacity": GIB,
            "min_challenge_period_secs": 1,
            "ttl_secs": 3600,
        }),
    )
    .await;
    let client = TestNode::start_with(pricey_client).await;
    let cid = client.add_cid(bytes(2_500_000, 93), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "10s", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let payee = |node: &TestNode| {
        let list = json(&node.cli(&["pay", "channels", "--json"]));
        list["channels"][0].clone()
    };
    let paid_some = eventually(Duration::from_secs(30), || {
        payee(&provider)["paid"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert!(paid_some, "a passed period was paid: {}", payee(&provider));
    // The deal runs its course: then no more receipts.
    let mut ended = false;
    for _ in 0..600 {
        let shown = get_json(&provider, &format!("/deals/{deal_id}")).await;
        if shown["state"] != "active" {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the 10 s deal did not end within 60 s");
    let channel = payee(&client)["id"].as_str().unwrap().to_string();
    let closed = json(&client.cli(&["pay", "channel", "close", &channel, "--json"]));
    assert_eq!(closed["state"], "closed");
    assert!(
        eventually(Duration::from_secs(10), || payee(&provider)["state"]
            == "closed")
        .await,
        "the provider saw the close"
    );
    // Closed: no receipt counts after this.
    let paid = payee(&provider)["paid"].as_u64().unwrap();
    assert_eq!(payee(&provider)["settled"].as_u64(), Some(paid));

    // More challenges answered on this deal's piece than the deals API lists (100 per deal).
    let db = provider.daemon.node().db();
    let now = db.now_ms();
    for i in 0..150 {
        db.record_challenge(&ChallengeRow {
            id: format!("{i:064x}"),
            role: "prover".into(),
            peer: client.daemon.info.id.clone(),
            piece_root: deal["piece_root"].as_str().unwrap_or("root").into(),
            piece_size: 1,
            period: 1_000 + i,
            samples: 1,
            issued_at: now - 1_000 + i as i64,
            deadline: now + 60_000,
            answered_at: Some(now),
            outcome: "answered".into(),
            reason: None,
            latency_ms: Some(1),
            proof_bytes: Some(1),
        })
        .await
        .unwrap();
    }
    let totals = db.totals().await.unwrap();
    let count = |role: &str, outcome: &str| {
        totals
            .challenges
            .iter()
            .filter(|(r, o, _)| r == role && o == outcome)
            .map(|c| c.2)
            .sum::<u64>()
    };
    let answered = count("prover", "answered");
    assert!(answered > 150, "{totals:?}");
    let earned = totals.paid.iter().find(|(r, _)| r == "payee").unwrap().1;
    assert_eq!(earned, paid);

    let (client_page, provider_page) = tokio::join!(
        render_narrow(format!("{}/", client.daemon.info.api)),
        render_narrow(format!("{}/", provider.daemon.info.api)),
    );
    let (client_history, provider_history) = tokio::join!(history(&client), history(&provider));

    // The provider's dashboard.
    let page = &provider_page;
    for section in [
        "overview",
        "income",
        "payouts",
        "bandwidth",
        "disk",
        "capacity",
    ] {
        assert_eq!(page.status(section), "ok", "section #{section}");
    }
    assert_eq!(page.value("node-online"), "true");
    assert!(page.number("node-uptime") > 0);
    assert_eq!(page.number("ask-price"), 1_000_000_000_000);
    assert_eq!(page.number("provider-answered"), answered);
    assert_eq!(page.number("earned-all"), earned);
    assert_eq!(
        page.number("earned-today"),
        earned,
        "every receipt was stored today"
    );
    assert_eq!(page.number("earned-month"), earned);
    assert!(
        page.0.contains(&format!("{earned} base units")),
        "amounts carry their unit"
    );
    assert_eq!(page.number("payout-count"), 1);
    assert_eq!(
        page.number("payout-total"),
        paid,
        "the ledger settled at the highest receipt"
    );
    assert_eq!(page.value("payout-kind"), "settlement");
    assert!(page
        .tag_with(&format!(
            r#"data-channel-id="{channel}" data-amount="{paid}""#
        ))
        .is_some());
    assert_eq!(page.attr("earned-chart", "data-days"), "30");
    let today = &provider_history["series"][29];
    assert!(page
        .tag_with(&format!(
            r#"data-day="{}" data-earned="{earned}""#,
            today["date"].as_str().unwrap()
        ))
        .is_some());
    // The piece came to the provider over Bitswap.
    let bytes_in = page.number("bytes-in-all");
    assert!(bytes_in >= 2_500_000, "{bytes_in}");
    assert_eq!(
        bytes_in,
        provider_history["totals"]["bytes_in"].as_u64().unwrap()
    );
    assert_eq!(page.number("bytes-in-today"), bytes_in);
    let status = get_json(&provider, "/status").await;
    assert_eq!(
        page.number("disk-used"),
        status["storage"]["stored_bytes"].as_u64().unwrap()
    );
    assert!(page.number("disk-free") > 0);
    assert_eq!(page.number("disk-capacity"), GIB);
    assert!(page.tag_with(r#"data-series="used""#).is_some());
    assert_narrow(page);

    // The client's: what it spent, the same receipts from the other side.
    let page = &client_page;
    assert_eq!(page.status("spending"), "ok");
    assert_eq!(page.number("spent-all"), paid);
    assert_eq!(page.number("spent-today"), paid);
    let bytes_out = page.number("bytes-out-all");
    assert!(bytes_out >= 2_500_000, "{bytes_out}");
    assert_eq!(
        bytes_out,
        client_history["totals"]["bytes_out"].as_u64().unwrap()
    );
    assert_eq!(page.value("ask-price"), "", "the client offers no storage");
    assert_narrow(page);

    // Stopped, the provider's last sample is in the database: the same bytes as shown.
    let TestNode {
        daemon, dir: _dir, ..
    } = provider;
    let url = daemon.node().data().default_database_url();
    daemon.stop().await;
    let db = cairn::db::Db::connect(&url).await.unwrap();
    assert_eq!(db.traffic_totals().await.unwrap().0, bytes_in);
    db.close().await;
    client.stop().await;
}

/// The page was laid out 420 px wide and nothing sticks out sideways.
fn assert_narrow(page: &Page) {
    assert_eq!(page.attr("updated", "data-viewport"), PHONE.to_string());
    let width: u32 = page.attr("updated", "data-scroll-width").parse().unwrap();
    assert!(
        width <= PHONE,
        "{width} px wide: {}",
        page.attr("updated", "data-widest")
    );
}

#[tokio::test]
async fn history_refuses_a_bad_window_with_a_reason() {
    let node = TestNode::start().await;
    for bad in ["0", "100000", "abc", "-3", "367"] {
        let response = node
            .http
            .get(node.api("/status/history"))
            .query(&[("days", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "days={bad}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_days", "days={bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("1 to 366"),
            "{body}"
        );
    }
    let fresh = get_json(&node, "/status/history?days=7").await;
    assert_eq!(fresh["days"], 7);
    assert_eq!(fresh["unit"], "base units");
    assert_eq!(fresh["series"].as_array().unwrap().len(), 7);
    assert_eq!(fresh["totals"]["earned"], 0);
    assert_eq!(fresh["payouts"]["count"], 0);
    assert!(fresh["provider"]["pass_rate"].is_null());
    assert!(fresh["node"]["started_at"].as_i64().unwrap() > 0, "{fresh}");
    assert!(fresh["node"]["capacity"].is_null());
    assert_eq!(get_json(&node, "/status/history").await["days"], 30);
    node.stop().await;
}
