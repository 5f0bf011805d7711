-- Dashboard history (issue 18): persisted samples the node's own counters cannot give after a
-- restart, and the payouts the chain made. Times are Unix milliseconds; a day is
-- `at / 86400000` (days since the epoch, UTC).

-- One row per day. The sampler adds the Bitswap bytes each way since its previous sample and
-- overwrites the disk figures with the day's latest sample.
CREATE TABLE history_days (
    day        BIGINT PRIMARY KEY,
    bytes_in   BIGINT NOT NULL,
    bytes_out  BIGINT NOT NULL,
    disk_used  BIGINT NOT NULL,       -- block store bytes (exact, from the blocks table)
    disk_free  BIGINT,                -- free space on the store's disk; NULL off a local disk
    capacity   BIGINT,                -- the ask's capacity; NULL when not a provider
    samples    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per daemon run: when it started, its latest sample, and the traffic counters (which
-- start at 0 with each run) as of that sample, so the next sample adds only what is new.
CREATE TABLE node_runs (
    started_at  BIGINT PRIMARY KEY,
    last_seen   BIGINT NOT NULL,
    sampled_in  BIGINT NOT NULL,
    sampled_out BIGINT NOT NULL
);

-- Claims a payee made on chain: what the contract paid it, and the transaction.
CREATE TABLE payouts (
    tx      TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    amount  BIGINT NOT NULL,
    at      BIGINT NOT NULL
);

CREATE INDEX payouts_at ON payouts (at);
CREATE INDEX receipts_stored_at ON receipts (stored_at);
