//! The example values a package must not be published with: the developer of the example
//! `connector.toml` files ("Example Ltd", "Exemple SARL") and addresses on the hosts reserved
//! for examples (RFC 2606: example.com, example.net, example.org, *.example).

use serde_json::Value;

/// Each manifest value that is still an example, as `path 'value'`.
pub fn in_manifest(manifest: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let developer = &manifest["developer"];
    if let Some(name) = developer["name"].as_str().filter(|n| is_example_name(n)) {
        out.push(format!("developer.name '{name}'"));
    }
    let mut urls: Vec<(String, &Value)> = ["websiteUrl", "privacyUrl", "termsOfUseUrl"]
        .into_iter()
        .map(|k| (format!("developer.{k}"), &developer[k]))
        .collect();
    for key in ["configurableTabs", "connectors"] {
        for (i, entry) in manifest[key].as_array().into_iter().flatten().enumerate() {
            urls.push((
                format!("{key}[{i}].configurationUrl"),
                &entry["configurationUrl"],
            ));
        }
    }
    for (path, url) in urls {
        if let Some(url) = url.as_str().filter(|u| is_example_url(u)) {
            out.push(format!("{path} '{url}'"));
        }
    }
    out
}

fn is_example_name(name: &str) -> bool {
    name.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("example") || w.eq_ignore_ascii_case("exemple"))
}

fn is_example_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    ["example.com", "example.net", "example.org", "example"]
        .iter()
        .any(|reserved| host == *reserved || host.ends_with(&format!(".{reserved}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn example_hosts_and_names_are_found_and_real_ones_are_not() {
        for url in [
            "https://example.com",
            "https://EXAMPLE.org/privacy",
            "https://connector.example.com/config/",
            "https://cdn.example.net:8443/",
            "https://site.example/",
        ] {
            assert!(is_example_url(url), "{url}");
        }
        for url in [
            "https://contoso.com/",
            "https://notexample.com/",
            "https://example.com.contoso.com/",
        ] {
            assert!(!is_example_url(url), "{url}");
        }
        assert!(is_example_name("Example Ltd") && is_example_name("Exemple SARL"));
        assert!(!is_example_name("Contoso Ltd") && !is_example_name("Examples4U"));
    }

    #[test]
    fn every_example_in_the_manifest_is_named_with_its_path() {
        let m = json!({
            "developer": {
                "name": "Example Ltd",
                "websiteUrl": "https://contoso.com",
                "privacyUrl": "https://example.com/privacy",
                "termsOfUseUrl": "https://contoso.com/terms",
            },
            "configurableTabs": [{ "configurationUrl": "https://connector.example.com/" }],
        });
        assert_eq!(
            in_manifest(&m),
            [
                "developer.name 'Example Ltd'",
                "developer.privacyUrl 'https://example.com/privacy'",
                "configurableTabs[0].configurationUrl 'https://connector.example.com/'",
            ]
        );
        let real = json!({
            "developer": {
                "name": "Contoso",
                "websiteUrl": "https://contoso.com",
                "privacyUrl": "https://contoso.com/privacy",
                "termsOfUseUrl": "https://contoso.com/terms",
            },
            "configurableTabs": [{ "configurationUrl": "https://teams.contoso.com/" }],
        });
        assert!(in_manifest(&real).is_empty());
    }
}
