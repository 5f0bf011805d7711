-- Erasure-coded keeps (issue 16): a keep whose meta names a scheme (`erasure = "k+m"`) is held
-- as k+m slots, each an ordinary content object with its own deal. The manifest (DAG-CBOR,
-- contracts/erasure.md) is kept here byte for byte, so a restore needs nothing of the block
-- store; its CID is the keep's erasure root.

CREATE TABLE keep_erasure (
    keep             TEXT PRIMARY KEY REFERENCES keeps (id) ON DELETE CASCADE,
    k                BIGINT NOT NULL,
    m                BIGINT NOT NULL,
    manifest         TEXT NOT NULL,     -- the erasure root: the manifest's CID
    manifest_bytes   TEXT NOT NULL,     -- hex of the manifest's DAG-CBOR bytes
    created_at       BIGINT NOT NULL
);

CREATE TABLE keep_slots (
    keep        TEXT NOT NULL REFERENCES keeps (id) ON DELETE CASCADE,
    idx         BIGINT NOT NULL,        -- 0..k data, k..k+m parity
    cid         TEXT NOT NULL,          -- the slot's UnixFS file CID
    piece_root  TEXT NOT NULL,          -- hex BLAKE3 root of the slot's piece (its deals commit to it)
    piece_size  BIGINT NOT NULL,
    local       BIGINT NOT NULL,        -- 1 while a copy is pinned here (to make its deal from)
    failures    BIGINT NOT NULL,        -- copies refused because they did not match the manifest
    PRIMARY KEY (keep, idx)
);

-- The slot a keep deal holds; NULL for a full replica.
ALTER TABLE keep_deals ADD COLUMN slot BIGINT;
