-- The registry on PostgreSQL, schema version 1 (spec/storage.md 4). Applied by the service at
-- start, in one transaction, under the migration lock; never edited once released (a change is a
-- new file with the next number).

-- Certifiers accredited by the scheme.
CREATE TABLE certifiers (
    id         text   PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    name       text   NOT NULL,
    assurance  text   NOT NULL,
    created_at bigint NOT NULL CHECK (created_at >= 0)
);

-- API keys by the SHA-256 of the key; a key of no certifier is the scheme operator's.
CREATE TABLE api_keys (
    hash              text   PRIMARY KEY,
    certifier_id      text   REFERENCES certifiers (id) DEFERRABLE INITIALLY DEFERRED,
    created_at        bigint CHECK (created_at >= 0),
    expires_at        bigint CHECK (expires_at >= 0),
    revoked_at        bigint CHECK (revoked_at >= 0),
    revocation_reason text
);

-- Certifier keys (the private key is the signer provider's); one status list per key.
CREATE TABLE issuer_keys (
    kid          text   PRIMARY KEY CHECK (kid ~ '^([0-9a-f]{2})+$'),
    certifier_id text   NOT NULL REFERENCES certifiers (id) DEFERRABLE INITIALLY DEFERRED,
    alg          text   NOT NULL CHECK (alg IN ('ed25519', 'es256')),
    public_key   bytea  NOT NULL,
    status_list  bigint NOT NULL UNIQUE CHECK (status_list BETWEEN 0 AND 4294967295),
    created_at   bigint NOT NULL CHECK (created_at >= 0),
    certificate  text,
    activated_at bigint CHECK (activated_at >= 0),
    activated_by bigint CHECK (activated_by >= 0),
    retired_at   bigint CHECK (retired_at >= 0),
    UNIQUE (kid, status_list)
);

-- Assessments; the decision and the responses as the service's JSON.
CREATE TABLE assessments (
    id           text     PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    certifier_id text     NOT NULL REFERENCES certifiers (id) DEFERRABLE INITIALLY DEFERRED,
    framework    text     NOT NULL,
    target_class smallint NOT NULL CHECK (target_class BETWEEN 0 AND 255),
    decision     jsonb    NOT NULL,
    responses    jsonb    NOT NULL,
    created_at   bigint   NOT NULL CHECK (created_at >= 0)
);

-- Marks: the signed token and what the registry adds to it. The token is the truth; vendor,
-- model and the dates are copies of its claims for search (checked against it when read).
-- The tables written with every mark (marks, audit_log) check lengths, not patterns: a pattern
-- per row cost a third of an issuance transaction, and the service's typed ids and hashes
-- check the alphabet before anything is written (and again when read).
CREATE TABLE marks (
    id                 text     PRIMARY KEY CHECK (length(id) = 32),
    certifier_id       text     NOT NULL REFERENCES certifiers (id) DEFERRABLE INITIALLY DEFERRED,
    issuer             text     NOT NULL,
    kid                text     NOT NULL,
    status_list        bigint   NOT NULL,
    status_index       bigint   NOT NULL CHECK (status_index BETWEEN 0 AND 4294967295),
    -- 0 valid, 1 revoked, 2 suspended (the status list's values).
    status             smallint NOT NULL CHECK (status IN (0, 1, 2)),
    status_reason      text,
    vendor             text     NOT NULL,
    model              text     NOT NULL,
    issued_at          bigint   NOT NULL CHECK (issued_at >= 0),
    expires_at         bigint   NOT NULL CHECK (expires_at >= 0),
    -- 32 bytes per framework claim of the token, in its order, concatenated.
    assessment_digests bytea    NOT NULL CHECK (length(assessment_digests) % 32 = 0),
    token              bytea    NOT NULL,
    -- No status index is handed out twice in one list.
    UNIQUE (status_list, status_index),
    -- A mark's status list is its key's.
    FOREIGN KEY (kid, status_list) REFERENCES issuer_keys (kid, status_list)
        DEFERRABLE INITIALLY DEFERRED
);

-- The hash-chained audit log; details are kept as written (json, not jsonb), since the
-- entry's hash covers them.
CREATE TABLE audit_log (
    seq       bigint   PRIMARY KEY CHECK (seq >= 0),
    time      bigint   NOT NULL CHECK (time >= 0),
    actor     text     NOT NULL,
    action    text     NOT NULL,
    subject   text     NOT NULL,
    details   json     NOT NULL,
    prev_hash text     NOT NULL CHECK (length(prev_hash) = 64),
    hash      text     NOT NULL CHECK (length(hash) = 64),
    version   smallint NOT NULL CHECK (version IN (1, 2))
);

-- Answers kept under idempotency keys (API key hash '/' client key).
CREATE TABLE idempotent_answers (
    key          bytea    PRIMARY KEY,
    request_hash text     NOT NULL,
    status       smallint NOT NULL CHECK (status BETWEEN 100 AND 599),
    body         text     NOT NULL,
    created_at   bigint   NOT NULL CHECK (created_at >= 0),
    expires_at   bigint   NOT NULL CHECK (expires_at >= 0)
);
CREATE INDEX idempotent_answers_by_expiry ON idempotent_answers (expires_at);

-- Per status list: one past the highest status index stored.
CREATE TABLE status_lists (
    number     bigint PRIMARY KEY CHECK (number BETWEEN 0 AND 4294967295),
    next_index bigint NOT NULL CHECK (next_index BETWEEN 0 AND 4294967296)
);

-- The registry's head: one row, locked by every writer for the length of its transaction, so
-- the audit chain is appended by one writer at a time whatever the number of instances.
CREATE TABLE registry_head (
    one              boolean PRIMARY KEY DEFAULT true CHECK (one),
    next_status_list bigint  NOT NULL CHECK (next_status_list BETWEEN 0 AND 4294967295),
    audit_entries    bigint  NOT NULL CHECK (audit_entries >= 0),
    audit_hash       text    NOT NULL CHECK (audit_hash ~ '^[0-9a-f]{64}$'),
    -- The signed trust list in force.
    trust_list       bytea
);
INSERT INTO registry_head (next_status_list, audit_entries, audit_hash)
VALUES (0, 0, repeat('0', 64));
