-- Storage deals, from either side, and every state change they went through.

CREATE TABLE deals (
    id          TEXT PRIMARY KEY,     -- the deal id: CID of the signed proposal
    role        TEXT NOT NULL,        -- 'client' or 'provider'
    peer        TEXT NOT NULL,        -- the other side's peer id
    root_cid    TEXT NOT NULL,
    piece_root  TEXT NOT NULL,
    piece_size  BIGINT NOT NULL,
    proposal    TEXT NOT NULL,        -- hex of the signed proposal (DAG-CBOR)
    acceptance  TEXT,                 -- hex of the provider's latest signed acceptance
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX deals_state ON deals (role, state);

CREATE TABLE deal_events (
    deal   TEXT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    at     BIGINT NOT NULL,
    state  TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (deal, seq)
);
