//! How much a provider can store: the free space of the disk its blocks live on, plus what
//! is already stored (space it holds now), capped by the `[storage]` quota. A capacity
//! offered beyond that would be sold and then fail at the first large transfer, so
//! [`super::Provider::set_ask_terms`] refuses it; the metrics report the same figures.
//!
//! Only a backend on a local disk has a free space to read; for the others (memory, object
//! storage) [`room`] is `None` and the quota alone limits.

use std::path::PathBuf;

use super::parts::Parts;
use super::{NodeError, Result};
use crate::blockstore::BackendConfig;
use crate::units::format_size;

/// What the block store can hold, measured now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The directory measured (the block store's root).
    pub path: PathBuf,
    /// Bytes available to this (unprivileged) process on that file system.
    pub free_on_disk: u64,
    /// Block bytes stored now.
    pub stored: u64,
    pub quota: Option<u64>,
}

impl Room {
    /// The most block bytes the store can hold: stored plus free, within the quota.
    pub fn limit(&self) -> u64 {
        let disk = self.stored.saturating_add(self.free_on_disk);
        self.quota.map_or(disk, |quota| quota.min(disk))
    }

    /// Refuses a `capacity` the store cannot hold, saying what there is.
    pub fn check(&self, capacity: u64) -> Result<()> {
        if capacity <= self.limit() {
            return Ok(());
        }
        let quota = match self.quota {
            Some(quota) if quota < self.stored.saturating_add(self.free_on_disk) => {
                format!(", within the [storage] quota of {}", format_size(quota))
            }
            _ => String::new(),
        };
        Err(NodeError::invalid(format!(
            "capacity {} is more than this node can store: {} free on the disk of {} plus {} \
             already stored makes {}{quota}",
            format_size(capacity),
            format_size(self.free_on_disk),
            self.path.display(),
            format_size(self.stored),
            format_size(self.limit()),
        )))
    }
}

/// The room of the node's block store, or `None` when it is not on a local disk.
pub fn room(parts: &Parts) -> Result<Option<Room>> {
    let path = match parts.config.block_store(&parts.data) {
        BackendConfig::Fs { root } => root,
        #[allow(unreachable_patterns)] // Backends off the local disk have no free space.
        _ => return Ok(None),
    };
    let free_on_disk = fs4::available_space(&path)
        .map_err(|e| NodeError::internal(format!("free space of {}: {e}", path.display())))?;
    Ok(Some(Room {
        path,
        free_on_disk,
        stored: parts.store.used_bytes(),
        quota: parts.store.quota(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(free: u64, stored: u64, quota: Option<u64>) -> Room {
        Room {
            path: PathBuf::from("/srv/cairn/blocks"),
            free_on_disk: free,
            stored,
            quota,
        }
    }

    #[test]
    fn capacity_may_use_free_space_plus_what_is_stored_within_the_quota() {
        let gib = 1u64 << 30;
        let r = room(67 * gib, 3 * gib, None);
        assert_eq!(r.limit(), 70 * gib);
        r.check(70 * gib).unwrap();
        let e = r.check(500 * gib).unwrap_err();
        assert_eq!(e.reason(), "invalid");
        let text = e.to_string();
        assert!(
            text.contains("capacity 500.0 GiB is more than this node can store")
                && text.contains("67.0 GiB free on the disk of /srv/cairn/blocks")
                && text.contains("3.0 GiB already stored"),
            "{text}"
        );
        let capped = room(67 * gib, 3 * gib, Some(10 * gib));
        assert_eq!(capped.limit(), 10 * gib);
        let e = capped.check(11 * gib).unwrap_err().to_string();
        assert!(e.contains("[storage] quota of 10.0 GiB"), "{e}");
        assert_eq!(room(u64::MAX, 5, None).limit(), u64::MAX);
    }
}
