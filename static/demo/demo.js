/* Demo page: records which stand-in vendor tags ran, in order, and lists them on the page. */
(function () {
  'use strict';
  var ran = window.__ranScripts = [];
  var push = ran.push;
  ran.push = function (name) {
    var n = push.call(ran, name);
    var list = document.getElementById('ran');
    if (list) {
      var item = document.createElement('li');
      item.textContent = name;
      list.appendChild(item);
    }
    return n;
  };
})();
