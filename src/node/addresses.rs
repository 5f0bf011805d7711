//! Saving and loading the addresses of the peers this node has deals with.
//!
//! The network's address book ([`crate::net::book`]) keeps where peers listen while the host
//! runs and offers those addresses to every dial. This module carries the entries that matter
//! across a restart, the counterparties of deals that are not over, into the database every
//! [`SAVE_EVERY`] and at stop, and puts them back into a new host's book at start. So a client
//! redials a provider that restarted (on the same address) and a restarted client redials its
//! providers, before either calls the other unreachable.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

use super::{Node, Result};
use crate::net::book::MAX_ADDRESS_BOOK;
use crate::net::NetHandle;

/// How often the book's entries for deal peers are written.
pub const SAVE_EVERY: Duration = Duration::from_secs(30);

/// Puts the saved addresses into `net`'s book; returns how many peers were loaded. Rows that
/// do not parse are skipped with a warning (they are hints, rewritten at the next save).
pub async fn load(node: &Node, net: &NetHandle) -> Result<usize> {
    let saved = node.db().peer_addresses(MAX_ADDRESS_BOOK as i64).await?;
    let mut loaded = 0;
    for (peer, addrs) in saved {
        let Ok(peer_id) = peer.parse::<PeerId>() else {
            tracing::warn!(%peer, "skipping saved addresses of an unreadable peer id");
            continue;
        };
        let addrs: Vec<Multiaddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
        if addrs.is_empty() {
            continue;
        }
        net.remember_addresses(peer_id, addrs);
        loaded += 1;
    }
    Ok(loaded)
}

/// Writes what the book knows of every peer with a deal that is not over.
pub async fn save(node: &Node, net: &NetHandle) -> Result<()> {
    let mut entries = Vec::new();
    for peer in node.db().deal_peers().await? {
        let Ok(peer_id) = peer.parse::<PeerId>() else {
            continue;
        };
        let addrs = net.known_addresses(&peer_id);
        if !addrs.is_empty() {
            entries.push((peer, addrs.iter().map(ToString::to_string).collect()));
        }
    }
    node.db().save_peer_addresses(&entries).await?;
    Ok(())
}
