//! Amounts and prices: a client takes no ask above its cap (its own, or the configured
//! default) and commits no deposit it was not asked for; amounts the database cannot keep
//! (above i64::MAX) are refused at the entry with a typed reason, and nothing is recorded.

mod common;

use common::{bytes, ok, TestNode};

fn set_ask(node: &TestNode, price: &str) -> std::process::Output {
    node.cli(&[
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        price,
        "--min-duration",
        "1s",
        "--max-duration",
        "365d",
        "--max-piece",
        "1GiB",
        "--capacity",
        "1GiB",
        "--min-challenge-period",
        "1s",
        "--json",
    ])
}

async fn channels(node: &TestNode) -> serde_json::Value {
    node.http
        .get(node.api("/pay/channels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn deals(node: &TestNode) -> serde_json::Value {
    node.http
        .get(node.api("/deals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn is_empty_list(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.values().all(|x| !x.is_array() || is_empty_list(x)),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refuses_asks_over_its_cap_and_commits_no_deposit() {
    let provider = TestNode::start().await;
    // A small default cap, so a plausible ask is over it.
    let client = TestNode::start_with(|c| c.pay.max_price_per_gib_month = 500).await;
    ok(&set_ask(&provider, "1000"));
    let cid = client.add_cid(bytes(10_000, 3), "").await;

    // No cap of its own: the configured default refuses the ask.
    let out = client.make_deal(&cid, &provider, "1h", Some("1s"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("asks 1000 per GiB-month") && stderr.contains("max_price_per_gib_month"),
        "{stderr}"
    );
    // Its own cap, lower than the ask: refused too, through the API with the typed reason.
    let response = client
        .http
        .post(client.api("/deals"))
        .bearer_auth(client.token())
        .json(&serde_json::json!({
            "cid": cid, "provider": provider.tcp_addr(), "duration_secs": 3600,
            "challenge_period_secs": 1, "max_price_per_gib_month": 999,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "price_too_high", "{body}");
    // A cap no amount can have is refused as such.
    let response = client
        .http
        .post(client.api("/deals"))
        .bearer_auth(client.token())
        .json(&serde_json::json!({
            "cid": cid, "provider": provider.tcp_addr(), "duration_secs": 3600,
            "challenge_period_secs": 1, "max_price_per_gib_month": u64::MAX,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "amount_too_large", "{body}");

    // Nothing was committed on either side: no channel, no deposit, no deal.
    for node in [&client, &provider] {
        assert!(
            is_empty_list(&channels(node).await),
            "{}",
            channels(node).await
        );
        assert!(is_empty_list(&deals(node).await), "{}", deals(node).await);
    }

    // With a cap at the ask, the deal goes through as before.
    let deal = common::json(&client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &provider.tcp_addr(),
        "--duration",
        "1h",
        "--challenge-period",
        "1s",
        "--max-price",
        "1000",
        "--json",
    ]));
    assert_eq!(deal["state"], "active", "{deal}");
    client.stop().await;
    provider.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_above_i64_max_are_refused_at_every_entry() {
    let provider = TestNode::start().await;
    let client = TestNode::start().await;
    ok(&set_ask(&provider, "1000"));
    let before: serde_json::Value =
        serde_json::from_str(&ok(&provider.cli(&["provider", "ask", "show", "--json"])))
            .unwrap_or_default();

    // An ask of u64::MAX (and of i64::MAX + 1) is refused where it is set; the old ask stays.
    for price in [u64::MAX, i64::MAX as u64 + 1] {
        let out = set_ask(&provider, &price.to_string());
        assert!(!out.status.success(), "{price}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("largest amount"), "{stderr}");
    }
    let after: serde_json::Value =
        serde_json::from_str(&ok(&provider.cli(&["provider", "ask", "show", "--json"])))
            .unwrap_or_default();
    assert_eq!(before["price_per_gib_month"], after["price_per_gib_month"]);
    // i64::MAX itself is an amount Cairn keeps.
    ok(&set_ask(&provider, &i64::MAX.to_string()));

    // A channel deposit over i64::MAX: 400 with the reason, no channel on either side.
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    for deposit in [u64::MAX, i64::MAX as u64 + 1] {
        let response = client
            .http
            .post(client.api("/pay/channels"))
            .bearer_auth(client.token())
            .json(&serde_json::json!({"peer": provider.daemon.info.id, "deposit": deposit}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{deposit}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "amount_too_large", "{body}");
    }
    for node in [&client, &provider] {
        assert!(
            is_empty_list(&channels(node).await),
            "{}",
            channels(node).await
        );
    }
    // A keep whose cap no amount can have.
    let response = client
        .http
        .post(client.api("/keeps"))
        .bearer_auth(client.token())
        .json(&serde_json::json!({
            "cid": client.add_cid(b"kept".to_vec(), "").await,
            "max_price_per_gib_month": u64::MAX,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("largest amount"),
        "{body}"
    );
    client.stop().await;
    provider.stop().await;
}

#[test]
fn a_default_cap_no_amount_can_have_is_refused_in_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = cairn::config::DataDir::new(dir.path().join("repo"));
    let config = cairn::config::Config::new(true);
    data.init(&config).unwrap();
    let path = data.root().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = format!(
        "max_price_per_gib_month = {}",
        cairn::config::DEFAULT_MAX_PRICE_PER_GIB_MONTH
    );
    assert!(text.contains(&line), "{text}");
    // TOML integers are i64: a bigger cap cannot even be read, and is refused as such.
    for value in [u64::MAX, i64::MAX as u64 + 1] {
        std::fs::write(
            &path,
            text.replace(&line, &format!("max_price_per_gib_month = {value}")),
        )
        .unwrap();
        assert!(
            matches!(
                data.load_config(),
                Err(cairn::config::ConfigError::BadValue { .. })
            ),
            "{value}"
        );
    }
    // i64::MAX is the largest amount, and a valid cap.
    std::fs::write(
        &path,
        text.replace(&line, &format!("max_price_per_gib_month = {}", i64::MAX)),
    )
    .unwrap();
    assert_eq!(
        data.load_config().unwrap().pay.max_price_per_gib_month,
        i64::MAX as u64
    );
}
