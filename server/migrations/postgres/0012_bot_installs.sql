-- Where the app's bot is: each team's (or group chat's) conversation reference from its
-- install event, and the channels it may post to.
CREATE TABLE bot_installs (
    tenant_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    aad_group_id TEXT,
    service_url TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    installed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, team_id)
);
CREATE INDEX bot_installs_group ON bot_installs (aad_group_id);
CREATE TABLE bot_channels (
    tenant_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, team_id, channel_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES bot_installs (tenant_id, team_id) ON DELETE CASCADE
);
