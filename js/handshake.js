// The handshake with Teams while the wasm downloads (issue 29). index.html loads this plain
// script right after teams-js: in a frame it reads config.json (the preloaded answer), starts
// `app.initialize` with its `validMessageOrigins`, then asks `getContext` and `getSettings`
// together, registers the theme handler and the save or remove handler as soon as the frame
// context allows (the SDK knows it from initialize's answer: registering a save handler
// throws outside `settings`), and keeps every answer, error and early event until the wasm
// takes them over through `window.connectorHandshake` (src/teams/mod.rs):
// - `take(name)`: the promise of `config` ({status, body}, as the page's own fetch reads it),
//   `initialize`, `context` or `settings`, once; afterwards undefined (the page asks itself).
// - `handle(name, fn)`: `save`, `remove` or `theme`: true when this script registered that
//   handler (`fn` then gets the events kept so far, in order, and every later one); throws
//   what registering threw; false when it did not register it (and never will: the page
//   registers it itself).
// - `drop()`: the page gave up waiting (config.json timed out) and does everything itself.
// Tests call `connectorHandshakeBegin(microsoftTeams)` themselves (tests/web/support.rs).
(function (w) {
  'use strict';
  function begin(teams) {
    var once = {}, thrown = {}, claimed = {}, handlers = {}, dropped = false;
    var kept = { save: [], remove: [], theme: [] };
    function relay(name) {
      return function (event) {
        if (handlers[name]) handlers[name](event);
        else kept[name].push(event);
      };
    }
    // Registers `name` through `register` unless the page has claimed it; true when it took.
    function attempt(name, register) {
      if (claimed[name] || dropped) return false;
      try {
        register(relay(name));
        thrown[name] = null;
        return true;
      } catch (e) {
        thrown[name] = e;
        return false;
      }
    }
    once.config = fetch('config.json', { mode: 'cors', credentials: 'same-origin' }).then(function (r) {
      return r.json().then(
        function (body) { return { status: r.status, body: body }; },
        function () { return { status: r.status, body: undefined }; });
    });
    // The origins as the page reads them: only from a 200 answer, only a non-empty list of texts.
    once.initialize = once.config.then(function (a) {
      var o = a.status === 200 && a.body ? a.body.validMessageOrigins : undefined;
      return Array.isArray(o) && o.length > 0 && o.every(function (s) { return typeof s === 'string'; }) ? o : undefined;
    }, function () { return undefined; }).then(function (origins) {
      if (dropped) return new Promise(function () {});
      return teams.app.initialize(origins);
    });
    once.context = once.initialize.then(function () { return teams.app.getContext(); });
    once.settings = once.initialize.then(function () {
      return new Promise(function (resolve) { teams.settings.getSettings(resolve); });
    });
    once.initialize.then(function () {
      attempt('theme', function (h) { teams.app.registerOnThemeChangeHandler(h); });
      if (!attempt('save', function (h) { teams.settings.registerOnSaveHandler(h); })) {
        attempt('remove', function (h) { teams.settings.registerOnRemoveHandler(h); });
      }
    }, function () {});
    // Nobody may be listening yet: a failure is the page's to report when it takes the promise.
    for (var name in once) once[name].catch(function () {});
    return {
      take: function (name) {
        var p = once[name];
        delete once[name];
        return p;
      },
      handle: function (name, fn) {
        if (!(name in thrown)) {
          claimed[name] = true;
          return false;
        }
        if (thrown[name]) throw thrown[name];
        // After the page's own call has returned, the kept events in order, then the live ones.
        Promise.resolve().then(function () {
          while (kept[name].length) fn(kept[name].shift());
          handlers[name] = fn;
        });
        return true;
      },
      drop: function () {
        dropped = true;
        once = {};
      },
    };
  }
  w.connectorHandshakeBegin = begin;
  var framed;
  try {
    framed = w.parent !== w;
  } catch (e) {
    framed = true;
  }
  if (framed && w.microsoftTeams) w.connectorHandshake = begin(w.microsoftTeams);
})(window);
