//! A JSON body extractor whose every refusal is an `AppError` JSON answer (axum's own
//! answers plain text), naming the field when serde names one.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
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
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest {
                    code: "invalid_body",
                    message: e.body_text(),
                    fields: vec![],
                }
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(body_error)
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
