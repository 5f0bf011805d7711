-- The keeper: CIDs kept with a replication policy (the Pinning Service API's pin requests),
-- the deals made for each, everything the keeper decided, and what it knows of providers.

CREATE TABLE keeps (
    id                      TEXT PRIMARY KEY,   -- the Pinning Service API's requestid
    cid                     TEXT NOT NULL,
    name                    TEXT,
    origins                 TEXT NOT NULL,      -- JSON array of multiaddrs
    meta                    TEXT NOT NULL,      -- JSON object of strings
    replicas                BIGINT NOT NULL,
    duration_secs           BIGINT NOT NULL,
    max_price_per_gib_month BIGINT,             -- NULL: no cap
    challenge_period_secs   BIGINT NOT NULL,
    status                  TEXT NOT NULL,      -- 'queued', 'pinning', 'pinned', 'failed'
    status_details          TEXT,
    healthy                 BIGINT NOT NULL,    -- replicas whose latest proof passed
    shortfall               BIGINT NOT NULL,    -- replicas wanted with no eligible provider
    at_risk                 BIGINT NOT NULL,    -- deals that missed their latest proof
    local_pin               BIGINT NOT NULL,    -- 1 once this node holds the DAG pinned
    owns_pin                BIGINT NOT NULL,    -- 1 if the keeper made that pin (undone on delete)
    piece_root              TEXT,
    piece_size              BIGINT,
    created_at              BIGINT NOT NULL,    -- ms; unique: the API paginates on it
    updated_at              BIGINT NOT NULL
);

CREATE UNIQUE INDEX keeps_created ON keeps (created_at);
CREATE INDEX keeps_cid ON keeps (cid);

CREATE TABLE keep_deals (
    keep       TEXT NOT NULL REFERENCES keeps (id) ON DELETE CASCADE,
    deal       TEXT NOT NULL,                   -- deals.id (role 'client')
    peer       TEXT NOT NULL,
    state      TEXT NOT NULL,                   -- 'live', or why it ended: 'dropped', 'released', 'ended'
    reason     TEXT,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT,
    PRIMARY KEY (keep, deal)
);

CREATE TABLE keep_events (
    keep   TEXT NOT NULL REFERENCES keeps (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    kind   TEXT NOT NULL,                       -- 'created', 'pinned_locally', 'deal', 'drop', ...
    detail TEXT NOT NULL,
    PRIMARY KEY (keep, seq)
);

CREATE TABLE keeper_providers (
    peer           TEXT PRIMARY KEY,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    address        TEXT,
    score_permille BIGINT                       -- the last score computed, to notice a fall
);

-- Scores read a provider's recent challenges across all its pieces.
CREATE INDEX challenges_peer ON challenges (peer, role, issued_at);
