-- One row per audited access, with the fields of audit.Record.
-- id is the record's own UUID: a record replayed from the write-ahead file
-- after PostgreSQL was down is stored once (ON CONFLICT (id) DO NOTHING).
CREATE TABLE audit_record (
    id            uuid        PRIMARY KEY,
    recorded      timestamptz NOT NULL,
    request_id    text        NOT NULL,
    user_id       text        NOT NULL DEFAULT '',
    role_profile  text        NOT NULL DEFAULT '',
    role          text        NOT NULL DEFAULT '',
    organisation  text        NOT NULL DEFAULT '',
    client_id     text        NOT NULL DEFAULT '',
    issuer        text        NOT NULL DEFAULT '',
    -- The NHS numbers as the record names them, to rebuild the AuditEvent;
    -- searched through audit_patient.
    patients      text[]      NOT NULL DEFAULT '{}',
    resource_type text        NOT NULL DEFAULT '',
    interaction   text        NOT NULL DEFAULT '',
    status        integer     NOT NULL,
    outcome       text        NOT NULL
);

-- AuditEvent search by date alone, by agent (the user) and by outcome,
-- each newest first.
CREATE INDEX audit_record_recorded ON audit_record (recorded DESC, id DESC);
CREATE INDEX audit_record_user ON audit_record (user_id, recorded DESC, id DESC);
CREATE INDEX audit_record_outcome ON audit_record (outcome, recorded DESC, id DESC);

-- One row per patient a record names: AuditEvent search by patient (every
-- search names one) walks this key in order, newest first, and stops at the
-- page's end; a GIN index on audit_record.patients finds the rows but cannot
-- give them in time order, so every page would sort all of a patient's
-- accesses.
CREATE TABLE audit_patient (
    patient   text        NOT NULL,
    recorded  timestamptz NOT NULL,
    record_id uuid        NOT NULL REFERENCES audit_record (id) ON DELETE CASCADE,
    PRIMARY KEY (patient, recorded, record_id)
);
CREATE INDEX audit_patient_record ON audit_patient (record_id);
