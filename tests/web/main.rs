//! The page in headless Chromium against a fake `window.microsoftTeams` and a fake `fetch`
//! (tests/fake_teams.js), one wasm binary of one idea a file: the connector page's form and
//! its flows (`form`: validity and messages, pre-fill, save, remove, failures, languages,
//! sign-on), the handshake js/handshake.js begins before the wasm (`handshake`), the
//! configurable tab (`tab`), and the wire format (`wire`: the page's API client
//! against JSON as the server writes it), all on `support`.

#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod bot;
mod form;
mod handshake;
mod support;
mod tab;
mod wire;
