//! The Kubo RPC router against in-memory parts (no server, no network), driven with
//! `oneshot`: request shapes, every bad-input path, and what is left behind after one.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api::{api_router, AppState};
use crate::clock::Clock;
use crate::node::{Node, Parts};

const TOKEN: &str = "kubo-test-token";
const BOUNDARY: &str = "----cairn-test-boundary";

async fn node(dir: &std::path::Path) -> Node {
    let (clock, _) = Clock::manual(1_000_000);
    let mut parts = Parts::in_memory(dir, clock).await.unwrap();
    let memory = crate::blockstore::BackendConfig::Memory;
    parts.store = crate::blockstore::Store::open(&memory, None, 0).unwrap();
    Node::assemble(parts, TOKEN)
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Bytes,
    /// The body ended in an error rather than its end.
    cut: bool,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn lines(&self) -> Vec<Value> {
        self.body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(node: &Node, request: Request<Body>) -> Answer {
    let response = api_router(AppState::new(node.clone()))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    // Read until the end or the cut a failed stream ends with.
    let mut chunks = response.into_body().into_data_stream();
    let mut body = Vec::new();
    let mut cut = false;
    while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
        match chunk {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    Answer {
        status,
        content_type,
        body: Bytes::from(body),
        cut,
    }
}

fn rpc(path: &str) -> Request<Body> {
    Request::post(format!("/api/v0/{path}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

/// A multipart body as kubo-rpc-client writes it: percent-encoded file names, directories
/// typed `application/x-directory`.
fn multipart(parts: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (path, data)) in parts.iter().enumerate() {
        let name = percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC);
        let kind = if data.is_some() { "file" } else { "dir" };
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{kind}-{i}\"; filename=\"{name}\"\r\nContent-Type: {}\r\n\r\n",
                if data.is_some() { "application/octet-stream" } else { "application/x-directory" }
            )
            .as_bytes(),
        );
        body.extend_from_slice(data.unwrap_or(b""));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(format!("/api/v0/{path}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body.into())
        .unwrap()
}

/// The vectors' file bytes: byte i = (i * 31 + 7) % 251.
fn vector_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

async fn add_one(node: &Node, query: &str, data: &[u8]) -> Vec<Value> {
    let body = multipart(&[("f.bin", Some(data))]);
    let answer = send(node, upload(&format!("add?{query}"), body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.lines()
}

fn assert_kubo_error(answer: &Answer, status: StatusCode, message_part: &str) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.content_type, "application/json");
    let body = answer.json();
    assert_eq!(body["Type"], "error", "{body}");
    assert!(body["Code"].is_u64(), "{body}");
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

#[tokio::test]
async fn an_unknown_command_is_kubos_404_and_a_get_is_405() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    for path in ["nope", "pin/nope", "files/stat", "nope/deeper/still"] {
        let answer = send(&node, rpc(path)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.text(), "404 page not found\n", "{path:?}");
        assert!(answer.content_type.starts_with("text/plain"));
    }
    let get = Request::get("/api/v0/version").body(Body::empty()).unwrap();
    let answer = send(&node, get).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.text(), "405 - Method Not Allowed\n");
}

#[tokio::test]
async fn a_missing_arg_is_kubos_400_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    for (path, arg) in [
        ("cat", "ipfs-path"),
        ("get", "ipfs-path"),
        ("ls", "ipfs-path"),
        ("block/get", "cid"),
        ("block/stat", "cid"),
        ("dag/export", "root"),
        ("pin/add", "ipfs-path"),
        ("pin/rm", "ipfs-path"),
        ("swarm/connect", "address"),
        ("routing/findprovs", "key"),
    ] {
        let answer = send(&node, rpc(path)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.text(), format!("argument \"{arg}\" is required\n"));
    }
    let answer = send(&node, rpc("cat?arg=bafkqaaa&offset=minus-one")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("offset"), "{}", answer.text());
}

#[tokio::test]
async fn writes_need_the_token_as_bearer_or_basic_and_reads_do_not() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let body = || multipart(&[("a.txt", Some(b"hello".as_slice()))]);
    for authorization in [None, Some("Bearer wrong".to_string())] {
        let mut request = Request::post("/api/v0/add").header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = send(&node, request.body(Body::from(body())).unwrap()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(
            answer.text().starts_with("403 - Forbidden"),
            "{}",
            answer.text()
        );
    }
    assert!(node.content().list_pins().await.unwrap().is_empty());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("kubo:{TOKEN}"));
    let request = Request::post("/api/v0/add")
        .header("authorization", format!("Basic {basic}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body()))
        .unwrap();
    let answer = send(&node, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let read = Request::post("/api/v0/version")
        .body(Body::empty())
        .unwrap();
    let answer = send(&node, read).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["Version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn add_gives_kubos_cids_by_default_and_with_cairns_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    // Kubo's defaults: the unixfs-v0-2015 vectors of tests/vectors/unixfs.
    for (len, cid) in [
        (1, "QmXC9WjuLo7EfydBdbWyvpGif62nrxbDCX2vcz9ZqLTQvV"),
        (262_144, "QmNjsPT1urL55WXngMVgvZrn2apSux229uFBoAgmKTtjAd"),
        (262_145, "QmP8yTqWQcb3qVoBcdE4pTUzxh9kazndg5ELrbXBmdj17M"),
    ] {
        let lines = add_one(&node, "stream-channels=true", &vector_bytes(len)).await;
        let last = lines.last().unwrap();
        assert_eq!(last["Hash"], cid, "{len} bytes");
        assert_eq!(last["Name"], "f.bin");
        assert!(last["Size"].is_string(), "{last}");
    }
    let lines = add_one(&node, "chunker=size-1024", &vector_bytes(178_177)).await;
    assert_eq!(
        lines[0]["Hash"],
        "QmTJe9wsw7Y19TcE3f8NfWg6UGC9jmQ1X2FhmzsLUJDWA5"
    );
    let lines = add_one(&node, "profile=unixfs-v1-2025", &vector_bytes(1_048_577)).await;
    assert_eq!(
        lines[0]["Hash"],
        "bafybeiaqfhzf4fft5arkdimw7quirxuglvotfah44yawdjg6zujvn6lidu"
    );
    // CIDv1 turns raw leaves on, as in Kubo: one chunk is one raw block.
    let lines = add_one(&node, "cid-version=1", &vector_bytes(1)).await;
    assert!(
        lines[0]["Hash"].as_str().unwrap().starts_with("bafkrei"),
        "{:?}",
        lines
    );
    let lines = add_one(&node, "hash=blake3", &vector_bytes(1)).await;
    assert!(
        lines[0]["Hash"].as_str().unwrap().starts_with("bafkr4"),
        "{:?}",
        lines
    );
    let pins = node.content().list_pins().await.unwrap();
    assert_eq!(pins.len(), 7);
}

#[tokio::test]
async fn a_directory_upload_names_every_entry_and_pins_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let c = vector_bytes(70_000);
    let b = vector_bytes(3_000);
    let body = multipart(&[
        ("root", None),
        ("root/a.txt", Some(b"alpha".as_slice())),
        ("root/sub/b.bin", Some(&b)),
        ("root/sub/deeper/c.bin", Some(&c)),
        ("root/empty", None),
    ]);
    let answer = send(&node, upload("add?progress=true", body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let lines = answer.lines();
    let root = lines.last().unwrap();
    assert_eq!(root["Name"], "root");
    assert_eq!(
        root["Hash"],
        "QmTqjrG7KB9UHPoXSMRtuwojDYU6o2J84pnMTG6RMNi6Je"
    );
    let named: Vec<&str> = lines
        .iter()
        .filter(|l| l.get("Hash").is_some())
        .map(|l| l["Name"].as_str().unwrap())
        .collect();
    for name in [
        "root/a.txt",
        "root/sub/b.bin",
        "root/sub/deeper/c.bin",
        "root/sub",
        "root/empty",
    ] {
        assert!(named.contains(&name), "{name} missing from {named:?}");
    }
    let progress: Vec<&Value> = lines.iter().filter(|l| l.get("Bytes").is_some()).collect();
    assert!(
        progress
            .iter()
            .any(|l| l["Name"] == "root/sub/deeper/c.bin" && l["Bytes"] == 70_000),
        "{progress:?}"
    );
    let pins = node.content().list_pins().await.unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(
        pins[0].cid.to_string(),
        "QmTqjrG7KB9UHPoXSMRtuwojDYU6o2J84pnMTG6RMNi6Je"
    );

    // ls: the root's links with UnixFS types; cat through a path, with a range.
    let answer = send(
        &node,
        rpc("ls?arg=/ipfs/QmTqjrG7KB9UHPoXSMRtuwojDYU6o2J84pnMTG6RMNi6Je"),
    )
    .await;
    let listing = answer.json();
    let links = listing["Objects"][0]["Links"].as_array().unwrap();
    let kinds: Vec<(String, u64, u64)> = links
        .iter()
        .map(|l| {
            (
                l["Name"].as_str().unwrap().to_string(),
                l["Type"].as_u64().unwrap(),
                l["Size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("a.txt".into(), 2, 5),
            ("empty".into(), 1, 0),
            ("sub".into(), 1, 0)
        ]
    );
    let answer = send(
        &node,
        rpc("cat?arg=QmTqjrG7KB9UHPoXSMRtuwojDYU6o2J84pnMTG6RMNi6Je/sub/deeper/c.bin&offset=100&length=50000"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(&answer.body[..], &c[100..50_100]);
    let answer = send(
        &node,
        rpc("cat?arg=QmTqjrG7KB9UHPoXSMRtuwojDYU6o2J84pnMTG6RMNi6Je/sub"),
    )
    .await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "directory");
}

#[tokio::test]
async fn several_top_level_files_are_each_a_root_or_one_wrapped_directory() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let body = multipart(&[
        ("x.txt", Some(b"x".as_slice())),
        ("y.txt", Some(b"y".as_slice())),
    ]);
    let answer = send(&node, upload("add", body.clone())).await;
    let lines = answer.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(node.content().list_pins().await.unwrap().len(), 2);
    let answer = send(
        &node,
        upload("add?wrap-with-directory=true&pin=false", body),
    )
    .await;
    let lines = answer.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[2]["Name"], "");
    let wrapper = lines[2]["Hash"].as_str().unwrap().to_string();
    assert_eq!(
        node.content().list_pins().await.unwrap().len(),
        2,
        "pin=false pins nothing"
    );
    let answer = send(&node, rpc(&format!("cat?arg=/ipfs/{wrapper}/y.txt"))).await;
    assert_eq!(&answer.body[..], b"y");
}

#[tokio::test]
async fn a_malformed_multipart_body_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    // Not multipart at all: Kubo's missing file argument.
    let request = Request::post("/api/v0/add")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from("raw bytes"))
        .unwrap();
    let answer = send(&node, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.text(), "file argument 'path' is required\n");
    // Multipart without a boundary.
    let request = Request::post("/api/v0/add")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "multipart/form-data")
        .body(Body::from("x"))
        .unwrap();
    let answer = send(&node, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    // A body that is not what its boundary says.
    let answer = send(&node, upload("add", "garbage with no boundary at all")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    // A part whose path tries to leave the tree, after a good part.
    let body = multipart(&[
        ("ok.txt", Some(b"fine".as_slice())),
        ("../escape", Some(b"no".as_slice())),
    ]);
    let answer = send(&node, upload("add", body)).await;
    let lines = answer.lines();
    let error = lines.last().unwrap();
    assert!(answer.cut, "a failed stream is cut, not ended");
    assert_eq!(error["Type"], "error", "{lines:?}");
    assert!(error["Message"].as_str().unwrap().contains("not allowed"));
    // A block/put and a dag/import with no parts.
    let empty = format!("--{BOUNDARY}--\r\n");
    let answer = send(&node, upload("block/put", empty.clone())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.text(), "file argument 'data' is required\n");
    let answer = send(&node, upload("dag/import", empty)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(node.content().list_pins().await.unwrap().is_empty());
    assert_eq!(node.content().block_count().await.unwrap(), 0);
    assert_eq!(node.content().store().used_bytes(), 0);
}

#[tokio::test]
async fn an_add_cut_mid_stream_pins_nothing_and_keeps_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let whole = multipart(&[("big.bin", Some(&vector_bytes(3 << 20)))]);
    let head = Bytes::copy_from_slice(&whole[..2 << 20]);
    for query in ["add", "add?progress=true"] {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(head.clone()),
            Err(std::io::Error::other("connection reset by peer")),
        ];
        let body = Body::from_stream(futures::stream::iter(chunks));
        let answer = send(&node, upload(query, body)).await;
        if answer.status == StatusCode::OK {
            // Streaming had begun: the last line is Kubo's error and no root was named.
            let lines = answer.lines();
            assert_eq!(lines.last().unwrap()["Type"], "error", "{lines:?}");
            assert!(answer.cut);
            assert!(lines.iter().all(|l| l.get("Hash").is_none()), "{lines:?}");
        } else {
            // Refused before any line: Kubo's plain 400 if the body broke while its first
            // part was read, else the JSON error.
            assert!(answer.status.is_client_error() || answer.status.is_server_error());
            assert!(!answer.text().is_empty());
        }
        assert!(
            node.content().list_pins().await.unwrap().is_empty(),
            "{query}"
        );
        assert_eq!(node.content().block_count().await.unwrap(), 0, "{query}");
        assert_eq!(node.content().store().used_bytes(), 0, "{query}");
    }
}

#[tokio::test]
async fn an_absent_cid_offline_is_kubos_not_found_locally_error() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let absent = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    for path in ["cat", "block/get", "block/stat", "dag/export", "ls", "get"] {
        let answer = send(&node, rpc(&format!("{path}?arg={absent}&offline=true"))).await;
        assert_kubo_error(
            &answer,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("block was not found locally (offline): ipld: could not find {absent}"),
        );
    }
    let answer = send(&node, rpc("cat?arg=not-a-cid")).await;
    assert_kubo_error(&answer, StatusCode::BAD_REQUEST, "malformed_cid");
    let answer = send(&node, rpc("swarm/peers?offline=true")).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "online mode");
}

#[tokio::test]
async fn pins_are_listed_with_kubos_types_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let lines = add_one(&node, "pin=false", &vector_bytes(262_145)).await;
    let root = lines[0]["Hash"].as_str().unwrap().to_string();
    assert!(node.content().list_pins().await.unwrap().is_empty());
    let answer = send(&node, rpc(&format!("pin/add?arg=/ipfs/{root}&name=kept"))).await;
    assert_eq!(answer.json(), json!({"Pins": [root]}));
    let answer = send(&node, rpc("pin/ls")).await;
    let keys = answer.json()["Keys"].as_object().unwrap().clone();
    assert_eq!(keys.len(), 3, "the root and its two leaves: {keys:?}");
    assert_eq!(keys[&root], json!({"Type": "recursive"}));
    assert_eq!(keys.values().filter(|v| v["Type"] == "indirect").count(), 2);
    let answer = send(&node, rpc("pin/ls?type=recursive&stream=true&names=true")).await;
    assert_eq!(
        answer.lines(),
        vec![json!({"Cid": root, "Name": "kept", "Type": "recursive"})]
    );
    let absent = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    let answer = send(&node, rpc(&format!("pin/add?arg={absent}&offline=true"))).await;
    assert_kubo_error(
        &answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "not found locally (offline)",
    );
    let answer = send(&node, rpc("pin/ls?type=bogus")).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "invalid type");
    let answer = send(&node, rpc(&format!("pin/add?arg={root}&recursive=false"))).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "direct");
    let answer = send(&node, rpc(&format!("pin/rm?arg={root}"))).await;
    assert_eq!(answer.json(), json!({"Pins": [root]}));
    let answer = send(&node, rpc(&format!("pin/rm?arg={root}"))).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "not pinned");
    let answer = send(&node, rpc(&format!("pin/ls?arg={root}"))).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "is not pinned");
    // GC now removes the three blocks and names each.
    let answer = send(&node, rpc("repo/gc")).await;
    let removed = answer.lines();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(removed.iter().all(|l| l["Key"]["/"].is_string()));
    let answer = send(&node, rpc("repo/stat")).await;
    let stat = answer.json();
    assert_eq!(
        (stat["NumObjects"].as_u64(), stat["RepoSize"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn blocks_and_cars_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let answer = send(
        &node,
        upload(
            "block/put",
            multipart(&[("", Some(b"a raw block".as_slice()))]),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let put = answer.json();
    let key = put["Key"].as_str().unwrap().to_string();
    assert!(key.starts_with("bafkrei"), "{put}");
    assert_eq!(put["Size"], 11);
    let answer = send(&node, rpc(&format!("block/get?arg={key}&offline=true"))).await;
    assert_eq!(&answer.body[..], b"a raw block");
    assert_eq!(answer.content_type, "application/vnd.ipld.raw");
    let answer = send(&node, rpc(&format!("block/stat?arg={key}"))).await;
    assert_eq!(answer.json(), json!({"Key": key, "Size": 11}));
    let answer = send(
        &node,
        upload(
            "block/put?cid-codec=nonsense",
            multipart(&[("", Some(b"x".as_slice()))]),
        ),
    )
    .await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "cid-codec");

    let lines = add_one(&node, "", &vector_bytes(600_000)).await;
    let root = lines[0]["Hash"].as_str().unwrap().to_string();
    let answer = send(&node, rpc(&format!("dag/export?arg={root}"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type, "application/vnd.ipld.car");
    let car = answer.body.clone();
    // Into a second node: the same root, pinned, the same bytes.
    let dir2 = tempfile::tempdir().unwrap();
    let other = self::node(dir2.path()).await;
    let answer = send(
        &other,
        upload("dag/import?stats=true", multipart(&[("", Some(&car))])),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let lines = answer.lines();
    assert_eq!(
        lines[0],
        json!({"Root": {"Cid": {"/": root}, "PinErrorMsg": ""}})
    );
    assert_eq!(lines[1]["Stats"]["BlockCount"], 4);
    let answer = send(&other, rpc(&format!("cat?arg={root}&offline=true"))).await;
    assert_eq!(&answer.body[..], &vector_bytes(600_000)[..]);
    // A CAR cut short imports nothing.
    let dir3 = tempfile::tempdir().unwrap();
    let third = self::node(dir3.path()).await;
    let answer = send(
        &third,
        upload(
            "dag/import",
            multipart(&[("", Some(&car[..car.len() - 1000]))]),
        ),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answer.text()
    );
    assert_eq!(third.content().block_count().await.unwrap(), 0);
    assert!(third.content().list_pins().await.unwrap().is_empty());
}

#[tokio::test]
async fn get_answers_a_tar_of_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let body = multipart(&[
        ("d/one.txt", Some(b"1".as_slice())),
        ("d/sub/two.txt", Some(b"22".as_slice())),
    ]);
    let answer = send(&node, upload("add", body)).await;
    let root = answer.lines().last().unwrap()["Hash"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = send(&node, rpc(&format!("get?arg=/ipfs/{root}"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type, "application/x-tar");
    let tar = &answer.body;
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let header = &tar[at..at + 512];
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_string();
        let size = u64::from_str_radix(std::str::from_utf8(&header[124..135]).unwrap(), 8).unwrap();
        let data = &tar[at + 512..at + 512 + size as usize];
        entries.push((name, header[156], data.to_vec()));
        at += 512 + (size as usize).div_ceil(512) * 512;
    }
    assert_eq!(tar.len(), at + 1024, "two zero blocks end the archive");
    assert_eq!(
        entries,
        vec![
            (format!("{root}/"), b'5', vec![]),
            (format!("{root}/one.txt"), b'0', b"1".to_vec()),
            (format!("{root}/sub/"), b'5', vec![]),
            (format!("{root}/sub/two.txt"), b'0', b"22".to_vec()),
        ]
    );
    let answer = send(&node, rpc(&format!("get?arg={root}&compress=true"))).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "compress");
}

#[tokio::test]
async fn id_names_this_node_with_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let answer = send(&node, rpc("id")).await;
    let id = answer.json();
    assert_eq!(id["ID"], node.peer_id().to_string());
    assert!(id["AgentVersion"].as_str().unwrap().starts_with("cairn/"));
    assert!(id["Protocols"]
        .as_array()
        .unwrap()
        .contains(&json!("/ipfs/bitswap/1.2.0")));
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(id["PublicKey"].as_str().unwrap())
        .unwrap();
    let key = libp2p::identity::PublicKey::try_decode_protobuf(&key).unwrap();
    assert_eq!(key.to_peer_id(), node.peer_id());
    let other = libp2p::PeerId::random();
    let answer = send(&node, rpc(&format!("id?arg={other}"))).await;
    assert_kubo_error(&answer, StatusCode::INTERNAL_SERVER_ERROR, "not supported");
}
