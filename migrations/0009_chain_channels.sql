-- A channel escrowed on chain, as its payer closes it (contracts/pay.md, "On-chain channels"):
-- `closes_at` is the chain time (unix s) from which the payer may withdraw, set once the payer
-- started the close on chain; from then on the channel is `closing` (its `state` column stays
-- 'open' until the withdrawal, so older code reading it keeps working) and takes no new deal or
-- receipt. `refund` is what the withdrawal returned to the payer; with `settled` (what the
-- payee was paid out) it adds up to the deposit.
ALTER TABLE channels ADD COLUMN closes_at BIGINT;
ALTER TABLE channels ADD COLUMN refund BIGINT;
