//! The keeper between real daemons on 127.0.0.1: a keep reaches `pinned` with deals on
//! distinct providers, and is repaired when a provider vanishes or deletes the data (a
//! provider that raised its price over the cap is not chosen); with too few providers it
//! reports the shortfall and tops up when one appears. The user sees each decision and why.
//! Then the Pinning Service API: every call, and each bad input with the spec's error body.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use cairn::blockstore::Blockstore;
use cairn::clock::Clock;
use common::{bytes, ok, TestNode};
use serde_json::Value;

/// A provider asking `price` per GiB-month, challenge periods from 1 s.
async fn provider(price: u64) -> TestNode {
    provider_on(Clock::system(), price).await
}

/// Like [`provider`], reading the time from `clock`.
async fn provider_on(clock: Clock, price: u64) -> TestNode {
    let node = TestNode::start_with_clock(clock, |_| {}).await;
    set_price(&node, price).await;
    node
}

async fn set_price(node: &TestNode, price: u64) {
    let terms = serde_json::json!({
        "price_per_gib_month": price, "min_duration_secs": 1, "max_duration_secs": 365 * 86_400,
        "max_piece_size": 1u64 << 30, "capacity": 1u64 << 30, "min_challenge_period_secs": 1,
        "ttl_secs": 3600,
    });
    let response = node
        .http
        .post(node.api("/provider/ask"))
        .bearer_auth(node.token())
        .json(&terms)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

/// `count` providers asking `price`, each connected to `client`, by peer id.
async fn connected_providers(
    client: &TestNode,
    count: usize,
    price: u64,
) -> HashMap<String, TestNode> {
    connected_providers_on(Clock::system(), client, count, price).await
}

async fn connected_providers_on(
    clock: Clock,
    client: &TestNode,
    count: usize,
    price: u64,
) -> HashMap<String, TestNode> {
    let mut providers = HashMap::new();
    for _ in 0..count {
        let p = provider_on(clock.clone(), price).await;
        connect(client, &p).await;
        providers.insert(p.daemon.info.id.clone(), p);
    }
    providers
}

async fn connect(client: &TestNode, to: &TestNode) {
    let net = client.daemon.node().net().running().unwrap();
    net.dial(to.tcp_addr().parse().unwrap()).await.unwrap();
}

async fn report(client: &TestNode, cid: &str) -> Value {
    let response = client
        .http
        .get(client.api(&format!("/keeps/{cid}")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

/// Polls `check` every 200 ms for up to `limit`; panics with `what` and the last value seen.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (bool, Value)>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (done, seen) = check().await;
        if done {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}; last seen:\n{seen:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Providers holding a live, active deal for the keep.
fn active_peers(report: &Value) -> Vec<String> {
    report["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "live" && p["deal_state"] == "active")
        .map(|p| p["peer"].as_str().unwrap().to_string())
        .collect()
}

fn pinned_with(report: &Value, replicas: usize) -> bool {
    report["status"] == "pinned" && active_peers(report).len() == replicas
}

fn events(report: &Value, kind: &str) -> Vec<String> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect()
}

/// Starts keeping `cid` with `replicas` and a 1-second challenge period.
fn keep(client: &TestNode, cid: &str, replicas: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--challenge-period", "1s", "--duration", "1h"];
    args.extend(extra);
    keep_with(client, cid, replicas, &args)
}

fn keep_with(client: &TestNode, cid: &str, replicas: &str, extra: &[&str]) -> Value {
    let mut args = vec!["keep", cid, "--replicas", replicas, "--json"];
    args.extend(extra);
    serde_json::from_str(&ok(&client.cli(&args))).unwrap()
}

async fn pinned(client: &TestNode, cid: &str, replicas: usize, limit: Duration) -> Value {
    wait_for("pinned", limit, || async {
        let r = report(client, cid).await;
        (pinned_with(&r, replicas), r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keep_reaches_pinned_and_a_vanished_provider_is_replaced() {
    // Every node reads one manual clock: hourly challenges over a month-long keep, with the
    // test moving time an hour per look instead of waiting for it.
    let (clock, hand) = Clock::manual_now();
    let client = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let mut providers = connected_providers_on(clock, &client, 3, 1000).await;
    let cid = client.add_cid(bytes(1_000_000, 71), "").await;
    let created = keep_with(
        &client,
        &cid,
        "2",
        &["--challenge-period", "1h", "--duration", "30d"],
    );
    assert_eq!(created["cid"], cid.as_str());
    assert_eq!(created["policy"]["replicas"], 2);

    let first = pinned(&client, &cid, 2, Duration::from_secs(30)).await;
    assert_eq!(first["healthy"], 2);
    assert_eq!(first["shortfall"], 0);
    let chosen = active_peers(&first);
    let (spare, _) = providers
        .iter()
        .find(|(id, _)| !chosen.contains(id))
        .unwrap();
    let spare = spare.clone();

    // The provider vanishes: it is dropped with the reason, and the spare takes its place.
    let gone = chosen[0].clone();
    providers.remove(&gone).unwrap().stop().await;
    let repaired = wait_for("repaired", Duration::from_secs(40), || async {
        hand.advance(Duration::from_secs(3600));
        let r = report(&client, &cid).await;
        let peers = active_peers(&r);
        let done = pinned_with(&r, 2) && peers.contains(&spare) && !peers.contains(&gone);
        (done, r)
    })
    .await;
    let dropped = &repaired["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer"] == gone.as_str())
        .unwrap()
        .clone();
    assert_eq!(dropped["state"], "dropped");
    assert_eq!(
        dropped["deal_state"], "cancelled",
        "no longer challenged or paid"
    );
    assert!(
        dropped["reason"].as_str().unwrap().contains("unreachable"),
        "{dropped}"
    );
    let drops = events(&repaired, "drop");
    assert!(
        drops
            .iter()
            .any(|d| d.contains(&gone) && d.contains("unreachable")),
        "{drops:?}"
    );
    // Passed proofs were paid for, and the views say how much (per provider and in all).
    let paid = wait_for("paid", Duration::from_secs(10), || async {
        hand.advance(Duration::from_secs(3600));
        let r = report(&client, &cid).await;
        (r["paid"].as_u64().unwrap_or(0) > 0, r)
    })
    .await;
    let per_provider: u64 = paid["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["paid"].as_u64().unwrap())
        .sum();
    assert_eq!(paid["paid"].as_u64(), Some(per_provider));
    // Warnings came before the penalty: the missed proofs, then replicas below the policy.
    let warnings = events(&repaired, "warning");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&gone) && w.contains("at risk")),
        "{warnings:?}"
    );
    assert!(warnings.iter().any(|w| w.contains("replicas below policy")));
    assert!(events(&repaired, "deal").iter().any(|d| d.contains(&spare)));
    assert!(events(&repaired, "status")
        .iter()
        .any(|s| s.starts_with("pinning -> pinned")));

    // The user sees it all from the CLI, and the providers' scores with their reasons.
    let shown = ok(&client.cli(&["keep", "show", &cid]));
    assert!(
        shown.contains("dropped") && shown.contains(&spare),
        "{shown}"
    );
    let listed: Value = serde_json::from_str(&ok(&client.cli(&["keep", "ls", "--json"]))).unwrap();
    assert_eq!(listed["keeps"][0]["status"], "pinned");
    let scored: Value =
        serde_json::from_str(&ok(&client.cli(&["providers", "--scores", "--json"]))).unwrap();
    let scores = scored["providers"].as_array().unwrap();
    assert_eq!(scores.len(), 2, "the vanished provider is not listed");
    for p in scores {
        let value = p["score"]["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value));
        assert!(p["score"]["explanation"]
            .as_str()
            .unwrap()
            .contains("pass rate"));
    }
    for (_, p) in providers {
        p.stop().await;
    }
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_deletes_the_data_is_replaced_and_one_over_the_price_cap_is_not_chosen() {
    let client = TestNode::start().await;
    let providers = connected_providers(&client, 3, 1000).await;
    let cid = client.add_cid(bytes(1_000_000, 72), "").await;
    keep(&client, &cid, "2", &["--max-price-per-gib-month", "2000"]);
    let first = pinned(&client, &cid, 2, Duration::from_secs(30)).await;
    let chosen = active_peers(&first);

    // The provider left out raises its price over the cap; a fair one appears.
    let dear = providers
        .keys()
        .find(|id| !chosen.contains(id))
        .unwrap()
        .clone();
    set_price(&providers[&dear], 5000).await;
    let fair = provider(1500).await;
    connect(&client, &fair).await;
    let fair_id = fair.daemon.info.id.clone();

    // A chosen provider deletes the data behind the client's back: its proofs fail.
    let cheat = &providers[&chosen[0]];
    let root = cairn::content::parse_cid(&cid).unwrap();
    for block in cheat
        .daemon
        .node()
        .content()
        .dag_blocks(&root)
        .await
        .unwrap()
    {
        cheat
            .daemon
            .node()
            .content()
            .store()
            .delete(&block)
            .await
            .unwrap();
    }
    let repaired = wait_for("replaced", Duration::from_secs(40), || async {
        let r = report(&client, &cid).await;
        let peers = active_peers(&r);
        (pinned_with(&r, 2) && peers.contains(&fair_id), r)
    })
    .await;
    let drops = events(&repaired, "drop");
    assert!(
        drops
            .iter()
            .any(|d| d.contains(&chosen[0]) && d.contains("failed proofs in a row")),
        "{drops:?}"
    );
    assert!(!active_peers(&repaired).contains(&dear));
    let dear_deals = providers[&dear]
        .daemon
        .node()
        .db()
        .list_deals("provider", None)
        .await
        .unwrap();
    assert!(
        dear_deals.is_empty(),
        "the provider over the cap got no deal"
    );
    for p in providers.into_values().chain([fair]) {
        p.stop().await;
    }
    client.stop().await;
}

async fn metric(node: &TestNode, name: &str) -> Option<i64> {
    let url = format!("{}/metrics", node.daemon.info.api);
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread")]
async fn too_few_providers_leave_a_reported_shortfall_that_is_topped_up_when_one_appears() {
    let client = TestNode::start().await;
    let only = provider(1000).await;
    connect(&client, &only).await;
    let cid = client.add_cid(bytes(800_000, 73), "").await;
    keep(&client, &cid, "2", &[]);
    let short = wait_for("shortfall", Duration::from_secs(30), || async {
        let r = report(&client, &cid).await;
        let done = r["shortfall"] == 1 && active_peers(&r).len() == 1 && r["healthy"] == 1;
        (done, r)
    })
    .await;
    assert_eq!(
        short["status"], "pinning",
        "one replica of two is not pinned"
    );
    let details = short["status_details"].as_str().unwrap();
    assert!(
        details.contains("1 of 2 replicas healthy; 1 short"),
        "{details}"
    );
    assert!(events(&short, "warning")
        .iter()
        .any(|w| w.contains("replicas below policy")));
    assert_eq!(
        metric(&client, "cairn_keeper_replica_shortfall").await,
        Some(1)
    );
    assert_eq!(metric(&client, "cairn_keeper_keeps_pinned").await, Some(0));

    let late = provider(1000).await;
    connect(&client, &late).await;
    let topped = pinned(&client, &cid, 2, Duration::from_secs(30)).await;
    assert_eq!(topped["shortfall"], 0);
    assert!(active_peers(&topped).contains(&late.daemon.info.id));
    assert_eq!(
        metric(&client, "cairn_keeper_replica_shortfall").await,
        Some(0)
    );
    assert_eq!(metric(&client, "cairn_keeper_keeps_pinned").await, Some(1));

    // Removing the keep stops paying for it: its deals are cancelled.
    ok(&client.cli(&["keep", "rm", &cid]));
    let deals = client
        .daemon
        .node()
        .db()
        .list_deals("client", None)
        .await
        .unwrap();
    assert!(deals
        .iter()
        .all(|d| d.state == cairn::market::DealState::Cancelled));
    assert!(!client.cli(&["keep", "show", &cid]).status.success());
    for node in [only, late, client] {
        node.stop().await;
    }
}

// The IPFS Pinning Service API.

/// A request to the node's `/pins` API with its token.
fn pins(node: &TestNode, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let url = format!("{}/pins{path}", node.daemon.info.api);
    node.http.request(method, url).bearer_auth(node.token())
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the spec's `Failure` body: `{"error": {"reason": ..., "details": ...}}`.
#[track_caller]
fn assert_failure(got: &(u16, Value), status: u16, reason: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    let error = got.1["error"].as_object().expect("an error object");
    assert_eq!(error["reason"], reason, "{}", got.1);
    assert!(!error["details"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pinning_service_api_creates_lists_replaces_and_deletes_pins() {
    use reqwest::Method;
    let node = TestNode::start().await;
    let mut made = Vec::new();
    for (i, name) in ["alpha", "beta", "Gamma Ray"].iter().enumerate() {
        // Added unpinned: the pin the node holds is the keeper's own.
        let cid = node
            .add_cid(bytes(10_000, 80 + i as u64), "?pin=false")
            .await;
        let body = serde_json::json!({
            "cid": cid, "name": name, "origins": [node.tcp_addr()],
            "meta": {"app_id": if i < 2 { "app-1" } else { "app-2" }, "replicas": "1"},
        });
        let (status, pin) = send(pins(&node, Method::POST, "").json(&body)).await;
        assert_eq!(status, 202, "{pin}");
        assert_eq!(pin["pin"]["cid"], cid.as_str());
        assert_eq!(pin["pin"]["name"], *name);
        assert_eq!(pin["status"], "queued");
        assert_eq!(
            pin["info"]["replicas"], "1",
            "meta overrides the default policy"
        );
        assert!(pin["info"]["status_details"].is_string());
        let delegates = pin["delegates"].as_array().unwrap();
        assert!(delegates[0].as_str().unwrap().contains("/p2p/"));
        assert!(pin["created"].as_str().unwrap().ends_with('Z'));
        made.push(pin);
    }
    let id = |pin: &Value| pin["requestid"].as_str().unwrap().to_string();
    let all = "?status=queued,pinning,pinned,failed";
    let ids = |list: &Value| -> Vec<String> {
        list["results"].as_array().unwrap().iter().map(id).collect()
    };

    // Without a status filter only pinned pins are listed (none: there are no providers).
    let (_, listed) = send(pins(&node, Method::GET, "")).await;
    assert_eq!(listed["count"], 0);
    let (status, listed) = send(pins(&node, Method::GET, all)).await;
    assert_eq!(status, 200);
    assert_eq!(listed["count"], 3);
    assert_eq!(
        ids(&listed),
        [id(&made[2]), id(&made[1]), id(&made[0])],
        "newest first"
    );

    // Pagination: a page of two, then the rest before the oldest of that page.
    let (_, page) = send(pins(&node, Method::GET, &format!("{all}&limit=2"))).await;
    assert_eq!((page["count"].as_u64(), ids(&page).len()), (Some(3), 2));
    let oldest = page["results"][1]["created"].as_str().unwrap().to_string();
    let query = [("status", "queued"), ("before", oldest.as_str())];
    let (_, rest) = send(pins(&node, Method::GET, "").query(&query)).await;
    assert_eq!(ids(&rest), [id(&made[0])]);
    let created = made[0]["created"].as_str().unwrap();
    let query = [("status", "queued"), ("after", created)];
    let (_, newer) = send(pins(&node, Method::GET, "").query(&query)).await;
    assert_eq!(ids(&newer), [id(&made[2]), id(&made[1])]);

    // Filters: cid, name with each match strategy, meta.
    let cid0 = made[0]["pin"]["cid"].as_str().unwrap();
    for (query, want) in [
        (vec![("cid", cid0)], vec![id(&made[0])]),
        (vec![("name", "beta")], vec![id(&made[1])]),
        (vec![("name", "gamma ray")], vec![]),
        (
            vec![("name", "gamma ray"), ("match", "iexact")],
            vec![id(&made[2])],
        ),
        (
            vec![("name", "a"), ("match", "partial")],
            vec![id(&made[2]), id(&made[1]), id(&made[0])],
        ),
        (
            vec![("name", "GAM"), ("match", "ipartial")],
            vec![id(&made[2])],
        ),
        (
            vec![("meta", r#"{"app_id":"app-1"}"#)],
            vec![id(&made[1]), id(&made[0])],
        ),
    ] {
        let mut query = query.clone();
        query.push(("status", "queued"));
        let (status, got) = send(pins(&node, Method::GET, "").query(&query)).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&got), want, "{query:?}");
    }

    // Get, replace (a new request id; the old one is gone), delete (202, then 404).
    let (status, one) = send(pins(&node, Method::GET, &format!("/{}", id(&made[1])))).await;
    assert_eq!((status, one["pin"]["name"].as_str()), (200, Some("beta")));
    let body = serde_json::json!({"cid": cid0, "name": "alpha v2"});
    let (status, replaced) =
        send(pins(&node, Method::POST, &format!("/{}", id(&made[0]))).json(&body)).await;
    assert_eq!(status, 202, "{replaced}");
    assert_ne!(id(&replaced), id(&made[0]));
    assert_eq!(replaced["pin"]["name"], "alpha v2");
    assert_eq!(
        replaced["info"]["replicas"], "3",
        "the node's default policy"
    );
    let gone = send(pins(&node, Method::GET, &format!("/{}", id(&made[0])))).await;
    assert_failure(&gone, 404, "NOT_FOUND");
    let (_, listed) = send(pins(&node, Method::GET, all)).await;
    assert_eq!(listed["count"], 3);
    let response = pins(&node, Method::DELETE, &format!("/{}", id(&made[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let gone = send(pins(&node, Method::GET, &format!("/{}", id(&made[1])))).await;
    assert_failure(&gone, 404, "NOT_FOUND");
    let (_, listed) = send(pins(&node, Method::GET, all)).await;
    assert_eq!(listed["count"], 2);
    // The node pins each kept CID itself, and lets go of the deleted one only.
    let beta = made[1]["pin"]["cid"].as_str().unwrap();
    let db = node.daemon.node().db().clone();
    wait_for("local pins", Duration::from_secs(10), || async {
        let pinned: Vec<String> = db
            .list_pins()
            .await
            .unwrap()
            .iter()
            .map(|p| p.cid.to_string())
            .collect();
        let done = pinned.len() == 2
            && pinned.iter().any(|c| c == cid0)
            && !pinned.iter().any(|c| c == beta);
        (done, serde_json::json!(pinned))
    })
    .await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pinning_service_api_refuses_bad_input_with_the_specs_error_bodies() {
    use reqwest::Method;
    let node = TestNode::start().await;
    let cid = node.add_cid(bytes(5_000, 90), "").await;
    let (status, kept) =
        send(pins(&node, Method::POST, "").json(&serde_json::json!({"cid": cid}))).await;
    assert_eq!(status, 202);
    let url = format!("{}/pins", node.daemon.info.api);

    // Tokens: missing, wrong.
    assert_failure(&send(node.http.get(&url)).await, 401, "UNAUTHORIZED");
    assert_failure(
        &send(node.http.get(&url).bearer_auth("nope")).await,
        401,
        "UNAUTHORIZED",
    );
    let body = serde_json::json!({"cid": cid});
    let wrong = node.http.post(&url).bearer_auth("0".repeat(64)).json(&body);
    assert_failure(&send(wrong).await, 401, "UNAUTHORIZED");

    // Invalid CIDs, bodies and meta.
    for (body, reason) in [
        (serde_json::json!({"cid": "not-a-cid"}), "INVALID_CID"),
        (serde_json::json!({"cid": ""}), "INVALID_CID"),
        (serde_json::json!({"name": "no cid"}), "INVALID_BODY"),
        (
            serde_json::json!({"cid": cid, "meta": {"replicas": "many"}}),
            "INVALID_META",
        ),
        (
            serde_json::json!({"cid": cid, "meta": {"replicas": "0"}}),
            "INVALID_META",
        ),
        (
            serde_json::json!({"cid": cid, "meta": {"duration": "forever"}}),
            "INVALID_META",
        ),
        (
            serde_json::json!({"cid": cid, "meta": {"max_price_per_gib_month": "cheap"}}),
            "INVALID_META",
        ),
        (
            serde_json::json!({"cid": cid, "meta": {"replicas": 2}}),
            "INVALID_META",
        ),
        (
            serde_json::json!({"cid": cid, "name": "n".repeat(256)}),
            "BAD_REQUEST",
        ),
        (
            serde_json::json!({"cid": cid, "origins": ["not a multiaddr"]}),
            "BAD_REQUEST",
        ),
    ] {
        let got = send(pins(&node, Method::POST, "").json(&body)).await;
        assert_failure(&got, 400, reason);
    }
    let not_json = pins(&node, Method::POST, "").body("{cid");
    assert_failure(&send(not_json).await, 400, "INVALID_BODY");

    // List parameters out of range or malformed.
    for (query, reason) in [
        ("limit=0", "INVALID_LIMIT"),
        ("limit=1001", "INVALID_LIMIT"),
        ("limit=-1", "INVALID_LIMIT"),
        ("meta=not-json", "INVALID_META"),
        ("meta=%7B%22a%22%3A1%7D", "INVALID_META"),
        ("status=done", "INVALID_STATUS"),
        ("cid=nope", "INVALID_CID"),
        ("before=yesterday", "INVALID_TIMESTAMP"),
        ("match=fuzzy", "INVALID_MATCH"),
    ] {
        let got = send(pins(&node, Method::GET, &format!("?{query}"))).await;
        assert_failure(&got, 400, reason);
    }

    // Unknown request ids.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let request = pins(&node, method.clone(), "/no-such-request").json(&body);
        assert_failure(&send(request).await, 404, "NOT_FOUND");
    }

    // Nothing was lost or added by any of it.
    let (_, listed) = send(pins(
        &node,
        Method::GET,
        "?status=queued,pinning,pinned,failed",
    ))
    .await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["results"][0]["requestid"], kept["requestid"]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pin_whose_dag_cannot_be_fetched_fails_with_the_reason() {
    use reqwest::Method;
    let node =
        TestNode::start_with(|c| c.keeper.fetch_timeout = std::time::Duration::from_secs(2)).await;
    // A CID nobody has: the hash of bytes never added anywhere.
    let missing = cairn::content::Block::encode(
        cairn::content::RAW,
        cairn::content::HashAlg::Sha2_256,
        &b"nobody has this"[..],
    );
    let body = serde_json::json!({"cid": missing.cid().to_string()});
    let (status, pin) = send(pins(&node, Method::POST, "").json(&body)).await;
    assert_eq!(status, 202);
    let path = format!("/{}", pin["requestid"].as_str().unwrap());
    let failed = wait_for("failed", Duration::from_secs(20), || async {
        let (_, got) = send(pins(&node, Method::GET, &path)).await;
        (got["status"] == "failed", got)
    })
    .await;
    let details = failed["info"]["status_details"].as_str().unwrap();
    assert!(details.starts_with("could not fetch the DAG"), "{details}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_cut_off_from_every_peer_drops_nobody_until_it_is_connected_again() {
    let client = TestNode::start().await;
    let first = provider(1000).await;
    connect(&client, &first).await;
    let cid = client.add_cid(common::bytes(300_000, 91), "").await;
    keep(&client, &cid, "1", &[]);
    pinned(&client, &cid, 1, Duration::from_secs(30)).await;
    let held_by = active_peers(&report(&client, &cid).await);

    // Its only peer gone, the client cannot tell its own network from the provider's: it
    // warns, and keeps the deal.
    first.stop().await;
    let warned = wait_for("an isolation warning", Duration::from_secs(30), || async {
        let r = report(&client, &cid).await;
        let seen = events(&r, "warning")
            .iter()
            .any(|w| w.contains("no connected peer"));
        (seen, r)
    })
    .await;
    assert!(events(&warned, "drop").is_empty(), "{warned:#}");
    let live: Vec<_> = warned["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "live")
        .map(|p| p["peer"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(live, held_by);

    // Connected again (to a new provider), the silent one is dropped and replaced.
    let second = provider(1000).await;
    connect(&client, &second).await;
    let repaired = pinned(&client, &cid, 1, Duration::from_secs(40)).await;
    assert_eq!(
        active_peers(&repaired),
        vec![second.daemon.node().peer_id().to_string()]
    );
    assert!(!events(&repaired, "drop").is_empty());
    second.stop().await;
    client.stop().await;
}

/// The client's deals that are not over (not cancelled, failed or expired), by id. A deal that
/// failed (a transfer that timed out on a loaded machine, say) is replaced by the keeper, and
/// the replacement is the one the requests share.
async fn live_client_deals(client: &TestNode) -> Vec<String> {
    let deals = client
        .daemon
        .node()
        .db()
        .list_deals("client", None)
        .await
        .unwrap();
    deals
        .into_iter()
        .filter(|d| !d.state.is_final())
        .map(|d| d.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pin_requests_for_one_cid_share_its_deals_and_removing_one_keeps_them() {
    use reqwest::Method;
    let client = TestNode::start().await;
    let providers = connected_providers(&client, 3, 1000).await;
    let cid = client.add_cid(bytes(200_000, 91), "?pin=false").await;
    let body = serde_json::json!({
        "cid": cid, "origins": [client.tcp_addr()],
        "meta": {"replicas": "2", "challenge_period": "1s", "duration": "1h"},
    });

    // Twenty requests for one CID at once: every one is accepted (no 5xx from a busy
    // database) and each gets its own request id.
    let requests = (0..20).map(|_| send(pins(&client, Method::POST, "").json(&body)));
    let answers = futures::future::join_all(requests).await;
    let mut ids = Vec::new();
    for (status, pin) in &answers {
        assert_eq!(*status, 202, "{pin}");
        ids.push(pin["requestid"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);

    // They share one set of deals: two, not forty.
    wait_for("every request pinned", Duration::from_secs(60), || async {
        let (_, list) = send(pins(&client, Method::GET, "?status=pinned&limit=1000")).await;
        (list["count"] == 20, list)
    })
    .await;
    let shared = live_client_deals(&client).await;
    assert_eq!(shared.len(), 2, "{shared:?}");

    // Removing all but one request leaves the deals running for the last one.
    for id in &ids[1..] {
        let (status, body) = send(pins(&client, Method::DELETE, &format!("/{id}"))).await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(live_client_deals(&client).await, shared);
    let (_, last) = send(pins(&client, Method::GET, &format!("/{}", ids[0]))).await;
    assert_eq!(last["status"], "pinned", "{last}");

    // Removing the last one ends them.
    let (status, _) = send(pins(&client, Method::DELETE, &format!("/{}", ids[0]))).await;
    assert_eq!(status, 202);
    assert!(live_client_deals(&client).await.is_empty());
    for p in providers.into_values() {
        p.stop().await;
    }
    client.stop().await;
}
