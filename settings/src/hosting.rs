//! Facts about where the page is hosted that the headers written for static hosts (xtask)
//! and the server's own fallback policy must both state.

/// Where Teams (and Outlook, which hosts Teams apps) frames the page: the Content-Security-
/// Policy's `frame-ancestors` sources.
pub const FRAME_ANCESTORS: &str =
    "teams.microsoft.com *.teams.microsoft.com *.cloud.microsoft *.skype.com outlook.office.com *.office.com";
