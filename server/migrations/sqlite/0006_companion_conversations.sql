-- The companion's conversation log and long-term memory (seed §5.2, §6.1). Text is kept
-- sealed with AES-256-GCM (the content key, the user's id as associated data), so no
-- table holds conversation text in the clear; the embedding of a memory is kept beside
-- it for retrieval by similarity.
CREATE TABLE companion_messages (
    id BLOB PRIMARY KEY NOT NULL,
    companion_id BLOB NOT NULL REFERENCES companions(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    role VARCHAR(16) NOT NULL CHECK (role IN ('user', 'assistant')),
    content_sealed BLOB NOT NULL,
    emotion VARCHAR(20),
    model VARCHAR(100),
    moderation VARCHAR(10) NOT NULL CHECK (moderation IN ('allow', 'warn', 'block')),
    created_at TEXT NOT NULL,
    UNIQUE (companion_id, seq)
);
CREATE INDEX idx_companion_messages_user ON companion_messages(user_id);

CREATE TABLE companion_memories (
    id BLOB PRIMARY KEY NOT NULL,
    companion_id BLOB NOT NULL REFERENCES companions(id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind VARCHAR(10) NOT NULL CHECK (kind IN ('FACT', 'SUMMARY')),
    content_sealed BLOB NOT NULL,
    embedding BLOB NOT NULL,
    source_seq BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_companion_memories_pair ON companion_memories(companion_id, user_id);
