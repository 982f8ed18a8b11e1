/* Stand-in for Google Analytics (gtag.js): sets its real first-party cookies, no network. */
(function () {
  'use strict';
  var id = Math.floor(Math.random() * 1e9) + '.' + Math.floor(Date.now() / 1e3);
  document.cookie = '_ga=GA1.1.' + id + '; Path=/; Max-Age=63072000; SameSite=Lax';
  document.cookie = '_ga_DEMO123=GS1.1.' + id + '; Path=/; Max-Age=63072000; SameSite=Lax';
  document.cookie = '_gid=GA1.1.' + id + '; Path=/; Max-Age=86400; SameSite=Lax';
  window.__ranScripts.push('google-analytics');
})();
