//! What a crash leaves behind is put right at the next start: the block store reconciled with
//! the database, and a second daemon on a data dir that is in use refused. Each body runs on
//! the fs and on the s3 block store (`every_storage!` at the end).

mod common;

use std::collections::BTreeSet;

use cairn::blockstore::{BlockStatus, Blockstore, FsBlockstore, S3Blockstore};
use cairn::content::{Block, HashAlg, RAW};
use cairn::node::Daemon;
use cid::Cid;
use common::{bytes, Storage, TestNode};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

/// Every block row, as (CID, size).
async fn rows(node: &TestNode) -> Vec<(Cid, u64)> {
    let page = node
        .daemon
        .node()
        .db()
        .blocks_page(None, 100_000)
        .await
        .unwrap();
    page.into_iter().map(|(_, cid, size)| (cid, size)).collect()
}

/// A node's stored blocks reached behind its store's back, as a crash or damage at rest
/// reaches them: files in the data dir, or objects in the node's S3 bucket.
enum Raw {
    Fs(FsBlockstore),
    S3(S3Blockstore),
}

impl Raw {
    fn of(node: &TestNode) -> Raw {
        match &node.s3 {
            None => Raw::Fs(FsBlockstore::open(node.daemon.node().data().blocks_dir()).unwrap()),
            Some(server) => Raw::S3(S3Blockstore::open(&server.config(common::S3_PREFIX)).unwrap()),
        }
    }

    /// Writes `data` where `cid`'s block is kept.
    async fn write(&self, cid: &Cid, data: &[u8]) {
        match self {
            Raw::Fs(fs) => {
                let path = fs.path_of(cid);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, data).unwrap();
            }
            Raw::S3(s3) => {
                let payload = object_store::PutPayload::from(data.to_vec());
                s3.client().put(&s3.key_of(cid), payload).await.unwrap();
            }
        }
    }

    async fn read(&self, cid: &Cid) -> Vec<u8> {
        match self {
            Raw::Fs(fs) => std::fs::read(fs.path_of(cid)).unwrap(),
            Raw::S3(s3) => {
                let got = s3.client().get(&s3.key_of(cid)).await.unwrap();
                got.bytes().await.unwrap().to_vec()
            }
        }
    }

    async fn remove(&self, cid: &Cid) {
        match self {
            Raw::Fs(fs) => std::fs::remove_file(fs.path_of(cid)).unwrap(),
            Raw::S3(s3) => s3.client().delete(&s3.key_of(cid)).await.unwrap(),
        }
    }

    /// Cuts what is kept under `cid` to half its length, as a torn write would.
    async fn truncate(&self, cid: &Cid) {
        let data = self.read(cid).await;
        self.write(cid, &data[..data.len() / 2]).await;
    }

    /// The sizes of everything kept, summed (an fs store's temp dir is empty after open).
    async fn total_bytes(&self) -> u64 {
        match self {
            Raw::Fs(fs) => bytes_on_disk(fs.root()),
            Raw::S3(s3) => {
                let prefix = object_store::path::Path::from(common::S3_PREFIX);
                s3.client()
                    .list(Some(&prefix))
                    .map(|meta| meta.unwrap().size)
                    .collect::<Vec<u64>>()
                    .await
                    .into_iter()
                    .sum()
            }
        }
    }
}

/// Stops the node, lets `damage` work on its stored blocks, and starts it again.
async fn crash_and_restart(node: TestNode, damage: impl AsyncFnOnce(&Raw)) -> TestNode {
    let raw = Raw::of(&node);
    let TestNode {
        daemon,
        dir,
        http,
        s3,
    } = node;
    let data = daemon.node().data().clone();
    daemon.stop().await;
    damage(&raw).await;
    let daemon = Daemon::start(data).await.unwrap();
    TestNode {
        daemon,
        dir,
        http,
        s3,
    }
}

/// The file sizes under `dir`, summed.
fn bytes_on_disk(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        total += if path.is_dir() {
            bytes_on_disk(&path)
        } else {
            std::fs::metadata(&path).unwrap().len()
        };
    }
    total
}

/// The leaves of a pinned file, by the rows its add wrote (every row but the root's).
async fn leaves(node: &TestNode, root: &Cid) -> Vec<Cid> {
    let mut all: Vec<Cid> = node.daemon.node().content().dag_blocks(root).await.unwrap();
    all.retain(|c| c != root);
    all
}

