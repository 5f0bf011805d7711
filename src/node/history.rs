//! The history sampler: every [`SAMPLE_EVERY`] the daemon records what only the running node
//! knows (Bitswap bytes each way since the previous sample, bytes stored, the disk's free
//! space, the capacity offered) into the day's row of `history_days` (`db::history`).
//!
//! Invariants: one sampler per daemon run, started before the daemon reports ready (its run's
//! start is the node's uptime origin) and owned by the node's [`super::Tasks`]; the daemon
//! takes one last sample when it stops, after its tasks and before the database closes, so a
//! clean stop loses no traffic; the time of every sample
//! is the node's [`crate::clock::Clock`] (the database stamps it), while how often it wakes is
//! tokio's timer, as for every loop of the node.

use std::time::Duration;

use super::{Node, Result};
use crate::db::Sample;

/// How often the daemon samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(60);

/// One daemon run's sampler.
#[derive(Debug, Clone)]
pub struct Sampler {
    node: Node,
    /// The run's key in `node_runs`: when it started (unix ms).
    run: i64,
}

impl Sampler {
    /// Records a new run and its first sample.
    pub async fn start(node: &Node) -> Result<Sampler> {
        let run = node.db().start_run().await?;
        let sampler = Sampler {
            node: node.clone(),
            run,
        };
        sampler.sample().await?;
        Ok(sampler)
    }

    /// When this run started (unix ms).
    pub fn run(&self) -> i64 {
        self.run
    }

    /// Reads the node's figures now and adds them to today's row.
    pub async fn sample(&self) -> Result<()> {
        let sample = self.read().await?;
        self.node.db().record_sample(self.run, &sample).await?;
        Ok(())
    }

    async fn read(&self) -> Result<Sample> {
        let traffic = self
            .node
            .net()
            .running()
            .map(|net| net.traffic())
            .unwrap_or_default();
        let disk_free = self.node.provider().room()?.map(|room| room.free_on_disk);
        let capacity = self
            .node
            .provider()
            .ask_terms()
            .await?
            .map(|terms| terms.capacity);
        Ok(Sample {
            bytes_in: traffic.bytes_in,
            bytes_out: traffic.bytes_out,
            disk_used: self.node.content().store().used_bytes(),
            disk_free,
            capacity,
        })
    }

    /// Samples every `period` until the node stops (a sample is one transaction, so a stop
    /// between two leaves nothing half-written; the daemon takes the last one itself, after
    /// its tasks have ended).
    pub fn spawn(self, period: Duration) {
        let tasks = self.node.parts().tasks.clone();
        tasks.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(e) = self.sample().await {
                    tracing::warn!(error = %e, "history sample failed");
                }
            }
        });
    }
}
