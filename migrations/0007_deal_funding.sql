-- What each of the client's deals may be paid in all and from which channel, recorded with the
-- deal, so what a channel's unfinished deals still hold is one query instead of decoding every
-- deal's proposal (which grew with the square of the deal count).

CREATE TABLE deal_funding (
    deal    TEXT PRIMARY KEY REFERENCES deals (id) ON DELETE CASCADE,
    channel TEXT,                       -- NULL: a free deal
    total   BIGINT NOT NULL             -- the deal's total price, base units
);

CREATE INDEX deals_role_peer ON deals (role, peer);
