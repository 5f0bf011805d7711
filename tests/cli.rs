//! The `cairn` binary as a user runs it against a live daemon: every command of the
//! foundation, its `--json` output, and non-zero exits with a message on bad input.

mod common;

use common::{bytes, json, ok, sha256_hex, TestNode};

#[track_caller]
#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_data_dir_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .env("CAIRN_PATH", dir.path().join("repo"))
            .output()
            .unwrap()
    };
    let out = json(&run(&["init", "--random-ports", "--json"]));
    assert!(out["id"].as_str().unwrap().starts_with("12D3KooW"));
    let again = run(&["init"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialized"));
    let no_daemon = run(&["pin", "ls"]);
    assert!(!no_daemon.status.success());
    assert!(String::from_utf8_lossy(&no_daemon.stderr).contains("no daemon running"));
}

#[tokio::test(flavor = "multi_thread")]
async fn add_cat_get_pin_gc_and_car_through_the_cli() {
    let node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("big.bin");
    let data = bytes(2_500_000, 11);
    std::fs::write(&file, &data).unwrap();

    let id = json(&node.cli(&["id", "--json"]));
    for key in ["id", "addresses", "api", "gateway"] {
        assert!(!id[key].is_null(), "id --json has {key}: {id}");
    }

    let added = json(&node.cli(&["add", "--json", file.to_str().unwrap()]));
    let cid = added["cid"].as_str().unwrap().to_string();
    let only_hash = ok(&node.cli(&["add", "-n", "-q", file.to_str().unwrap()]));
    assert_eq!(
        only_hash.trim(),
        cid,
        "--only-hash computes the same CID locally"
    );

    let cat = node.cli(&["cat", &cid]);
    assert_eq!(sha256_hex(&cat.stdout), sha256_hex(&data));

    let out = work.path().join("out.bin");
    ok(&node.cli(&["get", &cid, "-o", out.to_str().unwrap()]));
    assert_eq!(std::fs::read(&out).unwrap(), data);

    let site = work.path().join("site");
    std::fs::create_dir_all(site.join("sub/empty")).unwrap();
    std::fs::write(site.join("index.html"), "<p>home</p>").unwrap();
    std::fs::write(site.join("sub/data.bin"), bytes(1_200_000, 12)).unwrap();
    let dir_cid = ok(&node.cli(&["add", "-r", "-q", site.to_str().unwrap()]))
        .trim()
        .to_string();
    let copy = work.path().join("copy");
    ok(&node.cli(&["get", &dir_cid, "-o", copy.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(copy.join("index.html")).unwrap(),
        "<p>home</p>"
    );
    assert_eq!(
        std::fs::read(copy.join("sub/data.bin")).unwrap(),
        bytes(1_200_000, 12)
    );
    assert!(copy.join("sub/empty").is_dir());

    let pins = json(&node.cli(&["pin", "ls", "--json"]));
    assert_eq!(pins["pins"].as_array().unwrap().len(), 2);

    let car = work.path().join("x.car");
    ok(&node.cli(&["car", "export", &cid, "-o", car.to_str().unwrap()]));
    ok(&node.cli(&["pin", "rm", &cid]));
    let gc = json(&node.cli(&["gc", "--json"]));
    assert!(gc["removed_blocks"].as_u64().unwrap() >= 3);
    assert!(
        !node.cli(&["cat", &cid]).status.success(),
        "collected after unpin"
    );

    let imported = json(&node.cli(&["car", "import", "--json", car.to_str().unwrap()]));
    assert_eq!(imported["roots"][0], cid.as_str());
    assert_eq!(
        sha256_hex(&node.cli(&["cat", &cid]).stdout),
        sha256_hex(&data)
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_exits_non_zero_with_a_message() {
    let node = TestNode::start().await;
    for args in [
        vec!["cat", "not-a-cid"],
        vec!["pin", "add", "bafkqaaa-broken"],
        vec!["add", "/definitely/missing/file"],
        vec!["add", "--profile", "unixfs-v9", "Cargo.toml"],
        vec!["add", "--chunker", "rabin-1-2-3", "Cargo.toml"],
    ] {
        let out = node.cli(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = node.cli(&["add", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("use -r"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blake3_adds_and_hidden_files_are_left_out_unless_asked() {
    let node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(1_300_000, 21)).unwrap();
    let cid = ok(&node.cli(&["add", "-q", "--hash", "blake3", file.to_str().unwrap()]))
        .trim()
        .to_string();
    let parsed = cairn::content::parse_cid(&cid).unwrap();
    assert_eq!(parsed.hash().code(), cairn::content::BLAKE3);
    assert_eq!(
        sha256_hex(&node.cli(&["cat", &cid]).stdout),
        sha256_hex(&bytes(1_300_000, 21))
    );

    let site = work.path().join("site");
    std::fs::create_dir_all(site.join(".git")).unwrap();
    std::fs::write(site.join(".git/config"), "secret").unwrap();
    std::fs::write(site.join("page.html"), "page").unwrap();
    let without = ok(&node.cli(&["add", "-r", "-q", site.to_str().unwrap()]))
        .trim()
        .to_string();
    let listing = json(&node.cli(&["ls", "--json", &without]));
    assert_eq!(listing["entries"].as_array().unwrap().len(), 1, "{listing}");
    let with = ok(&node.cli(&["add", "-r", "-q", "--hidden", site.to_str().unwrap()]))
        .trim()
        .to_string();
    assert_ne!(with, without);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_refuses_a_dag_whose_entry_names_would_escape_the_output_dir() {
    use cairn::content::unixfs::{encode_node, Data, DataType};
    use cairn::content::{Block, HashAlg, RAW};

    let node = TestNode::start().await;
    let leaf = Block::encode(RAW, HashAlg::Sha2_256, &b"pwned"[..]);
    let link = ipld_dagpb::PbLink {
        cid: *leaf.cid(),
        name: Some("..".into()),
        size: Some(5),
    };
    let data = Data {
        r#type: DataType::Directory as i32,
        ..Default::default()
    };
    let evil = encode_node(vec![link], &data, HashAlg::Sha2_256, false).unwrap();
    let mut car = Vec::new();
    let mut writer = cairn::content::car::CarWriter::new(&mut car, &[*evil.cid()])
        .await
        .unwrap();
    writer.write_block(evil.cid(), evil.data()).await.unwrap();
    writer.write_block(leaf.cid(), leaf.data()).await.unwrap();
    writer.finish().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let car_path = work.path().join("evil.car");
    std::fs::write(&car_path, car).unwrap();
    ok(&node.cli(&["car", "import", car_path.to_str().unwrap()]));

    let out = work.path().join("inner").join("out");
    let result = node.cli(&["get", &evil.cid().to_string(), "-o", out.to_str().unwrap()]);
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("unsafe entry name"));
    assert!(!work.path().join("inner").join("..").join("pwned").exists());
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        2,
        "only the CAR and the empty output dir"
    );
    node.stop().await;
}
