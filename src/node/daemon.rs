//! Starting and stopping a node's long-running tasks: the libp2p host and the API and
//! gateway servers.

use std::future::Future;
use std::time::Duration;

use super::{Node, NodeError, Result};
use crate::api::{self, AppState, BoundUrls};
use crate::clock::Clock;
use crate::config::{DaemonInfo, DataDir};
use crate::net::{self, NetConfig, NetHandle};

/// A running node. Dropping it without [`Daemon::stop`] leaves tasks running until the
/// runtime ends; `stop` shuts them down gracefully and removes `daemon.json`.
pub struct Daemon {
    node: Node,
    pub info: DaemonInfo,
    /// What the start-up reconcile of the block store with the database found and did.
    pub reconciled: super::ReconcileReport,
    /// The libp2p host's own task (it owns the swarm and ends on `shutdown`).
    net_task: Option<tokio::task::JoinHandle<()>>,
    /// The data dir's lock, released last in [`Daemon::stop`] (or when the process ends).
    lock: Option<crate::config::DataDirLock>,
    /// The history sampler, for its last sample at stop.
    sampler: super::history::Sampler,
}

impl Daemon {
    /// Opens the data dir and starts serving. The bound addresses (real ports, even when the
    /// config says 0) are written to `daemon.json` for the CLI.
    pub async fn start(data: DataDir) -> Result<Self> {
        Self::start_with_clock(data, Clock::system()).await
    }

    /// Like [`Daemon::start`], with the clock the node's domain reads the time from (tests
    /// pass a manual one).
    pub async fn start_with_clock(data: DataDir, clock: Clock) -> Result<Self> {
        // First of all: a second daemon on these files must not touch them (nor daemon.json).
        let lock = data.lock()?;
        // With the lock held, any daemon.json is one a daemon that did not stop left behind.
        if let Some(stale) = data.read_daemon_info() {
            tracing::warn!(
                pid = stale.pid,
                "replacing the daemon.json of a daemon that did not stop cleanly"
            );
            data.remove_daemon_info();
        }
        let node = Node::open_with_clock(data, clock).await?;
        // Before anything reads or writes blocks: the store and the database agree again
        // after whatever a crash left (see `node::content::reconcile`).
        let started = std::time::Instant::now();
        let report = node.content().reconcile().await?;
        tracing::info!(
            rows = report.rows,
            rows_removed = report.rows_removed,
            damaged = report.damaged,
            adopted = report.adopted,
            orphans_removed = report.orphans_removed,
            used_bytes = report.used_bytes,
            took_ms = started.elapsed().as_millis() as u64,
            "block store reconciled with the database"
        );
        // `[provider]` terms, once the store knows what it holds (a capacity the disk cannot
        // hold is refused here, before the node serves) and before the first ask is signed.
        if let Some(provider) = &node.config().provider {
            node.provider()
                .set_ask_terms(&provider.terms())
                .await
                .map_err(|e| {
                    NodeError::Config(crate::config::ConfigError::BadValue {
                        path: node.data().root().join("config.toml"),
                        key: Some("provider".into()),
                        line: None,
                        reason: e.to_string(),
                    })
                })?;
        }
        let bind = |addr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| NodeError::internal(format!("cannot listen on {addr}: {e}")))
        };
        let api_listener = bind(node.config().api.listen).await?;
        let gateway_listener = bind(node.config().gateway.listen).await?;
        let url = |l: &tokio::net::TcpListener| {
            l.local_addr()
                .map(|a| format!("http://{a}"))
                .map_err(NodeError::internal)
        };
        let urls = BoundUrls {
            api: url(&api_listener)?,
            gateway: url(&gateway_listener)?,
        };
        let state = AppState::new(node.clone());
        let _ = state.urls.set(urls.clone());
        let (net, net_task) = start_network(&node).await?;
        node.net().set(net.clone())?;
        match super::addresses::load(&node, &net).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(peers = n, "loaded the saved addresses of deal peers"),
            Err(e) => tracing::warn!(error = %e, "could not load saved peer addresses"),
        }

        let tasks = &node.parts().tasks;
        let servers = [
            (
                "api",
                api_listener,
                api::api_router(state.clone()),
                node.config().api.limits,
            ),
            (
                "gateway",
                gateway_listener,
                api::gateway_router(state.clone()),
                node.config().gateway.limits,
            ),
        ];
        for (name, listener, router, limits) in servers {
            let stop = tasks.stop_token();
            // Servers are not cancelled mid-request: they stop accepting and finish what they
            // are answering (graceful shutdown), then the task ends.
            tasks.spawn_graceful(async move {
                if let Err(e) = api::serve(listener, router, limits, stop.cancelled_owned()).await {
                    tracing::error!(server = name, error = %e, "HTTP server failed");
                }
            });
        }

        tasks.spawn(provide_pins(node.clone(), net.clone()));
        let (saver, saved) = (node.clone(), net.clone());
        every(
            &node,
            super::addresses::SAVE_EVERY,
            "save peer addresses",
            move || {
                let (node, net) = (saver.clone(), saved.clone());
                async move { super::addresses::save(&node, &net).await }
            },
        );
        // Dashboard history (`node::history`): this run's start, then a sample a minute.
        let sampler = super::history::Sampler::start(&node).await?;
        sampler.clone().spawn(super::history::SAMPLE_EVERY);
        let content = node.content().clone();
        every(
            &node,
            Duration::from_secs(1),
            "record fetched blocks",
            move || {
                let content = content.clone();
                async move { content.flush_fetched().await }
            },
        );
        let deals = node.deals().clone();
        every(
            &node,
            Duration::from_secs(1),
            "deal lifecycle pass",
            move || {
                let deals = deals.clone();
                async move { deals.tick_deals().await }
            },
        );
        // Keeps: replication, scoring and repair (`node::keeps::Keeper`), every half second.
        tasks.spawn(super::Keeper::new(node.keeps().clone()).run());
        tasks.spawn(announce_ask_every_minute(node.clone()));
        let pay = node.pay().clone();
        every(
            &node,
            Duration::from_secs(1),
            "retrieval accounting",
            move || {
                let pay = pay.clone();
                async move {
                    pay.flush_retrieval().await;
                    pay.meter().sweep();
                    Ok(())
                }
            },
        );
        if node.parts().chain.is_some() {
            // Claims on chain (`node::pay::claims`): thresholds, ended deals, payers' closes.
            let pay = node.pay().clone();
            every(&node, CLAIM_PASS, "claim pass", move || {
                let pay = pay.clone();
                async move { pay.claim_pass().await }
            });
        }
        if let Some(orders) = node.pay().take_invoice_orders() {
            tasks.spawn(send_invoices(node.pay().clone(), orders));
        }
        if let Err(e) = node.pay().load_retrieval().await {
            tracing::warn!(error = %e, "could not load retrieval accounts");
        }
        if let Err(e) = node.deals().resume_deals().await {
            tracing::warn!(error = %e, "could not resume unfinished deals");
        }
        let addresses = net.listen_addrs().await?;
        let info = DaemonInfo {
            id: node.peer_id().to_string(),
            api: urls.api,
            gateway: urls.gateway,
            addresses: addresses.iter().map(ToString::to_string).collect(),
            pid: std::process::id(),
        };
        node.data().write_daemon_info(&info)?;
        tracing::info!(id = %info.id, api = %info.api, gateway = %info.gateway, "daemon ready");
        Ok(Daemon {
            node,
            info,
            reconciled: report,
            net_task: Some(net_task),
            lock: Some(lock),
            sampler,
        })
    }

    /// The running node's services.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Stops every task and waits for them, then the network, then writes what the periodic
    /// tasks hold in memory, closes the database and removes `daemon.json`. No task of this
    /// node runs after it returns.
    pub async fn stop(mut self) {
        // The history's last sample first: what the network carried since the previous one.
        if let Err(e) = self.sampler.sample().await {
            tracing::warn!(error = %e, "could not take the last history sample at stop");
        }
        self.node.parts().tasks.stop().await;
        if let Some(net) = self.node.net().running() {
            if let Err(e) = super::addresses::save(&self.node, net).await {
                tracing::warn!(error = %e, "could not save peer addresses at stop");
            }
            net.shutdown().await;
        }
        if let Some(task) = self.net_task.take() {
            let _ = task.await;
        }
        // What the periodic tasks had not written yet.
        if let Err(e) = self.node.content().flush_fetched().await {
            tracing::warn!(error = %e, "could not record fetched blocks at stop");
        }
        self.node.pay().flush_retrieval().await;
        self.node.data().remove_daemon_info();
        self.node.db().close().await;
        drop(self.lock.take());
    }
}

