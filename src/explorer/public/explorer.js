/*
 * The explorer's page: GraphiQL with the caller's own identity. No build step and no external
 * request: React, ReactDOM and GraphiQL are globals loaded before this file from the gateway.
 *
 * Sign-in: the OIDC authorization-code flow with PKCE (S256) against the issuer the gateway names in
 * /graphiql/config.json; the access token is kept in this tab's sessionStorage only, sent as the
 * Authorization header, and dropped when it expires. A token can also be pasted, and in demo mode
 * the demo users' tokens are offered. The role is chosen among the viewer's roles and sent as
 * X-Gateway-Role.
 */
(function () {
  'use strict';
  var h = React.createElement;
  var TOKEN_KEY = 'metabase-gateway.explorer.token';
  var ROLE_KEY = 'metabase-gateway.explorer.role';
  var PKCE_KEY = 'metabase-gateway.explorer.pkce';
  var GRAPHQL_URL = new URL('/graphql', location.href).href;
  var REDIRECT_URI = location.origin + location.pathname;

  // --- The session's token -------------------------------------------------------------------

  function jwtExpiry(token) {
    try {
      var payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
    } catch (e) {
      return null;
    }
  }

  function readSession() {
    try {
      var s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null');
      if (s && typeof s.token === 'string' && (!s.expiresAt || s.expiresAt > Date.now())) return s;
    } catch (e) { /* a damaged entry is dropped */ }
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }

  function saveSession(token, expiresInSeconds, source, label) {
    var expiresAt = expiresInSeconds ? Date.now() + expiresInSeconds * 1000 : jwtExpiry(token);
    var s = { token: token, expiresAt: expiresAt, source: source, label: label || null };
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
    return s;
  }

  // --- Sign-in: authorization code with PKCE ---------------------------------------------------

  function base64url(bytes) {
    var text = '';
    var view = new Uint8Array(bytes);
    for (var i = 0; i < view.length; i++) text += String.fromCharCode(view[i]);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function startSignIn(signIn) {
    var verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    var state = base64url(crypto.getRandomValues(new Uint8Array(16)));
    return crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)).then(function (digest) {
      // Everything the return needs is kept with the verifier: the code goes back to the issuer that issued it.
      sessionStorage.setItem(PKCE_KEY, JSON.stringify({
        verifier: verifier, state: state, issuer: signIn.issuer, tokenEndpoint: signIn.tokenEndpoint, clientId: signIn.clientId, resource: signIn.resource || null,
      }));
      var url = new URL(signIn.authorizationEndpoint);
      var params = { response_type: 'code', client_id: signIn.clientId, redirect_uri: REDIRECT_URI, scope: signIn.scope, state: state, code_challenge: base64url(digest), code_challenge_method: 'S256' };
      if (signIn.resource) params.resource = signIn.resource;
      url.search = new URLSearchParams(params).toString();
      location.assign(url.href);
    });
  }

  /** The answer of the identity provider in the address bar, if any; taken out of the address bar (and history) at once. */
  function takeReturn() {
    var params = new URLSearchParams(location.search);
    if (!params.has('code') && !params.has('error')) return null;
    history.replaceState(null, '', location.pathname);
    return params;
  }

  /** The code for a token, with what this tab kept when it started the sign-in; null when this is no return. */
  function finishSignIn(params) {
    if (!params) return Promise.resolve(null);
    var pending = null;
    try { pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null'); } catch (e) { pending = null; }
    sessionStorage.removeItem(PKCE_KEY);
    // Nothing from the address bar is shown or used unless it answers this tab's own sign-in.
    if (!pending || params.get('state') !== pending.state) return Promise.reject(new Error('Sign-in failed: the answer does not belong to this tab\'s sign-in. Sign in again.'));
    if (params.has('error')) return Promise.reject(new Error('Sign-in failed at the identity provider (' + String(params.get('error')).slice(0, 64) + '). Sign in again.'));
    // RFC 9207: an answer that names its issuer must name the one asked.
    if (params.has('iss') && params.get('iss') !== pending.issuer) return Promise.reject(new Error('Sign-in failed: the answer came from another issuer.'));
    var body = { grant_type: 'authorization_code', code: params.get('code'), redirect_uri: REDIRECT_URI, client_id: pending.clientId, code_verifier: pending.verifier };
    if (pending.resource) body.resource = pending.resource;
    return fetch(pending.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() })
      .then(function (res) {
        return res.json().then(function (json) {
          if (!res.ok || typeof json.access_token !== 'string') throw new Error('Sign-in failed: the identity provider did not give a token (' + String(json.error || ('status ' + res.status)).slice(0, 64) + ').');
          return saveSession(json.access_token, json.expires_in, 'sign-in');
        });
      });
  }

  // --- Talking to the gateway --------------------------------------------------------------------

  function headersFor(session, role) {
    var headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (session) headers.authorization = 'Bearer ' + session.token;
    if (role) headers['x-gateway-role'] = role;
    return headers;
  }

  function post(session, role, body) {
    return fetch(GRAPHQL_URL, { method: 'POST', headers: headersFor(session, role), body: JSON.stringify(body) })
      .then(function (res) { return res.json(); });
  }

  var VIEWER_QUERY = '{ viewer { subject email groups role availableRoles noRoleReason } }';
  var INTROSPECTION_PROBE = '{ __schema { queryType { name } } }';

  /** Results of the last operation, for the rows view. */
  var lastResult = { value: null, count: 0, listeners: [] };
  function publish(result) {
    lastResult.value = result;
    lastResult.count += 1;
    lastResult.listeners.slice().forEach(function (l) { l(result); });
  }

  /** Every object in a result with `rows` (an array of row arrays), with the columns beside it or on its parent run. */
  function tablesIn(data) {
    var tables = [];
    var stack = [{ value: data, path: 'data', parent: null }];
    while (stack.length > 0 && tables.length < 20) {
      var item = stack.pop();
      var v = item.value;
      if (Array.isArray(v)) {
        for (var i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: item.path + '.' + i, parent: item.parent });
      } else if (v && typeof v === 'object') {
        if (Array.isArray(v.rows) && v.rows.every(Array.isArray)) {
          var columns = Array.isArray(v.columns) ? v.columns : item.parent && Array.isArray(item.parent.columns) ? item.parent.columns : null;
          tables.push({ path: item.path, rows: v.rows, columns: columns ? columns.map(function (c) { return c && c.name; }) : null });
        }
        var keys = Object.keys(v);
        for (var k = keys.length - 1; k >= 0; k--) {
          if (keys[k] !== 'rows') stack.push({ value: v[keys[k]], path: item.path + '.' + keys[k], parent: v });
        }
      }
    }
    return tables;
  }

  function cell(value) {
    return value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function RowsView() {
    var state = React.useState({ result: lastResult.value });
    React.useEffect(function () {
      var listener = function (r) { state[1]({ result: r }); };
      lastResult.listeners.push(listener);
      return function () { lastResult.listeners.splice(lastResult.listeners.indexOf(listener), 1); };
    }, []);
    var result = state[0].result;
    var tables = result && result.data ? tablesIn(result.data) : [];
    // data-results counts the results shown so far (a test waits for the next one).
    if (tables.length === 0) return h('div', { className: 'rows-empty', 'data-results': lastResult.count }, 'Run an operation that returns rows (a run\'s rows or rowPage) to see them as a table.');
    return h('div', { className: 'rows-view', 'data-results': lastResult.count }, tables.map(function (t) {
      var shown = t.rows.slice(0, 500);
      var width = t.columns ? t.columns.length : (shown[0] || []).length;
      return h('section', { key: t.path },
        h('h3', null, t.path.replace(/^data\./, ''), ' ', h('small', null, t.rows.length + ' rows' + (t.rows.length > shown.length ? ', first ' + shown.length + ' shown' : ''))),
        h('table', { className: 'rows' },
          h('thead', null, h('tr', null, Array.from({ length: width }, function (_, i) { return h('th', { key: i }, t.columns ? t.columns[i] : '#' + (i + 1)); }))),
          h('tbody', null, shown.map(function (row, r) {
            return h('tr', { key: r }, row.map(function (value, i) { return h('td', { key: i }, cell(value)); }));
          }))));
    }));
  }

  var rowsPlugin = {
    title: 'Rows as a table',
    icon: function () { return h('span', { className: 'rows-icon', 'aria-hidden': 'true' }, '▦'); },
    content: function () { return h(RowsView); },
  };

  // --- The page -------------------------------------------------------------------------------------

  function Bar(props) {
    var tokenField = React.useState('');
    var s = props.session;
    var viewer = props.viewer;
    var items = [h('strong', { key: 'title', className: 'title' }, 'Metabase gateway explorer')];
    if (viewer) {
      items.push(h('span', { key: 'who', className: 'who', 'data-testid': 'who' }, 'Signed in as ', h('b', null, viewer.email || viewer.subject)));
      if (viewer.availableRoles && viewer.availableRoles.length > 0) {
        items.push(h('label', { key: 'role', className: 'role' }, 'Role ',
          h('select', { 'aria-label': 'Role', value: viewer.role || '', onChange: function (e) { props.onRole(e.target.value); } },
            viewer.availableRoles.map(function (r) { return h('option', { key: r, value: r }, r); }))));
      } else {
        items.push(h('span', { key: 'norole', className: 'warn' }, viewer.noRoleReason || 'No role fits your token.'));
      }
    }
    if (props.message) items.push(h('span', { key: 'msg', className: 'message', role: 'status' }, props.message));
    var right = [];
    if (s) {
      right.push(h('button', { key: 'out', type: 'button', onClick: props.onSignOut }, 'Sign out'));
    } else {
      if (props.config && props.config.signIn) right.push(h('button', { key: 'in', type: 'button', className: 'primary', onClick: props.onSignIn }, 'Sign in'));
      if (props.config && props.config.demoUsers && props.config.demoUsers.length) {
        right.push(h('label', { key: 'demo' }, 'Demo user ',
          h('select', { 'aria-label': 'Demo user', value: '', onChange: function (e) { if (e.target.value) props.onDemo(e.target.value); } },
            [h('option', { key: '', value: '' }, 'choose…')].concat(props.config.demoUsers.map(function (u) { return h('option', { key: u.name, value: u.name }, u.name); })))));
      }
      right.push(h('form', { key: 'token', className: 'token', onSubmit: function (e) { e.preventDefault(); if (tokenField[0].trim()) props.onToken(tokenField[0].trim()); } },
        h('input', { type: 'password', 'aria-label': 'Bearer token', placeholder: 'or paste a bearer token', autoComplete: 'off', value: tokenField[0], onChange: function (e) { tokenField[1](e.target.value); } }),
        h('button', { type: 'submit' }, 'Use token')));
    }
    return h('div', { className: 'bar' }, h('div', { className: 'left' }, items), h('div', { className: 'right' }, right));
  }

  function App() {
    var config = React.useState(null);
    var session = React.useState(readSession);
    var role = React.useState(function () { return sessionStorage.getItem(ROLE_KEY) || ''; });
    var viewer = React.useState(null);
    var canIntrospect = React.useState(true);
    var message = React.useState('');

    React.useEffect(function () {
      var returned = takeReturn();
      finishSignIn(returned).then(function (s) { if (s) session[1](s); }).catch(function (err) { message[1](err.message); });
      fetch(new URL('/graphiql/config.json', location.href).href).then(function (r) { return r.json(); }).then(function (cfg) {
        config[1](cfg);
      }).catch(function (err) { message[1]('The explorer\'s settings could not be read: ' + err.message); });
    }, []);

    // Signed out when the token expires.
    React.useEffect(function () {
      var s = session[0];
      if (!s || !s.expiresAt) return undefined;
      // setTimeout fires at once past 2^31 - 1 ms (about 24.8 days): a longer wait is taken in steps.
      var wait = Math.max(0, s.expiresAt - Date.now());
      var timer = setTimeout(function () {
        if (Date.now() >= s.expiresAt) signOut('Your session expired: sign in again.');
        else session[1](Object.assign({}, s));
      }, Math.min(wait, 2147483647));
      return function () { clearTimeout(timer); };
    }, [session[0]]);

    // Who the gateway says you are, and whether your role may read the schema.
    React.useEffect(function () {
      var s = session[0];
      if (!s) { viewer[1](null); return; }
      post(s, role[0], { query: VIEWER_QUERY }).then(function (r) {
        if (r.errors && !r.data) {
          var code = r.errors[0].extensions && r.errors[0].extensions.code;
          if (code === 'UNAUTHENTICATED') return signOut('The gateway refused the token: ' + r.errors[0].message);
          if (code === 'FORBIDDEN' && role[0]) { chooseRole(''); return undefined; }
          if (code === 'PERSISTED_QUERY_REQUIRED') {
            message[1]('Your role runs vetted operations only, sent by id (an agent\'s role): the explorer is for roles that may send documents.');
            return undefined;
          }
          message[1](r.errors[0].message);
          return undefined;
        }
        viewer[1](r.data.viewer);
        return post(s, role[0], { query: INTROSPECTION_PROBE }).then(function (p) {
          var refused = p.errors && p.errors.some(function (e) { return e.extensions && e.extensions.reason === 'introspection'; });
          canIntrospect[1](!refused);
          message[1](refused ? 'Your role may not read the schema: documentation and autocompletion are off, and operations still run.' : '');
        });
      }).catch(function (err) { message[1]('The gateway could not be reached: ' + err.message); });
    }, [session[0], role[0]]);

    function signOut(why) {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(ROLE_KEY);
      session[1](null);
      role[1]('');
      viewer[1](null);
      message[1](typeof why === 'string' ? why : 'Signed out.');
    }
    function chooseRole(r) {
      if (r) sessionStorage.setItem(ROLE_KEY, r); else sessionStorage.removeItem(ROLE_KEY);
      role[1](r);
    }
    function useToken(token, label) {
      var s = saveSession(token, null, label ? 'demo' : 'pasted', label);
      chooseRole('');
      session[1](s);
    }

    var cfg = config[0];
    var s = session[0];
    var fetcher = React.useMemo(function () {
      return function (params) {
        // Run straight after switching tabs, GraphiQL can still name the last tab's operation: a name
        // the document does not define is dropped, and a one-operation document runs as it is.
        var name = params.operationName;
        if (name && typeof params.query === 'string' && !new RegExp('\\b(query|mutation|subscription)\\s+' + name + '\\b').test(params.query)) {
          params = Object.assign({}, params, { operationName: undefined });
        }
        return post(s, role[0], params).then(function (r) {
          // GraphiQL's own schema reads are not results to show.
          if (params.operationName !== 'IntrospectionQuery') publish(r);
          return r;
        });
      };
    }, [s, role[0]]);
    var tabs = cfg ? cfg.tabs.map(function (t) {
      return { query: '# ' + t.name + ': ' + t.description.replace(/\n/g, ' ') + '\n' + t.document };
    }) : [];

    return h(React.Fragment, null,
      ReactDOM.createPortal(h(Bar, {
        config: cfg, session: s, viewer: viewer[0], message: message[0],
        onSignIn: function () { startSignIn(cfg.signIn).catch(function (err) { message[1](err.message); }); },
        onSignOut: function () { signOut(); },
        onToken: function (t) { useToken(t); },
        onDemo: function (name) { var u = cfg.demoUsers.filter(function (d) { return d.name === name; })[0]; if (u) useToken(u.token, u.name); },
        onRole: chooseRole,
      }), document.getElementById('bar')),
      !cfg ? h('p', { className: 'loading' }, 'Loading the explorer…')
        : !s ? h('div', { className: 'signed-out' }, h('h2', null, 'Sign in to explore'),
          h('p', null, cfg.signIn ? 'Sign in with your company account, or paste a token.' : 'Paste a bearer token from your identity provider.'),
          cfg.demoUsers ? h('p', null, 'This is the demo: choose a demo user above.') : null)
          : h(GraphiQL, {
            key: (s.token.slice(-16)) + '|' + role[0] + '|' + canIntrospect[0],
            fetcher: fetcher,
            defaultTabs: tabs,
            plugins: [rowsPlugin],
            isHeadersEditorEnabled: false,
            shouldPersistHeaders: false,
            schema: canIntrospect[0] ? undefined : null,
          }));
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(h(App));
})();
