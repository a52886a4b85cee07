// jhdeploy-sharing: where the hub shares servers (page config option "jhdeploySharing", set by
// jupyter_server_config.py from JHDEPLOY_SHARING), a guest's page leaves as soon as the server's sharing
// guard (jhdeploy_sharing) closes one of its WebSockets with code 4403, the guest's access having ended: it
// reloads, and the server answers the reload with the page that says so. Without this, JupyterLab would keep
// reconnecting its kernel and the guest would sit in front of a dead notebook.
//
// It wraps window.WebSocket when this file runs, at the top level. In JupyterLab that is early enough for
// every socket: its bootstrap.js loads and runs every federated extension's remoteEntry before it imports
// index.out.js, and @jupyterlab/services captures the constructor (`n="u"<typeof window?require("ws"):
// WebSocket`) when that import evaluates it (checked in a browser: every socket of /lab is wrapped).
// Notebook 7 evaluates its core plugins, and so that capture, before it loads federated extensions: there
// the kernel, events and notebook-room sockets stay unwrapped, but the collaboration extension's global
// awareness room, open on every page, is wrapped; the guard closes all of a guest's sockets at once, so
// that one is enough. The plugin itself does nothing.
//
// Hand-written like jhdeploy-notice (see its header): a module-federation container, plain JavaScript, no
// build. The file name carries the first 20 hex digits of this file's SHA-256 (tests/unit/test_sharing.py).
(function () {
  'use strict';

  var NAME = 'jhdeploy-sharing';
  var CLOSE_CODE = 4403; // jhdeploy_sharing.CLOSE_CODE

  function sharingOn() {
    try {
      var el = document.getElementById('jupyter-config-data');
      return !!(el && JSON.parse(el.textContent || '{}').jhdeploySharing);
    } catch (err) {
      return false;
    }
  }

  if (sharingOn() && typeof window.WebSocket === 'function' && !window.WebSocket.jhdeploySharing) {
    var Native = window.WebSocket;
    var leaving = false;
    var onClose = function (event) {
      if (event.code === CLOSE_CODE && !leaving) {
        leaving = true;
        console.warn(NAME + ': the server ended this access (' + (event.reason || CLOSE_CODE) + '); reloading');
        window.location.reload();
      }
    };
    // A subclass: instanceof, the constants and every method stay the browser's own.
    var GuardedWebSocket = class WebSocket extends Native {
      constructor(url, protocols) {
        super(url, protocols);
        this.addEventListener('close', onClose);
      }
    };
    GuardedWebSocket.jhdeploySharing = true;
    window.WebSocket = GuardedWebSocket;
  }

  var plugin = {
    id: 'jhdeploy-sharing:plugin',
    description: 'Leaves a shared server\'s page when the server ends the guest\'s access (WebSocket code 4403).',
    autoStart: true,
    activate: function () {}
  };

  var modules = {
    './extension': function () {
      return { __esModule: true, default: [plugin] };
    }
  };

  var container = {
    get: function (module) {
      return Promise.resolve().then(function () {
        if (!Object.prototype.hasOwnProperty.call(modules, module)) {
          throw new Error('Module "' + module + '" does not exist in container "' + NAME + '".');
        }
        return modules[module];
      });
    },
    init: function () {
      return Promise.resolve();
    }
  };

  var registry = (window._JUPYTERLAB = window._JUPYTERLAB || {});
  registry[NAME] = container;
})();
