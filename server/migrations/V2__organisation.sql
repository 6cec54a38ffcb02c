-- attestd-server schema, version 2: organisation ledgers (evidence that belongs to no
-- host: training, supplier reviews, risk assessments) and the attested files they
-- upload. An organisation ledger is enrolled, pushed and witnessed like a host (its
-- rows in ledger_rows, its pushes and receipts in the same tables); these tables only
-- mark which tokens and ledgers are of that kind. Insert-only like every table.

-- A token created with `attestd-server token create --organisation`.
CREATE TABLE organisation_tokens (
    token_sha256 text PRIMARY KEY REFERENCES tokens
);

-- A ledger enrolled with such a token: it may hold attestation rows only, it uploads
-- its attested files, and it is never late or not reporting.
CREATE TABLE organisation_ledgers (
    host        text PRIMARY KEY REFERENCES hosts,
    enrolled_at timestamptz NOT NULL
);

-- Attested files by content (SHA-256 of the bytes), uploaded by organisation ledgers
-- before the rows that refer to them; at most 20 MiB each (checked by the server).
CREATE TABLE blobs (
    sha256      text PRIMARY KEY,
    size        bigint NOT NULL,
    content     bytea NOT NULL,
    host        text NOT NULL REFERENCES hosts,
    received_at timestamptz NOT NULL
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organisation_tokens','organisation_ledgers','blobs'] LOOP
        EXECUTE format('CREATE TRIGGER %I_insert_only BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION attestd_refuse_change()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION attestd_refuse_change()', t, t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
        EXECUTE format('GRANT SELECT, INSERT ON %I TO attestd_server', t);
    END LOOP;
END
$$;
