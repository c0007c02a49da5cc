-- One open payment per reservation. The payment row is written (PENDING, with no gateway id
-- yet) before the gateway is called, so it has a key of its own; a refund is marked in the
-- ledger (REFUNDING) before the gateway returns the money.

ALTER TABLE payment_events DROP CONSTRAINT payment_events_payment_id_fkey;
ALTER TABLE payments DROP CONSTRAINT payments_pkey;
ALTER TABLE payments ADD COLUMN id bigserial PRIMARY KEY;
ALTER TABLE payments ALTER COLUMN payment_id DROP NOT NULL;
ALTER TABLE payments ADD CONSTRAINT payments_payment_id_key UNIQUE (payment_id);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_payment_id_fkey
    FOREIGN KEY (payment_id) REFERENCES payments (payment_id);

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('PENDING', 'APPROVED', 'DENIED', 'REFUNDING', 'REFUNDED'));

-- Money is taken at most once per reservation: at most one charge in flight or kept.
CREATE UNIQUE INDEX payments_one_open ON payments (reservation_id)
    WHERE status IN ('PENDING', 'APPROVED');
CREATE INDEX payments_refunding ON payments (updated_at) WHERE status = 'REFUNDING';
