//! What a Workflows webhook URL looks like (Teams' Workflows app, template "Post to a
//! channel when a webhook request is received"), so the page can say what is wrong while
//! the URL is typed. The server's own checks (allowed hosts, addresses) stay its own.

/// What is wrong with a typed Workflows webhook URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookProblem {
    Empty,
    NotHttps,
    /// An Office 365 connector webhook: retired, so not what a tab asks for.
    RetiredConnector,
    /// Not on a Workflows host (`*.logic.azure.com`, `*.api.powerplatform.com`).
    NotWorkflowsHost,
    /// A Workflows host, but not the shape of a trigger URL (`…/workflows/<id>/triggers/
    /// <name>/paths/invoke?…&sig=…`): probably only part of it was copied.
    NotTriggerUrl,
}

/// `None` when `url` has the shape of a Workflows trigger URL, in either of the shapes Teams
/// hands out (`prod-NN.<region>.logic.azure.com:443/workflows/…` and, since 2025,
/// `<env>.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/…`).
/// `dev_inboxes` are URL prefixes a dev-mode server named (its emulator inbox); after one of
/// them the same path is expected.
pub fn workflows_url_problem(url: &str, dev_inboxes: &[String]) -> Option<WebhookProblem> {
    let url = url.trim();
    if url.is_empty() {
        return Some(WebhookProblem::Empty);
    }
    if let Some(rest) = dev_inboxes
        .iter()
        .find_map(|prefix| url.strip_prefix(prefix.as_str()))
    {
        return trigger_problem(&format!("/{rest}"));
    }
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
    let under = |domain: &str| host.len() > domain.len() && host.ends_with(domain);
    if under(".webhook.office.com") || host == "outlook.office.com" {
        return Some(WebhookProblem::RetiredConnector);
    }
    if !(under(".logic.azure.com") || under(".api.powerplatform.com")) || host.contains(['@', ':'])
    {
        return Some(WebhookProblem::NotWorkflowsHost);
    }
    trigger_problem(&rest[end..])
}

/// The path and query after the host: `[/powerautomate/automations/direct]/workflows/<id>/
/// triggers/<name>/paths/invoke?…sig=<signature>…`.
fn trigger_problem(path_and_query: &str) -> Option<WebhookProblem> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = path
        .strip_prefix("/powerautomate/automations/direct")
        .unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let shape = matches!(
        parts.as_slice(),
        ["", "workflows", id, "triggers", name, "paths", "invoke"] if !id.is_empty() && !name.is_empty()
    );
    let signed = query
        .split(['&', '#'])
        .any(|p| p.strip_prefix("sig=").is_some_and(|v| !v.is_empty()));
    (!shape || !signed || path_and_query.contains(char::is_whitespace))
        .then_some(WebhookProblem::NotTriggerUrl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use WebhookProblem::*;

    const LOGIC: &str = "https://prod-12.westeurope.logic.azure.com:443/workflows/8f1c2a/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC_dEf";
    const PLATFORM: &str = "https://default72f988bf.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/8f1c2a/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC";

    #[test]
    fn both_workflows_shapes_pass() {
        assert_eq!(workflows_url_problem(LOGIC, &[]), None);
        assert_eq!(workflows_url_problem(PLATFORM, &[]), None);
        assert_eq!(
            workflows_url_problem(&format!("  {LOGIC}\n"), &[]),
            None,
            "pasted with spaces around"
        );
        assert_eq!(workflows_url_problem(&LOGIC.replace(":443", ""), &[]), None);
    }

    #[test]
    fn each_problem_is_named() {
        let p = |s: &str| workflows_url_problem(s, &[]);
        assert_eq!(p(""), Some(Empty));
        assert_eq!(p(&LOGIC.replace("https", "http")), Some(NotHttps));
        assert_eq!(
            p("prod-12.westeurope.logic.azure.com/workflows"),
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
        assert_eq!(
            p(&LOGIC.replace("logic.azure.com", "logic.azure.com.evil.example")),
            Some(NotWorkflowsHost)
        );
        assert_eq!(
            p("https://logic.azure.com/workflows/a/triggers/manual/paths/invoke?sig=x"),
            Some(NotWorkflowsHost)
        );
        assert_eq!(p(&LOGIC.replace(":443", ":8443")), Some(NotWorkflowsHost));
        assert_eq!(
            p(&LOGIC.replace("&sig=AbC_dEf", "")),
            Some(NotTriggerUrl),
            "the signature was not copied"
        );
        assert_eq!(p(&LOGIC.replace("/paths/invoke", "")), Some(NotTriggerUrl));
        assert_eq!(
            p("https://prod-12.westeurope.logic.azure.com"),
            Some(NotTriggerUrl)
        );
        assert_eq!(p(&LOGIC.replace("manual", "man ual")), Some(NotTriggerUrl));
    }

    #[test]
    fn a_dev_inbox_counts_only_when_named() {
        let inbox = "http://127.0.0.1:8080/emulator/webhook/";
        let url = format!(
            "{inbox}workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=x"
        );
        assert_eq!(workflows_url_problem(&url, &[inbox.to_string()]), None);
        assert_eq!(workflows_url_problem(&url, &[]), Some(NotHttps));
        assert_eq!(
            workflows_url_problem(
                &format!("{inbox}webhookb2/g@t/IncomingWebhook/i/u"),
                &[inbox.to_string()]
            ),
            Some(NotTriggerUrl)
        );
    }
}
