-- Appeals of moderation incidents by the user concerned (seed §3.1 "appeal option").
ALTER TABLE moderation_incidents ADD COLUMN appealed_at TEXT;
ALTER TABLE moderation_incidents ADD COLUMN appeal_message TEXT;
