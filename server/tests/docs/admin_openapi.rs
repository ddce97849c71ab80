//! server/admin-openapi.json, the admin API's OpenAPI document (served at
//! `/admin/openapi.json` on the internal listener), generated here: the operations from the
//! table below, every schema from the Rust types in `connector_settings::admin` (their
//! `JsonSchema`, feature `schema`), so a field added to a type is in the document the next
//! time it is written. Written with `CONNECTOR_WRITE_DOCS=1` (`cargo xtask docs`); otherwise
//! the test fails when the file is not what the table and the types give, or when a route of
//! `server/src/admin.rs` is missing from the table.

use connector_settings::admin;
use connector_settings::api::ErrorBody;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/admin-openapi.json");
const ROUTES: &str = include_str!("../../src/admin.rs");

/// A query parameter: name, JSON type, description.
type Query = (&'static str, &'static str, &'static str);

struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    query: &'static [Query],
    /// The body's schema, by type name.
    body: Option<&'static str>,
    /// The success code, its schema's type name (none: no body) and what it means.
    ok: (u16, Option<&'static str>, &'static str),
    /// Error codes besides 401 (every call) and 500.
    errors: &'static [u16],
}

const PAGING: [Query; 2] = [
    (
        "limit",
        "integer",
        "At most this many, 1 to 200 (default 50).",
    ),
    (
        "before",
        "integer",
        "The `nextBefore` of the previous page.",
    ),
];

