//! Inbound streams for a set of protocols, queued per protocol for the engine that serves them.
//!
//! `libp2p-stream` hands inbound streams over through a channel with no room to spare and
//! drops any that arrive while the previous one is still being taken; Helia opens a new
//! stream for every Bitswap message, several at once, so streams were being lost. This
//! behaviour queues them instead, and drops only when a queue is full (with a log line).
//! Outbound streams still go through `libp2p-stream`'s `Control`.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{DeniedUpgrade, InboundUpgrade, UpgradeInfo};
use libp2p::core::Endpoint;
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use tokio::sync::mpsc;

pub type Incoming = (PeerId, StreamProtocol, Stream);

/// Which queue each protocol's streams go to.
type Routes = Arc<Vec<(StreamProtocol, mpsc::Sender<Incoming>)>>;

#[derive(Default)]
pub struct Behaviour {
    routes: Vec<(StreamProtocol, mpsc::Sender<Incoming>)>,
}

impl Behaviour {
    /// Accepts `protocols`; their streams arrive on the returned queue of `capacity`.
    pub fn route(
        &mut self,
        protocols: &[StreamProtocol],
        capacity: usize,
    ) -> mpsc::Receiver<Incoming> {
        let (sender, receiver) = mpsc::channel(capacity);
        for protocol in protocols {
            self.routes.push((protocol.clone(), sender.clone()));
        }
        receiver
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            routes: Arc::new(self.routes.clone()),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
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

pub struct Handler {
    peer: PeerId,
    routes: Routes,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        let protocols = self.routes.iter().map(|(p, _)| p.clone()).collect();
        SubstreamProtocol::new(Upgrade(protocols), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: (stream, protocol),
            ..
        }) = event
        else {
            return;
        };
        let Some((_, sender)) = self.routes.iter().find(|(p, _)| *p == protocol) else {
            return;
        };
        if sender.try_send((self.peer, protocol, stream)).is_err() {
            tracing::debug!(peer = %self.peer, "inbound stream queue full; dropping a stream");
        }
    }
}

pub struct Upgrade(Vec<StreamProtocol>);

impl UpgradeInfo for Upgrade {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Upgrade {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, stream: Stream, protocol: Self::Info) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}
