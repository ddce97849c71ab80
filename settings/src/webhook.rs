//! Every kind of webhook URL Teams and Power Automate hand out, in one place: the page asks it
//! what is wrong with a typed URL, the server which kind a stored URL is (its cards, its rate
//! windows, how its answers read), the emulator's inbox which kind a path imitates. The
//! server's own gates (allowed hosts, addresses) stay the server's.
//!
//! The shapes, oldest first (sources in docs/teams.md, "Today's Teams"):
//! - connector webhooks: `outlook.office.com/webhook/…`, `<name>.webhook.office.com/webhookb2/…`
//!   (and the same with `/V2…`); Office 365 connectors are retired;
//! - Logic Apps triggers: `prod-NN.<region>.logic.azure.com:443/workflows/<id>/triggers/manual/
//!   paths/invoke?…&sig=…`, which stopped working on 2025-11-30;
//! - Power Automate triggers: `<env>.environment.api.powerplatform.com:443/powerautomate/
//!   automations/direct/workflows/<id>/triggers/manual/paths/invoke?api-version=1&…&sig=…`,
//!   since about 2026-07 with a routing segment `…/direct/cu/<NN>/workflows/…`, sometimes with
//!   `/paths/invoke/?…`; without `sig` when "Who can trigger" is not "Anyone".

/// The path prefix of the dev-mode emulator's inboxes on the server's own origin; what follows
/// is a webhook path as on Teams' hosts (`webhookb2/…`, `powerautomate/…`, or `workflows/…`
/// for the retired Logic Apps shape).
pub const DEV_INBOX_PATH: &str = "/emulator/webhook/";

/// Which kind of webhook a URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// A Power Automate Workflows trigger (Teams' template "Send webhook alerts to a
    /// channel"). `signed`: the URL carries its `sig`, so anyone may post ("Who can trigger:
    /// Anyone"); without it the flow takes only callers with a token of its tenant.
    Workflows { signed: bool },
    /// A Workflows trigger on the Logic Apps hosts: stopped working on 2025-11-30.
    RetiredWorkflows,
    /// An Office 365 connector webhook (retired; MessageCards, connector rate windows).
    Connector,
    /// No webhook: the app's own bot posts to a channel of a team it was added to (Adaptive
    /// Cards, the bot's rate windows per thread).
    Bot,
}

impl WebhookKind {
    /// Whether cards and answers follow Workflows' rules (Adaptive Cards, 202, error codes).
    pub fn is_workflows(self) -> bool {
        !matches!(self, WebhookKind::Connector)
    }

    /// A short name for people, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            WebhookKind::Workflows { signed: true } => "workflows",
            WebhookKind::Workflows { signed: false } => "workflows-sign-in",
            WebhookKind::RetiredWorkflows => "workflows-retired",
            WebhookKind::Connector => "connector",
            WebhookKind::Bot => "bot",
        }
    }

    /// The kind a [`name`](Self::name) stands for (as stored beside a connection), if any.
    pub fn from_name(name: &str) -> Option<WebhookKind> {
        [
            WebhookKind::Workflows { signed: true },
            WebhookKind::Workflows { signed: false },
            WebhookKind::RetiredWorkflows,
            WebhookKind::Connector,
            WebhookKind::Bot,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// What is wrong with a typed Workflows webhook URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookProblem {
    Empty,
    NotHttps,
    /// An Office 365 connector webhook: retired, so not what a tab asks for.
    RetiredConnector,
    /// A Logic Apps trigger URL (`*.logic.azure.com`): stopped working in November 2025; the
    /// workflow's trigger shows its new URL.
    RetiredWorkflows,
    /// Not on a Workflows host (`*.api.powerplatform.com`).
    NotWorkflowsHost,
    /// A Workflows host, but not the shape of a trigger URL (`…/workflows/<id>/triggers/
    /// <name>/paths/invoke?…`): probably only part of it was copied.
    NotTriggerUrl,
    /// A trigger URL without `sig`: the flow takes only signed-in callers of its tenant, and
    /// this server has no token to send ("Who can trigger" must be "Anyone").
    NeedsSignIn,
}

/// The families of hosts webhook URLs live on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostFamily {
    Connector,
    Logic,
    PowerPlatform,
}

fn host_family(host: &str) -> Option<HostFamily> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let under = |domain: &str| host.len() > domain.len() && host.ends_with(domain);
    if under(".webhook.office.com") || host == "outlook.office.com" {
        Some(HostFamily::Connector)
    } else if under(".logic.azure.com") {
        Some(HostFamily::Logic)
    } else if under(".api.powerplatform.com") {
        Some(HostFamily::PowerPlatform)
    } else {
        None
    }
}

/// The kind of a webhook URL on `host` with `path_and_query` (from the first `/`). Never
/// fails, so stored rows and hosts an operator added always have a kind: connector hosts are
/// connectors, Logic Apps hosts retired Workflows, anything else Workflows.
pub fn kind_of(host: &str, path_and_query: &str) -> WebhookKind {
    match host_family(host) {
        Some(HostFamily::Connector) => WebhookKind::Connector,
        Some(HostFamily::Logic) => WebhookKind::RetiredWorkflows,
        _ => WebhookKind::Workflows {
            signed: is_signed(path_and_query),
        },
    }
}