fn ops() -> Vec<Op> {
    vec![
        Op {
            method: "get",
            path: "/admin/connections",
            id: "searchConnections",
            summary: "Connections matching every filter given, ordered by entity id, in pages.",
            query: &[
                ("tenant", "string", "The tenant of its sign-in or of its team."),
                ("team", "string", "The group id of its team."),
                ("account", "string", "The account it is linked to."),
                ("name", "string", "Part of its name, in any case."),
                ("kind", "string", "Its webhook's kind: connector, workflows, workflows-sign-in, workflows-retired."),
                ("state", "string", "enabled or disabled."),
                ("limit", "integer", "At most this many, 1 to 200 (default 50)."),
                ("cursor", "string", "The `nextCursor` of the previous page."),
            ],
            body: None,
            ok: (200, Some("ConnectionPage"), "One page of connections."),
            errors: &[400],
        },
        Op {
            method: "get",
            path: "/admin/connections/{id}",
            id: "getConnection",
            summary: "One connection with its settings and delivery counts.",
            query: &[],
            body: None,
            ok: (200, Some("ConnectionDetail"), "The connection."),
            errors: &[400, 404],
        },
        Op {
            method: "post",
            path: "/admin/connections/{id}/disable",
            id: "disableConnection",
            summary: "Stops its deliveries; the tab page shows the reason. Audited.",
            query: &[],
            body: Some("DisableBody"),
            ok: (200, Some("ConnectionDetail"), "The connection, disabled."),
            errors: &[400, 404],
        },
        Op {
            method: "post",
            path: "/admin/connections/{id}/enable",
            id: "enableConnection",
            summary: "Delivers to it again. Audited.",
            query: &[],
            body: None,
            ok: (200, Some("ConnectionDetail"), "The connection, enabled."),
            errors: &[400, 404],
        },
        Op {
            method: "get",
            path: "/admin/deliveries",
            id: "listDeliveries",
            summary: "Deliveries matching every filter given, newest first, in pages.",
            query: &[
                ("connection", "string", "A connection's entity id."),
                ("event", "string", "An event id."),
                ("state", "string", "pending, delivered or dead."),
                ("since", "integer", "Made at or after (unix milliseconds)."),
                ("until", "integer", "Made before (unix milliseconds)."),
                PAGING[0],
                PAGING[1],
            ],
            body: None,
            ok: (200, Some("DeliveryPage"), "One page of deliveries."),
            errors: &[400],
        },
        Op {
            method: "delete",
            path: "/admin/connections/{id}",
            id: "deleteConnection",
            summary: "Deletes the connection with its deliveries (pending ones are never posted). Audited.",
            query: &[],
            body: None,
            ok: (200, Some("Deleted"), "Deleted, with how many pending deliveries went with it."),
            errors: &[400, 404],
        },
        Op {
            method: "post",
            path: "/admin/connections/{id}/test",
            id: "sendTestCard",
            summary: "Sends the configuration page's test card to the connection's webhook and waits up to 15 s for its first attempt. Audited.",
            query: &[],
            body: None,
            ok: (200, Some("TestCardAnswer"), "How the first attempt ended."),
            errors: &[400, 404, 409],
        },
        Op {
            method: "get",
            path: "/admin/deliveries/{id}",
            id: "getDelivery",
            summary: "One delivery with every attempt: when, the answer code, the outcome, the error.",
            query: &[],
            body: None,
            ok: (200, Some("DeliveryDetail"), "The delivery and its attempts."),
            errors: &[400, 404],
        },
        Op {
            method: "post",
            path: "/admin/deliveries/{id}/replay",
            id: "replayDelivery",
            summary: "Makes one dead delivery due again (409 when it is not dead or its connection is disabled or deleted). Audited.",
            query: &[],
            body: None,
            ok: (200, Some("DeliveryDetail"), "The delivery, pending again."),
            errors: &[400, 404, 409],
        },
        Op {
            method: "post",
            path: "/admin/deliveries/replay",
            id: "replayDeliveries",
            summary: "Every dead delivery matching all the filters given made due again, or with dryRun only counted. A replay with no filter is refused (since 0 means all). Audited.",
            query: &[],
            body: Some("ReplayFilter"),
            ok: (200, Some("ReplayAnswer"), "How many matched, were held, were replayed."),
            errors: &[400],
        },
        Op {
            method: "get",
            path: "/admin/stats",
            id: "deliveryStats",
            summary: "The last day's attempts per minute by outcome, the deliveries due now and the oldest due time.",
            query: &[],
            body: None,
            ok: (200, Some("DeliveryStats"), "The figures."),
            errors: &[400],
        },
        Op {
            method: "get",
            path: "/admin/audit",
            id: "auditLog",
            summary: "What was done through the admin API, by whom and when, newest first.",
            query: &PAGING,
            body: None,
            ok: (200, Some("AuditPage"), "One page of the audit log."),
            errors: &[400],
        },
        Op {
            method: "get",
            path: "/admin/openapi.json",
            id: "adminOpenApi",
            summary: "This document.",
            query: &[],
            body: None,
            ok: (200, None, "The admin API's OpenAPI document."),
            errors: &[],
        },
    ]
}

