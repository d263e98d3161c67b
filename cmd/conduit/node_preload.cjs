// Written by Conduit (`conduit run` and `conduit env --mode proxy` load it
// with NODE_OPTIONS=--require). It makes the global fetch of a Node.js
// that ignores NODE_USE_ENV_PROXY (before 22.21, and 23.x to 24.4) honour
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as newer Node does by itself, so
// that the OpenAI and Anthropic SDKs (which call fetch) go through Conduit
// without a change to their code. It does nothing when Node already sends
// fetch through a proxy, when another dispatcher has been installed, when
// no proxy variable is set, or on a Node without fetch. The node:http and
// node:https modules are not affected.
//
// How: Node's bundled undici keeps its global dispatcher under the
// well-known symbol below (https://github.com/nodejs/undici/blob/main/lib/global.js).
// This file wraps globalThis.fetch, so that nothing is loaded until the
// first call; that call makes undici create its default Agent, takes the
// Agent class from it, and puts in its place a dispatcher that tunnels
// https origins through the proxy with CONNECT, sends http origins to it in
// absolute form, and leaves NO_PROXY origins to the default Agent. A global
// dispatcher other than a plain Agent (Node's own EnvHttpProxyAgent, or one
// the program set) is left as it is.
'use strict';

(function conduitEnvProxy() {
  const symbol = Symbol.for('undici.globalDispatcher.1');
  const originalFetch = globalThis.fetch;
  if (typeof originalFetch !== 'function' || Object.getOwnPropertyDescriptor(globalThis, symbol)) {
    return; // no fetch, or a dispatcher is set already (NODE_USE_ENV_PROXY on a Node that honours it)
  }
  const env = process.env;
  const httpsProxy = env.https_proxy || env.HTTPS_PROXY || env.http_proxy || env.HTTP_PROXY || '';
  const httpProxy = env.http_proxy || env.HTTP_PROXY || '';
  const noProxy = parseNoProxy(env.no_proxy || env.NO_PROXY || '');
  const proxies = { 'https:': parseProxy(httpsProxy), 'http:': parseProxy(httpProxy) };
  if (!proxies['https:'] && !proxies['http:']) {
    return;
  }

  let installed = false;
  const fetch = function fetch(...args) {
    if (!installed) {
      installed = true;
      install();
    }
    return Reflect.apply(originalFetch, this, args);
  };
  globalThis.fetch = fetch;

  // install makes the bundled undici create its default Agent (a Request
  // reads the global dispatcher), and replaces it with one built on it.
  function install() {
    new Request('data:,');
    const direct = globalThis[symbol];
    if (!direct || typeof direct.dispatch !== 'function' || direct.constructor.name !== 'Agent') {
      return;
    }
    const Agent = direct.constructor;
    let Base = Object.getPrototypeOf(Agent);
    while (Base && Base.name !== 'Dispatcher') {
      Base = Object.getPrototypeOf(Base);
    }
    if (typeof Base !== 'function') {
      return;
    }
    const tunnel = proxies['https:'] && new Agent({ connect: connectThrough(proxies['https:']) });
    const plain = proxies['http:'] && new Agent();

    class ConduitEnvProxy extends Base {
      dispatch(opts, handler) {
        const origin = new URL(String(opts.origin));
        const proxy = proxies[origin.protocol];
        if (!proxy || bypass(origin, proxy)) {
          return direct.dispatch(opts, handler);
        }
        if (origin.protocol === 'https:') {
          return tunnel.dispatch(opts, handler);
        }
        // http: the request goes to the proxy in absolute form, as RFC 9112
        // section 3.2.2 has it.
        const headers = withHeaders(opts.headers, { host: origin.host, ...proxy.auth });
        return plain.dispatch({ ...opts, origin: proxy.origin, path: origin.origin + opts.path, headers }, handler);
      }

      close(...args) {
        return closeAll('close', args);
      }

      destroy(...args) {
        return closeAll('destroy', args);
      }
    }

    function closeAll(method, args) {
      const callback = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
      const all = Promise.all([direct, tunnel, plain].filter(Boolean).map((d) => d[method](...args)));
      if (callback) {
        all.then(() => callback(null), callback);
        return undefined;
      }
      return all.then(() => undefined);
    }

    globalThis[symbol] = new ConduitEnvProxy();
  }

  function parseProxy(value) {
    if (!value) {
      return null;
    }
    let url;
    try {
      url = new URL(value.includes('://') ? value : 'http://' + value);
    } catch {
      return null;
    }
    if (url.protocol !== 'http:') {
      return null; // an https:// or socks proxy is beyond this file
    }
    const auth = {};
    if (url.username) {
      const creds = decodeURIComponent(url.username) + ':' + decodeURIComponent(url.password);
      auth['proxy-authorization'] = 'Basic ' + Buffer.from(creds).toString('base64');
    }
    return { origin: url.origin, hostname: url.hostname, port: Number(url.port) || 80, auth };
  }

  // parseNoProxy reads NO_PROXY as undici's EnvHttpProxyAgent does:
  // entries separated by commas or spaces, each host[:port]; a leading
  // "." or "*." matches subdomains; "*" matches everything.
  function parseNoProxy(value) {
    return value.split(/[,\s]+/).filter(Boolean).map((entry) => {
      const m = /^(.*?)(?::(\d+))?$/.exec(entry.toLowerCase());
      return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 0 };
    });
  }

  function bypass(origin, proxy) {
    const host = origin.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    const port = Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80);
    if (host === proxy.hostname.replace(/^\[|\]$/g, '') && port === proxy.port) {
      return true; // the proxy itself
    }
    for (const entry of noProxy) {
      if (entry.host === '*') {
        return true;
      }
      if (entry.port && entry.port !== port) {
        continue;
      }
      if (/^[.*]/.test(entry.host)) {
        if (host.endsWith(entry.host.replace(/^\*/, ''))) {
          return true;
        }
      } else if (host === entry.host) {
        return true;
      }
    }
    return false;
  }

  function withHeaders(headers, extra) {
    if (Array.isArray(headers)) {
      const out = headers.slice();
      for (const [name, value] of Object.entries(extra)) {
        out.push(name, value);
      }
      return out;
    }
    return { ...(headers || {}), ...extra };
  }

  // connectThrough returns an undici connector that opens a CONNECT tunnel
  // through the proxy and starts TLS to the origin inside it, trusting the
  // default roots plus NODE_EXTRA_CA_CERTS (Conduit's CA).
  function connectThrough(proxy) {
    const http = require('node:http');
    const tls = require('node:tls');
    const net = require('node:net');
    return function connect(opts, callback) {
      const host = opts.hostname;
      const port = Number(opts.port) || 443;
      const authority = (net.isIPv6(host) ? '[' + host + ']' : host) + ':' + port;
      const req = http.request({
        host: proxy.hostname,
        port: proxy.port,
        method: 'CONNECT',
        path: authority,
        headers: { host: authority, ...proxy.auth },
        agent: false,
        setHost: false,
      });
      let done = false;
      const finish = (err, socket) => {
        if (!done) {
          done = true;
          callback(err, socket);
        }
      };
      req.once('connect', (res, socket, head) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          finish(new Error(`proxy ${proxy.origin} answered ${res.statusCode} to CONNECT ${authority}`));
          return;
        }
        if (head && head.length) {
          socket.unshift(head);
        }
        const servername = opts.servername || (net.isIP(host) ? undefined : host);
        const secure = tls.connect({ socket, servername, ALPNProtocols: ['http/1.1'] });
        secure.once('secureConnect', () => finish(null, secure));
        secure.once('error', (err) => finish(err));
      });
      req.once('error', (err) => finish(err));
      req.end();
    };
  }
})();
