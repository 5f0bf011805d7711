//! Storage audits between two daemons: a provider that keeps its data passes, one that
//! deleted it fails, and a saved proof verifies offline against the piece root alone.

mod common;

use cairn::blockstore::Blockstore;
use common::{bytes, json, TestNode};

#[track_caller]
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_passes_while_it_keeps_the_data_and_fails_once_it_deletes_it() {
    let provider = TestNode::start().await;
    let auditor = TestNode::start().await;
    let cid = provider.add_cid(bytes(3_000_000, 51), "").await;
    let piece = json(&provider.cli(&["piece", "commit", &cid, "--json"]));
    let (root, size) = (
        piece["piece_root"].as_str().unwrap().to_string(),
        piece["piece_size"].to_string(),
    );
    let work = tempfile::tempdir().unwrap();
    let saved = work.path().join("proof.cbor");
    let saved_str = saved.to_str().unwrap();

    let peer = provider.tcp_addr();
    let pass = json(&auditor.cli(&[
        "audit", &peer, "--root", &root, "--size", &size, "--save", saved_str, "--json",
    ]));
    assert_eq!(pass["outcome"], "passed", "{pass}");
    assert!(pass["proof_bytes"].as_u64().unwrap() > 1024);

    let verified = json(&auditor.cli(&[
        "proof", "verify", saved_str, "--root", &root, "--size", &size, "--json",
    ]));
    assert_eq!(verified["valid"], true);
    let other_root = "00".repeat(32);
    let wrong = auditor.cli(&[
        "proof",
        "verify",
        saved_str,
        "--root",
        &other_root,
        "--size",
        &size,
    ]);
    assert!(!wrong.status.success());
    let mut corrupt = std::fs::read(&saved).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x01;
    std::fs::write(&saved, corrupt).unwrap();
    assert!(!auditor
        .cli(&["proof", "verify", saved_str, "--root", &root, "--size", &size])
        .status
        .success());

    // No answer by the deadline is a failed period, never a pass.
    let late = auditor.cli(&[
        "audit",
        &peer,
        "--root",
        &root,
        "--size",
        &size,
        "--timeout-ms",
        "0",
        "--json",
    ]);
    assert!(!late.status.success());
    let late: serde_json::Value = serde_json::from_slice(&late.stdout).unwrap();
    assert_ne!(late["outcome"], "passed", "{late}");

    // An unknown piece is refused with a reason, not answered.
    let unknown = auditor.cli(&[
        "audit",
        &peer,
        "--root",
        &other_root,
        "--size",
        "100",
        "--json",
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stdout).contains("unknown_piece"));

    // Delete half the blocks behind the provider's back: the next audit fails.
    let store = provider.daemon.node().content().store().clone();
    let blocks = provider
        .daemon
        .node()
        .content()
        .dag_blocks(&cairn::content::parse_cid(&cid).unwrap())
        .await
        .unwrap();
    for block in blocks.iter().skip(1).step_by(2) {
        store.delete(block).await.unwrap();
    }
    let fail = auditor.cli(&["audit", &peer, "--root", &root, "--size", &size, "--json"]);
    assert!(!fail.status.success());
    let report: serde_json::Value = serde_json::from_slice(&fail.stdout).unwrap();
    assert_eq!(report["outcome"], "failed", "{report}");

    // Both sides kept a record of every challenge.
    let seen = auditor
        .daemon
        .node()
        .db()
        .challenges_for(&root)
        .await
        .unwrap();
    let outcomes: Vec<&str> = seen.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0], "passed");
    assert_eq!(outcomes[2], "failed");
    assert!(seen
        .iter()
        .all(|c| c.role == "verifier" && c.latency_ms.is_some()));
    let answered = provider
        .daemon
        .node()
        .db()
        .challenges_for(&root)
        .await
        .unwrap();
    assert!(answered.iter().all(|c| c.role == "prover"));
    assert_eq!(
        answered.iter().filter(|c| c.outcome == "answered").count(),
        1
    );
    // The zero-timeout challenge may or may not have reached the provider before the
    // auditor gave up; if it did, it was refused as late.
    let refusals: Vec<&str> = answered
        .iter()
        .filter_map(|c| c.reason.as_deref())
        .collect();
    assert!(
        refusals.iter().any(|r| r.starts_with("data_unavailable")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .all(|r| r.starts_with("data_unavailable") || r.starts_with("late")),
        "{refusals:?}"
    );
    provider.stop().await;
    auditor.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_audit_requests_are_refused_with_reasons() {
    let auditor = TestNode::start().await;
    for args in [
        vec!["audit", "not-a-peer", "--root", "ab", "--size", "1"],
        vec![
            "audit",
            "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
            "--root",
            "zz",
            "--size",
            "1",
        ],
        vec![
            "audit",
            "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
            "--root",
            &"00".repeat(32),
            "--size",
            "1",
            "--samples",
            "65",
        ],
    ] {
        let out = auditor.cli(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
    auditor.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_commitments_of_one_piece_at_once_both_succeed_and_agree() {
    let node = TestNode::start().await;
    let cid = cairn::content::parse_cid(&node.add_cid(bytes(2_000_000, 53), "").await).unwrap();
    let n = &node.daemon.node();
    let (a, b) = tokio::join!(
        n.content().piece_commit(&cid),
        n.content().piece_commit(&cid)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.root, a.size), (b.root, b.size));
    node.stop().await;
}
