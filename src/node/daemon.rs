//! Starting and stopping a node's long-running tasks: the libp2p host and the API and
//! gateway servers.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::prover::NodeProver;
use super::provider::NodeMarket;
use super::{Node, NodeError, Result};
use crate::api::{self, AppState, BoundUrls};
use crate::config::{DaemonInfo, DataDir};
use crate::net::{self, NetConfig, NetHandle};

/// A running node. Dropping it without [`Daemon::stop`] leaves tasks running until the
/// runtime ends; `stop` shuts them down gracefully and removes `daemon.json`.
pub struct Daemon {
    pub node: Arc<Node>,
    pub info: DaemonInfo,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Daemon {
    /// Opens the data dir and starts serving. The bound addresses (real ports, even when the
    /// config says 0) are written to `daemon.json` for the CLI.
    pub async fn start(data: DataDir) -> Result<Self> {
        let node = Node::open(data).await?;
        let state = AppState::new(node.clone());
        let bind = |addr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| NodeError::Other(format!("cannot listen on {addr}: {e}")))
        };
        let api_listener = bind(node.config.api.listen).await?;
        let gateway_listener = bind(node.config.gateway.listen).await?;
        let url = |l: &tokio::net::TcpListener| l.local_addr().map(|a| format!("http://{a}"));
        let urls = BoundUrls {
            api: url(&api_listener).map_err(|e| NodeError::Other(e.to_string()))?,
            gateway: url(&gateway_listener).map_err(|e| NodeError::Other(e.to_string()))?,
        };
        let _ = state.urls.set(urls.clone());
        let (net, net_task) = start_network(&node).await?;
        let _ = node.net.set(net.clone());

        let (shutdown, watcher) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let servers = [
            ("api", api_listener, api::api_router(state.clone())),
            (
                "gateway",
                gateway_listener,
                api::gateway_router(state.clone()),
            ),
        ];
        for (name, listener, router) in servers {
            let mut watcher = watcher.clone();
            let stop = async move {
                let _ = watcher.wait_for(|stop| *stop).await;
            };
            tasks.spawn(async move {
                if let Err(e) = api::serve(listener, router, stop).await {
                    tracing::error!(server = name, error = %e, "HTTP server failed");
                }
            });
        }

        tasks.spawn(async move {
            let _ = net_task.await;
        });
        tasks.spawn(provide_pins(node.clone(), net.clone()));
        tasks.spawn(flush_fetched_every_second(node.clone(), watcher.clone()));
        tasks.spawn(tick_deals_every_second(node.clone(), watcher.clone()));
        // Keeps: replication, scoring and repair (`node::keeper`), every half second.
        tasks.spawn(super::keeper::Keeper::new(node.clone()).run(watcher.clone()));
        tasks.spawn(announce_ask_every_minute(node.clone(), watcher.clone()));
        tasks.spawn(flush_retrieval_every_second(node.clone(), watcher.clone()));
        if let Some(orders) = node.take_invoice_orders() {
            tasks.spawn(send_invoices(node.clone(), orders, watcher.clone()));
        }
        if let Err(e) = node.load_retrieval().await {
            tracing::warn!(error = %e, "could not load retrieval accounts");
        }
        if let Err(e) = node.resume_deals().await {
            tracing::warn!(error = %e, "could not resume unfinished deals");
        }
        let addresses = net
            .listen_addrs()
            .await
            .map_err(|e| NodeError::Other(e.to_string()))?;
        let info = DaemonInfo {
            id: node.peer_id.to_string(),
            api: urls.api,
            gateway: urls.gateway,
            addresses: addresses.iter().map(ToString::to_string).collect(),
            pid: std::process::id(),
        };
        node.data.write_daemon_info(&info)?;
        tracing::info!(id = %info.id, api = %info.api, gateway = %info.gateway, "daemon ready");
        Ok(Daemon {
            node,
            info,
            shutdown,
            tasks,
        })
    }

    /// Stops every task, waits for them, and removes `daemon.json`.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(net) = self.node.net.get() {
            net.shutdown().await;
        }
        while self.tasks.join_next().await.is_some() {}
        self.node.data.remove_daemon_info();
        self.node.db.close().await;
    }
}

async fn start_network(node: &Arc<Node>) -> Result<(NetHandle, tokio::task::JoinHandle<()>)> {
    let config = NetConfig {
        listen: node.config.swarm.listen.clone(),
        bootstrap: node.config.swarm.bootstrap.clone(),
        max_connections: 512,
    };
    let keypair =
        crate::config::libp2p_keypair(&node.key).map_err(|e| NodeError::Other(e.to_string()))?;
    net::spawn(config, keypair, node.store.clone(), services(node))
        .await
        .map_err(|e| NodeError::Other(e.to_string()))
}

fn services(node: &Arc<Node>) -> net::Services {
    net::Services {
        prover: Some(Arc::new(NodeProver(node.clone()))),
        market: Some(Arc::new(NodeMarket(node.clone()))),
        pay: Some(Arc::new(crate::node::NodePay(node.clone()))),
        serve_gate: Some(node.pay.meter.clone()),
    }
}

/// Announces every pinned root in the DHT (the DHT republishes them on its own timer).
async fn provide_pins(node: Arc<Node>, net: NetHandle) {
    let pins = match node.db.list_pins().await {
        Ok(pins) => pins,
        Err(e) => return tracing::warn!(error = %e, "cannot list pins to provide"),
    };
    for pin in pins {
        if let Err(e) = net.provide(pin.cid).await {
            tracing::debug!(cid = %pin.cid, error = %e, "provide failed");
        }
    }
}

/// Records blocks fetched from the network that have not filled a batch yet.
async fn flush_fetched_every_second(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if let Err(e) = node.flush_fetched().await {
            tracing::warn!(error = %e, "could not record fetched blocks");
        }
    }
    let _ = node.flush_fetched().await;
}

/// Runs the deal lifecycle: challenges due, deals ended.
async fn tick_deals_every_second(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if let Err(e) = node.tick_deals().await {
            tracing::warn!(error = %e, "deal lifecycle pass failed");
        }
    }
}

/// Keeps this node's ask fresh on the ask topic and its DHT record alive.
async fn announce_ask_every_minute(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        node.announce_ask().await;
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}

/// Writes retrieval byte counts through to the database.
async fn flush_retrieval_every_second(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        node.flush_retrieval().await;
        node.pay.meter.sweep();
    }
    node.flush_retrieval().await;
}

/// Sends the invoices the retrieval meter orders, one at a time.
async fn send_invoices(
    node: Arc<Node>,
    mut orders: tokio::sync::mpsc::Receiver<crate::node::pay::InvoiceOrder>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let order = tokio::select! {
            order = orders.recv() => order,
            _ = stop.wait_for(|s| *s) => None,
        };
        let Some(order) = order else { break };
        node.send_invoice(order).await;
    }
}
