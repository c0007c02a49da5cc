-- Available seats per performance, kept by triggers so search reads a handful of rows
-- instead of counting every seat. Each connection adds its changes to its own shard
-- (backend pid modulo 16), so concurrent holds on one performance never queue on one row.

CREATE TABLE seat_availability (
    performance_id bigint NOT NULL REFERENCES performances (id) ON DELETE CASCADE,
    shard          smallint NOT NULL,
    available      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (performance_id, shard)
);

CREATE FUNCTION seat_availability_add(deltas_performance bigint[], deltas bigint[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO seat_availability (performance_id, shard, available)
    SELECT d.performance_id, pg_backend_pid() % 16, d.delta
    FROM unnest(deltas_performance, deltas) AS d(performance_id, delta)
    WHERE d.delta <> 0
    ON CONFLICT (performance_id, shard) DO UPDATE SET available = seat_availability.available + EXCLUDED.available
$$;

CREATE OR REPLACE FUNCTION seats_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE performances p SET total_seats = p.total_seats + n.cnt
    FROM (SELECT performance_id, count(*) AS cnt FROM inserted_seats GROUP BY performance_id) n
    WHERE p.id = n.performance_id;
    PERFORM seat_availability_add(array_agg(performance_id), array_agg(cnt))
    FROM (SELECT performance_id, count(*) AS cnt FROM inserted_seats WHERE status = 'AVAILABLE' GROUP BY performance_id) a;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION seats_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE performances p SET total_seats = p.total_seats - n.cnt
    FROM (SELECT performance_id, count(*) AS cnt FROM deleted_seats GROUP BY performance_id) n
    WHERE p.id = n.performance_id;
    PERFORM seat_availability_add(array_agg(performance_id), array_agg(-cnt))
    FROM (SELECT performance_id, count(*) AS cnt FROM deleted_seats WHERE status = 'AVAILABLE' GROUP BY performance_id) a;
    RETURN NULL;
END $$;

CREATE FUNCTION seats_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seat_availability_add(array_agg(performance_id), array_agg(delta))
    FROM (
        SELECT performance_id, sum(d)::bigint AS delta FROM (
            SELECT performance_id, 1 AS d FROM updated_seats_new WHERE status = 'AVAILABLE'
            UNION ALL
            SELECT performance_id, -1 AS d FROM updated_seats_old WHERE status = 'AVAILABLE'
        ) changes GROUP BY performance_id
    ) a;
    RETURN NULL;
END $$;

CREATE TRIGGER seats_counted_on_update AFTER UPDATE ON seats
    REFERENCING OLD TABLE AS updated_seats_old NEW TABLE AS updated_seats_new
    FOR EACH STATEMENT EXECUTE FUNCTION seats_count_updated();

INSERT INTO seat_availability (performance_id, shard, available)
SELECT performance_id, 0, count(*) FROM seats WHERE status = 'AVAILABLE' GROUP BY performance_id;

-- Counting no longer reads seats, so the partial index only slowed every status change.
DROP INDEX seats_available;
