/* Stand-in for Segment analytics.js: sets its real first-party cookies, no network. */
(function () {
  'use strict';
  var id = 'demo-' + Math.random().toString(36).slice(2);
  document.cookie = 'ajs_anonymous_id=' + id + '; Path=/; Max-Age=31536000; SameSite=Lax';
  // No Path: the browser scopes it to this page's directory, as real tags often end up doing.
  document.cookie = 'ajs_user_id=' + id + '; Max-Age=31536000; SameSite=Lax';
  window.__ranScripts.push('segment');
})();
