//! The trustless and path gateway to the letter of the spec, with `oneshot` and no server:
//! every CAR is read back with the repo's own CAR reader (which checks each block against its
//! CID), and its blocks are compared with the DAG they must prove.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use cid::Cid;
use tower::ServiceExt;

use super::{api_router, gateway_router, AppState};
use crate::clock::Clock;
use crate::content::car::CarReader;
use crate::content::unixfs::decode_node;
use crate::node::{Node, Parts};

const TOKEN: &str = "test-token";

async fn node(dir: &std::path::Path) -> Node {
    let (clock, _) = Clock::manual(1_000_000);
    let mut parts = Parts::in_memory(dir, clock).await.unwrap();
    let memory = crate::blockstore::BackendConfig::Memory;
    parts.store = crate::blockstore::Store::open(&memory, None, 0).unwrap();
    Node::assemble(parts, TOKEN)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&[seed])
        .finalize_xof()
        .fill(&mut out);
    out
}

/// A site added through the API as multipart, 1 KiB chunks so files have many leaves.
struct Site {
    node: Node,
    root: Cid,
    file: Vec<u8>,
    _dir: tempfile::TempDir,
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let file = data(10 * 1024 + 300, 7);
    let parts: Vec<(&str, Vec<u8>)> = vec![
        ("site/hello.txt", b"hello, gateway\n".to_vec()),
        ("site/notes", b"plain words without an extension\n".to_vec()),
        ("site/picture", PNG.to_vec()),
        ("site/noise", data(4000, 9)),
        ("site/zeros.bin", vec![0u8; 8 * 1024]),
        ("site/sub/file.bin", file.clone()),
        ("site/sub/other.bin", data(3000, 8)),
    ];
    let boundary = "cairn-test-boundary";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let request = Request::post("/api/v1/add?chunker=size-1024")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    let response = api_router(AppState::new(node.clone()))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let json: serde_json::Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(status, StatusCode::OK, "{json}");
    let root = json["cid"].as_str().unwrap().parse().unwrap();
    Site {
        node,
        root,
        file,
        _dir: dir,
    }
}

async fn body_bytes(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec()
}