/// The kind of an emulator inbox path (after [`DEV_INBOX_PATH`]): `webhook/…` and
/// `webhookb2/…` are connector webhooks, `powerautomate/…` today's Workflows, and a bare
/// `workflows/…` the retired Logic Apps shape (the path those hosts used).
pub fn kind_of_inbox_path(path_and_query: &str) -> WebhookKind {
    let path = path_and_query.trim_start_matches('/');
    if path.starts_with("webhook/") || path.starts_with("webhookb2/") {
        WebhookKind::Connector
    } else if path.starts_with("workflows/") {
        WebhookKind::RetiredWorkflows
    } else {
        WebhookKind::Workflows {
            signed: is_signed(path_and_query),
        }
    }
}

/// Whether the query carries a non-empty `sig` (the trigger's shared access signature).
pub fn is_signed(path_and_query: &str) -> bool {
    path_and_query
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split(['&', '#'])
        .any(|p| p.strip_prefix("sig=").is_some_and(|v| !v.is_empty()))
}

/// Whether `path` (no query) is a trigger's: `[/powerautomate/automations/direct][/cu/<seg>]
/// /workflows/<id>/triggers/<name>/paths/invoke[/]`.
pub fn is_trigger_path(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    let path = path
        .strip_prefix("/powerautomate/automations/direct")
        .unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let parts = match parts.as_slice() {
        ["", "cu", segment, rest @ ..] if !segment.is_empty() => rest,
        ["", rest @ ..] => rest,
        _ => return false,
    };
    matches!(
        parts,
        ["workflows", id, "triggers", name, "paths", "invoke"] if !id.is_empty() && !name.is_empty()
    )
}

