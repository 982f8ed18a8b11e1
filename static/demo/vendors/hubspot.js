/* Stand-in for the HubSpot tracking code: sets its real first-party cookies, no network. */
(function () {
  'use strict';
  var host = location.hostname;
  // HubSpot sets its cookies on the registrable domain so they span subdomains.
  var domain = /^[\d.]+$|^[^.]+$/.test(host) ? '' : '; Domain=.' + host.split('.').slice(-2).join('.');
  var id = Math.random().toString(16).slice(2);
  document.cookie = 'hubspotutk=' + id + '; Path=/; Max-Age=15552000; SameSite=Lax' + domain;
  document.cookie = '__hstc=1.' + id + '; Path=/; Max-Age=15552000; SameSite=Lax' + domain;
  document.cookie = '__hssc=1.1; Path=/; Max-Age=1800; SameSite=Lax' + domain;
  document.cookie = '__hssrc=1; Path=/; SameSite=Lax' + domain;
  window.__ranScripts.push('hubspot');
})();
