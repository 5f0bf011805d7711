-- The provider's terms, from which a fresh signed ask is made on every request.
CREATE TABLE ask_terms (
    id         BIGINT PRIMARY KEY,   -- always 1: one set of terms per node
    terms      TEXT NOT NULL,        -- JSON (node::provider::AskTerms)
    updated_at BIGINT NOT NULL
);
