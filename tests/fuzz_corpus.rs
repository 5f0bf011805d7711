//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through its target's entry
//! point in the ordinary test build: inputs that once crashed a decoder stay fixed without
//! a fuzzer, and each target is known to accept its seeds without panicking.

use std::path::Path;

#[test]
fn every_fuzz_target_has_a_corpus_and_replays_it_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in cairn::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            target(&data);
            inputs += 1;
        }
        assert!(inputs > 0, "{name} has no corpus");
        let target_file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(target_file.exists(), "{name} has no cargo-fuzz target");
    }
}
