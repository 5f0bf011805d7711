//! Whether the data dir's `daemon.json` belongs to a running daemon.
//!
//! A daemon writes `daemon.json` once it serves and removes it in [`crate::node::Daemon::stop`];
//! one that crashed, or was killed with `SIGKILL`, leaves it behind. Such a file is stale when
//! the pid it names is gone, or when nobody holds the data dir's lock (`repo.lock`, which a
//! daemon holds for its whole life and which goes with its process). The pid alone is not
//! enough: after a reboot another process may have it.
//!
//! Invariant: the check never takes the data dir's lock exclusively, so it cannot make a
//! daemon that starts at the same moment fail; a shared lock is taken for an instant only when
//! the pid is alive.

use super::{DaemonInfo, DataDir, LOCK_FILE};

/// What `daemon.json` says about the data dir.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonFile {
    /// No `daemon.json` (or one that cannot be read as one): no daemon serves.
    Absent,
    /// A daemon holds the data dir and serves at these addresses.
    Running(DaemonInfo),
    /// Left by a daemon that is no longer running.
    Stale(DaemonInfo),
}

impl DataDir {
    /// Reads `daemon.json` and checks that its daemon still runs.
    pub fn daemon_file(&self) -> DaemonFile {
        let Some(info) = self.read_daemon_info() else {
            return DaemonFile::Absent;
        };
        if pid_is_gone(info.pid) || self.lock_is_free() {
            DaemonFile::Stale(info)
        } else {
            DaemonFile::Running(info)
        }
    }

    /// True when no process holds `repo.lock` (a daemon holds it exclusively).
    fn lock_is_free(&self) -> bool {
        let Ok(file) = std::fs::File::open(self.root.join(LOCK_FILE)) else {
            // No lock file: no daemon ever locked this data dir, so none runs on it.
            return true;
        };
        // Released when `file` closes, at the end of this function.
        file.try_lock_shared().is_ok()
    }
}

/// True when the process table says `pid` does not exist. Where there is no `/proc` the
/// answer is "not known to be gone", and the lock decides.
fn pid_is_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn info(pid: u32) -> DaemonInfo {
        DaemonInfo {
            id: "12D3KooW".into(),
            api: "http://127.0.0.1:1".into(),
            gateway: "http://127.0.0.1:2".into(),
            addresses: Vec::new(),
            pid,
        }
    }

    #[test]
    fn a_daemon_file_is_running_only_while_its_pid_lives_and_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("repo"));
        data.init(&Config::new(true)).unwrap();
        assert_eq!(data.daemon_file(), DaemonFile::Absent);

        // Our own pid, but nobody holds the lock: a daemon that was killed, its pid reused.
        let ours = info(std::process::id());
        data.write_daemon_info(&ours).unwrap();
        assert_eq!(data.daemon_file(), DaemonFile::Stale(ours.clone()));

        // Held: running.
        let lock = data.lock().unwrap();
        assert_eq!(data.daemon_file(), DaemonFile::Running(ours.clone()));

        // Held, but the pid is gone (pids above the kernel's pid_max never exist).
        let dead = info(u32::MAX - 1);
        data.write_daemon_info(&dead).unwrap();
        assert_eq!(data.daemon_file(), DaemonFile::Stale(dead));
        drop(lock);

        // A garbled file is no daemon.
        std::fs::write(data.daemon_path(), "{not json").unwrap();
        assert_eq!(data.daemon_file(), DaemonFile::Absent);
    }
}
