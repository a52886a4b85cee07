// jhdeploy-notice: shows the hub's notice (page config option "jhdeployNotice", set by
// jupyter_server_config.py from JHDEPLOY_NOTICE) as a JupyterLab notification that stays open.
//
// Hand-written, not built: a module-federation container as JupyterLab's bootstrap.js and
// index.out.js use it. bootstrap.js loads this file, then calls
// window._JUPYTERLAB["jhdeploy-notice"].init(shareScope); index.out.js calls get("./extension"),
// calls the factory it resolves to, and reads the plugins from the module's default export.
// We share no modules, so init has nothing to do. Plain JavaScript, no imports: no build step.
// The file name carries the first 20 hex digits of this file's SHA-256, as a built extension's
// would, so that browsers never run a cached older copy: after an edit, rename the file and
// package.json's "load" (tests/unit/test_lab_notice.py checks both).
(function () {
  'use strict';

  var NAME = 'jhdeploy-notice';
  var COMMAND = 'apputils:notify';
  var TYPES = { info: true, warning: true, error: true };
  var WAIT_FOR_COMMAND_MS = 30000;

  // The notice from the page's config script, or null; never throws.
  function readNotice() {
    try {
      var el = document.getElementById('jupyter-config-data');
      if (!el) {
        return null;
      }
      var notice = JSON.parse(el.textContent || '{}').jhdeployNotice;
      if (typeof notice === 'string') {
        notice = notice ? JSON.parse(notice) : null;
      }
      if (!notice || typeof notice !== 'object' || typeof notice.message !== 'string' || !notice.message.trim()) {
        return null;
      }
      return { message: notice.message, type: TYPES[notice.type] ? notice.type : 'info' };
    } catch (err) {
      console.warn(NAME + ': ignoring an unreadable notice', err);
      return null;
    }
  }

  function notify(app, notice) {
    // JupyterLab 4's command: {message, type, options: {autoClose: false}} keeps the toast until closed.
    return Promise.resolve(app.commands.execute(COMMAND, {
      message: notice.message,
      type: notice.type,
      options: { autoClose: false }
    }));
  }

  // After app.restored every auto-started plugin is active, so the command exists unless the
  // notification plugin is disabled or late; then wait for it a while, and give up quietly.
  function showWhenReady(app, notice) {
    var restored = app.restored ? Promise.resolve(app.restored) : Promise.resolve();
    return restored.catch(function () {}).then(function () {
      if (app.commands.hasCommand(COMMAND)) {
        return notify(app, notice);
      }
      return new Promise(function (resolve) {
        var done = false;
        function finish(result) {
          if (!done) {
            done = true;
            app.commands.commandChanged.disconnect(onChanged);
            resolve(result);
          }
        }
        function onChanged(sender, change) {
          if (change.id === COMMAND && change.type === 'added') {
            finish(notify(app, notice));
          }
        }
        app.commands.commandChanged.connect(onChanged);
        setTimeout(function () {
          if (!done) {
            console.warn(NAME + ': no "' + COMMAND + '" command, the notice is not shown: ' + notice.message);
          }
          finish(undefined);
        }, WAIT_FOR_COMMAND_MS);
      });
    });
  }

  var plugin = {
    id: 'jhdeploy-notice:plugin',
    description: 'Shows the notice that JupyterHub passed in JHDEPLOY_NOTICE.',
    autoStart: true,
    activate: function (app) {
      // Never delays or fails JupyterLab's start: the work runs after activation, errors are logged.
      try {
        var notice = readNotice();
        if (notice) {
          showWhenReady(app, notice).catch(function (err) {
            console.warn(NAME + ': could not show the notice', err);
          });
        }
      } catch (err) {
        console.warn(NAME + ': could not show the notice', err);
      }
    }
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
