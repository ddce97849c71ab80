//! Extractors whose every refusal is an `AppError` JSON answer (axum's own answer plain
//! text): the JSON body (naming the field when serde names one), path and query.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use connector_settings::api::FieldProblem;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 16 * 1024;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            });
        if !json {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_rejection(e, BODY_LIMIT))?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(body_error)?;
        // One value and nothing after it: of `{…}xyz` or two objects, which one was meant
        // cannot be told, and `/api/events` refuses the same.
        de.end().map_err(|e| AppError::BadRequest {
            code: "invalid_json",
            message: format!(
                "the body has more after its JSON value (line {}, column {}): send exactly one JSON value",
                e.line(),
                e.column()
            ),
            fields: vec![],
        })?;
        Ok(JsonBody(value))
    }
}

/// The refusal of a body that is not JSON or not the expected shape, naming the field where
/// serde_path_to_error found the problem (`settings.events[0]`).
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = e.path().to_string();
    let e = e.into_inner();
    let message = e.to_string();
    let code = if e.is_syntax() || e.is_eof() {
        "invalid_json"
    } else {
        "invalid_body"
    };
    let at = |field: &str| {
        if path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let fields = if !e.is_data() {
        vec![]
    } else if let Some(missing) = missing_field(&message) {
        // A missing field is reported at the object that lacks it; serde names the field
        // only in its `missing_field` message.
        let field = at(missing);
        vec![FieldProblem {
            message: format!("'{field}' is required"),
            field,
            rule: "required".into(),
        }]
    } else if path == "." {
        vec![]
    } else if message.starts_with("unknown field") {
        vec![FieldProblem {
            message: format!("'{path}' is not a known field"),
            field: path,
            rule: "unknown_field".into(),
        }]
    } else {
        vec![FieldProblem {
            message: format!("'{path}' has the wrong type"),
            field: path,
            rule: "invalid_type".into(),
        }]
    };
    AppError::BadRequest {
        code,
        message: format!("request body: {message}"),
        fields,
    }
}

/// The field of serde's `missing field `name`` message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// The answer to a body that could not be read: over `limit`, too slow, or broken off.
pub fn body_rejection(e: BytesRejection, limit: usize) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::PayloadTooLarge(limit);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(late) = err.downcast_ref::<crate::serve::BodyTimedOut>() {
            return AppError::RequestTimeout(late.to_string());
        }
        source = err.source();
    }
    AppError::BadRequest {
        code: "invalid_body",
        message: format!("cannot read the request body: {}", e.body_text()),
        fields: vec![],
    }
}

/// A path parameter; one that is not valid percent-encoded UTF-8 is a 400 naming the path.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| {
                use axum::extract::path::ErrorKind;
                use axum::extract::rejection::PathRejection;
                let path = parts.uri.path();
                let message = match &e {
                    PathRejection::FailedToDeserializePathParams(p) => match p.kind() {
                        ErrorKind::InvalidUtf8InPathParam { key } => format!(
                            "'{key}' in the path '{path}' is not valid UTF-8 once percent-decoded"
                        ),
                        _ => format!("the path '{path}' cannot be read: {}", p.body_text()),
                    },
                    _ => format!("the path '{path}' cannot be read: {}", e.body_text()),
                };
                AppError::BadRequest {
                    code: "invalid_path",
                    message,
                    fields: vec![],
                }
            })
    }
}

/// Query parameters; unknown, repeated or malformed ones are a 400 naming the query.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| AppError::BadRequest {
                code: "invalid_query",
                message: format!("the query '{query}' cannot be read: {e}"),
                fields: vec![],
            })
    }
}

#[cfg(test)]
mod tests {
    use connector_settings::api::SaveConnection;

    use super::*;

    /// The field problems of `body` read as a `SaveConnection`.
    fn problems(body: &str) -> (&'static str, Vec<(String, String)>) {
        let de = &mut serde_json::Deserializer::from_str(body);
        let e = serde_path_to_error::deserialize::<_, SaveConnection>(de).unwrap_err();
        match body_error(e) {
            AppError::BadRequest { code, fields, .. } => (
                code,
                fields.into_iter().map(|f| (f.field, f.rule)).collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    fn one(field: &str, rule: &str) -> Vec<(String, String)> {
        vec![(field.to_string(), rule.to_string())]
    }

    #[test]
    fn each_problem_names_its_field_by_path() {
        assert_eq!(
            problems("{}"),
            ("invalid_body", one("settings", "required"))
        );
        assert_eq!(
            problems(r#"{"settings": {}, "colour": 1}"#),
            ("invalid_body", one("colour", "unknown_field"))
        );
        assert_eq!(
            problems(r#"{"settings": {}, "appType": 3}"#),
            ("invalid_body", one("appType", "invalid_type"))
        );
        assert_eq!(problems(r#"{"settings": "#), ("invalid_json", vec![]));
        assert_eq!(problems("[]").1, vec![]);
    }
}
