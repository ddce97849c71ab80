// The parts of @microsoft/teams-js the page calls, as the `window.microsoftTeams` global that
// src/teams/sys.rs binds to. bundle-teams-js.mjs bundles it from the package's ESM build, so
// only these functions and what they need are shipped, not the whole UMD file. Add a member
// here when sys.rs binds a new one: the build fails until both agree.
import {
  initialize, getContext, notifySuccess, registerOnThemeChangeHandler,
} from '@microsoft/teams-js/dist/esm/packages/teams-js/src/public/app/app.js';
import {
  getSettings, setSettings, setValidityState, registerOnSaveHandler, registerOnRemoveHandler,
} from '@microsoft/teams-js/dist/esm/packages/teams-js/src/public/settings.js';
import {
  getAuthToken, authenticate, notifySuccess as notifyAuthSuccess, notifyFailure as notifyAuthFailure,
} from '@microsoft/teams-js/dist/esm/packages/teams-js/src/public/authentication.js';

window.microsoftTeams = {
  app: { initialize, getContext, notifySuccess, registerOnThemeChangeHandler },
  settings: { getSettings, setSettings, setValidityState, registerOnSaveHandler, registerOnRemoveHandler },
  // notifySuccess/notifyFailure: for the sign-in popup's pages (public/auth/), which load
  // this same bundle.
  authentication: { getAuthToken, authenticate, notifySuccess: notifyAuthSuccess, notifyFailure: notifyAuthFailure },
};