/// The schemas of every type the operations name, OpenAPI 3.0 style.
fn schemas() -> Map<String, Value> {
    let mut gen = SchemaGenerator::new(SchemaSettings::openapi3());
    gen.subschema_for::<admin::ConnectionPage>();
    gen.subschema_for::<admin::ConnectionDetail>();
    gen.subschema_for::<admin::DisableBody>();
    gen.subschema_for::<admin::DeliveryPage>();
    gen.subschema_for::<admin::AuditPage>();
    gen.subschema_for::<admin::Deleted>();
    gen.subschema_for::<admin::TestCardAnswer>();
    gen.subschema_for::<admin::DeliveryDetail>();
    gen.subschema_for::<admin::ReplayFilter>();
    gen.subschema_for::<admin::ReplayAnswer>();
    gen.subschema_for::<admin::DeliveryStats>();
    gen.subschema_for::<ErrorBody>();
    gen.definitions()
        .iter()
        .map(|(name, schema)| (name.clone(), serde_json::to_value(schema).unwrap()))
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn operation(op: &Op) -> Value {
    let mut parameters: Vec<Value> = op
        .query
        .iter()
        .map(|(name, ty, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": ty}})
        })
        .collect();
    if op.path.contains("{id}") {
        parameters.insert(
            0,
            json!({"name": "id", "in": "path", "required": true,
                   "description": if op.path.starts_with("/admin/deliveries") {
                "The delivery's id."
            } else {
                "The connection's entity id."
            },
            "schema": {"type": if op.path.starts_with("/admin/deliveries") { "integer" } else { "string" }}}),
        );
    }
    let mut responses = Map::new();
    let (code, ok_schema, ok_text) = op.ok;
    let mut ok = json!({ "description": ok_text });
    if let Some(name) = ok_schema {
        ok["content"] = json!({"application/json": {"schema": schema_ref(name)}});
    } else if op.id == "adminOpenApi" {
        ok["content"] = json!({"application/json": {"schema": {"type": "object"}}});
    }
    responses.insert(code.to_string(), ok);
    let mut errors = op.errors.to_vec();
    if op.id != "adminOpenApi" {
        errors.extend([401, 500]);
    }
    for code in errors {
        responses.insert(
            code.to_string(),
            json!({"description": "What was wrong.",
                   "content": {"application/json": {"schema": schema_ref("ErrorBody")}}}),
        );
    }
    let mut out = json!({
        "operationId": op.id,
        "summary": op.summary,
        "responses": responses,
    });
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    if let Some(name) = op.body {
        out["requestBody"] = json!({"required": true,
            "content": {"application/json": {"schema": schema_ref(name)}}});
    }
    if op.id == "adminOpenApi" {
        out["security"] = json!([]);
    }
    out
}

fn render() -> String {
    let mut paths = Map::new();
    for op in ops() {
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = operation(&op);
    }
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Teams connector admin API",
            "version": "0.1.0",
            "description": "For operators: find connections, see their deliveries, act on them. Served only on the internal listener (--metrics-addr), beside /metrics; every call needs a bearer token of --admin-token (id:secret; the id is written to the audit log). No answer holds a webhook URL, an edit key or a signature: of a webhook only its host and kind. Generated by server/tests/docs/admin_openapi.rs from the types in connector_settings::admin."
        },
        "security": [{"adminToken": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                "description": "The secret part of one --admin-token entry."}},
            "schemas": schemas(),
        },
    });
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

/// `(method, path)` of every `.route("/admin/…", get(…).post(…))` in admin.rs.
fn routes_in_source() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = ROUTES;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let Some(len) = rest[open + 1..].find('"') else {
            break;
        };
        let path = &rest[open + 1..open + 1 + len];
        let after = rest[open + 1 + len + 1..].trim_start_matches([',', ' ', '\n']);
        // The method router up to the end of this `.route(…)`.
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let methods = &after[..end];
        for method in ["get", "post", "put", "delete", "patch"] {
            let starts = methods.starts_with(&format!("{method}("));
            if starts || methods.contains(&format!(".{method}(")) {
                found.push((method.to_string(), path.to_string()));
            }
        }
    }
    found
}

#[test]
fn the_admin_openapi_document_is_generated_from_the_table_and_the_types() {
    let want = render();
    if std::env::var_os("CONNECTOR_WRITE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(FILE, &want).unwrap_or_else(|e| panic!("cannot write {FILE}: {e}"));
        return;
    }
    let have = std::fs::read_to_string(FILE).unwrap_or_default();
    assert!(
        have == want,
        "server/admin-openapi.json is stale (or missing): regenerate it with `cargo xtask docs`"
    );
}

#[test]
fn every_admin_route_is_in_the_document() {
    let documented: Vec<(String, String)> = ops()
        .iter()
        .map(|op| (op.method.to_string(), op.path.to_string()))
        .collect();
    let routes = routes_in_source();
    assert!(
        routes.len() >= 6,
        "found only {routes:?} in admin.rs: has the router's form changed?"
    );
    for route in &routes {
        assert!(
            documented.contains(route),
            "{} {} is routed in server/src/admin.rs but not in the admin OpenAPI table (server/tests/docs/admin_openapi.rs)",
            route.0,
            route.1
        );
    }
    for op in &documented {
        assert!(
            routes.contains(op),
            "{} {} is documented but not routed in server/src/admin.rs",
            op.0,
            op.1
        );
    }
}
