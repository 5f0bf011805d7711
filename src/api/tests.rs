//! The routers against in-memory parts: a node assembled from a fresh SQLite database, a
//! memory block store, no network and a manual clock, driven with `oneshot` and no server.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::{api_router, gateway_router, AppState};
use crate::clock::Clock;
use crate::node::{Node, Parts};

const TOKEN: &str = "test-token";

async fn node(dir: &std::path::Path) -> Node {
    let (clock, _) = Clock::manual(1_000_000);
    let mut parts = Parts::in_memory(dir, clock).await.unwrap();
    // Blocks in memory: nothing of this node touches the disk but its database.
    let memory = crate::blockstore::BackendConfig::Memory;
    parts.store = crate::blockstore::Store::open(&memory, None, 0).unwrap();
    Node::assemble(parts, TOKEN)
}

async fn call(router: axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn post(path: &str, body: serde_json::Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn content_round_trips_through_the_api_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let api = api_router(AppState::new(node.clone()));
    let add = Request::post("/api/v1/add")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from("hello from a oneshot"))
        .unwrap();
    let (status, added) = call(api.clone(), add).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let cid = added["cid"].as_str().unwrap().to_string();

    let response = api
        .clone()
        .oneshot(
            Request::get(format!("/api/v1/cat/{cid}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"hello from a oneshot");

    // The gateway router serves the same bytes.
    let gateway = gateway_router(AppState::new(node));
    let response = gateway
        .oneshot(
            Request::get(format!("/ipfs/{cid}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn calls_that_need_the_network_answer_503_offline() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_router(AppState::new(node(dir.path()).await));
    let peer =
        libp2p::PeerId::from_public_key(&libp2p_identity::Keypair::generate_ed25519().public());
    let (status, body) = call(
        api.clone(),
        post(
            "/api/v1/pay/channels",
            serde_json::json!({"peer": peer.to_string(), "deposit": 10}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "offline");

    let (status, body) = call(
        api.clone(),
        post(
            "/api/v1/deals",
            serde_json::json!({
                "cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                "provider": peer.to_string(),
                "duration_secs": 3600,
                "challenge_period_secs": 60,
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "offline");
}

#[tokio::test]
async fn unknown_things_are_404_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_router(AppState::new(node(dir.path()).await));
    let channel = "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    let (status, body) = call(
        api.clone(),
        post(
            &format!("/api/v1/pay/channels/{channel}/close"),
            serde_json::json!({}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "unknown_channel");

    let (status, body) = call(
        api,
        Request::get(format!("/api/v1/pay/channels/{channel}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn writes_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_router(AppState::new(node(dir.path()).await));
    let (status, body) = call(
        api,
        Request::post("/api/v1/gc").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "missing_token");
}
