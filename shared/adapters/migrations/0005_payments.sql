-- Payments: our record of each charge made for a reservation, the gateway's webhook events
-- (each applied once, in order), and the audit of refunds an admin forced past the cutoff.

CREATE TABLE payments (
    payment_id      text PRIMARY KEY,
    reservation_id  uuid NOT NULL REFERENCES reservations (id),
    -- One charge per key: a retried confirm never charges twice.
    idempotency_key text NOT NULL UNIQUE,
    amount          bigint NOT NULL CHECK (amount >= 0),
    status          text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'DENIED', 'REFUNDED')),
    -- The newest webhook event applied; an older one arriving later is out of order.
    last_sequence   bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_reservation ON payments (reservation_id);

CREATE TABLE payment_events (
    event_id    text PRIMARY KEY,
    payment_id  text NOT NULL REFERENCES payments (payment_id),
    sequence    bigint NOT NULL,
    approved    boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refund_overrides (
    id             bigserial PRIMARY KEY,
    reservation_id uuid NOT NULL REFERENCES reservations (id),
    admin_user_id  text NOT NULL,
    reason         text NOT NULL,
    cutoff         timestamptz NOT NULL,
    refunded_at    timestamptz NOT NULL DEFAULT now()
);

-- The payment sandbox's own memory (what a real provider keeps on its side): the outcome
-- it gave each idempotency key, so a retried charge answers the same.
CREATE TABLE sandbox_charges (
    idempotency_key text PRIMARY KEY,
    payment_id      text NOT NULL UNIQUE,
    outcome         text NOT NULL,
    amount          bigint NOT NULL,
    refunded        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