/// How often a chain-configured node looks at its channels to claim.
const CLAIM_PASS: Duration = Duration::from_secs(1);

/// Runs `step` every `period` until the node stops; a failed step is logged and the next one
/// runs on time.
fn every<F, Fut>(node: &Node, period: Duration, what: &'static str, step: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    node.parts().tasks.spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = step().await {
                tracing::warn!(error = %e, "{what} failed");
            }
        }
    });
}

async fn start_network(node: &Node) -> Result<(NetHandle, tokio::task::JoinHandle<()>)> {
    let swarm = &node.config().swarm;
    // The DHT store holds this node's provider records and the ones peers store here: room for
    // every pin four times over (pins added while running, and others' records), so `provide`
    // does not start failing at libp2p's default of 1024 keys.
    let pins = node.db().list_pins().await.map_err(NodeError::from)?.len();
    let config = NetConfig {
        listen: swarm.listen.clone(),
        bootstrap: swarm.bootstrap.clone(),
        max_connections: 512,
        provider_keys: pins.saturating_mul(4),
        announce: swarm.announce.clone(),
    };
    let keypair = crate::config::libp2p_keypair(node.key()).map_err(NodeError::internal)?;
    Ok(net::spawn(
        config,
        keypair,
        node.content().store().clone(),
        services(node),
    )
    .await?)
}

fn services(node: &Node) -> net::Services {
    net::Services {
        prover: Some(std::sync::Arc::new(node.deals().clone())),
        market: Some(std::sync::Arc::new(node.deals().clone())),
        pay: Some(std::sync::Arc::new(node.pay().clone())),
        serve_gate: Some(node.pay().meter()),
    }
}

/// Announces every pinned root in the DHT (the DHT republishes them on its own timer).
async fn provide_pins(node: Node, net: NetHandle) {
    let pins = match node.content().list_pins().await {
        Ok(pins) => pins,
        Err(e) => return tracing::warn!(error = %e, "cannot list pins to provide"),
    };
    for pin in pins {
        if let Err(e) = net.provide(pin.cid).await {
            tracing::warn!(cid = %pin.cid, error = %e, "provide failed");
        }
    }
}

/// Keeps this node's ask fresh on the ask topic and its DHT record alive.
async fn announce_ask_every_minute(node: Node) {
    let mut ticks = tokio::time::interval(Duration::from_secs(60));
    loop {
        ticks.tick().await;
        node.provider().announce_ask().await;
    }
}

/// Sends the invoices the retrieval meter orders, one at a time.
async fn send_invoices(
    pay: super::Payments,
    mut orders: tokio::sync::mpsc::Receiver<crate::node::pay::InvoiceOrder>,
) {
    while let Some(order) = orders.recv().await {
        pay.send_invoice(order).await;
    }
}
