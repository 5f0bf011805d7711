-- Foundation: the blocks the store holds, the pins that keep them, and which blocks each
-- pin references (so garbage collection is a query, not a walk of every DAG).
-- Portable SQL: runs unchanged on SQLite and PostgreSQL. CIDs are stored as their
-- canonical text (CIDv1 base32); times are Unix milliseconds.

CREATE TABLE blocks (
    cid        TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE pins (
    cid        TEXT PRIMARY KEY,
    name       TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE pin_refs (
    pin   TEXT NOT NULL REFERENCES pins (cid) ON DELETE CASCADE,
    block TEXT NOT NULL,
    PRIMARY KEY (pin, block)
);

CREATE INDEX pin_refs_block ON pin_refs (block);
