//! Reference CIDs produced by a real Helia (`tests/vectors/unixfs/make-vectors.mjs`), rebuilt
//! here from the same inputs: Cairn must reach the same root for every case.

use std::collections::BTreeMap;

use cid::Cid;

use super::importer::{DirectoryBuilder, FileImporter};
use super::profile::{ImportOptions, Profile};
use super::Block;

#[derive(serde::Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    kind: String,
    name: String,
    profile: String,
    len: Option<usize>,
    chunk_size: Option<usize>,
    count: Option<usize>,
    name_width: Option<usize>,
    cid: String,
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

fn options(profile: &str, chunk_size: Option<usize>) -> ImportOptions {
    ImportOptions {
        profile: profile.parse::<Profile>().unwrap(),
        chunk_size,
        ..Default::default()
    }
}

/// Imports a file in uneven pieces (the importer must not care how bytes arrive).
fn file(data: &[u8], options: &ImportOptions) -> (Cid, u64) {
    let mut importer = FileImporter::new(options.clone()).unwrap();
    let mut blocks: Vec<Block> = Vec::new();
    for piece in data.chunks(65_537) {
        blocks.extend(importer.write(piece));
    }
    let (last, root) = importer.finish().unwrap();
    blocks.extend(last);
    (root.cid, blocks.iter().map(|b| b.data().len() as u64).sum())
}

fn directory(entries: Vec<(String, (Cid, u64))>, options: &ImportOptions) -> (Cid, u64) {
    let mut builder = DirectoryBuilder::new(options.clone());
    let mut children = 0;
    for (name, (cid, size)) in entries {
        builder.add(&name, cid, size).unwrap();
        children += size;
    }
    let (blocks, cid) = builder.finish().unwrap();
    (
        cid,
        children + blocks.iter().map(|b| b.data().len() as u64).sum::<u64>(),
    )
}

fn nested(options: &ImportOptions) -> Cid {
    let text = |s: &str| file(s.as_bytes(), options);
    let deeper = directory(
        vec![("c.bin".into(), file(&bytes(70_000), options))],
        options,
    );
    let sub = directory(
        vec![
            ("b.bin".into(), file(&bytes(3000), options)),
            ("deeper".into(), deeper),
        ],
        options,
    );
    let empty = directory(Vec::new(), options);
    let mut root = BTreeMap::new();
    root.insert("a.txt".to_string(), text("alpha"));
    root.insert("sub".to_string(), sub);
    root.insert("empty".to_string(), empty);
    directory(root.into_iter().collect(), options).0
}

/// `entry-000042-` padded with `x` to `width` characters, as the generator names entries.
fn entry_name(i: usize, width: usize) -> String {
    let mut name = format!("entry-{i:06}-");
    while name.len() < width {
        name.push('x');
    }
    name
}

fn flat(count: usize, width: usize, options: &ImportOptions) -> Cid {
    let entries = (0..count)
        .map(|i| {
            (
                entry_name(i, width),
                file(format!("content of entry {i}").as_bytes(), options),
            )
        })
        .collect();
    directory(entries, options).0
}

#[test]
fn every_helia_vector_is_reproduced() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/unixfs/vectors.json"
    );
    let vectors: Vectors = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(vectors.cases.len() >= 20);
    for case in &vectors.cases {
        let cid = match case.kind.as_str() {
            "file" => {
                file(
                    &bytes(case.len.unwrap()),
                    &options(&case.profile, case.chunk_size),
                )
                .0
            }
            "nested" => nested(&options(&case.profile, None)),
            "flat" => flat(
                case.count.unwrap(),
                case.name_width.unwrap(),
                &options(&case.profile, None),
            ),
            other => panic!("unknown case kind {other}"),
        };
        assert_eq!(
            cid.to_string(),
            case.cid,
            "{} / {}",
            case.profile,
            case.name
        );
    }
}

#[test]
fn ipip_0499_hello_world_fixtures() {
    let v1 = file(b"hello world", &ImportOptions::default()).0;
    assert_eq!(
        v1.to_string(),
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    );
    let v0 = file(b"hello world", &options("unixfs-v0-2015", None)).0;
    assert_eq!(
        v0.to_string(),
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    );
}