/// `None` when a tab can save `url` as its Workflows webhook. `dev_inboxes` are URL prefixes a
/// dev-mode server named (its emulator inbox); after one of them the same path is expected.
/// `flow_tokens`: the server can post to a flow that takes only signed-in callers.
pub fn workflows_url_problem(
    url: &str,
    dev_inboxes: &[String],
    flow_tokens: bool,
) -> Option<WebhookProblem> {
    let url = url.trim();
    if url.is_empty() {
        return Some(WebhookProblem::Empty);
    }
    if url.contains(char::is_whitespace) {
        return Some(WebhookProblem::NotTriggerUrl);
    }
    let (family, path_and_query) = match dev_inboxes
        .iter()
        .find_map(|prefix| url.strip_prefix(prefix.as_str()))
    {
        Some(rest) => {
            let family = match kind_of_inbox_path(rest) {
                WebhookKind::Connector => HostFamily::Connector,
                WebhookKind::RetiredWorkflows => HostFamily::Logic,
                WebhookKind::Workflows { .. } | WebhookKind::Bot => HostFamily::PowerPlatform,
            };
            (Some(family), format!("/{rest}"))
        }
        None => {
            let Some(rest) = url
                .get(..8)
                .filter(|p| p.eq_ignore_ascii_case("https://"))
                .map(|_| &url[8..])
            else {
                return Some(WebhookProblem::NotHttps);
            };
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = rest[..end].to_ascii_lowercase();
            let host = authority.strip_suffix(":443").unwrap_or(&authority);
            if host.contains(['@', ':']) {
                return Some(WebhookProblem::NotWorkflowsHost);
            }
            (host_family(host), rest[end..].to_string())
        }
    };
    match family {
        Some(HostFamily::Connector) => return Some(WebhookProblem::RetiredConnector),
        Some(HostFamily::Logic) => return Some(WebhookProblem::RetiredWorkflows),
        Some(HostFamily::PowerPlatform) => {}
        None => return Some(WebhookProblem::NotWorkflowsHost),
    }
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    if !is_trigger_path(path) {
        return Some(WebhookProblem::NotTriggerUrl);
    }
    if !is_signed(&path_and_query) && !flow_tokens {
        return Some(WebhookProblem::NeedsSignIn);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use WebhookProblem::*;

    #[test]
    fn every_kind_comes_back_from_its_name() {
        for kind in [
            WebhookKind::Workflows { signed: true },
            WebhookKind::Workflows { signed: false },
            WebhookKind::RetiredWorkflows,
            WebhookKind::Connector,
        ] {
            assert_eq!(WebhookKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(WebhookKind::from_name("Connector"), None);
    }

    /// Today's shape (since about 2026-07): a routing segment after `direct`.
    const TODAY: &str = "https://default72f988bf86f141af91ab2d7cd011db.47.environment.api.powerplatform.com:443/powerautomate/automations/direct/cu/07/workflows/8f1c2a/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";
    /// The 2025 shape.
    const PLATFORM: &str = "https://default72f988bf.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/8f1c2a/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";
    /// Retired on 2025-11-30.
    const LOGIC: &str = "https://prod-12.westeurope.logic.azure.com:443/workflows/8f1c2a/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC_dEf";

    fn p(s: &str) -> Option<WebhookProblem> {
        workflows_url_problem(s, &[], false)
    }

    #[test]
    fn every_current_workflows_shape_passes() {
        assert_eq!(p(TODAY), None);
        assert_eq!(p(PLATFORM), None);
        assert_eq!(
            p(&TODAY.replace("/invoke?", "/invoke/?")),
            None,
            "trailing slash"
        );
        assert_eq!(p(&TODAY.replace(":443", "")), None);
        assert_eq!(
            p(&TODAY.replace("/powerautomate/automations/direct", "")),
            None,
            "without the direct prefix"
        );
        assert_eq!(
            p(&format!("  {TODAY}\n")),
            None,
            "pasted with spaces around"
        );
    }

    #[test]
    fn each_problem_is_named() {
        assert_eq!(p(""), Some(Empty));
        assert_eq!(p(&TODAY.replace("https", "http")), Some(NotHttps));
        assert_eq!(
            p("default1.environment.api.powerplatform.com/x"),
            Some(NotHttps)
        );
        assert_eq!(
            p("https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/i/u"),
            Some(RetiredConnector)
        );
        assert_eq!(
            p("https://outlook.office.com/webhook/g@t/IncomingWebhook/i/u"),
            Some(RetiredConnector)
        );
        assert_eq!(p(LOGIC), Some(RetiredWorkflows));
        assert_eq!(
            p(&TODAY.replace(
                "api.powerplatform.com",
                "api.powerplatform.com.evil.example"
            )),
            Some(NotWorkflowsHost)
        );
        assert_eq!(
            p("https://api.powerplatform.com/workflows/a/triggers/manual/paths/invoke?sig=x"),
            Some(NotWorkflowsHost)
        );
        assert_eq!(p(&TODAY.replace(":443", ":8443")), Some(NotWorkflowsHost));
        assert_eq!(p(&TODAY.replace("/paths/invoke", "")), Some(NotTriggerUrl));
        assert_eq!(p(&TODAY.replace("/cu/07", "/cu/")), Some(NotTriggerUrl));
        assert_eq!(
            p("https://default1.environment.api.powerplatform.com"),
            Some(NotTriggerUrl)
        );
        assert_eq!(p(&TODAY.replace("manual", "man ual")), Some(NotTriggerUrl));
        assert_eq!(
            p(&TODAY.replace("&sig=AbC", "")),
            Some(NeedsSignIn),
            "a flow for signed-in callers"
        );
        assert_eq!(
            workflows_url_problem(&TODAY.replace("&sig=AbC", ""), &[], true),
            None,
            "taken when the server has flow tokens"
        );
    }

    #[test]
    fn every_url_has_a_kind() {
        let kind = |s: &str| {
            let rest = &s[8..];
            let end = rest.find('/').unwrap_or(rest.len());
            kind_of(rest[..end].trim_end_matches(":443"), &rest[end..])
        };
        assert_eq!(kind(TODAY), WebhookKind::Workflows { signed: true });
        assert_eq!(
            kind(&TODAY.replace("&sig=AbC", "")),
            WebhookKind::Workflows { signed: false }
        );
        assert_eq!(kind(LOGIC), WebhookKind::RetiredWorkflows);
        assert_eq!(
            kind("https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/i/u"),
            WebhookKind::Connector
        );
        assert_eq!(
            kind("https://hooks.example.com/anything?sig=1"),
            WebhookKind::Workflows { signed: true },
            "a host an operator added"
        );
        assert_eq!(
            kind_of_inbox_path("webhookb2/g@t/IncomingWebhook/i/u"),
            WebhookKind::Connector
        );
        assert_eq!(
            kind_of_inbox_path("workflows/a/triggers/manual/paths/invoke?sig=x"),
            WebhookKind::RetiredWorkflows
        );
        assert_eq!(
            kind_of_inbox_path("powerautomate/automations/direct/cu/3/workflows/a/triggers/manual/paths/invoke?api-version=1"),
            WebhookKind::Workflows { signed: false }
        );
        assert!(
            WebhookKind::RetiredWorkflows.is_workflows() && !WebhookKind::Connector.is_workflows()
        );
    }

    #[test]
    fn a_dev_inbox_counts_only_when_named() {
        let inbox = "http://127.0.0.1:8080/emulator/webhook/";
        let today = format!(
            "{inbox}powerautomate/automations/direct/cu/12/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=x"
        );
        let named = [inbox.to_string()];
        assert_eq!(workflows_url_problem(&today, &named, false), None);
        assert_eq!(workflows_url_problem(&today, &[], false), Some(NotHttps));
        assert_eq!(
            workflows_url_problem(
                &format!("{inbox}workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x"),
                &named,
                false
            ),
            Some(RetiredWorkflows)
        );
        assert_eq!(
            workflows_url_problem(
                &format!("{inbox}webhookb2/g@t/IncomingWebhook/i/u"),
                &named,
                false
            ),
            Some(RetiredConnector)
        );
        assert_eq!(
            workflows_url_problem(&format!("{inbox}powerautomate/x"), &named, false),
            Some(NotTriggerUrl)
        );
    }
}
