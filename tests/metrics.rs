//! `/metrics` of live nodes: `promtool check metrics` (Debian's `prometheus` package, which
//! `./test.sh` installs) passes with no warning on what a provider and a client serve after a
//! deal, its proofs and payments; the figures are the real ones (database totals, Bitswap
//! traffic, HTTP latency by route); the format follows the scraper's `Accept`.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn::config::ProviderConfig;
use common::{bytes, eventually, json, TestNode};

/// `name{labels}` -> value, from the text format.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(node: &TestNode, accept: Option<&str>) -> (String, String) {
    let mut request = node.http.get(format!("{}/metrics", node.daemon.info.api));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (content_type, response.text().await.unwrap())
}

/// Runs `promtool check metrics` on `text`; any output (a lint warning) fails.
fn promtool(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; ./test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}

fn provider_terms() -> ProviderConfig {
    ProviderConfig {
        price_per_gib_month: 1_000,
        retrieval_price_per_gib: 0,
        capacity: 1 << 30,
        max_piece_size: None,
        min_duration: Duration::from_secs(1),
        max_duration: Duration::from_secs(365 * 86_400),
        min_challenge_period: Duration::from_secs(1),
        ask_ttl: Duration::from_secs(3_600),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_and_a_client_serve_clean_metrics_with_real_figures() {
    let provider = TestNode::start_with(|c| c.provider = Some(provider_terms())).await;
    let client = TestNode::start().await;
    let cid = client.add_cid(bytes(600_000, 7), "").await;
    let deal = json(&client.make_deal(&cid, &provider, "1h", Some("1s")));
    assert_eq!(deal["state"], "active", "{deal}");
    // The client challenges every second, and pays per passed proof.
    let passed = eventually(Duration::from_secs(30), || {
        json(&client.cli(&["deal", "show", deal["id"].as_str().unwrap(), "--json"]))
            ["proofs_passed"]
            .as_u64()
            .unwrap_or(0)
            >= 2
    })
    .await;
    assert!(passed, "two proofs passed");
    // A request to a route with an id in its path.
    let shown = client
        .http
        .get(client.api(&format!("/deals/{}", deal["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert!(shown.status().is_success());

    for node in [&provider, &client] {
        let (content_type, text) = scrape(node, None).await;
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        promtool(&text);
    }

    let (_, text) = scrape(&client, None).await;
    let c = samples(&text);
    let (_, text) = scrape(&provider, None).await;
    let p = samples(&text);
    let get = |m: &HashMap<String, f64>, key: &str| {
        *m.get(key)
            .unwrap_or_else(|| panic!("{key} missing from {m:#?}"))
    };
    assert_eq!(get(&c, r#"cairn_deals{role="client",state="active"}"#), 1.0);
    assert_eq!(
        get(&p, r#"cairn_deals{role="provider",state="active"}"#),
        1.0
    );
    let audits = get(
        &c,
        r#"cairn_proofs_total{role="verifier",outcome="passed"}"#,
    );
    assert!(audits >= 2.0, "{audits}");
    assert!(
        get(
            &p,
            r#"cairn_proofs_total{role="prover",outcome="answered"}"#
        ) >= 2.0
    );
    // Every passed audit has a latency; the histogram's count covers them.
    assert!(get(&c, r#"cairn_proof_latency_seconds_count{role="verifier"}"#) >= audits);
    assert!(
        get(
            &c,
            r#"cairn_proof_latency_seconds_bucket{le="+Inf",role="verifier"}"#
        ) >= audits
    );
    assert_eq!(get(&c, "cairn_peers"), 1.0);
    assert_eq!(get(&p, "cairn_peers"), 1.0);
    // The transfer went over Bitswap: the provider fetched what the client sent.
    let fetched = get(&p, r#"cairn_bitswap_blocks_total{direction="in"}"#);
    assert!(fetched >= 1.0, "{fetched}");
    assert_eq!(
        get(&c, r#"cairn_bitswap_blocks_total{direction="out"}"#),
        fetched
    );
    assert!(get(&p, r#"cairn_bitswap_bytes_total{direction="in"}"#) >= 600_000.0);
    assert!(get(&c, r#"cairn_bitswap_bytes_total{direction="out"}"#) >= 600_000.0);
    assert_eq!(get(&c, "cairn_bitswap_wantlist_entries"), 0.0);
    // Payments: the client paid per passed proof and the provider earned exactly that.
    let spent = get(&c, "cairn_spent_base_units_total");
    assert!(get(&c, r#"cairn_channels{role="payer",state="open"}"#) >= 1.0);
    assert!(get(&c, r#"cairn_receipts_total{role="payer"}"#) >= 1.0);
    assert!(spent > 0.0, "{spent}");
    // The provider records a receipt once it arrives: wait for the first one.
    let mut p = p;
    for _ in 0..100 {
        if get(&p, "cairn_earned_base_units_total") > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        p = samples(&scrape(&provider, None).await.1);
    }
    let earned = get(&p, "cairn_earned_base_units_total");
    assert!(
        earned > 0.0 && earned <= spent,
        "earned {earned}, spent {spent}"
    );
    assert!(get(&p, r#"cairn_receipts_total{role="payee"}"#) >= 1.0);
    // The store: what it holds, and the disk's free space.
    assert!(get(&p, "cairn_store_used_bytes") >= 600_000.0);
    assert!(get(&p, "cairn_store_free_bytes") > 0.0);
    assert_eq!(get(&p, r#"cairn_build_info{version="0.1.0"}"#), 1.0);
    assert!(get(&p, "process_resident_memory_bytes") > 1_000_000.0);
    assert!(get(&p, "process_open_fds") > 3.0);
    assert!(get(&p, "process_start_time_seconds") > 1.0e9);
    // HTTP latency by route pattern: the deal's id is not a label value.
    let route = r#"cairn_http_request_duration_seconds_count{route="/api/v1/deals/{id}",method="GET",code="200"}"#;
    assert!(get(&c, route) >= 1.0, "{route}");
    assert!(
        !c.keys().any(|k| k.contains(deal["id"].as_str().unwrap())),
        "an id became a label"
    );
    let unknown = client
        .http
        .get(client.api("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let (_, text) = scrape(&client, None).await;
    assert!(
        samples(&text).contains_key(
            r#"cairn_http_request_duration_seconds_count{route="unmatched",method="GET",code="404"}"#
        ),
        "{text}"
    );
    client.stop().await;
    provider.stop().await;
}

#[tokio::test]
async fn the_format_follows_the_accept_header() {
    let node = TestNode::start().await;
    let (content_type, text) = scrape(
        &node,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    // OpenMetrics names a counter's family without `_total`; its samples keep it.
    assert!(
        text.contains("# TYPE cairn_added_bytes counter\n"),
        "{text}"
    );
    assert!(text.contains("\ncairn_added_bytes_total 0\n"), "{text}");

    let (content_type, text) = scrape(&node, Some("text/plain")).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    assert!(
        text.contains("# TYPE cairn_added_bytes_total counter\n"),
        "{text}"
    );
    promtool(&text);
    node.stop().await;
}

/// More challenges than any API page: the status page's counter and the metrics count them all.
#[tokio::test]
async fn proof_counts_are_database_totals_beyond_the_apis_page_of_100() {
    let node = TestNode::start().await;
    for i in 0..321 {
        let outcome = if i < 300 { "passed" } else { "late" };
        sqlx::query(
            "INSERT INTO challenges (id, role, peer, piece_root, piece_size, period, samples, \
             issued_at, deadline, answered_at, outcome, reason, latency_ms, proof_bytes) \
             VALUES ($1, 'verifier', 'peer', 'root', 1024, $2, 8, 0, 1000, 10, $3, NULL, 10, 100)",
        )
        .bind(format!("c{i}"))
        .bind(i as i64)
        .bind(outcome)
        .execute(node.daemon.node().db().pool())
        .await
        .unwrap();
    }
    let status: serde_json::Value = node
        .http
        .get(node.api("/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["proofs"]["passed"], 300, "{status}");
    assert_eq!(status["proofs"]["failed"], 21, "{status}");
    let (_, text) = scrape(&node, None).await;
    let s = samples(&text);
    assert_eq!(
        s[r#"cairn_proofs_total{role="verifier",outcome="passed"}"#],
        300.0
    );
    assert_eq!(
        s[r#"cairn_proofs_total{role="verifier",outcome="late"}"#],
        21.0
    );
    assert_eq!(
        s[r#"cairn_proof_latency_seconds_count{role="verifier"}"#],
        321.0
    );
    assert_eq!(
        s[r#"cairn_proof_latency_seconds_bucket{le="0.01",role="verifier"}"#],
        321.0
    );
    assert_eq!(
        s[r#"cairn_proof_latency_seconds_bucket{le="0.005",role="verifier"}"#],
        0.0
    );
    promtool(&text);
    node.stop().await;
}
