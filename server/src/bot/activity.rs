//! What a Bot Framework activity from Teams means for the server: the bot added to a team or
//! a group chat (store the conversation reference), removed from it or the team deleted
//! (forget it), a channel created or deleted in a team it is in, or nothing it keeps.
//! The fields are Teams' (msteams-docs bots/how-to/conversations/subscribe-to-conversation-events.md
//! and notification-bot-in-teams.md): `installationUpdate` with `action` `add`/`remove`
//! (`add-upgrade`/`remove-upgrade` too), `conversationUpdate` with `channelData.eventType`
//! `teamMemberAdded`/`teamMemberRemoved` (the bot among the members), `channelCreated`,
//! `channelDeleted`, `teamDeleted`.

use serde::Deserialize;

use crate::store::BotInstall;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub service_url: String,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub recipient: Option<ChannelAccount>,
    #[serde(default)]
    pub conversation: Option<Conversation>,
    #[serde(default)]
    pub members_added: Vec<ChannelAccount>,
    #[serde(default)]
    pub members_removed: Vec<ChannelAccount>,
    #[serde(default)]
    pub channel_data: ChannelData,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelAccount {
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub conversation_type: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelData {
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub team: Option<TeamInfo>,
    #[serde(default)]
    pub channel: Option<ChannelInfo>,
    #[serde(default)]
    pub tenant: Option<TenantInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamInfo {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub aad_group_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChannelInfo {
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TenantInfo {
    #[serde(default)]
    pub id: String,
}

/// What the server does with an activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The bot is in this team or group chat now: keep (or refresh) its reference.
    Install(BotInstall),
    /// The bot left the team or chat.
    Uninstall { tenant: String, team: String },
    /// The team is gone (deleted, or deleted for good).
    TeamDeleted { tenant: String, team: String },
    ChannelAdded {
        tenant: String,
        team: String,
        channel: String,
    },
    ChannelRemoved {
        tenant: String,
        team: String,
        channel: String,
    },
    /// Nothing to keep; the text says why (for the log).
    Nothing(&'static str),
}

/// A conversation id without its `;messageid=…` (a reply thread's suffix).
fn base_id(id: &str) -> &str {
    id.split(';').next().unwrap_or(id)
}

impl Activity {
    /// The tenant, lower case: `channelData.tenant.id`, else `conversation.tenantId`.
    fn tenant(&self) -> Option<String> {
        self.channel_data
            .tenant
            .as_ref()
            .map(|t| t.id.as_str())
            .or(self
                .conversation
                .as_ref()
                .and_then(|c| c.tenant_id.as_deref()))
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_ascii_lowercase())
    }

    fn conversation_type(&self) -> &str {
        self.conversation
            .as_ref()
            .and_then(|c| c.conversation_type.as_deref())
            .unwrap_or("")
    }

    fn conversation_id(&self) -> &str {
        self.conversation.as_ref().map_or("", |c| base_id(&c.id))
    }

    /// Whether `members` names this bot (the activity's recipient).
    fn names_bot(&self, members: &[ChannelAccount]) -> bool {
        let bot = self.recipient.as_ref().map_or("", |r| r.id.as_str());
        !bot.is_empty() && members.iter().any(|m| m.id == bot)
    }

    /// The team, or the group chat (`None` for a personal chat): its id and scope.
    fn place(&self) -> Option<(String, &'static str)> {
        if let Some(team) = self.channel_data.team.as_ref().filter(|t| !t.id.is_empty()) {
            return Some((base_id(&team.id).to_string(), "team"));
        }
        match self.conversation_type() {
            "groupChat" if !self.conversation_id().is_empty() => {
                Some((self.conversation_id().to_string(), "groupChat"))
            }
            // A channel conversation without `channelData.team`: its General channel's id
            // is the team's only for General, so this is not guessed.
            _ => None,
        }
    }

    /// What this activity means; `Err` (400) for one that should name a tenant or team
    /// and does not. `now` (RFC 3339) stamps a new install.
    pub fn change(&self, now: &str) -> Result<Change, String> {
        let adds = match (self.kind.as_str(), self.action.as_deref()) {
            ("installationUpdate", Some("add" | "add-upgrade")) => true,
            ("installationUpdate", Some("remove" | "remove-upgrade")) => false,
            ("installationUpdate", _) => return Ok(Change::Nothing("an unknown install action")),
            ("conversationUpdate", _) => {
                return self.conversation_update(now);
            }
            _ => return Ok(Change::Nothing("not an install event")),
        };
        if self.conversation_type() == "personal" {
            return Ok(Change::Nothing(
                "a personal install (the bot posts to channels)",
            ));
        }
        let (tenant, (team, scope)) = self.tenant_and_place()?;
        if adds {
            Ok(Change::Install(self.install(tenant, team, scope, now)))
        } else {
            Ok(Change::Uninstall { tenant, team })
        }
    }

    fn tenant_and_place(&self) -> Result<(String, (String, &'static str)), String> {
        let tenant = self
            .tenant()
            .ok_or("the activity names no tenant (channelData.tenant.id)")?;
        let place = self.place().ok_or(
            "the activity names no team (channelData.team.id) and is not from a group chat",
        )?;
        Ok((tenant, place))
    }

    fn conversation_update(&self, now: &str) -> Result<Change, String> {
        let event = self.channel_data.event_type.as_deref().unwrap_or("");
        match event {
            "teamMemberAdded" if self.names_bot(&self.members_added) => {
                let (tenant, (team, scope)) = self.tenant_and_place()?;
                Ok(Change::Install(self.install(tenant, team, scope, now)))
            }
            "teamMemberRemoved" if self.names_bot(&self.members_removed) => {
                let (tenant, (team, _)) = self.tenant_and_place()?;
                Ok(Change::Uninstall { tenant, team })
            }
            "teamDeleted" | "teamHardDeleted" => {
                let (tenant, (team, _)) = self.tenant_and_place()?;
                Ok(Change::TeamDeleted { tenant, team })
            }
            "channelCreated" | "channelDeleted" | "channelRestored" => {
                let (tenant, (team, _)) = self.tenant_and_place()?;
                let channel = self
                    .channel_data
                    .channel
                    .as_ref()
                    .map(|c| base_id(&c.id).to_string())
                    .filter(|c| !c.is_empty())
                    .ok_or("a channel event names no channel (channelData.channel.id)")?;
                Ok(if event == "channelDeleted" {
                    Change::ChannelRemoved {
                        tenant,
                        team,
                        channel,
                    }
                } else {
                    Change::ChannelAdded {
                        tenant,
                        team,
                        channel,
                    }
                })
            }
            "" if self.names_bot(&self.members_added)
                && self.conversation_type() == "groupChat" =>
            {
                // A group chat's install names no event type.
                let (tenant, (team, scope)) = self.tenant_and_place()?;
                Ok(Change::Install(self.install(tenant, team, scope, now)))
            }
            _ => Ok(Change::Nothing(
                "a conversation update the bot keeps nothing of",
            )),
        }
    }

    fn install(&self, tenant: String, team: String, scope: &str, now: &str) -> BotInstall {
        let conversation = self.conversation_id().to_string();
        // The channel the event came from, and in a team its General channel (whose id is
        // the team's).
        let mut channels = Vec::new();
        for c in [conversation.as_str(), team.as_str()] {
            if !c.is_empty() && !channels.iter().any(|k: &String| k == c) {
                channels.push(c.to_string());
            }
        }
        BotInstall {
            tenant_id: tenant,
            team_id: team,
            scope: scope.to_string(),
            aad_group_id: self
                .channel_data
                .team
                .as_ref()
                .and_then(|t| t.aad_group_id.clone())
                .filter(|g| !g.is_empty())
                .map(|g| g.to_ascii_lowercase()),
            service_url: self.service_url.clone(),
            conversation_id: conversation,
            bot_id: self
                .recipient
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_default(),
            channels,
            installed_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEAM: &str = "19:8f4c2a1e0b7d4c559e617a0d3f1b2c4d@thread.tacv2";
    const TENANT: &str = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
    const BOT: &str = "28:00000000-0000-4000-8000-00000000b07e";

    fn activity(v: serde_json::Value) -> Activity {
        serde_json::from_value(v).unwrap()
    }

    fn team_install(action: &str) -> serde_json::Value {
        json!({
            "type": "installationUpdate", "action": action, "channelId": "msteams",
            "serviceUrl": "https://smba.trafficmanager.net/amer/",
            "recipient": { "id": BOT, "name": "Build Notifications" },
            "conversation": { "id": format!("{TEAM};messageid=1733", ), "conversationType": "channel", "tenantId": TENANT },
            "channelData": { "team": { "id": TEAM, "aadGroupId": "0B4F2A1E-6C3D-4E5F-8A9B-1C2D3E4F5A6B" },
                             "tenant": { "id": TENANT }, "source": { "name": "message" } }
        })
    }

    #[test]
    fn an_install_in_a_team_keeps_its_reference_and_a_removal_forgets_it() {
        let Change::Install(i) = activity(team_install("add")).change("now").unwrap() else {
            panic!("an install");
        };
        assert_eq!(i.tenant_id, TENANT.to_ascii_lowercase());
        assert_eq!((i.team_id.as_str(), i.scope.as_str()), (TEAM, "team"));
        assert_eq!(i.conversation_id, TEAM, "without the reply thread's suffix");
        assert_eq!(i.channels, vec![TEAM.to_string()]);
        assert_eq!(
            i.aad_group_id.as_deref(),
            Some("0b4f2a1e-6c3d-4e5f-8a9b-1c2d3e4f5a6b")
        );
        assert_eq!(
            (i.service_url.as_str(), i.bot_id.as_str()),
            ("https://smba.trafficmanager.net/amer/", BOT)
        );
        assert_eq!(
            activity(team_install("remove")).change("now").unwrap(),
            Change::Uninstall {
                tenant: TENANT.to_ascii_lowercase(),
                team: TEAM.into()
            }
        );
        assert!(matches!(
            activity(team_install("add-upgrade")).change("now"),
            Ok(Change::Install(_))
        ));
    }

    #[test]
    fn the_bot_added_or_removed_as_a_team_member_counts_other_members_do_not() {
        let mut v = team_install("add");
        v["type"] = "conversationUpdate".into();
        v.as_object_mut().unwrap().remove("action");
        v["channelData"]["eventType"] = "teamMemberAdded".into();
        v["membersAdded"] = json!([{ "id": BOT }]);
        assert!(matches!(
            activity(v.clone()).change("now"),
            Ok(Change::Install(_))
        ));
        v["membersAdded"] = json!([{ "id": "29:someone" }]);
        assert!(matches!(
            activity(v.clone()).change("now"),
            Ok(Change::Nothing(_))
        ));
        v["channelData"]["eventType"] = "teamMemberRemoved".into();
        v["membersRemoved"] = json!([{ "id": BOT }]);
        assert!(matches!(
            activity(v.clone()).change("now"),
            Ok(Change::Uninstall { .. })
        ));
        v["channelData"]["eventType"] = "teamDeleted".into();
        assert!(matches!(
            activity(v.clone()).change("now"),
            Ok(Change::TeamDeleted { .. })
        ));
        v["channelData"]["eventType"] = "teamHardDeleted".into();
        assert!(matches!(
            activity(v).change("now"),
            Ok(Change::TeamDeleted { .. })
        ));
    }

    #[test]
    fn channels_created_and_deleted_are_named() {
        let mut v = team_install("add");
        v["type"] = "conversationUpdate".into();
        v["channelData"]["eventType"] = "channelCreated".into();
        v["channelData"]["channel"] = json!({ "id": "19:new@thread.tacv2", "name": "Releases" });
        let tenant = TENANT.to_ascii_lowercase();
        assert_eq!(
            activity(v.clone()).change("now").unwrap(),
            Change::ChannelAdded {
                tenant: tenant.clone(),
                team: TEAM.into(),
                channel: "19:new@thread.tacv2".into()
            }
        );
        v["channelData"]["eventType"] = "channelDeleted".into();
        assert!(matches!(
            activity(v.clone()).change("now"),
            Ok(Change::ChannelRemoved { .. })
        ));
        v["channelData"].as_object_mut().unwrap().remove("channel");
        let e = activity(v).change("now").unwrap_err();
        assert!(e.contains("channelData.channel.id"), "{e}");
    }

    #[test]
    fn a_group_chat_is_its_own_place_and_a_personal_install_keeps_nothing() {
        let chat = "19:meeting_abc@thread.v2";
        let v = json!({
            "type": "installationUpdate", "action": "add", "channelId": "msteams",
            "serviceUrl": "https://smba.trafficmanager.net/emea/", "recipient": { "id": BOT },
            "conversation": { "id": chat, "conversationType": "groupChat", "tenantId": TENANT },
            "channelData": { "tenant": { "id": TENANT } }
        });
        let Change::Install(i) = activity(v).change("now").unwrap() else {
            panic!("an install")
        };
        assert_eq!(
            (i.team_id.as_str(), i.scope.as_str(), i.channels.clone()),
            (chat, "groupChat", vec![chat.to_string()])
        );
        let personal = json!({
            "type": "installationUpdate", "action": "add", "recipient": { "id": BOT },
            "conversation": { "id": "a:1", "conversationType": "personal", "tenantId": TENANT }
        });
        assert!(matches!(
            activity(personal).change("now"),
            Ok(Change::Nothing(_))
        ));
    }

    #[test]
    fn an_install_without_tenant_or_team_is_refused_by_name_and_messages_keep_nothing() {
        let mut v = team_install("add");
        v["channelData"].as_object_mut().unwrap().remove("tenant");
        v["conversation"]
            .as_object_mut()
            .unwrap()
            .remove("tenantId");
        let e = activity(v).change("now").unwrap_err();
        assert!(e.contains("no tenant"), "{e}");
        let mut v = team_install("add");
        v["channelData"].as_object_mut().unwrap().remove("team");
        let e = activity(v).change("now").unwrap_err();
        assert!(e.contains("no team"), "{e}");
        let mut v = team_install("add");
        v["type"] = "message".into();
        assert!(matches!(activity(v).change("now"), Ok(Change::Nothing(_))));
    }
}