async fn a_start_adopts_intact_orphans_and_removes_torn_and_missing_blocks(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    // 1 MiB chunks: a 3.5 MiB file is 4 leaves and a root.
    let pinned_bytes = bytes(3 * 1024 * 1024 + 512 * 1024, 1);
    let pinned: Cid = node
        .add_cid(pinned_bytes.clone(), "")
        .await
        .parse()
        .unwrap();
    let loose: Cid = node
        .add_cid(bytes(2 * 1024 * 1024 + 100, 2), "?pin=false")
        .await
        .parse()
        .unwrap();
    let pinned_leaves = leaves(&node, &pinned).await;
    let loose_leaves = leaves(&node, &loose).await;
    assert_eq!((pinned_leaves.len(), loose_leaves.len()), (4, 3));
    let before = rows(&node).await;
    assert_eq!(before.len(), 4 + 1 + 3 + 1);

    // What a crash (or damage at rest) leaves: files written whose rows never landed, one of
    // them torn; recorded files lost or torn, pinned and not.
    let orphans: Vec<Block> = (0..3u8)
        .map(|i| Block::encode(RAW, HashAlg::Sha2_256, vec![i; 1000 + usize::from(i)]))
        .collect();
    let torn_orphan = Block::encode(RAW, HashAlg::Sha2_256, vec![9u8; 5000]);
    let node = crash_and_restart(node, async |raw: &Raw| {
        // A stored block holds the block's bytes.
        for b in orphans.iter().chain([&torn_orphan]) {
            raw.write(b.cid(), b.data()).await;
        }
        raw.truncate(torn_orphan.cid()).await;
        raw.remove(&pinned_leaves[0]).await;
        raw.truncate(&pinned_leaves[1]).await;
        raw.remove(&loose_leaves[0]).await;
        raw.truncate(&loose_leaves[1]).await;
    })
    .await;

    let report = &node.daemon.reconciled;
    assert_eq!(report.rows, 9);
    assert_eq!(report.damaged, 2, "two pinned blocks lost or torn");
    assert_eq!(report.rows_removed, 2, "two unpinned blocks lost or torn");
    assert_eq!(report.adopted, 3);
    assert_eq!(report.adopted_bytes, 1000 + 1001 + 1002);
    assert_eq!(report.orphans_removed, 1);

    // Every row has an intact file, every file has a row, the count is the sum.
    let store = node.daemon.node().content().store().clone();
    let after = rows(&node).await;
    for (cid, _) in &after {
        assert_eq!(
            store.verify(cid).await.unwrap(),
            BlockStatus::Intact,
            "{cid}"
        );
    }
    let recorded: BTreeSet<Cid> = after.iter().map(|(c, _)| *c).collect();
    let listed: BTreeSet<Cid> = store.list().try_collect().await.unwrap();
    assert_eq!(recorded, listed);
    let sum: u64 = after.iter().map(|(_, s)| s).sum();
    assert_eq!(store.used_bytes(), sum);
    assert_eq!(node.daemon.node().db().used_bytes().await.unwrap(), sum);
    assert_eq!(report.used_bytes, sum);
    assert_eq!(Raw::of(&node).total_bytes().await, sum);

    // Exactly the expected blocks: the orphans adopted, the damaged and torn ones gone.
    let mut expected: BTreeSet<Cid> = before.iter().map(|(c, _)| *c).collect();
    for gone in [
        &pinned_leaves[0],
        &pinned_leaves[1],
        &loose_leaves[0],
        &loose_leaves[1],
    ] {
        expected.remove(gone);
    }
    expected.extend(orphans.iter().map(|b| *b.cid()));
    assert_eq!(recorded, expected);

    // The pin still wants its two damaged blocks: they are what a repair must fetch.
    let wanted = node
        .daemon
        .node()
        .db()
        .pinned_without_row(None, 100)
        .await
        .unwrap();
    let damaged: BTreeSet<Cid> = pinned_leaves[..2].iter().copied().collect();
    assert_eq!(wanted.into_iter().collect::<BTreeSet<_>>(), damaged);

    // An adopted orphan is an ordinary unpinned block: GC removes it and the torn-free rest
    // of the unpinned file, and the count follows.
    let gc: serde_json::Value = node
        .http
        .post(node.api("/gc"))
        .bearer_auth(node.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gc["removed_blocks"], 3 + 2, "{gc}");
    let left = rows(&node).await;
    assert_eq!(left.len(), 3, "the pinned root and its two intact leaves");
    assert_eq!(store.used_bytes(), left.iter().map(|(_, s)| s).sum::<u64>());

    // A second start finds nothing more to do.
    let node = crash_and_restart(node, async |_: &Raw| {}).await;
    let again = &node.daemon.reconciled;
    assert_eq!(
        (
            again.rows,
            again.rows_removed,
            again.damaged,
            again.adopted,
            again.orphans_removed
        ),
        (3, 0, 0, 0, 0)
    );
    node.stop().await;
}

