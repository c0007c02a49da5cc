-- Reservations: the ledger's record of who holds which seats. A seat moves AVAILABLE -> HOLD
-- only by a conditional update inside the same transaction that writes its reservation.

CREATE TABLE reservations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         text NOT NULL,
    -- The client's idempotency key, unique per buyer: replaying it returns this reservation.
    request_id      text NOT NULL,
    -- What was asked (performance and seats), to tell a replay from a reused key.
    fingerprint     text NOT NULL,
    concert_id      bigint NOT NULL REFERENCES concerts (id),
    performance_id  bigint NOT NULL REFERENCES performances (id),
    status          text NOT NULL CHECK (status IN ('HOLD', 'PAYING', 'CONFIRMED', 'CANCELLED', 'REFUNDED', 'EXPIRED')),
    hold_expires_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, request_id)
);
CREATE INDEX reservations_user ON reservations (user_id, created_at DESC);
CREATE INDEX reservations_user_concert_active ON reservations (user_id, concert_id)
    WHERE status IN ('HOLD', 'PAYING', 'CONFIRMED');
CREATE INDEX reservations_expiring ON reservations (hold_expires_at) WHERE status IN ('HOLD', 'PAYING');

CREATE TABLE reservation_seats (
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    seat_id        bigint NOT NULL REFERENCES seats (id),
    PRIMARY KEY (reservation_id, seat_id)
);
CREATE INDEX reservation_seats_seat ON reservation_seats (seat_id);

-- The reservation currently holding the seat, if any.
ALTER TABLE seats ADD COLUMN reservation_id uuid REFERENCES reservations (id);