async fn get(node: &Node, uri: &str, accept: Option<&str>) -> Response {
    let mut request = Request::get(uri);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    gateway_router(AppState::new(node.clone()))
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

/// Reads a CAR with the repo's reader: its roots and its blocks, each verified.
async fn read_car(bytes: &[u8]) -> (Vec<Cid>, Vec<(Cid, Vec<u8>)>) {
    let mut reader = CarReader::new(bytes).await.unwrap();
    let roots = reader.roots().to_vec();
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block().await.unwrap() {
        blocks.push((*block.cid(), block.data().to_vec()));
    }
    (roots, blocks)
}

async fn car(node: &Node, uri: &str) -> (Response, Vec<Cid>, Vec<(Cid, Vec<u8>)>) {
    let response = get(node, uri, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let (roots, blocks) = read_car(&bytes).await;
    (Response::from_parts(parts, Body::empty()), roots, blocks)
}

fn links(cid: &Cid, data: &[u8]) -> Vec<(Option<String>, Cid)> {
    if cid.codec() != crate::content::DAG_PB {
        return Vec::new();
    }
    decode_node(cid, &bytes::Bytes::copy_from_slice(data))
        .unwrap()
        .links
        .into_iter()
        .map(|l| (l.name, l.cid))
        .collect()
}

fn named(links: &[(Option<String>, Cid)], name: &str) -> Cid {
    links
        .iter()
        .find(|(n, _)| n.as_deref() == Some(name))
        .map(|(_, c)| *c)
        .unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn a_path_car_holds_the_blocks_that_prove_the_path_then_the_file() {
    let site = site().await;
    let uri = format!("/ipfs/{}/sub/file.bin?format=car", site.root);
    let (response, roots, blocks) = car(&site.node, &uri).await;
    assert_eq!(roots, vec![site.root], "the root is the requested root");
    // The path: the root directory, then `sub`, each linking to the next.
    let (root, root_data) = &blocks[0];
    assert_eq!(*root, site.root);
    let sub = named(&links(root, root_data), "sub");
    assert_eq!(blocks[1].0, sub);
    let file = named(&links(&blocks[1].0, &blocks[1].1), "file.bin");
    assert_eq!(blocks[2].0, file);
    // Then the whole file, depth-first: the leaves concatenate to its bytes.
    let leaves: Vec<u8> = blocks[3..]
        .iter()
        .filter(|(c, _)| c.codec() == crate::content::RAW)
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert_eq!(leaves, site.file);
    assert!(
        !blocks.iter().any(|(_, d)| d == b"hello, gateway\n"),
        "nothing off the path"
    );
    assert_eq!(
        header(&response, "content-type"),
        "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    );
    assert_eq!(
        header(&response, "content-disposition"),
        format!("attachment; filename=\"{file}.car\"")
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(header(&response, "etag").contains(".car.all"));
}

#[tokio::test]
async fn dag_scope_block_entity_and_all_take_what_they_say() {
    let site = site().await;
    let root = site.root;
    let (_, _, block) = car(
        &site.node,
        &format!("/ipfs/{root}/sub/file.bin?format=car&dag-scope=block"),
    )
    .await;
    assert_eq!(block.len(), 3, "root, sub and the file's root block only");
    let file = block[2].0;
    assert!(links(&file, &block[2].1).len() > 1, "the file has children");

    // Entity on a directory: enough to list it, none of its children.
    let (_, _, entity) = car(
        &site.node,
        &format!("/ipfs/{root}/sub?format=car&dag-scope=entity"),
    )
    .await;
    assert_eq!(entity.len(), 2, "root and sub: {entity:?}");
    // Entity on a file: every block of the file.
    let (_, _, file_entity) = car(
        &site.node,
        &format!("/ipfs/{root}/sub/file.bin?format=car&dag-scope=entity"),
    )
    .await;
    let leaves = file_entity
        .iter()
        .filter(|(c, _)| c.codec() == crate::content::RAW)
        .count();
    assert_eq!(leaves, site.file.len().div_ceil(1024));

    // All on the root: the whole DAG, each block once.
    let (_, _, all) = car(
        &site.node,
        &format!("/ipfs/{root}?format=car&dag-scope=all"),
    )
    .await;
    let distinct: std::collections::HashSet<Cid> = all.iter().map(|(c, _)| *c).collect();
    assert_eq!(distinct.len(), all.len(), "dups=n: no block twice");
    for (cid, data) in &all {
        for (_, child) in links(cid, data) {
            assert!(
                distinct.contains(&child),
                "{child} under {cid} is in the CAR"
            );
        }
    }

    let bad = get(
        &site.node,
        &format!("/ipfs/{root}?format=car&dag-scope=sideways"),
        None,
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = serde_json::from_slice(&body_bytes(bad).await).unwrap();
    assert_eq!(body["error"], "invalid_option");
}

#[tokio::test]
async fn entity_bytes_send_only_the_blocks_of_the_range() {
    let site = site().await;
    let path = format!("/ipfs/{}/sub/file.bin", site.root);
    for (range, first, last) in [
        ("2048:3071", 2048usize, 3071usize),
        ("1500:2600", 1024, 3071),
        ("-300:*", 10 * 1024, 10 * 1024 + 299),
        ("0:0", 0, 1023),
    ] {
        let (response, _, blocks) = car(
            &site.node,
            &format!("{path}?format=car&entity-bytes={range}"),
        )
        .await;
        let leaves: Vec<u8> = blocks[3..]
            .iter()
            .filter(|(c, _)| c.codec() == crate::content::RAW)
            .flat_map(|(_, d)| d.clone())
            .collect();
        assert_eq!(leaves, site.file[first..=last], "{range}");
        assert!(header(&response, "etag").contains(range), "{range}");
    }
    // A zero-length range is the terminal block alone.
    let (_, _, empty) = car(&site.node, &format!("{path}?format=car&entity-bytes=5:4")).await;
    assert_eq!(empty.len(), 3);
    for (range, reason) in [
        ("999999:*", "bad_range"),
        ("x:1", "invalid_option"),
        ("12", "invalid_option"),
    ] {
        let response = get(
            &site.node,
            &format!("{path}?format=car&entity-bytes={range}"),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{range}");
        let body: serde_json::Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
        assert_eq!(body["error"], reason, "{range}");
    }
}

#[tokio::test]
async fn dups_and_order_are_negotiated_on_the_car_content_type() {
    let site = site().await;
    let zeros = format!("/ipfs/{}/zeros.bin", site.root);
    // Eight identical 1 KiB leaves: one block with dups=n, eight with dups=y.
    let (_, _, once) = car(&site.node, &format!("{zeros}?format=car&dag-scope=entity")).await;
    assert_eq!(
        once.iter()
            .filter(|(c, _)| c.codec() == crate::content::RAW)
            .count(),
        1
    );
    let response = get(
        &site.node,
        &zeros,
        Some("application/vnd.ipld.car; version=1; order=dfs; dups=y"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        "application/vnd.ipld.car; version=1; order=dfs; dups=y"
    );
    let (_, every) = read_car(&body_bytes(response).await).await;
    assert_eq!(
        every
            .iter()
            .filter(|(c, _)| c.codec() == crate::content::RAW)
            .count(),
        8
    );
    // The query parameter wins over Accept.
    let (response, _, _) = car(&site.node, &format!("{zeros}?format=car&car-dups=n")).await;
    assert!(header(&response, "content-type").ends_with("dups=n"));
    // An order of unknown is satisfied by dfs; a preference list takes the first we can write.
    let response = get(
        &site.node,
        &zeros,
        Some("application/vnd.ipld.car;version=2, application/vnd.ipld.car;order=unk;dups=y;q=0.5"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").contains("order=dfs; dups=y"));
    for (accept, status) in [
        (
            "application/vnd.ipld.car; version=2",
            StatusCode::NOT_ACCEPTABLE,
        ),
        (
            "application/vnd.ipld.car; order=bfs",
            StatusCode::NOT_ACCEPTABLE,
        ),
        (
            "application/vnd.ipld.car; dups=maybe",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = get(&site.node, &zeros, Some(accept)).await;
        assert_eq!(response.status(), status, "{accept}");
    }
}

#[tokio::test]
async fn raw_blocks_are_attachments_and_the_identity_probe_answers() {
    let site = site().await;
    let response = get(&site.node, &format!("/ipfs/{}?format=raw", site.root), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-disposition"),
        format!("attachment; filename=\"{}.bin\"", site.root)
    );
    let bytes = body_bytes(response).await;
    assert_eq!(
        crate::content::HashAlg::Sha2_256.digest(&bytes),
        *site.root.hash()
    );
    let named = get(
        &site.node,
        &format!("/ipfs/{}?format=raw&filename=dir%20%C3%BC.bin", site.root),
        None,
    )
    .await;
    assert_eq!(
        header(&named, "content-disposition"),
        "attachment; filename=\"dir _.bin\"; filename*=UTF-8''dir%20%C3%BC.bin"
    );

    let probe = get(&site.node, "/ipfs/bafkqaaa?format=raw", None).await;
    assert_eq!(probe.status(), StatusCode::OK);
    assert_eq!(header(&probe, "content-type"), "application/vnd.ipld.raw");
    assert!(body_bytes(probe).await.is_empty());
    let probe = get(
        &site.node,
        "/ipfs/bafkqaaa",
        Some("application/vnd.ipld.car"),
    )
    .await;
    assert_eq!(probe.status(), StatusCode::OK);
    let (roots, blocks) = read_car(&body_bytes(probe).await).await;
    assert_eq!(roots, vec!["bafkqaaa".parse::<Cid>().unwrap()]);
    assert!(blocks.is_empty(), "identity blocks are never sent");

    let missing = crate::content::Block::encode(
        crate::content::RAW,
        crate::content::HashAlg::Sha2_256,
        &b"never added"[..],
    );
    let response = get(
        &site.node,
        &format!("/ipfs/{}?format=car", missing.cid()),
        None,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "a missing root is a 404"
    );
}

#[tokio::test]
async fn files_get_a_sniffed_content_type_and_ipns_a_clear_501() {
    let site = site().await;
    for (name, expected) in [
        ("hello.txt", "text/plain; charset=utf-8"),
        ("notes", "text/plain; charset=utf-8"),
        ("picture", "image/png"),
        ("noise", "application/octet-stream"),
    ] {
        let response = get(&site.node, &format!("/ipfs/{}/{name}", site.root), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(header(&response, "content-type"), expected, "{name}");
    }
    let response = get(&site.node, "/ipfs/bafkqaaa", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    for uri in [
        "/ipns/example.com",
        "/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8/x",
    ] {
        let response = get(&site.node, uri, None).await;
        assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED, "{uri}");
        let body: serde_json::Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
        assert_eq!(body["error"], "ipns_unsupported");
    }
}

async fn get_with(node: &Node, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    gateway_router(AppState::new(node.clone()))
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn x_ipfs_roots_names_one_cid_per_path_segment_in_every_format() {
    let site = site().await;
    let blocks = site.node.content().local_blocks();
    let fetch = |cid: Cid| {
        let blocks = blocks.clone();
        async move {
            crate::content::selector::fetch(&blocks, &cid)
                .await
                .unwrap()
        }
    };
    let sub = named(&links(&site.root, &fetch(site.root).await), "sub");
    let file = named(&links(&sub, &fetch(sub).await), "file.bin");
    let expected = format!("{},{sub},{file}", site.root);
    for query in [
        "",
        "?format=raw",
        "?format=car",
        "?format=car&dag-scope=block",
    ] {
        let uri = format!("/ipfs/{}/sub/file.bin{query}", site.root);
        let response = get(&site.node, &uri, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(header(&response, "x-ipfs-roots"), expected, "{uri}");
        assert_eq!(
            header(&response, "x-ipfs-path"),
            format!("/ipfs/{}/sub/file.bin", site.root)
        );
    }
    let response = get(&site.node, &format!("/ipfs/{}/sub/", site.root), None).await;
    assert_eq!(
        header(&response, "x-ipfs-roots"),
        format!("{},{sub}", site.root)
    );
    let response = get(&site.node, &format!("/ipfs/{}", site.root), None).await;
    assert_eq!(header(&response, "x-ipfs-roots"), site.root.to_string());
}

#[tokio::test]
async fn only_if_cached_answers_what_is_here_and_412_for_what_is_not() {
    use crate::blockstore::Blockstore;
    let site = site().await;
    let cached = [("cache-control", "only-if-cached")];
    // Here: answered exactly as without the directive.
    for query in ["", "?format=raw", "?format=car"] {
        let uri = format!("/ipfs/{}/sub/file.bin{query}", site.root);
        let plain = get(&site.node, &uri, None).await;
        let probed = get_with(&site.node, "GET", &uri, &cached).await;
        assert_eq!(probed.status(), StatusCode::OK, "{uri}");
        assert_eq!(
            header(&probed, "x-ipfs-roots"),
            header(&plain, "x-ipfs-roots")
        );
        assert_eq!(body_bytes(probed).await, body_bytes(plain).await, "{uri}");
    }
    let head = get_with(
        &site.node,
        "HEAD",
        &format!("/ipfs/{}/sub/file.bin", site.root),
        &[("cache-control", "max-age=0, Only-If-Cached")],
    )
    .await;
    assert_eq!(head.status(), StatusCode::OK, "other directives beside it");

    // Not here: 412 with no payload, for GET and HEAD and every format.
    let missing = crate::content::Block::encode(
        crate::content::RAW,
        crate::content::HashAlg::Sha2_256,
        &b"never added"[..],
    );
    for (method, query) in [
        ("GET", ""),
        ("HEAD", ""),
        ("GET", "?format=car"),
        ("GET", "?format=raw"),
    ] {
        let uri = format!("/ipfs/{}{query}", missing.cid());
        let response = get_with(&site.node, method, &uri, &cached).await;
        assert_eq!(
            response.status(),
            StatusCode::PRECONDITION_FAILED,
            "{method} {uri}"
        );
        assert!(body_bytes(response).await.is_empty(), "{method} {uri}");
    }

    // A block inside the path gone from the store: the path cannot be resolved here.
    let blocks = site.node.content().local_blocks();
    let root_data = crate::content::selector::fetch(&blocks, &site.root)
        .await
        .unwrap();
    let sub = named(&links(&site.root, &root_data), "sub");
    assert!(site
        .node
        .content()
        .store()
        .delete(&sub)
        .await
        .unwrap()
        .is_some());
    let uri = format!("/ipfs/{}/sub/file.bin", site.root);
    let response = get_with(&site.node, "GET", &uri, &cached).await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert!(body_bytes(response).await.is_empty());
    // A sibling that is still whole is served; a name the local directory lacks is a 404.
    let response = get_with(
        &site.node,
        "GET",
        &format!("/ipfs/{}/hello.txt", site.root),
        &cached,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_bytes(response).await, b"hello, gateway\n");
    let response = get_with(
        &site.node,
        "GET",
        &format!("/ipfs/{}/absent", site.root),
        &cached,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
