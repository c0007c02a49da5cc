-- Every reservation move (pay, confirm, cancel, refund) and each hold-expire batch finds its
-- seats by seats.reservation_id; without an index that is a scan of every seat of every
-- show. Only held and sold seats carry a reservation, so the index stays small.
CREATE INDEX seats_reservation ON seats (reservation_id) WHERE reservation_id IS NOT NULL;
