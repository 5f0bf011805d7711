//! Owned tasks: a [`Tasks`] set tracks every task spawned through it and stops them together.
//!
//! The node's services and the network each spawn through one set, so a stop cancels every
//! task at its next await point and waits until all have ended; nothing outlives the owner
//! that started it (a transfer cannot write to a database that has closed).

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A set of owned tasks: tracked, and cancelled together at stop.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// Spawns `task`; at [`Tasks::stop`] it is dropped at its next await point unless it has
    /// finished.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Spawns `task` and returns its handle: its output, or `None` if the set stopped first.
    pub fn spawn_joinable<F, T>(&self, task: F) -> tokio::task::JoinHandle<Option<T>>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => None,
                out = task => Some(out),
            }
        })
    }

    /// Spawns `task` without cancelling it: it watches [`Tasks::stop_token`] itself and ends
    /// on its own (an HTTP server finishing the requests it is answering). Stop still waits
    /// for it.
    pub fn spawn_graceful<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Resolves when the node is stopping; long-running loops select on it to finish their
    /// current step cleanly instead of being dropped mid-step.
    pub fn stopping(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// A token that is cancelled when the node stops.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Cancels every task and waits until all have ended. Spawning after this is refused
    /// (the task is dropped at once).
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// How many tasks are still running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_every_task_and_refuses_new_ones() {
        let tasks = Tasks::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        for _ in 0..3 {
            let tx = tx.clone();
            tasks.spawn(async move {
                let _tx = tx;
                std::future::pending::<()>().await;
            });
        }
        drop(tx);
        assert_eq!(tasks.len(), 3);
        tasks.stop().await;
        assert!(tasks.is_empty());
        // Every task's sender was dropped with it.
        assert!(rx.recv().await.is_none());
        tasks.spawn(async { std::future::pending::<()>().await });
        tasks.stop().await;
        assert!(tasks.is_empty());
    }
}
