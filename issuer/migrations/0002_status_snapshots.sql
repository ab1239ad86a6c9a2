-- Schema version 2 (spec/storage.md 9, 11.2): saved status list bits, so a start need not read
-- every mark. A snapshot holds every status change made before the audit chain had
-- `audit_entries` entries.
CREATE TABLE status_snapshots (
    number        bigint PRIMARY KEY CHECK (number BETWEEN 0 AND 4294967295),
    audit_entries bigint NOT NULL CHECK (audit_entries >= 0),
    len           bigint NOT NULL CHECK (len BETWEEN 0 AND 4294967295),
    -- 2 bits per entry, least significant first.
    bits          bytea  NOT NULL CHECK (length(bits) = (len + 3) / 4)
);
