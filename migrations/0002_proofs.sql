-- Proofs of retrievability: the pieces this node can prove (its own commitments) and the
-- outcome of every challenge it issued or answered.

CREATE TABLE pieces (
    piece_root TEXT PRIMARY KEY,      -- hex BLAKE3 root of the piece bytes
    piece_size BIGINT NOT NULL,
    root_cid   TEXT NOT NULL,         -- the DAG the piece serializes
    created_at BIGINT NOT NULL
);

CREATE INDEX pieces_root_cid ON pieces (root_cid);

CREATE TABLE challenges (
    id          TEXT PRIMARY KEY,     -- hex of the challenge nonce
    role        TEXT NOT NULL,        -- 'verifier' (we asked) or 'prover' (we answered)
    peer        TEXT NOT NULL,
    piece_root  TEXT NOT NULL,
    piece_size  BIGINT NOT NULL,
    period      BIGINT NOT NULL,
    samples     BIGINT NOT NULL,
    issued_at   BIGINT NOT NULL,
    deadline    BIGINT NOT NULL,
    answered_at BIGINT,
    outcome     TEXT NOT NULL,        -- 'pending', 'passed', 'failed', 'late', 'unreachable'
    reason      TEXT,
    latency_ms  BIGINT,
    proof_bytes BIGINT
);

CREATE INDEX challenges_piece ON challenges (piece_root, issued_at);
