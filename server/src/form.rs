//! Page and server from one form: the page names the form it was built from (the
//! fingerprint of its connector.toml) in every API call and in `dist/form.txt`; a page of
//! another form would send settings this server misreads, so it is refused.

use std::path::Path;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use connector_settings::api::{form_mismatch, FORM_FILE, FORM_HEADER};
use connector_settings::FORM;

use crate::error::AppError;

/// Refuses (409 `form_mismatch`) a request whose page names another form. Requests without
/// the header (senders, curl, pages older than the header) pass.
pub async fn check(req: Request, next: Next) -> Result<Response, AppError> {
    if let Some(value) = req.headers().get(FORM_HEADER) {
        let page = value.to_str().unwrap_or("");
        if page != FORM {
            // Quoted as sent, but never more of it than a fingerprint's length and a bit.
            let shown: String = page.chars().take(40).collect();
            return Err(AppError::FormMismatch(form_mismatch(&shown, FORM)));
        }
    }
    Ok(next.run(req).await)
}

/// Stops the start when the page this server serves (`dist`) was built from another form.
/// A dist without `form.txt` (built before it was written, or by Trunk alone) is served with
/// a warning: nothing says which form it is.
pub fn check_dist(dist: &Path) -> anyhow::Result<()> {
    if !dist.join("index.html").exists() {
        return Ok(());
    }
    let file = dist.join(FORM_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %file.display(), form = FORM,
                "the page names no form: cannot check that it was built from this server's connector.toml");
            return Ok(());
        }
        Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
    };
    let page = text.trim();
    if page != FORM {
        anyhow::bail!("{}: {}", file.display(), form_mismatch(page, FORM));
    }
    Ok(())
}
