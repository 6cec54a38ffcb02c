-- attestd-server schema, version 1. Every table is insert-only for the server's role
-- (attestd_server): it is granted SELECT and INSERT only, and triggers refuse UPDATE,
-- DELETE and TRUNCATE for every role, so witnessed history cannot be changed through
-- the server, and changing it by hand needs the owner to drop a trigger first.

DO $$
BEGIN
    CREATE ROLE attestd_server LOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;

CREATE FUNCTION attestd_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attestd: % on % is refused: fleet tables are insert-only', TG_OP, TG_TABLE_NAME;
END
$$;

-- One-use enrolment tokens, stored as the SHA-256 of the token (the token itself is
-- printed once and never stored).
CREATE TABLE tokens (
    token_sha256 text PRIMARY KEY,
    scope        text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz
);

-- A token's use: the primary key makes a second use fail.
CREATE TABLE token_uses (
    token_sha256 text PRIMARY KEY REFERENCES tokens,
    host         text NOT NULL,
    used_at      timestamptz NOT NULL
);

CREATE TABLE hosts (
    host        text PRIMARY KEY,
    scope       text NOT NULL,
    public_key  text NOT NULL,
    enrolled_at timestamptz NOT NULL
);

CREATE TABLE host_retirements (
    host       text PRIMARY KEY REFERENCES hosts,
    retired_at timestamptz NOT NULL
);

-- Every host's ledger rows, byte for byte as the host hashed them.
CREATE TABLE ledger_rows (
    host           text NOT NULL REFERENCES hosts,
    seq            bigint NOT NULL,
    kind           text NOT NULL,
    recorded_at    text NOT NULL,
    body           text NOT NULL,
    prev_sha256    text NOT NULL,
    content_sha256 text NOT NULL,
    received_at    timestamptz NOT NULL,
    PRIMARY KEY (host, seq)
);

-- One accepted push: the segment and the host's signature over its head.
CREATE TABLE pushes (
    id          bigserial PRIMARY KEY,
    host        text NOT NULL REFERENCES hosts,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    head        text NOT NULL,
    signature   text NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX pushes_host ON pushes (host, last_seq);

-- The server's own hash-chained log of the receipts it issued.
CREATE TABLE receipts (
    log_seq     bigint PRIMARY KEY,
    host        text NOT NULL REFERENCES hosts,
    seq         bigint NOT NULL,
    head        text NOT NULL,
    received_at text NOT NULL,
    log_prev    text NOT NULL,
    log_head    text NOT NULL,
    signature   text NOT NULL
);
CREATE INDEX receipts_host ON receipts (host, seq);

-- A push that did not continue the chain the server holds: the host's history was
-- rewritten or truncated.
CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    host        text NOT NULL REFERENCES hosts,
    at          timestamptz NOT NULL,
    seq         bigint NOT NULL,
    reason      text NOT NULL,
    claimed_head text NOT NULL
);
CREATE INDEX incidents_host ON incidents (host);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tokens','token_uses','hosts','host_retirements','ledger_rows','pushes','receipts','incidents'] LOOP
        EXECUTE format('CREATE TRIGGER %I_insert_only BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION attestd_refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION attestd_refuse_change()', t, t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
        EXECUTE format('GRANT SELECT, INSERT ON %I TO attestd_server', t);
    END LOOP;
END
$$;

GRANT USAGE ON SEQUENCE pushes_id_seq, incidents_id_seq TO attestd_server;
