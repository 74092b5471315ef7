-- Each bot's latest snapshot: the same document as the JSON file of the embedded daemon
-- (`runner.state.snapshots.encode`: version, bot id, SHA-256 and state), checked the same way
-- on read. A damaged one is moved to snapshots_set_aside for a person to look at.
CREATE TABLE snapshots (
    bot_id     text PRIMARY KEY,
    document   bytea       NOT NULL,
    token      bigint      NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE snapshots_set_aside (
    bot_id     text        NOT NULL,
    document   bytea       NOT NULL,
    set_aside_at timestamptz NOT NULL DEFAULT now()
);
