//! The signals that stop a long-running command: `SIGTERM` (what systemd, Docker and `kill`
//! send) and `SIGINT` (Ctrl-C). Both mean "stop gracefully"; the command then stops its nodes,
//! removes what it owns and exits 0.
//!
//! The handlers are installed when [`Stop::install`] runs, before the command starts its
//! work, so a signal that arrives during start-up is not lost: it is seen by the first
//! [`Stop::wait`] (tokio's signal streams buffer one delivery).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The installed `SIGTERM` and `SIGINT` handlers.
pub struct Stop {
    term: Signal,
    int: Signal,
}

impl Stop {
    pub fn install() -> std::io::Result<Self> {
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for either signal; returns its name for the log.
    pub async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