async fn a_second_daemon_on_a_data_dir_in_use_is_refused_and_changes_nothing(storage: Storage) {
    let node = TestNode::start_on(storage).await;
    let data = node.daemon.node().data().clone();
    let info_before = std::fs::read(data.daemon_path()).unwrap();
    let rows_before = rows(&node).await;

    // In process: the typed error, naming the holder.
    match Daemon::start(data.clone()).await {
        Err(cairn::node::NodeError::Config(cairn::config::ConfigError::Locked {
            path,
            holder,
        })) => {
            assert_eq!(path, data.root());
            assert_eq!(holder, Some(std::process::id()));
        }
        Err(other) => panic!("expected the data dir to be locked, got {other}"),
        Ok(_) => panic!("a second daemon started on a data dir in use"),
    }

    // The real binary: a clear message and a failing exit, before it binds or writes anything.
    let out = node.cli(&["daemon"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is in use by another cairn daemon")
            && stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert_eq!(std::fs::read(data.daemon_path()).unwrap(), info_before);
    assert_eq!(rows(&node).await, rows_before);
    // The first daemon still serves.
    let id = node.http.get(node.api("/id")).send().await.unwrap();
    assert!(id.status().is_success());

    // Stopped, it leaves the lock free for the next one.
    let node = node.restart().await;
    assert!(data.daemon_path().exists());
    node.stop().await;
    assert!(!data.daemon_path().exists());
}

/// `cairn repo verify --json [--repair]` against `node`: (succeeded, report).
fn repo_verify(node: &TestNode, repair: bool) -> (bool, serde_json::Value) {
    let mut args = vec!["repo", "verify", "--json"];
    if repair {
        args.push("--repair");
    }
    let out = node.cli(&args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "repo verify printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

async fn repo_verify_finds_torn_blocks_and_repair_fetches_them_from_a_peer(storage: Storage) {
    let a = TestNode::start_on(storage).await;
    let b = TestNode::start_on(storage).await;
    let data = bytes(2 * 1024 * 1024 + 300, 7);
    let root: Cid = a.add_cid(data.clone(), "").await.parse().unwrap();
    assert_eq!(b.add_cid(data.clone(), "").await, root.to_string());
    let loose: Cid = a
        .add_cid(bytes(5000, 8), "?pin=false")
        .await
        .parse()
        .unwrap();
    let (healthy, clean) = repo_verify(&a, false);
    assert!(healthy, "{clean}");
    assert_eq!(
        (clean["checked"].as_u64(), clean["bad"].as_u64()),
        (Some(5), Some(0))
    );

    // Damage at rest while the daemon runs: a pinned leaf torn, an unpinned block torn.
    let leaf = leaves(&a, &root).await[1];
    let store = a.daemon.node().content().store().clone();
    let raw = Raw::of(&a);
    raw.truncate(&leaf).await;
    raw.truncate(&loose).await;

    let (healthy, found) = repo_verify(&a, false);
    assert!(!healthy, "a bad block fails the command: {found}");
    assert_eq!(found["bad"], 2, "{found}");
    let listed: BTreeSet<(String, String, bool)> = found["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["outcome"], "found");
            (
                b["cid"].as_str().unwrap().to_string(),
                b["problem"].as_str().unwrap().to_string(),
                b["pinned"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            (leaf.to_string(), "corrupt".to_string(), true),
            (loose.to_string(), "corrupt".to_string(), false),
        ])
    );
    // Verifying alone changed nothing.
    assert_eq!(store.verify(&leaf).await.unwrap(), BlockStatus::Corrupt);

    // With a peer that holds the block, a repair fetches it again.
    common::ok(&a.cli(&["swarm", "connect", &b.tcp_addr()]));
    let (healthy, repaired) = repo_verify(&a, true);
    assert!(healthy, "{repaired}");
    assert_eq!(
        (
            repaired["bad"].as_u64(),
            repaired["repaired"].as_u64(),
            repaired["removed"].as_u64(),
            repaired["unrepaired"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(0)),
        "{repaired}"
    );
    assert_eq!(store.verify(&leaf).await.unwrap(), BlockStatus::Intact);
    assert_eq!(store.verify(&loose).await.unwrap(), BlockStatus::Missing);
    let cat = a
        .http
        .get(a.api(&format!("/cat/{root}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cat.status(), 200);
    assert_eq!(cat.bytes().await.unwrap(), data);
    let sum: u64 = rows(&a).await.iter().map(|(_, s)| s).sum();
    assert_eq!(store.used_bytes(), sum);
    let (healthy, after) = repo_verify(&a, false);
    assert!(healthy && after["bad"] == 0, "{after}");
    a.stop().await;
    b.stop().await;
}

async fn a_pinned_block_no_peer_has_is_reported_unrepaired_and_stays_wanted(storage: Storage) {
    let a = TestNode::start_on(storage).await;
    let data = bytes(2 * 1024 * 1024 + 300, 9);
    let root: Cid = a.add_cid(data, "").await.parse().unwrap();
    let leaf = leaves(&a, &root).await[0];
    // Lost while the node was down: the start removes its row, the pin still wants it.
    let a = crash_and_restart(a, async |raw: &Raw| raw.remove(&leaf).await).await;
    assert_eq!(a.daemon.reconciled.damaged, 1);

    let (healthy, report) = repo_verify(&a, true);
    assert!(!healthy, "an unrepaired block fails the command: {report}");
    assert_eq!(report["unrepaired"], 1, "{report}");
    let block = &report["blocks"][0];
    assert_eq!(block["cid"], leaf.to_string());
    assert_eq!(
        (
            block["problem"].as_str(),
            block["pinned"].as_bool(),
            block["outcome"].as_str()
        ),
        (Some("missing"), Some(true), Some("unrepaired"))
    );
    assert!(!block["reason"].as_str().unwrap().is_empty());
    // Nothing else was lost, and the pin still wants the block for a later repair.
    assert_eq!(rows(&a).await.len(), 3, "the root and the two other leaves");
    let wanted = a
        .daemon
        .node()
        .db()
        .pinned_without_row(None, 10)
        .await
        .unwrap();
    assert_eq!(wanted, vec![leaf]);
    a.stop().await;
}

async fn readers_answer_an_error_not_a_200_for_a_torn_local_block(storage: Storage) {
    let a = TestNode::start_on(storage).await;
    let data = bytes(3 * 1024 * 1024 + 10, 11);
    let root: Cid = a.add_cid(data.clone(), "").await.parse().unwrap();
    let leaves = leaves(&a, &root).await;
    let raw = Raw::of(&a);
    let good_first = raw.read(&leaves[0]).await;
    raw.truncate(&leaves[0]).await;

    // The first block is read before the status line: an error status with its reason.
    for url in [
        a.api(&format!("/cat/{root}")),
        a.gateway(&format!("/ipfs/{root}")),
    ] {
        let response = a.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 500, "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "corrupt_block", "{url}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&leaves[0].to_string()),
            "{body}"
        );
    }

    // A torn block further in cannot be seen before the headers; the body then breaks off
    // short of its Content-Length, so no client takes it for the whole file.
    raw.write(&leaves[0], &good_first).await;
    raw.truncate(&leaves[2]).await;
    for url in [
        a.api(&format!("/cat/{root}")),
        a.gateway(&format!("/ipfs/{root}")),
    ] {
        let response = a.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.content_length(), Some(data.len() as u64));
        assert!(
            response.bytes().await.is_err(),
            "{url}: a cut body must not read as whole"
        );
    }

    // With a peer holding the block, a read is served whole from it.
    let b = TestNode::start_on(storage).await;
    assert_eq!(b.add_cid(data.clone(), "").await, root.to_string());
    common::ok(&a.cli(&["swarm", "connect", &b.tcp_addr()]));
    let response = a
        .http
        .get(a.api(&format!("/cat/{root}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), data);
    a.stop().await;
    b.stop().await;
}

every_storage!(
    a_start_adopts_intact_orphans_and_removes_torn_and_missing_blocks,
    a_second_daemon_on_a_data_dir_in_use_is_refused_and_changes_nothing,
    repo_verify_finds_torn_blocks_and_repair_fetches_them_from_a_peer,
    a_pinned_block_no_peer_has_is_reported_unrepaired_and_stays_wanted,
    readers_answer_an_error_not_a_200_for_a_torn_local_block,
);
