/* Stand-in for the Meta (Facebook) Pixel: sets its real first-party cookie, no network. */
(function () {
  'use strict';
  var id = 'fb.1.' + Date.now() + '.' + Math.floor(Math.random() * 1e10);
  document.cookie = '_fbp=' + id + '; Path=/; Max-Age=7776000; SameSite=Lax';
  window.__ranScripts.push('facebook-pixel');
})();
