//! Cairn: a storage-provider node for IPFS.
//!
//! Module map, bottom to top:
//! - [`units`]: durations and sizes as people write them, parsed and shown one way.
//! - [`amount`]: amounts of money in base units, with checked arithmetic.
//! - [`signed`]: the signed envelope of every object the market and payments exchange.
//! - [`content`]: CIDs, blocks, UnixFS import/export, CARv1.
//! - [`blockstore`]: the `Blockstore` trait, its backends (on disk, in memory), and the `Store`
//!   a node runs on: the configured backend behind the one quota.
//! - [`db`]: the database (SQLite by default, PostgreSQL by URL) and its migrations.
//! - [`proof`]: piece commitments, challenges, proofs and their verification.
//! - [`erasure`]: erasure-coded slots (k-of-n Reed-Solomon), their manifest, the availability
//!   simulation.
//! - [`market`]: asks, deal proposals and acceptances, acceptance policy, deal states.
//! - [`net`]: the libp2p host: Bitswap, Kademlia, gossipsub and Cairn's own protocols.
//! - [`pay`]: payment channels, cumulative receipts, retrieval pricing and settlement.
//! - [`chain`]: settlement on an EVM chain: the wallet, EIP-712 vouchers, the channel contract's client.
//! - [`keeper`]: persistence: replication policy, provider scoring and selection, repair.
//! - [`node`]: a node built from its data dir; content operations spanning store and database.
//! - [`api`]: the HTTP API, the gateway and metrics.
//! - [`cli`]: the `cairn` command line.
//! - [`config`]: the data dir and `config.toml`.
//! - [`clock`]: the time the domain reads (system, or manual in tests).
//! - [`tasks`]: owned task sets, stopped together.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::todo,
        clippy::dbg_macro
    )
)]
// Errors carry the CID they are about (a CID is ~80 bytes); they are returned on cold paths
// only, so boxing them would buy nothing but noise.
#![allow(clippy::result_large_err)]
// Test support shared with the integration tests names the crate `cairn`, as they do.
#[cfg(test)]
extern crate self as cairn;

pub mod amount;
pub mod api;
pub mod blockstore;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod db;
pub mod erasure;
#[doc(hidden)]
pub mod fuzzing;
pub mod keeper;
pub mod market;
pub mod net;
pub mod node;
pub mod pay;
pub mod proof;
pub mod signed;
pub mod tasks;
pub mod units;
