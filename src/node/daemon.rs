//! Starting and stopping a node's long-running tasks: the API and gateway servers.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Node, NodeError, Result};
use crate::api::{self, AppState, BoundUrls};
use crate::config::{DaemonInfo, DataDir};

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

        let info = DaemonInfo {
            id: node.peer_id.to_string(),
            api: urls.api,
            gateway: urls.gateway,
            addresses: Vec::new(),
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
        while self.tasks.join_next().await.is_some() {}
        self.node.data.remove_daemon_info();
        self.node.db.close().await;
    }
}
