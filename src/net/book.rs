//! The address book: where each known peer listens, and the behaviour that hands those
//! addresses to every dial by peer id.
//!
//! libp2p dials a peer by id (an outbound stream to a peer not connected, a DHT query) with
//! the addresses its behaviours offer. identify's cache forgets an address as soon as one dial
//! to it fails, so a provider that was down for a restart stayed unreachable for good even
//! after it came back on the same address. The book forgets nothing on a failed dial: an
//! address leaves only when the peer says it listens elsewhere or the book is full. The node
//! saves the book's entries for the peers it has deals with and loads them at start
//! ([`AddressBook::remember`]), so a restarted client redials its providers too.
//!
//! Invariants: only addresses a peer says it listens on (identify), addresses this node
//! dialled, or addresses the node loaded from its own records are kept; never the source
//! port of an inbound connection. At most [`MAX_ADDRS_PER_PEER`] per peer and
//! [`MAX_ADDRESS_BOOK`] peers, the peer written longest ago evicted first.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use super::swarm::Aged;

/// Addresses kept per peer.
pub const MAX_ADDRS_PER_PEER: usize = 16;
/// Peers whose addresses are kept.
pub const MAX_ADDRESS_BOOK: usize = 4096;

/// A cloneable handle on the book; the swarm task writes it, dials and the node read it.
#[derive(Debug, Clone, Default)]
pub struct AddressBook(Arc<Mutex<Aged<Vec<Multiaddr>>>>);

impl AddressBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Aged<Vec<Multiaddr>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `peer` says it listens on now: replaces what was known. Returns the addresses
    /// kept (the dialable ones, capped), for the other places that record them.
    pub fn listens(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
        let addrs = usable(peer, addrs);
        if !addrs.is_empty() {
            self.lock().insert(peer, addrs.clone(), MAX_ADDRESS_BOOK);
        }
        addrs
    }

    /// Adds addresses known to reach `peer` (one this node dialled, or its own records) in
    /// front of what is known, keeping the others up to the cap.
    pub fn remember(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let mut book = self.lock();
        let mut merged = usable(peer, addrs);
        for known in book.get(&peer).cloned().unwrap_or_default() {
            if !merged.contains(&known) {
                merged.push(known);
            }
        }
        merged.truncate(MAX_ADDRS_PER_PEER);
        if !merged.is_empty() {
            book.insert(peer, merged, MAX_ADDRESS_BOOK);
        }
    }

    /// Where `peer` was last known to listen (without `/p2p`).
    pub fn get(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.lock().get(peer).cloned().unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Dialable addresses of `peer`: no unspecified host, no `/p2p` of another peer, the own
/// `/p2p` suffix dropped, no duplicates, at most [`MAX_ADDRS_PER_PEER`].
fn usable(peer: PeerId, addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = Vec::new();
    for mut addr in addrs {
        if let Some(Protocol::P2p(id)) = addr.iter().last() {
            if id != peer {
                continue;
            }
            addr.pop();
        }
        let unspecified = addr.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified(),
            _ => false,
        });
        if unspecified || addr.is_empty() || out.contains(&addr) {
            continue;
        }
        out.push(addr);
        if out.len() == MAX_ADDRS_PER_PEER {
            break;
        }
    }
    out
}

/// Offers the book's addresses to every dial by peer id; has no connection handler work.
pub struct Behaviour {
    book: AddressBook,
}

impl Behaviour {
    pub fn new(book: AddressBook) -> Self {
        Behaviour { book }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(peer.map(|p| self.book.get(&p)).unwrap_or_default())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_failed_dial_forgets_nothing_and_new_listen_addresses_replace_old_ones() {
        let book = AddressBook::default();
        let peer = PeerId::random();
        book.listens(
            peer,
            vec![
                addr("/ip4/127.0.0.1/tcp/4001"),
                addr("/ip4/0.0.0.0/tcp/4001"),
                addr(&format!("/ip4/127.0.0.1/tcp/4002/p2p/{}", PeerId::random())),
                addr(&format!("/ip4/127.0.0.1/tcp/4003/p2p/{peer}")),
                addr("/ip4/127.0.0.1/tcp/4001"),
            ],
        );
        assert_eq!(
            book.get(&peer),
            vec![
                addr("/ip4/127.0.0.1/tcp/4001"),
                addr("/ip4/127.0.0.1/tcp/4003")
            ],
            "unspecified, another peer's and duplicate addresses are dropped"
        );
        book.remember(peer, vec![addr("/ip4/127.0.0.1/tcp/4009")]);
        assert_eq!(book.get(&peer)[0], addr("/ip4/127.0.0.1/tcp/4009"));
        assert_eq!(book.get(&peer).len(), 3);
        book.listens(peer, vec![addr("/ip4/127.0.0.1/tcp/5000")]);
        assert_eq!(book.get(&peer), vec![addr("/ip4/127.0.0.1/tcp/5000")]);
        // Nothing usable does not erase what was known.
        book.listens(peer, vec![addr("/ip4/0.0.0.0/tcp/1")]);
        assert_eq!(book.get(&peer), vec![addr("/ip4/127.0.0.1/tcp/5000")]);
    }

    #[test]
    fn the_book_is_capped_per_peer_and_in_peers() {
        let book = AddressBook::default();
        let peer = PeerId::random();
        let many = (0..100)
            .map(|i| addr(&format!("/ip4/127.0.0.1/tcp/{}", 1000 + i)))
            .collect();
        book.listens(peer, many);
        assert_eq!(book.get(&peer).len(), MAX_ADDRS_PER_PEER);
        book.remember(peer, vec![addr("/ip4/127.0.0.1/tcp/9")]);
        assert_eq!(book.get(&peer).len(), MAX_ADDRS_PER_PEER);
        for _ in 0..MAX_ADDRESS_BOOK + 10 {
            book.listens(PeerId::random(), vec![addr("/ip4/127.0.0.1/tcp/1")]);
        }
        assert_eq!(book.len(), MAX_ADDRESS_BOOK);
        assert!(book.get(&peer).is_empty(), "the oldest peer went first");
    }
}
