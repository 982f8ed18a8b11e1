/* Stand-in for the YouTube player inside its iframe: tells the demo page that it loaded. */
(function () {
  'use strict';
  var page = window.parent;
  if (page !== window && page.__ranScripts) page.__ranScripts.push('youtube');
})();
