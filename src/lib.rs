//! Cairn: a storage-provider node for IPFS.
//!
//! Module map, bottom to top:
//! - [`content`]: CIDs, blocks, UnixFS import/export, CARv1.
pub mod config;
pub mod content;
pub mod blockstore;
pub mod db;
pub mod api;
pub mod node;
pub mod cli;
