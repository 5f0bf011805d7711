#![no_main]
//! `cairn::fuzzing::dagpb_unixfs` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn::fuzzing::dagpb_unixfs(data));
