-- Payments: payment channels from either side, the append-only history of their signed
-- receipts, per-peer retrieval accounting, and what was paid for each storage period.
-- Amounts are u64 stored as BIGINT (the code refuses values above i64::MAX); signed
-- messages are hex text; times are Unix milliseconds.

CREATE TABLE channels (
    id           TEXT PRIMARY KEY,    -- CID of the signed open
    role         TEXT NOT NULL CHECK (role IN ('payer', 'payee')),
    peer         TEXT NOT NULL,       -- the other side's peer id
    payer        TEXT NOT NULL,       -- hex public key
    payee        TEXT NOT NULL,       -- hex public key
    deposit      BIGINT NOT NULL,
    paid         BIGINT NOT NULL,     -- cumulative amount of the highest receipt
    seq          BIGINT NOT NULL,     -- that receipt's sequence; 0 = no receipt yet
    state        TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    open_signed  TEXT NOT NULL,       -- hex of the signed open
    last_receipt TEXT,                -- hex of the highest signed receipt
    close_signed TEXT,                -- hex of the signed close
    settled      BIGINT,              -- amount settled at close
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX channels_role_peer ON channels (role, peer);

-- Every receipt accepted on a channel; its highest is mirrored in channels (paid, seq,
-- last_receipt) by the same transaction.
CREATE TABLE receipts (
    channel   TEXT NOT NULL REFERENCES channels (id),
    seq       BIGINT NOT NULL,
    amount    BIGINT NOT NULL,        -- cumulative
    deal      TEXT,                   -- the deal it pays for, if any
    at        BIGINT NOT NULL,        -- the receipt's own time
    signed    TEXT NOT NULL,          -- hex of the signed receipt
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (channel, seq)
);

-- Retrieval accounting per peer, so charges survive restarts.
CREATE TABLE retrieval_accounts (
    peer       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('payer', 'payee')), -- 'payee': we served
    bytes      BIGINT NOT NULL,       -- bytes that count toward charges
    paid       BIGINT NOT NULL,       -- retrieval amount paid / received so far
    invoiced   BIGINT NOT NULL,       -- last amount due invoiced
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (peer, role)
);

-- One row per paid storage period: the primary key is what stops a client paying twice.
CREATE TABLE storage_payments (
    deal    TEXT NOT NULL,
    period  BIGINT NOT NULL,
    channel TEXT NOT NULL,
    amount  BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (deal, period)
);
