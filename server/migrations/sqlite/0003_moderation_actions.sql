-- Moderation actions: temporary suspensions (seed §3.1 "HIGH: suspension 1–7 days") and
-- the authority-report queue for always-blocked content (CSAM, terrorism, …).
ALTER TABLE users ADD COLUMN suspended_until TEXT;

CREATE TABLE authority_reports (
    id BLOB PRIMARY KEY NOT NULL,
    incident_id BLOB NOT NULL REFERENCES moderation_incidents(id),
    user_id BLOB REFERENCES users(id) ON DELETE SET NULL,
    categories TEXT NOT NULL,
    content_hash VARCHAR(64) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'SENT')),
    created_at TEXT NOT NULL
);
CREATE INDEX idx_authority_reports_status ON authority_reports(status);
