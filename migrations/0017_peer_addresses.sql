-- Where the peers this node has deals with were last known to listen, so a restarted node
-- redials its providers and clients without waiting to hear from them.
CREATE TABLE peer_addresses (
    peer     TEXT PRIMARY KEY,
    addrs    TEXT NOT NULL,                     -- JSON array of multiaddrs (no /p2p suffix)
    saved_at BIGINT NOT NULL
);
