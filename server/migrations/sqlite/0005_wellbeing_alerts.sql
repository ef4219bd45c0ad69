-- Wellbeing alerts (seed §3.1: self-harm → wellbeing alert). Metadata only — who, when,
-- in which mode, and the incident when one was recorded; never content, so OPTIONAL-mode
-- alerts can be kept too.
CREATE TABLE wellbeing_alerts (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB REFERENCES users(id) ON DELETE CASCADE,
    incident_id BLOB REFERENCES moderation_incidents(id) ON DELETE SET NULL,
    mode VARCHAR(20) NOT NULL CHECK (mode IN ('STRICT', 'LIGHT', 'OPTIONAL')),
    status VARCHAR(20) NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'ACKNOWLEDGED')),
    acknowledged_by BLOB REFERENCES users(id),
    acknowledged_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_wellbeing_alerts_open ON wellbeing_alerts(status, created_at);
