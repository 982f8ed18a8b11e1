/* cmp: the consent banner snippet. One global `cmp`. A consent core (state, storage, decisions,
   no DOM) notifies subscribers: the backend, the script blocker and Consent Mode, and the UI. */
((w, d) => {
  'use strict';
  if (!d || w.cmp) return;
  const mark = (name) => performance.mark(name);
  mark('cmp:start');

  // ---- names -------------------------------------------------------------------------------
  const COOKIE = 'cmp_consent', QUEUE = 'cmp_queue', RECEIPT = 'cmp_receipt', CHECKED = 'cmp_checked';
  const NECESSARY = 'necessary', MARKETING = 'marketing', PFX = 'cmp-', DAY = 864e5;
  const SIGNALS = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization'];
  const BLOCKED = 'script[type="text/plain"]', FRAMES = 'iframe[data-cmp-src]';
  const FOCUSABLE = 'a[href],button,input:not([disabled]),summary';
  const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
  const UNITS = ['year', 'month', 'week', 'day', 'hour', 'minute', 'second'];

  const tag = d.currentScript || d.querySelector('script[data-site]');
  const opts = tag.dataset, NONCE = tag.nonce || '';
  const API = (opts.api || new URL(tag.src, location.href).origin).replace(/\/$/, '');
  const SITE_URL = API + '/api/v1/sites/' + encodeURIComponent(opts.site);
  const GPC = navigator.globalPrivacyControl === true;

  // ---- Google Consent Mode defaults: set before any Google tag can run ----------------------
  const dataLayer = w.dataLayer = w.dataLayer || [];
  // gtag's own form (an arguments object), so gtag.js reads it; a site's gtag is left alone.
  const gtag = w.gtag = w.gtag || function () { dataLayer.push(arguments); };
  gtag('consent', 'default', {
    ad_storage: 'denied', analytics_storage: 'denied', ad_user_data: 'denied',
    ad_personalization: 'denied', functionality_storage: 'granted', security_storage: 'granted',
    wait_for_update: 500
  });

  // ---- consent core: state, storage, decisions (no DOM) ------------------------------------
  let cfg = null, state = null, previous = null;
  const subscribers = [], listeners = [], waiting = [];
  const each = (list, fn) => Array.prototype.forEach.call(list || [], fn);
  const keys = Object.keys;
  const granted = (map) => keys(map).filter((k) => map[k]);
  const setOf = (list) => list.reduce((s, k) => (k && (s[k] = 1), s), {});
  const lifetime = () => cfg.consent_lifetime_days * DAY;

  const storage = {
    load() {
      const m = d.cookie.match(/(?:^|; )cmp_consent=([^;]*)/), f = m && decodeURIComponent(m[1]).split('|');
      return f && f.length == 7 ? { id: f[0], rev: f[1], at: +f[2], lang: f[3], w: !!f[4],
        p: setOf(f[5].split(',')), v: setOf(f[6].split(',')) } : null;
    },
    save(s) {
      const value = [s.id || '', s.rev, s.at, s.lang, s.w ? 1 : '', granted(s.p), granted(s.v)].join('|');
      d.cookie = COOKIE + '=' + encodeURIComponent(value) + '; Path=/; SameSite=Lax; Max-Age=' +
        lifetime() / 1e3 + (opts.cookieDomain ? '; Domain=' + opts.cookieDomain : '') +
        (location.protocol == 'https:' ? '; Secure' : '');
    }
  };

  function local(name, value) {
    try {
      if (value === undefined) return JSON.parse(localStorage.getItem(name));
      localStorage.setItem(name, JSON.stringify(value));
    } catch (e) { return null; }
  }

  const alwaysOn = (key) => key == NECESSARY ||
    !!cfg && cfg.vendors.concat(cfg.purposes).some((x) => x.id == key && x.always_on);

  const hasConsent = (key) => !!state && !!(state.p[key] || state.v[key]) || alwaysOn(key);

  /** Every purpose and vendor, on or off: `test(item, purposeIds)` decides those not always on. */
  function choose(test) {
    const c = { p: {}, v: {} };
    each(cfg.purposes, (x) => { c.p[x.id] = !!(x.always_on || test(x, [x.id])); });
    each(cfg.vendors, (x) => { c.v[x.id] = !!(x.always_on || test(x, x.purposes)); });
    return c;
  }

  /** Everything on or off. GPC keeps marketing off: only the visitor's own switch turns it on. */
  const everything = (on) => choose((x, ids) => on && !(GPC && ids.includes(MARKETING)));

  function decide(action, c) {
    const old = state || previous || {};
    state = { id: old.id, rev: cfg.revision, at: Date.now(), lang: cfg.language,
      w: action == 'withdraw', p: c.p, v: c.v };
    storage.save(state);
    each(subscribers, (fn) => fn(action));
  }

  const acceptAll = () => decide(GPC ? 'custom' : 'accept_all', everything(true));
  const rejectAll = () => decide('reject_all', everything(false));

  const snapshot = () => state && { consentId: state.id || null, revision: state.rev,
    givenAt: new Date(state.at), withdrawn: state.w, purposes: granted(state.p),
    vendors: granted(state.v), gpc: GPC };

  const whenReady = (fn) => () => cfg ? fn() : waiting.push(fn);

  // ---- backend: POST through an offline queue, daily status check --------------------------
  let sending = Promise.resolve();

  function record(action) {
    const body = { action, purposes: state.p, vendors: state.v, revision: cfg.revision,
      language: cfg.language, url: location.href, gpc: GPC };
    local(QUEUE, (local(QUEUE) || []).concat([body]));
    flush();
  }

  const flush = () => (sending = sending.then(sendQueue));

  /** Send queued decisions in order; what cannot be sent now stays queued for a later page. */
  function sendQueue() {
    const queue = local(QUEUE) || [];
    let i = 0;
    local(QUEUE, []);
    const next = () => i >= queue.length || post(queue[i]).then(() => (i++, next()), () => {
      local(QUEUE, queue.slice(i).concat(local(QUEUE) || []));
      if (cfg) toast(text().offline_notice);
    });
    return next();
  }

  /** Rejects only when a later page may do better (5xx, 429, offline); other 4xx are dropped. */
  function post(body, again) {
    const s = storage.load();
    body.consent_id = s && s.id || null;
    return fetch(SITE_URL + '/consents', { method: 'POST', keepalive: true,
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then((r) => {
        if (r.status >= 500 || r.status == 429) throw r;
        return r.json().then((j) => {
          if (r.ok) return remember(j);
          // The server does not know this id (reset, erased): the same decision as a new consent.
          if (/unknown-consent$/.test(j.type) && !again) {
            s.id = '';
            storage.save(s);
            if (state) state.id = '';
            return post(body, 1);
          }
          // A config the server never served: forget that decision, so the next page asks again.
          if (/unknown-revision$/.test(j.type) && s && s.rev == body.revision) expire(COOKIE);
        }, () => {});
      });
  }

  function remember(res) {
    const s = storage.load();
    if (s && !s.id) { s.id = res.consent_id; storage.save(s); }
    if (state && !state.id) state.id = res.consent_id;
    local(RECEIPT, res.receipt);
    local(CHECKED, Date.now());
  }

  /** The server's view, at most once a day: false once it no longer holds the consent active. */
  function stillActive(s) {
    if (!s.id || s.w || Date.now() - local(CHECKED) < DAY) return true;
    return fetch(SITE_URL + '/consents/' + s.id + '/status')
      .then((r) => r.status == 404 ? {} : r.json())
      .then((j) => j.status == 'active' ? !local(CHECKED, Date.now()) : false, () => true);
  }

  function downloadReceipt() {
    fetch(SITE_URL + '/consents/' + state.id + '/receipt',
      { headers: { Authorization: 'Bearer ' + local(RECEIPT) } })
      .then((r) => { if (!r.ok) throw r; return r.blob(); })
      .then((blob) => {
        const url = URL.createObjectURL(blob);
        el('a', { href: url, download: 'consent-receipt.json' }).click();
        setTimeout(() => URL.revokeObjectURL(url), 1e3);
      }).catch(() => toast(text().offline_notice));
  }

  // ---- blocker: scripts and iframes run once, in document order, when consent covers them ----
  const done = new WeakSet(), ran = {};
  let running = Promise.resolve();

  function needs(node) {
    const k = node.dataset.cmpVendor || node.dataset.cmpPurpose;
    return k ? k.split(/\s+/) : [];
  }

  const covered = (node) => needs(node).length > 0 && needs(node).every(hasConsent);

  /** Mark a blocked element as released; false when it already was or consent does not cover it. */
  function release(node) {
    if (done.has(node) || !covered(node)) return false;
    done.add(node);
    needs(node).forEach((k) => { ran[k] = 1; });
    return true;
  }

  function unblock() {
    each(d.querySelectorAll(BLOCKED), (node) => {
      if (release(node)) running = running.then(() => execute(node));
    });
    each(d.querySelectorAll(FRAMES), (f) => release(f) && loadFrame(f));
  }

  /** Run a copy of a blocked script in its place; resolves when it ran (external: loaded). */
  const execute = (node) => new Promise((resolve) => {
    const s = d.createElement('script'), src = node.dataset.cmpSrc || node.getAttribute('src');
    each(node.attributes, (a) => {
      if (!/^(type|src|nonce|data-cmp-.*)$/.test(a.name)) s.setAttribute(a.name, a.value);
    });
    s.nonce = node.nonce || NONCE;
    if (src) {
      s.src = src;
      s.onload = s.onerror = resolve;
    } else {
      s.text = node.text;
    }
    node.after(s);
    if (!src) resolve();
  });

  function loadFrame(f) {
    if (f.cmpPh) f.cmpPh.remove();
    f.hidden = false;
    f.src = f.dataset.cmpSrc;
  }

  /** Expire a cookie on this host, every parent domain and every path prefix of this page. */
  function expire(name) {
    const labels = location.hostname.split('.'), paths = [];
    let path = '';
    location.pathname.split('/').forEach((part, i) => {
      path += (i ? '/' : '') + part;
      paths.push(path || '/', path + '/');
    });
    labels.map((x, i) => '; Domain=' + labels.slice(i).join('.')).concat('').forEach((domain) => {
      paths.forEach((p) => { d.cookie = name + '=; Max-Age=0; Path=' + p + domain; });
    });
  }

  /** Delete the declared first-party cookies (names or `*` patterns) of vendors not allowed. */
  function dropCookies() {
    const names = d.cookie.split('; ').map((c) => c.split('=')[0]);
    each(cfg.vendors, (v) => hasConsent(v.id) || each(v.cookies, (c) => {
      const pattern = new RegExp('^' + c.name.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
      if (c.party == 'first') names.filter((n) => pattern.test(n)).forEach(expire);
    }));
  }

  /** After a decision: clean up, and reload when code that lost its consent already ran here. */
  function narrow() {
    dropCookies();
    if (keys(ran).every(hasConsent) || 'cmpNoReload' in opts) return;
    const timeout = new Promise((r) => setTimeout(r, 3e3));
    Promise.race([sending, timeout]).then(() => { dropCookies(); location.reload(); });
  }

  function updateConsentMode() {
    const map = cfg.consent_mode || {}, update = {};
    SIGNALS.concat(keys(map)).forEach((signal) => {
      update[signal] = (map[signal] || []).some(hasConsent) ? 'granted' : 'denied';
    });
    gtag('consent', 'update', update);
  }

  function announce(action) {
    const detail = snapshot();
    dataLayer.push({ event: 'cmp_consent', cmp_action: action, cmp_purposes: detail.purposes,
      cmp_vendors: detail.vendors });
    d.dispatchEvent(new CustomEvent('cmp:consent', { bubbles: true, detail }));
    if (action != 'load') listeners.forEach((fn) => fn(detail));
  }

  function apply(action) {
    if (cfg) updateConsentMode();
    unblock();
    if (action != 'load') narrow();
    announce(action);
  }

  // ---- UI: first layer, settings dialog, iframe placeholders -------------------------------
  let banner = null, dialog = null, note = null;
  const text = () => cfg.texts;

  /** createElement with attributes: `text` sets textContent, functions become listeners. */
  function el(name, attrs, children) {
    const node = d.createElement(name);
    for (const k in attrs) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k == 'text') node.textContent = v;
      else if (k == 'class') node.className = PFX + v.split(' ').join(' ' + PFX);
      else if (typeof v == 'function') node.addEventListener(k, v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    each(children, (c) => c && node.append(c));
    return node;
  }

  const link = (label, url) => (/^https?:\/\//i).test(url) &&
    el('a', { href: url, target: '_blank', rel: 'noopener', text: label });

  const button = (label, click, cls) =>
    el('button', { type: 'button', class: cls || 'btn', text: label, click });

  const choiceButtons = (save) => el('div', { class: 'btns' }, [
    button(text().accept_all, acceptAll),
    button(text().reject_all, rejectAll),
    save ? button(text().save, save) : button(text().settings, show)
  ]);

  const closeButton = (click) =>
    el('button', { type: 'button', class: 'x', 'aria-label': text().close, text: '\u00d7', click });

  const gpcNotice = () => GPC && el('p', { class: 'gpc', text: text().gpc_notice });

  function showBanner() {
    const t = text();
    banner = el('div', { class: 'root banner', role: 'region', lang: cfg.language,
      'aria-labelledby': 'cmp-title', 'aria-describedby': 'cmp-text' }, [
      closeButton(closeBanner),
      el('h2', { id: 'cmp-title', class: 'h', text: t.banner_title }),
      el('p', { id: 'cmp-text', text: t.banner_text + ' ' }, [link(t.privacy_policy, cfg.privacy_policy_url)]),
      gpcNotice(),
      choiceButtons()
    ]);
    d.body.prepend(banner);
    requestAnimationFrame(() => mark('cmp:visible'));
  }

  function closeBanner() {
    if (banner) banner.remove();
    banner = null;
  }

  function toast(message) {
    if (!note) d.body.append(note = el('div', { class: 'root toast', role: 'status' }));
    note.textContent = message;
    clearTimeout(note.timer);
    note.timer = setTimeout(() => { note.textContent = ''; }, 5e3);
  }

  function duration(iso) {
    const m = DURATION.exec(iso), parts = [];
    if (!m) return iso == 'session' || !iso ? text().session : iso;
    UNITS.forEach((unit, i) => m[i + 1] && parts.push(new Intl.NumberFormat(cfg.language,
      { style: 'unit', unit, unitDisplay: 'long' }).format(m[i + 1])));
    return parts.join(' ') || iso;
  }

  function country(code) {
    try { return new Intl.DisplayNames([cfg.language], { type: 'region' }).of(code); }
    catch (e) { return code; }
  }

  const purposeTitle = (id) => (cfg.purposes.find((x) => x.id == id) || { title: id }).title;

  function transfer(v) {
    const t = text(), x = v.transfer || {};
    return x.third_country ? x.countries.map(country).join(', ') + ' (' + t.safeguard + ': ' +
      x.safeguard + ')' : t.transfer_none;
  }

  function facts(v) {
    const t = text(), basis = v.legal_basis || '', list = el('dl', { class: 'facts' });
    [[t.legal_entity, v.legal_entity], [t.address, v.address], [t.country, country(v.country)],
      [t.purposes, v.purposes.map(purposeTitle).join(', ')],
      [t.legal_basis, t['legal_basis_' + basis] || basis.replace(/_/g, ' ')],
      [t.retention, duration(v.retention)], [t.transfer, transfer(v)]
    ].forEach((r) => r[1] && list.append(el('dt', { text: r[0] }), el('dd', { text: r[1] })));
    return list;
  }

  function cookieTable(v) {
    const t = text(), list = v.cookies || [];
    const row = (cells, tag) => el('tr', {}, cells.map((c) => el(tag, { text: c })));
    return list.length > 0 && el('details', {}, [
      el('summary', { text: t.cookies_label + ' (' + list.length + ')' }),
      el('div', { class: 'scroll' }, [el('table', {}, [
        el('thead', {}, [row([t.cookie_name, t.party, t.domain, t.duration, t.description], 'th')]),
        el('tbody', {}, list.map((c) => row([c.name, c.party == 'first' ? t.first_party : t.third_party,
          c.domain || location.hostname, duration(c.duration), c.description], 'td')))
      ])])
    ]);
  }

  const vendorsOf = (purposeId) => cfg.vendors.filter((v) => v.purposes.includes(purposeId));

  /** The settings dialog; `draft` holds the switches until the visitor saves. */
  function settingsDialog(opener) {
    const t = text(), base = state || previous, switches = [];
    const draft = base ? { p: Object.assign({}, base.p), v: Object.assign({}, base.v) } : everything(false);

    // A vendor is on only with all its purposes; a purpose with no vendor left on goes off.
    function setPurpose(p, on) {
      draft.p[p.id] = on;
      vendorsOf(p.id).forEach((v) => { draft.v[v.id] = v.always_on || on && v.purposes.every((p) => draft.p[p]); });
    }
    function setVendor(v, on) {
      draft.v[v.id] = on;
      v.purposes.forEach((p) => { draft.p[p] = on || vendorsOf(p).some((x) => draft.v[x.id]); });
    }
    function toggle(kind, item, label) {
      const input = el('input', { type: 'checkbox', role: 'switch', class: 'sw',
        checked: !!(item.always_on || draft[kind][item.id]), disabled: !!item.always_on,
        change: () => {
          (kind == 'p' ? setPurpose : setVendor)(item, input.checked);
          switches.forEach((s) => { s[0].checked = !!(s[2].always_on || draft[s[1]][s[2].id]); });
        } });
      switches.push([input, kind, item]);
      return el('label', { class: 'row' }, [el('span', { class: 'name', text: label }),
        item.always_on && el('span', { class: 'on', text: t.always_on }), input]);
    }
    const vendorBlock = (v) => el('div', { class: 'vendor' }, [toggle('v', v, v.name),
      el('p', { class: 'desc', text: v.description }), facts(v),
      link(t.privacy_policy_link, v.privacy_policy_url), cookieTable(v)]);
    const purposeBlock = (p) => el('section', { class: 'purpose' }, [toggle('p', p, p.title),
      el('p', { class: 'desc', text: p.description }),
      vendorsOf(p.id).length > 0 && el('details', {}, [
        el('summary', { text: t.show_vendors + ' (' + vendorsOf(p.id).length + ')' })
      ].concat(vendorsOf(p.id).map(vendorBlock)))]);
    const save = () => decide('custom', choose((x) => (x.purposes ? draft.v : draft.p)[x.id]));

    const panel = el('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', lang: cfg.language,
      'aria-labelledby': 'cmp-stitle', 'aria-describedby': 'cmp-stext', keydown: trap }, [
      el('div', { class: 'head' }, [el('h2', { id: 'cmp-stitle', class: 'h', text: t.settings_title }),
        closeButton(closeDialog)]),
      el('div', { class: 'body' }, [el('p', { id: 'cmp-stext', text: t.settings_text }), gpcNotice(),
        el('h3', { class: 'h3', text: t.purposes_label })].concat(cfg.purposes.map(purposeBlock))),
      el('div', { class: 'foot' }, [choiceButtons(save), state && el('div', { class: 'links' }, [
        !state.w && button(t.withdraw, withdraw, 'link'),
        state.id && local(RECEIPT) && button(t.download_receipt, downloadReceipt, 'link')
      ])])
    ]);
    dialog = el('div', { class: 'root overlay' }, [panel]);
    dialog.opener = opener;
    d.body.append(dialog);
    d.documentElement.classList.add(PFX + 'lock');
    focusables()[0].focus();
  }

  function withdraw() {
    decide('withdraw', everything(false));
    toast(text().withdraw_done);
  }

  const focusables = () => [].filter.call(dialog.querySelectorAll(FOCUSABLE), (n) => n.offsetParent);

  /** Keep Tab inside the dialog; Esc closes it. */
  function trap(e) {
    const list = focusables(), edge = list[e.shiftKey ? 0 : list.length - 1];
    if (e.key == 'Escape') { e.stopPropagation(); closeDialog(); }
    if (e.key != 'Tab' || d.activeElement != edge) return;
    e.preventDefault();
    list[e.shiftKey ? list.length - 1 : 0].focus();
  }

  function closeDialog() {
    if (!dialog) return;
    const opener = dialog.opener;
    dialog.remove();
    dialog = null;
    d.documentElement.classList.remove(PFX + 'lock');
    if (opener && opener.isConnected) opener.focus();
  }

  const show = whenReady(() => dialog || settingsDialog(d.activeElement));

  function placeholders() {
    const t = text();
    each(d.querySelectorAll(FRAMES), (f) => {
      if (done.has(f) || f.cmpPh) return;
      const vendor = cfg.vendors.find((v) => v.id == needs(f)[0]);
      f.hidden = true;
      f.cmpPh = el('div', { class: 'root ph', lang: cfg.language }, [
        el('p', { text: t.placeholder_text.split('{vendor}').join(vendor ? vendor.name : needs(f)) }),
        el('div', { class: 'btns' }, [
          button(t.load_once, () => { done.add(f); loadFrame(f); }),
          vendor && button(t.always_allow, () => allowVendor(vendor))
        ])
      ]);
      f.before(f.cmpPh);
    });
  }

  function allowVendor(vendor) {
    const base = state || { p: {}, v: {} };
    decide('custom', choose((x) => x.purposes ? base.v[x.id] || x == vendor
      : base.p[x.id] || vendor.purposes.includes(x.id)));
  }

  function refreshUI(action) {
    closeBanner();
    closeDialog();
    if (action == 'custom') toast(text().saved);
  }

  // ---- start -------------------------------------------------------------------------------
  const languages = () => [d.documentElement.lang].concat(navigator.languages, 'en')
    .filter(Boolean).map((l) => l.split('-')[0].toLowerCase());

  const fetchConfig = (lang) => fetch(SITE_URL + '/config?lang=' + encodeURIComponent(lang))
    .then((r) => { if (!r.ok) throw r; return r.json(); });

  /** The config in the first of the visitor's languages that the site offers. */
  function loadConfig() {
    const wanted = languages();
    return fetchConfig(wanted[0]).then((c) => {
      const best = wanted.find((l) => c.languages.includes(l));
      return best && best != c.language ? fetchConfig(best) : c;
    });
  }

  function loadStyles() {
    if (d.querySelector('link[href*="cmp.css"]')) return;
    return new Promise((resolve) => {
      const css = el('link', { rel: 'stylesheet', href: tag.src.replace(/\.js(\?|$)/, '.css$1'),
        load: resolve, error: resolve });
      css.nonce = NONCE;
      d.head.append(css);
    });
  }

  /** Is a stored decision still good: same revision (compared in its own language), in time? */
  function current(s) {
    if (!s || Date.now() - s.at > lifetime()) return false;
    return (s.lang == cfg.language ? Promise.resolve(cfg) : fetchConfig(s.lang))
      .then((c) => c.revision == s.rev && stillActive(s), () => false);
  }

  function begin(c) {
    cfg = c;
    flush();
    const stored = storage.load();
    return Promise.resolve(current(stored)).then((ok) => {
      if (ok) { state = stored; apply('load'); } else { previous = stored; showBanner(); }
      placeholders();
      waiting.splice(0).forEach((fn) => fn());
      ready();
    });
  }

  const ready = () => d.dispatchEvent(new CustomEvent('cmp:ready', { bubbles: true, detail: snapshot() }));

  /** The API cannot be reached: honour the stored decision as it stands and ask nothing. */
  function offline() {
    state = storage.load();
    if (state) apply('load');
    ready();
  }

  function start() {
    Promise.all([loadConfig(), loadStyles()]).then((r) => begin(r[0])).catch(offline);
  }

  subscribers.push(record, apply, refreshUI, placeholders);
  d.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('[data-cmp-open]')) { e.preventDefault(); show(); }
  });
  d.addEventListener('keydown', (e) => { if (e.key == 'Escape' && !dialog) closeBanner(); });

  w.cmp = Object.freeze({ hasConsent, getConsent: snapshot, onChange: (fn) => listeners.push(fn),
    show, acceptAll: whenReady(acceptAll), rejectAll: whenReady(rejectAll) });

  if (d.readyState == 'loading') d.addEventListener('DOMContentLoaded', start); else start();
})(window, document);
